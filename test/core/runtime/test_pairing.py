"""The pairer against a brute-force reference of message_filters' ApproximateTimeSynchronizer (two inputs).

The reference below is written from the documented rules (see rgbt_seg_core/runtime/pairing.py) in the plainest way:
queues are lists of [stamp, msg] in arrival order, a repeated stamp overwrites in place, eviction scans for the
minimum, candidates are fully sorted with Python's stable sort. It shares no code with the implementation.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime.pairing import ApproxTimePairer, slop_to_ns

MS = 1_000_000


class ReferenceSync:
    def __init__(self, queue_size: int, slop_seconds: float) -> None:
        self.queue_size = queue_size
        self.slop = int(slop_seconds * 1_000_000_000)
        self.queues: list[list[list]] = [[], []]
        self.pairs: list[tuple] = []

    def add(self, stream: int, stamp: int, msg) -> None:
        q = self.queues[stream]
        for entry in q:
            if entry[0] == stamp:
                entry[1] = msg
                break
        else:
            q.append([stamp, msg])
        while len(q) > self.queue_size:
            smallest = min(e[0] for e in q)
            q[:] = [e for e in q if e[0] != smallest]
        other = self.queues[1 - stream]
        candidates = sorted((e for e in other if abs(e[0] - stamp) <= self.slop), key=lambda e: abs(e[0] - stamp))
        mine = next((e for e in q if e[0] == stamp), None)
        for cand in candidates:
            if abs(cand[0] - stamp) < self.slop and mine is not None:
                pair = (mine[1], cand[1]) if stream == 0 else (cand[1], mine[1])
                self.pairs.append(pair)
                q.remove(mine)
                other.remove(cand)
                break


def run_both(events: list[tuple[int, int]], queue_size: int, slop: float) -> tuple[list, list, ApproxTimePairer]:
    ref = ReferenceSync(queue_size, slop)
    got: list[tuple] = []
    pairer = ApproxTimePairer(queue_size, slop, lambda a, b: got.append((a, b)))
    for i, (stream, stamp) in enumerate(events):
        ref.add(stream, stamp, i)
        pairer.add(stream, stamp, i)
    return ref.pairs, got, pairer


def check_accounting(pairer: ApproxTimePairer, got: list[tuple], n_events: int) -> None:
    s = pairer.stats
    pending = pairer.pending()
    for stream in (0, 1):
        assert s.received[stream] == s.paired + s.evicted[stream] + s.replaced[stream] + s.discarded[stream] + \
            pending[stream]
    assert sum(s.received) == n_events
    ids = [m for pair in got for m in pair]
    assert len(ids) == len(set(ids)), "a message was paired twice"
    assert len(pairer.queues[0]) <= pairer.queue_size and len(pairer.queues[1]) <= pairer.queue_size


@st.composite
def camera_streams(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Two cameras at a common rate with an offset, jitter, drops, duplicates, step-backs; ms or ns stamps."""
    n = draw(st.integers(1, 60))
    period = draw(st.sampled_from([33 * MS, 50 * MS, 100 * MS]))
    offset = draw(st.integers(-60 * MS, 60 * MS))
    jitter = draw(st.integers(0, 30 * MS))
    quantum = draw(st.sampled_from([1, MS, 10 * MS]))
    events: list[tuple[int, int]] = []
    t0 = 1_700_000_000 * 1_000_000_000
    for k in range(n):
        for stream in draw(st.permutations([0, 1])):
            if draw(st.integers(0, 9)) == 0:
                continue  # lost frame
            stamp = t0 + k * period + (offset if stream else 0) + draw(st.integers(-jitter, jitter))
            stamp = stamp // quantum * quantum
            events.append((stream, stamp))
            if draw(st.integers(0, 14)) == 0:
                events.append((stream, stamp))  # duplicate
    for _ in range(draw(st.integers(0, 4))):  # step-backs: move an event earlier in arrival order
        if len(events) > 2:
            i = draw(st.integers(1, len(events) - 1))
            j = draw(st.integers(0, i - 1))
            events.insert(j, events.pop(i))
    return events


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=camera_streams(), queue_size=st.integers(1, 10), slop=st.sampled_from([0.001, 0.01, 0.02, 0.05, 0.1]))
def test_matches_reference_on_camera_like_streams(events, queue_size: int, slop: float) -> None:
    ref, got, pairer = run_both(events, queue_size, slop)
    assert got == ref
    check_accounting(pairer, got, len(events))


@settings(max_examples=400, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 40)), max_size=80),
       queue_size=st.integers(1, 10), slop_units=st.integers(1, 12))
def test_matches_reference_on_dense_small_stamps(events, queue_size: int, slop_units: int) -> None:
    # stamps on a coarse grid collide constantly: ties, duplicates, exactly-slop distances, random order
    scaled = [(s, t * 5 * MS) for s, t in events]
    ref, got, pairer = run_both(scaled, queue_size, slop_units * 5 * MS / 1e9)
    assert got == ref
    check_accounting(pairer, got, len(events))


def test_found_cases_do_not_raise() -> None:
    # queue_size 1: rgb t=10, thermal t=5, rgb t=5 evicts itself (t=5 < t=10) and must not pair
    ref, got, _ = run_both([(0, 10_000 * MS), (1, 5_000 * MS), (0, 5_000 * MS)], 1, 0.05)
    assert got == ref == []
    # queue_size 10: ten RGB frames lost their partners, then an older pair arrives
    events = [(0, (100 + k) * 100 * MS) for k in range(10)] + [(1, 50 * 100 * MS), (0, 50 * 100 * MS)]
    ref, got, _ = run_both(events, 10, 0.05)
    assert got == ref == []


def test_exactly_slop_apart_is_not_a_pair_and_ties_go_to_the_earlier_entry() -> None:
    _, got, _ = run_both([(0, 100 * MS), (1, 150 * MS)], 5, 0.05)
    assert got == []
    _, got, _ = run_both([(0, 100 * MS), (1, 149_999_999)], 5, 0.05)
    assert got == [(0, 1)]
    # thermal at 90 and 110 ms are equally close to rgb at 100 ms: the one queued first wins
    _, got, _ = run_both([(1, 110 * MS), (1, 90 * MS), (0, 100 * MS)], 5, 0.05)
    assert got == [(2, 0)]


def test_duplicate_stamp_replaces_and_keeps_its_place() -> None:
    _, got, p = run_both([(1, 110 * MS), (1, 90 * MS), (1, 110 * MS), (0, 100 * MS)], 5, 0.05)
    assert got == [(3, 2)]  # the replacement (event 2) holds the first position of stamp 110
    assert p.stats.replaced == [0, 1]


def test_slop_is_truncated_like_rclpy_duration_and_must_be_positive() -> None:
    assert slop_to_ns(6.5e-05) == 64_999  # 6.5e-05 * 1e9 = 64999.99999999999: truncated, not rounded
    assert slop_to_ns(0.05) == 50_000_000
    for bad in (0.0, -1.0, 1e-10):
        with pytest.raises(ValueError, match="slop must be > 0"):
            ApproxTimePairer(10, bad, lambda a, b: None)
    with pytest.raises(ValueError, match="queue_size"):
        ApproxTimePairer(0, 0.05, lambda a, b: None)


def test_reset_discards_only_the_old_time_base() -> None:
    got: list = []
    p = ApproxTimePairer(10, 0.05, lambda a, b: got.append((a, b)))
    for k in range(3):
        p.add(0, k * 1000 * MS, f"old{k}")
    p.add(1, 10**12, "new")
    assert p.reset(keep=lambda s: abs(s - 10**12) <= 2000 * MS) == 3
    assert p.pending() == (0, 1) and p.stats.discarded == [3, 0]
    p.add(0, 10**12 + 10 * MS, "new-rgb")
    assert got == [("new-rgb", "new")]
