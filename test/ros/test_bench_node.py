"""``rgbt-seg bench node``: the node's overhead over its model, end to end over loopback DDS, on a tiny model.

Called through ``rgbt_seg_ros.commands.bench_node`` (what the ``bench-node`` entry point names) rather than
``rgbt-seg bench node``: the core finds the command through the *installed* package's entry points, which a
source-tree run does not see.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from rgbt_seg_ros.commands import bench_node  # noqa: E402

pytestmark = pytest.mark.ros


def _args(checkpoint: Path, **kw) -> argparse.Namespace:
    base = dict(checkpoint=str(checkpoint), model="rsfnet50_18", height=64, width=80, frames=3, all_outputs=False,
                device="cpu", json=True)
    return argparse.Namespace(**{**base, **kw})


def test_bench_node_reports_latencies_and_the_overhead_ratio(tiny_checkpoint: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node(_args(tiny_checkpoint)) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == {"model", "input", "device", "frames", "outputs", "model_ms_p50", "end_to_end_ms_p50",
                      "end_to_end_ms_p95", "in_node_overhead_ms_p50", "overhead_ms", "overhead_ratio"}
    assert r["model"] == "rsfnet50_18" and r["input"] == [64, 80] and r["frames"] == 3 and r["outputs"] == "labels"
    assert r["model_ms_p50"] > 0 and r["end_to_end_ms_p95"] >= r["end_to_end_ms_p50"] > 0
    assert all(math.isfinite(r[k]) for k in ("overhead_ms", "overhead_ratio", "in_node_overhead_ms_p50"))
    assert r["overhead_ratio"] == pytest.approx(r["overhead_ms"] / r["model_ms_p50"], rel=0.05, abs=1e-3)


def test_bench_node_with_all_outputs_prints_the_summary(tiny_checkpoint: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node(_args(tiny_checkpoint, json=False, all_outputs=True, frames=2)) == 0
    out = capsys.readouterr().out
    assert "rsfnet50_18 64x80 on cpu, 2 frames, outputs: all" in out
    ratio = re.search(r"node overhead\s+:\s+(-?[0-9.]+) ms = (-?[0-9.]+) % of the model", out)
    assert ratio is not None and math.isfinite(float(ratio.group(2)))
    for label in ("model latency p50", "end-to-end latency p50", "in-node overhead p50"):
        assert label in out
