"""Clocks for the runtime: every time-dependent decision takes one, so tests and offline replays are exact.

A clock is any zero-argument callable returning seconds on a monotonic scale. The node passes
``time.monotonic``; ``bag-eval`` passes the bag's receive time; tests pass a :class:`FakeClock`.
"""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["Clock", "FakeClock", "monotonic"]

Clock = Callable[[], float]
monotonic: Clock = time.monotonic


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def set(self, seconds: float) -> None:
        self.now = float(seconds)
