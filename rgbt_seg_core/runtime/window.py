"""Event counts over a sliding time window in constant memory, so a status clears once its cause stops.

Events fall into ``buckets`` equal slices of the window; a query sums the slices that are still inside it. A
hostile sender at any rate costs the same memory as a quiet one.
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

    def count(self) -> int:
        """Events in the last ``window_s`` seconds (to the resolution of one slice)."""
        now = self._slice(self.clock())
        lo = now - len(self._counts) + 1
        return sum(c for c, s in zip(self._counts, self._slots) if lo <= s <= now)

    def rate(self) -> float:
        """Events per second over the window."""
        return self.count() / self.window_s
