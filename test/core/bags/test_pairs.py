"""Bags of several camera pairs: bag-from-dataset --pairs writes them, bag-eval scores each pair as if alone (with
its own settings from a parameter file) and the pairs together from the summed matrix, bag-extract writes a folder
per pair; every topic of a bag is one pair's or reported as ignored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.bags.from_dataset import BagTopics, bag_topics
from rgbt_seg_core.bags.io import BagError, list_topics
from rgbt_seg_core.bags.pairs import bag_pairs, plan_pairs
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.settings.pairs import SINGLE
from rgbt_seg_core.settings.spec import SettingsError

# a homography that moves the thermal image by several pixels: labels change where it applies
SHIFT = [1.0, 0.0, 6.0, 0.0, 1.0, -4.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def two(varied_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pairs")
    write_synthetic_dataset(d / "data", 12, SynthConfig(height=64, width=80, seed=3))
    common = ["--dataset", "synthetic", "--data-root", str(d / "data"), "--split", "test", "--fps", "10",
              "--thermal-delay-ms", "15", "--jitter-ms", "2"]
    assert main(["bag-from-dataset", *common, "--out", str(d / "single")]) == 0
    assert main(["bag-from-dataset", *common, "--out", str(d / "two"), "--pairs", "front,rear"]) == 0
    return {"dir": d, "data": d / "data", "ckpt": varied_checkpoint, "single": d / "single", "two": d / "two"}


def _eval(bag: Path, ckpt: Path, out: Path, *extra: str) -> dict:
    assert main(["bag-eval", str(bag), "--checkpoint", str(ckpt), "--device", "cpu", "--json", str(out),
                 *extra]) == 0
    return json.loads(out.read_text())


def test_from_dataset_writes_each_pairs_topics(two: dict[str, Path]) -> None:
    topics = list_topics(two["two"])
    assert topics == {t: ("sensor_msgs/msg/Image", 3) for p in ("front", "rear")
                      for t in (f"/{p}/rgb/image", f"/{p}/thermal/image", f"/{p}/labels/ground_truth")}
    assert bag_topics("front") == BagTopics("/front/rgb/image", "/front/thermal/image", "/front/labels/ground_truth")
    assert bag_topics(SINGLE) == BagTopics()


def test_each_pair_scores_as_alone_and_the_matrices_add(two: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    d = two["dir"]
    alone = _eval(two["single"], two["ckpt"], d / "alone.json")
    both = _eval(two["two"], two["ckpt"], d / "both.json")
    assert set(both["camera_pairs"]) == {"front", "rear"} and both["ignored_topics"] == {}
    for pair in ("front", "rear"):
        own = both["camera_pairs"][pair]
        assert own["evaluated"] == alone["evaluated"] == 3
        assert own["confusion_matrix"] == alone["confusion_matrix"] and own["mIoU"] == alone["mIoU"]
    summed = np.array(both["camera_pairs"]["front"]["confusion_matrix"]) + both["camera_pairs"]["rear"][
        "confusion_matrix"]
    assert both["confusion_matrix"] == summed.tolist() and both["evaluated"] == 6 and both["pairs"] == 6
    out = capsys.readouterr().out
    assert "pair front" in out and "pair rear" in out and "confusion matrices summed" in out
    one = _eval(two["two"], two["ckpt"], d / "rear.json", "--pair", "rear")
    assert list(one["camera_pairs"]) == ["rear"] and one["ignored_topics"] == {
        t: 3 for t in ("/front/labels/ground_truth", "/front/rgb/image", "/front/thermal/image")}
    assert one["confusion_matrix"] == alone["confusion_matrix"]


def test_a_pairs_homography_applies_to_that_pair_only(two: dict[str, Path]) -> None:
    d = two["dir"]
    params = d / "pairs.yaml"
    params.write_text("segmentation_node:\n  ros__parameters:\n    pairs: [front, rear]\n"
                      f"    front:\n      thermal_homography: {SHIFT}\n")
    shifted = _eval(two["single"], two["ckpt"], d / "shifted.json", "--thermal-homography", str(SHIFT))
    plain = _eval(two["single"], two["ckpt"], d / "plain.json")
    assert shifted["confusion_matrix"] != plain["confusion_matrix"]  # the varied model sees the shift
    both = _eval(two["two"], two["ckpt"], d / "own.json", "--params", str(params))
    assert both["camera_pairs"]["front"]["confusion_matrix"] == shifted["confusion_matrix"]
    assert both["camera_pairs"]["rear"]["confusion_matrix"] == plain["confusion_matrix"]


def test_refusals_name_the_pair_and_topic(two: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    base = ["bag-eval", str(two["two"]), "--checkpoint", str(two["ckpt"]), "--device", "cpu"]
    assert main([*base, "--pair", "left"]) != 0
    err = capsys.readouterr().err
    assert "pair left" in err and "/left/rgb/image" in err
    assert main([*base, "--pair", "2bad"]) != 0
    assert "2bad" in capsys.readouterr().err
    params = two["dir"] / "front_only.yaml"
    params.write_text("segmentation_node:\n  ros__parameters:\n    pairs: [front]\n")
    assert main([*base, "--params", str(params), "--pair", "rear"]) != 0
    assert "--pair rear" in capsys.readouterr().err
    assert main(["bag-eval", str(two["single"]), "--checkpoint", str(two["ckpt"]), "--device", "cpu",
                 "--params", str(params)]) != 0
    assert "pair front" in capsys.readouterr().err
    assert main([*base, "--pair", "front", "--rgb-topic", "/front/rgb/image"]) != 0
    assert "--rgb-topic" in capsys.readouterr().err
    # a single pair's topics given: the bag's pairs are not looked for, so the front pair is one on its own topics
    out = two["dir"] / "front_as_single.json"
    assert main([*base, "--rgb-topic", "/front/rgb/image", "--thermal-topic", "/front/thermal/image",
                 "--label-topic", "/front/labels/ground_truth", "--json", str(out)]) == 0
    assert "camera_pairs" not in json.loads(out.read_text())


def test_extract_writes_a_folder_per_pair(two: dict[str, Path]) -> None:
    out = two["dir"] / "extracted"
    assert main(["bag-extract", str(two["two"]), "--out", str(out), "--dedup", "0"]) == 0
    for pair in ("front", "rear"):
        info = json.loads((out / pair / "extract.json").read_text())
        assert info["topics"]["rgb"] == f"/{pair}/rgb/image" and info["result"]["written"] == 3
        assert len(list((out / pair / "images").glob("*.png"))) == 3
        assert len(list((out / pair / "labels").glob("*.png"))) == 3
    single = two["dir"] / "extracted_single"
    assert main(["bag-extract", str(two["single"]), "--out", str(single), "--dedup", "0"]) == 0
    assert (single / "extract.json").is_file() and not (single / SINGLE / "front").exists()


_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_KINDS = ("rgb", "thermal", "labels")


@settings(max_examples=150, deadline=None)
@given(layout=st.dictionaries(_NAMES, st.sets(st.sampled_from(_KINDS)), max_size=5),
       extra=st.lists(st.from_regex(r"/[a-z]{1,5}(/[a-z_]{1,8}){0,3}", fullmatch=True), max_size=4),
       counts=st.integers(1, 9))
def test_every_message_is_one_pairs_or_ignored(layout: dict[str, set[str]], extra: list[str], counts: int) -> None:
    """Random pair names and topic layouts: every topic, and so every message, is used by exactly one pair or
    reported as ignored; every pair with both cameras is found, none without."""
    found: dict[str, int] = {}
    for name, kinds in layout.items():
        try:
            t = bag_topics(name)
        except SettingsError:
            continue  # a name the node refuses (a YAML word, a parameter's name) is no pair of a bag
        found.update({getattr(t, k): counts for k in kinds})
    found.update({t: counts + 1 for t in extra})
    plan = plan_pairs("bag", found)
    used = [t for p in plan.pairs for t in plan.used(p)]
    assert len(used) == len(set(used)) and not set(used) & set(plan.ignored)
    assert sum(found[t] for t in used) + sum(plan.ignored.values()) == sum(found.values())
    assert set(used) | set(plan.ignored) == set(found)
    named = bag_pairs(list(found))
    assert list(plan.pairs) == (named or [SINGLE])
    for name in named:
        assert {bag_topics(name).rgb, bag_topics(name).thermal} <= set(found)
    for name in plan.pairs:
        if name != SINGLE:
            with pytest.raises(BagError, match=f"pair {name}: topic"):
                plan_pairs("bag", {t: n for t, n in found.items() if t != bag_topics(name).thermal},
                           requested=[name])
