"""Turning raw camera arrays into model inputs; shared by the data sets, the evaluator, the ROS node and the bag
tools so that every path feeds the network identical tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ThermalNorm", "normalize_thermal", "thermal_range_rule", "usable_span", "check_camera_arrays",
           "shift_slices", "thermal_problem", "prepare_inputs", "to_input_tensors",
           "THERMAL_ABS_LIMIT"]

# Far above any thermal unit in use (raw counts, kelvin, degrees, millikelvin), far below float32's 3.4e38: a
# frame beyond it holds sentinels or garbage, and differences of its values overflow in normalisation.
THERMAL_ABS_LIMIT = 1e30


@dataclass(frozen=True)
class ThermalNorm:
    """How thermal values map to [0, 1].

    ``mode="auto"``: 8-bit divides by 255; 16-bit and float use the fixed ``range`` if given, else percentiles.
    ``mode="fixed"``: (x - lo) / (hi - lo), clipped; ``range`` required for non-8-bit data.
    ``mode="percentile"``: per-frame ``percentiles`` (low, high) of the valid (finite, non-zero) pixels.
    """

    mode: str = "auto"
    range: tuple[float, float] | None = None
    percentiles: tuple[float, float] = (1.0, 99.0)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "fixed", "percentile"):
            raise ValueError(f"thermal normalisation mode must be auto, fixed or percentile, got {self.mode!r}")
        if self.range is not None and not self.range[1] > self.range[0]:
            raise ValueError(f"thermal range must have high > low, got {self.range}")
        lo, hi = self.percentiles
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError(f"thermal percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")


def thermal_range_rule(norm: ThermalNorm, from_uint8: bool) -> str | tuple[float, float]:
    """How a frame maps to [0, 1] under ``norm``: ``"scale255"``, ``"percentile"`` (of its valid pixels) or a fixed
    (low, high). One rule for the host and the device preprocessing."""
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


def check_camera_arrays(rgb: np.ndarray | None, thermal: np.ndarray | None) -> tuple[int, int]:
    """The frame size (the RGB image's, else thermal's) after checking both arrays' shapes and types."""
    if rgb is None and thermal is None:
        raise ValueError("at least one of rgb and thermal is required")
    if rgb is not None and (rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8):
        raise ValueError(f"rgb must be uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    if thermal is not None and thermal.ndim != 2:
        raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
    h, w = rgb.shape[:2] if rgb is not None else thermal.shape  # type: ignore[union-attr]
    return int(h), int(w)


def shift_slices(h: int, w: int, dx: int, dy: int) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(source, destination) slices that move an h x w image by (dx, dy); None when nothing stays in frame."""
    if abs(dx) >= w or abs(dy) >= h:
        return None
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    return (ys, xs), (yd, xd)


def normalize_thermal(thermal: np.ndarray, norm: ThermalNorm = ThermalNorm()) -> np.ndarray:
    """H x W thermal (uint8, uint16 or float) -> float32 in [0, 1]; NaN/inf become 0."""
    if thermal.ndim != 2:
        raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
    x = thermal.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, 0.0).astype(np.float32)
    rule = thermal_range_rule(norm, thermal.dtype == np.uint8)
    if rule == "scale255":
        return x / 255.0
    if rule == "percentile":
        valid = x[finite & (x != 0)]
        if valid.size == 0:
            return np.zeros_like(x)
        lo, hi = (float(v) for v in np.percentile(valid, norm.percentiles))
    else:
        lo, hi = rule
    span = usable_span(lo, hi)
    if span is None:
        return np.zeros_like(x)
    y = (x - np.float32(lo)) / np.float32(span)
    return np.clip(np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


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


def prepare_inputs(
    rgb: np.ndarray | None, thermal: np.ndarray | None, norm: ThermalNorm = ThermalNorm(),
    offset: tuple[int, int] = (0, 0), homography: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw camera arrays -> 3 x H x W and 1 x H x W float32 tensors in [0, 1] at the RGB frame's size.

    The one preprocessing of every tool (node, bag-eval, eval, predict): RGB / 255; thermal normalised at its
    own resolution *first* (so percentiles and ranges see the raw values), then resized to the RGB frame
    (bilinear), then moved by ``offset`` (dx, dy) pixels; or, with a ``homography`` (thermal pixel -> RGB pixel,
    :mod:`rgbt_seg_core.inference.registration`), warped onto the RGB frame and then moved by ``offset``. A missing
    modality is zeros at the other's size.
    """
    import cv2

    h, w = check_camera_arrays(rgb, thermal)
    if rgb is not None:
        r = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    else:
        r = torch.zeros(3, h, w)
    if thermal is not None:
        t = normalize_thermal(thermal, norm)
        if homography is not None:
            from rgbt_seg_core.inference.registration import warp_thermal

            return r, warp_thermal(torch.from_numpy(t)[None, None], homography, (h, w), offset)[0].clamp_(0.0, 1.0)
        if t.shape != (h, w):
            t = np.clip(cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)  # as the device path
        t = _shift(t, *offset)
        tt = torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32)).unsqueeze(0)
    else:
        tt = torch.zeros(1, h, w)
    return r, tt


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    if dx == 0 and dy == 0:
        return img
    out = np.zeros_like(img)
    cut = shift_slices(img.shape[0], img.shape[1], dx, dy)
    if cut is not None:
        out[cut[1]] = img[cut[0]]
    return out


def to_input_tensors(
    rgb: np.ndarray, thermal: np.ndarray, norm: ThermalNorm = ThermalNorm()
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 H x W x 3 RGB and H x W thermal -> 1 x 3 x H x W and 1 x 1 x H x W float tensors in [0, 1]."""
    r, t = prepare_inputs(rgb, thermal, norm)
    return r.unsqueeze(0), t.unsqueeze(0)
