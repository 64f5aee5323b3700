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
                device="cpu", json="", ceiling=False)
    return argparse.Namespace(**{**base, **kw})


def test_bench_node_reports_latencies_and_the_overhead_ratio(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "node.json"
    assert bench_node(_args(tiny_checkpoint, json=str(out))) == 0
    r = json.loads(out.read_text())
    assert set(r) == {"model", "input", "device", "frames", "outputs", "ceiling", "model_ms_p50", "end_to_end_ms_p50",
                      "end_to_end_ms_p95", "in_node_overhead_ms_p50", "overhead_ms", "overhead_ratio", "rate_hz",
                      "one_in_flight_rate_hz"}
    assert r["model"] == "rsfnet50_18" and r["input"] == [64, 80] and r["frames"] == 3 and r["outputs"] == "labels"
    assert r["one_in_flight_rate_hz"] == pytest.approx(1e3 / r["end_to_end_ms_p50"], rel=0.5) and not r["ceiling"]
    assert r["rate_hz"] > 0
    assert r["model_ms_p50"] > 0 and r["end_to_end_ms_p95"] >= r["end_to_end_ms_p50"] > 0
    assert all(math.isfinite(r[k]) for k in ("overhead_ms", "overhead_ratio", "in_node_overhead_ms_p50"))
    assert r["overhead_ratio"] == pytest.approx(r["overhead_ms"] / r["model_ms_p50"], rel=0.05, abs=1e-3)


@pytest.mark.slow
def test_bench_node_with_all_outputs_prints_the_summary(tiny_checkpoint: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node(_args(tiny_checkpoint, json=False, all_outputs=True, frames=2)) == 0
    out = capsys.readouterr().out
    assert "rsfnet50_18 64x80 on cpu, 2 frames, outputs: all" in out
    ratio = re.search(r"node overhead\s+:\s+(-?[0-9.]+) ms = (-?[0-9.]+) % of the model", out)
    assert ratio is not None and math.isfinite(float(ratio.group(2)))
    for label in ("model latency p50", "end-to-end latency p50", "in-node overhead p50"):
        assert label in out


@pytest.mark.slow
def test_ceiling_swaps_in_a_constant_time_labeller_with_varied_labels(tiny_checkpoint: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from _support.varied_model import assert_varied
    from rgbt_seg_ros.bench_node import ConstantLabeller

    assert bench_node(_args(tiny_checkpoint, json="-", ceiling=True, all_outputs=True, frames=2)) == 0
    r = json.loads(capsys.readouterr().out)  # --json without a file: the JSON alone on stdout
    assert r["ceiling"] and r["model"].startswith("constant-time labeller") and r["outputs"] == "all"
    assert r["rate_hz"] > 0 and math.isfinite(r["in_node_overhead_ms_p50"])
    labeller = ConstantLabeller(9)
    rgb = torch.zeros(1, 3, 48, 64)
    labels = labeller.labels(rgb, rgb[:, :1])[0].numpy()
    assert_varied(labels)
    assert (labeller(rgb, rgb[:, :1]).argmax(1)[0].numpy() == labels).all()
    assert labeller(rgb, rgb[:, :1]) is labeller(rgb, rgb[:, :1])  # made once per size: constant time
    gated = labeller.forward_with_gates(rgb, rgb[:, :1])
    assert gated.gates[0].shape == (1, 2, 12, 16) and gated.confidence.shape == (1, 2)
