"""One inference path for every consumer: the ROS node, ``bag-eval``, and tests that compare them.

The engine owns the deploy-form model on its device (fp16 on CUDA), turns raw camera arrays into input tensors
(thermal normalisation, resize to the RGB frame, registration offset, blanking of a failed camera) and returns
class ids plus, on request, confidences and the stride-4 spatial gate maps at input size. Because the node and
the offline tools call the same :meth:`InferenceEngine.predict`, their labels agree bit for bit on the same
device and dtype.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import CheckpointMeta, load_checkpoint
from .preprocess import ThermalNorm, normalize_thermal

__all__ = ["InferenceConfig", "InferenceEngine", "Prediction", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev


@dataclass(frozen=True)
class InferenceConfig:
    device: str = "auto"
    fp16: bool = True  # only on CUDA; CPU always runs float32
    thermal_norm: ThermalNorm = field(default_factory=ThermalNorm)
    thermal_offset: tuple[int, int] = (0, 0)  # (dx, dy) pixels that move thermal onto RGB
    warmup: int = 1


class Prediction(NamedTuple):
    labels: np.ndarray  # H x W uint8 class ids
    confidence: np.ndarray | None  # (2,) raw confidences (rgb, thermal)
    gates: np.ndarray | None  # 2 x H x W float32: stride-4 spatial gate maps x gate, resized to the input
    seconds: float  # model time (preprocessing to labels on the host)


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    if dx == 0 and dy == 0:
        return img
    out = np.zeros_like(img)
    h, w = img.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


class InferenceEngine:
    def __init__(self, checkpoint: str | Path, config: InferenceConfig = InferenceConfig()) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        loaded = load_checkpoint(checkpoint)  # raises CheckpointError with the reason
        self.meta: CheckpointMeta = loaded.meta
        model = loaded.model
        if not self.meta.deploy:
            model.reparameterize()  # type: ignore[operator]
        self.half = config.fp16 and self.device.type == "cuda"
        self.model = model.to(self.device, dtype=torch.float16 if self.half else torch.float32).eval()
        self.dtype = torch.float16 if self.half else torch.float32
        self.modalities = self.model.config.modalities  # type: ignore[union-attr]

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    @property
    def palette(self) -> list[list[int]]:
        return self.meta.palette

    def warmup(self, height: int = 480, width: int = 640) -> None:
        rgb = np.zeros((height, width, 3), np.uint8)
        thermal = np.zeros((height, width), np.uint8)
        for _ in range(max(0, self.config.warmup)):
            self.predict(rgb, thermal, want_gates=True)

    def tensors(self, rgb: np.ndarray | None, thermal: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Input tensors on the device; a missing modality is blanked (zeros) at the other's size."""
        if rgb is None and thermal is None:
            raise ValueError("at least one of rgb and thermal is required")
        if rgb is not None and (rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8):
            raise ValueError(f"rgb must be uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
        if thermal is not None and thermal.ndim != 2:
            raise ValueError(f"thermal must be H x W, got shape {thermal.shape}")
        h, w = rgb.shape[:2] if rgb is not None else thermal.shape  # type: ignore[union-attr]
        if rgb is not None:
            r = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1).unsqueeze(0)
            r = r.to(self.dtype).div_(255.0)
        else:
            r = torch.zeros(1, 3, h, w, device=self.device, dtype=self.dtype)
        if thermal is not None:
            t = normalize_thermal(thermal, self.config.thermal_norm)
            if t.shape != (h, w):
                t = cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR)
            t = _shift(t, *self.config.thermal_offset)
            tt = torch.from_numpy(np.ascontiguousarray(t)).to(self.device, self.dtype)[None, None]
        else:
            tt = torch.zeros(1, 1, h, w, device=self.device, dtype=self.dtype)
        return r, tt

    @torch.inference_mode()
    def predict(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, want_gates: bool = False) -> Prediction:
        t0 = time.perf_counter()
        r, t = self.tensors(rgb, thermal)
        h, w = r.shape[2:]
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
