"""The onnxruntime backend: the ONNX export (fp32, or its INT8 QDQ form) run by ONNX Runtime, on the CPU or on
CUDA with onnxruntime-gpu. Everything ONNX Runtime itself is imported only by the runner and the export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from rgbt_seg_core.deploy.registry import Backend, ExportRequest, register_backend

__all__ = ["ONNXRUNTIME"]


def _runner(loaded: Any, model: Any, options: Any, device: torch.device) -> Any:
    from rgbt_seg_core.deploy.onnx.runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(loaded, model, options, device)


def _export(src: Any, model: Any, out: Path, request: ExportRequest) -> str:
    from rgbt_seg_core.deploy.onnx.staged import onnx_file

    with tempfile.TemporaryDirectory() as tmp:
        onnx_file(src, model, request, Path(tmp), out=out)
    kind = "INT8 " if request.int8_feeds is not None else ""
    return f"{kind}ONNX model written to {out} ({'dynamic' if request.dynamic else 'static'} H x W)"


def _cuda_ready() -> bool:
    from rgbt_seg_core.utils.optional import require

    try:
        ort = require("onnxruntime", "onnx")
    except RuntimeError:
        return False
    return "CUDAExecutionProvider" in getattr(ort, "get_available_providers")()


ONNXRUNTIME = register_backend(Backend(
    name="onnxruntime", summary="onnxruntime (fp32; extra [onnx])", precisions=("fp32", "int8"), auto="fp32",
    module="onnxruntime", extra="onnx", runner=_runner, export=_export, format="onnx", suffixes=(".onnx",),
    int8_target="cpu", verify_tolerance=1e-3, timed=lambda device, native_bf16: [("fp32", device)],
    cuda_ready=_cuda_ready))
