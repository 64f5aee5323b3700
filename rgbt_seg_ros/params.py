"""The node's parameters, written once as the fields of one frozen dataclass: each field's metadata holds its
default, description, range and choices, from which the node declares them (:data:`PARAM_SPECS`) and
``config/segment.yaml`` is rendered (a test keeps the file equal). Precision and backend choices are the core's own
(``PRECISIONS``, ``BACKENDS``), so the node accepts exactly what the engine runs."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from rgbt_seg_core.deploy.base import BACKENDS
from rgbt_seg_core.inference.precision import PRECISIONS
from rgbt_seg_core.runtime.input_status import TRANSPORTS

__all__ = ["NodeParams", "PARAM_SPECS", "ParamSpec"]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False


def _param(default: Any, description: str, range: tuple[float, float] | None = None, *,
           choices: tuple[str, ...] | None = None, read_only: bool = False) -> Any:
    """A node parameter: a dataclass field whose metadata holds its default, description, range and choices. The
    field has no dataclass default, so a :class:`NodeParams` is only ever made with every value given."""
    return field(metadata={"spec": (default, description, range, choices, read_only)})


@dataclass(frozen=True)
class NodeParams:
    """Every node parameter, in declaration order; validated by :meth:`from_values`."""

    checkpoint: str = _param("", "rgbt-seg .safetensors checkpoint (training or deploy form; re-parameterised at "
                             "start)", read_only=True)
    device: str = _param("auto", "inference device: auto (CUDA if available), cpu, cuda, cuda:N", read_only=True)
    precision: str = _param("auto", "auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, bf16, "
                            "fp16; int8 runs the quantised model_file of `rgbt-seg export --int8` (backend "
                            "onnxruntime, openvino or tensorrt)", choices=PRECISIONS, read_only=True)
    backend: str = _param("torch", "inference backend: torch, onnxruntime (fp32; extra [onnx]), openvino (Intel "
                          "CPU/iGPU; extra [openvino]), tensorrt (fp16 engine on the GPU; extra [tensorrt]); each "
                          "also runs an INT8 model_file (precision int8)",
                          choices=BACKENDS, read_only=True)
    model_file: str = _param("", "the backend's model from `rgbt-seg export --format onnx|openvino|tensorrt` (.onnx, "
                             ".xml, .engine); empty: made once from the checkpoint into $XDG_CACHE_HOME/rgbt_seg "
                             "(~/.cache/rgbt_seg)", read_only=True)
    openvino_device: str = _param("CPU", "backend openvino: CPU, GPU (Intel iGPU) or AUTO", read_only=True)
    cuda_graphs: bool = _param(True, "backend torch on CUDA: capture the model once per input size and replay it",
                               read_only=True)
    warmup: int = _param(2, "warm-up inferences at start, at warmup_height x warmup_width", (0, 100), read_only=True)
    warmup_height: int = _param(480, "warm-up frame height", (32, 8192), read_only=True)
    warmup_width: int = _param(640, "warm-up frame width", (32, 8192), read_only=True)
    rgb_transport: str = _param("raw", "colour camera transport, named as image_transport names them: raw "
                                "(sensor_msgs/Image on rgb/image), compressed (CompressedImage jpeg/png on "
                                "rgb/image/compressed), compressedDepth (on rgb/image/compressedDepth)",
                                choices=TRANSPORTS, read_only=True)
    thermal_transport: str = _param("raw", "thermal camera transport: raw (Image on thermal/image), compressed (8- "
                                    "or 16-bit png on thermal/image/compressed), compressedDepth (16-bit, on "
                                    "thermal/image/compressedDepth)", choices=TRANSPORTS, read_only=True)
    qos_reliability: str = _param("best_effort", "image subscriptions' reliability (reliable never connects to a "
                                  "best-effort camera driver)", choices=("best_effort", "reliable"), read_only=True)
    qos_depth: int = _param(2, "image subscriptions' history depth", (1, 100), read_only=True)
    queue_size: int = _param(10, "approximate-time pairing: messages kept per camera", (1, 1000), read_only=True)
    slop: float = _param(0.05, "approximate-time pairing: stamps pair when strictly closer than this (seconds, > 0)",
                         (1e-6, 10.0), read_only=True)
    max_pixels: int = _param(1920 * 1200, "frames with more pixels (height x width) are rejected before decoding",
                             (1, 100_000_000), read_only=True)
    jump_threshold: float = _param(2.0, "seconds: a stamp stepping back more than this, or ahead more than this "
                                   "beyond the time elapsed, is a clock jump (pairing restarts)", (0.01, 86400.0),
                                   read_only=True)
    thermal_norm: str = _param("auto", "thermal to [0,1]: auto (8-bit /255, else fixed if a range is set, else "
                               "percentile), fixed, percentile", choices=("auto", "fixed", "percentile"))
    thermal_range_min: float = _param(0.0, "fixed thermal range low end (raw units); used when max > min")
    thermal_range_max: float = _param(0.0, "fixed thermal range high end (raw units); 0 = not set")
    thermal_percentile_low: float = _param(1.0, "percentile mode: low percentile", (0.0, 100.0))
    thermal_percentile_high: float = _param(99.0, "percentile mode: high percentile", (0.0, 100.0))
    thermal_offset_x: int = _param(0, "pixels to move thermal right onto RGB (registration fix)", (-500, 500))
    thermal_offset_y: int = _param(0, "pixels to move thermal down onto RGB (registration fix)", (-500, 500))
    thermal_homography: list = _param([0.0] * 9, "3x3 thermal-pixel -> RGB-pixel homography, row-major (`rgbt-seg "
                                      "register` writes it); all zeros: not set (thermal is resized to RGB, then "
                                      "moved by the offset)")
    overlay_alpha: float = _param(0.5, "opacity of the class colours in ~/overlay", (0.0, 1.0))
    modality_timeout: float = _param(1.0, "seconds of silence after which a camera counts as failed", (0.0, 3600.0))
    frozen_timeout: float = _param(2.0, "seconds of bit-identical frames after which a camera counts as failed (a "
                                   "stuck driver, a hung flat-field correction) until its frames change; 0: off",
                                   (0.0, 3600.0))
    blank_missing_modality: bool = _param(True, "when a camera fails, continue from the other with it blanked")
    diagnostics_period: float = _param(1.0, "seconds between /diagnostics messages", (0.05, 60.0))
    stats_window: float = _param(5.0, "seconds over which rates and warnings are judged (a warning clears once its "
                                 "cause has been absent this long)", (0.5, 600.0))

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "NodeParams":
        """Build and validate; raises ValueError naming the parameter and the allowed values."""
        out: dict[str, Any] = {}
        for spec in PARAM_SPECS:
            v = values.get(spec.name, spec.default)
            want = type(spec.default)
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if want is list and not isinstance(v, (str, bytes)) and hasattr(v, "__len__"):  # rclpy: array('d')
                try:
                    v = [float(x) for x in v]
                except (TypeError, ValueError):
                    raise ValueError(f"parameter {spec.name}: expected a list of numbers, got {v!r}") from None
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                raise ValueError(f"parameter {spec.name}: expected {want.__name__}, got {v!r}")
            if want is float and not math.isfinite(v):
                raise ValueError(f"parameter {spec.name}: expected a finite number, got {v!r}")
            if spec.range is not None and not spec.range[0] <= v <= spec.range[1]:
                raise ValueError(f"parameter {spec.name}={v!r} out of range [{spec.range[0]}, {spec.range[1]}]")
            if spec.choices is not None and v not in spec.choices:
                raise ValueError(f"parameter {spec.name}={v!r}: expected one of {', '.join(spec.choices)}")
            out[spec.name] = v
        p = cls(**out)
        if not p.checkpoint:
            raise ValueError("parameter checkpoint is required (path to an rgbt-seg .safetensors file)")
        if p.thermal_percentile_low >= p.thermal_percentile_high:
            raise ValueError("parameter thermal_percentile_low must be below thermal_percentile_high")
        if p.thermal_norm == "fixed" and not p.thermal_range_max > p.thermal_range_min:
            raise ValueError("thermal_norm=fixed needs thermal_range_max > thermal_range_min")
        from rgbt_seg_core.inference.registration import check_homography

        try:
            check_homography(p.thermal_homography)
        except ValueError as exc:
            raise ValueError(f"parameter {exc}") from None
        try:
            p.runtime_config()  # the runtime's own cross-checks (jump_threshold > slop, ...), named as parameters
            p.inference_config()  # the engine's (precision int8 needs backend and model_file)
        except ValueError as exc:
            raise ValueError(f"parameters: {exc}") from exc
        return p

    def runtime_config(self):
        from rgbt_seg_core.runtime import RuntimeConfig

        return RuntimeConfig(queue_size=self.queue_size, slop=self.slop, max_pixels=self.max_pixels,
                             modality_timeout=self.modality_timeout,
                             blank_missing_modality=self.blank_missing_modality,
                             jump_threshold=self.jump_threshold, stats_window=self.stats_window,
                             overlay_alpha=self.overlay_alpha, frozen_timeout=self.frozen_timeout, realtime=True)

    def inference_config(self):
        from rgbt_seg_core.inference.engine import InferenceConfig

        return InferenceConfig(device=self.device, precision=self.precision, backend=self.backend,
                               model_file=self.model_file, openvino_device=self.openvino_device,
                               cuda_graphs=self.cuda_graphs, thermal_norm=self.thermal_norm_config(),
                               thermal_offset=(self.thermal_offset_x, self.thermal_offset_y),
                               thermal_homography=tuple(self.thermal_homography), warmup=self.warmup)

    def thermal_norm_config(self):
        from rgbt_seg_core.inference.preprocess import ThermalNorm

        fixed = self.thermal_range_max > self.thermal_range_min
        rng = (self.thermal_range_min, self.thermal_range_max) if fixed else None
        return ThermalNorm(mode=self.thermal_norm, range=rng,
                           percentiles=(self.thermal_percentile_low, self.thermal_percentile_high))


def _specs() -> tuple[ParamSpec, ...]:
    """The parameter table, from :class:`NodeParams`' fields: a field's type annotation and its default's type must
    agree, as validation goes by the default's type."""
    hints = typing.get_type_hints(NodeParams)
    specs = []
    for f in fields(NodeParams):
        spec = ParamSpec(f.name, *f.metadata["spec"])
        if type(spec.default) is not hints[f.name]:
            raise TypeError(f"parameter {f.name}: annotated {hints[f.name].__name__}, default {spec.default!r}")
        specs.append(spec)
    return tuple(specs)


PARAM_SPECS: tuple[ParamSpec, ...] = _specs()

_YAML_HEADER = """\
# Parameters of rgbt_seg_ros/segmentation_node (every one, with its default). `/**` matches the node in any
# namespace. The launch file overrides checkpoint and device only when its arguments are given.
# Generated from rgbt_seg_ros/params.py: python -m rgbt_seg_ros.params > config/segment.yaml
/**:
  ros__parameters:
"""


def render_yaml() -> str:
    """``config/segment.yaml``: every parameter with its default and description (a test keeps the file equal)."""
    lines = [_YAML_HEADER.rstrip("\n")]
    for spec in PARAM_SPECS:
        notes = []
        if spec.choices:
            notes.append(f"one of {', '.join(spec.choices)}")
        if spec.range:
            notes.append(f"range {spec.range[0]}..{spec.range[1]}")
        if spec.read_only:
            notes.append("read-only after start")
        lines.append(f"    # {spec.description}" + (f" ({'; '.join(notes)})" if notes else ""))
        value = spec.default
        text = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"    {spec.name}: {text}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_yaml(), end="")
