"""Inference backends other than eager torch, behind one small interface.

Each backend runs the deploy form exported to ONNX (:mod:`rgbt_seg_core.export_onnx`), so all of them take the
same preprocessed tensors as the torch path and return the same logits:

* ``onnxruntime``: the fp32 ONNX file, on the CPU (or CUDA with onnxruntime-gpu); extra ``[onnx]``.
* ``openvino``: OpenVINO IR (or the ONNX file) for Intel CPUs and iGPUs; extra ``[openvino]``. OpenVINO picks
  its own inference precision (bf16 on CPUs with AMX or AVX512_BF16) unless one is asked for.
* ``tensorrt``: an fp16 engine built from a float16 ONNX graph on the GPU it runs on; extra ``[tensorrt]``.

A backend's model file is either given (node parameter ``model_file``) or made once from the checkpoint into the
cache, keyed by the checkpoint's checksum; a given file must carry that checksum, so a model file can never be
paired with the wrong checkpoint's class names and palette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from ..checkpoint import LoadedCheckpoint
    from ..inference import InferenceConfig

__all__ = ["BACKENDS", "Runner", "open_runner", "host_feeds"]

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")


class Runner(Protocol):
    """A compiled deploy form: preprocessed 1 x 3 x H x W and 1 x 1 x H x W float32 tensors in, logits out."""

    device: torch.device  # where the inputs must be
    precision: str  # fp32 | bf16 | fp16: what the backend computes in

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor: ...


def host_feeds(rgb: torch.Tensor, thermal: torch.Tensor) -> dict[str, np.ndarray]:
    """The graph's inputs as contiguous float32 host arrays (the CPU runtimes take NumPy)."""
    return {"rgb": np.ascontiguousarray(rgb.float().cpu().numpy()),
            "thermal": np.ascontiguousarray(thermal.float().cpu().numpy())}


def open_runner(loaded: "LoadedCheckpoint", model: torch.nn.Module, config: "InferenceConfig",
                device: torch.device) -> Runner:
    """The runner for ``config.backend`` (not ``torch``); ``model`` is the deploy form, exported when needed."""
    if config.backend == "onnxruntime":
        from .onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(loaded, model, config, device)
    if config.backend == "openvino":
        from .openvino_runner import OpenVinoRunner

        return OpenVinoRunner(loaded, model, config, device)
    if config.backend == "tensorrt":
        from .tensorrt_runner import TensorRtRunner

        return TensorRtRunner(loaded, model, config, device)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
