"""``scripts/gpu_check.sh --dry-run``: the script itself, its plan, wheel list and report, with CPU figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dry_run_plans_lists_the_wheels_and_writes_the_report(tmp_path: Path, varied_checkpoint: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "tqdm-4.70.1-py3-none-any.whl").write_bytes(b"x" * 2048)  # sizes are read, nothing is installed
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(wheels)}
    out = tmp_path / "report"
    # the session's small checkpoint, not the script's default full-width one: the suite's other tests export it
    # (ONNX, OpenVINO) into the cache this run finds too, so the dry run times the steps, not a second export
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", "--out", str(out),
                           "--checkpoint", str(varied_checkpoint)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "=== gpu_check: plan" in text and "tqdm: tqdm-4.70.1-py3-none-any.whl (2 KiB)" in text
    assert "pyyaml: not in the folder" in text and "MiB in all (at most 64)" in text
    assert "dry run: would install 1 wheels" in text
    data = json.loads((out / "gpu_check.json").read_text())
    assert data["dry_run"] and data["environment"]["device"] == "cpu"
    assert set(data["steps"]) == {"gpu-tests", "latency", "batch", "node-labels", "node-all"}
    for name, result in data["steps"].items():
        assert not (isinstance(result, dict) and "error" in result), (name, result)
    assert data["steps"]["gpu-tests"]["rc"] == 0 and data["steps"]["gpu-tests"]["deselected"] > 100
    assert {row["variant"] for row in data["steps"]["latency"]} >= {"torch fp32"}
    assert not [row for row in data["steps"]["latency"] if "error" in row]
    batch = {(row["variant"], row["batch"]): row for row in data["steps"]["batch"]}  # on the CPU: the same rows
    assert set(batch) == {(v, b) for v in ("torch fp32", "onnxruntime CPU fp32") for b in (1, 2, 4)}
    for row in batch.values():
        assert row["labels_agree"] == 1.0 and row["model_fps"] > 0 and row["fps"] > 0, row
    for step in ("node-labels", "node-all"):
        assert data["steps"][step]["rate_hz"] > 0 and data["steps"][step]["end_to_end_ms_p50"] > 0
    assert (out / "gpu_check.md").read_text().startswith("# GPU check (dry run on the CPU)")


def test_without_cuda_the_real_run_refuses_and_points_to_the_dry_run(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(tmp_path / "none")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--out", str(tmp_path / "r")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "use --dry-run" in proc.stderr
    bad = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--frobnicate"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr
