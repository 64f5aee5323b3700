"""At most one log line per kind of problem per period, with a count of what was held back.

A hostile or broken sender can produce thousands of bad frames a second; the log must stay readable, yet one
kind of problem (bad frames) must not hide another (a clock jump), so the throttle is per kind.
"""

from __future__ import annotations

from rgbt_seg_core.runtime.clock import Clock

__all__ = ["LogThrottle"]


class LogThrottle:
    def __init__(self, period: float, clock: Clock) -> None:
        self.period = float(period)
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def admit(self, key: str, text: str) -> str | None:
        """The line to log now (with the held-back count appended), or None to stay quiet."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        held = self._held.pop(key, 0)
        return f"{text} ({held} more like this in the last {self.period:g} s)" if held else text
