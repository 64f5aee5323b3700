"""``rgbt-seg predict``: segment one RGB + thermal pair of any size."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from rgbt_seg_core.cli.options import add_inference_options, inference_options
from rgbt_seg_core.data.base import read_image
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine, UnusableFrame
from rgbt_seg_core.inference.preprocess import ThermalNorm
from rgbt_seg_core.inference.render import colorize, overlay


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="segment one RGB + thermal pair",
        description="Writes <stem>_labels.png (class ids), <stem>_color.png and <stem>_overlay.png, through the "
        "inference path of the ROS node and every other tool. Thermal may be 8-bit, 16-bit or 32-bit float (TIFF); "
        "16-bit and float use --thermal-range or per-frame percentiles; NaN/inf pixels count as 0 (a frame with no "
        "finite pixel is refused). A thermal image of another size is normalised, then resized to the RGB image, or "
        "warped onto it with --thermal-homography.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rgb", required=True, help="colour image (any format OpenCV reads)")
    p.add_argument("--thermal", required=True, help="thermal image, 8- or 16-bit single channel")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--thermal-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="fixed range for 16-bit thermal (default: 1st-99th percentile per frame)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    add_inference_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    norm = ThermalNorm(mode="fixed" if args.thermal_range else "auto",
                       range=tuple(args.thermal_range) if args.thermal_range else None)
    bgr = read_image(args.rgb, cv2.IMREAD_COLOR)
    thermal = read_image(args.thermal, cv2.IMREAD_UNCHANGED)
    if thermal.ndim == 3:
        thermal = thermal[:, :, 0] if thermal.shape[2] in (3, 4) else thermal.squeeze(2)
    if thermal.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"{args.thermal}: thermal must be 8-bit, 16-bit or 32-bit float, got {thermal.dtype}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    # the node's path: thermal normalised at its own size, then resized or warped to the RGB frame (in the engine)
    engine = InferenceEngine(args.checkpoint, InferenceConfig(
        **inference_options(args), thermal_norm=norm, warmup=0))
    try:
        label = engine.predict(rgb, thermal).labels
    except UnusableFrame as exc:
        raise ValueError(f"{args.thermal}: {exc}") from exc
    meta = engine.meta
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.rgb).stem
    cv2.imwrite(str(out / f"{stem}_labels.png"), label)
    cv2.imwrite(str(out / f"{stem}_color.png"), colorize(label, meta.palette)[:, :, ::-1])
    cv2.imwrite(str(out / f"{stem}_overlay.png"), overlay(rgb, label, meta.palette, args.alpha)[:, :, ::-1])
    counts = np.bincount(label.reshape(-1), minlength=meta.num_classes)
    present = ", ".join(f"{meta.class_names[i]} {100 * c / label.size:.1f}%" for i, c in enumerate(counts) if c)
    print(f"{stem}: {present}; written to {out}")
    return 0
