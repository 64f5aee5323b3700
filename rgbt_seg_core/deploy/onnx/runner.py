"""ONNX Runtime: the fp32 ONNX form of the deploy model."""

from __future__ import annotations

import torch
from torch import nn

from rgbt_seg_core.deploy.base import RunnerOptions, host_feeds
from rgbt_seg_core.deploy.model_files import check_owner, onnx_for
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint


class OnnxRuntimeRunner:
    def __init__(self, loaded: LoadedCheckpoint, model: nn.Module, config: RunnerOptions,
                 device: torch.device) -> None:
        from rgbt_seg_core.deploy.onnx.export import onnx_metadata
        from rgbt_seg_core.utils.optional import require

        ort = require("onnxruntime", "onnx")
        if config.precision not in ("auto", "fp32"):
            raise ValueError(f"backend onnxruntime runs fp32; precision {config.precision} needs backend torch "
                             "(or tensorrt for fp16, openvino for bf16)")
        path = onnx_for(loaded, model, given=config.model_file)
        check_owner(path, onnx_metadata(path).get("rgbt_seg.checkpoint_sha256"), loaded)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" \
            else ["CPUExecutionProvider"]
        self._session = ort.InferenceSession(str(path), providers=providers)  # type: ignore[attr-defined]
        self.device = torch.device("cpu")  # inputs go in as host arrays
        self.precision = "fp32"
        self.path = path

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._session.run(["logits"], host_feeds(rgb, thermal))[0])
