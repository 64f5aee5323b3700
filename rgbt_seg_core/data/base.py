"""What every data set returns, and the up-front validation that runs before training starts.

A data set yields :class:`Sample` s of raw arrays (uint8 RGB, uint8 or uint16 thermal, uint8 labels); conversion
to tensors and augmentation happen later (:mod:`rgbt_seg_core.data.training`), so evaluation, pseudo-labels and
the bag tools all see the pixels exactly as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

__all__ = ["Sample", "DatasetLayoutError", "RGBTDataset", "read_image", "read_split_file", "as_image_size"]


@dataclass
class Sample:
    name: str
    rgb: np.ndarray  # H x W x 3 uint8, RGB order
    thermal: np.ndarray  # H x W uint8 or uint16
    label: np.ndarray  # H x W uint8 class ids


class DatasetLayoutError(ValueError):
    """The files on disk do not match the data set's public layout; the message lists every problem found."""

    def __init__(self, dataset: str, root: Path, problems: Sequence[str], layout: str) -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(
            f"{dataset} data set at {root} is not usable ({len(self.problems)} problem(s)):\n  {shown}{more}\n"
            f"Expected layout:\n{layout}"
        )


def read_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """cv2.imread that raises instead of returning None, naming the file (data sets and ``rgbt-seg predict``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise ValueError(f"unreadable image: {path}")
    return img


def read_split_file(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"missing split file: {path}")
    names = [line.strip() for line in path.read_text().splitlines()]
    return [n for n in names if n and not n.startswith("#")]


def as_image_size(value: Sequence[int], where: str) -> tuple[int, int]:
    """Sizes arrive as lists from YAML and JSON; a data set keeps its own as (height, width)."""
    if isinstance(value, (str, bytes)) or len(value) != 2:
        raise ValueError(f"{where}: expected [height, width], got {value!r}")
    return int(value[0]), int(value[1])


class RGBTDataset:
    """Base class: a named split of (rgb, thermal, label) triples with its class metadata."""

    dataset_name = "base"
    layout_help = ""

    def __init__(
        self,
        root: str | Path,
        split: str,
        names: list[str],
        class_names: Sequence[str],
        palette: Sequence[Sequence[int]],
        image_size: tuple[int, int] | None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.names = names
        self.class_names = tuple(class_names)
        self.palette = tuple(tuple(int(v) for v in c) for c in palette)
        self.image_size = image_size  # (H, W) every file must have; None: take the first file's

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        return self.load(self.names[index])

    def load(self, name: str) -> Sample:
        raise NotImplementedError

    def is_night(self, name: str) -> bool | None:
        """Day (False) or night (True) for sets that record it, else None; evaluation reports both subsets."""
        return None

    def describe(self) -> str:
        return f"{self.dataset_name}:{self.split} ({len(self)} images) at {self.root}"

    def validate(self, progress: Callable[[int], object] | None = None) -> None:
        """Read every file once; raise :class:`DatasetLayoutError` listing all problems (path + reason)."""
        problems: list[str] = []
        if not self.names:
            problems.append(f"split {self.split!r} lists no images")
        size = self.image_size
        for i, name in enumerate(self.names):
            try:
                s = self.load(name)
            except (FileNotFoundError, ValueError) as exc:
                problems.append(str(exc))
                continue
            finally:
                if progress:
                    progress(i)
            shapes = {"rgb": s.rgb.shape[:2], "thermal": s.thermal.shape[:2], "label": s.label.shape[:2]}
            if size is None:
                size = shapes["rgb"]
            for kind, shape in shapes.items():
                if shape != tuple(size):
                    problems.append(f"{name}: {kind} is {shape[0]}x{shape[1]}, expected {size[0]}x{size[1]}")
            if s.label.size and int(s.label.max()) >= self.num_classes:
                problems.append(
                    f"{name}: label value {int(s.label.max())} out of range 0..{self.num_classes - 1}"
                )
        if problems:
            raise DatasetLayoutError(self.dataset_name, self.root, problems, self.layout_help)
