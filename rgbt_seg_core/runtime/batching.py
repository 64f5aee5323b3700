"""Fair batching of many camera pairs through one model (issue 26, deliverable 3).

One node serves several RGB-thermal camera pairs with one model and one worker. Each pair keeps the newest-only
slot of :class:`~rgbt_seg_core.runtime.queues.NewestSlot`: a live robot segments the latest frame, so a frame
replaced before it is served is dropped, and counted, for its own pair alone. The worker takes the waiting frames
as batches of one input size, at most ``max_batch`` long, because the model runs one tensor shape per call.

Fairness. Pairs wait in the order their slots filled, and a frame that replaces another of the same size keeps
its pair's place: a 30 Hz camera refilling its slot moves nobody, so it cannot push a 5 Hz pair back, and a pair's
place never depends on its rate. (A frame of another size starts the pair's wait afresh, at the back: otherwise a
pair ahead could change size and hold the line a second time.) A batch takes the pairs of one size in that order,
starting with the size of the pair that has waited longest. Hence, with ``max_batch`` at least the number of pairs
(the node's default), every pair with a waiting frame is in the next batch, or in the one after when the next one
is of another size: that first batch takes every waiting pair of its size, so afterwards every pair still ahead of
the passed-over one is of its size. With a smaller ``max_batch`` a pair lets through at most one batch per pair
that waited before it (``max_batch`` of them per batch when all frames have one size).

Partial batches. With ``batch_timeout`` > 0 and fewer than ``max_batch`` frames of the oldest pair's size, the
batch waits for more until ``batch_timeout`` after that pair *began waiting*, not after its current frame came:
a pair whose frames keep replacing each other would otherwise push the deadline back forever.

Time. :func:`plan_batch` decides from the injected clock's reading alone, so tests drive the policy exactly;
:meth:`BatchScheduler.take` only blocks on a condition until a frame comes or the plan's deadline.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rgbt_seg_core.runtime.clock import Clock, monotonic

__all__ = ["Batch", "BatchScheduler", "PairCounts", "Plan", "SchedulerStats", "Waiting", "plan_batch"]

T = TypeVar("T")


@dataclass(frozen=True)
class Waiting:
    """One pair's waiting frame as the policy sees it: ``since`` and ``order`` are kept when a frame of the same
    size replaces it, so a pair's place in line is its own, not its camera rate's."""

    pair: str
    size: Hashable  # the input size (H, W): only frames of one size share a batch
    since: float  # clock time the pair began waiting (its slot filled)
    order: int  # place in line: smaller waited longer (ties on the clock need an order too)


@dataclass(frozen=True)
class Plan:
    """What the worker should do now: run ``pairs`` (oldest first), or, if that is empty, wait until
    ``wake_at`` (None: nothing is waiting, wait for a frame)."""

    pairs: tuple[str, ...]
    wake_at: float | None


def plan_batch(waiting: Iterable[Waiting], now: float, max_batch: int, batch_timeout: float,
               flush: bool = False) -> Plan:
    """The scheduling policy, pure: the batch due at ``now``.

    Args:
        waiting: the pairs with a ready frame.
        now: the clock's reading.
        max_batch: the most frames in one batch (>= 1).
        batch_timeout: seconds a partial batch waits for more, counted from when its oldest pair began waiting.
        flush: run whatever is ready without waiting (the scheduler is closing).

    Returns:
        The pairs to run, all of the oldest pair's size; or when the partial batch falls due.
    """
    line = sorted(waiting, key=lambda w: w.order)
    if not line:
        return Plan((), None)
    head = line[0]
    group = [w.pair for w in line if w.size == head.size][:max_batch]
    due = head.since + batch_timeout
    # a clock that went back (simulated time restarted) would otherwise hold the batch until it caught up
    if flush or len(group) >= max_batch or now >= due or now < head.since:
        return Plan(tuple(group), None)
    return Plan((), due)


@dataclass(frozen=True)
class Batch(Generic[T]):
    """Frames of one input size for one model call, in waiting order."""

    size: Hashable
    entries: tuple[tuple[str, T], ...]  # (pair, frame)

    @property
    def pairs(self) -> tuple[str, ...]:
        return tuple(pair for pair, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(self.entries)


@dataclass(frozen=True)
class PairCounts:
    """One pair's frames: every frame put is served, dropped (replaced or refused unserved) or still waiting."""

    received: int
    dropped: int
    served: int
    waiting: bool
    wait_total: float  # seconds, summed over served frames, from the frame's put to its batch
    wait_max: float

    @property
    def wait_mean(self) -> float:
        return self.wait_total / self.served if self.served else 0.0


@dataclass(frozen=True)
class SchedulerStats:
    """The shared model's side of the diagnostics: how full its batches run and how long frames wait for them."""

    pairs: Mapping[str, PairCounts]
    batches: int
    batch_sizes: Mapping[int, int]  # frames per batch -> batches of that many
    wait_total: float
    wait_max: float

    @property
    def served(self) -> int:
        return sum(n * count for n, count in self.batch_sizes.items())

    @property
    def mean_batch_size(self) -> float:
        return self.served / self.batches if self.batches else 0.0

    @property
    def wait_mean(self) -> float:
        return self.wait_total / self.served if self.served else 0.0


@dataclass
class _Slot(Generic[T]):
    item: T
    size: Hashable
    since: float
    order: int
    arrived: float  # this frame's put, for its queue wait


@dataclass
class _Tally:
    received: int = 0
    dropped: int = 0
    served: int = 0
    wait_total: float = 0.0
    wait_max: float = 0.0


def _checked_max_batch(max_batch: int | None) -> int | None:
    if max_batch is None:
        return None
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be an integer >= 1 (or None: the number of pairs), got {max_batch!r}")
    return max_batch


def _checked_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class BatchScheduler(Generic[T]):
    """Newest-frame slots for named camera pairs, taken in fair batches by one worker. Thread-safe: the
    subscription callbacks put, the worker takes, the diagnostics timer reads :meth:`stats`."""

    def __init__(self, pairs: Sequence[str], *, max_batch: int | None = None, batch_timeout: float = 0.0,
                 clock: Clock = monotonic) -> None:
        """
        Args:
            pairs: the camera pairs' names, each once.
            max_batch: the most frames per batch; None follows the number of pairs.
            batch_timeout: seconds to wait for more frames before a partial batch runs; 0 runs what is ready.
            clock: the decisions' clock (seconds, monotonic); tests pass a ``FakeClock``.
        """
        if isinstance(pairs, str):  # "front" would otherwise become five pairs named by its letters
            raise TypeError(f"pairs must be a sequence of names, got the string {pairs!r}")
        self._cond = threading.Condition()
        self._clock = clock
        self._max_batch = _checked_max_batch(max_batch)
        self._timeout = _checked_seconds("batch_timeout", batch_timeout)
        self._slots: dict[str, _Slot[T] | None] = {}
        self._tally: dict[str, _Tally] = {}
        self._order = itertools.count()
        self._closed = False
        self._batch_sizes: Counter[int] = Counter()
        self._wait_total = self._wait_max = 0.0
        for pair in pairs:
            self.add_pair(pair)

    # ------------------------------------------------------------------ pairs
    @property
    def pairs(self) -> tuple[str, ...]:
        with self._cond:
            return tuple(self._slots)

    @property
    def max_batch(self) -> int:
        with self._cond:
            return self._max_batch or max(1, len(self._slots))

    def add_pair(self, pair: str) -> None:
        if not isinstance(pair, str):
            raise TypeError(f"camera pair names are strings, got {pair!r}")
        with self._cond:
            if pair in self._slots:
                raise ValueError(f"camera pair {pair!r} is named twice")
            self._slots[pair], self._tally[pair] = None, _Tally()

    def remove_pair(self, pair: str) -> T | None:
        """Forget ``pair`` and its counts; returns its waiting frame, which will not be served."""
        with self._cond:
            self._known(pair)
            slot = self._slots.pop(pair)
            del self._tally[pair]
            self._cond.notify_all()  # max_batch may follow the number of pairs: a waiting batch may be full now
            return None if slot is None else slot.item

    def _known(self, pair: str) -> _Tally:
        tally = self._tally.get(pair)
        if tally is None:
            raise KeyError(f"unknown camera pair {pair!r}; the pairs are {sorted(self._tally)}")
        return tally

    # ------------------------------------------------------------------ input side
    def put(self, pair: str, item: T, size: Hashable) -> T | None:
        """Make ``item`` ``pair``'s waiting frame, of input size ``size`` (H, W).

        Returns:
            The frame that will not be served, counted as dropped for ``pair``: the one ``item`` replaced, or
            ``item`` itself once the scheduler is closed; None when nothing was dropped.
        """
        with self._cond:
            tally = self._known(pair)
            tally.received += 1
            if self._closed:
                tally.dropped += 1
                return item
            now, old = self._clock(), self._slots[pair]
            tally.dropped += old is not None
            if old is None or old.size != size:
                self._slots[pair] = _Slot(item, size, now, next(self._order), now)
            else:
                self._slots[pair] = _Slot(item, size, old.since, old.order, now)
            self._cond.notify_all()
            return None if old is None else old.item

    def drop_waiting(self) -> list[tuple[str, T]]:
        """Drop every waiting frame (counted per pair), as a node does when it stops segmenting; counts stay."""
        with self._cond:
            dropped = []
            for pair, slot in self._slots.items():
                if slot is not None:
                    self._tally[pair].dropped += 1
                    dropped.append((pair, slot.item))
                    self._slots[pair] = None
            return dropped

    def close(self) -> None:
        """Wake the worker: what waits is served at once, without ``batch_timeout``; then :meth:`take` returns
        None, and later frames are dropped."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make a waiting :meth:`take` consult the clock again: for a clock that is not real time (a test's, or
        simulated time) whose deadline came sooner than the real seconds ``take`` waits."""
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ worker side
    def plan(self, now: float | None = None) -> Plan:
        """The policy's decision at ``now`` (default: the clock), changing nothing."""
        with self._cond:
            return self._plan(self._clock() if now is None else now)

    def _plan(self, now: float) -> Plan:
        waiting = [Waiting(pair, s.size, s.since, s.order) for pair, s in self._slots.items() if s is not None]
        return plan_batch(waiting, now, self._max_batch or max(1, len(self._slots)), self._timeout, self._closed)

    def poll(self, now: float | None = None) -> Batch[T] | None:
        """The batch due at ``now`` (default: the clock), taken out of the slots; None if none is due yet."""
        with self._cond:
            now = self._clock() if now is None else now
            plan = self._plan(now)
            return self._serve(plan.pairs, now) if plan.pairs else None

    def take(self, timeout: float | None = None) -> Batch[T] | None:
        """The next due batch, waiting up to ``timeout`` real seconds (None: until one is due or the scheduler
        closes; 0: don't wait). None when none fell due in time, or when closed with nothing left."""
        if timeout is not None:
            _checked_seconds("take timeout", timeout)
        give_up = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._clock()
                plan = self._plan(now)
                if plan.pairs:
                    return self._serve(plan.pairs, now)
                left = None if give_up is None else give_up - time.monotonic()
                if self._closed or (left is not None and left <= 0):
                    return None
                # the deadline is on the injected clock; waited in real seconds, then planned again
                until_due = None if plan.wake_at is None else max(plan.wake_at - now, 0.0)
                waits = [w for w in (left, until_due) if w is not None]
                self._cond.wait(min(waits) if waits else None)

    def _serve(self, pairs: tuple[str, ...], now: float) -> Batch[T]:
        entries = []
        size = None
        for pair in pairs:
            slot = self._slots[pair]
            assert slot is not None  # planned from the slots under the same lock
            self._slots[pair], size = None, slot.size
            wait = max(now - slot.arrived, 0.0)
            tally = self._tally[pair]
            tally.served += 1
            tally.wait_total += wait
            tally.wait_max = max(tally.wait_max, wait)
            self._wait_total += wait
            self._wait_max = max(self._wait_max, wait)
            entries.append((pair, slot.item))
        self._batch_sizes[len(entries)] += 1
        return Batch(size, tuple(entries))

    # ------------------------------------------------------------------ diagnostics
    def stats(self) -> SchedulerStats:
        with self._cond:
            pairs = {pair: PairCounts(t.received, t.dropped, t.served, self._slots[pair] is not None, t.wait_total,
                                      t.wait_max) for pair, t in self._tally.items()}
            return SchedulerStats(pairs, sum(self._batch_sizes.values()), dict(self._batch_sizes),
                                  self._wait_total, self._wait_max)

    def __len__(self) -> int:
        """Frames waiting."""
        with self._cond:
            return sum(slot is not None for slot in self._slots.values())
