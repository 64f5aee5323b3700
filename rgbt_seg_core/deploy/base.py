"""What every backend runner is and takes: the interface the engine calls, the options it passes, the host feeds the
CPU runtimes share. Separate from the package's ``open_runner`` so the runners can import it without a cycle.
Which backends there are is :mod:`rgbt_seg_core.deploy.registry`'s table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

__all__ = ["Runner", "RunnerOptions", "host_feeds", "runner_max_batch"]


@dataclass(frozen=True)
class RunnerOptions:
    """The part of an inference configuration a backend reads (the engine's ``InferenceConfig`` fields of the
    same names)."""

    backend: str
    precision: str = "auto"
    model_file: str = ""
    openvino_device: str = "CPU"
    # the largest batch a backend that fixes it when it builds (TensorRT's optimisation profile) is built for;
    # backends whose files take any batch up to their own bound (ONNX Runtime, OpenVINO) do not read it
    max_batch: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ValueError(f"max_batch must be a whole number of at least 1, got {self.max_batch!r}")


class Runner(Protocol):
    """A compiled deploy form: preprocessed B x 3 x H x W and B x 1 x H x W float32 tensors in, B x C x H x W logits
    out. A runner may also state ``max_batch``, the largest B its file takes; the engine splits a larger batch into
    calls of at most that many frames, and takes a runner that states none to take one frame per call
    (:func:`runner_max_batch`)."""

    device: torch.device  # where the inputs must be
    precision: str  # fp32 | bf16 | fp16 | int8: what the backend computes in

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor: ...


def runner_max_batch(runner: object) -> int:
    """The largest batch ``runner`` takes in one call: its ``max_batch``, else 1 (a runner written for single frames,
    or a model file made before the batch axis)."""
    value = getattr(runner, "max_batch", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"runner {type(runner).__name__}: max_batch must be a whole number of at least 1, "
                         f"got {value!r}")
    return value


def host_feeds(rgb: torch.Tensor, thermal: torch.Tensor) -> dict[str, np.ndarray]:
    """The graph's inputs as contiguous float32 host arrays (the CPU runtimes take NumPy)."""
    return {"rgb": np.ascontiguousarray(rgb.float().cpu().numpy()),
            "thermal": np.ascontiguousarray(thermal.float().cpu().numpy())}
