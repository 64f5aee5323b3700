"""A small model whose labels vary across the frame, for tests that compare labels between tools: a random
RSFNet predicts one class everywhere, so such a comparison could never fail. Zeroing the classifier's biases
lets the (random) features decide, pixel by pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rgbt_seg_core import build_model
from rgbt_seg_core.models.checkpoint_file import save_checkpoint

SMALL_OPTIONS = {"rsfnet50_18": {"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16},
                 "cimnet_r18": {"embed_dim": 32}}


def save_varied_checkpoint(path: Path, seed: int = 0, model_name: str = "rsfnet50_18", logit_scale: float = 1.0
                           ) -> Path:
    """``logit_scale`` multiplies the classifier's weights: the same labels, but a random model's logits differ by
    a few thousandths, so every pixel's confidence is about 1 / classes; scaled by some hundreds, it spans most of
    (1 / classes, 1] across a frame, as a trained model's does."""
    torch.manual_seed(seed)
    model = build_model(model_name, **SMALL_OPTIONS[model_name]).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d) and module.out_channels == model.config.num_classes:
                module.bias.zero_()
                module.weight.mul_(logit_scale)
    save_checkpoint(path, model)  # training form: every tool must re-parameterise alike
    return path


def assert_varied(labels: np.ndarray) -> None:
    counts = np.bincount(labels.reshape(-1), minlength=2)
    assert (counts > 0).sum() >= 3 and counts.max() < 0.8 * labels.size, f"labels do not vary: {counts}"


def awkward_thermal(thermal8: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    """The frames the tools once disagreed on: half-size 16-bit thermal, and float thermal with NaN pixels."""
    half16 = (thermal8.astype(np.uint16) * 257 + 40)[::2, ::2].copy()
    nan32 = thermal8.astype(np.float32) * 0.4 + 270.0  # kelvin-like
    nan32[:6] = np.nan
    nan32[10:14, 20:30] = np.inf
    return {"half16": (half16, "mono16"), "nan32": (nan32, "32FC1")}
