"""Running a model over a split and scoring it (SPEC §5), with optional saved predictions.

The evaluator feeds full frames (no resizing) in batches of equally sized images and accumulates one
confusion matrix for the split plus one per subset (MFNet: day and night by the name's D/N suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .data.base import RGBTDataset
from .data.mfnet import MFNetDataset
from .data.training import EvalSet
from .metrics import ConfusionMatrix, SegmentationScores
from .preprocess import ThermalNorm, colorize, overlay

__all__ = ["EvalResult", "evaluate", "predict_labels"]


@torch.inference_mode()
def predict_labels(model: nn.Module, rgb: torch.Tensor, thermal: torch.Tensor, *, amp: bool = False) -> torch.Tensor:
    """Class ids B x H x W (uint8) for batched inputs already on the model's device."""
    if amp and rgb.is_cuda:
        with torch.autocast("cuda", dtype=torch.float16):
            logits = model(rgb, thermal)
    else:
        logits = model(rgb, thermal)
    return logits.argmax(dim=1).to(torch.uint8)


@dataclass
class EvalResult:
    dataset: str
    split: str
    class_names: tuple[str, ...]
    confusion: ConfusionMatrix
    subsets: dict[str, ConfusionMatrix] = field(default_factory=dict)
    images: int = 0

    def scores(self) -> SegmentationScores:
        return self.confusion.scores(self.class_names)

    def subset_scores(self) -> dict[str, SegmentationScores]:
        return {k: v.scores(self.class_names) for k, v in self.subsets.items()}


def evaluate(
    model: nn.Module,
    dataset: RGBTDataset,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    num_workers: int = 0,
    thermal_norm: ThermalNorm = ThermalNorm(),
    amp: bool = False,
    save_predictions: Path | None = None,
    palette: list[list[int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    device = torch.device(device)
    model = model.to(device).eval()
    n = dataset.num_classes
    result = EvalResult(dataset.dataset_name, dataset.split, dataset.class_names, ConfusionMatrix(n))
    day_night = isinstance(dataset, MFNetDataset)
    if day_night:
        result.subsets = {"day": ConfusionMatrix(n), "night": ConfusionMatrix(n)}
    palette = palette or [list(c) for c in dataset.palette]
    if save_predictions is not None:
        for sub in ("labels", "color", "overlay"):
            (save_predictions / sub).mkdir(parents=True, exist_ok=True)
    loader = DataLoader(
        EvalSet(dataset, thermal_norm), batch_size=batch_size, num_workers=num_workers,
        generator=torch.Generator(),  # leave the global RNG alone (training resumes must stay exact)
    )
    done = 0
    for batch in loader:
        pred = predict_labels(model, batch["rgb"].to(device), batch["thermal"].to(device), amp=amp).cpu().numpy()
        target = batch["label"].numpy()
        for k in range(pred.shape[0]):
            idx = int(batch["index"][k])
            name = dataset.names[idx]
            result.confusion.update(target[k], pred[k])
            if day_night:
                result.subsets["night" if MFNetDataset.is_night(name) else "day"].update(target[k], pred[k])
            if save_predictions is not None:
                rgb8 = (batch["rgb"][k].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                cv2.imwrite(str(save_predictions / "labels" / f"{name}.png"), pred[k])
                cv2.imwrite(str(save_predictions / "color" / f"{name}.png"), colorize(pred[k], palette)[:, :, ::-1])
                cv2.imwrite(
                    str(save_predictions / "overlay" / f"{name}.png"), overlay(rgb8, pred[k], palette)[:, :, ::-1]
                )
            done += 1
            if progress:
                progress(done)
    result.images = done
    return result
