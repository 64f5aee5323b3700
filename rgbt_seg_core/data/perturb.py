"""Robustness protocols for any model (CIMNet §V, Tables IV and V): the camera arrays of a frame are degraded
before the one preprocessing, so every model and backend is tested on the same inputs.

* ``rgb-failure``: RGB set to 0 (a blind colour camera).
* ``thermal-failure[:SIGMA]``: a strong Gaussian blur of thermal (default sigma 12 px at the RGB frame's scale).
* ``misalign:DX[,DY]``: thermal moved DX (and DY) pixels against RGB, what a static registration error gives;
  vacated pixels are 0, as the node's own offset leaves them.
* ``misalign-dynamic[:MAX]``: every object of the label map (a connected region of one non-background class) is
  moved in thermal by its own shift, drawn from [-MAX, MAX] (default 12) per axis: objects moving between two
  unsynchronised exposures. The object's old place takes the mean thermal of a ring around it.

Labels stay with RGB. Draws come from a generator seeded by the frame's name and the setting, so a run is
repeatable, and settings combine with ``+`` (applied left to right): ``misalign:4+rgb-failure``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from rgbt_seg_core.inference.preprocess import shift  # the node's registration shift: vacated pixels 0

__all__ = ["Perturbation", "PerturbationSet", "parse_perturbation", "parse_settings", "shift_objects", "KINDS"]

MAX_SHIFT = 100_000  # pixels; far beyond any frame, and inside the shift generator's integer range
KINDS = ("rgb-failure", "thermal-failure", "misalign", "misalign-dynamic")
_SPEC = re.compile(r"^(rgb-failure|thermal-failure(?::(?P<sigma>\d+(?:\.\d+)?))?"
                   r"|misalign:(?P<dx>-?\d+)(?:,(?P<dy>-?\d+))?|misalign-dynamic(?::(?P<max>\d+))?)$")


@dataclass(frozen=True)
class Perturbation:
    kind: str
    dx: int = 0
    dy: int = 0
    sigma: float = 12.0
    max_shift: int = 12

    @property
    def name(self) -> str:
        if self.kind == "thermal-failure":
            return f"thermal-failure:{self.sigma:g}"
        if self.kind == "misalign":
            return f"misalign:{self.dx}" + (f",{self.dy}" if self.dy else "")
        if self.kind == "misalign-dynamic":
            return f"misalign-dynamic:{self.max_shift}"
        return self.kind

    def apply(self, rgb: np.ndarray, thermal: np.ndarray, label: np.ndarray | None, key: str
              ) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "rgb-failure":
            return np.zeros_like(rgb), thermal
        h, w = rgb.shape[:2]
        th, tw = thermal.shape
        if self.kind == "thermal-failure":
            sigma = self.sigma * tw / w  # in thermal pixels
            blurred = cv2.GaussianBlur(np.ascontiguousarray(thermal), (0, 0), sigmaX=sigma, sigmaY=sigma,
                                       borderType=cv2.BORDER_REFLECT)
            return rgb, blurred.astype(thermal.dtype, copy=False)
        if self.kind == "misalign":
            return rgb, _shifted(thermal, round(self.dx * tw / w), round(self.dy * th / h))
        if label is None:
            raise ValueError("misalign-dynamic needs the frame's labels (it moves each labelled object)")
        digest = hashlib.sha256(f"{key}|{self.name}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return rgb, shift_objects(thermal, label, self.max_shift, rng)


def _shifted(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """:func:`~rgbt_seg_core.inference.preprocess.shift` of a camera array, in its own type."""
    return shift(torch.from_numpy(np.ascontiguousarray(img)), dx, dy).numpy()


def shift_objects(thermal: np.ndarray, label: np.ndarray, max_shift: int, rng: np.random.Generator,
                  background: int = 0) -> np.ndarray:
    """Move each object of ``label`` (RGB's frame) by its own shift in ``thermal``; larger objects first, so small
    ones (people, bikes) stay on top. Shifts are in RGB pixels, scaled to thermal's size."""
    th, tw = thermal.shape
    lab = label if label.shape == (th, tw) else cv2.resize(label, (tw, th), interpolation=cv2.INTER_NEAREST)
    sx, sy = tw / label.shape[1], th / label.shape[0]
    objects: list[np.ndarray] = []
    for cls in np.unique(lab):
        if cls == background:
            continue
        n, comp = cv2.connectedComponents((lab == cls).astype(np.uint8), connectivity=8)
        objects += [comp == i for i in range(1, n)]
    objects.sort(key=lambda m: -int(m.sum()))
    out = thermal.copy()
    ring_kernel = np.ones((5, 5), np.uint8)
    for mask in objects:
        dx, dy = (int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
        dx, dy = round(dx * sx), round(dy * sy)
        ring = cv2.dilate(mask.astype(np.uint8), ring_kernel).astype(bool) & ~mask
        fill = thermal[ring].mean() if ring.any() else thermal.mean()
        moved = _shifted(mask, dx, dy)
        values = _shifted(thermal, dx, dy)
        out[mask] = np.asarray(fill).astype(thermal.dtype)
        out[moved] = values[moved]
    return out


def parse_perturbation(spec: str) -> Perturbation:
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"unknown perturbation {spec!r}: use rgb-failure, thermal-failure[:SIGMA], misalign:DX[,DY] "
                         "or misalign-dynamic[:MAX], joined with + to combine")
    text = m.group(0)
    if text.startswith("thermal-failure"):
        sigma = float(m.group("sigma") or 12.0)
        if not 0 < sigma <= 200:
            raise ValueError(f"thermal-failure sigma must lie in (0, 200] pixels, got {sigma:g}")
        return Perturbation("thermal-failure", sigma=sigma)
    if text.startswith("misalign-dynamic"):
        max_shift = int(m.group("max") or 12)
        if max_shift > MAX_SHIFT:
            raise ValueError(f"misalign-dynamic shift must be at most {MAX_SHIFT} pixels, got {max_shift}")
        return Perturbation("misalign-dynamic", max_shift=max_shift)
    if text.startswith("misalign"):
        return Perturbation("misalign", dx=int(m.group("dx")), dy=int(m.group("dy") or 0))
    return Perturbation("rgb-failure")


@dataclass(frozen=True)
class PerturbationSet:
    """One setting: perturbations applied in order (``a+b``); empty is the clean setting."""

    items: tuple[Perturbation, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "PerturbationSet":
        if spec.strip() in ("", "clean", "none"):
            return cls()
        return cls(tuple(parse_perturbation(s) for s in spec.split("+")))

    @property
    def name(self) -> str:
        return "+".join(p.name for p in self.items) or "clean"

    def __bool__(self) -> bool:
        return bool(self.items)

    def apply(self, rgb: np.ndarray, thermal: np.ndarray, label: np.ndarray | None, key: str
              ) -> tuple[np.ndarray, np.ndarray]:
        for p in self.items:
            rgb, thermal = p.apply(rgb, thermal, label, key)
        return rgb, thermal


def parse_settings(specs: Sequence[str]) -> list[PerturbationSet]:
    return [PerturbationSet.parse(s) for s in specs]
