"""Stamp jumps and output order: a camera that keeps time (however silent it was) never jumps; a step back or a
leap ahead beyond the threshold does, per stream; outputs stay in stamp order except across a new time base."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime.stamps import OrderGuard, StampJump, StampJumpDetector

S = 1_000_000_000  # ns per second
THRESHOLD = 2 * S


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 10**6 * S), gaps=st.lists(st.floats(0.0, 600.0), min_size=1, max_size=40),
       jitter=st.lists(st.integers(-S // 2, S // 2), min_size=40, max_size=40))
def test_a_camera_that_keeps_time_never_jumps(start: int, gaps: list[float], jitter: list[int]) -> None:
    """Stamps advance with the arrival clock (up to half a second of jitter), after gaps of up to ten minutes."""
    d = StampJumpDetector(THRESHOLD)
    arrival = 1000.0
    assert d.check(0, start, arrival) is None
    for gap, j in zip(gaps, jitter):
        arrival += gap
        assert d.check(0, start + int((arrival - 1000.0) * S) + j, arrival) is None


@settings(max_examples=200, deadline=None)
@given(last=st.integers(10**4 * S, 10**6 * S), elapsed=st.floats(0.0, 60.0), over=st.integers(1, 10**5 * S),
       back=st.booleans(), stream=st.integers(0, 1))
def test_beyond_the_threshold_is_a_jump(last: int, elapsed: float, over: int, back: bool, stream: int) -> None:
    d = StampJumpDetector(THRESHOLD)
    assert d.check(stream, last, 50.0) is None
    to = last - THRESHOLD - over if back else last + int(elapsed * S) + THRESHOLD + over
    jump = d.check(stream, to, 50.0 + elapsed)
    assert jump == StampJump(stream, last, to)
    assert (jump.seconds < 0) == back and jump.seconds == pytest.approx((to - last) * 1e-9)
    assert d.check(stream, to + 1, 50.0 + elapsed) is None  # the new stamp is the new reference


def test_streams_are_watched_apart_and_described_by_name() -> None:
    d = StampJumpDetector(THRESHOLD)
    assert d.check(0, 100 * S, 0.0) is None and d.check(1, 5 * S, 0.0) is None  # each stream's first stamp
    assert d.check(1, 6 * S, 1.0) is None and d.check(0, 101 * S, 1.0) is None
    jump = d.check(1, 3600 * S, 1.5)
    assert jump is not None and jump.stream == 1
    assert jump.describe(("rgb", "thermal")) == "thermal stamps jumped forward by 3594.000 s; pairing restarted"
    back = StampJump(0, 10 * S, 7 * S - S // 2)
    assert back.describe(("rgb", "thermal")) == "rgb stamps jumped back by 3.500 s; pairing restarted"


def test_a_step_of_exactly_the_threshold_is_no_jump() -> None:
    d = StampJumpDetector(THRESHOLD)
    d.check(0, 10 * S, 0.0)
    assert d.check(0, 8 * S, 0.0) is None
    assert d.check(0, 10 * S, 0.0) is None
    assert d.check(0, 10 * S - 1 - THRESHOLD, 0.0) is not None


@pytest.mark.parametrize("threshold", [0, -1])
def test_the_threshold_must_be_positive(threshold: int) -> None:
    with pytest.raises(ValueError, match="jump threshold must be > 0"):
        StampJumpDetector(threshold)


@settings(max_examples=300, deadline=None)
@given(stamps=st.lists(st.integers(0, 20 * S), max_size=60))
def test_outputs_keep_stamp_order_within_a_time_base(stamps: list[int]) -> None:
    guard = OrderGuard(THRESHOLD)
    published: list[int] = []
    for stamp in stamps:
        last = guard.last_ns
        ok = guard.accepts(stamp)
        assert ok == (last is None or stamp >= last or last - stamp > THRESHOLD)
        if ok:
            guard.commit(stamp)
            published.append(stamp)
    assert all(b >= a or a - b > THRESHOLD for a, b in zip(published, published[1:]))
    assert guard.last_ns == (published[-1] if published else None)


def test_a_single_far_future_pair_does_not_block_later_ones() -> None:
    guard = OrderGuard(THRESHOLD)
    for stamp in (10 * S, 11 * S, 3600 * S):  # the last: a glitched frame stamped an hour ahead
        assert guard.accepts(stamp)
        guard.commit(stamp)
    assert guard.accepts(12 * S)  # a new time base, not disorder
    guard.commit(12 * S)
    assert not guard.accepts(11 * S) and guard.accepts(12 * S)
