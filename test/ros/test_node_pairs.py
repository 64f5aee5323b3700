"""One node serving several camera pairs through one model, over a real DDS graph (issue 26): each pair's own
topics, headers, registration, health and parameters; one pair's broken camera never holds up the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402

from _support.pairs_harness import PairsHarness  # noqa: E402
from _support.ros_harness import make_image, spin_until  # noqa: E402
from _support.varied_model import assert_varied  # noqa: E402
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_core.runtime import OK, WARN  # noqa: E402
from rgbt_seg_core.runtime.imageconv import image_to_array  # noqa: E402

pytestmark = pytest.mark.ros
H, W = 48, 64
# thermal moved 10 px right and 4 px down onto RGB: with the varied model, labels move with it
SHIFT = [1.0, 0.0, 10.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0]


def _frames(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


def _status_name(pair: str) -> str:
    return f"rgbt_seg: segmentation_node: pair {pair}"


def _values(h: PairsHarness, name: str) -> dict[str, str]:
    status = h.status(name)
    return {} if status is None else {kv.key: kv.value for kv in status.values}


def _level(status) -> int:
    return status.level[0] if isinstance(status.level, bytes) else int(status.level)


@pytest.fixture(scope="module")
def two_pairs(varied_checkpoint: Path):
    # fp32: a batch of two and a frame alone then give the same labels on any CPU; batch_timeout: the first pair's
    # frame waits for the second's, so the two go through the model in one call
    h = PairsHarness(varied_checkpoint, ["front", "rear"], precision="fp32", batch_timeout=0.5,
                     **{"front.thermal_homography": SHIFT})
    yield h
    h.close()


def test_each_pair_publishes_its_own_labels_with_its_own_header_and_registration(two_pairs: PairsHarness,
                                                                                  varied_checkpoint: Path) -> None:
    h = two_pairs
    rgb, thermal = _frames(0)
    h.publish(h.pairs[0], rgb, thermal, 10.0)
    h.publish(h.pairs[1], rgb, thermal, 20.0)
    assert spin_until(lambda: h.labelled("front", 10.0) is not None and h.labelled("rear", 20.0) is not None, 20.0)
    front, rear = h.labelled("front", 10.0), h.labelled("rear", 20.0)
    assert front.header.frame_id == "front_rgb_optical" and rear.header.frame_id == "rear_rgb_optical"
    assert h.labelled("front", 20.0) is None and h.labelled("rear", 10.0) is None  # nothing crossed over
    # the same frames, each pair registered its own way: front's homography applies to front alone
    shifted = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", precision="fp32", warmup=0,
                                                                 thermal_homography=tuple(SHIFT)))
    plain = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    front_labels, rear_labels = image_to_array(front), image_to_array(rear)
    assert_varied(rear_labels)
    assert np.array_equal(front_labels, shifted.predict(rgb, thermal).labels)
    assert np.array_equal(rear_labels, plain.predict(rgb, thermal).labels)
    assert not np.array_equal(front_labels, rear_labels)
    # one status per pair, named by it, with the single node's keys; and the shared model's
    assert spin_until(lambda: all(_values(h, _status_name(p)).get("processed") == "1" for p in h.pairs)
                      and "2: 1" in _values(h, "rgbt_seg: segmentation_node: model").get("batch_sizes", ""), 10.0)
    assert {"rate_hz", "processed", "input_rgb", "modality_thermal", "device", "model"} <= set(
        _values(h, _status_name("front")))
    model = _values(h, "rgbt_seg: segmentation_node: model")
    assert model["pairs"] == "front, rear" and model["max_batch"] == "2" and model["batches"] == "1"


def _set(h: PairsHarness, *params: Parameter) -> list:
    client = AsyncParameterClient(h.peer, "/segmentation_node")
    assert client.wait_for_services(timeout_sec=20.0)
    future = client.set_parameters(list(params))
    assert spin_until(future.done, 20.0)
    return list(future.result().results)


def test_ros2_param_set_on_a_pair_changes_that_pair_only(two_pairs: PairsHarness) -> None:
    h = two_pairs
    pairs = h.node.pipeline.pairs
    try:
        (result,) = _set(h, Parameter("front.thermal_offset_x", value=8))
        assert result.successful, result.reason
        assert pairs["front"].runtime.preprocessing.thermal_offset == (8, 0)
        assert pairs["rear"].runtime.preprocessing.thermal_offset == (0, 0)
        # the node's value reaches every pair that does not set its own
        (result,) = _set(h, Parameter("thermal_offset_x", value=3))
        assert result.successful, result.reason
        assert pairs["front"].runtime.preprocessing.thermal_offset == (8, 0)
        assert pairs["rear"].runtime.preprocessing.thermal_offset == (3, 0)
        # an integer for a pair's float setting is taken as the float; a wrong type is refused naming the key
        (taken, refused) = _set(h, Parameter("rear.frozen_timeout", value=4),
                                Parameter("rear.thermal_offset_y", value="two"))
        assert taken.successful and pairs["rear"].runtime.config.frozen_timeout == 4.0
        assert pairs["front"].runtime.config.frozen_timeout == 0.0
        assert not refused.successful and "parameter rear.thermal_offset_y: expected an integer" in refused.reason
        # a pair's read-only setting cannot change while the node runs
        (result,) = _set(h, Parameter("front.qos_depth", value=3))
        assert not result.successful
        # a pair's setting it does not set reads as not set, beside the others (as ros2 param dump asks for them)
        client = AsyncParameterClient(h.peer, "/segmentation_node")
        future = client.get_parameters(["front.thermal_offset_x", "rear.thermal_offset_x", "slop"])
        assert spin_until(future.done, 20.0)
        values = future.result().values
        assert [v.type for v in values] == [ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_NOT_SET,
                                            ParameterType.PARAMETER_DOUBLE]
        assert values[0].integer_value == 8 and values[2].double_value == 0.05
    finally:
        _set(h, Parameter("front.thermal_offset_x", value=0), Parameter("thermal_offset_x", value=0),
             Parameter("rear.frozen_timeout", value=0.0))


def test_broken_cameras_of_two_pairs_leave_the_third_publishing(varied_checkpoint: Path) -> None:
    """Three pairs: ``bad`` sends RGB in an encoding nobody knows, ``frozen`` repeats one thermal frame, ``good``
    is fine. ``good`` gets every frame labelled; each broken pair's status names its problem."""
    h = PairsHarness(varied_checkpoint, ["good", "bad", "frozen"], stats_window=2.0,
                     **{"frozen.frozen_timeout": 0.2})
    try:
        rgb, thermal = _frames(1)
        stamp = 100.0
        for k in range(60):
            stamp = 100.0 + 0.1 * k
            other = np.roll(thermal, k, axis=1)  # changes every frame: only the frozen pair's thermal stays put
            h.publish("good", rgb, other, stamp)
            bogus = make_image(rgb, "rgb8", stamp, "bad_rgb_optical")
            bogus.encoding = "yuv_bogus"
            h.cameras["bad"][0].publish(bogus)
            h.publish("bad", None, other, stamp)
            h.publish("frozen", np.roll(rgb, k, axis=1), thermal, stamp)
            assert spin_until(lambda s=stamp: h.labelled("good", s) is not None, 10.0), f"good not labelled at {stamp}"
            bad, frozen = h.status(_status_name("bad")), h.status(_status_name("frozen"))
            if (k >= 5 and bad is not None and "bad frame" in bad.message and frozen is not None
                    and "frozen" in frozen.message):
                break
        assert "bad frame" in bad.message and _level(bad) == WARN, bad.message
        assert "thermal camera frozen" in frozen.message and _level(frozen) == WARN, frozen.message
        good = h.status(_status_name("good"))
        assert _level(good) == OK and "bad" not in good.message, good.message
        assert h.node.pipeline.pairs["good"].runtime.counts["dropped"] == 0
    finally:
        h.close()


def test_a_dead_camera_leaves_the_other_pair_at_its_rate(varied_checkpoint: Path) -> None:
    """``rear``'s thermal camera never sends: after its modality_timeout rear labels from RGB alone and says so,
    while every one of ``front``'s pairs is labelled meanwhile."""
    h = PairsHarness(varied_checkpoint, ["front", "rear"], **{"rear.modality_timeout": 0.3})
    try:
        rgb, thermal = _frames(2)
        for k in range(80):
            stamp = 200.0 + 0.1 * k
            h.publish("front", rgb, np.roll(thermal, k, axis=0), stamp)
            h.publish("rear", rgb, None, stamp)
            assert spin_until(lambda s=stamp: h.labelled("front", s) is not None, 10.0), f"front unlabelled: {stamp}"
            rear = h.status(_status_name("rear"))
            if rear is not None and "thermal camera failed" in rear.message and h.labels["rear"]:
                break
        assert "thermal camera failed" in rear.message and _level(rear) == WARN, rear.message
        assert h.labels["rear"][-1].header.frame_id == "rear_rgb_optical"
        front = h.status(_status_name("front"))
        assert front is not None and _level(front) == OK, front.message
    finally:
        h.close()


def _start_fails(checkpoint: Path, **params) -> str:
    from rgbt_seg_ros.segmentation_node import SegmentationNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        overrides = [Parameter(k, value=v) for k, v in {"checkpoint": str(checkpoint), "device": "cpu",
                                                        "warmup": 0, **params}.items()]
        with pytest.raises(ValueError) as info:
            SegmentationNode(context=ctx, parameter_overrides=overrides)
        return str(info.value)
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.parametrize("params, named", [
    ({"pairs": ["front", "front"]}, "pair front is named twice"),
    ({"pairs": ["front", "rear/left"]}, "pair 'rear/left' is not a ROS name token"),
    ({"pairs": ["front"], "rear.slop": 0.1}, "parameter rear.slop: no camera pair 'rear'"),
    ({"pairs": ["front"], "front.slope": 0.1}, "parameter front.slope: no setting 'slope'"),
    ({"pairs": ["front"], "front.device": "cpu"}, "parameter front.device: device is the node's"),
    ({"pairs": ["front"], "front.thermal_offset_x": 1.5}, "parameter front.thermal_offset_x: expected an integer"),
])
def test_bad_pairs_and_pair_keys_are_refused_at_start_naming_them(tiny_checkpoint: Path, params: dict,
                                                                  named: str) -> None:
    assert named in _start_fails(tiny_checkpoint, **params)


def test_pairs_empty_in_a_params_file_is_a_single_pair_node(tiny_checkpoint: Path) -> None:
    """A params file's ``pairs: []`` reaches rclpy with no type at all: the node is then today's, one pair."""
    from rgbt_seg_ros.segmentation_node import SegmentationNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = None
    try:
        overrides = [Parameter("checkpoint", value=str(tiny_checkpoint)), Parameter("device", value="cpu"),
                     Parameter("warmup", value=0), Parameter("pairs", Parameter.Type.NOT_SET)]
        node = SegmentationNode(context=ctx, parameter_overrides=overrides)
        assert list(node.pipeline.pairs) == [""] and node.runtime is not None
        assert "labels" in node.pipeline.publishers and node.params.pairs == []
        pairs = node.get_parameter("pairs")  # the empty list, typed, so that ros2 param get and dump show it
        assert pairs.type_ == Parameter.Type.STRING_ARRAY and list(pairs.value) == []
        assert node.describe_parameter("pairs").read_only
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_lifecycle_transitions_apply_to_every_pair_and_cleanup_frees_the_one_model(tiny_checkpoint: Path) -> None:
    from rgbt_seg_ros.segmentation_lifecycle_node import SegmentationLifecycleNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = None
    try:
        overrides = [Parameter("checkpoint", value=str(tiny_checkpoint)), Parameter("device", value="cpu"),
                     Parameter("warmup", value=0), Parameter("pairs", value=["left", "right", "back"])]
        node = SegmentationLifecycleNode(context=ctx, parameter_overrides=overrides)
        topics = [f"/{p}/{camera}/image" for p in ("left", "right", "back") for camera in ("rgb", "thermal")]
        node.trigger_configure()
        engine = node.engine
        assert engine is not None and {p.runtime.engine for p in node.pipeline.pairs.values()} == {engine}
        node.trigger_activate()
        assert all(node.count_subscribers(t) == 1 for t in topics)
        node.trigger_deactivate()
        assert all(node.count_subscribers(t) == 0 for t in topics)
        node.trigger_cleanup()
        assert node.engine is None and node.pipeline.pairs == {} and node.pipeline.publishers == {}
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)
