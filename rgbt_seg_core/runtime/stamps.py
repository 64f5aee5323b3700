"""Stamp jumps and output ordering.

A camera clock can jump: a driver restart, a PTP resync, a looping bag, or one glitched frame stamped hours
ahead. Two mechanisms keep the node alive through any of them:

* :class:`StampJumpDetector` watches each input stream. A stamp more than ``threshold`` before the stream's
  previous stamp, or more than ``threshold`` beyond it *plus the time that passed in between* (so a camera that
  was silent for a minute and comes back is not a jump), is a jump: the runtime drops queued messages of the old
  time base from the pairer and reports the jump in diagnostics.
* :class:`OrderGuard` keeps outputs in stamp order (a pair older than the last one published is dropped), but
  treats a step back of more than ``threshold`` as a new time base rather than as disorder. So a single
  far-future pair can never make every later pair look "old" forever, whichever thread sees the jump first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StampJump", "StampJumpDetector", "OrderGuard"]


@dataclass(frozen=True)
class StampJump:
    stream: int
    from_ns: int
    to_ns: int

    @property
    def seconds(self) -> float:
        """Signed size of the jump (negative: back in time)."""
        return (self.to_ns - self.from_ns) * 1e-9

    def describe(self, stream_names: tuple[str, str]) -> str:
        return (f"{stream_names[self.stream]} stamps jumped {'back' if self.seconds < 0 else 'forward'} by "
                f"{abs(self.seconds):.3f} s; pairing restarted")


class StampJumpDetector:
    def __init__(self, threshold_ns: int) -> None:
        if threshold_ns <= 0:
            raise ValueError(f"jump threshold must be > 0, got {threshold_ns} ns")
        self.threshold_ns = int(threshold_ns)
        self._last: list[tuple[int, float] | None] = [None, None]

    def check(self, stream: int, stamp_ns: int, arrival: float) -> StampJump | None:
        """``arrival``: the runtime clock (seconds) when the message arrived."""
        last = self._last[stream]
        self._last[stream] = (stamp_ns, arrival)
        if last is None:
            return None
        step = stamp_ns - last[0]
        elapsed_ns = max(0, int((arrival - last[1]) * 1e9))
        if step < -self.threshold_ns or step > elapsed_ns + self.threshold_ns:
            return StampJump(stream, last[0], stamp_ns)
        return None


class OrderGuard:
    def __init__(self, threshold_ns: int) -> None:
        self.threshold_ns = int(threshold_ns)
        self.last_ns: int | None = None

    def accepts(self, stamp_ns: int) -> bool:
        """False for a stamp older than the last output by at most ``threshold`` (disorder, drop it)."""
        last = self.last_ns
        return last is None or stamp_ns >= last or last - stamp_ns > self.threshold_ns

    def commit(self, stamp_ns: int) -> None:
        self.last_ns = stamp_ns
