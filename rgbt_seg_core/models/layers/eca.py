"""Efficient channel attention (ECA-Net): a 1-D convolution across the globally pooled channels, whose kernel
grows with the channel count. RSFNet's recalibration (RSFNet §III-C) and CIMNet's CIPA (CIMNet §III-B, Eq. 6-9)
both size their kernel by this one rule."""

from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import nn

__all__ = ["eca_kernel_size", "ECA"]


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's adaptive 1-D kernel size: ``t = int(|(log2 C + b) / gamma|)``, bumped to the next odd number."""
    if isinstance(channels, bool) or not isinstance(channels, Integral) or channels < 1:
        raise ValueError(f"ECA needs a positive integer channel count, got {channels!r}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """``x * sigmoid(Conv1d_k(GAP(x)))`` with ``k = eca_kernel_size(C)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv(x.mean((2, 3)).unsqueeze(1)).squeeze(1)
        return x * torch.sigmoid(w)[:, :, None, None]
