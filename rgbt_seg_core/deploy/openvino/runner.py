"""OpenVINO: the IR (or ONNX file) compiled for an Intel CPU or iGPU.

Threads: the number torch uses in this process. Precision: ``auto`` leaves the choice to OpenVINO, which
computes in bf16 on CPUs with AMX or AVX512_BF16 and in fp32 on other CPUs (the same rule as the torch backend's
``auto``); ``fp32``, ``bf16`` and ``fp16`` are passed as the inference-precision hint, and the precision the
compiled model reports is the one the engine states. An INT8 file (``rgbt-seg export --int8``: the QDQ ONNX graph
or its IR) runs its quantised ops in INT8 and leaves the rest to OpenVINO's choice; the engine states ``int8``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rgbt_seg_core.deploy.base import RunnerOptions, host_feeds
from rgbt_seg_core.deploy.model_files import check_owner, is_int8_file, model_file, onnx_for
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint

_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class OpenVinoRunner:
    def __init__(self, loaded: LoadedCheckpoint, model: nn.Module, config: RunnerOptions,
                 device: torch.device) -> None:
        from rgbt_seg_core.deploy.onnx.export import max_batch
        from rgbt_seg_core.deploy.openvino.export import convert_onnx_to_openvino, openvino_metadata
        from rgbt_seg_core.utils.optional import require

        ov = require("openvino", "openvino")
        import openvino.properties.hint as hints

        path = model_file(config.model_file, loaded, "openvino", f"{loaded.sha256[:24]}.xml",
                          lambda p: convert_onnx_to_openvino(onnx_for(loaded, model), p))
        metadata = openvino_metadata(path)
        check_owner(path, metadata.get("rgbt_seg.checkpoint_sha256"), loaded)
        int8 = is_int8_file(path, metadata, config.precision)
        core = ov.Core()
        target = config.openvino_device
        if target != "AUTO" and target.split(".")[0] not in {d.split(".")[0] for d in core.available_devices}:
            raise ValueError(f"openvino_device {target!r} is not on this machine (it has: "
                             f"{', '.join(core.available_devices)})")
        # the thread budget torch has in this process (set by the CPU's cores or torch.set_num_threads), not more
        props: dict = {"INFERENCE_NUM_THREADS": torch.get_num_threads()} if target == "CPU" else {}
        if config.precision not in ("auto", "int8"):
            props[hints.inference_precision] = getattr(ov.Type, _HINTS[config.precision])
        self._compiled = core.compile_model(core.read_model(str(path)), target, props)
        self._request = self._compiled.create_infer_request()
        try:
            reported = str(self._compiled.get_property(hints.inference_precision).to_string())
        except (RuntimeError, AttributeError):  # devices that do not report it run what they were asked for
            reported = _HINTS.get(config.precision, "f32")
        self.precision = "int8" if int8 else _NAMES.get(reported, reported)
        self.device = torch.device("cpu")
        self.path = path
        self.max_batch = max_batch(metadata, path)  # the IR keeps the ONNX graph's dynamic batch and its bound

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        out = self._request.infer(host_feeds(rgb, thermal))
        return torch.from_numpy(np.array(out[self._compiled.output("logits")]))
