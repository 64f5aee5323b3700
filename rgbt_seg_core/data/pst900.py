"""PST900 in its public release layout.

    ROOT/{train,test}/rgb/<name>.png          uint8 3-channel
    ROOT/{train,test}/thermal/<name>.png      uint8 (default)
    ROOT/{train,test}/thermal_raw/<name>.png  uint16 (``thermal="raw"``)
    ROOT/{train,test}/labels/<name>.png       uint8 class ids 0..4
    (ROOT/{train,test}/depth/ is not used)

File names are the same across folders; the split is the folder. Zero thermal pixels are parallax holes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rgbt_seg_core.data.base import RGBTDataset, Sample, read_image
from rgbt_seg_core.utils.classes import PST900_CLASSES, PST900_PALETTE

__all__ = ["PST900Dataset"]

LAYOUT = """  ROOT/train/{rgb,thermal,thermal_raw,labels}/<name>.png
  ROOT/test/{rgb,thermal,thermal_raw,labels}/<name>.png
  rgb: 8-bit 3-channel; thermal: 8-bit; thermal_raw: 16-bit; labels: uint8 0..4; same names in every folder"""


class PST900Dataset(RGBTDataset):
    dataset_name = "pst900"
    layout_help = LAYOUT
    default_size = (720, 1280)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        thermal: str = "8bit",
        image_size: tuple[int, int] | None = None,
    ) -> None:
        root = Path(root)
        if split not in ("train", "test"):
            raise ValueError(f"pst900 split must be 'train' or 'test', got {split!r}")
        if thermal not in ("8bit", "raw"):
            raise ValueError(f"pst900 thermal must be '8bit' or 'raw' (16-bit thermal_raw), got {thermal!r}")
        folder = root / split
        rgb_dir = folder / "rgb"
        if not rgb_dir.is_dir():
            raise FileNotFoundError(f"pst900 folder missing: {rgb_dir}\nExpected layout:\n{LAYOUT}")
        names = sorted(p.stem for p in rgb_dir.glob("*.png"))
        self.thermal_dir = "thermal" if thermal == "8bit" else "thermal_raw"
        super().__init__(root, split, names, PST900_CLASSES, PST900_PALETTE, image_size or self.default_size)

    def load(self, name: str) -> Sample:
        folder = self.root / self.split
        rgb = read_image(folder / "rgb" / f"{name}.png", cv2.IMREAD_COLOR)
        t_path = folder / self.thermal_dir / f"{name}.png"
        thermal = read_image(t_path)
        if thermal.ndim == 3:
            thermal = thermal[:, :, 0]
        want = np.uint8 if self.thermal_dir == "thermal" else np.uint16
        if thermal.dtype != want:
            raise ValueError(f"{t_path}: expected {np.dtype(want).name} thermal, got {thermal.dtype}")
        label = read_image(folder / "labels" / f"{name}.png")
        if label.ndim == 3:
            label = label[:, :, 0]
        return Sample(name, cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), thermal, label.astype(np.uint8, copy=False))
