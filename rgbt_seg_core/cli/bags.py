"""``rgbt-seg bag-from-dataset`` and ``rgbt-seg bag-eval``: rosbag2 tools (no ROS install needed, except --live)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from rgbt_seg_core.bags.evaluate import COMPRESSED_TOPICS, OUTPUT_TOPICS, PairsEvalResult, evaluate_pairs
from rgbt_seg_core.bags.extract import ExtractConfig, extract_bag, extract_config, prelabel_inference
from rgbt_seg_core.bags.from_dataset import BagTopics, bag_topics, dataset_to_bag
from rgbt_seg_core.bags.pairs import PairPlan, plan_pairs, replay_configs
from rgbt_seg_core.cli.extensions import run_command
from rgbt_seg_core.cli.options import add_dataset_options, dataset_options
from rgbt_seg_core.cli.settings_options import add_settings_options, flag_values
from rgbt_seg_core.data import DATASETS, build_dataset
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.runtime import RuntimeConfig
from rgbt_seg_core.runtime.node_settings import checked_pairs, pair_configs
from rgbt_seg_core.settings import read_params_file
from rgbt_seg_core.settings.pairs import SINGLE, PairSettings, pairs_from_text

DEFAULTS = BagTopics()


def add_parser(sub: argparse._SubParsersAction) -> None:
    _add_from_dataset(sub)
    _add_bag_eval(sub)
    _add_bag_play(sub)
    _add_bag_extract(sub)


def _add_from_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bag-from-dataset",
        help="write a data set split as a rosbag2 bag (RGB, thermal, ground-truth labels)",
        description="sensor_msgs/Image topics with the timing of a two-camera rig: RGB at --fps with jitter, "
        "thermal delayed by --thermal-delay-ms with its own jitter, labels on the RGB stamp. rosbag2 format "
        f"version 8; topics {DEFAULTS.rgb}, {DEFAULTS.thermal}, {DEFAULTS.labels}; with --pairs front,rear "
        f"each pair gets the same frames on its own topics ({bag_topics('front').rgb}, "
        f"{bag_topics('front').thermal}, {bag_topics('front').labels}).",
    )
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--out", required=True, help="bag folder to create")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--thermal-delay-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    add_dataset_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", type=pairs_from_text, default=[], metavar="NAME,...",
                   help="camera pairs, as the node's pairs parameter: each gets the split's frames on its own topics "
                   "(default: one pair on the topics above)")
    p.set_defaults(run=run_from_dataset)


def _add_bag_eval(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "bag-eval",
        help="evaluate a checkpoint on a bag, offline or live against a running node",
        description="Offline: feeds the bag in recorded order through the node's own runtime (frame checks, "
        "approximate-time pairing, camera-failure fallback, frozen-camera and clock-jump handling) and inference "
        "path, with the node's settings (its defaults; --params FILE replays a node's config/segment.yaml or "
        "`ros2 param dump`; a flag per setting overrides), keeping every pair, scores against the label topic when "
        "present, and reports throughput. "
        f"--out-bag writes {', '.join(OUTPUT_TOPICS.values())} for RViz; --video writes an MP4 of overlays. "
        "--live plays the bag to a running segmentation_node and scores its ~/labels instead (needs ROS).",
    )
    e.add_argument("bag", help="a bag (folder or .mcap file); several, globs (quoted: expanded here), a folder of "
                   "bags or @LIST.txt (a path a line) evaluate a fleet into one report (see docs/bags.md)")
    e.add_argument("more_bags", nargs="*", metavar="BAG", help="more bags, globs, folders of bags or @LIST.txt")
    _add_pair_flag(e)
    e.add_argument("--rgb-topic", default=DEFAULTS.rgb)
    e.add_argument("--thermal-topic", default=DEFAULTS.thermal)
    e.add_argument("--label-topic", default=DEFAULTS.labels,
                   help=f"ground-truth labels (default {DEFAULTS.labels}; scored when present)")
    e.add_argument("--out-bag", help="write labels/overlay/gates here (a new bag folder)")
    e.add_argument("--out-storage", choices=("mcap", "sqlite3"), default="mcap")
    e.add_argument("--out-compressed", action="store_true",
                   help=f"--out-bag: write the pictures as image_transport's compressed topics instead of raw "
                   f"({', '.join(COMPRESSED_TOPICS.values())}: labels lossless PNG, RGB and overlay JPEG at "
                   "--jpeg-quality, gates 16-bit PNG of round(gate * 65535)), as RViz and Foxglove ask for them "
                   "over a network")
    e.add_argument("--video", help="write an MP4 of overlays here (PNG frames if no MP4 encoder)")
    e.add_argument("--json", metavar="OUT", help="write the summary and metrics as JSON")
    e.add_argument("--live", action="store_true", help="play the bag to a running node and score its output")
    e.add_argument("--rate", type=float, default=1.0, help="--live: playback rate (default 1.0)")
    e.add_argument("--lockstep", action="store_true",
                   help="--live: publish an RGB frame only once the node has labelled the previous one (or "
                   "--lockstep-timeout passed): scores the node without real-time drops, on any machine")
    e.add_argument("--lockstep-timeout", type=float, default=10.0, help="--live --lockstep: seconds to wait")
    e.add_argument("--clock", action="store_true",
                   help="--live: also publish the bag's time on /clock; a node started with use_sim_time:=true then "
                   "times camera silence, frozen frames and clock jumps in the bag's time, as the offline replay "
                   "does, so its decisions match it frame for frame however busy the machine")
    e.add_argument("--node-labels-topic", default="/segmentation_node/labels",
                   help="--live: the node's labels (with several pairs each pair's: /segmentation_node/<pair>/labels)")
    add_settings_options(e, "bag-eval")  # --checkpoint among them: with --live, the running node's (class names)
    _add_fleet_flags(e)
    e.set_defaults(run=run_bag_eval)


def _add_bag_play(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser(
        "bag-play",
        help="publish a bag's image topics through rclpy with the recorded timing (needs ROS)",
        description="A stand-in for `ros2 bag play` where rosbag2 is not installed: Image and CompressedImage "
        "topics are published with their recorded timing (scaled by --rate).",
    )
    pl.add_argument("bag")
    pl.add_argument("--rate", type=float, default=1.0)
    pl.add_argument("--loop", action="store_true")
    pl.add_argument("--topics", nargs="+", help="topics to play (default: every image topic)")
    _add_pair_flag(pl, "play only this camera pair's camera topics (/<pair>/rgb/image, /<pair>/thermal/image)")
    pl.add_argument("--clock", action="store_true",
                    help="also publish the bag's time on /clock, each message's just before it (for nodes started "
                    "with use_sim_time:=true), as `ros2 bag play --clock` does")
    pl.set_defaults(run=run_bag_play)


def _add_bag_extract(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser(
        "bag-extract",
        help="turn a recorded bag into a training folder (MFNet layout), paired as the node pairs",
        description="Pairs RGB and thermal with the node's own runtime (approximate-time pairing, frame checks, "
        "clock-jump handling) and writes the kept pairs in the MFNet layout: images/ (4-channel PNG, thermal "
        "normalised as inference does and registered onto RGB when --thermal-homography or an offset is given), "
        "labels/ and labels_color/ (from the bag's label topic on the RGB stamp, else from --prelabel), "
        "train/val/test.txt (2:1:1 in turn) and extract.json. Without --every or --fps, near-identical pairs "
        "(the robot standing still) are skipped. Train on it with --dataset mfnet --data-root OUT. Pairing, frame "
        "checks, thermal normalisation and registration take the node's settings (--params FILE, a flag each).",
    )
    x.add_argument("bag", help="a bag (folder or .mcap file); several, globs (quoted: expanded here), a folder of "
                   "bags or @LIST.txt make one training folder with a subfolder per bag (see docs/bags.md)")
    x.add_argument("more_bags", nargs="*", metavar="BAG", help="more bags, globs, folders of bags or @LIST.txt")
    x.add_argument("--out", required=True, help="folder to create (the MFNet layout; with several camera pairs, "
                   "one such folder per pair: OUT/<pair>/; with several bags, one folder, resumed by a rerun)")
    _add_pair_flag(x)
    x.add_argument("--rgb-topic", default=DEFAULTS.rgb)
    x.add_argument("--thermal-topic", default=DEFAULTS.thermal)
    x.add_argument("--label-topic", default=DEFAULTS.labels, help="ground-truth labels, used when present")
    keep = x.add_mutually_exclusive_group()
    keep.add_argument("--every", type=int, help="keep every N-th pair")
    keep.add_argument("--fps", type=float, help="keep at most F pairs per second of recording")
    x.add_argument("--dedup", type=float, default=ExtractConfig.dedup,
                   help="without --every/--fps: skip a pair whose 40x32 grey thumbnails (RGB and thermal) differ "
                   f"from the last kept one by less than this mean level (0..255; default {ExtractConfig.dedup}; 0 "
                   "keeps all)")
    x.add_argument("--prelabel", metavar="CKPT",
                   help="label pairs the bag has no labels for with this checkpoint, as a start for annotation")
    x.add_argument("--keep-16bit", action="store_true",
                   help="also write the raw 16-bit thermal (registered) to thermal16/")
    add_settings_options(x, "bag-extract")
    g = x.add_argument_group("many bags", "several bags make one training folder: a subfolder per bag, the split "
                             "lists and extract.json combined; a rerun skips the bags done with the same checkpoint "
                             "and settings")
    _add_workers(g, "extracted")
    x.set_defaults(run=run_bag_extract)


def _add_workers(g: argparse._ArgumentGroup, done: str) -> None:
    """Where a fleet's bags run, and when a bad one fails the command: bag-eval's and bag-extract's alike."""
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="local worker processes, one thread each (default 1: in this process; more needs the [fleet] "
                   "extra, Dask)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on a running Dask scheduler (tcp://HOST:8786)")
    g.add_argument("--dashboard", action="store_true", help="log the Dask dashboard's address")
    g.add_argument("--strict", action="store_true", help=f"exit 3 when any input or bag could not be {done} "
                   "(default: only when none could)")


def _add_pair_flag(p: argparse.ArgumentParser, text: str | None = None) -> None:
    p.add_argument("--pair", action="append", default=[], metavar="NAME",
                   help=text or "a camera pair of the bag, on /<pair>/rgb/image, /<pair>/thermal/image and "
                   "/<pair>/labels/ground_truth (repeatable; default: the --params file's pairs, else every pair the "
                   "bag holds, else one pair on the topics below)")


def run_bag_play(args: argparse.Namespace) -> int:
    """``--pair`` (repeatable) becomes the pairs' camera topics, beside any ``--topics``; the rest is rclpy's."""
    from rgbt_seg_core.bags.io import list_topics

    if args.pair:
        found = {t: n for t, (_, n) in list_topics(args.bag).items()}
        plan = plan_pairs(args.bag, found, requested=args.pair)
        cameras = [t for topics in plan.pairs.values() for t in (topics.rgb, topics.thermal)]
        args.topics = list(dict.fromkeys((args.topics or []) + cameras))
    return run_command("bag-play", args)


def run_from_dataset(args: argparse.Namespace) -> int:
    ds = build_dataset(args.dataset, args.data_root, args.split, **dataset_options(args))
    ds.validate()
    with tqdm(total=len(ds), desc="bag", unit="frame", disable=None) as bar:
        counts = dataset_to_bag(ds, args.out, storage=args.storage, fps=args.fps,
                                thermal_delay_ms=args.thermal_delay_ms, jitter_ms=args.jitter_ms, seed=args.seed,
                                pairs=args.pairs, progress=lambda i: bar.update(1))
    print(f"wrote {args.out} ({args.storage}): " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    return 0


def print_summary(s: dict, class_names: list[str]) -> None:
    rows = [("pairs processed", s["pairs"]), ("pairs scored", s["evaluated"]), ("unpaired frames", s["unpaired"]),
            ("bad frames", s["bad_frames"])]
    for k in ("out_of_order", "clock_jumps", "single_modality", "dropped", "end_to_end_ms_p50", "end_to_end_ms_p95"):
        if k in s:
            rows.append((k.replace("_", " "), s[k]))
    if s.get("throughput_fps") is not None:
        rows.append(("throughput (pairs/s)", f"{s['throughput_fps']:.2f}"))
    if s.get("model_ms_p50") is not None:
        rows.append(("model latency p50 / p95 (ms)", f"{s['model_ms_p50']:.1f} / {s['model_ms_p95']:.1f}"))
    if "mIoU" in s:
        rows.append(("mIoU / mAcc (%)", f"{100 * s['mIoU']:.2f} / {100 * s['mAcc']:.2f}"))
    print()
    for k, v in rows:
        print(f"  {k:<30} {v}")
    if "per_class" in s:
        print(f"\n  {'class':<20} {'Acc':>6} {'IoU':>6}")
        for n in class_names:
            pc = s["per_class"][n]
            print(f"  {n:<20} {100 * pc['acc']:>6.1f} {100 * pc['iou']:>6.1f}")
    if s.get("error"):
        print(f"\n  the bag broke off: {s['error']}\n  (the figures above cover the frames read before that)")


def settings_values(args: argparse.Namespace) -> dict:
    """The flat parameter values: ``--params`` (checked alone first, so an error names the file), then the flags."""
    values: dict = {}
    if args.params:
        values.update(read_params_file(args.params, args.node))
        checked_pairs(values, source=str(args.params))
    values.update(flag_values(args))
    return values


def pair_settings(args: argparse.Namespace) -> PairSettings:
    """The node's settings and each camera pair's, as the node resolves a parameter file: ``--params`` (its
    ``pairs`` and ``<pair>.<setting>`` keys too; checked alone first, so an error names the file), then the flags
    over the node-wide values; a pair's own value in the file still wins for that pair, as it does on the node."""
    return checked_pairs(settings_values(args), source="command line" if flag_values(args) else "")


_TOPIC_FLAGS = (("rgb_topic", "--rgb-topic", DEFAULTS.rgb), ("thermal_topic", "--thermal-topic", DEFAULTS.thermal),
                ("label_topic", "--label-topic", DEFAULTS.labels))


def bag_plan(args: argparse.Namespace, ps: PairSettings) -> PairPlan:
    """The bag's camera pairs to replay (:func:`~rgbt_seg_core.bags.pairs.plan_pairs`): ``--pair``, else the
    parameter file's pairs, else every pair in the bag, else one pair on the topic flags. A topic flag names a
    single pair's topic: given, the bag's pairs are not looked for, and beside named pairs it is refused."""
    from rgbt_seg_core.bags.io import list_topics

    found = {t: n for t, (_, n) in list_topics(args.bag).items()}
    single = BagTopics(args.rgb_topic, args.thermal_topic, args.label_topic)
    given = [flag for dest, flag, default in _TOPIC_FLAGS if getattr(args, dest) != default]
    plan = plan_pairs(args.bag, found, requested=args.pair, configured=[p for p in ps.pairs if p != SINGLE],
                      single=single, find=not given)
    if plan.several and given:
        raise ValueError(f"{given[0]}: names a single pair's topic; the bag's camera pairs "
                         f"({', '.join(plan.pairs)}) are each on /<pair>/rgb/image, /<pair>/thermal/image and "
                         "/<pair>/labels/ground_truth (choose them with --pair)")
    return plan


def run_bag_extract(args: argparse.Namespace) -> int:
    from rgbt_seg_core.bags.io import list_topics

    if _is_extract_fleet(args):
        return run_fleet_extract(args)
    ps = pair_settings(args)
    plan = bag_plan(args, ps)
    configs = pair_configs(ps, realtime=False, warmup=0)
    counts = list_topics(args.bag)
    status = 0
    for pair, topics in plan.pairs.items():
        runtime, inference = configs.get(pair) or configs[SINGLE]
        out = Path(args.out) / pair if plan.several else Path(args.out)
        if plan.several:
            print(f"pair {pair}:")
        status = max(status, _extract_one(args, topics, out, runtime, inference, counts))
    return status


def _extract_one(args: argparse.Namespace, topics: BagTopics, out: Path, runtime: RuntimeConfig,
                 inference: InferenceConfig, counts: dict) -> int:
    """One camera pair of the bag into one MFNet-layout folder, with that pair's settings."""
    config = extract_config(inference, every=args.every, fps=args.fps, dedup=args.dedup, keep_16bit=args.keep_16bit)
    engine = InferenceEngine(args.prelabel, prelabel_inference(inference)) if args.prelabel else None
    total = sum(counts[t][1] for t in (topics.rgb, topics.thermal, topics.labels) if t in counts)
    with tqdm(total=total or None, desc="bag-extract", unit="msg", disable=None) as bar:
        res = extract_bag(args.bag, out, topics=topics, config=config, runtime_config=runtime,
                          prelabel=engine, progress=bar.update)
    print(f"{res.pairs} pairs, {res.written} written to {out} (train {res.splits.get('train', 0)}, val "
          f"{res.splits.get('val', 0)}, test {res.splits.get('test', 0)}); skipped: {res.duplicates} "
          f"near-duplicates, {res.skipped_every + res.skipped_fps} by --every/--fps")
    print(f"labels: {res.labelled_from_bag} from the bag, {res.prelabelled} from --prelabel, {res.unlabelled} "
          f"without (annotate labels/<name>.png before training); frames: "
          f"{res.runtime.get('bad_rgb', 0) + res.runtime.get('bad_thermal', 0)} bad, {res.unpaired} unpaired")
    if res.error:
        print(f"the bag broke off: {res.error} (the frames read before it are written)")
        return 3
    return 0


_EXTRACT_FLEET_FLAGS = (("workers", 1), ("scheduler", None), ("dashboard", False), ("strict", False))


def _is_extract_fleet(args: argparse.Namespace) -> bool:
    """Several inputs, a glob, a list, a folder of bags or a fleet flag; else one bag, as bag-extract always ran."""
    from rgbt_seg_core.fleet.inputs import has_glob, is_bag

    if args.more_bags or any(getattr(args, dest) != default for dest, default in _EXTRACT_FLEET_FLAGS):
        return True
    path = Path(args.bag)
    return args.bag.startswith("@") or has_glob(args.bag) or (path.is_dir() and not is_bag(path))


def run_fleet_extract(args: argparse.Namespace) -> int:
    """Every bag the inputs name into one training folder (rgbt_seg_core.fleet.prelabel). Exit 3 when no bag could
    be extracted, or with --strict when any could not; bad bags and inputs are listed either way."""
    from rgbt_seg_core.fleet.evaluate import FleetProgress, make_executor
    from rgbt_seg_core.fleet.inputs import expand_inputs
    from rgbt_seg_core.fleet.prelabel import PrelabelResult, plan_prelabel, prelabel_fleet, start_fleet_folder

    ps = pair_settings(args)
    keep = {"every": args.every, "fps": args.fps, "dedup": args.dedup, "keep_16bit": args.keep_16bit}
    ExtractConfig(**keep)  # the keep rules refused before any bag is read
    found = expand_inputs([args.bag, *args.more_bags])
    executor = make_executor(args.workers, args.scheduler, args.dashboard)  # says what to install, before any work
    with executor:
        out = start_fleet_folder(args.out)
        plan = plan_prelabel(found.bags, lambda bag: bag_plan(argparse.Namespace(**{**vars(args), "bag": str(bag)}),
                                                              ps), settings_values(args), args.prelabel, keep, out)
        progress = FleetProgress(plan)
        with tqdm(total=sum(plan.frames.values()) or None, desc="bag-extract", unit="msg", disable=None) as bar:
            def seen(task, outcome) -> None:
                progress.note(task, isinstance(outcome, PrelabelResult))
                bar.update(task.messages)
                bar.set_postfix(progress.postfix(), refresh=False)

            fleet = prelabel_fleet(plan, executor, seen)
    _print_fleet_extract(out, fleet, found.bad)
    if not fleet.done:
        print("\n  nothing could be extracted")
        return 3
    return 3 if args.strict and (fleet.bad or found.bad) else 0


def _print_fleet_extract(out: Path, fleet, bad_inputs) -> None:  # the fleet's types: imported lazily, as the fleet is
    print(f"\n  {'bag':<40} {'subfolder':<24} {'pairs':>6} {'written':>8} {'prelabelled':>12}")
    for d in fleet.done:
        r = d.result
        name = d.bag + (f" ({d.pair})" if d.pair else "")
        print(f"  {name:<40} {d.subfolder:<24} {r.get('pairs', 0):>6} {r.get('written', 0):>8} "
              f"{r.get('prelabelled', 0):>12}" + ("  (done before)" if d.skipped else ""))
    for bag, reason in fleet.bad.items():
        print(f"  bad bag {bag}: {reason}")
    for bad in bad_inputs:
        print(f"  bad input {bad.input}: {bad.reason}")
    written = sum(d.result.get("written", 0) for d in fleet.done)
    print(f"\n  {len(fleet.done)} bag(s), {written} pairs in {out} (train/val/test.txt and extract.json combined); "
          f"{fleet.computed} extracted now, {fleet.skipped} done before")


def run_bag_eval(args: argparse.Namespace) -> int:
    if _is_fleet(args):
        return run_fleet_eval(args)
    if args.out_compressed and not args.out_bag:
        raise ValueError("bag-eval --out-compressed says how --out-bag writes its pictures: give --out-bag too")
    ps = pair_settings(args)
    settings = ps.node
    if not settings.checkpoint:
        raise ValueError("bag-eval needs --checkpoint (or a checkpoint in the --params file)")
    args.checkpoint = settings.checkpoint
    plan = bag_plan(args, ps)
    if args.live:
        return run_command("bag-eval-live", args, plan.pairs[SINGLE] if not plan.several else plan, print_summary)
    # the node's own configs, offline: every pair kept (no newest-only slot), no warm-up
    inference, configs = replay_configs(ps, plan, warmup=0)
    engine = InferenceEngine(settings.checkpoint, inference)
    explicit_labels = args.label_topic != DEFAULTS.labels
    with tqdm(desc="bag-eval", unit="pair", disable=None) as bar:
        res, videos = evaluate_pairs(
            args.bag, engine, plan, configs, use_labels=True if explicit_labels else None,
            out_bag=Path(args.out_bag) if args.out_bag else None, out_storage=args.out_storage,
            video=Path(args.video) if args.video else None, progress=lambda n: bar.update(1),
            out_compressed=args.out_compressed)
    s = _eval_summary(res, plan, engine.class_names)
    s["checkpoint"] = args.checkpoint
    if args.out_bag:
        print(f"\n  output bag: {args.out_bag}")
    for pair, video in videos.items():
        print(f"  overlay video{' of ' + pair if pair else ''}: {video}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=2))
    return 3 if res.error else 0


def _eval_summary(res: PairsEvalResult, plan: PairPlan, class_names: list[str]) -> dict:
    """Printed, and returned for --json: a single pair's summary as ever; with several pairs each pair's, then
    the combined one (metrics from the summed confusion matrix) whose keys a single pair's summary has."""
    if not plan.several:
        s = res.pairs[SINGLE].summary(class_names)
        print_summary(s, class_names)
        return s
    s = res.summary(class_names)
    for pair, own in s["camera_pairs"].items():
        print(f"\npair {pair} ({', '.join(plan.used(pair))}):")
        print_summary(own, class_names)
    if len(plan.pairs) > 1:
        print(f"\nall {len(plan.pairs)} pairs (confusion matrices summed):")
        print_summary(s, class_names)
    if plan.ignored:
        print("\n  topics no pair uses: " + ", ".join(f"{t} ({n})" for t, n in plan.ignored.items()))
    return s


# ---------------------------------------------------------------------------------------------------- many bags
_FLEET_FLAGS = (("shard_seconds", 0.0), ("cache", None), ("workers", 1), ("scheduler", None), ("dashboard", False),
                ("strict", False), ("report_dir", None))


def _add_fleet_flags(e: argparse.ArgumentParser) -> None:
    g = e.add_argument_group("many bags", "several bags make one report: confusion matrices summed, a table of the "
                             "bags worst first, bad bags listed with their reason")
    g.add_argument("--report-dir", metavar="DIR", help="write report.md, metrics.json, bags.csv, confusion.png and "
                   "iou.png here (as eval --report-dir)")
    g.add_argument("--shard-seconds", type=float, default=0.0, metavar="S",
                   help="cut each bag into shards of S seconds of bag time that run and are cached on their own, so a "
                   "long bag does not hold up the others (default 0: whole bags); pairing is exact across borders")
    g.add_argument("--cache", metavar="DIR", help="keep each finished shard's result here: a rerun skips it, a "
                   "changed bag, checkpoint or setting computes it again")
    _add_workers(g, "evaluated")


def _is_fleet(args: argparse.Namespace) -> bool:
    """Several inputs, a glob, a list, a folder of bags or a fleet flag; else one bag, as bag-eval always ran."""
    from rgbt_seg_core.fleet.inputs import has_glob, is_bag

    if args.more_bags or any(getattr(args, dest) != default for dest, default in _FLEET_FLAGS):
        return True
    text = args.bag
    path = Path(text)
    return text.startswith("@") or has_glob(text) or (path.is_dir() and not is_bag(path))


def _inputs(args: argparse.Namespace) -> list[str]:
    return [args.bag, *args.more_bags]


def _fleet_flags_refused(args: argparse.Namespace) -> None:
    for flag, dest in (("--live", "live"), ("--out-bag", "out_bag"), ("--out-compressed", "out_compressed"),
                       ("--video", "video")):
        if getattr(args, dest, None):
            raise ValueError(f"bag-eval {flag} takes one bag; {' '.join(_inputs(args))} names a fleet")


def run_fleet_eval(args: argparse.Namespace) -> int:
    """Every bag the inputs name, one report (rgbt_seg_core.fleet). Exit 3 when nothing could be evaluated, or with
    --strict when anything could not; bad bags and inputs are listed either way."""
    from rgbt_seg_core.fleet.cache import ShardCache
    from rgbt_seg_core.fleet.evaluate import plan_fleet
    from rgbt_seg_core.fleet.inputs import expand_inputs
    from rgbt_seg_core.fleet.report import fleet_json, print_fleet, write_report

    _fleet_flags_refused(args)
    values = settings_values(args)
    ps = pair_settings(args)
    if not ps.node.checkpoint:
        raise ValueError("bag-eval needs --checkpoint (or a checkpoint in the --params file)")
    found = expand_inputs(_inputs(args))
    cache = ShardCache(args.cache) if args.cache else None
    plan = plan_fleet(found.bags, lambda bag: bag_plan(argparse.Namespace(**{**vars(args), "bag": str(bag)}), ps),
                      values, ps.node.checkpoint, args.shard_seconds, cache)
    result = _run_fleet(args, plan, cache)
    print_fleet(result, found.bad)
    meta = {"checkpoint": ps.node.checkpoint, "inputs": _inputs(args), "shard_seconds": args.shard_seconds}
    if not result.evaluated or result.confusion is None:
        print("\n  nothing could be evaluated")
        return 3
    if args.report_dir:
        print(f"\n  report written to {write_report(args.report_dir, result, meta, 'bag-eval', found.bad)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(fleet_json(result, meta, found.bad))
    return 3 if args.strict and (result.bad or found.bad) else 0


def _run_fleet(args: argparse.Namespace, plan, cache):  # the fleet's types: imported lazily, as the fleet is
    """The shards on the chosen executor, one progress bar over frames with the bags done, failed and left."""
    from rgbt_seg_core.fleet.evaluate import FleetProgress, make_executor, run_fleet
    from rgbt_seg_core.fleet.shards import ShardResult

    progress = FleetProgress(plan)
    executor = make_executor(args.workers, args.scheduler, args.dashboard)
    with executor, tqdm(total=sum(plan.frames.values()) or None, desc="bag-eval", unit="frame",
                        disable=None) as bar:
        def seen(task, outcome) -> None:
            ok = isinstance(outcome, ShardResult) and outcome.error is None
            progress.note(task, ok)
            if isinstance(outcome, ShardResult):
                bar.update(outcome.frames)
            bar.set_postfix(progress.postfix(), refresh=False)

        try:
            result = run_fleet(plan, executor, cache, seen)
        except KeyboardInterrupt:
            if cache is not None:
                print(f"\ninterrupted: the shards finished so far are kept in {cache.root}", flush=True)
            raise
    print(f"\n  shards: {result.computed} computed, {result.cached} from the cache"
          + (f" ({cache.root})" if cache is not None else ""))
    return result
