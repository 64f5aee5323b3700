"""The openvino backend: OpenVINO IR (or the ONNX file), compiled for an Intel CPU or iGPU (``openvino_device``).
It computes on the host whatever the engine's torch device, so its rows in ``bench latency`` run on the CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from rgbt_seg_core.deploy.registry import NATIVE, Backend, ExportRequest, register_backend

__all__ = ["OPENVINO"]


def _runner(loaded: Any, model: Any, options: Any, device: torch.device) -> Any:
    from rgbt_seg_core.deploy.openvino.runner import OpenVinoRunner

    return OpenVinoRunner(loaded, model, options, device)


def _export(src: Any, model: Any, out: Path, request: ExportRequest) -> str:
    from rgbt_seg_core.deploy.onnx.staged import onnx_file
    from rgbt_seg_core.deploy.openvino.export import convert_onnx_to_openvino

    with tempfile.TemporaryDirectory() as tmp:
        convert_onnx_to_openvino(onnx_file(src, model, request, Path(tmp)), out)
    kind = "INT8 " if request.int8_feeds is not None else ""
    return f"{kind}OpenVINO IR written to {out} and {out.with_suffix('.bin')}"


def _timed(device: str, native_bf16: bool) -> list[tuple[str, str]]:
    return [("fp32", "cpu")] + ([("bf16", "cpu")] if native_bf16 else [])


OPENVINO = register_backend(Backend(
    name="openvino", summary="openvino (Intel CPU/iGPU; extra [openvino])", precisions=("fp32", "bf16", "fp16", "int8"),
    auto=NATIVE, module="openvino", extra="openvino", runner=_runner, export=_export, format="openvino",
    suffixes=(".xml", ".bin"), int8_target="cpu", verify_tolerance=1e-3, timed=_timed))
