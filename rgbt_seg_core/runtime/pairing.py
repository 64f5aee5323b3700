"""Approximate-time pairing of two streams with the semantics of ROS 2 message_filters' ApproximateTimeSynchronizer.

Why our own: message_filters is not installable without a ROS install, yet the bag tools and the node must pair
exactly as a ROS user's ``ApproximateTimeSynchronizer`` would, so that offline and live results agree. The rules
below are those of message_filters' Python implementation (``src/message_filters/__init__.py``, identical on
Humble, Jazzy and Rolling) for two inputs:

* Stamps are integer nanoseconds; ``slop`` becomes ``int(slop_seconds * 1e9)`` nanoseconds, as rclpy's
  ``Duration(seconds=...)`` truncates it.
* The arriving message is stored under its stamp; a message already stored under the same stamp is replaced
  (it keeps its place in the queue's order, as a Python dict key does).
* While the queue holds more than ``queue_size`` messages the smallest stamp is evicted; this may be the message
  that just arrived.
* Candidates are the other queue's stamps at most ``slop`` away, closest first; equal distances keep the order in
  which the stamps entered the queue.
* The first candidate strictly closer than ``slop`` forms a pair, provided the arriving message is still queued;
  both leave their queues.

Unlike the original, :meth:`ApproxTimePairer.add` never raises on any stamp order, and every message is accounted
for in :class:`PairingStats` (paired, evicted, replaced, discarded by :meth:`reset`, or still pending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

__all__ = ["ApproxTimePairer", "PairingStats", "slop_to_ns"]

T = TypeVar("T")
NS_PER_S = 1_000_000_000


def slop_to_ns(slop_seconds: float) -> int:
    """Seconds -> nanoseconds the way rclpy's ``Duration(seconds=...)`` does it (truncation)."""
    return int(slop_seconds * NS_PER_S)


def _pair_counts() -> list[int]:
    return [0, 0]


@dataclass
class PairingStats:
    """Per-stream message accounting: ``received == paired + evicted + replaced + discarded + pending``."""

    received: list[int] = field(default_factory=_pair_counts)
    evicted: list[int] = field(default_factory=_pair_counts)  # left a full queue without a partner
    replaced: list[int] = field(default_factory=_pair_counts)  # overwritten by a later message with the same stamp
    discarded: list[int] = field(default_factory=_pair_counts)  # dropped by reset() (a clock jump)
    stepped_back: list[int] = field(default_factory=_pair_counts)  # stamp older than the newest seen on its stream
    paired: int = 0

    @property
    def unpaired(self) -> int:
        """Messages that left without a partner (evicted, replaced or discarded)."""
        return sum(self.evicted) + sum(self.replaced) + sum(self.discarded)


class ApproxTimePairer(Generic[T]):
    """``add(stream, stamp_ns, msg)`` with stream 0 or 1; ``callback(msg0, msg1)`` is called for each pair."""

    def __init__(self, queue_size: int, slop_seconds: float, callback: Callable[[T, T], Any]) -> None:
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {queue_size!r}")
        slop_ns = slop_to_ns(slop_seconds)
        if slop_ns <= 0:
            raise ValueError(f"slop must be > 0 seconds (at least 1 ns), got {slop_seconds!r}")
        self.queue_size = queue_size
        self.slop_ns = slop_ns
        self.callback = callback
        self.queues: tuple[dict[int, T], dict[int, T]] = ({}, {})
        self._newest: list[int | None] = [None, None]
        self.stats = PairingStats()

    def add(self, stream: int, stamp_ns: int, msg: T) -> bool:
        """Store ``msg`` and pair it if the rules allow; returns True when a pair was emitted.

        ``stream`` must be 0 or 1 (a caller's bug otherwise, so that one raises ValueError).
        """
        if stream not in (0, 1):
            raise ValueError(f"stream must be 0 or 1, got {stream!r}")
        stamp_ns = int(stamp_ns)
        st = self.stats
        st.received[stream] += 1
        newest = self._newest[stream]
        if newest is not None and stamp_ns < newest:
            st.stepped_back[stream] += 1
        self._newest[stream] = stamp_ns if newest is None else max(newest, stamp_ns)

        mine, other = self.queues[stream], self.queues[1 - stream]
        if stamp_ns in mine:
            st.replaced[stream] += 1
        mine[stamp_ns] = msg
        while len(mine) > self.queue_size:
            del mine[min(mine)]
            st.evicted[stream] += 1
        if stamp_ns not in mine:  # evicted at once: message_filters finds it missing and pairs nothing
            return False

        best: int | None = None
        best_delta = 0
        for s in other:  # insertion order: the first of equal distances wins
            delta = abs(s - stamp_ns)
            if delta < self.slop_ns and (best is None or delta < best_delta):
                best, best_delta = s, delta
        if best is None:
            return False
        partner = other.pop(best)
        del mine[stamp_ns]
        st.paired += 1
        if stream == 0:
            self.callback(msg, partner)
        else:
            self.callback(partner, msg)
        return True

    def reset(self, keep: Callable[[int], bool] | None = None) -> int:
        """Drop queued messages (all, or those whose stamp ``keep`` rejects); returns how many were dropped.

        Used after a clock jump, when queued stamps belong to a time base that will not come back.
        """
        dropped = 0
        for stream, q in enumerate(self.queues):
            gone = [s for s in q if keep is None or not keep(s)]
            for s in gone:
                del q[s]
            self.stats.discarded[stream] += len(gone)
            dropped += len(gone)
            self._newest[stream] = max(q) if q else None  # the step-back count follows the new time base
        return dropped

    def pending(self) -> tuple[int, int]:
        return len(self.queues[0]), len(self.queues[1])
