"""The runtime's clocks: the node's is time.monotonic; the fake one moves only when told to."""

from __future__ import annotations

import time

from rgbt_seg_core.runtime.clock import FakeClock, monotonic


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(5)
    assert clock() == 5.0 and isinstance(clock(), float) and clock() == 5.0
    assert clock.advance(0.25) == 5.25 and clock() == 5.25
    clock.set(2)
    assert clock() == 2.0  # set may go back: tests of clock jumps need that
    assert FakeClock()() == 0.0


def test_the_node_clock_is_monotonic() -> None:
    assert monotonic is time.monotonic
    a = monotonic()
    assert monotonic() >= a
