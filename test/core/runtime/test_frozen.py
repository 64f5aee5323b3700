"""Frozen cameras: bit-identical frames for longer than the timeout, against a brute-force reference; the
runtime treats a frozen camera as failed and recovers when its frames change; a thermal FFC pause does not trip."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime import (
    ERROR,
    OK,
    RGB,
    THERMAL,
    WARN,
    FakeClock,
    FrozenDetector,
    RuntimeConfig,
    SegmentationRuntime,
    frame_digest,
)

from .test_runtime import FakeEngine, S, drain, rgb_msg, thermal_msg


def reference(events: list[tuple[float, int]], timeout: float) -> list[bool]:
    """Frame i is frozen when it and every frame back to the start of its run of equal contents are equal and
    more than ``timeout`` seconds separate that start from frame i."""
    out = []
    for i, (t, content) in enumerate(events):
        start = i
        while start > 0 and events[start - 1][1] == content:
            start -= 1
        out.append(timeout > 0 and t - events[start][0] > timeout)
    return out


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.0, 1.5), st.integers(0, 2)), min_size=1, max_size=60),
       timeout=st.sampled_from([0.0, 0.5, 2.0]))
def test_matches_the_reference(steps: list[tuple[float, int]], timeout: float) -> None:
    clock = FakeClock(0.0)
    det = FrozenDetector(timeout, clock)
    events, got = [], []
    for dt, content in steps:
        clock.advance(dt)
        events.append((clock.now, content))
        got.append(det.check(0, frame_digest(np.full((4, 5), content, np.uint8))))
        assert det.frozen(1) is False  # cameras are independent
    assert got == reference(events, timeout)


def test_digest_sees_one_pixel_and_the_shape() -> None:
    a = np.zeros((6, 8), np.uint16)
    b = a.copy()
    b[5, 7] = 1
    assert frame_digest(a) != frame_digest(b)
    assert frame_digest(a) != frame_digest(a.reshape(8, 6)) and frame_digest(a) == frame_digest(a.copy())
    assert frame_digest(a[:, ::2]) == frame_digest(np.ascontiguousarray(a[:, ::2]))  # strided views work


def _run(rt, clock, start_s: float, n: int, thermal_seed=None, period: float = 0.125):
    """n pairs at 8 Hz (a period exact in binary); thermal repeats one frame when ``thermal_seed`` is given, else
    changes every time."""
    for k in range(n):
        clock.advance(period)
        stamp = int((start_s + k * period) * S)
        rt.add(RGB, rgb_msg(stamp, seed=k))
        rt.add(THERMAL, thermal_msg(stamp, seed=thermal_seed if thermal_seed is not None else 1000 + k))
    return drain(rt)


def test_a_frozen_thermal_camera_is_reported_treated_as_failed_and_recovers() -> None:
    clock = FakeClock(0.0)
    engine = FakeEngine()
    rt = SegmentationRuntime(engine, RuntimeConfig(frozen_timeout=2.0, modality_timeout=1.0, stats_window=1.0,
                                                                realtime=False),
                             clock=clock)
    assert len(_run(rt, clock, 10.0, 10)) == 10 and rt.diagnostics().level == OK
    out = _run(rt, clock, 11.0, 32, thermal_seed=7)  # 4 s of one repeated thermal frame
    assert rt.counts["frozen_thermal"] == 32 - 17  # frames more than 2.0 s after the first of the run
    assert all(o.rgb is not None for o in out)
    assert engine.calls[-1] == (True, False)  # RGB alone, thermal blanked
    h = rt.diagnostics()
    assert h.level == WARN and "thermal camera frozen" in h.message, h.message
    assert h.values["modality_thermal"].startswith("frozen for") and h.values["frozen_thermal"] == "15"
    engine.calls.clear()
    out = _run(rt, clock, 15.0, 15)  # it changes again
    assert engine.calls and all(c == (True, True) for c in engine.calls[1:]), engine.calls
    assert rt.diagnostics().level == OK and rt.counts["frozen_thermal"] == 15


def test_short_repeats_below_the_timeout_never_trip() -> None:
    """A flat-field correction freezes a thermal camera for about half a second, every few seconds."""
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(FakeEngine(), RuntimeConfig(frozen_timeout=2.0, stats_window=1.0, realtime=False),
                             clock=clock)
    for cycle in range(5):
        _run(rt, clock, 20.0 + 4 * cycle, 20)
        _run(rt, clock, 22.5 + 4 * cycle, 4, thermal_seed=cycle)  # 0.5 s held
    assert rt.counts["frozen_thermal"] == 0 and rt.counts["single_modality"] == 0
    assert rt.diagnostics().level == OK


def test_zero_turns_the_check_off_and_reconfigure_turns_it_on() -> None:
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(FakeEngine(), RuntimeConfig(frozen_timeout=0.0, realtime=False), clock=clock)
    assert len(_run(rt, clock, 1.0, 40, thermal_seed=3)) == 40 and rt.counts["frozen_thermal"] == 0
    rt.reconfigure(RuntimeConfig(frozen_timeout=1.0, realtime=False))
    _run(rt, clock, 5.0, 20, thermal_seed=3)
    assert rt.counts["frozen_thermal"] > 0


def test_both_cameras_unusable_is_an_error_not_a_fallback() -> None:
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(FakeEngine(), RuntimeConfig(frozen_timeout=0.5, stats_window=1.0, realtime=False),
                             clock=clock)
    for k in range(12):  # both cameras repeat one frame for 1.5 s
        clock.advance(0.125)
        rt.add(RGB, rgb_msg(int((1 + k * 0.125) * S), seed=1))
        rt.add(THERMAL, thermal_msg(int((1 + k * 0.125) * S), seed=2))
    h = rt.diagnostics()
    assert h.level == ERROR and h.message.startswith("no usable camera input: rgb frozen for"), h.message
    assert "thermal frozen for" in h.message


def test_reset_inputs_judges_the_cameras_afresh_and_keeps_the_counters() -> None:
    """After an inactive spell longer than modality_timeout, the first frame must wait for its partner."""
    clock = FakeClock(0.0)
    engine = FakeEngine()
    rt = SegmentationRuntime(engine, RuntimeConfig(modality_timeout=1.0, realtime=False), clock=clock)
    assert len(_run(rt, clock, 1.0, 4)) == 4
    clock.advance(60.0)  # inactive: no frames
    assert rt.failed(RGB) and rt.diagnostics().level == ERROR
    rt.reset_inputs()
    assert not rt.failed(RGB) and rt.diagnostics().level == OK and rt.counts["pairs"] == 4
    rt.add(THERMAL, thermal_msg(70 * S))  # the thermal frame comes first
    rt.add(RGB, rgb_msg(70 * S))
    out = drain(rt)
    assert len(out) == 1 and out[0].rgb is not None and engine.calls[-1] == (True, True)
    assert rt.counts["single_modality"] == 0
