"""Every ``rgbt-seg bench`` sub-command run in-process on tiny sizes: what it prints and writes, not timings.

``bench node`` needs rclpy: test/ros/test_bench_node.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from rgbt_seg_core.cli.main import main


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 frames at the demo's size (the synthetic preset's crops need it): 4 test frames."""
    d = tmp_path_factory.mktemp("bench") / "data"
    assert main(["synth", "--out", str(d), "--num", "16", "--height", "128", "--width", "160"]) == 0
    return d


def test_bench_reparam_prints_the_speedup_and_the_forms_agree(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "reparam", "--height", "64", "--width", "64", "--iters", "2", "--warmup", "0"]
    assert main([*args, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == {"model", "input", "device", "threads", "cpu", "torch", "train_form_ms", "deploy_form_ms",
                      "speedup", "max_abs_logit_diff"}
    assert r["model"] == "rsfnet50_18" and r["input"] == [1, 64, 64]
    assert math.isfinite(r["speedup"]) and r["speedup"] > 0 and r["max_abs_logit_diff"] < 1e-3
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rsfnet50_18 1x64x64 on cpu" in out and "(median of 2)" in out
    speedup = float(re.search(r"speed-up\s+: ([0-9.]+)x", out).group(1))
    assert math.isfinite(speedup) and speedup > 0


def test_bench_reparam_bad_counts_are_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "reparam", "--iters", "0"]) == 2
    assert "--iters and --batch must be >= 1" in capsys.readouterr().err


def test_bench_latency_with_a_data_set_scores_each_variant(synth_data: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "sub" / "lat.json"
    assert main(["bench", "latency", "--size", "64", "64", "--rounds", "2", "--warmup", "0", "--backends", "torch",
                 "--data-root", str(synth_data), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "random rsfnet50_18 at 64x64 on cpu" in printed and "mIoU" in printed and "change" in printed
    r = json.loads(out_json.read_text())
    assert set(r) == {"checkpoint", "input", "device", "threads", "rounds", "cpu_flags", "native_bf16",
                      "int8_calibration", "rows"}
    assert r["int8_calibration"] == ""  # torch alone: no INT8 rows
    base = r["rows"][0]
    assert base["variant"] == "torch fp32" and base["ratio_to_fp32_eager"] == 1.0
    assert base["miou_change_points"] == 0 and base["label_agreement"] == 1.0
    for row in r["rows"]:
        assert {"precision", "median_ms", "p95_ms", "miou"} <= set(row)
        assert math.isfinite(row["ratio_to_fp32_eager"]) and 0 <= row["miou"] <= 100


def test_bench_latency_bad_rounds_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "latency", "--rounds", "0"]) == 2
    assert "--rounds must be >= 1" in capsys.readouterr().err


def test_bench_ablation_trains_each_variant_and_prints_its_ratio(synth_data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    args = ["bench", "ablation", "--data-root", str(synth_data), "--out", str(runs), "--max-iters", "1",
            "--variants", "rsf", "thermal_only"]
    assert main([*args, "--json"]) == 0
    printed = capsys.readouterr().out
    # training's progress bar writes its epoch lines to stdout before the JSON
    rows = json.loads(printed[printed.index("\n{") + 1:] if not printed.startswith("{") else printed)
    assert list(rows) == ["rsf", "thermal_only"]
    for name, row in rows.items():
        assert set(row) == {"mIoU", "mAcc", "ratio_to_rsf"}
        assert 0 < row["mIoU"] <= 1 and 0 < row["mAcc"] <= 1
        assert math.isfinite(row["ratio_to_rsf"])
        assert (runs / name / "last.safetensors").is_file()
    assert rows["rsf"]["ratio_to_rsf"] == 1.0
    cfg = json.loads((runs / "thermal_only" / "config.json").read_text())
    assert cfg["model_options"]["modalities"] == "thermal" and cfg["max_iters"] == 1
    # a second run reuses the trained variants and prints the table
    mtime = (runs / "rsf" / "last.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["variant", "mIoU", "mAcc", "vs", "rsf"]
    table = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert table["rsf"][2] == "1.000"
    assert float(table["thermal_only"][0]) == pytest.approx(100 * rows["thermal_only"]["mIoU"], abs=0.006)
    assert float(table["thermal_only"][2]) == pytest.approx(rows["thermal_only"]["ratio_to_rsf"], abs=6e-4)
    assert (runs / "rsf" / "last.safetensors").stat().st_mtime_ns == mtime


def test_bench_robustness_compares_two_models_clean_and_perturbed(synth_data: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    runs, out_json = tmp_path / "runs", tmp_path / "rob.json"
    assert main(["bench", "robustness", "--data-root", str(synth_data), "--out", str(runs), "--max-iters", "1",
                 "--perturb", "rgb-failure", "misalign:4", "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"training rsfnet50_18 -> {runs / 'rsfnet50_18'}" in lines
    assert f"training cimnet_r18 -> {runs / 'cimnet_r18'}" in lines
    assert "test split: 4 frames at 128x160; mIoU %, drop from clean" in lines
    assert "| setting | rsfnet50_18 | cimnet_r18 | rsfnet50_18 drop | cimnet_r18 drop | better |" in lines
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| setting")]
    assert [line.split(" | ")[0] for line in table] == ["| clean", "| rgb-failure", "| misalign:4"]
    r = json.loads(out_json.read_text())
    assert set(r) == {"models", "test_frames", "rows"}
    assert r["models"] == ["rsfnet50_18", "cimnet_r18"] and r["test_frames"] == 4
    for row in r["rows"]:
        assert set(row) == {"setting", "rsfnet50_18", "cimnet_r18", "rsfnet50_18_drop", "cimnet_r18_drop", "better"}
        assert all(math.isfinite(row[k]) for k in row if k not in ("setting", "better"))
        assert row["better"] in ("rsfnet50_18", "cimnet_r18", "tie (within 0.5 points)")
    assert r["rows"][0]["rsfnet50_18_drop"] == 0 and r["rows"][0]["cimnet_r18_drop"] == 0


def test_bench_robustness_bad_setting_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    assert main(["bench", "robustness", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "runs"),
                 "--perturb", "rgb-fail"]) == 2
    assert "rgb-fail" in capsys.readouterr().err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


def test_bench_node_without_frames_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "node", "--frames", "0"]) == 2
    assert "--frames must be >= 1" in capsys.readouterr().err
