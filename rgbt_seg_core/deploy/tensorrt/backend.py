"""The tensorrt backend: an engine built from the ONNX export on the GPU that runs it (fp16 by default, fp32, or
INT8 from the QDQ graph quantised for TensorRT), with a JSON record beside it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from rgbt_seg_core.deploy.registry import Backend, ExportRequest, register_backend

__all__ = ["TENSORRT"]


def _runner(loaded: Any, model: Any, options: Any, device: torch.device) -> Any:
    from rgbt_seg_core.deploy.tensorrt.runner import TensorRtRunner

    return TensorRtRunner(loaded, model, options, device)


def _export(src: Any, model: Any, out: Path, request: ExportRequest) -> str:
    from rgbt_seg_core.deploy.onnx.staged import onnx_file
    from rgbt_seg_core.deploy.tensorrt.export import build_engine
    from rgbt_seg_core.utils.device import resolve_device
    from rgbt_seg_core.utils.optional import require

    # before the ONNX export: a machine without a GPU or TensorRT fails at once
    gpu = resolve_device("cuda")
    require("tensorrt", "tensorrt")
    int8 = request.int8_feeds is not None
    half = request.precision == "fp16" and not int8
    with tempfile.TemporaryDirectory() as tmp:
        graph = onnx_file(src, model, request, Path(tmp), half=half, target="tensorrt")
        build_engine(graph, out, gpu, opt=(request.height, request.width), fixed=not request.dynamic,
                     max_batch=request.max_batch)
    return (f"TensorRT {'int8' if int8 else request.precision} engine (batch 1..{request.max_batch}) written to {out} "
            f"(record: {out}.json)")


def _cuda_ready() -> bool:
    return TENSORRT.installed() and torch.cuda.is_available()


TENSORRT = register_backend(Backend(
    name="tensorrt", summary="tensorrt (fp16 engine on the GPU; extra [tensorrt])", precisions=("fp16", "fp32", "int8"),
    auto="fp16", module="tensorrt", extra="tensorrt", runner=_runner, export=_export, format="tensorrt",
    suffixes=(".engine", ".engine.json"), int8_target="tensorrt", cuda_only=True, verify_tolerance=3e-2,
    timed=lambda device, native_bf16: [("fp16", device)] if device.startswith("cuda") else [],
    cuda_ready=_cuda_ready))
