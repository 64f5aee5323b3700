"""The preprocessing of :func:`rgbt_seg_core.inference.preprocess.prepare_inputs`, done with torch on the inference device.

On a GPU the raw camera arrays are uploaded as they arrive (uint8 RGB, the thermal frame's own integer or float
type: a fraction of the float32 bytes) and scaled, normalised, resized and shifted there, so the host does no
per-pixel work. The steps and their order are those of the host version (thermal normalised at its own size, then
resized bilinearly with half-pixel centres, as OpenCV's INTER_LINEAR, then shifted, or warped by the registration
homography); the two agree to float32 rounding (a test compares them on the CPU).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from rgbt_seg_core.inference.preprocess import ThermalNorm, check_camera_arrays, shift_slices, thermal_range_rule, usable_span

__all__ = ["prepare_on_device", "normalize_thermal_tensor", "percentile"]

Upload = Callable[[np.ndarray], torch.Tensor]


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


def normalize_thermal_tensor(x: torch.Tensor, from_uint8: bool, norm: ThermalNorm = ThermalNorm()) -> torch.Tensor:
    """H x W float32 thermal (raw values) -> [0, 1], exactly the rules of ``normalize_thermal``."""
    finite = torch.isfinite(x)
    x = torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device))
    rule = thermal_range_rule(norm, from_uint8)
    if rule == "scale255":
        return x / 255.0
    if rule == "percentile":
        valid = x[finite & (x != 0)]
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


def _upload_thermal(thermal: np.ndarray, upload: Upload) -> tuple[torch.Tensor, bool]:
    if thermal.dtype == np.uint8:
        return upload(thermal).float(), True
    if thermal.dtype == np.uint16:  # torch's uint16 has few kernels: move the bits as int16, widen on the device
        return (upload(thermal.view(np.int16)).int() & 0xFFFF).float(), False
    if thermal.dtype.kind in "iu" and thermal.dtype.itemsize <= 4 or thermal.dtype == np.float32:
        return upload(thermal).float(), False
    return upload(thermal.astype(np.float32)), False  # float64, int64: float32 on the host, as normalize_thermal


def _shift(t: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    if dx == 0 and dy == 0:
        return t
    out = torch.zeros_like(t)
    cut = shift_slices(t.shape[-2], t.shape[-1], dx, dy)
    if cut is not None:
        out[(..., *cut[1])] = t[(..., *cut[0])]
    return out


def prepare_on_device(rgb: np.ndarray | None, thermal: np.ndarray | None, norm: ThermalNorm,
                      offset: tuple[int, int], device: torch.device, upload: Upload | None = None,
                      homography: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """1 x 3 x H x W and 1 x 1 x H x W float32 tensors on ``device``; ``upload`` moves a host array there (default:
    a plain copy; the engine passes its pinned, non-blocking staging)."""
    h, w = check_camera_arrays(rgb, thermal)
    up: Upload = upload or (lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device))
    if rgb is not None:
        r = up(rgb).permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()
    else:
        r = torch.zeros(1, 3, h, w, device=device)
    if thermal is not None:
        raw, from_uint8 = _upload_thermal(thermal, up)
        t = normalize_thermal_tensor(raw, from_uint8, norm)[None, None]
        if homography is not None:  # the registration warp, on the device (rgbt_seg_core.inference.registration)
            from rgbt_seg_core.inference.registration import warp_thermal

            return r, warp_thermal(t, homography, (h, w), offset).clamp_(0.0, 1.0)
        if t.shape[-2:] != (h, w):
            # interpolation weights sum to 1 only to float rounding: an all-1 frame came back as 1.0000001
            t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
        t = _shift(t, *offset)
    else:
        t = torch.zeros(1, 1, h, w, device=device)
    return r, t
