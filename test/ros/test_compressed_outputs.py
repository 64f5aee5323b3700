"""The node's ``~/labels|color|overlay|gate/rgb|gate/thermal/compressed`` over a real DDS graph (FastDDS on
loopback): what a remote viewer decodes, and nothing encoded while no one subscribes. The encoders' own properties
are tested without ROS in test/core/runtime/test_compressed_outputs.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

from _support.ros_harness import Harness, spin_until  # noqa: E402
from _support.varied_model import assert_varied  # noqa: E402
from rgbt_seg_core.runtime import runtime as runtime_module  # noqa: E402
from rgbt_seg_core.runtime.imageconv import decode_image, image_to_array  # noqa: E402

pytestmark = pytest.mark.ros
H, W = 48, 64
COMPRESSED = ("labels/compressed", "color/compressed", "overlay/compressed", "gate/rgb/compressed",
              "gate/thermal/compressed")


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A camera picture of gradients (JPEG's kind of picture: pixel noise would make any JPEG far from it) and a
    noisy thermal frame, so that the labels still vary."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([4 * x, 5 * y, 2 * (x + y) + 40 * seed], axis=2) % 256
    return rgb.astype(np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


def _stamp(msg: Any) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def _at(received: list[Any], stamp: tuple[int, int]) -> Any:
    return next(m for m in list(received) if _stamp(m) == stamp)


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> list[frozenset[str]]:
    """Every set of outputs the node's runtime encodes (the node runs in this process)."""
    calls: list[frozenset[str]] = []
    encode = runtime_module.encode_outputs

    def counted(wanted: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(frozenset(wanted))
        return encode(wanted, *args, **kwargs)

    monkeypatch.setattr(runtime_module, "encode_outputs", counted)
    return calls


def test_compressed_outputs_decode_to_the_raw_ones_only_while_subscribed_at_a_dynamic_quality(
        varied_checkpoint, encodings: list[frozenset[str]]) -> None:
    from sensor_msgs.msg import CompressedImage

    h = Harness(varied_checkpoint, jpeg_quality=90)
    try:
        pubs = h.node.pipeline.publishers
        for name in COMPRESSED:  # the raw topic's QoS, so whoever can read the raw topic can read this one
            assert pubs[name].qos_profile == pubs[name.removesuffix("/compressed")].qos_profile
        # raw subscribers only: every raw output, and nothing encoded
        rgb, thermal = _pair(0)
        h.publish_pair(rgb, thermal, 10.0)
        assert spin_until(lambda: h.received["overlay"] and h.received["color"], 20.0)
        assert encodings == [] and h.node.pipeline.pairs[""].wanted().compressed == frozenset()

        got: dict[str, list[Any]] = {name: [] for name in COMPRESSED}
        for name in COMPRESSED:
            h.peer.create_subscription(CompressedImage, f"/segmentation_node/{name}",
                                       lambda m, n=name: got[n].append(m), 10)
        assert spin_until(lambda: all(pubs[n].get_subscription_count() for n in COMPRESSED), 10.0)
        h.publish_pair(*_pair(1), 11.0)
        assert spin_until(lambda: all(got.values()), 20.0)
        assert set(encodings[-1]) == {"labels", "color", "overlay", "gate/rgb", "gate/thermal"}

        stamp = _stamp(got["labels/compressed"][0])
        assert stamp == (11, 0) and got["labels/compressed"][0].header.frame_id == "rgb_optical"
        assert got["labels/compressed"][0].format == "mono8; png compressed "
        labels, encoding = decode_image(got["labels/compressed"][0])
        raw_labels = image_to_array(_at(h.received["labels"], stamp))
        assert_varied(raw_labels)
        assert encoding == "mono8"
        np.testing.assert_array_equal(labels, raw_labels)  # lossless: pixel for pixel
        for name in ("color", "overlay"):
            msg = got[f"{name}/compressed"][0]
            assert _stamp(msg) == stamp and msg.format == "rgb8; jpeg compressed bgr8"
            picture, encoding = decode_image(msg)
            raw = image_to_array(_at(h.received[name], stamp))
            assert encoding == "rgb8" and picture.shape == raw.shape == (H, W, 3)
            # JPEG: near, not equal (the random model's labels make hard edges everywhere, JPEG's worst case), and
            # far nearer than to the raw picture upside down
            error, wrong = (np.abs(picture.astype(int) - ref).mean() for ref in (raw, raw[::-1]))
            assert error < 16 and error < 0.5 * wrong, name
        for name in ("gate/rgb", "gate/thermal"):  # 16-bit PNG of round(gate * 65535): value / 65535 is the gate
            msg = got[f"{name}/compressed"][0]
            assert _stamp(msg) == stamp and msg.format == "mono16; png compressed "
            assert spin_until(lambda n=name: any(_stamp(m) == stamp for m in h.received[n]), 10.0)
            values, encoding = decode_image(msg)
            gate = image_to_array(_at(h.received[name], stamp))
            assert encoding == "mono16" and values.shape == gate.shape == (H, W) and np.ptp(gate) * 65535 > 50
            np.testing.assert_array_equal(values, np.rint(gate.astype(np.float64) * 65535))
        _jpeg_quality_is_dynamic_within_its_bounds(h)
    finally:
        h.close()


def _jpeg_quality_is_dynamic_within_its_bounds(h: Harness) -> None:
    """On the running node of the test above (one start for both): changed while it runs, out of range refused
    naming the parameter, the value before kept."""
    from rclpy.parameter import Parameter

    (ok,) = h.node.set_parameters([Parameter("jpeg_quality", value=35)])
    assert ok.successful and h.node.pipeline.pairs[""].runtime.config.jpeg_quality == 35
    (refused,) = h.node.set_parameters([Parameter("jpeg_quality", value=0)])
    assert not refused.successful and "jpeg_quality" in refused.reason
    assert h.node.pipeline.pairs[""].runtime.config.jpeg_quality == 35
