"""INT8 calibration inputs: frames spread over a split, preprocessed exactly as the engine preprocesses them.

Calibration frames go through the engine's own preprocessing (:func:`~rgbt_seg_core.inference.preprocess.
prepare_on_device`, with the thermal normalisation given, by default the engine's and the node's default), so the
ranges the quantiser (:mod:`rgbt_seg_core.deploy.onnx.quantize`) records are those of the inputs the quantised model
will see when it runs with that normalisation (``export --int8`` calibrates with the default). The NaN rule applies:
a frame the engine would refuse is refused here too, by name.

Here rather than with the data sets: the feeds are the engine's inputs, and the inference layer may not import the
data sets, so any sized sequence of samples will do (:class:`Samples`); a data set split is one.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Protocol

import numpy as np
import torch

from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_on_device, thermal_problem

__all__ = ["Frame", "Samples", "calibration_feeds", "pick_frames", "describe"]


class Frame(Protocol):
    """One camera pair as the data sets give it (:class:`rgbt_seg_core.data.base.Sample` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def rgb(self) -> np.ndarray: ...  # H x W x 3 uint8

    @property
    def thermal(self) -> np.ndarray: ...  # H x W, any numeric type the engine takes


class Samples(Protocol):
    """A sized, indexable sequence of frames (a data set split, or a list)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Frame: ...


def describe(samples: object, *, root: bool = True) -> str:
    """How errors name ``samples``: ``dataset:split at root`` for a data set split (``root`` False: without the
    folder), else its type and size."""
    name, split, folder = (getattr(samples, a, None) for a in ("dataset_name", "split", "root"))
    if name is not None and split is not None:
        return f"{name}:{split}" + (f" at {folder}" if root and folder is not None else "")
    size = len(samples) if isinstance(samples, Sized) else "?"
    return f"{type(samples).__name__} of {size} frames"


def pick_frames(total: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``total`` (all of them when there are fewer): a split is often
    sorted by sequence or by day and night, and its first frames alone would calibrate on one scene."""
    if total <= 0 or wanted <= 0:
        return []
    if wanted >= total:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, wanted)})


def calibration_feeds(samples: Samples, frames: int, norm: ThermalNorm = ThermalNorm()
                      ) -> list[dict[str, np.ndarray]]:
    """Up to ``frames`` frames of ``samples`` as the graph's float32 inputs. Raises ValueError naming the split when
    it is empty, or the frame whose thermal image the NaN rule refuses."""
    if len(samples) == 0:
        raise ValueError(f"calibration split {describe(samples)} has no frames")
    feeds = []
    with torch.inference_mode():
        for i in pick_frames(len(samples), frames):
            s = samples[i]
            problem, _ = thermal_problem(s.thermal)
            if problem is not None:
                raise ValueError(f"calibration frame {s.name} ({describe(samples, root=False)}): thermal {problem}")
            rgb, thermal = prepare_on_device(s.rgb, s.thermal, norm)
            feeds.append({"rgb": rgb.numpy(), "thermal": thermal.numpy()})
    return feeds
