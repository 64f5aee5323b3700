"""``~/label_info`` over a real DDS graph on loopback (issue 28): a subscriber that joins after activation gets the
checkpoint's class map (transient local), again when min_confidence, the model or the labels' frame changes, one
per camera pair; without vision_msgs the node runs and says so. And the build of vision_msgs itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from _support.label_info import (  # noqa: E402
    UPSTREAM_LABEL_INFO_HASH,
    VISION_MSGS_DIR,
    renamed_checkpoint,
    require_vision_msgs,
)
from _support.ros_harness import make_image, spin_apart, spin_until, stop_spinning  # noqa: E402
from rgbt_seg_core.utils.classes import UNLABELLED_NAME  # noqa: E402

pytestmark = pytest.mark.ros
NAMES_A = ["road", "person", "bike", "car", "curb", "cone", "rail", "bump", "sky"]
NAMES_B = ["ground", "human", "cycle", "vehicle", "kerb", "pylon", "fence", "hump", "air"]
NODE = {"device": "cpu", "warmup": 0, "qos_reliability": "reliable", "qos_depth": 10, "modality_timeout": 30.0,
        "frozen_timeout": 0.0, "diagnostics_period": 0.2}


@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("label_info")
    return {"a": renamed_checkpoint(tiny_checkpoint, d / "a.safetensors", NAMES_A),
            "b": renamed_checkpoint(tiny_checkpoint, d / "b.safetensors", NAMES_B)}


class Listener:
    """A peer node that subscribes to LabelInfo topics as a consumer would: transient local, reliable."""

    def __init__(self, context: Any) -> None:
        self.node = rclpy.create_node("label_info_listener", context=context)

    def listen(self, topic: str) -> list[Any]:
        """A new subscription to ``topic``; returns the list its messages arrive in."""
        from vision_msgs.msg import LabelInfo

        from rgbt_seg_ros.label_info import label_info_qos

        got: list[Any] = []
        self.node.create_subscription(LabelInfo, topic, got.append, label_info_qos())
        return got


def _classes(msg: Any) -> list[tuple[int, str]]:
    return [(c.class_id, c.class_name) for c in msg.class_map]


def _map(names: list[str]) -> list[tuple[int, str]]:
    return [*enumerate(names), (255, UNLABELLED_NAME)]


def _context() -> Any:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    return ctx


def test_a_late_subscriber_gets_the_map_and_each_change(checkpoints: dict[str, Path]) -> None:
    require_vision_msgs()
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from rgbt_seg_ros.segmentation_node import SegmentationNode

    ctx = _context()
    values = {**NODE, "checkpoint": str(checkpoints["a"])}
    node = SegmentationNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    listener = Listener(ctx)  # joins after activation: the node published before anyone listened
    diagnostics: list[Any] = []
    listener.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    executors, threads = spin_apart(ctx, node, listener.node)
    try:
        late = listener.listen("/segmentation_node/label_info")
        assert spin_until(lambda: late, 10.0), "no LabelInfo for a subscriber that joined after activation"
        assert _classes(late[0]) == _map(NAMES_A) and late[0].threshold == 0.0 and late[0].header.frame_id == ""
        assert spin_until(lambda: any(kv.key == "label_info" for d in diagnostics for s in d.status
                                      for kv in s.values), 10.0)
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert values["label_info"] == "published on /segmentation_node/label_info"

        assert node.set_parameters([Parameter("min_confidence", value=0.4)])[0].successful
        assert spin_until(lambda: len(late) == 2, 10.0)
        assert late[1].threshold == np.float32(0.4) and _classes(late[1]) == _map(NAMES_A)
        assert node.set_parameters([Parameter("overlay_alpha", value=0.3)])[0].successful
        # the first labels bring the frame: republished with the labels' header
        cam = rclpy.create_node("cameras", context=ctx)
        pubs = [cam.create_publisher(Image, topic, 10) for topic in ("/rgb/image", "/thermal/image")]
        labels: list[Any] = []
        listener.node.create_subscription(Image, "/segmentation_node/labels", labels.append, 10)
        rng = np.random.default_rng(0)
        assert spin_until(lambda: all(p.get_subscription_count() for p in pubs), 10.0)
        pubs[0].publish(make_image(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "rgb8", 12.5, "rgb_optical"))
        pubs[1].publish(make_image(rng.integers(0, 256, (48, 64), dtype=np.uint8), "mono8", 12.5, "thermal_optical"))
        assert spin_until(lambda: labels and len(late) == 3, 20.0)
        assert len(late) == 3  # overlay_alpha changed nothing LabelInfo says
        assert late[2].header == labels[0].header and late[2].header.frame_id == "rgb_optical"
        assert node.pipeline.label_info is not None and node.pipeline.label_info.published == 3
        # depth 1: a subscriber joining now gets the latest map alone
        later = listener.listen("/segmentation_node/label_info")
        assert spin_until(lambda: later, 10.0) and not spin_until(lambda: len(later) > 1, 1.0)
        assert later[0].threshold == np.float32(0.4) and later[0].header.frame_id == "rgb_optical"
    finally:
        stop_spinning(ctx, executors, threads, node, listener.node)


def test_each_pair_has_its_own_and_a_new_model_is_published(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    require_vision_msgs()
    from rclpy.lifecycle import TransitionCallbackReturn

    from rgbt_seg_ros.segmentation_lifecycle_node import SegmentationLifecycleNode

    path = tmp_path / "model.safetensors"  # checkpoint is read-only: the file is replaced between configures
    path.write_bytes(checkpoints["a"].read_bytes())
    ctx = _context()
    values = {**NODE, "checkpoint": str(path), "pairs": ["front", "rear"]}
    node = SegmentationLifecycleNode(context=ctx,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    listener = Listener(ctx)
    executors, threads = spin_apart(ctx, node, listener.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        got = {pair: listener.listen(f"/segmentation_node/{pair}/label_info") for pair in ("front", "rear")}
        assert spin_until(lambda: all(got.values()), 10.0)
        assert all(_classes(msgs[0]) == _map(NAMES_A) for msgs in got.values())
        assert "/segmentation_node/label_info" not in dict(listener.node.get_topic_names_and_types())

        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        path.write_bytes(checkpoints["b"].read_bytes())
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert spin_until(lambda: all(_classes(msgs[-1]) == _map(NAMES_B) for msgs in got.values()), 10.0)
    finally:
        stop_spinning(ctx, executors, threads, node, listener.node)


def test_without_vision_msgs_the_node_runs_and_says_so(tiny_checkpoint: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vision_msgs.msg", None)  # `from vision_msgs.msg import ...` fails
    from rgbt_seg_ros.segmentation_node import SegmentationNode

    ctx = _context()
    values = {**NODE, "checkpoint": str(tiny_checkpoint)}
    node = SegmentationNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    try:
        info = node.pipeline.label_info
        assert info is not None and info.topics == [] and node.pipeline.active
        assert info.status().startswith("off: vision_msgs is not installed") and "make vision-msgs" in info.status()
        assert node.set_parameters([Parameter("min_confidence", value=0.5)])[0].successful  # nothing to publish
        assert "label_info" not in {name.rsplit("/", 1)[-1] for name, _ in node.get_topic_names_and_types()}
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


@pytest.mark.slow  # a cmake build of the two messages: about 20 s on an idle core
def test_the_build_script_builds_an_importable_vision_msgs_in_a_prefix(tmp_path: Path) -> None:
    from shutil import which

    from _support.label_info import require_build_tools

    require_build_tools(which)
    prefix = tmp_path / "prefix"
    out = subprocess.run([sys.executable, str(VISION_MSGS_DIR / "build.py"), "--prefix", str(prefix), "--force",
                          "--no-pip", "--jobs", "2"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    site = next((prefix / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "LD_LIBRARY_PATH": str(prefix / "lib")}
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # the ROS wheels' re-exec sets the library path afresh
    code = ("import vision_msgs.msg as m; from rclpy.type_support import check_for_type_support; "
            "check_for_type_support(m.LabelInfo); print(m.__file__)")
    probe = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and probe.stdout.strip().startswith(str(site)), probe.stdout + probe.stderr
    hashes = json.loads((prefix / "share" / "vision_msgs" / "msg" / "LabelInfo.json").read_text())["type_hashes"]
    assert {h["type_name"]: h["hash_string"] for h in hashes}["vision_msgs/msg/LabelInfo"] == UPSTREAM_LABEL_INFO_HASH
    listed = (next(site.glob("vision_msgs-*.egg-info")) / "installed-files.txt").read_text().split()
    assert len(listed) > 50  # `pip uninstall vision_msgs` removes what the build installed
