"""``rgbt-seg export``: the re-parameterised, BN-folded deploy form as a checkpoint, ONNX, OpenVINO IR or a TensorRT
engine, optionally verified against torch."""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch

from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import save_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the deploy-form checkpoint",
        description="Re-parameterises every RSF KxK block into one conv, folds BatchNorms, drops auxiliary heads, "
        "and writes a deploy checkpoint with the same class names and palette (--format safetensors), or the deploy "
        "form as ONNX (--format onnx: inputs rgb 1x3xHxW and thermal 1x1xHxW, float32 in [0, 1], output the "
        "logits 1xCxHxW; opset 19; H and W dynamic 32..4096 unless --fixed-size), as OpenVINO IR converted from "
        "that ONNX (--format openvino: .xml + .bin; extra [openvino]), or as a TensorRT fp16 engine built on this "
        "machine's GPU (--format tensorrt: .engine + .engine.json; H and W dynamic 32..1088 x 32..1920, tuned for "
        "--verify-size, or that size alone with --fixed-size; extra [tensorrt]). Non-torch files carry the "
        "checkpoint's checksum, and the backends refuse a file made from another checkpoint.",
    )
    p.add_argument("--checkpoint", required=True, help="training-form or deploy-form checkpoint")
    p.add_argument("--out", required=True, help="file to write (.safetensors, .onnx, .xml or .engine)")
    p.add_argument("--format", choices=("safetensors", "onnx", "openvino", "tensorrt"), default="safetensors")
    p.add_argument("--fixed-size", action="store_true",
                   help="onnx, openvino, tensorrt: export for --verify-size only (static H, W)")
    p.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="tensorrt: engine precision")
    p.add_argument("--verify", action="store_true",
                   help="compare training and deploy outputs on random inputs and print the largest difference")
    p.add_argument("--verify-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    p.add_argument("--tolerance", type=float, default=1e-4, help="relative tolerance for --verify (default 1e-4)")
    p.set_defaults(run=run)


SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}
# Relative logit tolerance of --verify per format: float32 graphs agree to rounding; an fp16 engine to fp16's.
TOLERANCES = {"onnx": 1e-3, "openvino": 1e-3, "tensorrt": 3e-2}


def run_backend_export(args: argparse.Namespace) -> int:
    from rgbt_seg_core.deploy.onnx.export import checkpoint_metadata, export_onnx

    src = load_checkpoint(args.checkpoint)
    model = src.model.eval() if src.meta.deploy else src.model.eval().reparameterize()
    h, w = args.verify_size
    out = Path(args.out)
    meta = checkpoint_metadata(src.meta, src.sha256)
    if args.format == "tensorrt":  # before the ONNX export: a machine without a GPU or TensorRT fails at once
        from rgbt_seg_core.deploy.onnx.export import require
        from rgbt_seg_core.utils.device import resolve_device

        gpu = resolve_device("cuda")
        require("tensorrt", "tensorrt")
    if args.format == "onnx":
        export_onnx(model, out, height=h, width=w, dynamic=not args.fixed_size, metadata=meta)
        print(f"ONNX model written to {out} ({'static' if args.fixed_size else 'dynamic'} H x W)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "model.onnx"
            half = args.format == "tensorrt" and args.precision == "fp16"
            export_onnx(model, onnx_path, height=h, width=w, dynamic=not args.fixed_size, half=half, metadata=meta)
            if args.format == "openvino":
                from rgbt_seg_core.deploy.openvino.export import convert_onnx_to_openvino

                convert_onnx_to_openvino(onnx_path, out)
                print(f"OpenVINO IR written to {out} and {out.with_suffix('.bin')}")
            else:
                from rgbt_seg_core.deploy.tensorrt.export import build_engine

                build_engine(onnx_path, out, gpu, opt=(h, w), fixed=args.fixed_size)
                print(f"TensorRT {args.precision} engine written to {out} (record: {out}.json)")
    if not args.verify:
        return 0
    sizes = [(h, w)] if args.fixed_size else [(h, w), (h // 2 + 3, w // 2 + 5)]
    from rgbt_seg_core.deploy.verify import verify_backend

    diff, rel, agree = verify_backend(src, model, args.format, out, sizes, args.precision)
    tol = TOLERANCES[args.format]
    ok = rel <= tol
    print(f"verify: {args.format} vs torch fp32, max |logit difference| {diff:.3e} ({rel:.2e} of the largest logit; "
          f"tolerance {tol:.0e}), labels equal on {100 * agree:.3f} % of pixels: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise ValueError("--out must differ from --checkpoint (the training checkpoint is kept)")
    want = SUFFIXES[args.format]
    if not args.out.endswith(want):
        raise ValueError(f"--format {args.format} writes a {want} file; --out is {args.out}")
    if args.format != "safetensors":
        return run_backend_export(args)
    src = load_checkpoint(args.checkpoint)
    if src.meta.deploy:
        raise ValueError(f"{args.checkpoint} is already a deploy checkpoint")
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
