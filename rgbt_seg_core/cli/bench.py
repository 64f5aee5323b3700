"""``rgbt-seg bench``: speed measurements that print ratios (never timed unit tests; DEVELOPERS.md)."""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time

import torch

from ..models import build_model, list_models


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
