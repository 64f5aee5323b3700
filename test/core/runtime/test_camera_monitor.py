"""Camera health by silence: a camera fails after ``timeout`` s without a frame; one that never sent is given
``timeout`` from the other camera's first frame, not from start-up."""

from __future__ import annotations

import pytest

from rgbt_seg_core.runtime.camera_monitor import MODALITY_NAMES, CameraMonitor
from rgbt_seg_core.runtime.clock import FakeClock

RGB, THERMAL = 0, 1


def test_before_any_frame_both_wait_then_there_is_no_input() -> None:
    clock = FakeClock(10.0)
    m = CameraMonitor(2.0, clock)
    assert m.status() == {"rgb": "waiting", "thermal": "waiting"}
    assert m.silence(RGB) is None and not m.failed(RGB) and not m.no_input()
    clock.advance(2.0)
    assert not m.no_input()
    clock.advance(0.01)
    assert m.no_input() and m.status() == {"rgb": "never received", "thermal": "never received"}
    assert not m.failed(RGB)  # no frame from either: "no input", not one camera failing


def test_a_late_camera_is_timed_from_the_other_ones_first_frame() -> None:
    clock = FakeClock()
    m = CameraMonitor(1.0, clock)
    clock.advance(60.0)  # the node started long before its cameras
    m.seen(THERMAL)
    assert m.silence(RGB) == 0.0 and not m.failed(RGB) and not m.no_input()
    assert m.status() == {"rgb": "waiting", "thermal": "ok"}
    clock.advance(0.5)
    m.seen(THERMAL)
    m.seen(RGB)  # RGB was merely late
    assert m.status() == {"rgb": "ok", "thermal": "ok"}


def test_a_camera_that_never_comes_and_one_that_stops() -> None:
    clock = FakeClock()
    m = CameraMonitor(1.0, clock)
    m.seen(RGB)
    clock.advance(1.5)
    m.seen(RGB)
    assert m.failed(THERMAL) and not m.failed(RGB) and not m.no_input()
    assert m.status() == {"rgb": "ok", "thermal": "never received"}
    m.seen(THERMAL)
    clock.advance(2.25)
    assert m.silence(RGB) == pytest.approx(2.25) and m.failed(RGB) and m.failed(THERMAL) and m.no_input()
    assert m.status() == {"rgb": "silent for 2.2 s", "thermal": "silent for 2.2 s"}
    m.seen(THERMAL)
    assert not m.no_input() and m.status()["thermal"] == "ok"


def test_timeout_zero_and_a_negative_one() -> None:
    clock = FakeClock()
    m = CameraMonitor(0.0, clock)
    m.seen(RGB)
    assert not m.failed(RGB)  # silent for exactly the timeout is still alive
    clock.advance(0.001)
    assert m.failed(RGB)
    with pytest.raises(ValueError, match=r"modality timeout must be >= 0 seconds, got -1"):
        CameraMonitor(-1, clock)
    assert MODALITY_NAMES == ("rgb", "thermal")
