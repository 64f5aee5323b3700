"""Kust4K (CIMNet §IV) in a flat folder layout.

    ROOT/RGB/<name>.png      uint8 3-channel, 640 x 512 (W x H)
    ROOT/TIR/<name>.png      uint8 thermal (1 channel, or 3 identical channels)
    ROOT/Label/<name>.png    uint8 class ids 0..8
    ROOT/{train,val,test}.txt   optional: one name per line (the release's split files)

The release's exact folder names are not certain, so all three are options (``rgb_dir``, ``thermal_dir``,
``label_dir``); an image may be ``.png`` or ``.jpg``. Without split files the split is made here as the paper
describes it (§IV-A): 70 % train, 10 % val and 20 % test of the day images and, separately, of the night
images, so that each split keeps the set's day/night ratio. It is a fixed-seed permutation of the sorted names,
so the same files always give the same split on every machine.

Day or night comes from the name (``night_pattern`` / ``day_pattern``, regular expressions searched in the name,
case-insensitive). A name that matches neither, or both, is a layout problem that ``validate`` reports with the
others before training starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from rgbt_seg_core.data.base import (
    DatasetLayoutError,
    RGBTDataset,
    Sample,
    as_image_size,
    read_image,
    read_split_file,
)
from rgbt_seg_core.utils.classes import KUST4K_CLASSES, KUST4K_PALETTE

__all__ = ["Kust4KDataset", "KUST4K_SPLITS", "kust4k_split"]

KUST4K_SPLITS = ("train", "val", "test", "test_day", "test_night")
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}  # CIMNet §IV-A, per illumination
SPLIT_SEED = 20250  # fixed: the generated split must never change between runs or machines
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
OPTIONS = ("rgb_dir", "thermal_dir", "label_dir", "night_pattern", "day_pattern", "image_size")


def _layout(rgb_dir: str, thermal_dir: str, label_dir: str) -> str:
    return (f"  ROOT/{rgb_dir}/<name>.png     RGB, 8-bit 3-channel\n"
            f"  ROOT/{thermal_dir}/<name>.png     thermal, 8-bit\n"
            f"  ROOT/{label_dir}/<name>.png   uint8 class ids 0..8\n"
            "  ROOT/train.txt val.txt test.txt   optional split files (else 70/10/20 per day/night, generated)\n"
            "  folder names are options: rgb_dir, thermal_dir, label_dir (--data-option rgb_dir=visible ...)")


def kust4k_split(names: list[str], night: dict[str, bool], split: str) -> list[str]:
    """The generated split: per illumination, a fixed-seed permutation of the sorted names cut 70/10/20."""
    out: list[str] = []
    for is_night in (False, True):
        group = sorted(n for n in names if night[n] == is_night)
        order = [group[i] for i in np.random.default_rng([SPLIT_SEED, int(is_night)]).permutation(len(group))]
        n_train = round(len(order) * FRACTIONS["train"])
        n_val = round(len(order) * FRACTIONS["val"])
        parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
        if split in parts:
            out += parts[split]
        elif split == ("test_night" if is_night else "test_day"):
            out += parts["test"]
    return sorted(out)


class Kust4KDataset(RGBTDataset):
    dataset_name = "kust4k"
    default_size = (512, 640)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        rgb_dir: str = "RGB",
        thermal_dir: str = "TIR",
        label_dir: str = "Label",
        night_pattern: str = r"night|dark|\d+N$",
        day_pattern: str = r"day|\d+D$",
        image_size: tuple[int, int] | None = None,
    ) -> None:
        root = Path(root)
        self.layout_help = _layout(rgb_dir, thermal_dir, label_dir)
        if split not in KUST4K_SPLITS:
            raise ValueError(f"kust4k split must be one of {', '.join(KUST4K_SPLITS)}, got {split!r}")
        for key, folder in (("rgb_dir", rgb_dir), ("thermal_dir", thermal_dir), ("label_dir", label_dir)):
            if not isinstance(folder, str) or not folder or Path(folder).is_absolute() or ".." in Path(folder).parts:
                raise ValueError(f"kust4k option {key}={folder!r} must be a folder name inside the data root")
        patterns = {}
        for key, pattern in (("night_pattern", night_pattern), ("day_pattern", day_pattern)):
            try:
                patterns[key] = re.compile(str(pattern), re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"kust4k option {key}={pattern!r} is not a regular expression: {exc}") from None
        self._night_re, self._day_re = patterns["night_pattern"], patterns["day_pattern"]
        if not root.is_dir():
            raise FileNotFoundError(f"kust4k data root not found: {root}\nExpected layout:\n{self.layout_help}")
        self.dirs = {"rgb": root / rgb_dir, "thermal": root / thermal_dir, "label": root / label_dir}
        missing = [str(d) for d in self.dirs.values() if not d.is_dir()]
        if missing:
            present = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise DatasetLayoutError("kust4k", root, [f"folder missing: {m}" for m in missing]
                                     + [f"folders present: {', '.join(present) or 'none'}"], self.layout_help)
        self._files = {kind: self._index(d) for kind, d in self.dirs.items()}
        self.generated_split = False
        base = "test" if split in ("test_day", "test_night") else split
        split_file = root / f"{base}.txt"
        if split_file.is_file():
            names = read_split_file(split_file)
            if split != base:
                want_night = split == "test_night"
                names = [n for n in names if self.is_night(n) is want_night]
        else:
            all_names = sorted(self._files["rgb"])
            night = {n: self.is_night(n) for n in all_names}
            unknown = [n for n, v in night.items() if v is None]
            if unknown:
                raise DatasetLayoutError("kust4k", root, [
                    f"{len(unknown)} name(s) are neither day nor night, e.g. {', '.join(unknown[:3])}: no split files "
                    "to read, and the generated split keeps day and night apart (set night_pattern / day_pattern)"],
                    self.layout_help)
            names = kust4k_split(all_names, {n: v for n, v in night.items() if v is not None}, split)
            self.generated_split = True
        super().__init__(root, split, names, KUST4K_CLASSES, KUST4K_PALETTE,
                         as_image_size(image_size, "kust4k option image_size") if image_size else self.default_size)

    @staticmethod
    def _index(folder: Path) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                files.setdefault(p.stem, p)  # a .png beside a .jpg of the same name: the first in sort order
        return files

    def is_night(self, name: str) -> bool | None:
        night, day = bool(self._night_re.search(name)), bool(self._day_re.search(name))
        return None if night == day else night

    def _path(self, kind: str, name: str) -> Path:
        path = self._files[kind].get(name)
        if path is None:
            raise FileNotFoundError(f"missing file: {self.dirs[kind] / name}.png ({kind} of {name})")
        return path

    def load(self, name: str) -> Sample:
        if self.is_night(name) is None:
            raise ValueError(f"{name}: cannot tell day from night by the name (night_pattern "
                             f"{self._night_re.pattern!r}, day_pattern {self._day_re.pattern!r})")
        rgb_path, t_path, l_path = (self._path(k, name) for k in ("rgb", "thermal", "label"))
        rgb = read_image(rgb_path, cv2.IMREAD_COLOR)
        if rgb.dtype != np.uint8:
            raise ValueError(f"{rgb_path}: expected 8-bit RGB, got {rgb.dtype}")
        thermal = read_image(t_path)
        if thermal.ndim == 3:
            if thermal.shape[2] >= 3 and not (np.array_equal(thermal[:, :, 0], thermal[:, :, 1])
                                              and np.array_equal(thermal[:, :, 1], thermal[:, :, 2])):
                raise ValueError(f"{t_path}: a colour thermal image (pseudo-colour?); expected grey levels")
            thermal = thermal[:, :, 0]
        if thermal.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{t_path}: expected 8- or 16-bit thermal, got {thermal.dtype}")
        label = read_image(l_path)
        if label.ndim == 3:
            label = label[:, :, 0]
        if label.dtype != np.uint8:
            raise ValueError(f"{l_path}: expected uint8 class ids, got {label.dtype}")
        return Sample(name, cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), np.ascontiguousarray(thermal), label)
