"""Segmentation metrics in the RTFNet convention used by the paper's tables.

One confusion matrix over the whole split (rows: ground truth, columns: prediction). Per class
Acc_c = TP / row_c and IoU_c = TP / (row_c + col_c - TP); mAcc and mIoU average over **all** classes, the
unlabeled/background class included, and a class with an empty denominator counts as 0 (it still divides).
This is stricter than "nan-mean" conventions and is what the published MFNet and PST900 numbers use.

A predicted pixel that names no class (the unlabelled id 255 that ``min_confidence`` gives a pixel the model is
unsure of) is a miss of its true class: it counts in that class's row total (a false negative, lowering Acc_c and
IoU_c) and in no column (it is no class's false positive). The matrix keeps those pixels beside it, per true class
(:attr:`ConfusionMatrix.unlabelled`), so that its C x C cells still hold predictions of classes only. Ground truth
outside 0..C-1 (255 "ignore") is not scored, whatever was predicted there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ConfusionMatrix", "SegmentationScores", "scores_from_confusion"]


@dataclass
class SegmentationScores:
    class_names: tuple[str, ...]
    acc: np.ndarray  # per class
    iou: np.ndarray  # per class
    pixels: int

    @property
    def macc(self) -> float:
        return float(self.acc.mean())

    @property
    def miou(self) -> float:
        return float(self.iou.mean())

    def to_dict(self) -> dict:
        return {
            "mAcc": self.macc,
            "mIoU": self.miou,
            "pixels": self.pixels,
            "per_class": {
                n: {"acc": float(a), "iou": float(i)} for n, a, i in zip(self.class_names, self.acc, self.iou)
            },
        }


def scores_from_confusion(cm: np.ndarray, class_names: tuple[str, ...] | list[str],
                          unlabelled: np.ndarray | None = None) -> SegmentationScores:
    """Scores of a confusion matrix; ``unlabelled``: per true class, its pixels predicted as no class (misses)."""
    cm = cm.astype(np.float64)
    misses = np.zeros(len(cm)) if unlabelled is None else np.asarray(unlabelled, np.float64)
    tp = np.diag(cm)
    rows = cm.sum(axis=1) + misses
    cols = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(rows > 0, tp / rows, 0.0)
        union = rows + cols - tp
        iou = np.where(union > 0, tp / union, 0.0)
    return SegmentationScores(tuple(class_names), acc, iou, int(cm.sum() + misses.sum()))


class ConfusionMatrix:
    """Accumulates a C x C confusion matrix; ground truth outside 0..C-1 (e.g. 255 "ignore") is skipped, and a
    prediction outside 0..C-1 (255, unlabelled below ``min_confidence``) is a miss of its true class, counted in
    :attr:`unlabelled` (see the module docstring)."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.unlabelled = np.zeros(num_classes, dtype=np.int64)  # per true class: pixels predicted as no class

    def update(self, target: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor) -> None:
        if isinstance(target, torch.Tensor):
            target = target.detach().cpu().numpy()
        if isinstance(pred, torch.Tensor):
            pred = pred.detach().cpu().numpy()
        if target.shape != pred.shape:
            raise ValueError(f"ConfusionMatrix.update: target {target.shape} and prediction {pred.shape} differ")
        t = target.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        n = self.num_classes
        scored = (t >= 0) & (t < n)
        named = (p >= 0) & (p < n)
        keep = scored & named
        self.matrix += np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n)
        self.unlabelled += np.bincount(t[scored & ~named], minlength=n)

    def merge(self, other: "ConfusionMatrix") -> None:
        self.matrix += other.matrix
        self.unlabelled += other.unlabelled

    def scores(self, class_names: tuple[str, ...] | list[str] | None = None) -> SegmentationScores:
        names = class_names or tuple(f"class_{i}" for i in range(self.num_classes))
        return scores_from_confusion(self.matrix, tuple(names), self.unlabelled)
