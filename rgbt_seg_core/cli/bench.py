"""``rgbt-seg bench``: speed measurements that print ratios (never timed unit tests)."""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch

from rgbt_seg_core.cli.extensions import run_command
from rgbt_seg_core.deploy import BACKENDS
from rgbt_seg_core.models import build_model, list_models


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks that print ratios", description="Benchmarks.")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
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
    n = bsub.add_parser(
        "node",
        help="ROS node overhead: end-to-end latency vs model latency (needs the ROS wheels)",
        description="Runs segmentation_node in-process, publishes RGB + thermal pairs over loopback DDS one at a "
        "time and times camera publish -> ~/labels received, against the model's own latency on the same pair. "
        "Prints the overhead and its ratio to the model latency (target <= 0.05 at 480x640 on CPU).",
    )
    n.add_argument("--checkpoint", help="checkpoint to run (default: a random --model)")
    n.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME")
    n.add_argument("--height", type=int, default=480)
    n.add_argument("--width", type=int, default=640)
    n.add_argument("--frames", type=int, default=10)
    n.add_argument("--all-outputs", action="store_true", help="also subscribe colour, overlay and gate topics")
    n.add_argument("--device", default="cpu")
    n.add_argument("--json", action="store_true")
    n.set_defaults(run=run_node)
    lat = bsub.add_parser(
        "latency",
        help="every backend and precision side by side: latency, ratio to fp32 eager, label agreement, mIoU",
        description="Runs each available variant (torch fp32 eager as the baseline, torch bf16 on CPUs, torch fp16 "
        "and bf16 on CUDA, and when installed ONNX Runtime fp32, OpenVINO fp32 and, on CPUs with native bf16, "
        "bf16, and TensorRT fp16 on CUDA) on the same frames, interleaved, from raw arrays to "
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
    lat.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    lat.set_defaults(run=run_latency)


def run_latency(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rgbt_seg_core.benchmarks.latency import run_latency_benchmark

    if args.rounds < 1 or args.warmup < 0:
        raise ValueError("--rounds must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = args.size
    r = run_latency_benchmark(args.checkpoint, height=h, width=w, device=args.device, backends=args.backends,
                              rounds=args.rounds, warmup=args.warmup, data_root=args.data_root, model=args.model)
    print(f"{r['checkpoint']} at {h}x{w} on {r['device']} ({r['threads']} threads; CPU flags "
          f"{' '.join(r['cpu_flags']) or 'none'}; native bf16: {'yes' if r['native_bf16'] else 'no'})")
    head = f"  {'variant':<18} {'median ms':>10} {'p95 ms':>9} {'vs fp32':>8} {'labels =':>9}"
    with_miou = "miou" in r["rows"][0]
    print(head + (f" {'mIoU':>7} {'change':>7}" if with_miou else ""))
    for row in r["rows"]:
        line = (f"  {row['variant']:<18} {row['median_ms']:>10.1f} {row['p95_ms']:>9.1f} "
                f"{row['ratio_to_fp32_eager']:>7.3f}x {100 * row['label_agreement']:>8.2f}%")
        if with_miou:
            line += f" {row['miou']:>7.2f} {row['miou_change_points']:>+7.2f}"
        print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


def run_node(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ValueError("--frames must be >= 1")
    return run_command("bench-node", args)


ABLATIONS: dict[str, dict] = {
    "rsf": {},
    "rgb_only": {"modalities": "rgb"},
    "thermal_only": {"modalities": "thermal"},
    "sum": {"fusion": "sum"},
}


def run_ablation(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
    from rgbt_seg_core.evaluation.evaluator import evaluate
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.training.config import resolve_train_config
    from rgbt_seg_core.training.trainer import Trainer
    from rgbt_seg_core.cli.demo import DEMO_FRAMES, DEMO_MODEL, DEMO_SIZE

    root = Path(args.data_root)
    if not (root / "synth.json").is_file():
        write_synthetic_dataset(root, DEMO_FRAMES, SynthConfig(height=DEMO_SIZE[0], width=DEMO_SIZE[1], seed=args.seed))
    test = build_dataset("synthetic", root, "test")
    rows = {}
    for name in args.variants:
        run_dir = Path(args.out) / name
        last = run_dir / "last.safetensors"
        if not last.is_file():
            cfg = resolve_train_config(
                dataset="synthetic", model=DEMO_MODEL, data_root=str(root), out=str(run_dir),
                max_iters=args.max_iters, seed=args.seed,
                sets=[f"model_options.{k}={v}" for k, v in ABLATIONS[name].items()],
            )
            Trainer(cfg).run()
        scores = evaluate(InferenceEngine(last, InferenceConfig(warmup=0)), test).scores()
        rows[name] = {"mIoU": scores.miou, "mAcc": scores.macc}
    ref = rows.get("rsf", {}).get("mIoU")
    for r in rows.values():
        r["ratio_to_rsf"] = (r["mIoU"] / ref) if ref else None
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'variant':<14} {'mIoU':>7} {'mAcc':>7} {'vs rsf':>7}")
        for name, r in rows.items():
            ratio = f"{r['ratio_to_rsf']:.3f}" if r["ratio_to_rsf"] is not None else "-"
            print(f"{name:<14} {100 * r['mIoU']:>7.2f} {100 * r['mAcc']:>7.2f} {ratio:>7}")
    return 0


ROBUSTNESS_SETTINGS = ("rgb-failure", "thermal-failure", "misalign:8", "misalign-dynamic:12")


def run_robustness(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
    from rgbt_seg_core.evaluation.evaluator import evaluate
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.evaluation.perturb import parse_settings
    from rgbt_seg_core.training.config import resolve_train_config
    from rgbt_seg_core.training.trainer import Trainer
    from rgbt_seg_core.cli.demo import DEMO_FRAMES, DEMO_SIZE

    settings = parse_settings(args.perturb)  # a typo fails before any training
    if len(set(args.models)) != 2:
        raise ValueError("--models takes two different model names")
    for name in args.models:
        if name not in list_models():
            raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    root = Path(args.data_root)
    if not (root / "synth.json").is_file():
        write_synthetic_dataset(root, DEMO_FRAMES, SynthConfig(height=DEMO_SIZE[0], width=DEMO_SIZE[1], seed=args.seed))
    test = build_dataset("synthetic", root, "test")
    scores: dict[str, dict[str, float]] = {}
    for model in args.models:
        run_dir = Path(args.out) / model
        last = run_dir / "last.safetensors"
        if not last.is_file():
            print(f"training {model} -> {run_dir}", flush=True)
            cfg = resolve_train_config(dataset="synthetic", model=model, data_root=str(root), out=str(run_dir),
                                       max_iters=args.max_iters, seed=args.seed)
            Trainer(cfg).run()
        engine = InferenceEngine(last, InferenceConfig(warmup=0))
        scores[model] = {"clean": evaluate(engine, test).scores().miou}
        for setting in settings:
            scores[model][setting.name] = evaluate(engine, test, perturb=setting).scores().miou
    a, b = args.models
    rows = []
    for setting in ["clean", *(s.name for s in settings)]:
        sa, sb = scores[a][setting], scores[b][setting]
        better = a if sa > sb + 0.005 else b if sb > sa + 0.005 else "tie (within 0.5 points)"
        rows.append({"setting": setting, a: sa, b: sb, f"{a}_drop": scores[a]["clean"] - sa,
                     f"{b}_drop": scores[b]["clean"] - sb, "better": better})
    if args.json:
        Path(args.json).write_text(json.dumps({"models": args.models, "test_frames": len(test), "rows": rows},
                                              indent=2))
    print(f"test split: {len(test)} frames at {test.image_size[0]}x{test.image_size[1]}; mIoU %, drop from clean")
    print(f"| setting | {a} | {b} | {a} drop | {b} drop | better |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['setting']} | {100 * r[a]:.2f} | {100 * r[b]:.2f} | {100 * r[a + '_drop']:.2f} | "
              f"{100 * r[b + '_drop']:.2f} | {r['better']} |")
    return 0


def _time_interleaved(
    models: list[torch.nn.Module], inputs: tuple[torch.Tensor, ...], iters: int, warmup: int
) -> list[list[float]]:
    """Time several models round-robin so clock drift and cache effects hit all of them alike."""
    sync = torch.cuda.synchronize if inputs[0].is_cuda else (lambda: None)
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode():
        for _ in range(warmup):
            for m in models:
                m(*inputs)
        sync()
        for i in range(iters):
            order = range(len(models)) if i % 2 == 0 else reversed(range(len(models)))
            for k in order:
                t = time.perf_counter()
                models[k](*inputs)
                sync()
                times[k].append(time.perf_counter() - t)
    return times


def run_reparam(args: argparse.Namespace) -> int:
    if args.iters < 1 or args.warmup < 0 or args.batch < 1:
        raise ValueError("--iters and --batch must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(args.batch, 3, args.height, args.width, generator=gen).to(device)
    thermal = torch.rand(args.batch, 1, args.height, args.width, generator=gen).to(device)
    torch.manual_seed(0)
    model = build_model(args.model).to(device).eval()
    deployed = copy.deepcopy(model).reparameterize()
    with torch.inference_mode():
        diff = float((deployed(rgb, thermal) - model(rgb, thermal)).abs().max())
    train_t, deploy_t = _time_interleaved([model, deployed], (rgb, thermal), args.iters, args.warmup)
    tm, dm = statistics.median(train_t), statistics.median(deploy_t)
    result = {
        "model": args.model,
        "input": [args.batch, args.height, args.width],
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "train_form_ms": round(tm * 1e3, 2),
        "deploy_form_ms": round(dm * 1e3, 2),
        "speedup": round(tm / dm, 3),
        "max_abs_logit_diff": diff,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.model} {args.batch}x{args.height}x{args.width} on {device} ({result['threads']} threads)")
        print(f"  training form : {result['train_form_ms']:9.2f} ms (median of {args.iters})")
        print(f"  deploy form   : {result['deploy_form_ms']:9.2f} ms")
        print(f"  speed-up      : {result['speedup']:.3f}x   max |logit diff| {diff:.2e}")
    return 0
