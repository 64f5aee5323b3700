"""MFNet in RTFNet's public release layout, also written by ``rgbt-seg synth``.

    ROOT/images/<name>.png   4-channel 8-bit PNG, channels R, G, B, thermal
    ROOT/labels/<name>.png   uint8 class ids 0..8
    ROOT/{train,val,test,test_day,test_night}.txt   one name per line (00001D day, 00001N night)

Some releases add horizontally flipped copies named ``<name>_flip``; they are loaded like any other name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from rgbt_seg_core.data.base import RGBTDataset, Sample, as_image_size, read_image, read_split_file
from rgbt_seg_core.utils.classes import MFNET_CLASSES, MFNET_PALETTE

__all__ = ["MFNetDataset", "MFNET_SPLITS"]

MFNET_SPLITS = ("train", "val", "test", "test_day", "test_night")
LAYOUT = """  ROOT/images/<name>.png   4-channel PNG (R, G, B, thermal), 8-bit
  ROOT/labels/<name>.png   1-channel uint8 class ids
  ROOT/train.txt val.txt test.txt test_day.txt test_night.txt   one image name per line"""


class MFNetDataset(RGBTDataset):
    dataset_name = "mfnet"
    layout_help = LAYOUT
    default_size = (480, 640)

    def __init__(self, root: str | Path, split: str = "train", *, image_size: tuple[int, int] | None = None) -> None:
        root = Path(root)
        if split not in MFNET_SPLITS:
            raise ValueError(f"mfnet split must be one of {', '.join(MFNET_SPLITS)}, got {split!r}")
        if not root.is_dir():
            raise FileNotFoundError(f"mfnet data root not found: {root}\nExpected layout:\n{LAYOUT}")
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(f"mfnet split file missing: {split_file}\nExpected layout:\n{LAYOUT}")
        names = read_split_file(split_file)
        class_names: Sequence[str] = MFNET_CLASSES
        palette: Sequence[Sequence[int]] = MFNET_PALETTE
        # written by `rgbt-seg synth` (a synthetic set) or `rgbt-seg bag-extract` (a robot's own frames): the
        # frame size, and for an extraction the classes of its labels
        for info in (root / "synth.json", root / "extract.json"):
            if not info.is_file():
                continue
            try:
                meta = json.loads(info.read_text())
                if meta.get("image_size"):
                    image_size = image_size or as_image_size(meta["image_size"], "image_size")
                if meta.get("class_names") and meta.get("palette"):
                    class_names, palette = tuple(meta["class_names"]), tuple(map(tuple, meta["palette"]))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"{info}: unreadable ({exc}); it describes the frames of this folder") from None
        super().__init__(root, split, names, class_names, palette, image_size or self.default_size)

    def load(self, name: str) -> Sample:
        img_path = self.root / "images" / f"{name}.png"
        img = read_image(img_path)
        if img.ndim != 3 or img.shape[2] != 4:
            got = "1" if img.ndim == 2 else str(img.shape[2])
            raise ValueError(f"{img_path}: expected a 4-channel PNG (R, G, B, thermal), got {got} channel(s)")
        if img.dtype != np.uint8:
            raise ValueError(f"{img_path}: expected 8-bit channels, got {img.dtype}")
        label = read_image(self.root / "labels" / f"{name}.png")
        if label.ndim == 3:  # some tools save labels as 3 identical channels
            label = label[:, :, 0]
        # OpenCV returns BGRA; the file's channel order is R, G, B, thermal
        rgb = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
        return Sample(name, rgb, np.ascontiguousarray(img[:, :, 3]), label.astype(np.uint8, copy=False))

    @staticmethod
    def is_night(name: str) -> bool:
        return name.split("_")[0].upper().endswith("N")
