"""The command-line pipeline end to end on a tiny synthetic set: synth -> train -> export -> eval -> predict."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbt_seg_core.cli.main import main


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pipe")
    assert main(["synth", "--out", str(d / "data"), "--num", "12", "--height", "64", "--width", "80"]) == 0
    cfg = d / "tiny.yaml"
    cfg.write_text(
        "batch_size: 2\ncrop: null\nnum_workers: 0\nprogress: false\ntensorboard: false\npretrained: false\n"
        f"cache_dir: {d / 'cache'}\nmodel_options: {{fusion_channels: [16, 16, 32, 32], reduced_dim: 16}}\n"
    )
    assert main(["train", "--dataset", "synthetic", "--data-root", str(d / "data"), "--out", str(d / "run"),
                 "--config", str(cfg), "--max-iters", "2", "--device", "cpu"]) == 0
    return d


def test_train_writes_checkpoints_and_config(pipeline: Path) -> None:
    run = pipeline / "run"
    assert (run / "last.safetensors").is_file() and (run / "config.json").is_file()
    assert json.loads((run / "config.json").read_text())["max_iters"] == 2


def test_export_verify_and_eval(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy = pipeline / "deploy.safetensors"
    assert main(["export", "--checkpoint", str(pipeline / "run" / "last.safetensors"), "--out", str(deploy),
                 "--verify", "--verify-size", "64", "80"]) == 0
    assert "OK" in capsys.readouterr().out
    report = pipeline / "report"
    assert main(["eval", "--checkpoint", str(deploy), "--dataset", "synthetic", "--data-root",
                 str(pipeline / "data"), "--split", "test", "--device", "cpu", "--json", str(pipeline / "m.json"),
                 "--report-dir", str(report), "--save-predictions", str(pipeline / "pred")]) == 0
    out = capsys.readouterr().out
    assert "| Model |" in out and "unlabeled Acc" in out and "Day" in out
    metrics = json.loads((pipeline / "m.json").read_text())
    assert set(metrics) >= {"mAcc", "mIoU", "per_class", "subsets", "confusion_matrix"}
    assert set(metrics["subsets"]) == {"day", "night"}
    assert len(metrics["per_class"]) == 9
    for f in ("report.md", "metrics.json", "confusion.png", "iou.png"):
        assert (report / f).is_file()
    assert cv2.imread(str(report / "confusion.png")) is not None
    preds = sorted((pipeline / "pred" / "overlay").glob("*.png"))
    assert len(preds) == 3


def test_eval_robustness_settings(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--checkpoint", str(pipeline / "run" / "last.safetensors"), "--dataset", "synthetic",
            "--data-root", str(pipeline / "data"), "--split", "test", "--device", "cpu", "--precision", "fp32"]
    assert main([*args, "--perturb", "rgb-failure", "--perturb", "misalign:4+thermal-failure",
                 "--perturb", "misalign-dynamic", "--json", str(pipeline / "rob.json")]) == 0
    out = capsys.readouterr().out
    assert "CIMNet Table V layout" in out and "CIMNet Table IV layout" in out
    for row in ("| clean |", "| rgb-failure |", "| misalign:4+thermal-failure:12 |", "| misalign-dynamic:12 |"):
        assert row in out
    first = json.loads((pipeline / "rob.json").read_text())["settings"]
    assert set(first) == {"clean", "rgb-failure", "misalign:4+thermal-failure:12", "misalign-dynamic:12"}
    assert main([*args, "--perturb", "misalign-dynamic", "--json", str(pipeline / "rob2.json")]) == 0
    again = json.loads((pipeline / "rob2.json").read_text())["settings"]
    assert again["misalign-dynamic:12"] == first["misalign-dynamic:12"]  # repeatable
    assert main([*args, "--perturb", "rgb-fail"]) == 2
    assert "unknown perturbation 'rgb-fail'" in capsys.readouterr().err


def test_predict_any_size_and_16bit(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (70, 93, 3), dtype=np.uint8)
    thermal16 = np.random.default_rng(1).integers(1000, 30000, (35, 47), dtype=np.uint16)  # other size
    cv2.imwrite(str(pipeline / "a.png"), rgb)
    cv2.imwrite(str(pipeline / "t.png"), thermal16)
    assert main(["predict", "--checkpoint", str(pipeline / "run" / "last.safetensors"), "--rgb",
                 str(pipeline / "a.png"), "--thermal", str(pipeline / "t.png"), "--out", str(pipeline / "p"),
                 "--device", "cpu"]) == 0
    lab = cv2.imread(str(pipeline / "p" / "a_labels.png"), cv2.IMREAD_UNCHANGED)
    assert lab.shape == (70, 93) and lab.max() < 9
    assert (pipeline / "p" / "a_overlay.png").is_file()


def test_errors_are_one_line(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--checkpoint", str(pipeline / "nope.safetensors"), "--dataset", "synthetic",
                 "--data-root", str(pipeline / "data")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(pipeline / "run" / "last.safetensors"), "--out",
                 str(pipeline / "run" / "last.safetensors")]) == 2
    assert main(["train", "--dataset", "mfnet", "--data-root", str(pipeline / "missing"), "--out",
                 str(pipeline / "r2")]) == 2
    assert "not found" in capsys.readouterr().err
