"""The rates in the runtime's diagnostics, on a fake clock: each one counts one kind of event, so a node with nothing
subscribed reads 0 Hz segmented, two 5 Hz cameras read 5 Hz each, and no frame is counted twice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support.image_messages import raw_message
from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.runtime import OK, RGB, THERMAL, FakeClock, Outputs, RuntimeConfig, SegmentationRuntime

S = 1_000_000_000
RATES = ("rate_hz", "skipped_rate_hz", "input_rate_hz", "rgb_input_rate_hz", "thermal_input_rate_hz")
NOBODY = Outputs(labels=False)


class LabelsOnly:
    palette = [[0, 0, 0], [255, 255, 255]]

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        ref = rgb if rgb is not None else thermal
        return Prediction(np.zeros(ref.shape[:2], np.uint8), None, None, 0.0, None, None)


def frame(modality: int, stamp_ns: int, seed: int):
    """A small frame whose pixels change with ``seed`` (identical ones would freeze the camera)."""
    rng = np.random.default_rng(seed)
    if modality == RGB:
        return raw_message(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "rgb8", stamp_ns=stamp_ns)
    return raw_message(rng.integers(0, 256, (6, 8), dtype=np.uint8), "mono8", stamp_ns=stamp_ns)


def garbage(stamp_ns: int):
    msg = raw_message(np.zeros((6, 8, 3), np.uint8), "rgb8", stamp_ns=stamp_ns)
    msg.data = msg.data[:10]  # a bad frame: still a frame received
    return msg


def drain(rt: SegmentationRuntime, want: Outputs) -> int:
    done = 0
    while (work := rt.take(0)) is not None:
        done += rt.process(work, want) is not None
    return done


def two_cameras(rt: SegmentationRuntime, clock: FakeClock, seconds: float, want: Outputs, hz: float = 5.0) -> None:
    """Both cameras at ``hz``, thermal 10 ms after RGB with stamps 3 ms apart; the worker keeps up."""
    for k in range(round(seconds * hz)):
        stamp = 100 * S + round(k * S / hz)
        rt.add(RGB, frame(RGB, stamp, k))
        clock.advance(0.01)
        rt.add(THERMAL, frame(THERMAL, stamp + 3_000_000, k))
        drain(rt, want)
        clock.advance(1 / hz - 0.01)


def rates(rt: SegmentationRuntime) -> dict[str, float]:
    values = rt.diagnostics().values
    return {k: float(values[k]) for k in RATES}


def test_nothing_subscribed_reads_0_hz_segmented_and_the_skipped_rate_apart() -> None:
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(LabelsOnly(), RuntimeConfig(), clock=clock)
    two_cameras(rt, clock, 20.0, NOBODY)
    h = rt.diagnostics()
    r = rates(rt)
    assert r["rate_hz"] == 0.0 and h.values["processed"] == "0"
    assert r["skipped_rate_hz"] == pytest.approx(5.0, abs=0.25) and int(h.values["skipped_no_subscribers"]) == 100
    # skipping on purpose is no fault: nothing warns that pairs go unsegmented
    assert h.level == OK and h.message == "running", h.message
    two_cameras(rt, clock, 20.0, Outputs())  # someone subscribes: the rates trade places within one window
    r = rates(rt)
    assert r["rate_hz"] == pytest.approx(5.0, abs=0.25) and r["skipped_rate_hz"] == 0.0


def test_two_5_hz_cameras_read_5_hz_each_not_10() -> None:
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(LabelsOnly(), RuntimeConfig(), clock=clock)
    two_cameras(rt, clock, 20.0, Outputs())
    r = rates(rt)
    for key in ("rgb_input_rate_hz", "thermal_input_rate_hz", "input_rate_hz", "rate_hz"):
        assert r[key] == pytest.approx(5.0, abs=0.25), (key, r)
    assert r["skipped_rate_hz"] == 0.0


def test_one_silent_camera_reads_0_hz_and_the_other_its_own_rate() -> None:
    """With thermal silent, RGB goes on alone: RGB's rate and the segmented rate stay 5 Hz, thermal's reads 0."""
    clock = FakeClock(0.0)
    rt = SegmentationRuntime(LabelsOnly(), RuntimeConfig(), clock=clock)
    for k in range(100):
        rt.add(RGB, frame(RGB, 100 * S + k * S // 5, k))
        drain(rt, Outputs())
        clock.advance(0.2)
    r = rates(rt)
    assert r["thermal_input_rate_hz"] == 0.0
    assert r["rgb_input_rate_hz"] == pytest.approx(5.0, abs=0.25)
    assert r["input_rate_hz"] == r["rate_hz"] == pytest.approx(5.0, abs=0.25)  # lone frames segmented


# ------------------------------------------------------------------ property: each rate is its own events' count
@st.composite
def schedules(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """Actions a whole number of 1/64 s apart (exact in binary, as the windows' slices are): a frame from either
    camera (its stamp its arrival time, plus jitter that sometimes breaks the pairing), a bad frame, the worker
    with or without subscribers, or a look at the diagnostics."""
    actions = st.sampled_from(["rgb", "rgb", "thermal", "thermal", "bad_rgb", "bad_thermal", "work", "work_nobody",
                               "look"])
    return draw(st.lists(st.tuples(actions, st.integers(0, 96), st.integers(-40, 40)), max_size=80))


def _span(now: float, window: float, buckets: int = 20) -> float:
    """The seconds a window's count covers (window.py): from the start of its oldest slice to now."""
    width = window / buckets
    return now - (math.floor(now / width) - buckets + 1) * width


def _check(rt: SegmentationRuntime, now: float, events: dict[str, list[float]]) -> None:
    window = rt.config.stats_window
    span = _span(now, window)
    values = rt.diagnostics().values
    for key, times in events.items():
        expected = sum(1 for t in times if now - span <= t <= now) / span
        got = float(values[key])
        assert got >= 0 and abs(got - expected) <= 0.005 + 1e-9, (key, got, expected, span)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=schedules(), window=st.sampled_from([2.5, 5.0, 600.0]))
def test_each_rate_is_its_own_events_in_the_window_over_the_window(script, window: float) -> None:
    """Each event is noted once, when the counters say it happened; every rate equals its events since the start
    of the window's span over that span, is never negative, and with a window longer than the run equals its
    counter, so no frame is counted twice."""
    clock = FakeClock(50.0)
    rt = SegmentationRuntime(LabelsOnly(), RuntimeConfig(stats_window=window), clock=clock)
    c = rt.counts
    events: dict[str, list[float]] = {k: [] for k in RATES}
    counters = {"rate_hz": lambda: c["processed"], "skipped_rate_hz": lambda: c["skipped_no_subscribers"],
                "input_rate_hz": lambda: c["pairs"] + c["single_modality"],
                "rgb_input_rate_hz": lambda: c["received_rgb"], "thermal_input_rate_hz": lambda: c["received_thermal"]}
    for i, (action, dt, jitter_ms) in enumerate(script):
        clock.advance(dt / 64)
        before = {k: f() for k, f in counters.items()}
        stamp = round(clock() * S) + jitter_ms * 1_000_000
        if action in ("rgb", "thermal"):
            m = RGB if action == "rgb" else THERMAL
            rt.add(m, frame(m, stamp, i))
        elif action.startswith("bad_"):
            rt.add(RGB if action == "bad_rgb" else THERMAL, garbage(stamp))
        elif action.startswith("work"):
            drain(rt, NOBODY if action == "work_nobody" else Outputs())
        else:
            _check(rt, clock(), events)
        for k, f in counters.items():
            events[k] += [clock()] * (f() - before[k])
    _check(rt, clock(), events)
    if window == 600.0:  # nothing has left the window yet: each window's count is its counter, exactly
        w = rt.window
        assert (w["segmented"].count(), w["skipped"].count(), w["handed"].count()) == \
            (c["processed"], c["skipped_no_subscribers"], c["pairs"] + c["single_modality"])
        assert (w["received_rgb"].count(), w["received_thermal"].count()) == (c["received_rgb"], c["received_thermal"])
