"""Two-stream decoder (RSFNet §III-E; the multi-scale fusion block follows DPANet).

Each stream runs three :class:`FusionUpBlock` s from stride 32 to stride 4. A block takes the stage feature
("left", higher resolution) and the previous block's output ("down"), predicts a mask from each with a 3x3 conv,
multiplies each mask with the *other* input, concatenates the two products and projects them with a
3x3 conv + BN + ReLU. Three 3x3 convs and two bilinear interpolations per block, as the paper counts them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FusionUpBlock", "DecoderStream"]


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class FusionUpBlock(nn.Module):
    """One decoder step; masks have the partner's channel count so the products are element-wise."""

    def __init__(self, left_channels: int, down_channels: int, out_channels: int) -> None:
        super().__init__()
        self.left_mask = nn.Conv2d(left_channels, down_channels, 3, padding=1)
        self.down_mask = nn.Conv2d(down_channels, left_channels, 3, padding=1)
        self.project = nn.Sequential(
            nn.Conv2d(left_channels + down_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, left: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
        size = left.shape[-2:]
        # The "down" mask is computed at the coarse resolution and then up-sampled: 4x cheaper than the reverse.
        z1 = torch.relu(self.left_mask(left) * _resize(down, size))
        z2 = torch.relu(_resize(self.down_mask(down), size) * left)
        return self.project(torch.cat([z1, z2], dim=1))


class DecoderStream(nn.Module):
    """Stride 32 -> 4 for one modality; returns the stride-16, 8 and 4 outputs (for the deep-supervision heads)."""

    def __init__(self, stage_channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        c1, c2, c3, c4 = stage_channels
        self.up16 = FusionUpBlock(c3, c4, c3)
        self.up8 = FusionUpBlock(c2, c3, c2)
        self.up4 = FusionUpBlock(c1, c2, c1)
        self.out_channels = (c3, c2, c1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f1, f2, f3, f4 = feats
        d16 = self.up16(f3, f4)
        d8 = self.up8(f2, d16)
        d4 = self.up4(f1, d8)
        return d16, d8, d4
