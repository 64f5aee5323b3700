"""Torch-facing views of a data set: augmented training samples and plain evaluation samples.

Augmentation randomness comes from ``numpy.random.default_rng([seed, epoch, index])`` rather than a global
generator. A sample therefore looks the same whichever worker loads it and whether or not training was
interrupted and resumed, which is what makes ``--resume`` reproduce an uninterrupted run exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from rgbt_seg_core.data.base import RGBTDataset, Sample
from rgbt_seg_core.data.perturb import PerturbationSet
from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_inputs

__all__ = ["IGNORE_INDEX", "TrainingSet", "EvalSet", "frame_lists", "augment"]

IGNORE_INDEX = 255  # pixels that rotation or padding invented; excluded from the loss


def _rotate(arrays: list[np.ndarray], angle: float, interps: list[int], borders: list[float]) -> list[np.ndarray]:
    h, w = arrays[0].shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return [
        cv2.warpAffine(a, m, (w, h), flags=i, borderMode=cv2.BORDER_CONSTANT, borderValue=b)
        for a, i, b in zip(arrays, interps, borders)
    ]


def augment(
    rgb: np.ndarray,
    thermal: np.ndarray,
    label: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: tuple[int, int] | None,
    flip: bool = True,
    max_rotation: float = 10.0,
    blur_prob: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal flip, rotation in [-max_rotation, max_rotation] degrees, random crop (RSFNet §IV-B), and with
    probability ``blur_prob`` a Gaussian blur of both images (sigma 0.1..2 px; the authors' training script blurs).

    Rotation and padding fill labels with :data:`IGNORE_INDEX` and images with 0.
    """
    if blur_prob > 0 and rng.random() < blur_prob:  # drawn only when enabled: the paper's recipe stays unchanged
        sigma = float(rng.uniform(0.1, 2.0))
        rgb = cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), sigma)
        thermal = cv2.GaussianBlur(np.ascontiguousarray(thermal), (0, 0), sigma)
    if flip and rng.random() < 0.5:
        rgb, thermal, label = rgb[:, ::-1], thermal[:, ::-1], label[:, ::-1]
    if max_rotation > 0:
        angle = float(rng.uniform(-max_rotation, max_rotation))
        rgb, thermal, label = _rotate(
            [np.ascontiguousarray(rgb), np.ascontiguousarray(thermal), np.ascontiguousarray(label)],
            angle,
            [cv2.INTER_LINEAR, cv2.INTER_LINEAR, cv2.INTER_NEAREST],
            [0, 0, IGNORE_INDEX],
        )
    if crop is not None:
        ch, cw = crop
        h, w = label.shape
        ph, pw = max(0, ch - h), max(0, cw - w)
        if ph or pw:
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)))
            thermal = np.pad(thermal, ((0, ph), (0, pw)))
            label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
            h, w = label.shape
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        window = (slice(y, y + ch), slice(x, x + cw))
        rgb, thermal, label = rgb[window], thermal[window], label[window]
    return np.ascontiguousarray(rgb), np.ascontiguousarray(thermal), np.ascontiguousarray(label)


def _tensors(s_rgb: np.ndarray, s_thermal: np.ndarray, label: np.ndarray, norm: ThermalNorm) -> dict[str, torch.Tensor]:
    rgb, thermal = prepare_inputs(s_rgb, s_thermal, norm)  # the inference engine's preprocessing
    return {"rgb": rgb, "thermal": thermal, "label": torch.from_numpy(label.astype(np.int64))}


class TrainingSet(Dataset):
    def __init__(
        self,
        base: RGBTDataset,
        *,
        crop: tuple[int, int] | None,
        pseudo: dict[str, tuple[float, float]] | None = None,
        flip: bool = True,
        max_rotation: float = 10.0,
        blur_prob: float = 0.0,
        seed: int = 0,
        thermal_norm: ThermalNorm = ThermalNorm(),
    ) -> None:
        self.blur_prob = blur_prob
        self.base = base
        self.crop = crop
        self.pseudo = pseudo
        self.flip = flip
        self.max_rotation = max_rotation
        self.seed = seed
        self.thermal_norm = thermal_norm
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        s: Sample = self.base[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        rgb, thermal, label = augment(
            s.rgb, s.thermal, s.label, rng, crop=self.crop, flip=self.flip, max_rotation=self.max_rotation,
            blur_prob=self.blur_prob,
        )
        out = _tensors(rgb, thermal, label, self.thermal_norm)
        p = self.pseudo.get(s.name, (math.nan, math.nan)) if self.pseudo is not None else (math.nan, math.nan)
        out["pseudo"] = torch.tensor(p, dtype=torch.float32)
        out["index"] = torch.tensor(index)
        return out


class EvalSet(Dataset):
    """Full frames as the cameras gave them (perturbed, if asked), no augmentation: the engine preprocesses them,
    as it does every tool's frames. Keeps the index so predictions can be saved and split by day/night."""

    def __init__(self, base: RGBTDataset, perturb: PerturbationSet | None = None) -> None:
        self.base = base
        self.perturb = perturb or PerturbationSet()

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, np.ndarray | int]:
        s = self.base[index]
        rgb, thermal = self.perturb.apply(s.rgb, s.thermal, s.label, s.name) if self.perturb else (s.rgb, s.thermal)
        return {"rgb": rgb, "thermal": thermal, "label": s.label, "index": index}


def frame_lists(samples: list[dict[str, np.ndarray | int]]) -> dict[str, list]:
    """A DataLoader's ``collate_fn`` for :class:`EvalSet`: each key's values as a list, arrays left as they are."""
    return {k: [s[k] for s in samples] for k in samples[0]} if samples else {}
