"""Running a model over a split and scoring it in the RTFNet convention of the paper's tables, with optional
saved predictions.

The evaluator feeds full frames (no resizing), raw as the data set holds them, in batches of equally sized images
through :meth:`InferenceEngine.predict_batch`, which preprocesses them as every other tool's frames (the same
preprocessing, NaN rule and precision), and accumulates one confusion matrix for the split plus one per subset
(MFNet: day and night by the name's D/N suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.data.perturb import PerturbationSet
from rgbt_seg_core.data.training import EvalSet, frame_lists
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix, SegmentationScores
from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.inference.render import colorize, overlay

__all__ = ["EvalResult", "evaluate"]


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
    engine: InferenceEngine,
    dataset: RGBTDataset,
    *,
    batch_size: int = 1,
    num_workers: int = 0,
    save_predictions: Path | None = None,
    progress: Callable[[int], object] | None = None,
    perturb: PerturbationSet | None = None,
    indices: Sequence[int] | None = None,
) -> EvalResult:
    """Score ``engine`` on ``dataset``; ``perturb`` degrades each frame first (a robustness protocol).
    ``indices``: score only these frames (one rank's slice of a sharded validation); the subsets stay those of the
    whole split, so that slices' results add up to the split's."""
    n = dataset.num_classes
    if engine.meta.num_classes != n:
        raise ValueError(f"the model predicts {engine.meta.num_classes} classes but {dataset.dataset_name} has {n}")
    result = EvalResult(dataset.dataset_name, dataset.split, dataset.class_names, ConfusionMatrix(n))
    day_night = len(dataset) > 0 and dataset.is_night(dataset.names[0]) is not None
    if day_night:
        result.subsets = {"day": ConfusionMatrix(n), "night": ConfusionMatrix(n)}
    palette = engine.palette
    if save_predictions is not None:
        for sub in ("labels", "color", "overlay"):
            (save_predictions / sub).mkdir(parents=True, exist_ok=True)
    frames: Dataset = EvalSet(dataset, perturb)
    if indices is not None:
        frames = Subset(frames, list(indices))  # EvalSet keeps each frame's own index, so names stay right
    loader = DataLoader(
        frames, batch_size=batch_size, num_workers=num_workers, collate_fn=frame_lists,
        generator=torch.Generator(),  # leave the global RNG alone (training resumes must stay exact)
    )
    done = 0
    for batch in loader:
        pred = engine.predict_batch(batch["rgb"], batch["thermal"]).cpu().numpy()
        for k in range(pred.shape[0]):
            name, target = dataset.names[batch["index"][k]], batch["label"][k]
            result.confusion.update(target, pred[k])
            if day_night:
                result.subsets["night" if dataset.is_night(name) else "day"].update(target, pred[k])
            if save_predictions is not None:
                rgb8 = batch["rgb"][k]  # the (perturbed) camera image the model saw
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
