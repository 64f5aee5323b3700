"""The ablation benchmark's variants (RSFNet Tables VII, XIII) and its input checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.benchmarks.ablation import ABLATIONS, run_ablation_benchmark
from rgbt_seg_core.data.synthetic import SynthConfig
from rgbt_seg_core.models import build_model


def test_every_variant_is_a_buildable_rsfnet() -> None:
    assert list(ABLATIONS) == ["rsf", "rgb_only", "thermal_only", "sum"]
    for name, options in ABLATIONS.items():
        model = build_model("rsfnet50_18", num_classes=3, fusion_channels=[16, 16, 32, 32], reduced_dim=16, **options)
        assert model.family == "rsfnet", name
        for key, value in options.items():
            assert getattr(model.config, key) == value


def test_unknown_variant_fails_before_any_data_or_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ablation variant.*'?late'?"):
        run_ablation_benchmark(tmp_path / "data", tmp_path / "out", model="rsfnet50_18", frames=8,
                               synth=SynthConfig(), variants=["rsf", "late"])
    assert not (tmp_path / "data").exists()
