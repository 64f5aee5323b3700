"""``rgbt-seg model-info``: parameters and MACs of a model in its training and deploy forms."""

from __future__ import annotations

import argparse
import json

from rgbt_seg_core.cli.options import add_model_options, model_options
from rgbt_seg_core.evaluation.profiling import model_summary
from rgbt_seg_core.models import build_model, list_models


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model-info",
        help="parameters and multiply-accumulates of a model",
        description="Parameter counts (total, RGB encoder, thermal encoder, rest) and multiply-accumulates of one "
        "forward pass, for the training form (multi-branch, BN, aux heads) and the deploy form "
        "(re-parameterised, BN folded).",
    )
    p.add_argument("name", choices=list_models(), metavar="NAME", help="model name: " + ", ".join(list_models()))
    p.add_argument("--height", type=int, default=480, help="input height for MACs (default 480)")
    p.add_argument("--width", type=int, default=640, help="input width for MACs (default 640)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_model_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.height < 1 or args.width < 1:
        raise ValueError(f"--height/--width must be positive, got {args.height}x{args.width}")
    model = build_model(args.name, **model_options(args, args.name))
    train = model_summary(model, args.height, args.width)
    deploy = model_summary(model.reparameterize(), args.height, args.width)
    result = {"model": args.name, "input": [args.height, args.width], "train_form": train, "deploy_form": deploy}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.name} at {args.height}x{args.width}")
    print(f"{'form':<8} {'total (M)':>10} {'RGB enc':>9} {'thm enc':>9} {'rest':>8} {'MACs (G)':>9}")
    for form, s in (("train", train), ("deploy", deploy)):
        pg = s["params"]
        rest = pg.get("rest", pg["total"] - pg["rgb_encoder"] - pg["thermal_encoder"])  # CIMNet lists its modules
        print(
            f"{form:<8} {pg['total'] / 1e6:>10.2f} {pg['rgb_encoder'] / 1e6:>9.2f} {pg['thermal_encoder'] / 1e6:>9.2f} "
            f"{rest / 1e6:>8.2f} {s['macs'] / 1e9:>9.2f}"
        )
    if "rest" in train["params"]:
        print("train-form parameters include the two auxiliary heads; MACs count one inference pass (no aux heads).")
    else:
        print("MACs count one inference pass; attention's matrix products are not counted (docs/cimnet.md).")
    return 0
