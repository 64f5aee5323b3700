"""INT8 calibration frames from a data set split, and how far a quantised engine strays from its fp32 reference.

Calibration frames go through the engine's own preprocessing (:func:`~rgbt_seg_core.inference.preprocess.
prepare_on_device`, with the thermal normalisation given, by default the engine's and the node's default), so the
ranges the quantiser records are those of the inputs the quantised model will see when it runs with that
normalisation (``export --int8`` calibrates with the default). The NaN rule applies: a frame the engine would refuse is
refused here too, by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix
from rgbt_seg_core.inference.engine import InferenceEngine, UnusableFrame
from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_on_device, thermal_problem

__all__ = ["calibration_feeds", "pick_frames", "Agreement", "compare_engines"]


def pick_frames(total: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``total`` (all of them when there are fewer): a split is often
    sorted by sequence or by day and night, and its first frames alone would calibrate on one scene."""
    if total <= 0 or wanted <= 0:
        return []
    if wanted >= total:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, wanted)})


def calibration_feeds(ds: RGBTDataset, frames: int, norm: ThermalNorm = ThermalNorm()) -> list[dict[str, np.ndarray]]:
    """Up to ``frames`` frames of ``ds`` as the graph's float32 inputs. Raises ValueError naming the split when it
    is empty, or the frame whose thermal image the NaN rule refuses."""
    if len(ds) == 0:
        raise ValueError(f"calibration split {ds.dataset_name}:{ds.split} at {ds.root} has no frames")
    feeds = []
    with torch.inference_mode():
        for i in pick_frames(len(ds), frames):
            s = ds[i]
            problem, _ = thermal_problem(s.thermal)
            if problem is not None:
                raise ValueError(f"calibration frame {s.name} ({ds.dataset_name}:{ds.split}): thermal {problem}")
            rgb, thermal = prepare_on_device(s.rgb, s.thermal, norm)
            feeds.append({"rgb": rgb.numpy(), "thermal": thermal.numpy()})
    return feeds


@dataclass(frozen=True)
class Agreement:
    frames: int
    label_agreement: float  # share of pixels whose label equals the reference's
    miou: float  # the candidate's mIoU on the split (0..1)
    reference_miou: float

    @property
    def miou_change_points(self) -> float:
        return 100.0 * (self.miou - self.reference_miou)


def compare_engines(reference: InferenceEngine, candidate: InferenceEngine, ds: RGBTDataset,
                    frames: int | None = None) -> Agreement:
    """Both engines on the same frames of ``ds`` (all, or ``frames`` spread over it): label agreement and mIoU."""
    n = ds.num_classes
    ref_cm, cand_cm = ConfusionMatrix(n), ConfusionMatrix(n)
    equal = total = 0
    picked = pick_frames(len(ds), len(ds) if frames is None else frames)
    if not picked:
        raise ValueError(f"split {ds.dataset_name}:{ds.split} at {ds.root} has no frames to compare on")
    for i in picked:
        s = ds[i]
        try:
            a = reference.predict(s.rgb, s.thermal).labels
            b = candidate.predict(s.rgb, s.thermal).labels
        except UnusableFrame as exc:
            raise UnusableFrame(f"frame {s.name} ({ds.dataset_name}:{ds.split}): {exc}") from None
        ref_cm.update(s.label, a)
        cand_cm.update(s.label, b)
        equal += int((a == b).sum())
        total += a.size
    return Agreement(len(picked), equal / total, cand_cm.scores(ds.class_names).miou,
                     ref_cm.scores(ds.class_names).miou)
