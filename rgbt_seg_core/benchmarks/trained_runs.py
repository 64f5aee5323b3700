"""Train-then-evaluate on a synthetic data set, shared by the ablation and robustness benchmarks.

Both compare models trained alike (same preset, data, seed and iterations) and then scored on the same test
split, so the comparison measures the architecture and nothing else; a finished run in the output folder is
reused, so a benchmark interrupted after its first model does not train that model again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.training.config import resolve_train_config
from rgbt_seg_core.training.trainer import Trainer

__all__ = ["synthetic_test_split", "trained_engine"]


def synthetic_test_split(root: str | Path, frames: int, synth: SynthConfig) -> RGBTDataset:
    """The test split of the synthetic set in ``root``, written first (``frames`` frames) when missing."""
    root = Path(root)
    if not (root / "synth.json").is_file():
        write_synthetic_dataset(root, frames, synth)
    return build_dataset("synthetic", root, "test")


def trained_engine(run_dir: str | Path, *, model: str, data_root: str | Path, max_iters: int | None, seed: int,
                   sets: Sequence[str] = (), on_train: Callable[[Path], None] | None = None) -> InferenceEngine:
    """An engine on ``run_dir``'s last checkpoint, trained first with the synthetic preset when there is none
    (``on_train(run_dir)`` is called before training starts)."""
    run_dir = Path(run_dir)
    last = run_dir / "last.safetensors"
    if not last.is_file():
        if on_train is not None:
            on_train(run_dir)
        cfg = resolve_train_config(dataset="synthetic", model=model, data_root=str(data_root), out=str(run_dir),
                                   max_iters=max_iters, seed=seed, sets=list(sets))
        Trainer(cfg).run()
    return InferenceEngine(last, InferenceConfig(warmup=0))
