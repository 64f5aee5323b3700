"""``rgbt-seg model-info`` prints the faithful counts; bad arguments give a clear error."""

from __future__ import annotations

import json

import pytest

from rgbt_seg_core.cli.main import main


def test_model_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--json", "--height", "96", "--width", "128"]) == 0
    info = json.loads(capsys.readouterr().out)
    deploy = info["deploy_form"]["params"]
    assert deploy["total"] / 1e6 == pytest.approx(44.53, rel=0.01)
    assert deploy["total"] == deploy["rgb_encoder"] + deploy["thermal_encoder"] + deploy["rest"]
    assert info["train_form"]["params"]["total"] > deploy["total"]  # aux heads and extra branches
    assert info["train_form"]["macs"] > info["deploy_form"]["macs"]


def test_model_info_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--height", "64", "--width", "64", "--kernel-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "deploy" in out and "44.0" in out


def test_bad_size_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--height", "0"]) == 2
    assert "--height" in capsys.readouterr().err


def test_bad_option_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--kernel-size", "4"]) == 2
    assert "kernel_size" in capsys.readouterr().err


def test_bench_latency_prints_every_variant_against_fp32(tmp_path, capsys) -> None:
    import json

    from rgbt_seg_core.cli.main import main

    assert main(["bench", "latency", "--size", "48", "64", "--rounds", "1", "--warmup", "0", "--backends", "torch",
                 "--json", str(tmp_path / "lat.json")]) == 0
    out = capsys.readouterr().out
    assert "torch fp32" in out and "torch bf16" in out and "vs fp32" in out
    rows = json.loads((tmp_path / "lat.json").read_text())["rows"]
    assert rows[0]["variant"] == "torch fp32" and rows[0]["ratio_to_fp32_eager"] == 1.0
    assert all(0 <= r["label_agreement"] <= 1 and r["median_ms"] > 0 for r in rows)


def test_model_info_table_for_cimnet(capsys: pytest.CaptureFixture[str]) -> None:
    name = "cimnet_r18"  # the table once assumed RSFNet's parameter groups
    assert main(["model-info", name, "--height", "64", "--width", "64"]) == 0
    out = capsys.readouterr().out
    assert f"{name} at 64x64" in out and "deploy" in out and "not counted" in out
