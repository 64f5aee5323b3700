"""The one inference path: the ROS node, ``bag-eval``, ``eval`` and ``predict`` all segment through here.

:class:`InferenceEngine` is configured from a checkpoint (model, class names, palette; re-parameterised into
the deploy form) plus an :class:`InferenceConfig` (device, precision, thermal normalisation, registration
offset). It has a single-frame call (:meth:`~InferenceEngine.predict`, raw camera arrays in) and a batch call
(:meth:`~InferenceEngine.predict_batch`, tensors from :func:`~rgbt_seg_core.preprocess.prepare_inputs`, the same
preprocessing), and it owns the thermal NaN rule (:func:`~rgbt_seg_core.preprocess.thermal_problem`). Reduced
precision (:mod:`rgbt_seg_core.precision`: ``auto`` is fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)
runs under autocast, the one mechanism everywhere, with channels-last memory layout where precision is reduced
(oneDNN and tensor cores are fastest in it). So the same frame gives the same labels in every tool, bit for bit on
the same device and precision.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointMeta, LoadedCheckpoint, load_checkpoint
from .data.cache import default_cache_dir
from .precision import autocast, precision_name, resolve_precision
from .preprocess import ThermalNorm, prepare_inputs, thermal_problem

__all__ = ["InferenceConfig", "InferenceEngine", "Prediction", "resolve_device", "UnusableFrame", "BACKENDS"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev


class UnusableFrame(ValueError):
    """An input the engine refuses (the NaN rule); the message says why."""


@dataclass(frozen=True)
class InferenceConfig:
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see rgbt_seg_core.precision)
    backend: str = "torch"  # torch | onnxruntime
    onnx: str = ""  # backend onnxruntime: the ONNX file; empty: exported once to the cache, keyed by checksum
    channels_last: bool | None = None  # None: where precision is reduced
    thermal_norm: ThermalNorm = field(default_factory=ThermalNorm)
    thermal_offset: tuple[int, int] = (0, 0)  # (dx, dy) pixels that move thermal onto RGB
    warmup: int = 1


class Prediction(NamedTuple):
    labels: np.ndarray  # H x W uint8 class ids
    confidence: np.ndarray | None  # (2,) raw confidences (rgb, thermal)
    gates: np.ndarray | None  # 2 x H x W float32: stride-4 spatial gate maps x gate, resized to the input
    seconds: float  # model time (preprocessing to labels on the host)


BACKENDS = ("torch", "onnxruntime")


class InferenceEngine:
    def __init__(self, checkpoint: str | Path | LoadedCheckpoint, config: InferenceConfig = InferenceConfig()) -> None:
        if config.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
        loaded = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_checkpoint(checkpoint)
        model = loaded.model
        if not loaded.meta.deploy:
            model.reparameterize()  # type: ignore[operator]
        self._setup(model, loaded.meta, config)
        if config.backend == "onnxruntime":
            self._setup_onnxruntime(loaded)

    def _setup_onnxruntime(self, loaded: LoadedCheckpoint) -> None:
        """ONNX Runtime runs the ONNX form of this checkpoint (fp32); the torch model stays for nothing else."""
        from .export_onnx import OPSET, checkpoint_metadata, export_onnx, onnx_metadata, require

        ort = require("onnxruntime", "onnx")
        path = Path(self.config.onnx) if self.config.onnx else \
            default_cache_dir() / "onnx" / f"{loaded.sha256[:24]}_opset{OPSET}.onnx"
        if not path.is_file():
            if self.config.onnx:
                raise FileNotFoundError(f"ONNX file not found: {path}")
            log.info("exporting %s to %s for ONNX Runtime (once)", loaded.path, path)
            export_onnx(self.model.cpu(), path, metadata=checkpoint_metadata(loaded.meta, loaded.sha256))
        owner = onnx_metadata(path).get("rgbt_seg.checkpoint_sha256")
        if owner != loaded.sha256:
            raise ValueError(f"{path} was exported from another checkpoint than {loaded.path} (re-export it)")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device.type == "cuda" \
            else ["CPUExecutionProvider"]
        self._session = ort.InferenceSession(str(path), providers=providers)  # type: ignore[attr-defined]

    @classmethod
    def from_model(cls, model: nn.Module, meta: CheckpointMeta, config: InferenceConfig = InferenceConfig()
                   ) -> "InferenceEngine":
        """An engine around a model in memory, as it is (validation during training scores the training form)."""
        engine = cls.__new__(cls)
        engine._setup(model, meta, config)
        return engine

    def _setup(self, model: nn.Module, meta: CheckpointMeta, config: InferenceConfig) -> None:
        self._session: Any = None
        self.config = config
        self.device = resolve_device(config.device)
        if config.backend == "onnxruntime":  # the ONNX graph is float32, in the default layout
            if config.precision not in ("auto", "fp32"):
                raise ValueError(f"backend onnxruntime runs fp32; precision {config.precision} needs backend torch")
            self.dtype, self.channels_last = torch.float32, False
        else:
            self.dtype = resolve_precision(config.precision, self.device)
            self.channels_last = config.channels_last if config.channels_last is not None else \
                self.dtype != torch.float32
        self.meta = meta
        self.model = model.to(self.device).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @property
    def precision(self) -> str:
        """The precision actually used (``auto`` resolved)."""
        return precision_name(self.dtype)

    @property
    def half(self) -> bool:
        return self.dtype == torch.float16

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    @property
    def palette(self) -> list[list[int]]:
        return self.meta.palette

    def _precision(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.dtype)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def warmup(self, height: int = 480, width: int = 640) -> None:
        rgb = np.zeros((height, width, 3), np.uint8)
        thermal = np.zeros((height, width), np.uint8)
        for _ in range(max(0, self.config.warmup)):
            self.predict(rgb, thermal, want_gates=True)

    def tensors(self, rgb: np.ndarray | None, thermal: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """1 x 3 x H x W and 1 x 1 x H x W float32 input tensors on the device (after the NaN rule)."""
        if thermal is not None:
            problem, _ = thermal_problem(thermal)
            if problem is not None:
                raise UnusableFrame(f"thermal: {problem}")
        r, t = prepare_inputs(rgb, thermal, self.config.thermal_norm, self.config.thermal_offset)
        return self._layout(r.unsqueeze(0).to(self.device)), self._layout(t.unsqueeze(0).to(self.device))

    @torch.inference_mode()
    def predict(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, want_gates: bool = False) -> Prediction:
        """One frame from raw camera arrays (uint8 H x W x 3 RGB; uint8, uint16 or float H x W thermal; either
        may be None, and is then blanked). Raises :class:`UnusableFrame` for thermal the NaN rule refuses."""
        t0 = time.perf_counter()
        r, t = self.tensors(rgb, thermal)
        h, w = r.shape[2:]
        if self._session is not None:  # ONNX Runtime: labels only (the graph's one output is the logits)
            labels = self._run_onnx(r, t)[0].cpu().numpy()
            return Prediction(labels, None, None, time.perf_counter() - t0)
        with self._precision():
            if want_gates:
                out = self.model.forward_with_gates(r, t)  # type: ignore[operator]
                logits, conf = out.logits, out.confidence
                gates = None
                if out.gates:
                    g = F.interpolate(out.gates[0].float(), size=(h, w), mode="bilinear", align_corners=False)
                    gates = g[0].cpu().numpy()
            else:
                logits, conf, gates = self.model(r, t), None, None
        labels = logits.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
        confidence = conf[0].float().cpu().numpy() if conf is not None else None
        return Prediction(labels, confidence, gates, time.perf_counter() - t0)

    @torch.inference_mode()
    def predict_batch(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        """Class ids B x H x W (uint8, on the device) for B x 3 x H x W and B x 1 x H x W tensors made by
        :func:`~rgbt_seg_core.preprocess.prepare_inputs` (the single-frame path's preprocessing)."""
        if self._session is not None:
            return torch.cat([self._run_onnx(rgb[i:i + 1], thermal[i:i + 1]) for i in range(rgb.shape[0])])
        with self._precision():
            logits = self.model(self._layout(rgb.to(self.device)), self._layout(thermal.to(self.device)))
        return logits.argmax(dim=1).to(torch.uint8)

    def _run_onnx(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        logits = self._session.run(["logits"], {"rgb": np.ascontiguousarray(rgb.float().cpu().numpy()),
                                                "thermal": np.ascontiguousarray(thermal.float().cpu().numpy())})[0]
        return torch.from_numpy(logits).argmax(dim=1).to(torch.uint8)
