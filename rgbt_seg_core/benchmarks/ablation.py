"""``rgbt-seg bench ablation``: RSFNet against its single-modality and sum-fusion variants (RSFNet Tables VII,
XIII), each trained alike on a synthetic set; the ratio to full RSFNet says what each part of the fusion adds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, TypedDict

from rgbt_seg_core.benchmarks.trained_runs import synthetic_test_split, trained_engine
from rgbt_seg_core.data.synthetic import SynthConfig
from rgbt_seg_core.evaluation.evaluator import evaluate

__all__ = ["ABLATIONS", "AblationRow", "run_ablation_benchmark"]

# variant -> the model options that make it (RSFNet Tables VII, XIII)
ABLATIONS: dict[str, dict[str, Any]] = {
    "rsf": {},
    "rgb_only": {"modalities": "rgb"},
    "thermal_only": {"modalities": "thermal"},
    "sum": {"fusion": "sum"},
}


class AblationRow(TypedDict):
    mIoU: float
    mAcc: float
    ratio_to_rsf: float | None  # None without the rsf variant or when its mIoU is 0


def run_ablation_benchmark(data_root: str | Path, out: str | Path, *, model: str, frames: int, synth: SynthConfig,
                           variants: Sequence[str] = tuple(ABLATIONS), max_iters: int | None = None, seed: int = 0
                           ) -> dict[str, AblationRow]:
    """Variant -> test mIoU, mAcc and ``ratio_to_rsf`` (None without the ``rsf`` variant or when its mIoU is 0).

    Each variant trains into ``out/<variant>`` (a finished run there is reused)."""
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown:
        raise ValueError(f"unknown ablation variant(s) {', '.join(unknown)}; variants: {', '.join(ABLATIONS)}")
    test = synthetic_test_split(data_root, frames, synth)
    rows: dict[str, AblationRow] = {}
    for name in variants:
        engine = trained_engine(Path(out) / name, model=model, data_root=data_root, max_iters=max_iters, seed=seed,
                                sets=[f"model_options.{k}={v}" for k, v in ABLATIONS[name].items()])
        scores = evaluate(engine, test).scores()
        rows[name] = {"mIoU": scores.miou, "mAcc": scores.macc, "ratio_to_rsf": None}
    ref = rows["rsf"]["mIoU"] if "rsf" in rows else None
    for r in rows.values():
        r["ratio_to_rsf"] = (r["mIoU"] / ref) if ref else None
    return rows
