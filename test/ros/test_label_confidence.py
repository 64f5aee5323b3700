"""``~/label_confidence`` over a real DDS graph on loopback (issue 28): the winning class's softmax probability with
the labels' header, made only while someone subscribes; ``min_confidence`` and ``confidence_encoding`` changed while
the node runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

import rgbt_seg_core.inference.engine as engine_module  # noqa: E402
from _support.ros_harness import Harness, spin_until  # noqa: E402
from _support.varied_model import save_varied_checkpoint  # noqa: E402
from rgbt_seg_core.inference.engine import UNLABELLED, BatchFrame, InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_core.runtime.imageconv import image_to_array  # noqa: E402

pytestmark = pytest.mark.ros
H, W = 48, 64
TOPIC = "/segmentation_node/label_confidence"


@pytest.fixture(scope="module")
def confident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The varied model with its classifier scaled: its confidence spans most of (1/9, 1] across a frame."""
    return save_varied_checkpoint(tmp_path_factory.mktemp("confident") / "c.safetensors", logit_scale=600.0)


def _stamp(msg: Any) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def _at(received: list[Any], stamp: float) -> Any:
    want = (int(stamp), int(round((stamp - int(stamp)) * 1e9)))
    return next((m for m in list(received) if _stamp(m) == want), None)


def _labelled(h: Harness, stamp: float, rgb: np.ndarray, thermal: np.ndarray) -> Any:
    h.publish_pair(rgb, thermal, stamp)
    assert spin_until(lambda: _at(h.received["labels"], stamp) is not None, 20.0), f"no labels at {stamp}"
    return _at(h.received["labels"], stamp)


def test_label_confidence_is_the_softmax_and_made_only_for_a_subscriber(confident: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = engine_module.top_confidence
    monkeypatch.setattr(engine_module, "top_confidence", lambda logits: calls.append(1) or real(logits))
    rng = np.random.default_rng(3)
    rgb, thermal = rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)
    ref = InferenceEngine(confident, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    want = ref.logits([BatchFrame(rgb, thermal)]).softmax(dim=1).max(dim=1).values[0].numpy()
    h = Harness(confident, precision="fp32")
    try:
        node_pub = h.node.pipeline.publishers["label_confidence"]
        plain = image_to_array(_labelled(h, 10.0, rgb, thermal))
        assert calls == []  # nobody subscribed: not computed

        got: list[Image] = []
        sub = h.peer.create_subscription(Image, TOPIC, got.append, 10)
        assert spin_until(lambda: node_pub.get_subscription_count() > 0, 10.0)
        labels = _labelled(h, 10.5, rgb, thermal)
        assert spin_until(lambda: _at(got, 10.5) is not None, 10.0)
        msg = _at(got, 10.5)
        assert msg.encoding == "32FC1" and (msg.height, msg.width) == (H, W) and msg.header == labels.header
        conf = image_to_array(msg)
        np.testing.assert_allclose(conf, want, rtol=1e-5, atol=1e-6)
        assert conf.min() < 0.3 and conf.max() > 0.6 and calls
        assert np.array_equal(image_to_array(labels), plain)  # asking for it changes no label

        # min_confidence (the unlabelled id below it) and mono8, set while the node runs
        threshold = float(np.median(conf))
        assert all(r.successful for r in h.node.set_parameters([Parameter("min_confidence", value=threshold),
                                                                Parameter("confidence_encoding", value="mono8")]))
        cut = image_to_array(_labelled(h, 11.0, rgb, thermal))
        assert np.array_equal(cut, np.where(conf < np.float32(threshold), UNLABELLED, plain))
        assert spin_until(lambda: _at(got, 11.0) is not None, 10.0)
        mono = _at(got, 11.0)
        assert mono.encoding == "mono8" and np.array_equal(image_to_array(mono),
                                                           np.round(conf * np.float32(255)).astype(np.uint8))

        # the subscriber leaves: no longer computed (min_confidence off again, so nothing needs it)
        h.node.set_parameters([Parameter("min_confidence", value=0.0)])
        h.peer.destroy_subscription(sub)
        assert spin_until(lambda: node_pub.get_subscription_count() == 0, 10.0)
        before = len(calls)
        assert np.array_equal(image_to_array(_labelled(h, 11.5, rgb, thermal)), plain)
        assert len(calls) == before
    finally:
        h.close()
