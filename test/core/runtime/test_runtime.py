"""The node runtime with a fake clock and a fake model: failure and recovery, clock jumps, bad-frame counting,
WARN clearing, ordering, hand-over policies, and a fuzz test of the accounting invariants."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.inference.render import Renders, colorize, grey_to_rgb, overlay
from rgbt_seg_core.runtime import ERROR, OK, RGB, THERMAL, WARN, FakeClock, Outputs, RuntimeConfig, SegmentationRuntime
from rgbt_seg_core.runtime.imageconv import array_to_image_fields

H, W = 12, 16
S = 1_000_000_000


class FakeEngine:
    """Labels that depend on both inputs, so a swapped or blanked modality shows."""

    palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]

    def __init__(self) -> None:
        self.calls: list[tuple[bool, bool]] = []
        self.renders: list = []

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        assert thermal_checked, "the runtime applied the NaN rule on arrival and says so"
        self.calls.append((rgb is not None, thermal is not None))
        self.renders.append(render)
        ref = rgb if rgb is not None else thermal
        h, w = ref.shape[:2]
        labels = np.zeros((h, w), np.uint8)
        if rgb is not None:
            labels += (rgb[:, :, 0] > 127).astype(np.uint8)
        if thermal is not None:  # like the real engine, thermal is resized to the RGB frame
            t = cv2.resize(np.nan_to_num(thermal.astype(np.float32)), (w, h), interpolation=cv2.INTER_NEAREST)
            labels += 2 * (t.reshape(h, w) > 127).astype(np.uint8)
        gates = np.full((2, h, w), 0.5, np.float32) if want_gates else None
        conf = np.array([0.5, 0.5], np.float32) if want_gates else None
        render = render or Renders()
        color = colorize(labels, self.palette) if render.color else None
        over = None
        if render.overlay:  # as the engine does: over the thermal view in grey where there is no RGB
            base = rgb if rgb is not None else grey_to_rgb((self.thermal_view(thermal) * 255 + 0.5).astype(np.uint8))
            over = overlay(base, labels, self.palette, render.alpha)
        return Prediction(labels, conf, gates, 0.001, color, over)

    def thermal_view(self, thermal):
        return np.clip(np.nan_to_num(thermal.astype(np.float32)) / 255.0, 0.0, 1.0)


def msg(arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> SimpleNamespace:
    f = array_to_image_fields(arr, encoding)
    sec, nsec = divmod(stamp_ns, S)
    return SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nsec), frame_id=frame_id), **f)


def rgb_msg(stamp_ns: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    return msg(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "rgb8", stamp_ns, "rgb_optical")


def thermal_msg(stamp_ns: int, seed: int = 1, arr: np.ndarray | None = None, encoding: str = "mono8"):
    if arr is None:
        arr = np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)
    return msg(arr, encoding, stamp_ns, "thermal_optical")


def make(clock: FakeClock, **cfg) -> tuple[SegmentationRuntime, FakeEngine]:
    engine = FakeEngine()
    return SegmentationRuntime(engine, RuntimeConfig(**cfg), clock=clock), engine


def drain(rt: SegmentationRuntime, want: Outputs = Outputs()) -> list:
    out = []
    while (work := rt.take(0)) is not None:
        res = rt.process(work, want)
        if res is not None:
            out.append(res)
    return out


def stream(rt: SegmentationRuntime, clock: FakeClock, t0_ns: int, n: int, period: float = 0.05,
           thermal: bool = True, rgb: bool = True) -> list:
    """n frame periods of both (or one) cameras, processing as it goes; returns the outputs."""
    out = []
    for k in range(n):
        stamp = t0_ns + int(k * period * S)
        if rgb:
            rt.add(RGB, rgb_msg(stamp, k))
        clock.advance(0.005)
        if thermal:
            rt.add(THERMAL, thermal_msg(stamp + 3_000_000, k))
        out += drain(rt)
        clock.advance(period - 0.005)
    return out


def test_pairs_carry_the_rgb_header_even_when_thermal_comes_first_after_a_long_idle() -> None:
    clock = FakeClock(0.0)
    rt, engine = make(clock)
    clock.advance(120.0)  # node up long before its cameras
    rt.add(THERMAL, thermal_msg(10 * S))
    clock.advance(0.02)
    rt.add(RGB, rgb_msg(10 * S + 5_000_000))
    out = drain(rt)
    assert len(out) == 1 and out[0].header.frame_id == "rgb_optical" and out[0].stamp_ns == 10 * S + 5_000_000
    assert engine.calls == [(True, True)] and rt.counts["single_modality"] == 0


def test_the_engine_is_asked_for_the_pictures_wanted_with_the_configured_alpha() -> None:
    """The pictures are made by the engine, where the labels are; the runtime asks for what is subscribed."""
    clock = FakeClock(0.0)
    rt, engine = make(clock, modality_timeout=1.0, overlay_alpha=0.3)
    stream(rt, clock, 100 * S, 2)
    assert engine.renders[-1] == Renders(color=False, overlay=False, alpha=0.3)
    clock.advance(2.0)  # the RGB camera goes silent: thermal alone, its overlay over the thermal view
    rt.add(THERMAL, thermal_msg(103 * S, seed=7))
    (out,) = drain(rt, Outputs(labels=True, color=True, overlay=True))
    assert engine.calls[-1] == (False, True) and out.rgb is None
    assert engine.renders[-1] == Renders(color=True, overlay=True, alpha=0.3)
    raw = np.random.default_rng(7).integers(0, 256, (H, W), dtype=np.uint8)  # what thermal_msg(seed=7) sent
    grey = (engine.thermal_view(raw) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out.overlay, overlay(np.repeat(grey[:, :, None], 3, axis=2), out.labels,
                                                       engine.palette, 0.3))
    np.testing.assert_array_equal(out.color, colorize(out.labels, engine.palette))


def test_camera_failure_and_recovery() -> None:
    clock = FakeClock(0.0)
    rt, engine = make(clock, modality_timeout=1.0, stats_window=2.0)
    assert stream(rt, clock, 100 * S, 10)  # both cameras fine
    assert rt.diagnostics().level == OK
    # thermal dies: within the timeout RGB frames wait for partners, then RGB is segmented alone
    out = stream(rt, clock, 101 * S, 40, thermal=False)
    assert rt.monitor.failed(THERMAL) and rt.counts["single_modality"] > 0
    assert all(o.header.frame_id == "rgb_optical" for o in out) and engine.calls[-1] == (True, False)
    h = rt.diagnostics()
    assert h.level == WARN and "thermal camera failed" in h.message
    assert h.values["modality_thermal"].startswith("silent")
    # thermal returns: pairs again, and OK
    stream(rt, clock, 103 * S, 10)
    assert engine.calls[-1] == (True, True)
    assert rt.diagnostics().level == OK, rt.diagnostics().message
    # RGB dies: thermal-only outputs carry the thermal header
    out = stream(rt, clock, 104 * S, 40, rgb=False)
    assert out and out[-1].header.frame_id == "thermal_optical" and engine.calls[-1] == (False, True)


def test_no_input_is_an_error_after_the_grace_period_and_waiting_before() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, modality_timeout=1.0)
    h = rt.diagnostics()
    assert h.level == OK and "waiting for camera input" in h.message
    clock.advance(1.5)
    h = rt.diagnostics()
    assert h.level == ERROR and "no camera input" in h.message
    assert h.values["modality_rgb"] == h.values["modality_thermal"] == "never received"


def test_jump_forward_and_back_resets_pairing_and_processing_resumes() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, jump_threshold=2.0, stats_window=3.0)
    assert len(stream(rt, clock, 100 * S, 10)) == 10
    future = 100 * S + 3600 * S  # one camera-clock glitch, both cameras agree on it
    rt.add(RGB, rgb_msg(future))
    rt.add(THERMAL, thermal_msg(future + 1_000_000))
    assert len(drain(rt)) == 1  # a valid pair: segmented
    out = stream(rt, clock, 101 * S, 10)  # back to normal time: must not be "out of order" forever
    assert len(out) == 10 and rt.counts["out_of_order"] == 0
    assert rt.counts["clock_jumps"] == 4  # each stream jumped forward, then back
    h = rt.diagnostics()
    assert h.level == WARN and "jumped back by 3598.998 s" in h.message
    assert h.values["last_clock_jump"] == "thermal: -3598.998 s"
    clock.advance(3.5)
    assert len(stream(rt, clock, 102 * S, 10)) == 10
    h = rt.diagnostics()
    assert h.level == OK, h.message


def test_step_back_within_the_threshold_is_out_of_order_and_dropped() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, jump_threshold=2.0)
    stream(rt, clock, 100 * S, 5)
    rt.add(RGB, rgb_msg(99 * S))
    rt.add(THERMAL, thermal_msg(99 * S))
    assert drain(rt) == [] and rt.counts["out_of_order"] == 1 and rt.counts["clock_jumps"] == 0


def test_every_bad_frame_is_counted_and_warn_clears() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, stats_window=2.0)
    for k in range(2300):  # malformed pairs as fast as DDS delivers them; the worker never gets a look in
        bad = rgb_msg(100 * S + k * 1_000_000)
        bad.data = bad.data[:10]
        rt.add(RGB, bad)
        rt.add(THERMAL, thermal_msg(100 * S + k * 1_000_000))
    assert rt.counts["bad_rgb"] == 2300 and rt.counts["received_rgb"] == 2300
    h = rt.diagnostics()
    assert h.level == WARN and "2300 bad frame(s)" in h.message and "data has 10 bytes" in h.values["last_error"]
    clock.advance(2.5)
    stream(rt, clock, 105 * S, 5)
    h = rt.diagnostics()
    assert h.level == OK and h.values["bad_rgb"] == "2300", h.message


@pytest.mark.parametrize("arr, reason", [
    (np.full((H, W), 3e38, np.float32), "values up to 3e+38"),
    (np.full((H, W), np.nan, np.float32), "no finite pixel"),
    (np.full((H, W), np.inf, np.float32), "no finite pixel"),
])
def test_unusable_thermal_is_bad(arr: np.ndarray, reason: str) -> None:
    clock = FakeClock(0.0)
    rt, engine = make(clock)
    rt.add(RGB, rgb_msg(S))
    rt.add(THERMAL, thermal_msg(S, arr=arr, encoding="32FC1"))
    assert rt.counts["bad_thermal"] == 1 and reason in rt.last_error and drain(rt) == [] and not engine.calls


def test_partly_nonfinite_thermal_is_used_and_flagged() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock)
    t = np.random.default_rng(0).uniform(250, 320, (H, W)).astype(np.float32)
    t[:3] = np.nan
    rt.add(RGB, rgb_msg(S))
    rt.add(THERMAL, thermal_msg(S, arr=t, encoding="32FC1"))
    assert len(drain(rt)) == 1 and rt.counts["nonfinite_thermal"] == 1 and rt.counts["bad_thermal"] == 0


def test_max_pixels_rejects_before_reading_pixels() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, max_pixels=640 * 480)
    huge = rgb_msg(S)
    huge.height, huge.width, huge.step, huge.data = 2048, 2048, 2048 * 3, b""  # not even the data is there
    rt.add(RGB, huge)
    assert rt.counts["bad_rgb"] == 1 and "2048x2048 = 4194304 pixels is above max_pixels=307200" in rt.last_error


def test_frames_that_never_pair_warn() -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, slop=0.01, stats_window=2.0)
    for k in range(40):
        rt.add(RGB, rgb_msg(100 * S + k * 50_000_000))
        rt.add(THERMAL, thermal_msg(100 * S + k * 50_000_000 + 20_000_000))  # 20 ms apart, slop 10 ms
        clock.advance(0.05)
    h = rt.diagnostics()
    assert h.level == WARN and "none paired" in h.message and h.values["pairs"] == "0"


def test_realtime_keeps_the_newest_pair_and_counts_drops_offline_keeps_all() -> None:
    for realtime, expect in ((True, 1), (False, 5)):
        clock = FakeClock(0.0)
        rt, _ = make(clock, realtime=realtime)
        for k in range(5):
            rt.add(RGB, rgb_msg(100 * S + k * 50_000_000))
            rt.add(THERMAL, thermal_msg(100 * S + k * 50_000_000))
        out = drain(rt)
        assert len(out) == expect and out[-1].stamp_ns == 100 * S + 4 * 50_000_000
        assert rt.counts["dropped"] == 5 - expect


def test_nothing_is_computed_without_subscribers_and_outputs_on_request() -> None:
    clock = FakeClock(0.0)
    rt, engine = make(clock)
    rt.add(RGB, rgb_msg(S))
    rt.add(THERMAL, thermal_msg(S))
    assert drain(rt, Outputs(labels=False)) == [] and not engine.calls and rt.counts["skipped_no_subscribers"] == 1
    rt.add(RGB, rgb_msg(2 * S))
    rt.add(THERMAL, thermal_msg(2 * S))
    (out,) = drain(rt, Outputs(labels=True, color=True, overlay=True, gates=True, confidence=True))
    assert out.color.shape == (H, W, 3) and out.overlay.shape == (H, W, 3) and out.gates.shape == (2, H, W)


def test_inference_errors_are_counted_and_the_next_frame_works() -> None:
    clock = FakeClock(0.0)
    rt, engine = make(clock)
    real = engine.predict
    engine.predict = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("CUDA out of memory"))
    rt.add(RGB, rgb_msg(S))
    rt.add(THERMAL, thermal_msg(S))
    assert drain(rt) == [] and rt.counts["inference_errors"] == 1
    h = rt.diagnostics()
    assert h.level == WARN and "1 inference error(s)" in h.message
    assert h.values["last_error"] == "inference failed: CUDA out of memory" and h.values["inference_errors"] == "1"
    engine.predict = real
    rt.add(RGB, rgb_msg(2 * S))
    rt.add(THERMAL, thermal_msg(2 * S))
    assert len(drain(rt)) == 1


# ---------------------------------------------------------------------------------------------------- fuzz
ENCODINGS = ["rgb8", "bgr8", "mono8", "mono16", "32FC1", "yuv422", "bayer_rggb16", "16SC1", "16UC1", "nv21", "64FC3",
             ""]


@st.composite
def hostile_message(draw: st.DrawFn):
    kind = draw(st.sampled_from(["good", "good", "good", "garbage"]))
    stamp = draw(st.one_of(st.integers(0, 5 * S), st.integers(-2**40, 2**62), st.just(10**18)))
    sec, nsec = divmod(stamp, S)
    header = SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nsec), frame_id="f")
    if kind == "good":
        h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        enc = draw(st.sampled_from(["rgb8", "mono8", "mono16", "32FC1"]))
        dtype, ch = {"rgb8": (np.uint8, 3), "mono8": (np.uint8, 1), "mono16": (np.uint16, 1),
                     "32FC1": (np.float32, 1)}[enc]
        if dtype is np.float32:
            arr = np.array(draw(st.lists(st.floats(width=32), min_size=h * w, max_size=h * w)), np.float32)
        else:
            arr = np.random.default_rng(draw(st.integers(0, 99))).integers(0, 255, h * w * ch).astype(dtype)
        arr = arr.reshape((h, w, ch) if ch > 1 else (h, w))
        return SimpleNamespace(header=header, **array_to_image_fields(arr, enc))
    return SimpleNamespace(header=header, height=draw(st.integers(-3, 5000)), width=draw(st.integers(-3, 5000)),
                           encoding=draw(st.sampled_from(ENCODINGS)), is_bigendian=draw(st.integers(0, 1)),
                           step=draw(st.integers(-5, 20000)), data=draw(st.binary(max_size=300)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(st.tuples(st.integers(0, 3), hostile_message(), st.floats(0, 3)), max_size=40),
       realtime=st.booleans(), queue_size=st.integers(1, 4), frozen_timeout=st.sampled_from([0.0, 0.5, 2.0]))
def test_fuzz_never_raises_and_accounts_for_every_frame(script, realtime: bool, queue_size: int,
                                                        frozen_timeout: float) -> None:
    clock = FakeClock(0.0)
    rt, _ = make(clock, realtime=realtime, queue_size=queue_size, modality_timeout=1.0, max_pixels=4000,
                 frozen_timeout=frozen_timeout)
    outputs = 0
    for action, m, dt in script:
        clock.advance(dt)
        if action in (RGB, THERMAL):
            rt.add(action, m)
        elif action == 2:
            outputs += len(drain(rt))
        else:
            rt.diagnostics()
    outputs += len(drain(rt))
    c, p = rt.counts, rt.pairer.stats
    for m, name in ((RGB, "rgb"), (THERMAL, "thermal")):
        good = c[f"received_{name}"] - c[f"bad_{name}"] - c[f"frozen_{name}"]
        # each good frame went to the pairer or was segmented alone (single_modality counts both streams)
        assert p.received[m] <= good
    assert sum(p.received) + c["single_modality"] == c["received_rgb"] + c["received_thermal"] - c["bad_rgb"] - \
        c["bad_thermal"] - c["frozen_rgb"] - c["frozen_thermal"]
    for m in (RGB, THERMAL):
        assert p.received[m] == p.paired + p.evicted[m] + p.replaced[m] + p.discarded[m] + rt.pairer.pending()[m]
        assert rt.pairer.pending()[m] <= queue_size
    handed = c["pairs"] + c["single_modality"]
    assert handed == c["processed"] + c["skipped_no_subscribers"] + c["out_of_order"] + c["inference_errors"] + \
        c["dropped"]
    assert outputs == c["processed"] and c["inference_errors"] == 0
    h = rt.diagnostics()
    assert h.level in (OK, WARN, ERROR) and isinstance(h.message, str)
    assert h.values["input_rgb"] and h.values["input_thermal"]
