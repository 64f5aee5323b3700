"""Turning raw camera arrays into model inputs, and labels into pictures; shared by the data sets, the
evaluator, the ROS node and the bag tools so that every path feeds the network identical tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ThermalNorm", "normalize_thermal", "to_input_tensors", "colorize", "overlay"]


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


def normalize_thermal(thermal: np.ndarray, norm: ThermalNorm = ThermalNorm()) -> np.ndarray:
    """H x W thermal (uint8, uint16 or float) -> float32 in [0, 1]; NaN/inf become 0."""
    if thermal.ndim != 2:
        raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
    x = thermal.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, 0.0).astype(np.float32)
    mode = norm.mode
    if mode == "auto":
        if thermal.dtype == np.uint8:
            return x / 255.0
        mode = "fixed" if norm.range is not None else "percentile"
    if mode == "fixed":
        if norm.range is None:
            if thermal.dtype != np.uint8:
                raise ValueError("fixed thermal normalisation of 16-bit/float data needs a range (low, high)")
            lo, hi = 0.0, 255.0
        else:
            lo, hi = norm.range
    else:
        valid = x[finite & (x != 0)]
        if valid.size == 0:
            return np.zeros_like(x)
        lo, hi = (float(v) for v in np.percentile(valid, norm.percentiles))
        if hi <= lo:
            hi = lo + 1.0
    span = hi - lo
    if not (np.isfinite(span) and span > 0):  # a flat frame at a magnitude where lo + 1 == lo: no contrast
        return np.zeros_like(x)
    y = (x - np.float32(lo)) / np.float32(span)
    return np.clip(np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def to_input_tensors(
    rgb: np.ndarray, thermal: np.ndarray, norm: ThermalNorm = ThermalNorm()
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 H x W x 3 RGB and H x W thermal -> 1 x 3 x H x W and 1 x 1 x H x W float tensors in [0, 1]."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    r = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0).unsqueeze(0)
    t = torch.from_numpy(normalize_thermal(thermal, norm)).unsqueeze(0).unsqueeze(0)
    return r, t


def colorize(label: np.ndarray, palette: list[list[int]] | tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Class ids H x W -> RGB H x W x 3 uint8; ids beyond the palette are black."""
    lut = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette, np.uint8)[:256]
    lut[: len(pal)] = pal
    return lut[label.astype(np.uint8)]


def overlay(rgb: np.ndarray, label: np.ndarray, palette, alpha: float = 0.5) -> np.ndarray:
    """Blend the colourised labels over the RGB image (class 0 left unblended, so the scene stays readable)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must lie in [0, 1], got {alpha}")
    col = colorize(label, palette).astype(np.float32)
    out = rgb.astype(np.float32)
    fg = (label != 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * out + alpha * col, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
