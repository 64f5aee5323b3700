"""ONNX export of the deploy form, for ONNX Runtime (and, from the ONNX file, TensorRT and OpenVINO).

The graph takes the engine's preprocessed inputs, so every backend shares the one preprocessing
(:func:`rgbt_seg_core.inference.preprocess.prepare_inputs`):

* ``rgb``: float32 B x 3 x H x W in [0, 1]; ``thermal``: float32 B x 1 x H x W in [0, 1];
* ``logits``: float32 B x C x H x W.

Opset 19, exported with PyTorch's ``torch.export``-based exporter. The batch B is dynamic, 1..:data:`MAX_BATCH`,
in every export: one node batches the frames of several camera pairs through one model (issue 26), and a file that
took batch 1 only would make each backend loop. H and W are dynamic too (32..4096) unless a fixed size is asked
for (``--fixed-size`` fixes H and W, not the batch). The largest batch is stored in the metadata
(``rgbt_seg.max_batch``), so a runner knows what a file takes; a file without it (made before the batch axis) takes
batch 1, and the runners split a batch for it.

With ``half=True`` the graph computes in float16 (weights stored as float16, inputs cast on entry, logits cast back
to float32 on exit) while its interface stays float32: that is the graph TensorRT builds its fp16 engine from, as a
strongly typed network takes its precision from the graph. Class names, palette and the source checkpoint's
checksum are stored in the model's metadata, so a backend can check that an ONNX file belongs to its checkpoint.

CIMNet's deformable convolutions are exported in their standard-op form
(:mod:`rgbt_seg_core.models.layers.deform`: GridSample and Conv), so the graph holds no DeformConv: ONNX Runtime up
to 1.23 has no kernel for it, and TensorRT and OpenVINO support it unevenly.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rgbt_seg_core.models.layers.deform import with_sampled_deform_convs
from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.utils.optional import require  # telemetry off before onnxruntime/openvino load

__all__ = ["OPSET", "MAX_BATCH", "MAX_BATCH_KEY", "export_onnx", "max_batch", "onnx_metadata", "checkpoint_metadata",
           "require"]

OPSET = 19  # GridSample needs 16 and the exporter's own ops start at 18; ONNX Runtime loads 19 from 1.15 on
# bumped when the exported graph changes for the same checkpoint (2: deformable convs from GridSample; 3: a dynamic
# batch axis), so a cached file of an older form is never taken for the new one
GRAPH_FORM = 3
MIN_SIDE, MAX_SIDE = 32, 4096
# The largest batch a file takes: far above the camera pairs one robot has (2 to 6), and a bound torch.export needs
MAX_BATCH = 64
MAX_BATCH_KEY = "rgbt_seg.max_batch"


class _HalfInside(nn.Module):
    """float32 in and out, float16 inside. Casts ``model`` itself: give it a copy."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        return self.model(rgb.half(), thermal.half()).float()


def export_onnx(model: nn.Module, out: Path, *, height: int = 480, width: int = 640, dynamic: bool = True,
                half: bool = False, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` (deploy form, eval mode) to ``out`` atomically."""
    require("onnx", "onnx")
    require("onnxscript", "onnx")
    import onnx

    model = with_sampled_deform_convs(model.eval())  # a copy: the caller's model keeps torchvision's kernel
    model = _HalfInside(model).eval() if half else model
    # an example batch of 2: torch.export specialises a dimension the example gives as 1 to that constant
    rgb, thermal = torch.rand(2, 3, height, width), torch.rand(2, 1, height, width)
    batch = torch.export.Dim("B", min=1, max=MAX_BATCH)
    shapes: tuple[dict[int, Any], dict[int, Any]] = ({0: batch}, {0: batch})
    if dynamic:
        h = torch.export.Dim("H", min=MIN_SIDE, max=MAX_SIDE)
        w = torch.export.Dim("W", min=MIN_SIDE, max=MAX_SIDE)
        shapes = ({0: batch, 2: h, 3: w}, {0: batch, 2: h, 3: w})
    quiet = [logging.getLogger(n) for n in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.WARNING)  # the graph optimiser logs every initialiser it merges
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter narrates each step
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
            program = torch.onnx.export(model, (rgb, thermal), input_names=["rgb", "thermal"],
                                        output_names=["logits"], opset_version=OPSET, dynamo=True,
                                        dynamic_shapes=shapes, verbose=False)
        if program is None:  # dynamo=True always returns the program; None is the legacy exporter's answer
            raise RuntimeError(f"torch.onnx.export returned no program for {out}")
        proto = program.model_proto
        for k, v in {**(metadata or {}), MAX_BATCH_KEY: str(MAX_BATCH)}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)  # before anything is written: a graph that fails leaves no file
        atomic_write_bytes(out, proto.SerializeToString())  # what onnx.save_model writes for a graph under 2 GB
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    return Path(out)


def max_batch(metadata: dict[str, str], path: Path) -> int:
    """The largest batch a model file takes, from its metadata: 1 for a file made before the batch axis."""
    text = metadata.get(MAX_BATCH_KEY, "1")
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{path}: metadata {MAX_BATCH_KEY} is not a whole number: {text[:40]!r}") from None
    if value < 1:
        raise ValueError(f"{path}: metadata {MAX_BATCH_KEY} must be at least 1, got {value}")
    return value


def onnx_metadata(path: Path) -> dict[str, str]:
    onnx = require("onnx", "onnx")
    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def checkpoint_metadata(meta, digest: str) -> dict[str, str]:
    return {"rgbt_seg.model": meta.model, "rgbt_seg.class_names": json.dumps(meta.class_names),
            "rgbt_seg.palette": json.dumps(meta.palette), "rgbt_seg.checkpoint_sha256": digest}
