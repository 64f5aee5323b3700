"""``bag-eval`` over many bags: one report whose confusion matrix is the sum of the single-bag runs', the per-bag
table worst first (JSON, Markdown, CSV), and bad bags and inputs listed with their reasons, the exit status
non-zero only with --strict or when nothing could be evaluated."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from _support.fleet_bags import write_event_bag
from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.cli.main import main


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fleet_eval")
    out = {f"good{i}": write_event_bag(d / f"good{i}", frames=6, seed=i, thermal_gap=None, frozen_rgb=None)
           for i in range(3)}  # (good2 for the list file)
    truncated = d / "truncated"
    shutil.copytree(out["good0"], truncated)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: int(mcap.stat().st_size * 0.6)])
    out["truncated"] = truncated
    out["no_thermal"] = write_event_bag(d / "no_thermal", frames=2, topics=BagTopics(thermal="/flir/image"))
    out["no_labels"] = write_event_bag(d / "no_labels", frames=2, topics=BagTopics(labels="/elsewhere"))
    garbage = d / "garbage.mcap"
    garbage.write_bytes(b"not an mcap file at all" * 10)
    out["garbage"] = garbage
    return out


def _miou(confusion: np.ndarray, misses: np.ndarray) -> float:
    """The RTFNet mIoU, written out here: a pixel predicted as no class is a miss of its true class."""
    tp = np.diag(confusion).astype(float)
    union = confusion.sum(axis=1) + misses + confusion.sum(axis=0) - tp
    return float(np.mean(np.where(union > 0, tp / np.maximum(union, 1), 0.0)))


def _run(*argv: str) -> int:
    return main(["bag-eval", *argv, "--device", "cpu"])


def test_combined_report_is_the_sum_of_single_bag_runs(bags: dict[str, Path], varied_checkpoint: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = [bags["good0"], bags["good1"]]  # two: each single run loads its own engine
    report = tmp_path / "report"
    # the random model is barely surer than chance (1/9): at 0.1114 about a third of its pixels are left unlabelled
    ck = ["--checkpoint", str(varied_checkpoint), "--min-confidence", "0.1114"]
    assert _run(*map(str, good), *ck, "--report-dir", str(report), "--json", str(tmp_path / "fleet.json")) == 0
    fleet = json.loads((report / "metrics.json").read_text())
    assert fleet == json.loads((tmp_path / "fleet.json").read_text())
    singles = {}
    for bag in good:
        assert _run(str(bag), *ck, "--json", str(tmp_path / "one.json")) == 0
        singles[str(bag)] = json.loads((tmp_path / "one.json").read_text())
    summed = sum(np.array(s["confusion_matrix"]) for s in singles.values())
    assert fleet["confusion_matrix"] == summed.tolist() and fleet["evaluated"] == 12
    misses = sum(np.array(s["unlabelled_predictions"]) for s in singles.values())
    assert fleet["unlabelled_predictions"] == misses.tolist() and misses.sum() > 0
    assert fleet["mIoU"] == pytest.approx(_miou(summed, misses))  # exact over every frame, not a mean of bags
    assert len({json.dumps(s["confusion_matrix"]) for s in singles.values()}) == 2  # the bags differ
    rows = fleet["bags"]
    assert sorted(r["bag"] for r in rows) == sorted(singles)
    assert [r["mIoU"] for r in rows] == sorted(r["mIoU"] for r in rows)  # worst first
    for r in rows:
        one = singles[r["bag"]]
        assert (r["pairs"], r["evaluated"], r["mIoU"]) == (one["pairs"], one["evaluated"], one["mIoU"])
        assert r["frames"] == one["received"]["/rgb/image"] + one["received"]["/thermal/image"]
    with open(report / "bags.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["bag"] for t in table] == [r["bag"] for r in rows] and table[0]["worst_class"]
    md = (report / "report.md").read_text()
    assert "### Per-class results" in md and "Bags, worst first" in md and md.index(rows[0]["bag"]) < md.index(
        rows[-1]["bag"])
    assert (report / "confusion.png").stat().st_size and (report / "iou.png").stat().st_size
    assert "confusion matrices summed" in capsys.readouterr().out


def test_bad_bags_are_listed_and_the_rest_stands(bags: dict[str, Path], varied_checkpoint: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inputs = [str(bags[k]) for k in ("good1", "truncated", "no_thermal", "no_labels", "garbage")]
    inputs.append(str(tmp_path / "missing_bag"))
    common = ["--checkpoint", str(varied_checkpoint), "--cache", str(tmp_path / "cache")]
    assert _run(*inputs, *common, "--json", str(tmp_path / "bad.json")) == 0
    s = json.loads((tmp_path / "bad.json").read_text())
    assert [r["bag"] for r in s["bags"]] == [str(bags["good1"])]
    reasons = {b["bag"]: b["reason"] for b in s["bad_bags"]}
    assert "truncated" in reasons[str(bags["truncated"])]
    assert "topic(s) /thermal/image not in the bag" in reasons[str(bags["no_thermal"])]
    assert "no labels" in reasons[str(bags["no_labels"])] and "cannot open" in reasons[str(bags["garbage"])]
    assert [i["input"] for i in s["bad_inputs"]] == [str(tmp_path / "missing_bag")]
    single = tmp_path / "single.json"
    assert _run(str(bags["good1"]), "--checkpoint", str(varied_checkpoint), "--json", str(single)) == 0
    assert s["confusion_matrix"] == json.loads(single.read_text())["confusion_matrix"]
    out = capsys.readouterr().out
    assert out.count("not evaluated:") == 5
    assert _run(*inputs, *common, "--strict") == 3  # the same run, strict: the bad ones fail it
    assert _run(str(bags["no_labels"]), str(bags["garbage"]), *common) == 3  # nothing could be evaluated
    assert "nothing could be evaluated" in capsys.readouterr().out


def test_fleet_only_flags_and_one_input_forms(bags: dict[str, Path], varied_checkpoint: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ck = ["--checkpoint", str(varied_checkpoint)]
    assert _run(str(bags["good0"]), str(bags["good1"]), *ck, "--out-bag", str(tmp_path / "o")) == 2
    assert "--out-bag takes one bag" in capsys.readouterr().err
    listing = tmp_path / "bags.txt"
    listing.write_text(f"# two bags\n{bags['good2']}\n{bags['good2']}\n")
    assert _run(f"@{listing}", *ck, "--json", str(tmp_path / "list.json")) == 0  # a list: the fleet report
    s = json.loads((tmp_path / "list.json").read_text())
    assert [r["bag"] for r in s["bags"]] == [str(bags["good2"])] and s["evaluated"] == 6
