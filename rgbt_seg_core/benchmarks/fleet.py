"""``rgbt-seg bench fleet``: one fleet of bags evaluated three ways in one run (in this process with torch's default
threads, one Dask worker of one thread, two workers of one thread each), with the wall time of each, their ratios,
whether the three reports are identical, and each worker's peak resident memory (issue 27).

The wall time of a Dask run is the whole command's: the cluster's start, each worker's model load, the shards, the
cluster's shut-down. The start-up is also given on its own, since it is the part that does not shrink with more
workers: the bags must hold enough frames that the work dominates it, or no number of workers gets near N times
one (``--frames``). The in-process run builds its engine afresh too. The model is a random ``--model`` whose
classifier biases are zeroed, so that its labels vary across a frame (a random model otherwise predicts one class
everywhere, and identical reports would say little).
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any, Callable

import torch

from rgbt_seg_core.bags.from_dataset import dataset_to_bag
from rgbt_seg_core.bags.io import list_topics
from rgbt_seg_core.bags.pairs import plan_pairs
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.fleet.evaluate import FleetPlan, FleetResult, plan_fleet, run_fleet
from rgbt_seg_core.fleet.executor import Executor, InProcessExecutor
from rgbt_seg_core.fleet.report import bag_rows
from rgbt_seg_core.fleet.shards import cached_engine
from rgbt_seg_core.models import build_model
from rgbt_seg_core.models.checkpoint_file import save_checkpoint

__all__ = ["make_fleet", "run_fleet_benchmark", "format_fleet_table", "RUNS", "TARGET_TWO_WORKERS"]

RUNS = ("in-process", "1 worker", "2 workers")
TARGET_TWO_WORKERS = 1.7  # issue 27: two workers of one thread at least this many times faster than one


def make_fleet(folder: Path, *, bags: int = 8, frames: int = 96, size: tuple[int, int] = (128, 160),
               model: str = "rsfnet50_18", seed: int = 0) -> tuple[list[Path], Path]:
    """``bags`` bags of ``frames`` synthetic RGB/thermal/label triples each (one data set, each bag with its own
    timing jitter) and a random checkpoint whose labels vary, under ``folder``; made once, reused after."""
    if bags < 1 or frames < 1:
        raise ValueError(f"bench fleet: --bags and --frames must be >= 1, got {bags} and {frames}")
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"data_{frames}_{size[0]}x{size[1]}"
    if not data.exists():  # the test split is a quarter of the frames written
        write_synthetic_dataset(data, 4 * frames, SynthConfig(height=size[0], width=size[1], seed=seed))
    ds = build_dataset("synthetic", data, "test")
    paths = []
    for i in range(bags):
        bag = folder / f"bags_{frames}_{size[0]}x{size[1]}" / f"bag{i}"
        if not bag.exists():
            dataset_to_bag(ds, bag, fps=10.0, thermal_delay_ms=10.0, jitter_ms=2.0, seed=seed + i)
        paths.append(bag)
    checkpoint = folder / f"{model}_varied.safetensors"
    if not checkpoint.exists():
        torch.manual_seed(seed)
        net = build_model(model).eval()
        with torch.no_grad():  # the random features, not the random biases, decide each pixel's class
            for module in net.modules():
                if isinstance(module, torch.nn.Conv2d) and module.out_channels == net.config.num_classes \
                        and module.bias is not None:
                    module.bias.zero_()
        save_checkpoint(checkpoint, net)
    return paths, checkpoint


def _report(result: FleetResult) -> dict[str, Any]:
    """The report without its timings (frames per second), to compare runs."""
    rows = [{k: v for k, v in row.items() if k != "fps"} for row in bag_rows(result)]
    confusion = None if result.confusion is None else result.confusion.tolist()
    return {"bags": rows, "bad": [(b.bag, b.reason) for b in result.bad], "confusion": confusion}


def _timed(plan: FleetPlan, start: Callable[[], Executor]) -> dict[str, Any]:
    """One run from the executor's start to its shut-down; the peak RSS of each process that computed."""
    cached_engine.cache_clear()  # the in-process run loads its model afresh, as each worker does
    t0 = time.perf_counter()
    executor = start()
    started = time.perf_counter() - t0
    with executor:
        result = run_fleet(plan, executor)
        peaks = getattr(executor, "worker_peak_rss_mb", None)
        rss = sorted(peaks().values()) if peaks is not None else [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                   / 1024]
    return {"wall_s": time.perf_counter() - t0, "startup_s": started, "peak_rss_mb": rss,
            "shards": result.computed, "report": _report(result), "evaluated": result.evaluated}


def run_fleet_benchmark(folder: Path, *, bags: int = 8, frames: int = 96, size: tuple[int, int] = (128, 160),
                        model: str = "rsfnet50_18", shard_seconds: float = 0.0) -> dict[str, Any]:
    """The fleet of :func:`make_fleet` evaluated in-process, on one Dask worker and on two, one after another.

    Returns:
        ``rows`` (one per run: ``run``, ``workers``, ``threads``, ``wall_s``, ``startup_s``, ``peak_rss_mb`` per
        process, ``ratio_to_one_worker``), ``identical`` (the three reports, timings aside), ``two_workers_speedup``
        and ``faster_than_in_process``, and what the fleet was.
    """
    from rgbt_seg_core.fleet.dask_executor import DaskExecutor, start_forkserver  # the [fleet] extra

    paths, checkpoint = make_fleet(folder, bags=bags, frames=frames, size=size, model=model)
    values = {"checkpoint": str(checkpoint), "device": "cpu"}
    plan = plan_fleet(paths, lambda bag: plan_pairs(bag, {t: n for t, (_, n) in list_topics(bag).items()}), values,
                      str(checkpoint), shard_seconds)
    if plan.bad:
        raise RuntimeError(f"bench fleet: bags under {folder} could not be planned: {plan.bad}")
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    start_forkserver()  # once per command: the workers' import of torch and the engine, added to each Dask run below
    import_s = time.perf_counter() - t0
    runs: list[tuple[str, int, int, Callable[[], Executor]]] = [
        ("in-process", 0, threads, InProcessExecutor),
        ("1 worker", 1, 1, lambda: DaskExecutor(workers=1)),
        ("2 workers", 2, 1, lambda: DaskExecutor(workers=2))]
    rows = []
    for name, workers, per_worker, start in runs:
        row = {"run": name, "workers": workers, "threads": per_worker, **_timed(plan, start)}
        row["command_s"] = row["wall_s"] + (import_s if workers else 0.0)
        rows.append(row)
        torch.set_num_threads(threads)  # the in-process run's threads for whatever runs next here
    one = rows[1]["command_s"]
    for row in rows:
        row["ratio_to_one_worker"] = one / row["command_s"]
    reports = [row.pop("report") for row in rows]
    return {"bags": bags, "frames_per_bag": frames, "size": list(size), "model": model, "shards": len(plan.tasks),
            "pairs": rows[0]["evaluated"], "load_average_at_start": load, "worker_import_s": import_s, "rows": rows,
            "identical": all(r == reports[0] for r in reports[1:]),
            "two_workers_speedup": rows[2]["ratio_to_one_worker"],
            "faster_than_in_process": rows[2]["command_s"] < rows[0]["command_s"]}


def format_fleet_table(r: dict[str, Any]) -> str:
    """The printed summary: a row per run, then the verdicts."""
    h, w = r["size"]
    lines = [f"{r['bags']} bags x {r['frames_per_bag']} frames at {h}x{w}, random {r['model']}: {r['shards']} shards, "
             f"{r['pairs']} scored pairs; load average {r['load_average_at_start']:.2f} at the start",
             f"  {'run':<12} {'threads':>7} {'command s':>10} {'run s':>7} {'start s':>8} {'vs 1 worker':>12}  "
             "peak RSS MiB"]
    for row in r["rows"]:
        rss = ", ".join(f"{m:.0f}" for m in row["peak_rss_mb"])
        lines.append(f"  {row['run']:<12} {row['threads']:>7} {row['command_s']:>10.1f} {row['wall_s']:>7.1f} "
                     f"{row['startup_s']:>8.1f} {row['ratio_to_one_worker']:>11.2f}x  {rss}")
    lines.append(f"command s: the run, plus for Dask the workers' one-time import ({r['worker_import_s']:.1f} s); "
                 "start s: the executor's start; peak RSS: each process that computed")
    two = r["two_workers_speedup"]
    lines.append(f"reports identical: {'yes' if r['identical'] else 'NO'}")
    lines.append(f"2 workers vs 1 worker: {two:.2f}x (target >= {TARGET_TWO_WORKERS}x: "
                 f"{'met' if two >= TARGET_TWO_WORKERS else 'missed'}); faster than in-process: "
                 f"{'yes' if r['faster_than_in_process'] else 'no'}")
    return "\n".join(lines)
