"""Event counts over a sliding window: exact to one slice, constant memory, cleared once the events stop."""

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
    assert w.count() == 5 and w.rate() == pytest.approx(5 / WINDOW)
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
