"""``rgbt-seg synth``: write a synthetic RGB-T street-scene data set in the MFNet layout."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic RGB-T data set (MFNet layout)",
        description="Synthetic day/night street scenes with the nine MFNet classes, written as 4-channel PNGs, "
        "label PNGs and train/val/test/test_day/test_night split files (2:1:1). Deterministic by seed.",
    )
    p.add_argument("--out", required=True,
                   help="output folder (new, or an earlier synth output with the same settings)")
    p.add_argument("--num", type=int, default=200, help="number of frames (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--height", type=int, default=480, help="frame height (default 480, as MFNet)")
    p.add_argument("--width", type=int, default=640, help="frame width (default 640, as MFNet)")
    p.add_argument("--misalign", type=int, default=0, help="max thermal shift against RGB in pixels (default 0)")
    p.add_argument("--misalign-dynamic", type=int, default=0, metavar="PX",
                   help="max shift of each object on its own in thermal, in pixels (default 0): the dynamic "
                   "offsets of fast-moving objects (CIMNet §IV-C), drawn per object and frame")
    p.add_argument("--night-fraction", type=float, default=0.5, help="share of night frames (default 0.5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = SynthConfig(height=args.height, width=args.width, seed=args.seed, misalign=args.misalign,
                      misalign_dynamic=args.misalign_dynamic, night_fraction=args.night_fraction)
    with tqdm(total=args.num, desc="synth", unit="frame", disable=None) as bar:
        splits = write_synthetic_dataset(args.out, args.num, cfg, progress=lambda i: bar.update(1))
    print(f"wrote {args.num} frames to {args.out}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return 0
