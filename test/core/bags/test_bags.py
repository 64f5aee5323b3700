"""Bag tools: data set -> bag -> bag-eval equals eval exactly; storages, compressed/16-bit input, damaged bags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rgbt_seg_core.bags.evaluate import evaluate_bag
from rgbt_seg_core.bags.from_dataset import BagTopics, dataset_to_bag
from rgbt_seg_core.bags.io import BagError, ImageBagWriter, list_topics, read_images
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.runtime import RuntimeConfig


@pytest.fixture(scope="module")
def setup(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bags")
    write_synthetic_dataset(d / "data", 24, SynthConfig(height=64, width=80, seed=2))
    # tiny_checkpoint is in training form: every tool must re-parameterise alike
    return {"dir": d, "data": d / "data", "ckpt": tiny_checkpoint}


@pytest.mark.parametrize("storage", ["mcap", pytest.param("sqlite3", marks=pytest.mark.slow)])  # mcap in test-fast
def test_round_trip_equals_eval(setup: dict[str, Path], storage: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = setup["dir"]
    bag = d / f"test_{storage}"
    assert main(["bag-from-dataset", "--dataset", "synthetic", "--data-root", str(setup["data"]), "--split",
                 "test", "--out", str(bag), "--storage", storage, "--fps", "10", "--thermal-delay-ms", "15",
                 "--jitter-ms", "2"]) == 0
    topics = list_topics(bag)
    assert topics == {"/rgb/image": ("sensor_msgs/msg/Image", 6), "/thermal/image": ("sensor_msgs/msg/Image", 6),
                      "/labels/ground_truth": ("sensor_msgs/msg/Image", 6)}
    assert main(["eval", "--checkpoint", str(setup["ckpt"]), "--dataset", "synthetic", "--data-root",
                 str(setup["data"]), "--split", "test", "--device", "cpu", "--json", str(d / "eval.json")]) == 0
    assert main(["bag-eval", str(bag), "--checkpoint", str(setup["ckpt"]), "--device", "cpu", "--json",
                 str(d / f"bag_{storage}.json")]) == 0
    a = json.loads((d / "eval.json").read_text())
    b = json.loads((d / f"bag_{storage}.json").read_text())
    assert b["evaluated"] == 6 and b["unpaired"] == 0
    assert b["confusion_matrix"] == a["confusion_matrix"]
    assert b["mIoU"] == a["mIoU"] and b["mAcc"] == a["mAcc"]
    assert "mIoU / mAcc" in capsys.readouterr().out


def test_stamps_model_two_clocks(setup: dict[str, Path]) -> None:
    ds = build_dataset("synthetic", setup["data"], "test")
    bag = setup["dir"] / "clocks"
    dataset_to_bag(ds, bag, fps=5, thermal_delay_ms=30, jitter_ms=4, seed=1)
    items = list(read_images(bag, ["/rgb/image", "/thermal/image"]))
    rgb = [i.stamp for i in items if i.topic == "/rgb/image"]
    thm = [i.stamp for i in items if i.topic == "/thermal/image"]
    delays = np.array(thm) - np.array(rgb)
    assert 0.015 < delays.mean() < 0.045 and delays.std() > 0.001  # delay plus independent jitter
    assert np.all(np.diff(rgb) > 0.1)  # 5 fps, jitter never swaps frames
    assert [i.frame_id for i in items[:2]] == ["rgb_optical", "thermal_optical"]
    with pytest.raises(ValueError, match="jitter"):
        dataset_to_bag(ds, setup["dir"] / "bad", fps=30, jitter_ms=10)
    with pytest.raises(FileExistsError):
        dataset_to_bag(ds, bag)


def test_pairs_outside_slop_are_unpaired(setup: dict[str, Path]) -> None:
    ds = build_dataset("synthetic", setup["data"], "test")
    bag = setup["dir"] / "late_thermal"
    dataset_to_bag(ds, bag, fps=5, thermal_delay_ms=80)
    engine = InferenceEngine(setup["ckpt"], InferenceConfig(device="cpu", warmup=0))
    res, _ = evaluate_bag(bag, engine, config=RuntimeConfig(slop=0.05))
    assert res.pairs == 0 and res.unpaired == 12 and res.evaluated == 0
    res, _ = evaluate_bag(bag, engine, config=RuntimeConfig(slop=0.1))
    assert res.pairs == 6 and res.evaluated == 6


def test_compressed_rgb_and_16bit_thermal(setup: dict[str, Path]) -> None:
    ds = build_dataset("synthetic", setup["data"], "test")
    bag = setup["dir"] / "compressed"
    with ImageBagWriter(bag, "mcap") as w:
        for i, name in enumerate(ds.names):
            s = ds.load(name)
            t = 100.0 + i * 0.1
            w.write_compressed("/cam/rgb/compressed", s.rgb, "png", t, "rgb")
            w.write_image("/cam/thermal", s.thermal.astype(np.uint16) * 250, "mono16", t + 0.01, "thm")
            w.write_image("/gt", s.label, "mono8", t, "rgb")
    engine = InferenceEngine(setup["ckpt"], InferenceConfig(device="cpu", warmup=0))
    res, _ = evaluate_bag(bag, engine, topics=BagTopics("/cam/rgb/compressed", "/cam/thermal", "/gt"))
    assert res.evaluated == 6 and res.bad_frames == 0 and res.confusion is not None


def test_missing_topic_lists_what_is_there(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ds = build_dataset("synthetic", setup["data"], "test")
    bag = setup["dir"] / "for_missing"
    dataset_to_bag(ds, bag)
    assert main(["bag-eval", str(bag), "--checkpoint", str(setup["ckpt"]), "--device", "cpu",
                 "--thermal-topic", "/flir/image"]) == 2
    err = capsys.readouterr().err
    assert "/flir/image" in err and "topics found: /labels/ground_truth (Image), /rgb/image (Image)" in err
    # an explicitly named label topic must exist
    assert main(["bag-eval", str(bag), "--checkpoint", str(setup["ckpt"]), "--label-topic", "/nope"]) == 2


def test_truncated_bag_reports_partial_results(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ds = build_dataset("synthetic", setup["data"], "test")
    bag = setup["dir"] / "truncated"
    dataset_to_bag(ds, bag, storage="mcap")
    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.6)])
    code = main(["bag-eval", str(bag), "--checkpoint", str(setup["ckpt"]), "--device", "cpu", "--json",
                 str(setup["dir"] / "trunc.json")])
    out = capsys.readouterr()
    s = json.loads((setup["dir"] / "trunc.json").read_text())
    assert code == 3 and s["error"] and "truncated" in s["error"]
    assert 0 < s["evaluated"] < 6  # what was read before the break is reported
    assert "broke off" in out.out


def test_missing_bag_and_garbage(setup: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list_topics(tmp_path / "none")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metadata.yaml").write_text("not: a bag")
    with pytest.raises(BagError, match="cannot open"):
        list_topics(tmp_path / "junk")


def test_stamps_stepping_back_and_jumping(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """A bag whose stamps step back (within and beyond the jump threshold) and hold a bad frame: bag-eval runs
    to the end with the node's runtime, drops the out-of-order pair, recovers from the jump, scores the rest."""
    ds = build_dataset("synthetic", setup["data"], "test")
    samples = [ds.load(n) for n in ds.names]
    stamps = [100.0, 100.1, 100.2, 100.15, 50.0, 50.1, 50.2]  # 100.15: out of order; 50.0: a clock jump back
    bag = setup["dir"] / "stepping"
    with ImageBagWriter(bag, "mcap") as w:
        for i, t in enumerate(stamps):
            s = samples[i % len(samples)]
            bag_time = int((1000 + i * 0.1) * 1e9)  # received in this order
            w.write_image("/rgb/image", s.rgb, "rgb8", t, "rgb", bag_time)
            w.write_image("/thermal/image", s.thermal, "mono8", t + 0.01, "thm", bag_time + 10_000_000)
            w.write_image("/labels/ground_truth", s.label, "mono8", t, "rgb", bag_time)
        w.write_image("/rgb/image", np.zeros((5, 5), np.float32), "32FC1", 50.3, "rgb", int(1000.8e9))  # bad
    assert main(["bag-eval", str(bag), "--checkpoint", str(setup["ckpt"]), "--device", "cpu", "--json",
                 str(setup["dir"] / "stepping.json")]) == 0
    s = json.loads((setup["dir"] / "stepping.json").read_text())
    assert s["out_of_order"] == 1 and s["clock_jumps"] == 2 and s["bad_frames"] == 1
    assert s["evaluated"] == 6 and s["pairs"] == 6 and s["error"] is None
