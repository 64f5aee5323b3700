"""INT8 post-training quantisation of the ONNX export: ONNX Runtime's static quantisation in QDQ form.

Why QDQ and this quantiser for both CPU backends: a QDQ graph (QuantizeLinear / DequantizeLinear pairs around each
quantised op) is the one INT8 form that ONNX Runtime runs with its integer kernels and that OpenVINO reads as
FakeQuantize and runs in INT8 too, so one calibration serves both backends and they compute the same model.
Measured at 480 x 640 on a 2-core CPU with AVX512_VNNI and AMX (docs/benchmarks.md, "INT8"), OpenVINO runs this
graph 2.3 times as fast as ONNX Runtime does; NNCF's own quantisation was faster still but lost more than a mIoU
point on the demo model, which this one does not.

Scheme (``target="cpu"``): activations uint8 with a per-tensor scale, weights int8 with a per-output-channel scale
(ONNX Runtime's recommended U8S8 on x86 with VNNI), ranges from the min/max seen over the calibration frames. For
TensorRT (``target="tensorrt"``) activations are int8 and symmetric, the only form its explicit quantisation
takes. The graph's float32 interface (rgb, thermal in; logits out) is unchanged, so the engine feeds it what it
feeds every backend.
Ops of the types listed in ``keep_float`` stay float32; the default and why are at :data:`KEEP_FLOAT`.

The quantised file keeps the fp32 export's ``rgbt_seg.*`` metadata (checkpoint checksum, class names, palette) and
adds ``rgbt_seg.quantization``, a JSON record of how it was made, which the runners read to know a file is INT8.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from rgbt_seg_core.deploy.onnx.export import onnx_metadata
from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.utils.optional import require

__all__ = ["QUANTIZATION_KEY", "KEEP_FLOAT", "quantize_onnx", "quantization_record"]

log = logging.getLogger(__name__)

QUANTIZATION_KEY = "rgbt_seg.quantization"
# Op types left in float32 by default: none. On the demo model (docs/benchmarks.md) quantising everything ONNX
# Runtime quantises kept 99.2 % of fp32's labels and lost 0.5 mIoU points, and keeping the gates' Sigmoid and Softmax
# in float32 changed neither figure; ``keep_float`` (export --keep-float) is there for models that need it.
KEEP_FLOAT: tuple[str, ...] = ()
TARGETS = ("cpu", "tensorrt")


class _Frames:
    """ONNX Runtime's calibration reader protocol over a list of feeds (it asks for the next one until None)."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the reader interface; one pass is all min/max calibration makes
        pass


def quantize_onnx(fp32: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]], *,
                  keep_float: Sequence[str] = KEEP_FLOAT, source: str = "", target: str = "cpu") -> Path:
    """Write the INT8 (QDQ) form of the fp32 ONNX file ``fp32`` to ``out`` atomically, calibrated on ``feeds``
    (``{"rgb": 1x3xHxW, "thermal": 1x1xHxW}`` float32, as the engine preprocesses frames; sizes may differ).
    ``source`` says in the record where the calibration frames came from."""
    require("onnxruntime", "onnx")  # telemetry off before onnxruntime.quantization imports it
    onnx = require("onnx", "onnx")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if target not in TARGETS:
        raise ValueError(f"quantisation target must be one of {', '.join(TARGETS)}, got {target!r}")
    feeds = [_checked_feed(i, f) for i, f in enumerate(feeds)]
    if not feeds:
        raise ValueError("INT8 calibration needs at least one frame; none was given")
    metadata = onnx_metadata(Path(fp32))
    with tempfile.TemporaryDirectory(prefix="rgbt_seg_int8_") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # ONNX shape inference and ORT's graph optimisation, as ORT's quantiser asks for; symbolic shape inference
        # cannot follow the dynamic H x W through the interpolations, and the quantiser does not need it
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        keep: list[str] = []
        if keep_float:  # node names after the optimisation, which renames and fuses nodes
            pre = onnx.load(str(prepared))
            keep = sorted(n.name for n in pre.graph.node if n.op_type in set(keep_float))
        trt = target == "tensorrt"
        quantize_static(str(prepared), str(quantized), _Frames(feeds), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8 if trt else QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep,
                        calibration_providers=["CPUExecutionProvider"],
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True} if trt else None)
        proto = onnx.load(str(quantized))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        if key.startswith("rgbt_seg.") and key != QUANTIZATION_KEY:
            proto.metadata_props.add(key=key, value=value)
    sizes = sorted({tuple(int(d) for d in f["rgb"].shape[2:]) for f in feeds})
    record = {"scheme": f"int8 QDQ, activations {'int8 symmetric' if target == 'tensorrt' else 'uint8'} per tensor, "
                        "weights int8 per output channel", "target": target,
              "calibration": "min/max", "frames": len(feeds), "sizes": [list(s) for s in sizes],
              "source": source, "float_op_types": sorted(set(keep_float)),
              "quantized_ops": sum(n.op_type == "QuantizeLinear" for n in proto.graph.node)}
    proto.metadata_props.add(key=QUANTIZATION_KEY, value=json.dumps(record))
    onnx.checker.check_model(proto)
    atomic_write_bytes(out, proto.SerializeToString())
    log.info("INT8 model written to %s (%d frames calibrated, %s kept in float32)", out, len(feeds),
             ", ".join(keep_float) or "nothing")
    return Path(out)


def _checked_feed(i: int, feed: Any) -> dict[str, np.ndarray]:
    """A calibration feed as the graph takes it, or a ValueError that names the frame and what is wrong."""
    if not isinstance(feed, dict):
        raise ValueError(f"calibration frame {i}: expected a dict with rgb and thermal, got {type(feed).__name__}")
    if set(feed) != {"rgb", "thermal"}:
        raise ValueError(f"calibration frame {i}: expected the keys rgb and thermal, got {', '.join(map(str, feed))}")
    rgb, thermal = (np.ascontiguousarray(feed[k], np.float32) for k in ("rgb", "thermal"))
    if rgb.ndim != 4 or rgb.shape[:2] != (1, 3) or thermal.shape != (1, 1, *rgb.shape[2:]):
        raise ValueError(f"calibration frame {i}: rgb must be 1x3xHxW and thermal 1x1xHxW, got "
                         f"{rgb.shape} and {thermal.shape}")
    if not (np.isfinite(rgb).all() and np.isfinite(thermal).all()):
        raise ValueError(f"calibration frame {i}: non-finite input values")
    return {"rgb": rgb, "thermal": thermal}


def quantization_record(metadata: dict[str, str]) -> dict[str, Any] | None:
    """How a model file was quantised (its ``rgbt_seg.quantization`` entry), or None for a float file."""
    text = metadata.get(QUANTIZATION_KEY)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        raise ValueError(f"model file metadata {QUANTIZATION_KEY} is not JSON: {text[:80]!r}") from None
    return record if isinstance(record, dict) else {"scheme": str(record)}
