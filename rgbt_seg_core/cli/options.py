"""Shared argument helpers: model options as CLI flags that map 1:1 to ``build_model`` keyword options."""

from __future__ import annotations

import argparse
from typing import Any


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model options (see docs/model.md)")
    g.add_argument("--num-classes", type=int, default=9, help="output classes (default: 9, MFNet)")
    g.add_argument("--kernel-size", type=int, help="RSF KxK kernel size (default 5)")
    g.add_argument("--reduced-dim", type=int, help="RSF reduced dimension C~ (default 64)")
    g.add_argument("--gate", type=_bool, help="confidence gate on/off (default true)")
    g.add_argument("--gate-mode", choices=("normalized", "raw"), help="gate normalisation (default normalized)")
    g.add_argument("--multi-branch", type=_bool, help="train-time multi-branch KxK block (default true)")
    g.add_argument("--fusion", choices=("rsf", "sum", "concat"), help="fusion scheme (default rsf)")
    g.add_argument("--confidence-heads", type=_bool, help="PLG confidence heads (default true)")
    g.add_argument("--modalities", choices=("rgbt", "rgb", "thermal"), help="encoders used (default rgbt)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("kernel_size", "reduced_dim", "gate", "gate_mode", "multi_branch", "fusion", "confidence_heads", "modalities")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def add_inference_options(parser: argparse.ArgumentParser, device_help: str = "auto (default), cpu, cuda[:N]") -> None:
    """--device, --precision, --backend, --model-file, --openvino-device: the engine's settings, as the node's
    parameters of the same names."""
    from rgbt_seg_core.deploy import BACKENDS
    from rgbt_seg_core.inference.precision import PRECISIONS

    parser.add_argument("--device", default="auto", help=device_help)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto (default: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, bf16, fp16")
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="torch (default); onnxruntime (fp32), openvino (Intel CPU/iGPU) or tensorrt (fp16, on "
                        "the GPU) run the checkpoint's export, made once into the cache unless --model-file is given")
    parser.add_argument("--model-file", default="",
                        help="the backend's model from `rgbt-seg export` (.onnx, .xml, .engine)")
    parser.add_argument("--openvino-device", default="CPU", help="backend openvino: CPU (default), GPU or AUTO")
    parser.add_argument("--thermal-homography", metavar="YAML", default="",
                        help="register thermal onto RGB with the homography in this file (`rgbt-seg register` writes "
                        "it; the node's thermal_homography parameter), applied where inference runs")


def inference_options(args: argparse.Namespace) -> dict[str, Any]:
    """InferenceConfig keyword arguments from :func:`add_inference_options`' flags."""
    hom = None
    if getattr(args, "thermal_homography", ""):
        from rgbt_seg_core.inference.registration import read_homography

        hom = tuple(float(v) for v in read_homography(args.thermal_homography).reshape(-1))
    return {"device": args.device, "precision": args.precision, "backend": args.backend,
            "model_file": args.model_file, "openvino_device": args.openvino_device, "thermal_homography": hom}


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """--thermal (PST900) and --data-option KEY=VALUE (any loader option), as ``dataset_options`` in training."""
    parser.add_argument("--thermal", choices=("8bit", "raw"), default="8bit", help="pst900: 8-bit or 16-bit thermal")
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a loader option, repeatable; kust4k: rgb_dir, thermal_dir, label_dir (folder names, "
                        "default RGB, TIR, Label), night_pattern, day_pattern (regular expressions on the name)")


def parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """KEY=VALUE strings; values are YAML scalars (numbers, true/false) or plain text."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = raw if isinstance(value, (dict, list)) or value is None else value
    return out


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    """The loader's keyword options from :func:`add_dataset_options`' flags."""
    opts = parse_key_values(args.data_option, "--data-option")
    if args.dataset == "pst900":
        opts.setdefault("thermal", args.thermal)
    return opts
