"""The GPU check's parts that run anywhere: the plan, the runtime's path without DDS, the latency rows and the
report writer (what a GPU run leaves when a step fails, too). The whole script's dry run: test/test_gpu_check.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rgbt_seg_core.benchmarks import gpu_check as gc

CPU = torch.device("cpu")


def test_the_plan_names_every_step_and_says_how_the_node_is_timed() -> None:
    with_ros, without = gc.plan(False, ros=True), gc.plan(True, ros=False)
    assert [s.name for s in with_ros] == ["gpu-tests", "latency", "batch", "node-labels", "node-all"]
    assert "over loopback DDS" in with_ros[3].what and "without DDS" in without[3].what
    assert "collected only" in without[0].what and "collected only" not in with_ros[0].what
    assert sum(s.budget_s for s in with_ros) <= 480  # the whole call fits in 8 minutes


@pytest.mark.slow
def test_runtime_path_and_latency_rows_on_the_cpu(varied_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = str(varied_checkpoint)
    for all_outputs in (False, True):
        r = gc.runtime_node_latency(ckpt, CPU, 32, 48, 3, all_outputs)
        assert r["transport"].startswith("none") and r["frames"] == 3
        assert r["outputs"] == ("all" if all_outputs else "labels")
        assert r["end_to_end_ms_p50"] >= r["model_ms_p50"] > 0 and r["rate_hz"] > 0
        assert r["in_node_overhead_ms_p50"] >= 0
    rows = gc.model_latency(ckpt, CPU, 32, 48, rounds=2, warmup=1)
    assert [row["variant"] for row in rows] == ["torch fp32", "torch bf16 eager", "torch bf16 channels-last"]
    for row in rows:
        assert "error" not in row, row
        assert row["model_ms_p50"] > 0 and row["frame_ms_p50"] > 0 and row["model_fps"] > 0


def test_the_report_keeps_every_step_and_a_failed_one_says_why(tmp_path: Path) -> None:
    report = gc.Report(True, gc.environment(CPU), gc.plan(True, ros=False))
    report.run("gpu-tests", lambda: {"rc": 0, "passed": 3, "tail": "a\nlong\ntail"})
    report.run("latency", lambda: [{"variant": "torch fp32", "model_ms_p50": 1.5}, {"variant": "x", "error": "E"}])

    def broken() -> dict:
        raise RuntimeError("no GPU left")

    report.run("node-labels", broken)
    js, md = gc.write_report(report, tmp_path / "out")
    data = json.loads(js.read_text())
    assert data["dry_run"] and [s["name"] for s in data["plan"]] == [s.name for s in report.plan]
    assert data["steps"]["node-labels"]["error"] == "RuntimeError: no GPU left"
    assert set(data["seconds"]) == {"gpu-tests", "latency", "node-labels"}
    text = md.read_text()
    assert "# GPU check (dry run on the CPU)" in text
    assert "| variant | model_ms_p50 | error |" in text and "| torch fp32 | 1.5 |  |" in text
    assert "failed: RuntimeError: no GPU left" in text and "(not run)" in text  # node-all never ran
    assert "long" not in text  # a test run's tail stays in the JSON
