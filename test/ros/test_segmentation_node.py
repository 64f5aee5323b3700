"""The node over a real DDS graph (FastDDS on loopback): outputs, pairing, bad input, camera failure."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from _support.ros_harness import Harness, make_image, spin_until  # noqa: E402
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_core.runtime.imageconv import image_to_array  # noqa: E402

pytestmark = pytest.mark.ros
H, W = 48, 64


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


@pytest.fixture
def harness(tiny_checkpoint):
    h = Harness(tiny_checkpoint)
    yield h
    h.close()


def test_synced_pair_produces_every_output_with_rgb_header(harness: Harness, tiny_checkpoint) -> None:
    rgb, thermal = _pair(0)
    harness.publish_pair(rgb, thermal, 100.25, thermal_stamp=100.27)  # within the 50 ms slop
    assert spin_until(lambda: all(harness.received[k] for k in
                                  ("labels", "color", "overlay", "gate/rgb", "gate/thermal", "confidence")), 20.0)
    expect = {"labels": "mono8", "color": "rgb8", "overlay": "rgb8", "gate/rgb": "32FC1", "gate/thermal": "32FC1"}
    for name, enc in expect.items():
        msg = harness.received[name][0]
        assert msg.encoding == enc and (msg.height, msg.width) == (H, W)
        assert msg.header.frame_id == "rgb_optical"
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (100, 250_000_000)
    conf = harness.received["confidence"][0]
    assert len(conf.data) == 2 and conf.layout.dim[0].size == 2
    gate = image_to_array(harness.received["gate/rgb"][0])
    assert np.isfinite(gate).all() and gate.min() >= 0 and gate.max() <= 1
    # bit for bit equal to the core's prediction on the same device and dtype
    engine = InferenceEngine(tiny_checkpoint, InferenceConfig(device="cpu", warmup=0))
    assert np.array_equal(image_to_array(harness.received["labels"][0]), engine.predict(rgb, thermal).labels)


@pytest.mark.slow
def test_thermal_first_after_a_long_idle_start_still_gives_the_rgb_header(tiny_checkpoint) -> None:
    h = Harness(tiny_checkpoint, modality_timeout=3.0)
    try:
        # the node has waited longer than modality_timeout for any camera: it says so...
        assert spin_until(lambda: _status(h) is not None and _status(h).level == _status(h).ERROR, 20.0)
        rgb, thermal = _pair(6)
        # ...and a thermal frame arriving just before its RGB partner must not make RGB count as failed
        h.pub_thermal.publish(make_image(thermal, "mono8", 700.0, "thermal_optical"))
        h.pub_rgb.publish(make_image(rgb, "rgb8", 700.0, "rgb_optical"))
        assert spin_until(lambda: h.received["labels"], 10.0)
        first = h.received["labels"][0]
        assert first.header.frame_id == "rgb_optical" and h.diag().get("single_modality", "0") == "0"
    finally:
        h.close()


def test_pairs_outside_slop_are_not_used(harness: Harness) -> None:
    rgb, thermal = _pair(1)
    harness.publish_pair(rgb, thermal, 200.0, thermal_stamp=200.5)
    assert not spin_until(lambda: harness.received["labels"], 1.5)
    assert spin_until(lambda: harness.diag().get("pairs") == "0" and int(harness.diag().get("received_rgb", 0)) == 1,
                      5.0)


def _labelled(h: Harness, stamp: float) -> bool:
    sec, nsec = int(stamp), int(round((stamp - int(stamp)) * 1e9))
    return any((m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nsec) for m in list(h.received["labels"]))


def _status(h: Harness):
    return h.received["diagnostics"][-1].status[0] if h.received["diagnostics"] else None


def test_bad_input_is_counted_and_good_frames_follow(harness: Harness) -> None:
    rgb, thermal = _pair(2)
    bad_enc = make_image(rgb, "rgb8", 300.0)
    bad_enc.encoding = "yuv444_bogus"
    short = make_image(rgb, "rgb8", 300.1)
    short.data = bytes(short.data)[:100]  # data shorter than step x height
    bad_step = make_image(rgb, "rgb8", 300.2)
    bad_step.step = 10  # smaller than width x 3
    # every bad frame is counted on arrival, whatever the newest-pair slot does later
    for bad in (bad_enc, short, bad_step):
        harness.pub_rgb.publish(bad)
    assert spin_until(lambda: harness.diag().get("bad_rgb") == "3", 10.0)
    harness.publish_pair(rgb, np.full((H, W), np.nan, np.float32), 300.3, thermal_encoding="32FC1")
    harness.publish_pair(rgb, np.full((H, W), 3e38, np.float32), 300.4, thermal_encoding="32FC1")
    assert spin_until(lambda: harness.diag().get("bad_thermal") == "2", 10.0)
    some_nan = thermal.astype(np.float32)
    some_nan[:5] = np.nan
    harness.publish_pair(rgb, some_nan, 300.5, thermal_encoding="32FC1")
    assert spin_until(lambda: _labelled(harness, 300.5), 10.0)
    assert int(harness.diag().get("nonfinite_thermal", 0)) >= 1 or spin_until(
        lambda: harness.diag().get("nonfinite_thermal") == "1", 5.0)
    harness.publish_pair(rgb, (thermal.astype(np.uint16) * 200), 300.6, thermal_encoding="mono16")
    assert spin_until(lambda: _labelled(harness, 300.6), 10.0)
    # an older pair (a step back within the jump threshold) is dropped, not published out of order
    harness.publish_pair(rgb, thermal, 300.0)
    assert spin_until(lambda: harness.diag().get("out_of_order") == "1", 10.0)
    harness.publish_pair(rgb, thermal, 300.7)
    assert spin_until(lambda: _labelled(harness, 300.7), 10.0)
    assert not _labelled(harness, 300.0) and harness.diag()["bad_rgb"] == "3"


@pytest.mark.slow
def test_survives_hostile_stamps_and_returns_to_ok(tiny_checkpoint) -> None:
    """Lost partners, a step back, a duplicate and a far-future pair, then good pairs: the node labels the good
    pairs, reports the jump, and its diagnostics return to OK."""
    h = Harness(tiny_checkpoint, stats_window=1.0, queue_size=3, jump_threshold=2.0)
    try:
        rgb, thermal = _pair(4)

        def pair_and_wait(stamp: float) -> None:
            h.publish_pair(rgb, thermal, stamp)
            assert spin_until(lambda: _labelled(h, stamp), 10.0), f"pair at {stamp} not labelled"

        pair_and_wait(500.0)
        for k in range(4):  # RGB frames whose thermal partners were lost (a full queue of 3, then one more)
            h.pub_rgb.publish(make_image(rgb, "rgb8", 500.1 + 0.1 * k))
        h.publish_pair(rgb, thermal, 500.05)  # older than the queue's stamps: the RGB evicts itself at once
        h.publish_pair(rgb, thermal, 500.6)
        h.pub_thermal.publish(make_image(thermal, "mono8", 500.6))  # duplicate stamp
        assert spin_until(lambda: _labelled(h, 500.6), 10.0)
        h.publish_pair(rgb, thermal, 500.5)  # a step back: out of order, dropped...
        assert spin_until(lambda: h.diag().get("out_of_order") == "1", 10.0)
        pair_and_wait(500.0 + 86400.0)  # ...and a camera-clock glitch a day ahead: a valid pair, labelled
        for k in range(5):  # back to normal time: every good pair is labelled again
            pair_and_wait(500.7 + 0.1 * k)
        assert spin_until(lambda: int(h.diag().get("clock_jumps", 0)) >= 2, 5.0)
        assert h._threads[0].is_alive()
        assert any("jumped" in m.status[0].message for m in list(h.received["diagnostics"]))
        # the causes stop: back to OK within the 1 s window (cameras stay "ok" for modality_timeout=30 s)
        assert spin_until(lambda: _status(h) is not None and _status(h).level == _status(h).OK, 10.0), \
            _status(h).message
    finally:
        h.close()


@pytest.mark.slow
def test_camera_silent_then_back(tiny_checkpoint) -> None:
    import threading
    import time

    h = Harness(tiny_checkpoint, modality_timeout=1.0, stats_window=1.0)
    stop = threading.Event()
    rgb, thermal = _pair(3)
    t = [400.0]

    def stream(with_thermal: bool) -> None:  # a camera keeps streaming at 20 Hz until told to stop
        while not stop.is_set():
            t[0] += 0.05
            if with_thermal:
                h.publish_pair(rgb, thermal, t[0])
            else:
                h.pub_rgb.publish(make_image(rgb, "rgb8", t[0]))
            time.sleep(0.05)

    try:
        assert spin_until(lambda: h.diag().get("modality_thermal") == "never received", 5.0)
        cam = threading.Thread(target=stream, args=(False,), daemon=True)
        cam.start()  # thermal silent: the node segments from RGB alone
        assert spin_until(lambda: len(h.received["labels"]) >= 1, 10.0)
        assert spin_until(lambda: int(h.diag().get("single_modality", 0)) >= 1, 5.0)

        def warns_thermal() -> bool:
            status = h.received["diagnostics"][-1].status[0]
            return status.level == status.WARN and "thermal" in status.message

        assert spin_until(warns_thermal, 5.0)
        stop.set()
        cam.join()
        stop.clear()
        cam = threading.Thread(target=stream, args=(True,), daemon=True)
        cam.start()  # thermal comes back
        assert spin_until(lambda: h.diag().get("modality_thermal") == "ok" and int(h.diag().get("pairs", 0)) >= 1,
                          10.0)
        status = h.received["diagnostics"][-1].status[0]
        assert spin_until(lambda: h.received["diagnostics"][-1].status[0].level == status.OK, 5.0)
    finally:
        stop.set()
        h.close()


def test_invalid_parameters_and_checkpoint_fail_at_start(tiny_checkpoint, tmp_path) -> None:
    with pytest.raises(Exception, match="overlay_alpha"):
        Harness(tiny_checkpoint, overlay_alpha=2.0)
    with pytest.raises(Exception, match="slop"):
        Harness(tiny_checkpoint, slop=0.0)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(Exception, match="bad.safetensors"):
        Harness(bad)


def test_runtime_parameter_validation(harness: Harness) -> None:
    from rclpy.parameter import Parameter

    res = harness.node.set_parameters([Parameter("overlay_alpha", value=0.8)])
    assert res[0].successful and harness.node.params.overlay_alpha == 0.8
    assert harness.node.runtime.config.overlay_alpha == 0.8
    res = harness.node.set_parameters([Parameter("thermal_percentile_low", value=99.5)])
    assert not res[0].successful and "percentile" in res[0].reason
    res = harness.node.set_parameters([Parameter("slop", value=0.2)])
    assert not res[0].successful  # read-only after start


def test_diagnostics_period_applies_at_run_time(harness: Harness) -> None:
    from rclpy.parameter import Parameter

    assert harness.node.pipeline.diagnostics_timer.timer_period_ns == 200_000_000
    res = harness.node.set_parameters([Parameter("diagnostics_period", value=0.05)])
    assert res[0].successful and harness.node.pipeline.diagnostics_timer.timer_period_ns == 50_000_000
    n = len(harness.received["diagnostics"])
    assert spin_until(lambda: len(harness.received["diagnostics"]) >= n + 5, 10.0)


@pytest.mark.slow
def test_max_pixels_rejects_large_frames_with_a_clear_reason(tiny_checkpoint) -> None:
    h = Harness(tiny_checkpoint, max_pixels=H * W - 1)
    try:
        rgb, thermal = _pair(5)
        h.publish_pair(rgb, thermal, 600.0)
        assert spin_until(lambda: h.diag().get("bad_rgb") == "1" and h.diag().get("bad_thermal") == "1", 10.0)
        assert "above max_pixels=3071" in h.diag()["last_error"]
    finally:
        h.close()


@pytest.mark.slow
def test_node_labels_equal_the_engine_on_awkward_thermal(varied_checkpoint) -> None:
    """Half-size 16-bit and NaN thermal through the node give the labels of `predict` (which equals the engine,
    test/core/inference/test_one_inference_path.py), from a model whose labels vary across the frame."""
    from _support.varied_model import assert_varied, awkward_thermal

    ckpt = varied_checkpoint
    h = Harness(ckpt)
    try:
        rgb, thermal8 = _pair(7)
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
        for k, (thermal, enc) in enumerate(awkward_thermal(thermal8).values()):
            stamp = 800.0 + k
            h.publish_pair(rgb, thermal, stamp, thermal_encoding=enc)
            assert spin_until(lambda: _labelled(h, stamp), 10.0)
            msg = next(m for m in h.received["labels"] if m.header.stamp.sec == int(stamp))
            expected = engine.predict(rgb, thermal).labels
            assert_varied(expected)
            assert np.array_equal(image_to_array(msg), expected), enc
    finally:
        h.close()


@pytest.mark.slow
def test_a_cimnet_checkpoint_runs_in_the_node(varied_cimnet_checkpoint) -> None:
    """CIMNet through the node: labels, colour and overlay equal the engine's, from a model whose labels vary;
    CIMNet has no confidence gates, so nothing is published on the gate and confidence topics."""
    from _support.varied_model import assert_varied

    ckpt = varied_cimnet_checkpoint
    h = Harness(ckpt)
    try:
        rgb, thermal = _pair(11)
        h.publish_pair(rgb, thermal, 900.5)
        assert spin_until(lambda: all(h.received[k] for k in ("labels", "color", "overlay")), 30.0)
        expected = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0)).predict(rgb, thermal).labels
        assert_varied(expected)
        assert np.array_equal(image_to_array(h.received["labels"][0]), expected)
        assert image_to_array(h.received["overlay"][0]).shape == (H, W, 3)
        h.publish_pair(rgb, thermal, 901.5)  # a second frame: the gate topics had every chance to publish
        assert spin_until(lambda: len(h.received["labels"]) >= 2, 30.0)
        assert not h.received["gate/rgb"] and not h.received["gate/thermal"] and not h.received["confidence"]
    finally:
        h.close()


@pytest.mark.slow
def test_thermal_homography_registers_a_moved_thermal_camera(varied_checkpoint) -> None:
    """A thermal camera that sees the scene moved and in a larger frame: with the homography that maps it back
    (a parameter, also set at run time), the node's labels equal those of the unwarped pair; without it they
    differ. The labels come from a model whose labels vary across the frame."""
    from rclpy.parameter import Parameter

    from _support.varied_model import assert_varied

    ckpt = varied_checkpoint
    rng = np.random.default_rng(5)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), 4, 0), 4, 1)
    thermal = np.repeat(np.repeat(rng.integers(0, 256, (12, 16), dtype=np.uint8), 4, 0), 4, 1)
    moved = np.zeros((60, 80), np.uint8)
    moved[7:55, 11:75] = thermal  # the scene 11 px right and 7 px down in the thermal image
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    expected = engine.predict(rgb, thermal).labels
    assert_varied(expected)
    back = [1.0, 0.0, -11.0, 0.0, 1.0, -7.0, 0.0, 0.0, 1.0]
    h = Harness(ckpt, thermal_homography=back)
    try:
        h.publish_pair(rgb, moved, 950.0)
        assert spin_until(lambda: _labelled(h, 950.0), 20.0)
        msg = next(m for m in h.received["labels"] if m.header.stamp.sec == 950)
        assert np.array_equal(image_to_array(msg), expected)
        result = h.node.set_parameters([Parameter("thermal_homography", value=[0.0] * 9)])  # unset at run time
        assert result[0].successful
        h.publish_pair(rgb, moved, 951.0)
        assert spin_until(lambda: _labelled(h, 951.0), 20.0)
        msg = next(m for m in h.received["labels"] if m.header.stamp.sec == 951)
        assert not np.array_equal(image_to_array(msg), expected)  # the check can fail
        bad = h.node.set_parameters([Parameter("thermal_homography", value=[1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0,
                                                                             1.0])])
        assert not bad[0].successful and "singular" in bad[0].reason
    finally:
        h.close()


def test_with_nothing_subscribed_the_rates_say_skipped_not_segmented(tiny_checkpoint) -> None:
    """As a new user tries it: cameras on, nobody listening. The segmented rate reads 0 and the skipped rate the
    pairs; each camera's rate is its own frames, not the two added (a window longer than the test, so every
    rate holds the same three events over the same span)."""
    h = Harness(tiny_checkpoint, stats_window=120.0)
    try:
        for sub in h._subs:
            if sub.topic_name != "/diagnostics":
                h.peer.destroy_subscription(sub)
        outputs = [p for name, p in h.node.pipeline.publishers.items() if name != "diagnostics"]
        assert spin_until(lambda: all(p.get_subscription_count() == 0 for p in outputs), 10.0)
        for k in range(3):
            rgb, thermal = _pair(20 + k)
            h.publish_pair(rgb, thermal, 990.0 + k)
            # a generous limit (spin_until returns as soon as it holds): a loaded CI core takes seconds per spin
            assert spin_until(lambda: h.diag().get("skipped_no_subscribers") == str(k + 1), 60.0), h.diag()
        d = h.diag()
        assert d["rate_hz"] == "0.00" and d["processed"] == "0" and float(d["skipped_rate_hz"]) > 0, d
        assert d["rgb_input_rate_hz"] == d["thermal_input_rate_hz"] == d["input_rate_hz"] == d["skipped_rate_hz"], d
        assert _status(h).level == _status(h).OK, _status(h).message
    finally:
        h.close()
