"""Turning raw camera arrays into model inputs: one implementation, in torch, for the CPU and the GPU alike.

The data sets, the evaluator, the ROS node and the bag tools all feed the network through these functions, so
every path gives identical tensors on the same device. The raw arrays are moved to the device as they arrive
(uint8 RGB, the thermal frame's own integer or float type: on a GPU a fraction of the float32 bytes) and
scaled, normalised, resized and shifted there, so a GPU host does no per-pixel work. NumPy appears only where
arrays come in or go out.

Order of the steps: RGB / 255; thermal normalised at its own resolution *first* (so percentiles and ranges see
the raw values), then resized bilinearly to the RGB frame (half-pixel centres, as OpenCV's INTER_LINEAR) and moved
by the registration offset, or warped by the registration homography
(:mod:`rgbt_seg_core.inference.registration`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rgbt_seg_core.inference.registration import check_homography, warp_thermal
from rgbt_seg_core.settings.schema import default
from rgbt_seg_core.settings.vocab import THERMAL_NORM_MODES

__all__ = ["ThermalNorm", "Preprocessing", "THERMAL_ABS_LIMIT", "Upload", "thermal_range_rule", "usable_span",
           "thermal_problem", "check_camera_arrays", "shift_slices", "shift", "percentile", "thermal_tensor",
           "normalize_thermal_tensor", "normalize_thermal", "register_thermal", "prepare_on_device", "prepare_inputs"]

# Far above any thermal unit in use (raw counts, kelvin, degrees, millikelvin), far below float32's 3.4e38: a
# frame beyond it holds sentinels or garbage, and differences of its values overflow in normalisation.
THERMAL_ABS_LIMIT = 1e30

Upload = Callable[[np.ndarray], torch.Tensor]  # a host array -> the same values as a tensor on the device
CPU = torch.device("cpu")


@dataclass(frozen=True)
class ThermalNorm:
    """How thermal values map to [0, 1].

    ``mode="auto"``: 8-bit divides by 255; 16-bit and float use the fixed ``range`` if given, else percentiles.
    ``mode="fixed"``: (x - lo) / (hi - lo), clipped; ``range`` required for non-8-bit data.
    ``mode="percentile"``: per-frame ``percentiles`` (low, high) of the valid (finite, non-zero) pixels.
    """

    mode: str = default("thermal_norm")  # one of THERMAL_NORM_MODES
    range: tuple[float, float] | None = None
    percentiles: tuple[float, float] = (default("thermal_percentile_low"), default("thermal_percentile_high"))

    def __post_init__(self) -> None:
        if self.mode not in THERMAL_NORM_MODES:
            raise ValueError(f"thermal normalisation mode must be one of {', '.join(THERMAL_NORM_MODES)}, got "
                             f"{self.mode!r}")
        if self.range is not None and not self.range[1] > self.range[0]:
            raise ValueError(f"thermal range must have high > low, got {self.range}")
        lo, hi = self.percentiles
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError(f"thermal percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")


@dataclass(frozen=True)
class Preprocessing:
    """One camera pair's preprocessing: its thermal normalisation and its registration onto its RGB camera.

    Why apart from the engine's config: one engine serves several camera pairs (issue 26), each with its own
    registration and thermal settings, and a batch of their frames is preprocessed frame by frame with each frame's
    own. The homography is parsed and checked once, when this is made (a bad matrix fails here, naming why), and
    then shared, read-only, by every frame that uses it.
    """

    thermal_norm: ThermalNorm = field(default_factory=ThermalNorm)
    thermal_offset: tuple[int, int] = (default("thermal_offset_x"), default("thermal_offset_y"))  # (dx, dy) pixels
    # 9 numbers, row-major: thermal pixel -> RGB pixel; None or all zeros: not set
    thermal_homography: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.thermal_norm, ThermalNorm):
            raise ValueError(f"thermal_norm must be a ThermalNorm, got {type(self.thermal_norm).__name__}")
        offset = tuple(self.thermal_offset)
        if len(offset) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in offset):
            raise ValueError(f"thermal_offset must be two whole numbers of pixels (dx, dy), got "
                             f"{self.thermal_offset!r}")
        object.__setattr__(self, "thermal_offset", (int(offset[0]), int(offset[1])))
        h = check_homography(self.thermal_homography)
        if h is not None:
            h.setflags(write=False)
            object.__setattr__(self, "thermal_homography", tuple(float(v) for v in h.reshape(-1)))
        else:
            object.__setattr__(self, "thermal_homography", None)
        object.__setattr__(self, "_homography", h)

    def homography(self) -> np.ndarray | None:
        """The 3x3 thermal -> RGB matrix (normalised so H[2,2] = 1), or None where none is set."""
        return self._homography  # type: ignore[attr-defined]  # set by __post_init__ (frozen), not a field


def thermal_range_rule(norm: ThermalNorm, from_uint8: bool) -> Literal["scale255", "percentile"] | tuple[float, float]:
    """How a frame maps to [0, 1] under ``norm``: ``"scale255"``, ``"percentile"`` (of its valid pixels) or a fixed
    (low, high)."""
    mode = norm.mode
    if mode == "auto":
        if from_uint8:
            return "scale255"
        mode = "fixed" if norm.range is not None else "percentile"
    if mode == "percentile":
        return "percentile"
    if norm.range is None:
        if not from_uint8:
            raise ValueError("fixed thermal normalisation of 16-bit/float data needs a range (low, high)")
        return 0.0, 255.0
    return norm.range


def usable_span(lo: float, hi: float) -> float | None:
    """hi - lo, with a flat percentile range widened to 1; None where there is no contrast to scale (a flat frame
    at a magnitude where lo + 1 == lo)."""
    if hi <= lo:
        hi = lo + 1.0
    span = hi - lo
    return span if np.isfinite(span) and span > 0 else None


def thermal_problem(thermal: np.ndarray) -> tuple[str | None, bool]:
    """The NaN rule, in one place: (reason the frame is unusable or None, whether some pixels are non-finite).

    Unusable: no finite pixel, or finite values beyond :data:`THERMAL_ABS_LIMIT`. Usable with a flag: some
    NaN/inf pixels (normalisation sets them to 0). Integer frames are always usable.
    """
    if thermal.dtype.kind != "f":
        return None, False
    finite = np.isfinite(thermal)
    if not finite.any():
        return "no finite pixel", True
    nonfinite = not finite.all()
    peak = float(np.abs(thermal[finite]).max()) if nonfinite else float(np.abs(thermal).max())
    if peak > THERMAL_ABS_LIMIT:
        return f"values up to {peak:.3g} (limit {THERMAL_ABS_LIMIT:.0e}); sentinel or garbage data", nonfinite
    return None, nonfinite


def check_camera_arrays(rgb: np.ndarray | None, thermal: np.ndarray | None) -> tuple[int, int]:
    """The frame size (the RGB image's, else thermal's) after checking both arrays' shapes and types."""
    frame = rgb if rgb is not None else thermal
    if frame is None:
        raise ValueError("at least one of rgb and thermal is required")
    if rgb is not None and (rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8):
        raise ValueError(f"rgb must be uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    if thermal is not None and thermal.ndim != 2:
        raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
    h, w = frame.shape[:2]
    return int(h), int(w)


def shift_slices(h: int, w: int, dx: int, dy: int) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(source, destination) slices that move an h x w image by (dx, dy); None when nothing stays in frame."""
    if abs(dx) >= w or abs(dy) >= h:
        return None
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    return (ys, xs), (yd, xd)


def shift(t: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``t`` (... x H x W, any dtype) moved right by ``dx`` and down by ``dy`` pixels: the registration offset.
    Vacated pixels are 0, the value a missing modality gets."""
    if dx == 0 and dy == 0:
        return t
    out = torch.zeros_like(t)
    cut = shift_slices(t.shape[-2], t.shape[-1], dx, dy)
    if cut is not None:
        (ys, xs), (yd, xd) = cut
        out[..., yd, xd] = t[..., ys, xs]
    return out


def percentile(values: torch.Tensor, q: float) -> float:
    """NumPy's default (linear) percentile of a 1-D tensor, for any size (torch.quantile stops at 2**24)."""
    n = values.numel()
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    ordered = values.float().sort().values
    a, b = float(ordered[lo]), float(ordered[hi])
    frac = pos - lo
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1.0 - frac)


def _host(a: np.ndarray) -> np.ndarray:
    """C-contiguous, writable and in native byte order: what torch.from_numpy takes (a message's read-only
    buffer is copied rather than shared with a tensor that could write to it)."""
    a = np.ascontiguousarray(a)
    if not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a if a.flags.writeable else a.copy()


def _plain_upload(device: torch.device) -> Upload:
    return lambda a: torch.from_numpy(_host(a)).to(device)


def thermal_tensor(thermal: np.ndarray, upload: Upload) -> tuple[torch.Tensor, bool]:
    """H x W raw thermal -> (its values as float32 on the device, whether it was 8-bit). Integers up to 32 bits
    travel in their own type and widen on the device; float64 and int64 become float32 on the host."""
    if thermal.dtype == np.uint8:
        return upload(thermal).float(), True
    if thermal.dtype == np.uint16:  # torch's uint16 has few kernels: move the bits as int16, widen on the device
        return (upload(_host(thermal).view(np.int16)).int() & 0xFFFF).float(), False
    if thermal.dtype.kind in "iu" and thermal.dtype.itemsize <= 4 or thermal.dtype == np.float32:
        return upload(thermal).float(), False
    return upload(thermal.astype(np.float32)), False


def normalize_thermal_tensor(x: torch.Tensor, from_uint8: bool, norm: ThermalNorm = ThermalNorm(),
                             integer: bool = False) -> torch.Tensor:
    """H x W float32 thermal (raw values) -> [0, 1] under ``norm``; NaN/inf pixels count as 0. ``integer``: the
    values came from an integer image, so every one is finite and the scan for NaN (1.5 ms at 480 x 640 on a
    loaded CPU, the largest part of preprocessing an 8-bit frame) is skipped."""
    integer = integer or from_uint8
    if not integer:
        finite = torch.isfinite(x)
        x = torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device))
    rule = thermal_range_rule(norm, from_uint8)
    if rule == "scale255":
        return x / 255.0
    if rule == "percentile":
        valid = x[x != 0] if integer else x[finite & (x != 0)]
        if valid.numel() == 0:
            return torch.zeros_like(x)
        lo, hi = (percentile(valid, p) for p in norm.percentiles)
    else:
        lo, hi = rule
    span = usable_span(lo, hi)
    if span is None:
        return torch.zeros_like(x)
    y = (x - float(np.float32(lo))) / float(np.float32(span))
    return torch.nan_to_num(y, nan=0.0, posinf=1.0, neginf=0.0).clamp_(0.0, 1.0)


def normalize_thermal(thermal: np.ndarray, norm: ThermalNorm = ThermalNorm()) -> np.ndarray:
    """H x W thermal (uint8, uint16 or float) -> float32 in [0, 1] at its own size, for array-based tools."""
    if thermal.ndim != 2:
        raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
    raw, from_uint8 = thermal_tensor(thermal, _plain_upload(CPU))
    return normalize_thermal_tensor(raw, from_uint8, norm, integer=thermal.dtype.kind in "iub").numpy()


def register_thermal(t: torch.Tensor, out_hw: tuple[int, int], offset: tuple[int, int] = (0, 0),
                     homography: np.ndarray | None = None) -> torch.Tensor:
    """N x 1 x h x w thermal (normalised or raw values) -> N x 1 x H x W in the RGB frame: warped by
    ``homography`` (then moved by ``offset``), else resized bilinearly and moved by ``offset`` (dx, dy)."""
    if homography is not None:
        return warp_thermal(t, homography, out_hw, offset)
    if tuple(t.shape[-2:]) != tuple(out_hw):
        t = F.interpolate(t, size=out_hw, mode="bilinear", align_corners=False)
    return shift(t, *offset)


def prepare_on_device(rgb: np.ndarray | None, thermal: np.ndarray | None, norm: ThermalNorm = ThermalNorm(),
                      offset: tuple[int, int] = (0, 0), device: torch.device = CPU, upload: Upload | None = None,
                      homography: np.ndarray | None = None, channels_last: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw camera arrays -> 1 x 3 x H x W and 1 x 1 x H x W float32 tensors in [0, 1] on ``device``, at the RGB
    frame's size; a missing modality is zeros at the other's size. ``upload`` moves a host array there
    (default: a plain copy; the engine passes its pinned, non-blocking staging). ``channels_last``: the RGB
    tensor in that memory layout, which is the camera's own H x W x 3 order, so it is made in one pass instead of
    three (0.17 ms instead of 0.68 at 480 x 640 on a CPU)."""
    h, w = check_camera_arrays(rgb, thermal)
    up = upload or _plain_upload(device)
    if rgb is not None:
        r = torch.div(up(rgb).permute(2, 0, 1).unsqueeze(0), 255.0)  # one pass; H x W x 3 strides: channels-last
        r = r.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    else:
        r = torch.zeros(1, 3, h, w, device=device)
    if thermal is not None:
        raw, from_uint8 = thermal_tensor(thermal, up)
        t = normalize_thermal_tensor(raw, from_uint8, norm, integer=thermal.dtype.kind in "iub")[None, None]
        # interpolation weights sum to 1 only to float rounding: an all-1 frame came back as 1.0000001
        t = register_thermal(t, (h, w), offset, homography).clamp_(0.0, 1.0)
    else:
        t = torch.zeros(1, 1, h, w, device=device)
    return r, t


def prepare_inputs(rgb: np.ndarray | None, thermal: np.ndarray | None, norm: ThermalNorm = ThermalNorm(),
                   offset: tuple[int, int] = (0, 0), homography: np.ndarray | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prepare_on_device` on the CPU, one sample as data sets give it: 3 x H x W and 1 x H x W."""
    r, t = prepare_on_device(rgb, thermal, norm, offset, CPU, homography=homography)
    return r[0], t[0]
