"""The robustness comparison (CIMNet Tables IV, V): rows, drops, the better model, and input checked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.benchmarks.robustness import comparison_rows, run_robustness_benchmark
from rgbt_seg_core.data.synthetic import SynthConfig


def test_rows_give_each_drop_and_the_better_model_with_a_tie_margin() -> None:
    scores = {"m1": {"clean": 0.80, "rgb-failure": 0.50, "misalign:8": 0.700},
              "m2": {"clean": 0.70, "rgb-failure": 0.60, "misalign:8": 0.697}}
    rows = comparison_rows(scores, ["m1", "m2"], ["clean", "rgb-failure", "misalign:8"])
    assert [r["setting"] for r in rows] == ["clean", "rgb-failure", "misalign:8"]
    assert [r["better"] for r in rows] == ["m1", "m2", "tie (within 0.5 points)"]
    assert rows[1]["m1_drop"] == pytest.approx(0.30) and rows[1]["m2_drop"] == pytest.approx(0.10)
    assert rows[0]["m1_drop"] == 0 and rows[0]["m2_drop"] == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["rsfnet50_18", "rsfnet50_18"]}, "two different model names"),
    ({"models": ["rsfnet50_18", "nonet"]}, "unknown model 'nonet'"),
    ({"models": ["rsfnet50_18", "cimnet_r18"], "perturb": ["rgb-fail"]}, "rgb-fail"),
])
def test_bad_input_fails_before_any_data_or_training(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_robustness_benchmark(tmp_path / "data", tmp_path / "out", frames=8, synth=SynthConfig(), **kwargs)
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()
