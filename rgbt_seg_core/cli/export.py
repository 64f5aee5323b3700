"""``rgbt-seg export``: the re-parameterised, BN-folded deploy form as a checkpoint, ONNX, OpenVINO IR or a TensorRT
engine, optionally verified against torch."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from rgbt_seg_core.deploy.registry import ExportRequest, backend_for_format, list_backends
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import save_checkpoint

DEPLOY_CHECKPOINT = "safetensors"  # --format of the deploy-form checkpoint (backend torch); the rest are backends'


def add_parser(sub: argparse._SubParsersAction) -> None:
    backends = [b for b in list_backends() if b.export is not None]  # the formats as registered when asked
    int8 = [b for b in backends if b.int8_target]
    p = sub.add_parser(
        "export",
        help="write the deploy-form checkpoint",
        description="Re-parameterises every RSF KxK block into one conv, folds BatchNorms, drops auxiliary heads, "
        "and writes a deploy checkpoint with the same class names and palette (--format safetensors), or the deploy "
        "form as ONNX (--format onnx: inputs rgb Bx3xHxW and thermal Bx1xHxW, float32 in [0, 1], output the "
        "logits BxCxHxW; opset 19; the batch B dynamic 1..64, H and W 32..4096 unless --fixed-size), as OpenVINO IR "
        "converted from that ONNX (--format openvino: .xml + .bin; extra [openvino]), or as a TensorRT fp16 engine "
        "built on this machine's GPU (--format tensorrt: .engine + .engine.json; H and W dynamic 32..1088 x "
        "32..1920, tuned for --verify-size, or that size alone with --fixed-size; batches 1..--max-batch; extra "
        "[tensorrt]). With --int8 the ONNX, OpenVINO or TensorRT file is quantised to INT8 after training, calibrated "
        "on a data set split, and --verify compares its labels and mIoU with fp32 on another split. Non-torch files "
        "carry the checkpoint's checksum, and the backends refuse a file made from another checkpoint.",
    )
    p.add_argument("--checkpoint", required=True, help="training-form or deploy-form checkpoint")
    p.add_argument("--out", required=True, help="file to write (" + ", ".join(
        [".safetensors"] + [b.model_suffix for b in backends]) + ")")
    p.add_argument("--format", choices=[DEPLOY_CHECKPOINT] + [b.format for b in backends], default=DEPLOY_CHECKPOINT)
    p.add_argument("--fixed-size", action="store_true",
                   help=f"{', '.join(b.format for b in backends)}: export for --verify-size only (static H, W)")
    p.add_argument("--max-batch", type=int, default=1, metavar="N",
                   help="tensorrt: build for batches of 1..N frames (the node's max_batch: the camera pairs it runs "
                   "at once; default 1); onnx and openvino files take any batch up to 64")
    p.add_argument("--precision", choices=("fp16", "fp32"), default="fp16",
                   help="tensorrt: engine precision (not with --int8, whose engine is INT8 where the graph is "
                   "quantised and fp32 elsewhere)")
    q = p.add_argument_group(f"INT8 ({', '.join(b.format for b in int8)})")
    q.add_argument("--int8", action="store_true",
                   help="quantise to INT8 after training (static QDQ, calibrated on --calibration-data); run the file "
                   f"with --precision int8 --backend {'|'.join(b.name for b in int8)} --model-file FILE")
    q.add_argument("--calibration-data", metavar="DIR", default="", help="--int8: the data set's root folder")
    q.add_argument("--dataset", default="", help="--int8: its layout (mfnet, pst900, kust4k, synthetic)")
    q.add_argument("--calibration-split", default="train", help="--int8: the split to calibrate on (default train)")
    q.add_argument("--calibration-frames", type=int, default=32,
                   help="--int8: frames spread over the split (default 32)")
    q.add_argument("--keep-float", nargs="+", default=[], metavar="OP",
                   help="--int8: ONNX op types to leave in float32 (default none; e.g. Sigmoid Resize)")
    q.add_argument("--verify-split", default="test",
                   help="--int8 --verify: the split on which label agreement and mIoU are compared with fp32 "
                   "(default test)")
    p.add_argument("--verify", action="store_true",
                   help="compare training and deploy outputs on random inputs and print the largest difference; with "
                   "--int8, label agreement and mIoU against fp32 on --verify-split")
    p.add_argument("--verify-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    p.add_argument("--tolerance", type=float, default=1e-4, help="relative tolerance for --verify (default 1e-4)")
    p.set_defaults(run=run)


# --int8 --verify: what an INT8 file must keep of the fp32 model on the verify split
INT8_MIN_AGREEMENT = 0.97
INT8_MAX_MIOU_DROP = 1.0  # points


def run_backend_export(args: argparse.Namespace) -> int:
    """The backend of --format writes its file (its record's export function); then --verify."""
    backend = backend_for_format(args.format)
    feeds = _calibration(args) if args.int8 else None  # a bad calibration folder fails before any export work
    src = load_checkpoint(args.checkpoint)
    model = src.model.eval() if src.meta.deploy else src.model.eval().reparameterize()
    h, w = args.verify_size
    request = ExportRequest(height=h, width=w, dynamic=not args.fixed_size, precision=args.precision,
                            int8_feeds=feeds, int8_source=_calibration_source(args) if args.int8 else "",
                            keep_float=tuple(args.keep_float), max_batch=args.max_batch)
    assert backend.export is not None  # backend_for_format finds only backends with an export
    print(backend.export(src, model, Path(args.out), request))
    if not args.verify:
        return 0
    return _verify_int8(args, src) if args.int8 else _verify_float(args, src, model)


def _calibration(args: argparse.Namespace) -> list:
    """The calibration frames of --calibration-data/--dataset/--calibration-split, as the engine preprocesses."""
    if not args.calibration_data or not args.dataset:
        raise ValueError("--int8 calibrates on a data set split: give --calibration-data DIR and --dataset NAME")
    if args.calibration_frames < 1:
        raise ValueError(f"--calibration-frames must be at least 1, got {args.calibration_frames}")
    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.inference.calibration import calibration_feeds

    ds = build_dataset(args.dataset, args.calibration_data, args.calibration_split)
    feeds = calibration_feeds(ds, args.calibration_frames)
    sizes = sorted({tuple(int(d) for d in f["rgb"].shape[2:]) for f in feeds})
    if args.fixed_size and sizes != [tuple(args.verify_size)]:
        found = ", ".join(f"{fh}x{fw}" for fh, fw in sizes)
        raise ValueError(f"--int8 --fixed-size exports for {args.verify_size[0]}x{args.verify_size[1]} only, but the "
                         f"calibration frames are {found}: give --verify-size their size, or leave out --fixed-size")
    return feeds


def _calibration_source(args: argparse.Namespace) -> str:
    return f"{args.dataset}:{args.calibration_split} at {args.calibration_data}, up to {args.calibration_frames} frames"


def _verify_float(args: argparse.Namespace, src, model) -> int:
    h, w = args.verify_size
    sizes = [(h, w)] if args.fixed_size else [(h, w), (h // 2 + 3, w // 2 + 5)]
    from rgbt_seg_core.deploy.verify import verify_backend

    diff, rel, agree = verify_backend(src, model, args.format, Path(args.out), sizes)
    tol = backend_for_format(args.format).verify_tolerance
    ok = rel <= tol
    print(f"verify: {args.format} vs torch fp32, max |logit difference| {diff:.3e} ({rel:.2e} of the largest logit; "
          f"tolerance {tol:.0e}), labels equal on {100 * agree:.3f} % of pixels: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def _verify_int8(args: argparse.Namespace, src) -> int:
    """The INT8 file against the checkpoint in torch fp32 on --verify-split: label agreement and mIoU."""
    from rgbt_seg_core.data import build_dataset
    from rgbt_seg_core.evaluation.agreement import compare_engines
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine

    ds = build_dataset(args.dataset, args.calibration_data, args.verify_split)
    record = backend_for_format(args.format)
    backend = record.name
    device = "cuda" if record.cuda_only else "cpu"
    reference = InferenceEngine(src, InferenceConfig(device=device, precision="fp32", warmup=0))
    candidate = InferenceEngine(args.checkpoint, InferenceConfig(device=device, precision="int8", backend=backend,
                                                                 model_file=args.out, warmup=0))
    a = compare_engines(reference, candidate, ds)
    ok = a.label_agreement >= INT8_MIN_AGREEMENT and a.miou_change_points >= -INT8_MAX_MIOU_DROP
    print(f"verify: int8 ({backend}) vs torch fp32 on {args.dataset}:{args.verify_split} ({a.frames} frames): labels "
          f"equal on {100 * a.label_agreement:.2f} % of pixels (at least {100 * INT8_MIN_AGREEMENT:.0f} %), mIoU "
          f"{100 * a.miou:.2f} vs {100 * a.reference_miou:.2f} ({a.miou_change_points:+.2f} points; at most "
          f"{INT8_MAX_MIOU_DROP:.1f} lost): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise ValueError("--out must differ from --checkpoint (the training checkpoint is kept)")
    want = ".safetensors" if args.format == DEPLOY_CHECKPOINT else backend_for_format(args.format).model_suffix
    if not args.out.endswith(want):
        raise ValueError(f"--format {args.format} writes a {want} file; --out is {args.out}")
    if args.int8 and (args.format == DEPLOY_CHECKPOINT or not backend_for_format(args.format).int8_target):
        int8 = [b.format for b in list_backends() if b.int8_target]
        either = " or ".join([", ".join(int8[:-1]), int8[-1]] if len(int8) > 1 else int8)
        raise ValueError(f"--int8 writes a quantised model for a backend: use --format {either}")
    if args.format != DEPLOY_CHECKPOINT:
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
