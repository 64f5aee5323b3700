"""Event counts over a sliding time window in constant memory, so a status clears once its cause stops.

Events fall into ``buckets`` equal slices of the window; a query sums the slices that are still inside it. A
hostile sender at any rate costs the same memory as a quiet one.

A rate is the events counted divided by the time they were counted over: from the start of the oldest slice still
inside the window to now, which lies between ``window_s`` less one slice and ``window_s``. Dividing by ``window_s``
instead would read up to one slice low: 5 % with 20 slices.
"""

from __future__ import annotations

import math

from rgbt_seg_core.runtime.clock import Clock

__all__ = ["EventWindow"]


class EventWindow:
    def __init__(self, window_s: float, clock: Clock, buckets: int = 20) -> None:
        if not window_s > 0:
            raise ValueError(f"window must be > 0 seconds, got {window_s!r}")
        self.window_s = float(window_s)
        self.clock = clock
        self._width = self.window_s / buckets
        self._counts = [0] * buckets
        self._slots = [-1] * buckets  # absolute slice index each bucket currently holds

    def _slice(self, t: float) -> int:
        return math.floor(t / self._width)

    def add(self, n: int = 1) -> None:
        s = self._slice(self.clock())
        i = s % len(self._counts)
        if self._slots[i] != s:
            self._slots[i], self._counts[i] = s, 0
        self._counts[i] += n

    def _counted(self) -> tuple[int, float]:
        """The events counted now and the seconds they were counted over, from one reading of the clock."""
        t = self.clock()
        now = self._slice(t)
        lo = now - len(self._counts) + 1
        return sum(c for c, s in zip(self._counts, self._slots) if lo <= s <= now), t - lo * self._width

    def count(self) -> int:
        """Events in the last ``window_s`` seconds (to the resolution of one slice: see :meth:`span`)."""
        return self._counted()[0]

    def span(self) -> float:
        """The seconds :meth:`count` covers: from the start of its oldest slice to now."""
        return self._counted()[1]

    def rate(self) -> float:
        """Events per second: :meth:`count` over :meth:`span`, never over a longer time than they were counted in."""
        n, seconds = self._counted()
        return n / seconds
