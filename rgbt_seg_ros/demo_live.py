"""The demo's last step: a data set split replayed live through the real node, as its own process, over loopback
DDS; the node's labels are scored like the offline evaluation of the same bag, and drawn into an overlay video.

This is what a user does on the robot (``ros2 launch``, ``ros2 bag play``), with the replay and the scoring of
``rgbt-seg bag-eval --live`` and the node started by ``python -m rgbt_seg_ros.segmentation_node``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

from .bag_tools import LiveResult, run_live

DEMO_FPS = 5.0  # frames at 128 x 160 leave a 2-core CPU time to spare


@dataclass
class LiveDemo:
    live: LiveResult
    seconds: float
    video: str | None
    node_log: str


def start_node(checkpoint: Path, *, height: int, width: int, extra: dict[str, Any] | None = None
               ) -> subprocess.Popen:
    """segmentation_node in its own process, reliable QoS deep enough that a replay's frames wait rather than
    vanish in transit (drops are then the node's own, for lack of speed)."""
    use_local_ros_env()
    params = {"checkpoint": str(checkpoint), "device": "cpu", "qos_reliability": "reliable", "qos_depth": 10,
              "warmup": 1, "warmup_height": height, "warmup_width": width, "modality_timeout": 60.0,
              **(extra or {})}
    cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_node", "--ros-args"]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
    return subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_node(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: the node's clean stop
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def run_live_demo(bag: Path, checkpoint: Path, *, num_classes: int, palette: list[list[int]], height: int,
                  width: int, video: Path | None = None, rate: float = 1.0, lockstep: bool = False,
                  progress: Callable[[int], None] | None = None) -> LiveDemo:
    from rgbt_seg_core.bags.evaluate import _VideoSink
    from rgbt_seg_core.bags.io import read_images
    from rgbt_seg_core.inference.render import overlay
    from rgbt_seg_core.runtime.imageconv import decode_image

    proc = start_node(checkpoint, height=height, width=width)
    t0 = time.monotonic()
    try:
        live = run_live(str(bag), rgb_topic="/rgb/image", thermal_topic="/thermal/image",
                        label_topic="/labels/ground_truth", node_labels_topic="/segmentation_node/labels",
                        num_classes=num_classes, rate=rate, lockstep=lockstep, discovery_timeout=120.0,
                        progress=progress)
    finally:
        seconds = time.monotonic() - t0
        log = stop_node(proc)
    written = None
    if video is not None and live.labels:
        sink = _VideoSink(video, fps=5.0)
        for item in read_images(bag, ["/rgb/image"]):
            label = live.labels.get(item.stamp_ns)
            if label is not None:
                rgb = np.ascontiguousarray(decode_image(item.msg)[0])
                sink.add(overlay(rgb, label, palette))
        written = sink.close()
    return LiveDemo(live, seconds, written, log)


def live_step(data: Path, checkpoint: Path, out: Path, *, fps: float = DEMO_FPS, seed: int = 0,
              lockstep: bool = False, split: str = "test") -> dict:
    """The test split as a bag (two cameras, thermal 10 ms late with jitter), scored offline through the node's
    runtime, then played live to the real node in its own process. Returns and writes DIR/live.json."""
    import json
    import shutil

    from rgbt_seg_core.bags.evaluate import evaluate_bag
    from rgbt_seg_core.bags.from_dataset import dataset_to_bag
    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.models.checkpoint_file import read_meta

    bag = out / "test_bag"
    print(f"[5/5] replaying the {split} split live through segmentation_node ({bag}, {fps:g} fps)")
    ds = build_dataset("synthetic", data, split)
    if bag.exists():
        shutil.rmtree(bag)
    dataset_to_bag(ds, bag, fps=fps, thermal_delay_ms=10, jitter_ms=2, seed=seed)
    engine = InferenceEngine(checkpoint, InferenceConfig(device="cpu", warmup=0))
    offline, _ = evaluate_bag(bag, engine)
    meta = read_meta(checkpoint)
    h, w = ds.image_size or (ds[0].rgb.shape[:2])
    demo = run_live_demo(bag, checkpoint, num_classes=len(meta.class_names), palette=meta.palette, height=h,
                         width=w, video=out / "live_overlay.mp4", lockstep=lockstep)
    live = demo.live
    lat = np.array(live.latencies) * 1e3 if live.latencies else None
    live_miou = live.confusion.scores(meta.class_names).miou if live.labelled else None
    off_miou = offline.confusion.scores(meta.class_names).miou if offline.confusion is not None else None
    report = {"frames": live.frames, "labelled_live": live.labelled, "dropped": live.dropped,
              "offline_mIoU": off_miou, "live_mIoU": live_miou,
              "latency_ms_p50": float(np.percentile(lat, 50)) if lat is not None else None,
              "latency_ms_p95": float(np.percentile(lat, 95)) if lat is not None else None,
              "latency_ms_max": float(lat.max()) if lat is not None else None,
              "fps": fps, "lockstep": lockstep, "seconds": round(demo.seconds, 1), "video": demo.video}
    (out / "live.json").write_text(json.dumps(report, indent=2))
    def pct(v: float | None) -> str:
        return f"{100 * v:.2f}" if v is not None else "-"

    print(f"      offline mIoU {pct(off_miou)} %, live mIoU {pct(live_miou)} % over {live.labelled} of "
          f"{live.frames} frames ({live.dropped} dropped: the node keeps only the newest pair when it falls behind)")
    if lat is not None:
        print(f"      latency camera publish -> labels: p50 {report['latency_ms_p50']:.1f} ms, p95 "
              f"{report['latency_ms_p95']:.1f} ms, max {report['latency_ms_max']:.1f} ms")
    print(f"      overlay video: {demo.video}; summary: {out / 'live.json'}")
    if not live.labelled:
        raise RuntimeError("the node labelled no frame; its log:\n" + demo.node_log[-3000:])
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m rgbt_seg_ros.demo_live",
                                description="The last step of `make demo`: the synthetic test split of DIR (written "
                                "by `rgbt-seg demo`) as a bag, replayed live through segmentation_node.")
    p.add_argument("out", help="the demo folder (rgbt-seg demo --out)")
    p.add_argument("--fps", type=float, default=DEMO_FPS, help=f"camera rate of the bag (default {DEMO_FPS:g})")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    checkpoint, data = out / "model_deploy.safetensors", out / "data"
    if not checkpoint.is_file() or not (data / "synth.json").is_file():
        print(f"demo_live: {out} holds no finished demo (run `rgbt-seg demo --out {out}` first)", file=sys.stderr)
        return 2
    try:
        live_step(data, checkpoint, out, fps=args.fps, seed=args.seed)
    except RuntimeError as exc:
        print(f"demo_live: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
