"""The one table of settings: every parameter of the segmentation node, which is also every setting of the engine
(:class:`~rgbt_seg_core.inference.engine.InferenceConfig`), the runtime
(:class:`~rgbt_seg_core.runtime.runtime.RuntimeConfig`) and the tools that replay what the node runs (``bag-eval``,
``bag-extract``, ``bench node``, the demo's live step). Each is written once, as a field of :class:`Settings`
whose metadata is its row (:class:`~rgbt_seg_core.settings.spec.Setting`): default, description, unit, range,
choices, whether it may change at run time, and its group. The node declares its parameters from
:data:`SETTINGS`, ``config/segment.yaml`` is rendered from it (:mod:`.render`), the configs take their defaults
from :func:`default`, and the tools' flags are generated from it (:mod:`rgbt_seg_core.cli.settings_options`), so a
default cannot differ between them."""

from __future__ import annotations

import copy
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from rgbt_seg_core.deploy import BACKENDS, backends_taking, list_backends
from rgbt_seg_core.settings.check import MAX_PAIRS, check_device, check_pair_names, check_value
from rgbt_seg_core.settings.files import FOREIGN_PARAMETERS
from rgbt_seg_core.settings.spec import Setting, SettingsError, setting_field
from rgbt_seg_core.settings.vocab import (
    CONFIDENCE_ENCODINGS,
    PRECISIONS,
    QOS_RELIABILITIES,
    THERMAL_NORM_MODES,
    TRANSPORTS,
)

__all__ = ["Settings", "SETTINGS", "SETTING_NAMES", "setting", "default", "defaults", "settings_in"]

_S = "s"  # seconds
_PX = "px"
# what the backend registry says, so that a backend added there is described here too
_INT8 = ", ".join(backends_taking("int8"))
_BACKENDS_TEXT = "; ".join(b.summary for b in list_backends())
_FILES = [b for b in list_backends() if b.format]
_FORMATS = "|".join(b.format for b in _FILES)
_SUFFIXES = ", ".join(b.model_suffix for b in _FILES)


def _pair_names(names: list[str]) -> list[str]:
    """``pairs``' own check: beside the rules of a name, no pair named as one of the node's parameters, ours or
    those every rclpy node has (a pair ``slop`` would make ``slop.frozen_timeout`` a key under the value ``slop``)."""
    return check_pair_names(names, reserved=SETTING_NAMES + tuple(f.removesuffix(".*") for f in FOREIGN_PARAMETERS))


@dataclass(frozen=True)
class Settings:
    """Every setting, in the node's declaration order; made and validated by :meth:`from_values`."""

    checkpoint: str = setting_field("", "rgbt-seg .safetensors checkpoint (training or deploy form; "
                                    "re-parameterised at start)", group="inference")
    device: str = setting_field("auto", "inference device: auto (CUDA if available), cpu, cuda, cuda:N",
                                group="inference", check=check_device)
    precision: str = setting_field("auto", "auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, "
                                   "bf16, fp16; int8 runs the quantised model_file of `rgbt-seg export --int8` "
                                   f"(backend {_INT8})", choices=PRECISIONS,
                                   group="inference")
    backend: str = setting_field("torch", f"inference backend: {_BACKENDS_TEXT}; {_INT8} also run an INT8 "
                                 "model_file (precision int8)", choices=BACKENDS, group="inference")
    model_file: str = setting_field("", f"the backend's model from `rgbt-seg export --format {_FORMATS}` "
                                    f"({_SUFFIXES}); empty: made once from the checkpoint into "
                                    "$XDG_CACHE_HOME/rgbt_seg (~/.cache/rgbt_seg)", group="inference")
    openvino_device: str = setting_field("CPU", "backend openvino: CPU, GPU (Intel iGPU) or AUTO", group="inference")
    cuda_graphs: bool = setting_field(True, "backend torch on CUDA: capture the model once per input size and "
                                      "replay it", group="inference")
    min_confidence: float = setting_field(0.0, "pixels whose winning class's softmax probability is below this get "
                                          "the unlabelled id 255 in ~/labels (LabelInfo's threshold; bag-eval "
                                          "scores them as misses); 0: off", range=(0.0, 1.0), dynamic=True,
                                          group="inference")
    pairs: list[str] = setting_field([], "camera pairs this node serves, each on topics under its name "
                                     "(<pair>/rgb/image, <pair>/thermal/image and <pair>/rgb/camera_info in; "
                                     "~/<pair>/labels and the other outputs out), with <pair>.<setting> over the "
                                     "node's value for each setting a pair may set; empty: one pair on rgb/image, "
                                     "thermal/image and ~/labels", group="node", check=_pair_names)
    max_batch: int = setting_field(0, "most frames, each from another pair, in one model call; 0: the number of "
                                   "pairs", range=(0, MAX_PAIRS), group="node")
    batch_timeout: float = setting_field(0.0, "time to wait for more pairs' frames before a partial batch runs; 0: "
                                         "run what is ready at once", unit=_S, range=(0.0, 1.0), group="node")
    warmup: int = setting_field(2, "warm-up inferences at start, at warmup_height x warmup_width", range=(0, 100),
                                group="node")
    warmup_height: int = setting_field(480, "warm-up frame height", unit=_PX, range=(32, 8192), group="node")
    warmup_width: int = setting_field(640, "warm-up frame width", unit=_PX, range=(32, 8192), group="node")
    rgb_transport: str = setting_field("raw", "colour camera transport, named as image_transport names them: raw "
                                       "(sensor_msgs/Image on rgb/image), compressed (CompressedImage jpeg/png on "
                                       "rgb/image/compressed), compressedDepth (on rgb/image/compressedDepth)",
                                       choices=TRANSPORTS, group="camera", per_pair=True)
    thermal_transport: str = setting_field("raw", "thermal camera transport: raw (Image on thermal/image), "
                                           "compressed (8- or 16-bit png on thermal/image/compressed), "
                                           "compressedDepth (16-bit, on thermal/image/compressedDepth)",
                                           choices=TRANSPORTS, group="camera", per_pair=True)
    qos_reliability: str = setting_field("best_effort", "image subscriptions' reliability (reliable never connects "
                                         "to a best-effort camera driver)", choices=QOS_RELIABILITIES,
                                         group="camera", per_pair=True)
    qos_depth: int = setting_field(2, "image subscriptions' history depth", range=(1, 100), group="camera",
                                   per_pair=True)
    queue_size: int = setting_field(10, "approximate-time pairing: messages kept per camera", range=(1, 1000),
                                    group="runtime", per_pair=True)
    slop: float = setting_field(0.05, "approximate-time pairing: stamps pair when strictly closer than this (> 0)",
                                unit=_S, range=(1e-6, 10.0), group="runtime", per_pair=True)
    max_pixels: int = setting_field(1920 * 1200, "frames with more pixels (height x width) are rejected before "
                                    "decoding", unit=_PX, range=(1, 100_000_000), group="runtime")
    jump_threshold: float = setting_field(2.0, "a stamp stepping back more than this, or ahead more than this "
                                          "beyond the time elapsed, is a clock jump (pairing restarts)", unit=_S,
                                          range=(0.01, 86400.0), group="runtime")
    thermal_norm: str = setting_field("auto", "thermal to [0,1]: auto (8-bit /255, else fixed if a range is set, "
                                      "else percentile), fixed, percentile", choices=THERMAL_NORM_MODES,
                                      dynamic=True, group="inference", per_pair=True)
    thermal_range_min: float = setting_field(0.0, "fixed thermal range low end; used when max > min",
                                             unit="raw units", dynamic=True, group="inference", per_pair=True)
    thermal_range_max: float = setting_field(0.0, "fixed thermal range high end; 0 = not set", unit="raw units",
                                             dynamic=True, group="inference", per_pair=True)
    thermal_percentile_low: float = setting_field(1.0, "percentile mode: low percentile", unit="%",
                                                  range=(0.0, 100.0), dynamic=True, group="inference", per_pair=True)
    thermal_percentile_high: float = setting_field(99.0, "percentile mode: high percentile", unit="%",
                                                   range=(0.0, 100.0), dynamic=True, group="inference", per_pair=True)
    thermal_offset_x: int = setting_field(0, "pixels to move thermal right onto RGB (registration fix)", unit=_PX,
                                          range=(-500, 500), dynamic=True, group="inference", per_pair=True)
    thermal_offset_y: int = setting_field(0, "pixels to move thermal down onto RGB (registration fix)", unit=_PX,
                                          range=(-500, 500), dynamic=True, group="inference", per_pair=True)
    thermal_homography: list[float] = setting_field([0.0] * 9, "3x3 thermal-pixel -> RGB-pixel homography, row-major "
                                             "(`rgbt-seg register` writes it); all zeros: not set (thermal is "
                                             "resized to RGB, then moved by the offset)", dynamic=True,
                                             group="inference", per_pair=True)
    overlay_alpha: float = setting_field(0.5, "opacity of the class colours in ~/overlay", range=(0.0, 1.0),
                                         dynamic=True, group="runtime")
    confidence_encoding: str = setting_field("32FC1", "~/label_confidence's encoding: 32FC1 (the winning class's "
                                             "softmax probability) or mono8 (round(255 x probability))",
                                             choices=CONFIDENCE_ENCODINGS, dynamic=True, group="runtime")
    jpeg_quality: int = setting_field(80, "JPEG quality of ~/color/compressed and ~/overlay/compressed "
                                      "(image_transport's compressed transport; ~/labels/compressed is lossless "
                                      "PNG); higher: sharper and larger", range=(1, 100), dynamic=True,
                                      group="runtime")
    modality_timeout: float = setting_field(1.0, "silence after which a camera counts as failed", unit=_S,
                                            range=(0.0, 3600.0), dynamic=True, group="runtime", per_pair=True)
    frozen_timeout: float = setting_field(2.0, "bit-identical frames for this long make a camera count as failed "
                                          "(a stuck driver, a hung flat-field correction) until its frames change; "
                                          "0: off", unit=_S, range=(0.0, 3600.0), dynamic=True, group="runtime",
                                          per_pair=True)
    blank_missing_modality: bool = setting_field(True, "when a camera fails, continue from the other with it "
                                                 "blanked", dynamic=True, group="runtime", per_pair=True)
    diagnostics_period: float = setting_field(1.0, "time between /diagnostics messages", unit=_S,
                                              range=(0.05, 60.0), dynamic=True, group="node")
    stats_window: float = setting_field(5.0, "time over which rates and warnings are judged (a warning clears "
                                        "once its cause has been absent this long)", unit=_S, range=(0.5, 600.0),
                                        dynamic=True, group="runtime")

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, source: str = "") -> "Settings":
        """Every setting from ``values``, the rest at their defaults, each checked as the node checks its parameter
        (:func:`~rgbt_seg_core.settings.check.check_value`), then the checks across settings. Raises
        :class:`SettingsError` naming the setting (and ``source``, the file or flags the values came from)."""
        where = f"{source}: " if source else ""
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            why = ("a camera pair's own value, <pair>.<setting>: this takes the node's settings alone"
                   if "." in unknown[0] else "the settings are those of config/segment.yaml")
            raise SettingsError(f"{where}unknown parameter {unknown[0]} ({why})")
        out = {}
        try:
            for s in SETTINGS:
                out[s.name] = check_value(s, values[s.name]) if s.name in values else default(s.name)
            made = cls(**out)
            made._cross_check()
        except SettingsError as exc:
            raise SettingsError(f"{where}{exc}") from None
        return made

    def _cross_check(self) -> None:
        if self.thermal_percentile_low >= self.thermal_percentile_high:
            raise SettingsError("parameter thermal_percentile_low must be below thermal_percentile_high")
        if self.thermal_norm == "fixed" and not self.thermal_range_max > self.thermal_range_min:
            raise SettingsError("thermal_norm=fixed needs thermal_range_max > thermal_range_min")

    def values(self) -> dict[str, Any]:
        """Name -> value, in declaration order (copies: changing them changes nothing here)."""
        return copy.deepcopy(asdict(self))

    def replace(self, changes: Mapping[str, Any], *, source: str = "") -> "Settings":
        """These settings with ``changes`` over them, validated as a whole (the result's class is this one's)."""
        return type(self).from_values({**self.values(), **changes}, source=source)

    def thermal_range(self) -> tuple[float, float] | None:
        """The fixed thermal range, where one is set (max above min)."""
        fixed = self.thermal_range_max > self.thermal_range_min
        return (self.thermal_range_min, self.thermal_range_max) if fixed else None


def _rows() -> tuple[Setting, ...]:
    """The schema, from :class:`Settings`' fields: a field's annotation and its default's type must agree, as
    validation goes by the type."""
    hints = typing.get_type_hints(Settings)
    rows = []
    for f in fields(Settings):
        hint = hints[f.name]
        kind, items = typing.get_origin(hint) or hint, typing.get_args(hint)
        if kind is list and len(items) != 1:
            raise TypeError(f"setting {f.name}: annotate a list with its item type (list[float], list[str])")
        row = Setting(f.name, kind, **f.metadata["setting"], item=items[0] if items else None)
        listed: list[Any] = row.default if items and isinstance(row.default, list) else []
        if type(row.default) is not row.type or any(type(v) is not row.item for v in listed):
            raise TypeError(f"setting {f.name}: annotated {hint}, default {row.default!r}")
        rows.append(row)
    return tuple(rows)


SETTINGS: tuple[Setting, ...] = _rows()
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)
_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The schema's row for ``name``; KeyError names an unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no setting named {name!r}") from None


def default(name: str) -> Any:
    """The one default of a setting (a fresh copy of a list), for the configs' field defaults."""
    return copy.copy(setting(name).default)


def defaults() -> dict[str, Any]:
    return {s.name: default(s.name) for s in SETTINGS}


def settings_in(groups: typing.Iterable[str]) -> tuple[Setting, ...]:
    """The settings of these groups, in declaration order."""
    wanted = set(groups)
    bad = wanted - {s.group for s in SETTINGS}
    if bad:
        raise ValueError(f"no settings group {sorted(bad)[0]!r}")
    return tuple(s for s in SETTINGS if s.group in wanted)
