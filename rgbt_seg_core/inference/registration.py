"""Registration of the thermal camera onto the RGB camera: a 3x3 homography, its estimate from point pairs, and
the warp that applies it in preprocessing.

Convention: ``H`` maps a pixel of the *raw thermal image* (its own resolution, x right, y down, pixel centres at
integer coordinates, as OpenCV) to the RGB image's pixel that sees the same point. It is exact for a planar
scene or for cameras whose optical centres coincide, and the usual approximation for a rigid pair looking at a
distant street. The older integer offset is the special case ``T(dx, dy) . S``, S the plain resize of thermal to
the RGB frame; when both are given the offset moves the registered image further.

The warp samples thermal bilinearly at ``H^-1`` of each RGB pixel, with torch, so the host path and the device
path (on the GPU where inference runs) are one computation; RGB pixels that see no thermal pixel are 0, the
value a missing modality gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rgbt_seg_core.settings.render import yaml_value

__all__ = ["check_homography", "resize_homography", "offset_homography", "warp_thermal", "estimate_homography",
           "HomographyFit", "read_point_pairs", "homography_yaml", "read_homography", "apply_homography_to_points"]


def check_homography(values: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """Nine numbers (row-major) or a 3x3 array -> a float64 3x3 with H[2,2] = 1; None for nothing or all zeros (the
    ROS parameter's "not set"). Refuses what cannot be a camera-to-camera mapping, naming why."""
    if values is None:
        return None
    try:
        h = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"thermal homography must be 9 numbers, got {values!r}") from exc
    if h.size == 0 or (h.size == 9 and not np.any(h)):
        return None
    if h.size != 9:
        raise ValueError(f"thermal homography must be 9 numbers (3x3, row-major), got {h.size}")
    h = h.reshape(3, 3)
    if not np.isfinite(h).all():
        raise ValueError("thermal homography has a non-finite entry")
    if abs(h[2, 2]) < 1e-12:
        raise ValueError("thermal homography has H[2][2] = 0 (maps the image centre to infinity)")
    with np.errstate(all="ignore"):  # huge entries overflow here: that is the answer, not a warning
        h = h / h[2, 2]
        det = float(np.linalg.det(h)) if np.isfinite(h).all() else float("nan")
        cond = float(np.linalg.cond(h)) if np.isfinite(det) else float("inf")
    if not np.isfinite(det) or abs(det) < 1e-9 or not cond <= 1e12:
        raise ValueError(f"thermal homography is singular or nearly so (det {det:.3g})")
    return h


def resize_homography(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """The homography of a plain bilinear resize (half-pixel centres, as OpenCV's INTER_LINEAR)."""
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    return np.array([[sx, 0, 0.5 * (sx - 1)], [0, sy, 0.5 * (sy - 1)], [0, 0, 1]], np.float64)


def offset_homography(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


_GRIDS: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}  # a camera pair's warp is fixed: built once


def warp_thermal(thermal: torch.Tensor, h: np.ndarray, out_hw: tuple[int, int],
                 offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """N x 1 x h_t x w_t thermal (already normalised) -> N x 1 x H x W in the RGB frame, on the tensor's device."""
    if offset != (0, 0):
        h = offset_homography(*offset) @ h
    key = (h.tobytes(), tuple(thermal.shape[-2:]), tuple(out_hw), thermal.device, thermal.dtype)
    if key not in _GRIDS:
        if len(_GRIDS) >= 8:
            _GRIDS.pop(next(iter(_GRIDS)))
        _GRIDS[key] = _sampling_grid(h, tuple(thermal.shape[-2:]), out_hw, thermal.device, thermal.dtype)
    grid, inside = _GRIDS[key]
    out = F.grid_sample(thermal, grid.expand(thermal.shape[0], -1, -1, -1), mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out * inside


def _sampling_grid(h: np.ndarray, thermal_hw: tuple[int, ...], out_hw: tuple[int, int], device: torch.device,
                   dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ht, wt = thermal_hw
    height, width = out_hw
    inv = torch.as_tensor(np.linalg.inv(h), dtype=torch.float64, device=device)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64, device=device),
                            torch.arange(width, dtype=torch.float64, device=device), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], 0).reshape(3, -1)
    src = inv @ pts
    w = src[2]
    valid = w.abs() > 1e-12
    sx = torch.where(valid, src[0] / torch.where(valid, w, 1.0), torch.full_like(w, -1e6))
    sy = torch.where(valid, src[1] / torch.where(valid, w, 1.0), torch.full_like(w, -1e6))
    # points behind the thermal camera (w <= 0) or beyond half a pixel outside its image see nothing
    inside = valid & (w > 0) & (sx >= -0.5) & (sx <= wt - 0.5) & (sy >= -0.5) & (sy <= ht - 0.5)
    grid = torch.stack([(2 * sx + 1) / wt - 1, (2 * sy + 1) / ht - 1], -1).clamp(-2, 2)
    return grid.reshape(1, height, width, 2).to(dtype), inside.reshape(1, 1, height, width).to(dtype)


def apply_homography_to_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


class HomographyFit:
    """An estimated homography and how well it maps the pairs it came from (pixels in the RGB image)."""

    def __init__(self, h: np.ndarray, errors: np.ndarray) -> None:
        self.h, self.errors = h, errors

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(self.errors ** 2)))

    @property
    def max(self) -> float:
        return float(self.errors.max())


def estimate_homography(thermal_pts: np.ndarray, rgb_pts: np.ndarray) -> HomographyFit:
    """Least-squares homography (normalised DLT) from >= 4 thermal -> RGB point pairs, no three of them collinear."""
    t, r = np.asarray(thermal_pts, np.float64), np.asarray(rgb_pts, np.float64)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape != r.shape:
        raise ValueError(f"point pairs must be N x 2 on both sides, got thermal {t.shape} and rgb {r.shape}")
    if len(t) < 4:
        raise ValueError(f"a homography needs at least 4 point pairs, got {len(t)}")
    if not (np.isfinite(t).all() and np.isfinite(r).all()):
        raise ValueError("point pairs hold a non-finite coordinate")

    def normaliser(p: np.ndarray) -> np.ndarray:
        c = p.mean(0)
        d = np.sqrt(((p - c) ** 2).sum(1)).mean()
        s = np.sqrt(2) / d if d > 0 else 1.0
        return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])

    nt, nr = normaliser(t), normaliser(r)
    tn, rn = apply_homography_to_points(nt, t), apply_homography_to_points(nr, r)
    rows = []
    for (x, y), (u, v) in zip(tn, rn):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    a = np.asarray(rows)
    _, s, vt = np.linalg.svd(a)
    if s[-2] < 1e-9 * s[0]:  # a second null direction: the points do not determine a homography
        raise ValueError("the point pairs do not determine a homography (three or more collinear, or repeated)")
    hn = vt[-1].reshape(3, 3)
    h = np.linalg.inv(nr) @ hn @ nt
    h = check_homography(h)
    if h is None:
        raise ValueError("the point pairs give a degenerate homography")
    errors = np.linalg.norm(apply_homography_to_points(h, t) - r, axis=1)
    return HomographyFit(h, errors)


def read_point_pairs(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``pairs: [{rgb: [x, y], thermal: [x, y]}, ...]`` -> (thermal N x 2, rgb N x 2), each problem named."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"point pairs file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    pairs = data.get("pairs") if isinstance(data, dict) else None
    if not isinstance(pairs, list):
        raise ValueError(f"{path}: expected a mapping with 'pairs:', a list of {{rgb: [x, y], thermal: [x, y]}}")
    t, r = [], []
    for i, p in enumerate(pairs):
        try:
            if set(p) != {"rgb", "thermal"}:
                raise ValueError
            (rx, ry), (tx, ty) = p["rgb"], p["thermal"]
            t.append([float(tx), float(ty)])
            r.append([float(rx), float(ry)])
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"{path}: pair {i + 1} must be {{rgb: [x, y], thermal: [x, y]}}, got {p!r}") from None
    return np.asarray(t, np.float64).reshape(-1, 2), np.asarray(r, np.float64).reshape(-1, 2)


def homography_yaml(h: np.ndarray, fit: HomographyFit | None = None, source: str = "", pair: str = "") -> str:
    """A ROS 2 parameters file setting ``thermal_homography``, or one camera pair's (``front.thermal_homography``,
    as a nested key) where ``pair`` names it: pass it to the node after config/segment.yaml."""
    # every number as a float, in full: rcl refuses a list that mixes 1 with 1.02, and reads 1e-05 as text as YAML
    # 1.1 does (yaml_value writes 1.0e-05)
    values = yaml_value([float(v) for v in h.reshape(-1)])
    lines = ["# thermal -> RGB homography for rgbt_seg_ros/segmentation_node (rgbt-seg register)"
             + (f", camera pair {pair}" if pair else "")]
    if source:
        lines.append(f"# from {source}")
    if fit is not None:
        lines.append(f"# {len(fit.errors)} point pairs; reprojection error RMS {fit.rms:.3f} px, max {fit.max:.3f} px")
    lines += ["/**:", "  ros__parameters:"]
    row = f"thermal_homography: {values}"
    lines += [f"    {pair}:", f"      {row}"] if pair else [f"    {row}"]
    return "\n".join(lines) + "\n"


def read_homography(path: str | Path) -> np.ndarray:
    """The homography from a file written by :func:`homography_yaml` (or any params file setting it)."""
    import yaml

    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"homography file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    found = None
    if isinstance(data, dict):
        for section in data.values():
            params = section.get("ros__parameters") if isinstance(section, dict) else None
            if isinstance(params, dict) and "thermal_homography" in params:
                found = params["thermal_homography"]
            elif isinstance(params, dict):  # one camera pair's (`rgbt-seg register --pair`), where it is the only one
                pairs = [v["thermal_homography"] for v in params.values()
                         if isinstance(v, dict) and "thermal_homography" in v]
                found = pairs[0] if len(pairs) == 1 else found
        if found is None and "thermal_homography" in data:
            found = data["thermal_homography"]
    if found is None:
        raise ValueError(f"{path}: sets no thermal_homography (write it with `rgbt-seg register`)")
    try:
        h = check_homography(found)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if h is None:
        raise ValueError(f"{path}: thermal_homography is all zeros (not set)")
    return h
