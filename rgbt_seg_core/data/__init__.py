"""Data sets in their public layouts, the synthetic generator, and torch views for training/evaluation."""

from __future__ import annotations

from pathlib import Path

from .base import DatasetLayoutError, RGBTDataset, Sample
from .mfnet import MFNetDataset
from .pst900 import PST900Dataset

__all__ = ["DATASETS", "build_dataset", "DatasetLayoutError", "RGBTDataset", "Sample", "MFNetDataset", "PST900Dataset"]

DATASETS = ("mfnet", "pst900", "synthetic")


def build_dataset(name: str, root: str | Path, split: str, **options) -> RGBTDataset:
    """``synthetic`` is read with the MFNet loader: the generator writes that layout."""
    if name in ("mfnet", "synthetic"):
        ds = MFNetDataset(root, split, **options)
        if name == "synthetic" and not (Path(root) / "synth.json").is_file():
            raise FileNotFoundError(f"{root} has no synth.json: not written by `rgbt-seg synth` (use --dataset mfnet?)")
        ds.dataset_name = name
        return ds
    if name == "pst900":
        return PST900Dataset(root, split, **options)
    raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
