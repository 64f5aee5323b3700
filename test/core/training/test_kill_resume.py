"""A run killed at the instant of a `last` or `best` write: both files load, resuming finishes the run, and the
weights of `last` and `best` equal an uninterrupted run's. Temporary files of the killed write are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.training.config import TrainConfig
from rgbt_seg_core.training.trainer import Trainer
from rgbt_seg_core.utils import atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def _child(cfg: TrainConfig, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = ROOT / "test" / "_support" / "kill_child.py"
    return subprocess.run([sys.executable, str(child), json.dumps(asdict(cfg)), *args],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_kill_at_checkpoint_writes_then_resume(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_synthetic_dataset(root, 12, SynthConfig(height=64, width=64, seed=0))  # 6 training frames: 3 steps

    def cfg(out: str) -> TrainConfig:
        return TrainConfig(dataset="synthetic", data_root=str(root), model="rsfnet50_18", out=str(tmp_path / out),
                           epochs=2, batch_size=2, crop=[48, 48], lr=0.01, num_workers=0, device="cpu",
                           deterministic=True, tensorboard=False, progress=False, cache_dir=str(tmp_path / "cache"),
                           val_every=1, model_options={"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16})

    writes: list[str] = []  # the uninterrupted run's checkpoint writes, in order (in this process: only the killed
    real_replace = os.replace  # runs need one of their own)

    def recording(src, dst):
        if os.path.basename(dst) in ("last.safetensors", "best.safetensors"):
            writes.append(os.path.basename(dst))
        real_replace(src, dst)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(atomic.os, "replace", recording)
        Trainer(cfg("ref")).run()
    assert writes.count("best.safetensors") >= 1 and writes.count("last.safetensors") == 2, writes
    last_best = max(i for i, w in enumerate(writes) if w == "best.safetensors")
    last_last = max(i for i, w in enumerate(writes) if w == "last.safetensors")
    ref_last = _weights(tmp_path / "ref" / "last.safetensors")
    ref_best = _weights(tmp_path / "ref" / "best.safetensors")
    scenarios = {"during the last best write": (last_best, "before"), "between best and last": (last_best, "after"),
                 "during the final last write": (last_last, "before")}
    for k, (name, (index, phase)) in enumerate(scenarios.items()):
        out = f"killed{k}"
        killed = _child(cfg(out), str(index), phase)
        assert killed.returncode == 9, (name, killed.stderr[-3000:])
        run = tmp_path / out
        for f in ("last.safetensors", "best.safetensors"):  # whatever the instant, both load
            if (run / f).exists():
                load_checkpoint(run / f)
        assert (run / "last.safetensors").exists() and (run / "best.safetensors").exists(), name
        result = Trainer(cfg(out)).run(resume=True)
        assert not list(run.glob(".*.tmp")), f"{name}: temporary files left"
        assert result.best_checkpoint is not None, name
        assert _same(_weights(run / "last.safetensors"), ref_last), f"{name}: last differs from the uninterrupted run"
        assert _same(_weights(run / "best.safetensors"), ref_best), f"{name}: best differs from the uninterrupted run"


@pytest.mark.slow
def test_best_is_recreated_on_resume_when_its_write_was_lost(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_synthetic_dataset(root, 20, SynthConfig(height=64, width=64, seed=0))
    c = TrainConfig(dataset="synthetic", data_root=str(root), model="rsfnet50_18", out=str(tmp_path / "r"),
                    epochs=1, batch_size=2, crop=[48, 48], num_workers=0, device="cpu", tensorboard=False,
                    progress=False, cache_dir=str(tmp_path / "cache"), val_every=1,
                    model_options={"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16})
    Trainer(c).run()
    best = tmp_path / "r" / "best.safetensors"
    expected = _weights(best)
    best.unlink()  # as an older rgbt-seg, killed between writing last and best, would leave it
    (tmp_path / "r" / ".last.safetensors.abc.tmp").write_bytes(b"x" * 100)
    Trainer(c).run(resume=True)
    assert _same(_weights(best), expected)
    assert not (tmp_path / "r" / ".last.safetensors.abc.tmp").exists()
