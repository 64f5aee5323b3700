"""Event counts over a sliding window: exact to one slice, constant memory, cleared once the events stop; rates
divide by the time actually counted over."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime.clock import FakeClock
from rgbt_seg_core.runtime.window import EventWindow

WINDOW, BUCKETS = 4.0, 16  # slices of 0.25 s: binary fractions, so slice boundaries are exact


def test_counts_clear_once_the_events_stop() -> None:
    clock = FakeClock(100.0)
    w = EventWindow(WINDOW, clock, BUCKETS)
    w.add()
    w.add(4)
    # at a slice's start the count covers the window less that slice: 15 slices before it, none of this one yet
    assert w.count() == 5 and w.span() == WINDOW - 0.25 and w.rate() == pytest.approx(5 / (WINDOW - 0.25))
    clock.advance(WINDOW - 0.25)
    assert w.count() == 5
    clock.advance(0.25)
    assert w.count() == 0 and w.rate() == 0.0


def test_memory_does_not_grow_with_the_rate() -> None:
    clock = FakeClock()
    w = EventWindow(WINDOW, clock, BUCKETS)
    for _ in range(10 * 1024):  # ten seconds of a 1 kHz sender (1/1024 s apart: exact in binary)
        clock.advance(1 / 1024)
        w.add()
    assert len(w._counts) == len(w._slots) == BUCKETS
    assert 3841 <= w.count() <= 4096  # the events of the last 3.75 .. 4 s


@pytest.mark.parametrize("window", [0, -1.0, float("nan")])
def test_a_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="window must be > 0 seconds"):
        EventWindow(window, FakeClock())


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 5)), max_size=60),
       later=st.integers(0, 400))
def test_count_is_the_events_of_the_last_window_to_one_slice(steps: list[tuple[int, int]], later: int) -> None:
    """Events at times in 1/64 s (exact in binary); the count lies between those of the window less one slice
    and those of the whole window."""
    clock = FakeClock()
    w = EventWindow(WINDOW, clock, BUCKETS)
    events: list[tuple[float, int]] = []
    for dt, n in steps:
        clock.advance(dt / 64)
        w.add(n)
        events.append((clock(), n))
        _check(w, clock(), events)
    clock.advance(later / 64)
    _check(w, clock(), events)


def _check(w: EventWindow, now: float, events: list[tuple[float, int]]) -> None:
    inner = sum(n for t, n in events if now - WINDOW + WINDOW / BUCKETS <= t <= now)
    outer = sum(n for t, n in events if now - WINDOW < t <= now)
    assert inner <= w.count() <= outer


def test_a_steady_rate_reads_true_at_any_phase() -> None:
    """A 5 Hz camera reads 5 Hz to one event over the span, wherever the clock is within a slice (dividing by the
    whole window would read up to one slice low)."""
    clock = FakeClock(0.0)
    w = EventWindow(WINDOW, clock, BUCKETS)
    for k in range(400):  # 80 s at 5 Hz, read after each frame and between frames
        clock.set(k / 5)
        w.add()
        for phase in (0.0, 0.1):
            clock.set(k / 5 + phase)
            if clock() >= WINDOW:
                assert abs(w.rate() - 5.0) <= 1 / w.span() + 1e-9
                assert WINDOW - WINDOW / BUCKETS <= w.span() <= WINDOW


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 5)), max_size=60),
       later=st.integers(0, 400), start=st.integers(0, 10_000))
def test_rate_is_the_count_over_the_span_it_covers(steps: list[tuple[int, int]], later: int, start: int) -> None:
    """The count is exactly the events from the start of the span to now, the span lies within one slice of the
    window, and the rate is the one over the other: never negative, each event counted once."""
    clock = FakeClock(start / 64)
    w = EventWindow(WINDOW, clock, BUCKETS)
    events: list[tuple[float, int]] = []
    for dt, n in steps:
        clock.advance(dt / 64)
        w.add(n)
        events.append((clock(), n))
    clock.advance(later / 64)
    now, span = clock(), w.span()
    assert WINDOW - WINDOW / BUCKETS <= span <= WINDOW
    assert w.count() == sum(n for t, n in events if now - span <= t <= now)
    assert w.rate() == w.count() / span >= 0
