"""ONNX Runtime: the fp32 ONNX form of the deploy model, or its INT8 (QDQ) form given as the model file; either takes
a batch up to the file's ``max_batch``."""

from __future__ import annotations

import torch
from torch import nn

from rgbt_seg_core.deploy.base import RunnerOptions, host_feeds
from rgbt_seg_core.deploy.model_files import check_owner, is_int8_file, onnx_for
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint


class OnnxRuntimeRunner:
    def __init__(self, loaded: LoadedCheckpoint, model: nn.Module, config: RunnerOptions,
                 device: torch.device) -> None:
        from rgbt_seg_core.deploy.onnx.export import max_batch, onnx_metadata
        from rgbt_seg_core.utils.optional import require

        ort = require("onnxruntime", "onnx")  # the precision was checked against the backend's record
        path = onnx_for(loaded, model, given=config.model_file)
        metadata = onnx_metadata(path)
        check_owner(path, metadata.get("rgbt_seg.checkpoint_sha256"), loaded)
        int8 = is_int8_file(path, metadata, config.precision)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" \
            else ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        # the thread budget torch has in this process, as the OpenVINO runner takes it: ONNX Runtime's own default
        # is a spinning thread per core, which starves the node's other threads (and a second process) of the CPU
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.device = torch.device("cpu")  # inputs go in as host arrays
        self.precision = "int8" if int8 else "fp32"
        self.path = path
        self.max_batch = max_batch(metadata, path)  # 1 for a file made before the batch axis

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._session.run(["logits"], host_feeds(rgb, thermal))[0])
