"""``rgbt-seg bag-eval --live`` and ``rgbt-seg bag-play``: the rclpy parts, imported only when used."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..bags.from_dataset import BagTopics


def _ros() -> Any:
    try:
        from rgbt_seg_ros import bag_tools
    except ImportError as exc:  # rclpy and the message packages come with the [ros] extra
        raise RuntimeError(f"this command needs ROS 2 Python packages (pip install '.[ros]'): {exc}") from exc
    return bag_tools


def run_live(args: argparse.Namespace, topics: BagTopics, print_summary: Callable[[dict, list[str]], None]) -> int:
    from tqdm import tqdm

    from ..checkpoint import read_meta

    tools = _ros()
    if not args.checkpoint:
        raise ValueError("bag-eval --live needs --checkpoint (the node's checkpoint: class names and count)")
    names = read_meta(args.checkpoint).class_names
    with tqdm(desc="bag-eval --live", unit="msg", disable=None) as bar:
        res = tools.run_live(args.bag, rgb_topic=topics.rgb, thermal_topic=topics.thermal, label_topic=topics.labels,
                             node_labels_topic=args.node_labels_topic, num_classes=len(names), rate=args.rate,
                             lockstep=args.lockstep, lockstep_timeout=args.lockstep_timeout,
                             progress=lambda n: bar.update(1))
    lat = np.array(res.latencies) if res.latencies else None
    s: dict[str, Any] = {
        "bag": args.bag, "mode": "live", "rate": args.rate, "lockstep": args.lockstep, "pairs": res.labelled,
        "evaluated": res.labelled,
        "unpaired": 0, "bad_frames": 0, "frames": res.frames, "dropped": res.dropped,
        "end_to_end_ms_p50": round(float(1e3 * np.percentile(lat, 50)), 1) if lat is not None else None,
        "end_to_end_ms_p95": round(float(1e3 * np.percentile(lat, 95)), 1) if lat is not None else None,
        "error": res.play.error if res.play else None,
    }
    if res.labelled:
        s.update(res.confusion.scores(names).to_dict())
    print_summary(s, names)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=2))
    return 3 if s["error"] else 0


def add_play_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bag-play",
        help="publish a bag's image topics through rclpy with the recorded timing",
        description="A stand-in for `ros2 bag play` where rosbag2 is not installed: Image and CompressedImage "
        "topics are published with their recorded timing (scaled by --rate).",
    )
    p.add_argument("bag")
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--loop", action="store_true")
    p.add_argument("--topics", nargs="+", help="topics to play (default: every image topic)")
    p.set_defaults(run=run_play)


def run_play(args: argparse.Namespace) -> int:
    stats = _ros().run_bag_play(args.bag, args.topics, args.rate, args.loop)
    print(f"published {sum(stats.published.values())} messages in {stats.seconds:.1f} s: "
          + ", ".join(f"{t} {n}" for t, n in stats.published.items()))
    if stats.error:
        print(f"stopped early: {stats.error}")
        return 3
    return 0
