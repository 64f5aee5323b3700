"""OpenVINO IR (``.xml`` + ``.bin``) of the deploy form, converted from its ONNX export.

The IR keeps the ONNX graph's inputs, output and dynamic batch and H x W, and stores the checkpoint's checksum,
class names, palette and largest batch in its runtime info (``rgbt_seg`` section), so the openvino backend can
refuse an IR made from another checkpoint. Weights stay float32: OpenVINO chooses the compute precision when it
compiles for a device. An INT8 (QDQ) ONNX file converts to an IR whose FakeQuantize ops OpenVINO runs in INT8, and
its quantisation record goes along.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rgbt_seg_core.deploy.onnx.export import onnx_metadata
from rgbt_seg_core.utils.optional import require

__all__ = ["convert_onnx_to_openvino", "openvino_metadata"]

_SECTION = "rgbt_seg"


def convert_onnx_to_openvino(onnx_path: Path, out: Path) -> Path:
    """Write ``out`` (.xml) and its ``.bin`` next to it; the .xml is written last, so it commits the pair."""
    ov = require("openvino", "openvino")
    out = Path(out)
    if out.suffix != ".xml":
        raise ValueError(f"an OpenVINO IR file ends in .xml, got {out}")
    model = ov.convert_model(str(onnx_path))
    for key, value in onnx_metadata(onnx_path).items():
        if key.startswith(_SECTION + "."):
            model.set_rt_info(value, [_SECTION, key[len(_SECTION) + 1:]])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}.", dir=out.parent) as tmp:
        staged = Path(tmp) / f"{out.stem}.xml"
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)
    return out


def openvino_metadata(path: Path) -> dict[str, str]:
    """The ``rgbt_seg.*`` entries of an IR (or ONNX file), as :func:`~rgbt_seg_core.deploy.onnx.export.onnx_metadata`
    gives them for ONNX."""
    if Path(path).suffix == ".onnx":
        return onnx_metadata(Path(path))
    ov = require("openvino", "openvino")
    model = ov.Core().read_model(str(path))
    out = {}
    for key in ("model", "class_names", "palette", "checkpoint_sha256", "quantization", "max_batch"):
        if model.has_rt_info([_SECTION, key]):
            out[f"{_SECTION}.{key}"] = model.get_rt_info([_SECTION, key]).astype(str)
    return out
