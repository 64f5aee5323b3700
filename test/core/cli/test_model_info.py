"""``rgbt-seg model-info`` prints the faithful counts (those of the model it describes, recomputed here); bad
arguments give a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rgbt_seg_core.cli.main import main
from rgbt_seg_core.evaluation.profiling import count_macs
from rgbt_seg_core.models import build_model


def _forms(name: str, height: int, width: int, **options) -> dict[str, dict]:
    """Parameter groups and MACs of both forms, counted on a model built here."""
    model = build_model(name, **options).eval()
    inputs = (torch.zeros(1, 3, height, width), torch.zeros(1, 1, height, width))
    train = {"params": model.parameter_groups(), "macs": count_macs(model, inputs)}
    model.reparameterize()
    deploy = {"params": model.parameter_groups(), "macs": count_macs(model, inputs)}
    return {"train_form": train, "deploy_form": deploy}


def _table(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("train ", "deploy "))}


def _row(s: dict) -> list[str]:
    pg = s["params"]
    rest = pg.get("rest", pg["total"] - pg["rgb_encoder"] - pg["thermal_encoder"])
    return [f"{pg['total'] / 1e6:.2f}", f"{pg['rgb_encoder'] / 1e6:.2f}", f"{pg['thermal_encoder'] / 1e6:.2f}",
            f"{rest / 1e6:.2f}", f"{s['macs'] / 1e9:.2f}"]


def test_model_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--json", "--height", "96", "--width", "128"]) == 0
    info = json.loads(capsys.readouterr().out)
    want = _forms("rsfnet50_18", 96, 128)
    assert info["model"] == "rsfnet50_18" and info["input"] == [96, 128]
    for form in ("train_form", "deploy_form"):
        assert info[form]["params"] == want[form]["params"], form
        assert info[form]["macs"] == want[form]["macs"], form
        assert info[form]["input"] == [96, 128]
    deploy = info["deploy_form"]["params"]
    assert deploy["total"] / 1e6 == pytest.approx(44.53, rel=0.01)
    assert deploy["total"] == deploy["rgb_encoder"] + deploy["thermal_encoder"] + deploy["rest"]
    assert info["train_form"]["params"]["total"] > deploy["total"]  # aux heads and extra branches
    assert info["train_form"]["macs"] > info["deploy_form"]["macs"]


def test_model_info_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--height", "64", "--width", "64", "--kernel-size", "3"]) == 0
    out = capsys.readouterr().out
    want = _forms("rsfnet50_18", 64, 64, kernel_size=3)
    assert out.splitlines()[0] == "rsfnet50_18 at 64x64"
    assert _table(out) == {"train": _row(want["train_form"]), "deploy": _row(want["deploy_form"])}
    assert _table(out)["deploy"][0].startswith("44.0")  # the 3x3 RSF deploy form, in millions
    assert "include the two auxiliary heads" in out


def test_bad_size_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--height", "0"]) == 2
    assert "--height/--width must be positive, got 0x640" in capsys.readouterr().err


def test_bad_option_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--kernel-size", "4"]) == 2
    err = capsys.readouterr().err
    assert "RSFNet option kernel_size=4 is invalid: expected a positive odd integer" in err


def test_another_familys_option_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "rsfnet50_18", "--mir", "false"]) == 2
    assert "--mir is an option of CIMNet models; rsfnet50_18 is RSFNet" in capsys.readouterr().err


def test_bench_latency_prints_every_variant_against_fp32(tmp_path, capsys) -> None:
    """Latency is the machine's; ratio and agreement are recomputed: the fp32 row is the baseline itself, the bf16
    row's agreement is the share of its labels equal to fp32's on the same frame."""
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    torch.manual_seed(0)
    ckpt = tmp_path / "m.safetensors"
    save_checkpoint(ckpt, build_model("rsfnet50_18", fusion_channels=[16, 16, 32, 32], reduced_dim=16).eval())
    assert main(["bench", "latency", "--checkpoint", str(ckpt), "--size", "48", "64", "--rounds", "1", "--warmup",
                 "0", "--backends", "torch", "--json", str(tmp_path / "lat.json")]) == 0
    out = capsys.readouterr().out
    assert "torch fp32" in out and "torch bf16" in out and "vs fp32" in out
    rows = json.loads((tmp_path / "lat.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["torch fp32", "torch bf16"]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    assert rows[0]["ratio_to_fp32_eager"] == 1.0 and rows[0]["label_agreement"] == 1.0
    assert all(r["median_ms"] > 0 and r["p95_ms"] >= r["median_ms"] for r in rows)
    rng = np.random.default_rng(0)  # the benchmark's timing frame: one round, one frame
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    thermal = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    labels = [InferenceEngine(str(ckpt), InferenceConfig(device="cpu", precision=p, warmup=0)).predict(
        rgb, thermal).labels for p in ("fp32", "bf16")]
    assert rows[1]["label_agreement"] == pytest.approx(round(float((labels[1] == labels[0]).mean()), 5), abs=1e-9)


def test_model_info_table_for_cimnet(capsys: pytest.CaptureFixture[str]) -> None:
    name = "cimnet_r18"  # the table once assumed RSFNet's parameter groups
    assert main(["model-info", name, "--height", "64", "--width", "64"]) == 0
    out = capsys.readouterr().out
    want = _forms(name, 64, 64)
    assert f"{name} at 64x64" in out and "not counted" in out
    assert _table(out) == {"train": _row(want["train_form"]), "deploy": _row(want["deploy_form"])}


def test_cimnet_switches_reach_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model-info", "cimnet_r18", "--json", "--height", "64", "--width", "64", "--mir", "false",
                 "--cwr", "no", "--embed-dim", "64"]) == 0
    info = json.loads(capsys.readouterr().out)
    want = _forms("cimnet_r18", 64, 64, mir=False, cwr=False, embed_dim=64)
    assert info["train_form"]["params"] == want["train_form"]["params"]
    assert info["deploy_form"] == {**want["deploy_form"], "input": [64, 64]}
    full = build_model("cimnet_r18", embed_dim=64).parameter_groups()
    assert info["train_form"]["params"]["cipa"] < full["cipa"] and info["train_form"]["params"]["scsfr"] < full["scsfr"]
