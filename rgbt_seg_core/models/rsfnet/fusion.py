"""Cross-modal fusion: recalibration, confidence heads, and the RSF module (RSFNet §III-C/D).

Per stage s and modality m the network computes

    F~_s^m = Conv1x1(F_s^m * w + F_s^m),  w = sigmoid(Conv1d_k(GAP(F_s^m)))        (recalibration, ECA-style)
    Z^m    = ConvBNReLU_1x1(F~^m)  -> C~ channels
    Y^m    = RepConvKxK(Z^m)
    Z~^m   = Y^m * sigmoid(Y^{m'})                                               (partner's spatial weights)
    Z^^m   = ConvBNReLU_1x1([Z~^m ; Z^m])  -> C~_s channels
    F^^m   = F~^m + g_m * Z^^m                                                    (residual, confidence-gated)

The ablation variants of Table VII ("sum", "concat") replace the RSF step and feed the same fused feature to
both decoder streams; their parameter counts match the paper's (43.11 M / 43.42 M for 50-18), which is how we
know the authors' decoder stayed two-stream for them.
"""

from __future__ import annotations

import torch
from torch import nn

from rgbt_seg_core.models.layers.eca import eca_kernel_size
from rgbt_seg_core.models.layers.reparam import ConvBNReLU, RepConvKxK

__all__ = ["Recalibration", "ConfidenceHead", "RSFBlock", "SumFusion", "ConcatFusion"]


class Recalibration(nn.Module):
    """Channel re-weighting with a residual, then a 1x1 reduction to the stage's fusion width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        k = eca_kernel_size(in_channels)
        self.channel_conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.reduce = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3)).unsqueeze(1)  # B x 1 x C: the 1-D conv runs across channels
        w = torch.sigmoid(self.channel_conv(w)).transpose(1, 2).unsqueeze(-1)  # B x C x 1 x 1
        return self.reduce(x * w + x)


class ConfidenceHead(nn.Module):
    """p^ = sigmoid(FC(128 -> 1)(ReLU(FC(C4 -> 128)(GAP(F4))))): the regression target of the PLG loss."""

    def __init__(self, in_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, f4: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(f4.mean(dim=(2, 3)))))).squeeze(1)


class RSFBlock(nn.Module):
    """Residual spatial fusion for one stage, both modalities (weights are per modality)."""

    def __init__(self, channels: int, reduced_dim: int = 64, kernel_size: int = 5, *,
                 multi_branch: bool = True) -> None:
        super().__init__()
        self.squeeze = nn.ModuleList([ConvBNReLU(channels, reduced_dim, 1) for _ in range(2)])
        self.spatial = nn.ModuleList(
            [RepConvKxK(reduced_dim, kernel_size, multi_branch=multi_branch) for _ in range(2)]
        )
        self.expand = nn.ModuleList([ConvBNReLU(2 * reduced_dim, channels, 1) for _ in range(2)])

    def forward(
        self, f_rgb: torch.Tensor, f_thm: torch.Tensor, g_rgb: torch.Tensor, g_thm: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns fused RGB and thermal features and the spatial maps B x 2 x H x W (channel means of
        sigmoid(Y^rgb), sigmoid(Y^thm)): where each modality lends weight to its partner, for visualisation."""
        z = [self.squeeze[0](f_rgb), self.squeeze[1](f_thm)]
        y = [self.spatial[0](z[0]), self.spatial[1](z[1])]
        s = [torch.sigmoid(y[0]), torch.sigmoid(y[1])]
        cross_rgb = y[0] * s[1]
        cross_thm = y[1] * s[0]
        z_rgb = self.expand[0](torch.cat([cross_rgb, z[0]], dim=1))
        z_thm = self.expand[1](torch.cat([cross_thm, z[1]], dim=1))
        out_rgb = f_rgb + g_rgb.view(-1, 1, 1, 1) * z_rgb
        out_thm = f_thm + g_thm.view(-1, 1, 1, 1) * z_thm
        maps = torch.stack([s[0].mean(dim=1), s[1].mean(dim=1)], dim=1)
        return out_rgb, out_thm, maps


class SumFusion(nn.Module):
    """Element-wise sum; both streams receive the same feature (Table VII "Sum.")."""

    def forward(self, f_rgb: torch.Tensor, f_thm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = f_rgb + f_thm
        return fused, fused


class ConcatFusion(nn.Module):
    """Concatenation followed by a 1x1 conv back to the stage width (Table VII "Conc.")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, f_rgb: torch.Tensor, f_thm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.proj(torch.cat([f_rgb, f_thm], dim=1))
        return fused, fused
