"""Segmentation metrics in the RTFNet convention used by the paper's tables.

One confusion matrix over the whole split (rows: ground truth, columns: prediction). Per class
Acc_c = TP / row_c and IoU_c = TP / (row_c + col_c - TP); mAcc and mIoU average over **all** classes, the
unlabeled/background class included, and a class with an empty denominator counts as 0 (it still divides).
This is stricter than "nan-mean" conventions and is what the published MFNet and PST900 numbers use.
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


def scores_from_confusion(cm: np.ndarray, class_names: tuple[str, ...] | list[str]) -> SegmentationScores:
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    rows = cm.sum(axis=1)
    cols = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(rows > 0, tp / rows, 0.0)
        union = rows + cols - tp
        iou = np.where(union > 0, tp / union, 0.0)
    return SegmentationScores(tuple(class_names), acc, iou, int(cm.sum()))


class ConfusionMatrix:
    """Accumulates a C x C confusion matrix; labels outside 0..C-1 (e.g. 255 "ignore") are skipped."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor) -> None:
        if isinstance(target, torch.Tensor):
            target = target.detach().cpu().numpy()
        if isinstance(pred, torch.Tensor):
            pred = pred.detach().cpu().numpy()
        if target.shape != pred.shape:
            raise ValueError(f"ConfusionMatrix.update: target {target.shape} and prediction {pred.shape} differ")
        t = target.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        keep = (t >= 0) & (t < self.num_classes) & (p >= 0) & (p < self.num_classes)
        n = self.num_classes
        self.matrix += np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n)

    def merge(self, other: "ConfusionMatrix") -> None:
        self.matrix += other.matrix

    def scores(self, class_names: tuple[str, ...] | list[str] | None = None) -> SegmentationScores:
        names = class_names or tuple(f"class_{i}" for i in range(self.num_classes))
        return scores_from_confusion(self.matrix, tuple(names))
