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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from rgbt_seg_core.runtime.node_settings import checked_settings
from rgbt_seg_core.settings import Settings, render_yaml
from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

from .bag_tools import LivePair, LiveResult, combined_live, node_labels_topic, run_live_pairs

DEMO_FPS = 5.0  # frames at 128 x 160 leave a 2-core CPU time to spare
# the demo's own defaults, under --params and the flags: on the CPU, reliable QoS deep enough that a replay's frames
# wait rather than vanish in transit (drops are then the node's own, for lack of speed), one warm-up, and a camera
# silence timeout longer than the replay's start-up
DEMO_DEFAULTS = {"device": "cpu", "qos_reliability": "reliable", "qos_depth": 10, "warmup": 1,
                 "modality_timeout": 60.0}


@dataclass
class LiveDemo:
    live: LiveResult  # every pair's together (the one pair's for a single-pair node)
    seconds: float
    video: str | None  # the first pair's overlay video
    node_log: str
    pairs: dict[str, LiveResult] = field(default_factory=dict)  # each camera pair's own
    videos: dict[str, str] = field(default_factory=dict)


def demo_settings(checkpoint: Path, *, height: int, width: int, values: Mapping[str, Any] | None = None
                  ) -> Settings:
    """The node's settings for the demo: :data:`DEMO_DEFAULTS`, then ``values`` (from --params and the flags),
    with the demo's checkpoint and, unless given, a warm-up at the frame size."""
    size = {"warmup_height": height, "warmup_width": width}
    return checked_settings({**DEMO_DEFAULTS, **size, **(values or {}), "checkpoint": str(checkpoint)})


def start_node(settings: Settings, params_file: Path) -> subprocess.Popen:
    """segmentation_node in its own process, with ``settings`` written to ``params_file`` (as config/segment.yaml
    is) and given as its --params-file: every parameter, as a node on the robot takes them."""
    use_local_ros_env()
    params_file.write_text(render_yaml(settings, header="# rgbt_seg_ros.demo_live: the node's parameters\n"))
    cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_node", "--ros-args", "--params-file", str(params_file)]
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


def run_live_demo(bag: Path, settings: Settings, *, num_classes: int, palette: list[list[int]],
                  video: Path | None = None, rate: float = 1.0, lockstep: bool = False,
                  progress: Callable[[int], None] | None = None) -> LiveDemo:
    """The node in its own process, the bag played to it and each of its camera pairs (``settings.pairs``; the
    bag's topics by :func:`~rgbt_seg_core.bags.from_dataset.bag_topics`) scored on its own labels topic; an overlay
    video per pair (``NAME_<pair>.mp4`` where there are several)."""
    from rgbt_seg_core.bags.from_dataset import bag_topics
    from rgbt_seg_core.settings.pairs import SINGLE

    names = list(settings.pairs) or [SINGLE]
    pairs = {p: LivePair(t.rgb, t.thermal, t.labels, node_labels_topic("/segmentation_node/labels", p))
             for p, t in ((p, bag_topics(p)) for p in names)}
    proc = start_node(settings, bag.parent / "node_params.yaml")
    t0 = time.monotonic()
    try:
        results = run_live_pairs(str(bag), pairs, num_classes=num_classes, rate=rate, lockstep=lockstep,
                                 discovery_timeout=120.0, progress=progress)
    finally:
        seconds = time.monotonic() - t0
        log = stop_node(proc)
    videos = {}
    for p, res in results.items():
        path = video if video is None or p == SINGLE else video.with_name(f"{video.stem}_{p}{video.suffix}")
        written = _overlay_video(bag, pairs[p].rgb, res, palette, path)
        if written:
            videos[p] = written
    live = results[SINGLE] if SINGLE in results else combined_live(list(results.values()), num_classes)
    return LiveDemo(live, seconds, next(iter(videos.values()), None), log, results, videos)


def _overlay_video(bag: Path, rgb_topic: str, live: LiveResult, palette: list[list[int]],
                   video: Path | None) -> str | None:
    from rgbt_seg_core.bags.evaluate import _VideoSink
    from rgbt_seg_core.bags.io import read_images
    from rgbt_seg_core.inference.render import overlay
    from rgbt_seg_core.runtime.imageconv import decode_image

    if video is None or not live.labels:
        return None
    sink = _VideoSink(video, fps=5.0)
    for item in read_images(bag, [rgb_topic]):
        label = live.labels.get(item.stamp_ns)
        if label is not None:
            rgb = np.ascontiguousarray(decode_image(item.msg)[0])
            sink.add(overlay(rgb, label, palette))
    return sink.close()


def live_step(data: Path, checkpoint: Path, out: Path, *, fps: float = DEMO_FPS, seed: int = 0,
              lockstep: bool = False, split: str = "test", settings: Mapping[str, Any] | None = None) -> dict:
    """The test split as a bag (two cameras, thermal 10 ms late with jitter), scored offline through the node's
    runtime, then played live to the real node in its own process, both with the same settings
    (:func:`demo_settings` of ``settings``). With ``pairs`` among them, the split is each pair's, one node serves
    them all, and each pair is scored (``pairs`` in the report). Returns and writes DIR/live.json."""
    import json
    import shutil

    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.models.checkpoint_file import read_meta

    bag = out / "test_bag"
    print(f"[5/5] replaying the {split} split live through segmentation_node ({bag}, {fps:g} fps)")
    ds = build_dataset("synthetic", data, split)
    if bag.exists():
        shutil.rmtree(bag)
    h, w = ds.image_size or (ds[0].rgb.shape[:2])
    node_settings = demo_settings(checkpoint, height=h, width=w, values=settings)
    offline = _offline(ds, bag, checkpoint, node_settings, fps=fps, seed=seed)
    meta = read_meta(checkpoint)
    demo = run_live_demo(bag, node_settings, num_classes=len(meta.class_names), palette=meta.palette,
                         video=out / "live_overlay.mp4", lockstep=lockstep)
    report = _scores(demo.live, offline.combined, meta.class_names)
    report.update({"fps": fps, "lockstep": lockstep, "seconds": round(demo.seconds, 1), "video": demo.video})
    if node_settings.pairs:  # each pair's own, the figures above being every pair's together
        report["pairs"] = {p: {**_scores(demo.pairs[p], offline.pairs[p], meta.class_names),
                               "video": demo.videos.get(p)} for p in node_settings.pairs}
    (out / "live.json").write_text(json.dumps(report, indent=2))
    live, off_miou, live_miou = demo.live, report["offline_mIoU"], report["live_mIoU"]
    def pct(v: float | None) -> str:
        return f"{100 * v:.2f}" if v is not None else "-"

    print(f"      offline mIoU {pct(off_miou)} %, live mIoU {pct(live_miou)} % over {live.labelled} of "
          f"{live.frames} frames ({live.dropped} dropped: the node keeps only the newest pair when it falls behind)")
    if report["latency_ms_p50"] is not None:
        print(f"      latency camera publish -> labels: p50 {report['latency_ms_p50']:.1f} ms, p95 "
              f"{report['latency_ms_p95']:.1f} ms, max {report['latency_ms_max']:.1f} ms")
    for p, own in report.get("pairs", {}).items():
        print(f"      pair {p}: offline mIoU {pct(own['offline_mIoU'])} %, live mIoU {pct(own['live_mIoU'])} % over "
              f"{own['labelled_live']} of {own['frames']} frames")
    print(f"      overlay video: {demo.video}; summary: {out / 'live.json'}")
    if not live.labelled:
        raise RuntimeError("the node labelled no frame; its log:\n" + demo.node_log[-3000:])
    return report


def _offline(ds: Any, bag: Path, checkpoint: Path, settings: Settings, *, fps: float, seed: int) -> Any:
    """The split as a bag (two cameras, thermal 10 ms late with jitter; each camera pair of ``settings.pairs`` on
    its own topics) and its offline evaluation through the node's runtime, pair by pair."""
    from rgbt_seg_core.bags.evaluate import evaluate_pairs
    from rgbt_seg_core.bags.from_dataset import dataset_to_bag
    from rgbt_seg_core.bags.io import list_topics
    from rgbt_seg_core.bags.pairs import plan_pairs, replay_configs
    from rgbt_seg_core.inference.engine import InferenceEngine
    from rgbt_seg_core.settings.pairs import resolve_pairs

    dataset_to_bag(ds, bag, fps=fps, thermal_delay_ms=10, jitter_ms=2, seed=seed, pairs=settings.pairs)
    plan = plan_pairs(bag, {t: n for t, (_, n) in list_topics(bag).items()}, configured=settings.pairs)
    inference_config, configs = replay_configs(resolve_pairs(settings.values()), plan, warmup=0)
    return evaluate_pairs(bag, InferenceEngine(checkpoint, inference_config), plan, configs)[0]


def _scores(live: LiveResult, offline: Any, class_names: list[str]) -> dict[str, Any]:
    """Live against offline: frames, labels, drops, both mIoUs and the latency of the live labels."""
    lat = np.array(live.latencies) * 1e3 if live.latencies else None
    return {"frames": live.frames, "labelled_live": live.labelled, "dropped": live.dropped,
            "offline_mIoU": offline.confusion.scores(class_names).miou if offline.confusion is not None else None,
            "live_mIoU": live.confusion.scores(class_names).miou if live.labelled else None,
            "latency_ms_p50": float(np.percentile(lat, 50)) if lat is not None else None,
            "latency_ms_p95": float(np.percentile(lat, 95)) if lat is not None else None,
            "latency_ms_max": float(lat.max()) if lat is not None else None}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from rgbt_seg_core.cli.settings_options import add_settings_options

    p = argparse.ArgumentParser(prog="python -m rgbt_seg_ros.demo_live",
                                description="The last step of `make demo`: the synthetic test split of DIR (written "
                                "by `rgbt-seg demo`) as a bag, replayed live through segmentation_node.")
    p.add_argument("out", help="the demo folder (rgbt-seg demo --out)")
    p.add_argument("--fps", type=float, default=DEMO_FPS, help=f"camera rate of the bag (default {DEMO_FPS:g})")
    p.add_argument("--seed", type=int, default=0)
    add_settings_options(p, "demo_live")
    args = p.parse_args(argv)
    out = Path(args.out)
    checkpoint, data = out / "model_deploy.safetensors", out / "data"
    if not checkpoint.is_file() or not (data / "synth.json").is_file():
        print(f"demo_live: {out} holds no finished demo (run `rgbt-seg demo --out {out}` first)", file=sys.stderr)
        return 2
    try:
        values = demo_values(args)
        live_step(data, checkpoint, out, fps=args.fps, seed=args.seed, settings=values)
    except (RuntimeError, ValueError) as exc:
        print(f"demo_live: {exc}", file=sys.stderr)
        return 1
    return 0


def demo_values(args: Any) -> dict[str, Any]:
    """The settings given to ``demo_live``, ``--params`` then the flags, as values over the demo's own (checked
    here, so an error names the file or the command line)."""
    from rgbt_seg_core.cli.settings_options import flag_values, resolve_settings
    from rgbt_seg_core.settings import read_params_file

    resolve_settings(args, base=DEMO_DEFAULTS)
    given = read_params_file(args.params, args.node) if args.params else {}
    return {**given, **flag_values(args)}


if __name__ == "__main__":
    sys.exit(main())
