"""The ``rgbt-seg`` commands that need rclpy: ``bag-play``, ``bag-eval --live`` and ``bench node``.

``rgbt-seg`` parses their arguments itself and finds these functions through the ``rgbt_seg.commands`` entry-point
group (setup.py), so the core never imports ROS and still shows their ``--help`` on a machine without it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.pairs import PairPlan

__all__ = ["bag_play", "bag_eval_live", "bench_node"]


def _ros() -> Any:
    try:
        from rgbt_seg_ros import bag_tools
    except ImportError as exc:  # rclpy and the message packages come with the [ros] extra
        raise RuntimeError(f"this command needs ROS 2 Python packages (pip install '.[ros]'): {exc}") from exc
    return bag_tools


def bag_eval_live(args: argparse.Namespace, topics: BagTopics | PairPlan,
                  print_summary: Callable[[dict, list[str]], None]) -> int:
    from tqdm import tqdm

    from rgbt_seg_core.models.checkpoint_file import read_meta

    tools = _ros()
    if not args.checkpoint:
        raise ValueError("bag-eval --live needs --checkpoint (the node's checkpoint: class names and count)")
    names = read_meta(args.checkpoint).class_names
    plan = topics if isinstance(topics, PairPlan) else None  # a bag of several camera pairs, scored pair by pair
    each: dict[str, BagTopics] = dict(topics.pairs) if isinstance(topics, PairPlan) else {"": topics}
    pairs = {p: tools.LivePair(t.rgb, t.thermal, t.labels, tools.node_labels_topic(args.node_labels_topic, p))
             for p, t in each.items()}
    with tqdm(desc="bag-eval --live", unit="msg", disable=None) as bar:
        results = tools.run_live_pairs(args.bag, pairs, num_classes=len(names), rate=args.rate,
                                       lockstep=args.lockstep, lockstep_timeout=args.lockstep_timeout,
                                       clock=args.clock, progress=lambda n: bar.update(1))
    if plan is None:
        s = _live_summary(args, results[""], names)
    else:
        s = _live_summary(args, tools.combined_live(list(results.values()), len(names)), names)
        s["camera_pairs"] = {p: _live_summary(args, r, names) for p, r in results.items()}
        s["ignored_topics"] = dict(plan.ignored)
        for p, own in s["camera_pairs"].items():
            print(f"\npair {p} ({pairs[p].node_labels}):")
            print_summary(own, names)
        print(f"\nall {len(results)} pairs (confusion matrices summed):")
    print_summary(s, names)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=2))
    return 3 if s["error"] else 0


def _live_summary(args: argparse.Namespace, res: Any, names: list[str]) -> dict[str, Any]:
    lat = np.array(res.latencies) if res.latencies else None
    s: dict[str, Any] = {
        "bag": args.bag, "mode": "live", "rate": args.rate, "lockstep": args.lockstep, "clock": args.clock,
        "pairs": res.labelled,
        "evaluated": res.labelled,
        "unpaired": 0, "bad_frames": 0, "frames": res.frames, "dropped": res.dropped,
        "end_to_end_ms_p50": round(float(1e3 * np.percentile(lat, 50)), 1) if lat is not None else None,
        "end_to_end_ms_p95": round(float(1e3 * np.percentile(lat, 95)), 1) if lat is not None else None,
        "error": res.play.error if res.play else None,
    }
    if res.labelled:
        s.update(res.confusion.scores(names).to_dict())
        s["confusion_matrix"] = res.confusion.matrix.tolist()
        s["unlabelled_predictions"] = res.confusion.unlabelled.tolist()  # misses below min_confidence, per class
    return s


def bag_play(args: argparse.Namespace) -> int:
    stats = _ros().run_bag_play(args.bag, args.topics, args.rate, args.loop, clock=args.clock)
    print(f"published {sum(stats.published.values())} messages in {stats.seconds:.1f} s: "
          + ", ".join(f"{t} {n}" for t, n in stats.published.items()))
    if stats.error:
        print(f"stopped early: {stats.error}")
        return 3
    return 0


def bench_node(args: argparse.Namespace) -> int:
    try:
        from rgbt_seg_ros.bench_node import bench_settings, run_node_benchmark
    except ImportError as exc:  # rclpy and the message packages come with the [ros] extra
        raise RuntimeError(f"bench node needs ROS 2 Python packages (pip install '.[ros]'): {exc}") from exc
    s = bench_settings(args)
    if getattr(args, "bench_pairs", 0):  # issue 26: one node serving N pairs against N nodes
        return _bench_pairs(args, s)
    r = run_node_benchmark(s.checkpoint or None, args.model, args.height, args.width, args.frames, args.all_outputs,
                           s.device, ceiling=args.ceiling, settings=s.values(),
                           compressed=getattr(args, "compressed", False))
    if args.json == "-":  # --json without a file: the JSON alone on stdout, as before
        print(json.dumps(r, indent=2))
        return 0
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    print(f"{r['model']} {args.height}x{args.width} on {r['device']}, {r['frames']} frames, "
          f"outputs: {r['outputs']}")
    print(f"  model latency p50      : {r['model_ms_p50']:9.2f} ms")
    print(f"  end-to-end latency p50 : {r['end_to_end_ms_p50']:9.2f} ms (p95 {r['end_to_end_ms_p95']:.2f})")
    print(f"  node overhead          : {r['overhead_ms']:9.2f} ms = {100 * r['overhead_ratio']:.2f} % of the model")
    print(f"  in-node overhead p50   : {r['in_node_overhead_ms_p50']:9.2f} ms (pair complete -> every output "
          "published, minus the model)")
    print(f"  rate                   : {r['rate_hz']:9.1f} Hz streaming ({r['one_in_flight_rate_hz']:.1f} Hz with one "
          "pair in flight)")
    for topic, size in r.get("compressed_bytes_per_frame", {}).items():
        print(f"  ~/{topic:<20}: {size / 1e3:9.1f} kB a message")
    return 0


def _bench_pairs(args: argparse.Namespace, settings: Any) -> int:
    from rgbt_seg_ros.bench_pairs import check_pairs_args, print_pairs_summary, run_pairs_benchmark

    check_pairs_args(args.bench_pairs, args.rate, args.frames, args.ceiling)
    r = run_pairs_benchmark(settings.checkpoint or None, args.model, args.height, args.width, args.bench_pairs,
                            args.rate, args.frames, args.all_outputs, settings)
    text = json.dumps(r, indent=2)
    if args.json == "-":
        print(text)
        return 0
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print_pairs_summary(r)
    return 0
