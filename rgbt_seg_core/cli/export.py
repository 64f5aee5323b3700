"""``rgbt-seg export``: write the re-parameterised, BN-folded deploy checkpoint, optionally verified."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, save_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the deploy-form checkpoint",
        description="Re-parameterises every RSF KxK block into one conv, folds BatchNorms, drops auxiliary heads, "
        "and writes a deploy checkpoint with the same class names and palette (--format safetensors), or the deploy "
        "form as ONNX (--format onnx: inputs rgb 1x3xHxW and thermal 1x1xHxW, float32 in [0, 1], output the "
        "logits 1xCxHxW; opset 18; H and W dynamic 32..4096 unless --fixed-size).",
    )
    p.add_argument("--checkpoint", required=True, help="training-form (or, for ONNX, deploy-form) checkpoint")
    p.add_argument("--out", required=True, help="file to write (.safetensors or .onnx)")
    p.add_argument("--format", choices=("safetensors", "onnx"), default="safetensors")
    p.add_argument("--fixed-size", action="store_true", help="onnx: export for --verify-size only (static H, W)")
    p.add_argument("--verify", action="store_true",
                   help="compare training and deploy outputs on random inputs and print the largest difference")
    p.add_argument("--verify-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    p.add_argument("--tolerance", type=float, default=1e-4, help="relative tolerance for --verify (default 1e-4)")
    p.set_defaults(run=run)


def run_onnx(args: argparse.Namespace) -> int:
    from ..export_onnx import checkpoint_metadata, export_onnx, verify_onnx

    src = load_checkpoint(args.checkpoint)
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise ValueError("--out must differ from --checkpoint")
    model = src.model.eval() if src.meta.deploy else src.model.eval().reparameterize()
    h, w = args.verify_size
    export_onnx(model, Path(args.out), height=h, width=w, dynamic=not args.fixed_size,
                metadata=checkpoint_metadata(src.meta, src.sha256))
    print(f"ONNX model written to {args.out} ({'static' if args.fixed_size else 'dynamic'} H x W)")
    if args.verify:
        sizes = [(h, w)] if args.fixed_size else [(h, w), (h // 2 + 3, w // 2 + 5)]
        diff, rel = verify_onnx(Path(args.out), model, sizes)
        ok = rel <= 1e-3
        print(f"verify: ONNX Runtime vs torch, max |logit difference| {diff:.3e} ({rel:.2e} of the largest logit; "
              f"tolerance 1e-3): {'OK' if ok else 'FAILED'}")
        if not ok:
            return 1
    return 0


def run(args: argparse.Namespace) -> int:
    if args.format == "onnx":
        return run_onnx(args)
    src = load_checkpoint(args.checkpoint)
    if src.meta.deploy:
        raise ValueError(f"{args.checkpoint} is already a deploy checkpoint")
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise ValueError("--out must differ from --checkpoint (the training checkpoint is kept)")
    train_model = src.model.eval()
    deploy_model = copy.deepcopy(train_model).reparameterize()
    save_checkpoint(args.out, deploy_model, class_names=src.meta.class_names, palette=src.meta.palette,
                    training={**{k: v for k, v in src.meta.training.items() if k != "state"},
                              "exported_from": str(args.checkpoint)})
    print(f"deploy checkpoint written to {args.out}")
    if args.verify:
        h, w = args.verify_size
        g = torch.Generator().manual_seed(0)
        rgb, thermal = torch.rand(2, 3, h, w, generator=g), torch.rand(2, 1, h, w, generator=g)
        reloaded = load_checkpoint(args.out).model
        with torch.inference_mode():
            ref = train_model(rgb, thermal)
            diff = float((ref - reloaded(rgb, thermal)).abs().max())
        scale = max(1.0, float(ref.abs().max()))
        ok = diff <= args.tolerance * scale
        print(f"verify: max |logit difference| {diff:.3e} (tolerance {args.tolerance:.0e} x {scale:.3g}): "
              f"{'OK' if ok else 'FAILED'}")
        if not ok:
            return 1
    return 0
