"""How far a quantised (or otherwise approximate) engine strays from its fp32 reference on a data set split: the
share of equal labels and both engines' mIoU, which ``rgbt-seg export --int8 --verify`` holds to its limits."""

from __future__ import annotations

from dataclasses import dataclass

from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix
from rgbt_seg_core.inference.calibration import pick_frames
from rgbt_seg_core.inference.engine import InferenceEngine, UnusableFrame

__all__ = ["Agreement", "compare_engines"]


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
