"""One log line per kind of problem per period, with the count of the lines held back."""

from __future__ import annotations

from rgbt_seg_core.runtime.clock import FakeClock
from rgbt_seg_core.runtime.log_throttle import LogThrottle


def test_repeats_are_held_back_and_counted() -> None:
    clock = FakeClock()
    t = LogThrottle(5.0, clock)
    assert t.admit("bad", "bad frame") == "bad frame"
    clock.advance(1.0)
    assert t.admit("bad", "bad frame") is None
    clock.advance(3.99)
    assert t.admit("bad", "bad frame") is None
    clock.advance(0.01)  # a full period since the last line
    assert t.admit("bad", "bad frame again") == "bad frame again (2 more like this in the last 5 s)"
    clock.advance(5.0)
    assert t.admit("bad", "bad frame") == "bad frame"  # the count was reset when it was reported


def test_one_kind_does_not_hide_another() -> None:
    clock = FakeClock()
    t = LogThrottle(10.0, clock)
    assert t.admit("bad", "bad frame") == "bad frame"
    assert t.admit("jump", "clock jump") == "clock jump"
    assert t.admit("bad", "bad frame") is None and t.admit("jump", "clock jump") is None
    clock.advance(10.0)
    assert t.admit("jump", "clock jump") == "clock jump (1 more like this in the last 10 s)"
    assert t.admit("bad", "b") == "b (1 more like this in the last 10 s)"


def test_period_zero_logs_everything() -> None:
    t = LogThrottle(0, FakeClock())
    assert [t.admit("k", "x") for _ in range(3)] == ["x", "x", "x"]
