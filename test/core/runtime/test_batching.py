"""The fair batch scheduler of many camera pairs (issue 26, deliverable 3): newest-frame slots per pair, batches
of one input size, partial batches after ``batch_timeout``, fairness that no camera rate can bend, and counts that
add up per pair. The policy runs on a FakeClock; the threaded tests wait on events, never on the machine's speed."""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime.batching import BatchScheduler, Waiting, plan_batch
from rgbt_seg_core.runtime.clock import FakeClock

BIG, SMALL = (480, 640), (240, 320)
TICK = 1 / 1024  # times in whole ticks are exact in binary, so deadlines compare exactly


def scheduler(pairs=("front", "rear", "left"), **kwargs) -> tuple[BatchScheduler[str], FakeClock]:
    clock = FakeClock(100.0)
    return BatchScheduler(list(pairs), clock=clock, **kwargs), clock


# ---------------------------------------------------------------------------------------------- the policy


def test_timeout_zero_runs_whatever_is_ready_at_once() -> None:
    s, _ = scheduler()
    assert s.poll() is None and s.plan().wake_at is None
    assert s.put("rear", "r0", BIG) is None
    batch = s.poll()
    assert batch is not None and batch.entries == (("rear", "r0"),) and batch.size == BIG and len(batch) == 1
    assert s.poll() is None and len(s) == 0


def test_a_partial_batch_waits_batch_timeout_from_when_its_oldest_pair_began_waiting() -> None:
    s, clock = scheduler(max_batch=3, batch_timeout=0.25)
    s.put("front", "f0", BIG)
    clock.advance(0.125)
    s.put("rear", "r0", BIG)
    assert s.poll() is None and s.plan().wake_at == 100.25
    clock.advance(0.0625)
    s.put("front", "f1", BIG)  # a newer frame of the oldest pair does not move the deadline
    assert s.poll() is None and s.plan().wake_at == 100.25
    clock.set(100.25)
    batch = s.poll()
    assert batch is not None and batch.entries == (("front", "f1"), ("rear", "r0"))


def test_a_full_batch_runs_at_once_and_takes_the_longest_waiting_first() -> None:
    s, _ = scheduler(("a", "b", "c", "d"), max_batch=2, batch_timeout=10.0)
    for name in "dbca":
        s.put(name, name + "0", BIG)
    assert s.poll().pairs == ("d", "b")
    assert s.poll().pairs == ("c", "a")


def test_frames_of_different_sizes_never_share_a_batch_and_the_oldest_size_goes_first() -> None:
    s, clock = scheduler(("a", "b", "c"))
    s.put("a", "a0", BIG)
    clock.advance(TICK)
    s.put("b", "b0", SMALL)
    s.put("c", "c0", BIG)
    first, second = s.poll(), s.poll()
    assert (first.size, first.pairs) == (BIG, ("a", "c")) and (second.size, second.pairs) == (SMALL, ("b",))


def test_a_new_size_starts_the_pairs_wait_afresh() -> None:
    s, _ = scheduler(("a", "b"), max_batch=1)
    s.put("a", "a0", BIG)
    s.put("b", "b0", BIG)
    assert s.put("a", "a1", SMALL) == "a0"  # a now waits behind b
    assert s.poll().entries == (("b", "b0"),) and s.poll().entries == (("a", "a1"),)


def test_a_fast_camera_cannot_push_a_slow_one_back() -> None:
    """max_batch 1: the slow pair, once waiting, is served after the fast one's turn, however often the fast one
    refills its slot; and it is served its newest frame."""
    s, clock = scheduler(("fast", "slow"), max_batch=1)
    s.put("fast", 0, BIG)
    s.put("slow", "s0", BIG)
    for k in range(1, 6):
        clock.advance(TICK)
        s.put("fast", k, BIG)
    assert s.poll().entries == (("fast", 5),)
    s.put("fast", 6, BIG)
    assert s.poll().entries == (("slow", "s0"),)
    assert s.stats().pairs["fast"].dropped == 5


def test_max_batch_follows_the_number_of_pairs_unless_given() -> None:
    s, _ = scheduler(("a", "b"))
    assert s.max_batch == 2
    s.add_pair("c")
    assert s.max_batch == 3 and s.pairs == ("a", "b", "c")
    assert scheduler(("a", "b"), max_batch=5)[0].max_batch == 5
    assert BatchScheduler([]).max_batch == 1


def test_remove_pair_returns_its_waiting_frame_and_forgets_it() -> None:
    s, _ = scheduler(("a", "b"))
    s.put("a", "a0", BIG)
    assert s.remove_pair("a") == "a0" and s.remove_pair("b") is None
    assert s.pairs == () and len(s) == 0 and s.poll() is None and s.stats().pairs == {}
    with pytest.raises(KeyError, match="unknown camera pair 'a'"):
        s.put("a", "a1", BIG)


def test_drop_waiting_counts_every_waiting_frame_as_dropped() -> None:
    s, _ = scheduler(("a", "b", "c"))
    s.put("a", "a0", BIG)
    s.put("c", "c0", SMALL)
    assert sorted(s.drop_waiting()) == [("a", "a0"), ("c", "c0")] and len(s) == 0 and s.poll() is None
    counts = s.stats().pairs
    assert (counts["a"].received, counts["a"].dropped, counts["a"].served, counts["a"].waiting) == (1, 1, 0, False)
    assert counts["b"].received == 0


def test_close_serves_what_waits_without_the_timeout_then_refuses_frames() -> None:
    s, _ = scheduler(("a", "b"), max_batch=2, batch_timeout=60.0)
    s.put("a", "a0", BIG)
    assert s.poll() is None
    s.close()
    assert s.take(timeout=0).entries == (("a", "a0"),)
    assert s.take() is None  # closed and empty: at once, even without a timeout
    assert s.put("b", "b0", BIG) == "b0" and len(s) == 0
    b = s.stats().pairs["b"]
    assert (b.received, b.dropped, b.served) == (1, 1, 0)


def test_stats_count_batches_their_sizes_and_queue_waits() -> None:
    s, clock = scheduler(("a", "b", "c"), max_batch=2)
    s.put("a", "a0", BIG)
    s.put("b", "b0", BIG)
    s.put("c", "c0", BIG)
    clock.advance(0.5)
    s.put("a", "a1", BIG)  # replaces a0: its wait counts from a1's arrival
    clock.advance(0.25)
    s.poll()  # a1 (waited 0.25), b0 (0.75)
    s.poll()  # c0 (0.75)
    stats = s.stats()
    assert stats.batches == 2 and stats.batch_sizes == {2: 1, 1: 1} and stats.mean_batch_size == 1.5
    assert stats.served == 3 and stats.wait_total == 1.75 and stats.wait_max == 0.75
    assert stats.wait_mean == pytest.approx(1.75 / 3)
    assert stats.pairs["a"].wait_mean == 0.25 and stats.pairs["a"].dropped == 1
    assert BatchScheduler(["a"]).stats().mean_batch_size == 0.0 and BatchScheduler(["a"]).stats().wait_mean == 0.0


def test_a_clock_that_went_back_does_not_hold_a_partial_batch() -> None:
    s, clock = scheduler(("a", "b"), batch_timeout=5.0)
    s.put("a", "a0", BIG)
    clock.set(10.0)  # simulated time restarted
    assert s.poll().pairs == ("a",)


def test_plan_batch_is_pure_and_orders_by_place_not_by_name() -> None:
    waiting = [Waiting("z", BIG, 1.0, 0), Waiting("a", BIG, 1.0, 1)]
    assert plan_batch(waiting, 1.0, 4, 0.5).wake_at == 1.5
    assert plan_batch(waiting, 1.5, 4, 0.5).pairs == ("z", "a")
    assert plan_batch(waiting, 1.0, 4, 0.5, flush=True).pairs == ("z", "a")
    assert plan_batch([], 1.0, 4, 0.5).pairs == () and plan_batch([], 1.0, 4, 0.5).wake_at is None


# ------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("max_batch", [0, -1, 1.5, True, "2"])
def test_max_batch_must_be_a_positive_integer(max_batch: object) -> None:
    with pytest.raises(ValueError, match="max_batch must be an integer >= 1"):
        BatchScheduler(["a"], max_batch=max_batch)


@pytest.mark.parametrize("timeout", [-0.1, float("nan"), float("inf"), None, "0"])
def test_batch_timeout_must_be_finite_seconds(timeout: object) -> None:
    with pytest.raises(ValueError, match="batch_timeout must be a finite number of seconds >= 0"):
        BatchScheduler(["a"], batch_timeout=timeout)


def test_names_must_be_distinct_strings_and_known() -> None:
    with pytest.raises(ValueError, match="camera pair 'front' is named twice"):
        BatchScheduler(["front", "rear", "front"])
    with pytest.raises(TypeError, match="got the string 'front'"):
        BatchScheduler("front")
    with pytest.raises(TypeError, match="camera pair names are strings"):
        BatchScheduler(["front", 3])
    s, _ = scheduler(("front",))
    with pytest.raises(KeyError, match=r"unknown camera pair 'rear'; the pairs are \['front'\]"):
        s.put("rear", "r0", BIG)
    with pytest.raises(KeyError, match="unknown camera pair 'rear'"):
        s.remove_pair("rear")
    with pytest.raises(ValueError, match="take timeout must be"):
        s.take(timeout=-1.0)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(max_size=8), max_size=6), max_batch=st.integers(-3, 10),
       timeout=st.floats(allow_nan=True, allow_infinity=True))
def test_any_arguments_are_taken_or_refused_by_name(names: list[str], max_batch: int, timeout: float) -> None:
    good = len(set(names)) == len(names) and max_batch >= 1 and math.isfinite(timeout) and timeout >= 0
    if good:
        s = BatchScheduler(names, max_batch=max_batch, batch_timeout=timeout)
        assert s.pairs == tuple(names) and s.max_batch == max_batch
        return
    with pytest.raises(ValueError, match="named twice|max_batch|batch_timeout"):
        BatchScheduler(names, max_batch=max_batch, batch_timeout=timeout)


# ---------------------------------------------------------------------------- the property of issue 26


@dataclass(frozen=True)
class Frame:
    pair: str
    index: int
    size: tuple[int, int]
    at: int  # ticks


@dataclass
class Scenario:
    names: list[str]
    frames: list[Frame]  # in arrival order
    max_batch: int | None
    timeout_ticks: int
    service_ticks: list[int]
    one_size: bool


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Two to five pairs, each at its own rate (2 .. 200 ms a frame) and phase, sizes drawn per frame from two
    (or all one size), a worker whose model calls take 1 .. 300 ms each."""
    n = draw(st.integers(2, 5))
    names = [f"p{i}" for i in range(n)]
    one_size = draw(st.booleans())
    frames = []
    for name in names:
        period, count = draw(st.integers(2, 200)), draw(st.integers(1, 30))
        phase = draw(st.integers(0, period))
        sizes = [BIG] * count if one_size else draw(st.lists(st.sampled_from([BIG, SMALL]), min_size=count,
                                                             max_size=count))
        frames += [Frame(name, k, size, phase + k * period) for k, size in enumerate(sizes)]
    frames.sort(key=lambda f: (f.at, f.pair))
    max_batch = draw(st.none() | st.integers(1, n + 1))
    timeout_ticks = draw(st.sampled_from([0, 0, 1, 20, 100, 400]))
    service = draw(st.lists(st.integers(1, 300), min_size=1, max_size=20))
    return Scenario(names, frames, max_batch, timeout_ticks, service, one_size)


@dataclass
class Line:
    """The test's own account of one pair: what it put last and since when, and where it stands in line."""

    newest: Frame | None = None
    waiting: Frame | None = None
    place: int = 0  # the pair's place in line (smaller: waited longer)
    since: float = 0.0
    ahead: int = 0  # pairs waiting when this pair began waiting
    passed_over: int = 0  # batches that ran without it since then
    received: int = 0
    dropped: int = 0
    served: set = field(default_factory=set)


class Referee:
    """Checks every put and every poll of a scheduler against issue 26's rules, knowing nothing of its inside."""

    def __init__(self, sc: Scenario, clock: FakeClock) -> None:
        self.sc, self.clock = sc, clock
        self.m = sc.max_batch or len(sc.names)
        self.timeout = sc.timeout_ticks * TICK
        self.lines = {name: Line() for name in sc.names}
        self.places = 0
        self.batch_sizes: dict[int, int] = {}
        self.wait_total = 0.0

    def waiting(self) -> list[tuple[str, Line]]:
        return sorted(((n, ln) for n, ln in self.lines.items() if ln.waiting is not None), key=lambda x: x[1].place)

    def put(self, frame: Frame, dropped: Frame | None) -> None:
        line = self.lines[frame.pair]
        assert dropped == line.waiting, f"{frame}: put returned {dropped}, the waiting frame was {line.waiting}"
        line.received += 1
        line.dropped += dropped is not None
        if line.waiting is None or line.waiting.size != frame.size:  # a new wait, at the back of the line
            line.ahead = len(self.waiting()) - (line.waiting is not None)
            line.place, line.since, line.passed_over = self.places, self.clock(), 0
            self.places += 1
        line.newest = line.waiting = frame

    def nothing_due(self) -> None:
        line = self.waiting()
        if line:
            head = line[0][1]
            group = [n for n, ln in line if ln.waiting.size == head.waiting.size]
            assert len(group) < self.m and self.clock() < head.since + self.timeout, "a due batch was held back"

    def batch(self, batch) -> None:
        now, line = self.clock(), self.waiting()
        head = line[0][1]
        expected = tuple(n for n, ln in line if ln.waiting.size == head.waiting.size)[: self.m]
        # the longest-waiting pair's size, its pairs in their order, as many as fit; partial only once due
        assert batch.pairs == expected and batch.size == head.waiting.size
        assert len(expected) == self.m or now >= head.since + self.timeout
        for pair, frame in batch:
            ln = self.lines[pair]
            assert frame is ln.newest, f"{pair}: served {frame}, its newest was {ln.newest}"
            assert frame.size == batch.size and frame not in ln.served, f"{pair}: {frame} served twice"
            ln.served.add(frame)
            self.wait_total += now - frame.at * TICK
            ln.waiting = None
        self.batch_sizes[len(batch)] = self.batch_sizes.get(len(batch), 0) + 1
        for pair, ln in line:
            if ln.waiting is not None:
                self.passed_over(pair, ln)

    def passed_over(self, pair: str, ln: Line) -> None:
        """The fairness rule, for a pair that a batch left out: at most one batch that excludes it runs before one
        that includes it, from the moment its frame was ready, when max_batch covers every pair (issue 26's
        default); whatever max_batch, no more such batches than pairs waited before it, and with one size no more
        than one per max_batch of them. A replaced frame of the same size keeps the pair's earlier start, so the
        rule is checked from whichever of its frames came first."""
        ln.passed_over += 1
        ctx = f"{pair} waiting since {ln.since} with {ln.ahead} ahead, max_batch {self.m}: passed over {ln.passed_over}"
        assert ln.passed_over <= ln.ahead, ctx
        if self.m >= len(self.lines):
            assert ln.passed_over <= 1, ctx
        if self.sc.one_size:
            assert ln.passed_over <= ln.ahead // self.m, ctx

    def accounts(self, s: BatchScheduler) -> None:
        stats = s.stats()
        for pair, ln in self.lines.items():
            c = stats.pairs[pair]
            assert (c.received, c.dropped, c.served, c.waiting) == (ln.received, ln.dropped, len(ln.served),
                                                                     ln.waiting is not None), pair
            assert c.received == c.served + c.dropped + c.waiting, pair


def simulate(sc: Scenario) -> Referee:
    """Cameras put frames at their times; a worker, whenever it is free, polls at once, or sleeps (on the fake
    clock) until the next frame, the end of its model call or the scheduler's deadline."""
    clock = FakeClock()
    s: BatchScheduler[Frame] = BatchScheduler(sc.names, max_batch=sc.max_batch,
                                              batch_timeout=sc.timeout_ticks * TICK, clock=clock)
    ref = Referee(sc, clock)
    pending, free_at, calls = list(sc.frames), 0.0, 0
    while True:
        while pending and pending[0].at * TICK == clock():
            frame = pending.pop(0)
            ref.put(frame, s.put(frame.pair, frame, frame.size))
        if clock() >= free_at:
            batch = s.poll()
            if batch is None:
                ref.nothing_due()
            else:
                ref.batch(batch)
                free_at = clock() + sc.service_ticks[calls % len(sc.service_ticks)] * TICK
                calls += 1
        ref.accounts(s)
        wake = s.plan().wake_at if clock() >= free_at else free_at if len(s) else None
        times = [t for t in (pending[0].at * TICK if pending else None, wake) if t is not None and t > clock()]
        if not times:
            break
        clock.set(min(times))
    assert len(s) == 0 and not pending, "frames left waiting with the worker idle"
    stats = s.stats()
    assert stats.batch_sizes == ref.batch_sizes and stats.batches == calls
    assert stats.wait_total == pytest.approx(ref.wait_total)
    return ref


@settings(max_examples=300, deadline=None)
@given(sc=scenarios())
def test_every_pair_is_served_fairly_once_newest_first_and_accounted_for(sc: Scenario) -> None:
    ref = simulate(sc)
    for pair, line in ref.lines.items():
        assert line.received == len(line.served) + line.dropped  # nothing waits once the cameras stop
        assert line.newest in line.served, f"{pair}: its last frame was never served"


def test_the_referee_catches_an_unfair_order() -> None:
    """The property above can fail: a batch that skipped the longest-waiting pair is flagged."""
    sc = Scenario(["a", "b"], [], 1, 0, [1], True)
    clock = FakeClock()
    ref = Referee(sc, clock)
    a, b = Frame("a", 0, BIG, 0), Frame("b", 0, BIG, 0)
    ref.put(a, None)
    ref.put(b, None)
    unfair, _ = scheduler(("b",))
    unfair.put("b", b, BIG)
    with pytest.raises(AssertionError):
        ref.batch(unfair.poll())


# ------------------------------------------------------------------------------------------ the worker thread


def _worker(s: BatchScheduler, **take) -> tuple[threading.Thread, queue.Queue]:
    out: queue.Queue = queue.Queue()
    thread = threading.Thread(target=lambda: out.put(s.take(**take)), daemon=True)
    thread.start()
    return thread, out


def test_a_blocked_take_returns_the_batch_a_put_makes_due() -> None:
    s, _ = scheduler(("a", "b"))
    thread, out = _worker(s)
    s.put("b", "b0", SMALL)
    assert out.get(timeout=60).entries == (("b", "b0"),)
    thread.join(timeout=60)


def test_a_blocked_take_wakes_for_its_deadline_on_an_injected_clock() -> None:
    s, clock = scheduler(("a", "b"), batch_timeout=1000.0)  # 1000 s: a test that waited it out would hang
    thread, out = _worker(s)
    s.put("a", "a0", BIG)
    clock.advance(1000.0)
    s.wake()
    assert out.get(timeout=60).entries == (("a", "a0"),)
    thread.join(timeout=60)


def test_close_wakes_a_blocked_take() -> None:
    s, _ = scheduler(("a",))
    thread, out = _worker(s)
    s.close()
    assert out.get(timeout=60) is None
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_take_without_a_due_batch_gives_up_after_its_timeout() -> None:
    s, _ = scheduler(("a", "b"), batch_timeout=1000.0)
    assert s.take(timeout=0) is None
    s.put("a", "a0", BIG)
    assert s.take(timeout=0.01) is None and len(s) == 1


def test_many_threads_putting_lose_no_frame() -> None:
    """Four camera threads and one worker, no timing assumed: each frame is served once or counted dropped."""
    names = ["a", "b", "c", "d"]
    s: BatchScheduler[int] = BatchScheduler(names, max_batch=3)
    served: list[tuple[str, int]] = []
    worker_done = threading.Event()

    def work() -> None:
        while (batch := s.take()) is not None:
            assert len(batch) <= 3 and len(set(batch.pairs)) == len(batch)
            served.extend(batch)
        worker_done.set()

    def camera(name: str) -> None:
        for k in range(300):
            s.put(name, k, BIG if k % 7 else SMALL)

    worker = threading.Thread(target=work, daemon=True)
    cameras = [threading.Thread(target=camera, args=(n,), daemon=True) for n in names]
    worker.start()
    for c in cameras:
        c.start()
    for c in cameras:
        c.join(timeout=120)
    s.close()
    assert worker_done.wait(timeout=120)
    stats = s.stats()
    for name in names:
        mine = [k for pair, k in served if pair == name]
        assert mine == sorted(set(mine)) and mine[-1] == 299  # in order, once each, the last one served
        c = stats.pairs[name]
        assert c.received == 300 and c.served == len(mine) and c.served + c.dropped == 300 and not c.waiting
