"""The ONNX file every other format starts from: the deploy form exported with the checkpoint's metadata, and
quantised to INT8 (QDQ) when calibration inputs are given. ONNX Runtime runs it as it is; OpenVINO converts it to
IR and TensorRT builds an engine from it.

Where H and W are dynamic, the float graph is the same graph the ONNX Runtime backend makes once per checkpoint into
the cache (:func:`rgbt_seg_core.deploy.model_files.onnx_for`), so it is taken from there, or made there, and the
ONNX file asked for is a copy of it (the INT8 file, OpenVINO's IR and a TensorRT engine start from it): exporting a
large model takes minutes on a CPU, and exporting it, to INT8 and to OpenVINO and running it would otherwise trace
it four times."""

from __future__ import annotations

import shutil
from pathlib import Path

from torch import nn

from rgbt_seg_core.deploy.model_files import onnx_for
from rgbt_seg_core.deploy.onnx.export import checkpoint_metadata, export_onnx
from rgbt_seg_core.deploy.registry import ExportRequest
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint
from rgbt_seg_core.utils.atomic import atomic_write

__all__ = ["onnx_file"]


def onnx_file(src: LoadedCheckpoint, model: nn.Module, request: ExportRequest, folder: Path, *,
              out: Path | None = None, half: bool = False, target: str = "cpu") -> Path:
    """The ONNX file of ``model`` as ``request`` asks (INT8 for ``target`` when it has calibration inputs), written
    to ``out`` when given, else into ``folder``; returns its path.

    Args:
        src: the checkpoint, whose class names, palette and checksum the file carries.
        model: its deploy form, in eval mode.
        request: sizes, dynamic H x W, and the INT8 calibration inputs.
        folder: where intermediate files go (a temporary folder the caller removes).
        out: the final file, when the ONNX file is the product; else it stays in ``folder``.
        half: float16 inside the graph (the graph a TensorRT fp16 engine is built from).
        target: what the INT8 file is quantised for: ``cpu`` or ``tensorrt``.
    """
    int8 = request.int8_feeds is not None
    plain = _cached(src, model, half) if request.dynamic else None
    if plain is not None and out is not None and not int8:  # the product is the float graph itself: a copy
        with open(plain, "rb") as cached:
            atomic_write(out, lambda f: shutil.copyfileobj(cached, f))
        return out
    if plain is None:
        plain = out if out is not None and not int8 else folder / "model.onnx"
        export_onnx(model, plain, height=request.height, width=request.width, dynamic=request.dynamic, half=half,
                    metadata=checkpoint_metadata(src.meta, src.sha256))
    if not int8:
        return plain
    from rgbt_seg_core.deploy.onnx.quantize import quantize_onnx

    quantized = out if out is not None else folder / "int8.onnx"
    return quantize_onnx(plain, quantized, request.int8_feeds or [], source=request.int8_source,
                         keep_float=request.keep_float, target=target)


def _cached(src: LoadedCheckpoint, model: nn.Module, half: bool) -> Path | None:
    """The cached float graph, or None where the cache cannot be written (a read-only home): then the caller
    exports into its temporary folder, as it would without a cache."""
    try:
        return onnx_for(src, model, half=half)
    except PermissionError:
        return None
