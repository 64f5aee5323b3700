"""``rgbt-seg bench robustness``: two models under the robustness protocols of CIMNet Tables IV and V (a failed
camera, static and dynamic misalignment), each trained alike on a synthetic set and scored clean and perturbed.

A difference under 0.5 mIoU points is called a tie: on a small synthetic test split it is within the noise of
the training seed.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from rgbt_seg_core.benchmarks.trained_runs import synthetic_test_split, trained_engine
from rgbt_seg_core.data.perturb import parse_settings
from rgbt_seg_core.data.synthetic import SynthConfig
from rgbt_seg_core.evaluation.evaluator import evaluate
from rgbt_seg_core.models import list_models

__all__ = ["ROBUSTNESS_SETTINGS", "TIE_MIOU", "comparison_rows", "run_robustness_benchmark"]

ROBUSTNESS_SETTINGS = ("rgb-failure", "thermal-failure", "misalign:8", "misalign-dynamic:12")
TIE_MIOU = 0.005


def run_robustness_benchmark(data_root: str | Path, out: str | Path, *, models: Sequence[str], frames: int,
                             synth: SynthConfig, perturb: Sequence[str] = ROBUSTNESS_SETTINGS,
                             max_iters: int | None = None, seed: int = 0,
                             on_train: Callable[[str, Path], None] | None = None) -> dict[str, Any]:
    """``{"models", "test_frames", "image_size", "rows"}``; a row per setting (clean first): each model's mIoU,
    its drop from clean (``<model>_drop``) and which model is ``better``. Model ``m`` trains into ``out/m``."""
    settings = parse_settings(list(perturb))  # a typo fails before any training
    if len(models) != 2 or len(set(models)) != 2:
        raise ValueError("--models takes two different model names")
    for name in models:
        if name not in list_models():
            raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    test = synthetic_test_split(data_root, frames, synth)
    scores: dict[str, dict[str, float]] = {}
    for model in models:
        engine = trained_engine(Path(out) / model, model=model, data_root=data_root, max_iters=max_iters, seed=seed,
                                on_train=partial(on_train, model) if on_train else None)
        scores[model] = {"clean": evaluate(engine, test).scores().miou}
        for setting in settings:
            scores[model][setting.name] = evaluate(engine, test, perturb=setting).scores().miou
    rows = comparison_rows(scores, models, ["clean", *(s.name for s in settings)])
    return {"models": list(models), "test_frames": len(test), "image_size": list(test.image_size or ()), "rows": rows}


def comparison_rows(scores: dict[str, dict[str, float]], models: Sequence[str], settings: Sequence[str]
                    ) -> list[dict[str, Any]]:
    """Per setting: both models' mIoU, each one's drop from its ``clean`` score and the better model (or a tie
    within :data:`TIE_MIOU`)."""
    a, b = models
    rows = []
    for setting in settings:
        sa, sb = scores[a][setting], scores[b][setting]
        better = a if sa > sb + TIE_MIOU else b if sb > sa + TIE_MIOU else "tie (within 0.5 points)"
        rows.append({"setting": setting, a: sa, b: sb, f"{a}_drop": scores[a]["clean"] - sa,
                     f"{b}_drop": scores[b]["clean"] - sb, "better": better})
    return rows
