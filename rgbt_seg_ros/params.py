"""The node's parameters: declared once from this table, with descriptions and ranges, validated as one frozen
dataclass. ``config/segment.yaml`` lists the same keys (a test checks they agree)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

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


PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", "", "rgbt-seg .safetensors checkpoint (training or deploy form; re-parameterised at start)",
              read_only=True),
    ParamSpec("device", "auto", "inference device: auto (CUDA if available), cpu, cuda, cuda:N", read_only=True),
    ParamSpec("precision", "auto", "auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, bf16, fp16",
              choices=("auto", "fp32", "bf16", "fp16"), read_only=True),
    ParamSpec("backend", "torch", "inference backend: torch, onnxruntime (fp32; extra [onnx]), openvino (Intel CPU/iGPU; "
              "extra [openvino]), tensorrt (fp16 engine on the GPU; extra [tensorrt])",
              choices=("torch", "onnxruntime", "openvino", "tensorrt"), read_only=True),
    ParamSpec("model_file", "", "the backend's model from `rgbt-seg export --format onnx|openvino|tensorrt` (.onnx, "
              ".xml, .engine); empty: made once from the checkpoint into $XDG_CACHE_HOME/rgbt_seg (~/.cache/rgbt_seg)",
              read_only=True),
    ParamSpec("openvino_device", "CPU", "backend openvino: CPU, GPU (Intel iGPU) or AUTO", read_only=True),
    ParamSpec("cuda_graphs", True, "backend torch on CUDA: capture the model once per input size and replay it",
              read_only=True),
    ParamSpec("warmup", 2, "warm-up inferences at start, at warmup_height x warmup_width", (0, 100), read_only=True),
    ParamSpec("warmup_height", 480, "warm-up frame height", (32, 8192), read_only=True),
    ParamSpec("warmup_width", 640, "warm-up frame width", (32, 8192), read_only=True),
    ParamSpec("rgb_transport", "raw", "colour camera transport, named as image_transport names them: raw "
              "(sensor_msgs/Image on rgb/image), compressed (CompressedImage jpeg/png on rgb/image/compressed), "
              "compressedDepth (on rgb/image/compressedDepth)", choices=TRANSPORTS, read_only=True),
    ParamSpec("thermal_transport", "raw", "thermal camera transport: raw (Image on thermal/image), compressed (8- or "
              "16-bit png on thermal/image/compressed), compressedDepth (16-bit, on thermal/image/compressedDepth)",
              choices=TRANSPORTS, read_only=True),
    ParamSpec("qos_reliability", "best_effort", "image subscriptions' reliability (reliable never connects to a "
              "best-effort camera driver)", choices=("best_effort", "reliable"), read_only=True),
    ParamSpec("qos_depth", 2, "image subscriptions' history depth", (1, 100), read_only=True),
    ParamSpec("queue_size", 10, "approximate-time pairing: messages kept per camera", (1, 1000), read_only=True),
    ParamSpec("slop", 0.05, "approximate-time pairing: stamps pair when strictly closer than this (seconds, > 0)",
              (1e-6, 10.0), read_only=True),
    ParamSpec("max_pixels", 1920 * 1200, "frames with more pixels (height x width) are rejected before decoding",
              (1, 100_000_000), read_only=True),
    ParamSpec("jump_threshold", 2.0, "seconds: a stamp stepping back more than this, or ahead more than this "
              "beyond the time elapsed, is a clock jump (pairing restarts)", (0.01, 86400.0), read_only=True),
    ParamSpec("thermal_norm", "auto", "thermal to [0,1]: auto (8-bit /255, else fixed if a range is set, else "
              "percentile), fixed, percentile", choices=("auto", "fixed", "percentile")),
    ParamSpec("thermal_range_min", 0.0, "fixed thermal range low end (raw units); used when max > min"),
    ParamSpec("thermal_range_max", 0.0, "fixed thermal range high end (raw units); 0 = not set"),
    ParamSpec("thermal_percentile_low", 1.0, "percentile mode: low percentile", (0.0, 100.0)),
    ParamSpec("thermal_percentile_high", 99.0, "percentile mode: high percentile", (0.0, 100.0)),
    ParamSpec("thermal_offset_x", 0, "pixels to move thermal right onto RGB (registration fix)", (-500, 500)),
    ParamSpec("thermal_offset_y", 0, "pixels to move thermal down onto RGB (registration fix)", (-500, 500)),
    ParamSpec("thermal_homography", [0.0] * 9, "3x3 thermal-pixel -> RGB-pixel homography, row-major (`rgbt-seg "
              "register` writes it); all zeros: not set (thermal is resized to RGB, then moved by the offset)"),
    ParamSpec("overlay_alpha", 0.5, "opacity of the class colours in ~/overlay", (0.0, 1.0)),
    ParamSpec("modality_timeout", 1.0, "seconds of silence after which a camera counts as failed", (0.0, 3600.0)),
    ParamSpec("frozen_timeout", 2.0, "seconds of bit-identical frames after which a camera counts as failed (a stuck "
              "driver, a hung flat-field correction) until its frames change; 0: off", (0.0, 3600.0)),
    ParamSpec("blank_missing_modality", True, "when a camera fails, continue from the other with it blanked"),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", (0.05, 60.0)),
    ParamSpec("stats_window", 5.0, "seconds over which rates and warnings are judged (a warning clears once its "
              "cause has been absent this long)", (0.5, 600.0)),
)


@dataclass(frozen=True)
class NodeParams:
    checkpoint: str
    device: str
    precision: str
    backend: str
    model_file: str
    openvino_device: str
    cuda_graphs: bool
    warmup: int
    warmup_height: int
    warmup_width: int
    rgb_transport: str
    thermal_transport: str
    qos_reliability: str
    qos_depth: int
    queue_size: int
    slop: float
    max_pixels: int
    jump_threshold: float
    thermal_norm: str
    thermal_range_min: float
    thermal_range_max: float
    thermal_percentile_low: float
    thermal_percentile_high: float
    thermal_offset_x: int
    thermal_offset_y: int
    thermal_homography: list
    overlay_alpha: float
    modality_timeout: float
    frozen_timeout: float
    blank_missing_modality: bool
    diagnostics_period: float
    stats_window: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "NodeParams":
        """Build and validate; raises ValueError naming the parameter and the allowed values."""
        specs = {s.name: s for s in PARAM_SPECS}
        out: dict[str, Any] = {}
        for f in fields(cls):
            spec = specs[f.name]
            v = values.get(f.name, spec.default)
            want = type(spec.default)
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if want is list and not isinstance(v, (str, bytes)) and hasattr(v, "__len__"):  # rclpy: array('d')
                try:
                    v = [float(x) for x in v]
                except (TypeError, ValueError):
                    raise ValueError(f"parameter {f.name}: expected a list of numbers, got {v!r}") from None
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                raise ValueError(f"parameter {f.name}: expected {want.__name__}, got {v!r}")
            if want is float and not math.isfinite(v):
                raise ValueError(f"parameter {f.name}: expected a finite number, got {v!r}")
            if spec.range is not None and not spec.range[0] <= v <= spec.range[1]:
                raise ValueError(f"parameter {f.name}={v!r} out of range [{spec.range[0]}, {spec.range[1]}]")
            if spec.choices is not None and v not in spec.choices:
                raise ValueError(f"parameter {f.name}={v!r}: expected one of {', '.join(spec.choices)}")
            out[f.name] = v
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

        rng = (self.thermal_range_min, self.thermal_range_max) if self.thermal_range_max > self.thermal_range_min else None
        return ThermalNorm(mode=self.thermal_norm, range=rng,
                           percentiles=(self.thermal_percentile_low, self.thermal_percentile_high))


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
