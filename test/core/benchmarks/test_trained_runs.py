"""Train-then-evaluate shared by the ablation and robustness benchmarks: data created once, finished runs reused."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rgbt_seg_core.benchmarks.trained_runs import synthetic_test_split, trained_engine
from rgbt_seg_core.data.synthetic import SynthConfig
from rgbt_seg_core.models import build_model
from rgbt_seg_core.models.checkpoint_file import save_checkpoint


def test_the_data_set_is_written_once(tmp_path: Path) -> None:
    test = synthetic_test_split(tmp_path / "data", 8, SynthConfig(height=64, width=80, seed=3))
    assert len(test) == 2 and tuple(test.image_size) == (64, 80)
    info = (tmp_path / "data" / "synth.json").read_text()
    again = synthetic_test_split(tmp_path / "data", 400, SynthConfig(height=96, width=96, seed=9))
    assert len(again) == 2 and (tmp_path / "data" / "synth.json").read_text() == info
    assert json.loads(info)["num"] == 8


def test_a_finished_run_is_reused_without_training(tmp_path: Path) -> None:
    torch.manual_seed(0)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_checkpoint(run_dir / "last.safetensors",
                    build_model("rsfnet50_18", num_classes=9, fusion_channels=[16, 16, 32, 32], reduced_dim=16))
    trained: list[Path] = []
    engine = trained_engine(run_dir, model="rsfnet50_18", data_root=tmp_path / "no-data", max_iters=1, seed=0,
                            on_train=trained.append)
    assert trained == [] and engine.meta.model == "rsfnet50_18"
