"""Inference backends other than eager torch, behind one small interface.

Each backend runs the deploy form exported to ONNX (:mod:`rgbt_seg_core.deploy.onnx.export`), so all of them take the
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

import torch

from rgbt_seg_core.deploy.base import BACKENDS, Runner, RunnerOptions, host_feeds
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint

__all__ = ["BACKENDS", "Runner", "RunnerOptions", "open_runner", "host_feeds"]


def open_runner(loaded: LoadedCheckpoint, model: torch.nn.Module, config: RunnerOptions,
                device: torch.device) -> Runner:
    """The runner for ``config.backend`` (not ``torch``); ``model`` is the deploy form, exported when needed."""
    if config.backend == "onnxruntime":
        from rgbt_seg_core.deploy.onnx.runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(loaded, model, config, device)
    if config.backend == "openvino":
        from rgbt_seg_core.deploy.openvino.runner import OpenVinoRunner

        return OpenVinoRunner(loaded, model, config, device)
    if config.backend == "tensorrt":
        from rgbt_seg_core.deploy.tensorrt.runner import TensorRtRunner

        return TensorRtRunner(loaded, model, config, device)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
