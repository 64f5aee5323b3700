"""``rgbt-seg train``: train a model with the paper's protocol for the chosen data set."""

from __future__ import annotations

import argparse

from rgbt_seg_core.cli.options import parse_key_values
from rgbt_seg_core.data import DATASETS
from rgbt_seg_core.models import list_models
from rgbt_seg_core.training.config import list_presets, resolve_train_config, train_config_dir
from rgbt_seg_core.training.trainer import Trainer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model",
        description="Train with the paper's protocol for the data set and model (RSFNet Table I and §IV-B; the "
        "preset rgbt_seg_core/training/presets/<dataset>.yaml). Options layer as: preset < --config < --set < flags. "
        "Checkpoints: RUN_DIR/last.safetensors "
        "(every epoch, resumable) and RUN_DIR/best.safetensors (best validation mIoU). Multi-GPU: launch with "
        "torchrun --nproc-per-node N $(which rgbt-seg) train ...; several machines: docs/training.md.",
    )
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data-root", required=True, help="data set folder in its public layout")
    p.add_argument("--model", default="rsfnet50_18", choices=list_models(), metavar="NAME",
                   help="model name (default rsfnet50_18): " + ", ".join(list_models()))
    p.add_argument("--out", required=True, help="run folder for checkpoints, logs and config.json")
    p.add_argument("--preset", help="preset name (default: the data set's, the paper's recipe; mfnet_authors: the "
                   "authors' published recipe); presets: " + ", ".join(list_presets()))
    p.add_argument("--config", help="YAML file of training options (keys: see docs/training.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option, e.g. --set epochs=50 --set model_options.kernel_size=3")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a loader option (dataset_options.KEY), repeatable; kust4k: rgb_dir, thermal_dir, label_dir, "
                   "night_pattern, day_pattern")
    p.add_argument("--max-iters", type=int, help="cap the schedule at N iterations (short runs)")
    p.add_argument("--epochs", type=int, help="number of epochs (default from the preset)")
    p.add_argument("--batch-size", type=int, help="batch size (default from the preset)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--dist-timeout", type=float, metavar="SECONDS",
                   help="under torchrun: how long a process waits for the others before it stops with 'peer lost' "
                   "(default 300)")
    p.set_defaults(run=run)
    p.epilog = f"Presets are read from {train_config_dir()}."


def run(args: argparse.Namespace) -> int:
    cfg = resolve_train_config(
        dataset=args.dataset, model=args.model, config_file=args.config, sets=args.set, preset=args.preset,
        data_root=args.data_root, out=args.out, max_iters=args.max_iters, epochs=args.epochs,
        batch_size=args.batch_size, device=args.device, seed=args.seed, dist_timeout=args.dist_timeout,
    )
    if args.data_option:  # flags are the top layer: over the preset's, the --config file's and --set's options
        cfg.dataset_options = {**cfg.dataset_options, **parse_key_values(args.data_option, "--data-option")}
    result = Trainer(cfg).run(resume=args.resume)
    best = f", best val mIoU {result.best_miou:.4f}" if result.best_miou is not None else ""
    state = "stopped early (resume with --resume)" if result.stopped_early else "finished"
    print(f"{state} after {result.iterations} iterations{best}; checkpoints in {result.run_dir}")
    return 0
