"""The node over a real DDS graph (FastDDS on loopback): outputs, pairing, bad input, camera failure."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_harness import Harness, make_image, spin_until  # noqa: E402
from rgbt_seg_core.imageconv import image_to_array  # noqa: E402
from rgbt_seg_core.inference import InferenceConfig, InferenceEngine  # noqa: E402

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


def test_pairs_outside_slop_are_not_used(harness: Harness) -> None:
    rgb, thermal = _pair(1)
    harness.publish_pair(rgb, thermal, 200.0, thermal_stamp=200.5)
    assert not spin_until(lambda: harness.received["labels"], 1.5)
    assert spin_until(lambda: harness.diag().get("pairs") == "0" and int(harness.diag().get("received_rgb", 0)) == 1,
                      5.0)


def test_bad_input_is_counted_and_good_frames_follow(harness: Harness) -> None:
    rgb, thermal = _pair(2)
    bad_enc = make_image(rgb, "rgb8", 300.0)
    bad_enc.encoding = "yuv422"
    short = make_image(rgb, "rgb8", 301.0)
    short.data = bytes(short.data)[:100]  # data shorter than step x height
    bad_step = make_image(rgb, "rgb8", 302.0)
    bad_step.step = 10  # smaller than width x 3
    # one at a time: the newest-pair policy may replace a waiting pair, so each must be counted before the next
    for n, (bad, stamp) in enumerate([(bad_enc, 300.0), (short, 301.0), (bad_step, 302.0)], start=1):
        harness.pub_rgb.publish(bad)
        harness.pub_thermal.publish(make_image(thermal, "mono8", stamp))
        assert spin_until(lambda n=n: int(harness.diag().get("bad_rgb", 0)) >= n, 10.0), f"bad frame {n}"
    nan = np.full((H, W), np.nan, np.float32)
    harness.publish_pair(rgb, nan, 303.0, thermal_encoding="32FC1")
    assert spin_until(lambda: int(harness.diag().get("bad_thermal", 0)) >= 1, 10.0)
    some_nan = thermal.astype(np.float32)
    some_nan[:5] = np.nan
    harness.publish_pair(rgb, some_nan, 304.0, thermal_encoding="32FC1")
    assert spin_until(lambda: int(harness.diag().get("nonfinite_thermal", 0)) >= 1, 10.0)
    n = len(harness.received["labels"])
    harness.publish_pair(rgb, (thermal.astype(np.uint16) * 200), 305.0, thermal_encoding="mono16")
    assert spin_until(lambda: len(harness.received["labels"]) > n, 10.0)
    # an older pair after a newer one is dropped, not published out of order
    k = len(harness.received["labels"])
    harness.publish_pair(rgb, thermal, 250.0)
    assert spin_until(lambda: int(harness.diag().get("out_of_order", 0)) >= 1, 10.0)
    assert len(harness.received["labels"]) == k
    assert harness._threads[0].is_alive()  # the node is still spinning
    harness.publish_pair(rgb, thermal, 306.0)
    assert spin_until(lambda: len(harness.received["labels"]) > k, 10.0)
    assert int(harness.diag()["bad_rgb"]) == 3


def test_camera_silent_then_back(tiny_checkpoint) -> None:
    import threading
    import time

    h = Harness(tiny_checkpoint, modality_timeout=0.3)
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
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(Exception, match="bad.safetensors"):
        Harness(bad)


def test_runtime_parameter_validation(harness: Harness) -> None:
    from rclpy.parameter import Parameter

    res = harness.node.set_parameters([Parameter("overlay_alpha", value=0.8)])
    assert res[0].successful and harness.node.params.overlay_alpha == 0.8
    res = harness.node.set_parameters([Parameter("thermal_percentile_low", value=99.5)])
    assert not res[0].successful and "percentile" in res[0].reason
