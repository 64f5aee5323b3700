"""Parameter and multiply-accumulate counts, the units of the paper's Tables III and XII.

MACs are counted with forward hooks on Conv1d/Conv2d/Linear and torchvision's DeformConv2d (one MAC per weight
tap per output element), the convention of thop/ptflops that the paper's "FLOPs" column follows, and of fvcore,
which CMX (the code CIMNet's Table II compares with) uses: its "FLOPs" are multiply-accumulates too. Element-wise
ops, BN, interpolation and pooling are not counted, which is why a BN-folded deploy model and its training form
agree except for the extra re-parameterisation branches. The two matrix products inside attention (MiT encoders,
CIMNet's FFM) are not modules and are not counted either; fvcore counts them, so for those models this is a
lower bound.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["count_macs", "model_summary"]


def count_macs(model: nn.Module, inputs: tuple[Any, ...]) -> int:
    """MACs of one forward pass with ``inputs`` (batch size taken into account: pass batch 1 for per-image)."""
    total = 0

    from torchvision.ops import DeformConv2d

    def conv_hook(m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, (nn.Conv1d, nn.Conv2d, DeformConv2d))
        k = 1
        for s in m.kernel_size:
            k *= s
        total += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Linear)
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, DeformConv2d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def model_summary(model: nn.Module, height: int = 480, width: int = 640) -> dict[str, Any]:
    """Parameters by group and MACs at ``height`` x ``width`` for the model as it is (caller picks the form)."""
    was_training = model.training
    model.eval()
    rgb = torch.zeros(1, 3, height, width)
    thermal = torch.zeros(1, 1, height, width)
    try:
        macs = count_macs(model, (rgb, thermal))
    finally:
        if was_training:
            model.train()
    parameter_groups = getattr(model, "parameter_groups", None)  # the segmentation models' own breakdown
    groups = parameter_groups() if callable(parameter_groups) else {
        "total": sum(p.numel() for p in model.parameters())
    }
    return {"params": groups, "macs": macs, "input": [height, width]}
