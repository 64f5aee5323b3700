"""Approximate-time pairing of two streams, with message_filters' ApproximateTimeSynchronizer semantics.

Each stream keeps at most ``queue_size`` messages by stamp (the oldest is evicted when the queue is full). When a
message arrives, the other queue is searched for the stamp closest to it; if the two differ by less than
``slop`` seconds the pair is emitted and both leave their queues. This is what the ROS node uses when
message_filters is not importable, and what the bag tools use, so offline and live pairing agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

__all__ = ["ApproxTimePairer", "PairingStats"]

T = TypeVar("T")


@dataclass
class PairingStats:
    received: list[int]
    paired: int = 0
    evicted: list[int] | None = None  # left a full queue without a partner
    out_of_order: list[int] | None = None

    @property
    def unpaired(self) -> int:
        assert self.evicted is not None
        return sum(self.evicted)


class ApproxTimePairer(Generic[T]):
    """``add(stream, stamp_seconds, msg)``; ``callback(msg0, msg1)`` is called for each pair."""

    def __init__(self, queue_size: int, slop: float, callback: Callable[[T, T], Any]) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if slop < 0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        self.queue_size = queue_size
        self.slop = slop
        self.callback = callback
        self.queues: list[dict[float, T]] = [{}, {}]
        self.last_stamp: list[float | None] = [None, None]
        self.stats = PairingStats(received=[0, 0], evicted=[0, 0], out_of_order=[0, 0])

    def add(self, stream: int, stamp: float, msg: T) -> bool:
        """Returns True when this message completed a pair."""
        if stream not in (0, 1):
            raise ValueError(f"stream must be 0 or 1, got {stream}")
        self.stats.received[stream] += 1
        last = self.last_stamp[stream]
        if last is not None and stamp < last:
            assert self.stats.out_of_order is not None
            self.stats.out_of_order[stream] += 1
        self.last_stamp[stream] = stamp if last is None else max(last, stamp)
        mine, other = self.queues[stream], self.queues[1 - stream]
        mine[stamp] = msg
        while len(mine) > self.queue_size:
            del mine[min(mine)]
            assert self.stats.evicted is not None
            self.stats.evicted[stream] += 1
        best = None
        for s in other:
            d = abs(s - stamp)
            if d < self.slop or (self.slop == 0 and d == 0):
                if best is None or d < abs(best - stamp):
                    best = s
        if best is None:
            return False
        partner = other.pop(best)
        del mine[stamp]
        self.stats.paired += 1
        if stream == 0:
            self.callback(msg, partner)
        else:
            self.callback(partner, msg)
        return True

    def pending(self) -> tuple[int, int]:
        return len(self.queues[0]), len(self.queues[1])
