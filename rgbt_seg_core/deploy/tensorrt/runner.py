"""TensorRT: an engine built from the deploy form's ONNX graph (fp16 by default), run on the torch CUDA stream.

Inputs are the engine's preprocessed CUDA tensors (contiguous NCHW float32), a batch of up to the engine's
``max_batch`` frames (its record says; 1 for an engine built before the batch profile); an output buffer is kept per
input shape (a few: batch sizes by input sizes), so steady-state batches allocate nothing. An engine made on demand
into the cache is built for the engine config's ``max_batch`` and named by it.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from rgbt_seg_core.deploy.base import RunnerOptions
from rgbt_seg_core.deploy.model_files import check_owner, model_file, onnx_for
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint


class TensorRtRunner:
    def __init__(self, loaded: LoadedCheckpoint, model: nn.Module, config: RunnerOptions,
                 device: torch.device) -> None:
        from rgbt_seg_core.deploy.tensorrt.export import MAX_HW, MIN_HW, build_engine, engine_record, gpu_identity
        from rgbt_seg_core.utils.optional import require

        # the device (CUDA) and the precision were checked against the backend's record (open_runner)
        trt = require("tensorrt", "tensorrt")
        half = config.precision != "fp32"
        self.precision = "fp16" if half else "fp32"
        tag = re.sub(r"[^A-Za-z0-9]+", "-", gpu_identity(device))
        name = f"{loaded.sha256[:24]}_{self.precision}_b{config.max_batch}_trt{trt.__version__}_{tag}.engine"
        path = model_file(config.model_file, loaded, "tensorrt", name,
                          lambda p: build_engine(onnx_for(loaded, model, half=half), p, device,
                                                 max_batch=config.max_batch))
        record = engine_record(path, device, trt.__version__)
        check_owner(path, record.get("checkpoint_sha256"), loaded)
        built = str(record.get("precision", self.precision))
        if (config.precision == "int8") != (built == "int8") and config.precision != "auto":
            raise ValueError(f"{path} is a TensorRT {built} engine; precision {config.precision} needs "
                             + ("one built with `rgbt-seg export --format tensorrt --int8`" if config.precision ==
                                "int8" else "a float engine (or precision int8)"))
        self.precision = built
        self._min = tuple(record.get("min_hw", MIN_HW))
        self._max = tuple(record.get("max_hw", MAX_HW))
        self.max_batch = int(record.get("max_batch", 1))
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(device):
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self._engine is None:
                raise ValueError(f"{path}: TensorRT could not load this engine (its log above says why)")
            self._context = self._engine.create_execution_context()
        self.device = device
        self.path = path
        self._shape: tuple[int, ...] | None = None
        self._outs: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[2:]
        if not (self._min[0] <= h <= self._max[0] and self._min[1] <= w <= self._max[1]):
            raise ValueError(f"frame {h}x{w} lies outside this TensorRT engine's sizes {self._min[0]}x{self._min[1]} "
                             f".. {self._max[0]}x{self._max[1]}")
        rgb = rgb.float().contiguous()
        thermal = thermal.float().contiguous()
        if not 1 <= rgb.shape[0] <= self.max_batch:
            raise ValueError(f"a batch of {rgb.shape[0]} frames lies outside this TensorRT engine's batches 1 .. "
                             f"{self.max_batch} (build it with a larger max_batch)")
        shape = tuple(rgb.shape)
        if self._shape != shape:
            self._context.set_input_shape("rgb", shape)
            self._context.set_input_shape("thermal", tuple(thermal.shape))
            self._shape = shape
        out = self._outs.get(shape)
        if out is None:
            if len(self._outs) >= 16:  # shapes change rarely; do not grow without bound when they do
                self._outs.clear()
            out = self._outs[shape] = torch.empty(tuple(self._context.get_tensor_shape("logits")),
                                                  dtype=torch.float32, device=self.device)
        self._context.set_tensor_address("rgb", rgb.data_ptr())
        self._context.set_tensor_address("thermal", thermal.data_ptr())
        self._context.set_tensor_address("logits", out.data_ptr())
        if not self._context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise RuntimeError("TensorRT failed to run the engine (its log above says why)")
        return out
