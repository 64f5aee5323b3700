"""Data sets in their public layouts, the synthetic generator, and torch views for training/evaluation."""

from __future__ import annotations

from pathlib import Path

from rgbt_seg_core.data.base import DatasetLayoutError, RGBTDataset, Sample
from rgbt_seg_core.data.kust4k import Kust4KDataset
from rgbt_seg_core.data.mfnet import MFNetDataset
from rgbt_seg_core.data.pst900 import PST900Dataset

__all__ = ["DATASETS", "build_dataset", "DatasetLayoutError", "RGBTDataset", "Sample", "MFNetDataset", "PST900Dataset",
           "Kust4KDataset"]

DATASETS = ("mfnet", "pst900", "kust4k", "synthetic")


def build_dataset(name: str, root: str | Path, split: str, **options) -> RGBTDataset:
    """``synthetic`` is read with the MFNet loader: the generator writes that layout. ``options`` are the
    loader's keyword options (pst900: ``thermal``; kust4k: its folder names and day/night patterns); an option
    the loader does not take is refused by name."""
    import inspect

    loader = {"mfnet": MFNetDataset, "synthetic": MFNetDataset, "pst900": PST900Dataset, "kust4k": Kust4KDataset}
    if name in loader:
        takes = [p for p in inspect.signature(loader[name]).parameters if p not in ("root", "split")]
        unknown = sorted(set(options) - set(takes))
        if unknown:
            raise ValueError(f"data set {name} takes no option {', '.join(unknown)}; its options: "
                             f"{', '.join(takes) or 'none'}")
    if name in ("mfnet", "synthetic"):
        ds = MFNetDataset(root, split, **options)
        if name == "synthetic" and not (Path(root) / "synth.json").is_file():
            raise FileNotFoundError(f"{root} has no synth.json: not written by `rgbt-seg synth` (use --dataset mfnet?)")
        ds.dataset_name = name
        return ds
    if name == "pst900":
        return PST900Dataset(root, split, **options)
    if name == "kust4k":
        return Kust4KDataset(root, split, **options)
    raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
