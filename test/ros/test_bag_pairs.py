"""Bags of several camera pairs on real DDS: bag-play --pair plays that pair's cameras; bag-eval --live scores a
node serving two pairs pair by pair, exactly as the offline replay of each pair; the demo's live step with two
pairs. Lockstep replays: nothing waits on a time tuned to one machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rclpy")


from _support.ros_harness import RunningNode  # noqa: E402
from rgbt_seg_core.cli.main import main  # noqa: E402
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset  # noqa: E402
from rgbt_seg_ros.bag_tools import node_labels_topic  # noqa: E402

pytestmark = pytest.mark.ros

SHIFT = [1.0, 0.0, 6.0, 0.0, 1.0, -4.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bag_pairs")
    write_synthetic_dataset(d / "data", 12, SynthConfig(height=64, width=80, seed=3))
    assert main(["bag-from-dataset", "--dataset", "synthetic", "--data-root", str(d / "data"), "--split", "test",
                 "--fps", "5", "--thermal-delay-ms", "10", "--jitter-ms", "2", "--out", str(d / "bag"),
                 "--pairs", "front,rear"]) == 0
    return d / "bag"


def two_pair_node(checkpoint: Path) -> RunningNode:
    """segmentation_node serving front and rear, front with its own homography, spun in this process."""
    return RunningNode(checkpoint, pairs=["front", "rear"], **{"front.thermal_homography": SHIFT})


def test_node_labels_topic_per_pair() -> None:
    assert node_labels_topic("/segmentation_node/labels", "front") == "/segmentation_node/front/labels"
    assert node_labels_topic("/robot/seg/labels", "") == "/robot/seg/labels"
    with pytest.raises(ValueError, match="labels"):
        node_labels_topic("labels", "front")


def test_bag_play_pair_plays_its_cameras_only(bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bag-play", str(bag), "--pair", "rear", "--rate", "50"]) == 0
    out = capsys.readouterr().out
    assert "published 6 messages" in out and "/rear/rgb/image 3" in out and "/rear/thermal/image 3" in out
    assert "/front/" not in out
    assert main(["bag-play", str(bag), "--pair", "left"]) != 0
    assert "pair left" in capsys.readouterr().err


@pytest.mark.slow
def test_live_two_pairs_score_as_offline(bag: Path, varied_checkpoint: Path, tmp_path: Path) -> None:
    params = tmp_path / "pairs.yaml"
    params.write_text("segmentation_node:\n  ros__parameters:\n    pairs: [front, rear]\n"
                      f"    front:\n      thermal_homography: {SHIFT}\n")
    common = [str(bag), "--checkpoint", str(varied_checkpoint), "--device", "cpu", "--params", str(params)]
    assert main(["bag-eval", *common, "--json", str(tmp_path / "offline.json")]) == 0
    node = two_pair_node(varied_checkpoint)
    try:
        assert main(["bag-eval", *common, "--live", "--lockstep", "--json", str(tmp_path / "live.json")]) == 0
    finally:
        node.close()
    offline = json.loads((tmp_path / "offline.json").read_text())
    live = json.loads((tmp_path / "live.json").read_text())
    assert set(live["camera_pairs"]) == {"front", "rear"} and live["frames"] == 6 and live["dropped"] == 0
    for pair in ("front", "rear"):
        assert live["camera_pairs"][pair]["confusion_matrix"] == offline["camera_pairs"][pair]["confusion_matrix"]
    assert offline["camera_pairs"]["front"]["confusion_matrix"] != offline["camera_pairs"]["rear"]["confusion_matrix"]
    assert live["confusion_matrix"] == offline["confusion_matrix"]


@pytest.mark.slow
def test_demo_live_step_two_pairs(varied_checkpoint: Path, tmp_path: Path) -> None:
    from rgbt_seg_ros.demo_live import live_step

    write_synthetic_dataset(tmp_path / "data", 12, SynthConfig(height=64, width=80, seed=3))  # 3 test frames
    report = live_step(tmp_path / "data", varied_checkpoint, tmp_path, fps=5.0, lockstep=True,
                       settings={"pairs": ["front", "rear"]})
    assert set(report["pairs"]) == {"front", "rear"} and report["frames"] == 6 and report["dropped"] == 0
    for own in report["pairs"].values():
        assert own["frames"] == 3 and own["live_mIoU"] == own["offline_mIoU"] and Path(own["video"]).exists()
    assert report["live_mIoU"] == report["offline_mIoU"]
