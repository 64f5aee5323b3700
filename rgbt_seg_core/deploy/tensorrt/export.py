"""TensorRT engines of the deploy form, built from its ONNX export on the GPU that will run them.

The engine is built as a strongly typed network from the float16 ONNX graph (``export_onnx(..., half=True)``):
TensorRT 10.12 deprecated and TensorRT 11 removed the builder's precision flags, and a strongly typed network
takes its precision from the graph, so one build path serves both. Inputs and output stay float32.

INT8 (``rgbt-seg export --format tensorrt --int8``) is TensorRT's explicit quantisation: the engine is built from the
QDQ graph that :func:`~rgbt_seg_core.deploy.onnx.quantize.quantize_onnx` calibrates (``target="tensorrt"``:
symmetric int8 activations, as TensorRT requires), not through the deprecated implicit-INT8 calibrator. The
quantised layers run in INT8 and the rest in float32, which is what the graph states.

H and W are dynamic within one optimisation profile: :data:`MIN_HW` to :data:`MAX_HW`, tuned for ``opt`` (the
node's warm-up size). So is the batch, 1 to ``max_batch`` (the most camera pairs' frames the node runs at once,
issue 26), tuned for ``max_batch``: TensorRT reserves memory for the profile's largest shape, so the bound is the
caller's choice rather than the ONNX graph's own (64). A ``fixed`` engine fixes H and W, not the batch.

Engines are specific to the GPU model and TensorRT version, so a JSON file beside the engine (``<engine>.json``)
records both, with the checkpoint's checksum, class names, palette and the profile's sizes and batches; an engine
whose record does not match this checkpoint, GPU or TensorRT is refused with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rgbt_seg_core.deploy.onnx.export import onnx_metadata
from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.utils.optional import require

__all__ = ["MIN_HW", "MAX_HW", "build_engine", "engine_record", "gpu_identity", "read_record"]

MIN_HW = (32, 32)
MAX_HW = (1088, 1920)  # 1080p with the height rounded up to the model's stride


def gpu_identity(device: torch.device) -> str:
    props = torch.cuda.get_device_properties(device)
    return f"{props.name} sm{props.major}{props.minor}"


def _check_size(name: str, hw: tuple[int, int]) -> None:
    if not (MIN_HW[0] <= hw[0] <= MAX_HW[0] and MIN_HW[1] <= hw[1] <= MAX_HW[1]):
        raise ValueError(f"{name} {hw[0]}x{hw[1]} lies outside the TensorRT profile {MIN_HW[0]}x{MIN_HW[1]} .. "
                         f"{MAX_HW[0]}x{MAX_HW[1]}")


def build_engine(onnx_path: Path, out: Path, device: torch.device, *, opt: tuple[int, int] = (480, 640),
                 fixed: bool = False, max_batch: int = 1) -> Path:
    """Build and write ``out`` (+ ``out.json``) from ``onnx_path``; ``fixed`` builds for ``opt`` alone; batches of
    1 to ``max_batch`` frames."""
    trt = require("tensorrt", "tensorrt")
    from rgbt_seg_core.deploy.onnx.export import MAX_BATCH

    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or not 1 <= max_batch <= MAX_BATCH:
        raise ValueError(f"max_batch must be a whole number from 1 to {MAX_BATCH} (the ONNX graph's bound), got "
                         f"{max_batch!r}")
    if device.type != "cuda" or not torch.cuda.is_available():
        raise RuntimeError("a TensorRT engine is built on the CUDA GPU that runs it; this machine has none")
    _check_size("opt size", opt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    lo, hi = (opt, opt) if fixed else (MIN_HW, MAX_HW)
    for name, ch in (("rgb", 3), ("thermal", 1)):
        profile.set_shape(name, (1, ch, *lo), (max_batch, ch, *opt), (max_batch, ch, *hi))
    config.add_optimization_profile(profile)
    with torch.cuda.device(device):
        blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (its log above says why)")
    meta = onnx_metadata(onnx_path)
    record = {"checkpoint_sha256": meta.get("rgbt_seg.checkpoint_sha256"), "model": meta.get("rgbt_seg.model"),
              "class_names": json.loads(meta.get("rgbt_seg.class_names", "[]")),
              "palette": json.loads(meta.get("rgbt_seg.palette", "[]")),
              "tensorrt": trt.__version__, "gpu": gpu_identity(device),
              "precision": _graph_precision(onnx_path),
              "min_hw": list(lo), "opt_hw": list(opt), "max_hw": list(hi), "max_batch": max_batch}
    out = Path(out)
    atomic_write_bytes(out, bytes(blob))
    atomic_write_bytes(Path(f"{out}.json"), json.dumps(record, indent=1).encode())
    return out


def _graph_precision(onnx_path: Path) -> str:
    """int8 for a QDQ graph, fp16 for a float16 one, else fp32: what a strongly typed engine computes in."""
    onnx = require("onnx", "onnx")
    proto = onnx.load(str(onnx_path), load_external_data=False)
    if any(n.op_type == "QuantizeLinear" for n in proto.graph.node):
        return "int8"
    half = any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    return "fp16" if half else "fp32"


def read_record(engine: Path) -> dict[str, Any]:
    side = Path(f"{engine}.json")
    if not side.is_file():
        raise ValueError(f"{engine}: its record {side} is missing (build engines with `rgbt-seg export --format "
                         "tensorrt`)")
    try:
        record = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{side}: not a readable engine record ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{side}: not an engine record")
    return record


def engine_record(engine: Path, device: torch.device, tensorrt_version: str) -> dict[str, Any]:
    """The engine's record, after checking it was built for this GPU and TensorRT version."""
    record = read_record(engine)
    if record.get("gpu") != gpu_identity(device):
        raise ValueError(f"{engine} was built for {record.get('gpu')!r}, this GPU is {gpu_identity(device)!r} "
                         "(engines are GPU-specific: rebuild it here)")
    if record.get("tensorrt") != tensorrt_version:
        raise ValueError(f"{engine} was built with TensorRT {record.get('tensorrt')}, this is {tensorrt_version} "
                         "(rebuild it)")
    return record
