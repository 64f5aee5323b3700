"""What every backend runner is and takes: the interface the engine calls, the options it passes, the host feeds the
CPU runtimes share. Separate from the package's ``open_runner`` so the runners can import it without a cycle.
Which backends there are is :mod:`rgbt_seg_core.deploy.registry`'s table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

__all__ = ["Runner", "RunnerOptions", "host_feeds"]


@dataclass(frozen=True)
class RunnerOptions:
    """The part of an inference configuration a backend reads (the engine's ``InferenceConfig`` fields of the
    same names)."""

    backend: str
    precision: str = "auto"
    model_file: str = ""
    openvino_device: str = "CPU"


class Runner(Protocol):
    """A compiled deploy form: preprocessed 1 x 3 x H x W and 1 x 1 x H x W float32 tensors in, logits out."""

    device: torch.device  # where the inputs must be
    precision: str  # fp32 | bf16 | fp16 | int8: what the backend computes in

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor: ...


def host_feeds(rgb: torch.Tensor, thermal: torch.Tensor) -> dict[str, np.ndarray]:
    """The graph's inputs as contiguous float32 host arrays (the CPU runtimes take NumPy)."""
    return {"rgb": np.ascontiguousarray(rgb.float().cpu().numpy()),
            "thermal": np.ascontiguousarray(thermal.float().cpu().numpy())}
