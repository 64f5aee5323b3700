"""``rgbt-seg bench``: speed measurements that print ratios (never timed unit tests).

Arguments and printing only; the measurements live in :mod:`rgbt_seg_core.benchmarks`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rgbt_seg_core.benchmarks.ablation import ABLATIONS
from rgbt_seg_core.benchmarks.robustness import ROBUSTNESS_SETTINGS
from rgbt_seg_core.cli.extensions import run_command
from rgbt_seg_core.cli.settings_options import add_settings_options
from rgbt_seg_core.deploy import BACKENDS
from rgbt_seg_core.models import list_models
from rgbt_seg_core.settings import schema
from rgbt_seg_core.settings.check import MAX_PAIRS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks that print ratios", description="Benchmarks.")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for add in (_add_reparam, _add_ablation, _add_robustness, _add_node, _add_latency, _add_outputs, _add_fleet):
        add(bsub)


def _add_reparam(bsub: argparse._SubParsersAction) -> None:
    r = bsub.add_parser(
        "reparam",
        help="deploy form vs training form inference speed",
        description="Times inference of the training form (multi-branch RSF blocks, unfolded BN) and of the "
        "re-parameterised deploy form on the same random input, checks they agree, and prints the speed-up.",
    )
    r.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME")
    r.add_argument("--height", type=int, default=480)
    r.add_argument("--width", type=int, default=640)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--iters", type=int, default=10, help="timed iterations per form, interleaved (default 10)")
    r.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    r.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    r.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(run=run_reparam)


def _add_ablation(bsub: argparse._SubParsersAction) -> None:
    a = bsub.add_parser(
        "ablation",
        help="RSFNet vs its RGB-only, thermal-only and sum-fusion variants (Tables VII, XIII)",
        description="Trains each variant with the same preset, data, seed and schedule on a synthetic data set "
        "and evaluates it on the test split; prints mIoU per variant and its ratio to full RSFNet.",
    )
    a.add_argument("--data-root", required=True, help="synthetic data set (rgbt-seg synth); created if missing")
    a.add_argument("--out", required=True, help="folder for the variants' runs")
    a.add_argument("--max-iters", type=int, help="iterations per variant (default: the demo preset's, 900)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--variants", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    a.add_argument("--json", action="store_true")
    a.set_defaults(run=run_ablation)


def _add_robustness(bsub: argparse._SubParsersAction) -> None:
    rb = bsub.add_parser(
        "robustness",
        help="RSFNet vs CIMNet under the robustness protocols (CIMNet Tables IV, V)",
        description="Trains each model with the same preset (synthetic.yaml), data, seed and iterations on a "
        "synthetic data set, then scores the test split clean and under each perturbation. Prints mIoU per model "
        "and setting, each setting's drop from clean, and which model is better there.",
    )
    rb.add_argument("--data-root", required=True, help="synthetic data set (rgbt-seg synth); created if missing")
    rb.add_argument("--out", required=True, help="folder for the models' runs (a finished run is reused)")
    rb.add_argument("--models", nargs=2, default=["rsfnet50_18", "cimnet_r18"], metavar="NAME",
                    help="the two models to compare (default rsfnet50_18 cimnet_r18)")
    rb.add_argument("--max-iters", type=int, help="iterations per model (default: the demo preset's, 900)")
    rb.add_argument("--perturb", nargs="+", default=list(ROBUSTNESS_SETTINGS), metavar="SETTING",
                    help="settings as for eval --perturb (default: " + " ".join(ROBUSTNESS_SETTINGS) + ")")
    rb.add_argument("--seed", type=int, default=0)
    rb.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    rb.set_defaults(run=run_robustness)


def _add_node(bsub: argparse._SubParsersAction) -> None:
    n = bsub.add_parser(
        "node",
        help="ROS node overhead: end-to-end latency vs model latency (needs the ROS wheels)",
        description="Runs segmentation_node in-process, publishes RGB + thermal pairs over loopback DDS one at a "
        "time and times camera publish -> ~/labels received, against the model's own latency on the same pair. "
        "Prints the overhead and its ratio to the model latency, the in-node overhead (pair complete -> every "
        "subscribed output published, minus the model) and the rate, streaming (a pair sent whenever fewer than two "
        "await their labels) and with one pair in flight. --ceiling swaps the "
        "model for a constant-time labeller, timing the node's own path alone (a benchmark instrument, not a node "
        "option). The node runs with the node's settings (--params FILE, flags), on the CPU unless --device says "
        "otherwise; without --checkpoint (or one in the file) a random --model. What the measurement needs stays "
        "pinned over the file, under the flags: reliable QoS, frozen_timeout 0 (one frame is sent again and again), "
        "modality_timeout 3600, warm-up once at --height x --width.",
    )
    n.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME")
    n.add_argument("--height", type=int, default=480)
    n.add_argument("--width", type=int, default=640)
    n.add_argument("--frames", type=int, default=10)
    n.add_argument("--all-outputs", action="store_true", help="also subscribe colour, overlay and gate topics")
    n.add_argument("--ceiling", action="store_true",
                   help="replace the model with a constant-time labeller: the node's own cost and its top rate")
    n.add_argument("--compressed", action="store_true",
                   help="also subscribe ~/labels|color|overlay/compressed: what encoding them adds to the in-node "
                   "overhead (against a run without), and the bytes each message held")
    n.add_argument("--json", metavar="OUT", nargs="?", const="-",
                   help="the results as JSON (in_node_overhead_ms_p50, end_to_end_ms_p50, rate_hz, ...): written to "
                   "OUT, or printed instead of the summary without OUT")
    # dest: not ``pairs``, the node's setting of that name (a list of names), which every settings flag reads
    n.add_argument("--pairs", type=int, default=0, metavar="N", dest="bench_pairs",
                   help="instead: N synthetic camera pairs streaming at --rate, through one node process serving all "
                   "N (pairs: [p0, ...]) and then through N single-pair node processes; per pair latency and drops, "
                   "labelled frames per second, the processes' summed RSS, model calls and mean batch size "
                   f"(1 to {MAX_PAIRS}; 0, the default: the one-node overhead benchmark above)")
    n.add_argument("--rate", type=float, default=2.0, metavar="HZ",
                   help="with --pairs: frames per second each pair publishes (default 2); --frames per pair")
    add_settings_options(n, "bench node")
    n.set_defaults(run=run_node)


def _add_latency(bsub: argparse._SubParsersAction) -> None:
    lat = bsub.add_parser(
        "latency",
        help="every backend and precision side by side: latency, ratio to fp32 eager, label agreement, mIoU",
        description="Runs each available variant (torch fp32 eager as the baseline, torch bf16 on CPUs, torch fp16 "
        "and bf16 on CUDA, and when installed ONNX Runtime fp32, OpenVINO fp32 and, on CPUs with native bf16, "
        "bf16, ONNX Runtime and OpenVINO INT8 from one file quantised on the spot, and TensorRT fp16 on CUDA) on "
        "the same frames, interleaved, from raw arrays to "
        "labels. Prints median and p95 latency, the ratio to the baseline, the share of labels equal to the "
        "baseline's and, with --data-root (a synthetic set), the test split's mIoU change against the baseline.",
    )
    lat.add_argument("--checkpoint", help="checkpoint (default: a random --model in deploy form)")
    lat.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME")
    lat.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    lat.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    lat.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS,
                     help="backends to include when installed (default: all; tensorrt needs a CUDA --device)")
    lat.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    lat.add_argument("--warmup", type=int, default=2)
    lat.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    lat.add_argument("--data-root", help="synthetic data set: agreement on its test frames and mIoU per variant")
    lat.add_argument("--no-int8", dest="int8", action="store_false",
                     help="leave out the INT8 rows (onnxruntime and openvino running one QDQ file, quantised from the "
                     "checkpoint on the spot: calibrated on --data-root's train split, else on the timing frames)")
    lat.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    lat.set_defaults(run=run_latency)


def run_latency(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.latency import run_latency_benchmark

    if args.rounds < 1 or args.warmup < 0:
        raise ValueError("--rounds must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = args.size
    r = run_latency_benchmark(args.checkpoint, height=h, width=w, device=args.device, backends=args.backends,
                              rounds=args.rounds, warmup=args.warmup, data_root=args.data_root, model=args.model,
                              int8=args.int8)
    print(f"{r['checkpoint']} at {h}x{w} on {r['device']} ({r['threads']} threads; CPU flags "
          f"{' '.join(r['cpu_flags']) or 'none'}; native bf16: {'yes' if r['native_bf16'] else 'no'})")
    if r["int8_calibration"]:
        print(f"int8 rows calibrated on {r['int8_calibration']}")
    head = f"  {'variant':<18} {'median ms':>10} {'p95 ms':>9} {'vs fp32':>8} {'labels =':>9}"
    with_miou = "miou" in r["rows"][0]
    print(head + (f" {'mIoU':>7} {'change':>7}" if with_miou else ""))
    for row in r["rows"]:
        line = (f"  {row['variant']:<18} {row['median_ms']:>10.1f} {row['p95_ms']:>9.1f} "
                f"{row['ratio_to_fp32_eager']:>7.3f}x {100 * row['label_agreement']:>8.2f}%")
        if with_miou:
            line += f" {row['miou']:>7.2f} {row['miou_change_points']:>+7.2f}"
        print(line)
    _write_json(args.json, r)
    return 0


def _add_outputs(bsub: argparse._SubParsersAction) -> None:
    o = bsub.add_parser(
        "outputs",
        help="bytes per second of each node output, raw against its compressed form, and the encoding time",
        description="Draws the node's outputs for synthetic street scenes with their true labels (what a model "
        "that is right publishes) with the engine's functions, encodes the compressed forms with the node's "
        "encoders (labels PNG, colour and overlay JPEG at --jpeg-quality), and prints each output's bytes per frame "
        "and per second at --rate, raw and compressed, and the median encoding time.",
    )
    o.add_argument("--height", type=int, default=480)
    o.add_argument("--width", type=int, default=640)
    o.add_argument("--frames", type=int, default=20)
    o.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="frames per second (default 10)")
    quality = schema.default("jpeg_quality")
    o.add_argument("--jpeg-quality", type=int, default=quality, help=f"as the node's jpeg_quality (default {quality})")
    o.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    o.set_defaults(run=run_outputs)


def run_outputs(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.outputs import format_outputs_table, run_outputs_benchmark

    r = run_outputs_benchmark(args.height, args.width, args.frames, args.rate, args.jpeg_quality)
    _write_json(args.json, r)
    print(format_outputs_table(r))
    return 0


def _add_fleet(bsub: argparse._SubParsersAction) -> None:
    f = bsub.add_parser(
        "fleet",
        help="bag-eval over a fleet of bags: in-process against 1 and 2 Dask workers (needs the [fleet] extra)",
        description="Makes --bags synthetic bags of --frames frames (in --out, reused when there) and a random "
        "--model whose labels vary, then evaluates them one after another in this process (torch's default "
        "threads), on one local Dask worker of one thread and on two. Prints each run's wall time (from the "
        "executor's start to its shut-down) and start-up, the ratios to one worker, whether the three reports are "
        "identical, and each process's peak resident memory. Target: two workers >= 1.7x one, and faster than "
        "in-process.",
    )
    f.add_argument("--out", default="bench_fleet", help="folder for the bags and the checkpoint (default bench_fleet)")
    f.add_argument("--bags", type=int, default=8)
    f.add_argument("--frames", type=int, default=96, help="frames per bag (default 96: the work outweighs the "
                   "workers' start-up)")
    f.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    f.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME")
    f.add_argument("--shard-seconds", type=float, default=0.0, help="as bag-eval's (default 0: whole bags)")
    f.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    f.set_defaults(run=run_fleet_bench)


def _write_json(path: str | None, result: dict) -> None:
    """``--json OUT``: the printed figures, whole, for a script or docs/benchmarks.md."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


def run_fleet_bench(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.fleet import format_fleet_table, run_fleet_benchmark

    r = run_fleet_benchmark(Path(args.out), bags=args.bags, frames=args.frames, size=(args.size[0], args.size[1]),
                            model=args.model, shard_seconds=args.shard_seconds)
    _write_json(args.json, r)
    print(format_fleet_table(r))
    return 0 if r["identical"] else 1


def run_node(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ValueError("--frames must be >= 1")
    if not 0 <= args.bench_pairs <= MAX_PAIRS:
        raise ValueError(f"--pairs must be between 1 and {MAX_PAIRS}, or 0 (got {args.bench_pairs})")
    return run_command("bench-node", args)


def run_ablation(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.ablation import run_ablation_benchmark
    from rgbt_seg_core.cli.demo import DEMO_FRAMES, DEMO_MODEL, DEMO_SIZE
    from rgbt_seg_core.data.synthetic import SynthConfig

    rows = run_ablation_benchmark(args.data_root, args.out, model=DEMO_MODEL, frames=DEMO_FRAMES,
                                  synth=SynthConfig(height=DEMO_SIZE[0], width=DEMO_SIZE[1], seed=args.seed),
                                  variants=args.variants, max_iters=args.max_iters, seed=args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'variant':<14} {'mIoU':>7} {'mAcc':>7} {'vs rsf':>7}")
        for name, r in rows.items():
            ratio = f"{r['ratio_to_rsf']:.3f}" if r["ratio_to_rsf"] is not None else "-"
            print(f"{name:<14} {100 * r['mIoU']:>7.2f} {100 * r['mAcc']:>7.2f} {ratio:>7}")
    return 0


def run_robustness(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.robustness import run_robustness_benchmark
    from rgbt_seg_core.cli.demo import DEMO_FRAMES, DEMO_SIZE
    from rgbt_seg_core.data.synthetic import SynthConfig

    r = run_robustness_benchmark(args.data_root, args.out, models=args.models, frames=DEMO_FRAMES,
                                 synth=SynthConfig(height=DEMO_SIZE[0], width=DEMO_SIZE[1], seed=args.seed),
                                 perturb=args.perturb, max_iters=args.max_iters, seed=args.seed,
                                 on_train=lambda model, run_dir: print(f"training {model} -> {run_dir}", flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps({k: r[k] for k in ("models", "test_frames", "rows")}, indent=2))
    a, b = r["models"]
    print(f"test split: {r['test_frames']} frames at {r['image_size'][0]}x{r['image_size'][1]}; mIoU %, drop from "
          "clean")
    print(f"| setting | {a} | {b} | {a} drop | {b} drop | better |")
    print("|---|---:|---:|---:|---:|---|")
    for row in r["rows"]:
        print(f"| {row['setting']} | {100 * row[a]:.2f} | {100 * row[b]:.2f} | {100 * row[a + '_drop']:.2f} | "
              f"{100 * row[b + '_drop']:.2f} | {row['better']} |")
    return 0


def run_reparam(args: argparse.Namespace) -> int:
    from rgbt_seg_core.benchmarks.reparam import run_reparam_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_reparam_benchmark(args.model, height=args.height, width=args.width, batch=args.batch,
                                   iters=args.iters, warmup=args.warmup, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        diff = result["max_abs_logit_diff"]
        print(f"{args.model} {args.batch}x{args.height}x{args.width} on {result['device']} ({result['threads']} "
              "threads)")
        print(f"  training form : {result['train_form_ms']:9.2f} ms (median of {args.iters})")
        print(f"  deploy form   : {result['deploy_form_ms']:9.2f} ms")
        print(f"  speed-up      : {result['speedup']:.3f}x   max |logit diff| {diff:.2e}")
    return 0
