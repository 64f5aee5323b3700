"""``rgbt-seg bench node``: the node's overhead over its model, end to end over loopback DDS, on a tiny model.

Called through ``rgbt_seg_ros.commands.bench_node`` (what the ``bench-node`` entry point names) rather than
``rgbt-seg bench node``: the core finds the command through the *installed* package's entry points, which a
source-tree run does not see.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from rgbt_seg_ros.commands import bench_node  # noqa: E402

pytestmark = pytest.mark.ros


def _args(checkpoint: Path, **kw) -> argparse.Namespace:
    base = dict(checkpoint=str(checkpoint), model="rsfnet50_18", height=64, width=80, frames=3, all_outputs=False,
                device="cpu", json="", ceiling=False, bench_pairs=0, rate=2.0)
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


def test_bench_node_pairs_compares_one_node_with_separate_nodes(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Two pairs, three frames each, slow enough that nothing should be dropped on two busy cores; the invariants
    hold either way."""
    out = tmp_path / "pairs.json"
    before = set(_children())
    assert bench_node(_args(tiny_checkpoint, json=str(out), bench_pairs=2, rate=4.0, frames=3)) == 0
    assert set(_children()) <= before  # every node process stopped and reaped
    r = json.loads(out.read_text())
    assert r["pairs"] == 2 and r["rate_hz"] == 4.0 and r["input"] == [64, 80] and r["model"] == "rsfnet50_18"
    assert set(r["setups"]) == {"one_node", "separate_nodes"}
    for setup, s in r["setups"].items():
        assert s["processes"] == (1 if setup == "one_node" else 2)
        assert set(s["pairs"]) == {"p0", "p1"}
        for p in s["pairs"].values():
            assert p["published"] == 3 and p["labelled"] + p["dropped"] == p["published"] and p["labelled"] >= 1
            assert p["latency_ms_p95"] >= p["latency_ms_p50"] > 0
        assert s["labelled"] == sum(p["labelled"] for p in s["pairs"].values()) and s["labelled_fps"] > 0
        assert s["rss_mib_peak"] >= s["rss_mib_steady"] > 0
        assert 1 <= s["mean_batch_size"] <= 2 and s["model_calls"] >= 1
        assert s["frames_in_calls"] == sum(int(k) * v for k, v in s["batch_sizes"].items())
    assert r["setups"]["separate_nodes"]["mean_batch_size"] == 1
    assert r["setups"]["one_node"]["model_call_ms_p50"] > 0
    assert r["setups"]["separate_nodes"]["model_call_ms_p50"] is None
    # every frame the one node segmented was labelled (labels subscribed), and each came from one batch
    one = r["setups"]["one_node"]
    assert one["frames_in_calls"] == one["labelled"]


@pytest.mark.parametrize("pairs", [-1, 17])
def test_bench_node_refuses_a_bad_pairs_count_naming_it(tiny_checkpoint: Path, pairs: int) -> None:
    from rgbt_seg_core.cli.bench import run_node

    with pytest.raises(ValueError, match="--pairs"):
        run_node(_args(tiny_checkpoint, bench_pairs=pairs, rate=1.0))
    with pytest.raises(ValueError, match="--pairs"):
        bench_node(_args(tiny_checkpoint, bench_pairs=pairs, rate=1.0))


def test_bench_node_pairs_refuses_a_bad_rate_and_the_ceiling(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="--rate"):
        bench_node(_args(tiny_checkpoint, bench_pairs=2, rate=0.0))
    with pytest.raises(ValueError, match="--ceiling"):
        bench_node(_args(tiny_checkpoint, bench_pairs=2, rate=1.0, ceiling=True))


def _children() -> list[int]:
    """This process's children still there (zombies included), from /proc."""
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()):
            kids.append(int(status.parent.name))
    return kids


def test_bench_node_pairs_stops_its_node_processes_when_it_fails(tiny_checkpoint: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rgbt_seg_ros import bench_pairs

    started: list = []
    real_start = bench_pairs._start_nodes

    def start(*a, **kw):
        started.extend(real_start(*a, **kw))
        return started

    def broken(*a, **kw):
        raise RuntimeError("the cameras broke")

    monkeypatch.setattr(bench_pairs, "_start_nodes", start)
    monkeypatch.setattr(bench_pairs, "_Cameras", broken)
    before = set(_children())
    with pytest.raises(RuntimeError, match="the cameras broke"):
        bench_node(_args(tiny_checkpoint, bench_pairs=2, rate=1.0))
    assert len(started) == 1 and started[0].proc.poll() is not None  # the one-node setup's process, stopped
    assert set(_children()) <= before


def test_compressed_subscribers_are_measured_with_the_bytes_each_message_held(
        tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node(_args(tiny_checkpoint, json="-", compressed=True, frames=2)) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["outputs"] == "labels + compressed"
    sizes = r["compressed_bytes_per_frame"]
    assert set(sizes) == {"labels/compressed", "color/compressed", "overlay/compressed"}
    assert 0 < sizes["labels/compressed"] < 64 * 80  # a PNG of one tiny model's labels: smaller than raw
    assert all(0 < size for size in sizes.values())
