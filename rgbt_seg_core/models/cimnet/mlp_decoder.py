"""The all-MLP decoder of SegFormer (CIMNet §III-E, embedding 512): each stage linearly embedded, upsampled to
stride 4, concatenated, fused by a 1x1 conv, classified."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLPDecoder"]


class MLPDecoder(nn.Module):
    def __init__(self, in_channels: tuple[int, ...], num_classes: int, embed: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Linear(c, embed) for c in in_channels)
        self.fuse = nn.Sequential(nn.Conv2d(embed * len(in_channels), embed, 1, bias=False), nn.BatchNorm2d(embed),
                                  nn.ReLU(inplace=True))
        self.dropout = nn.Dropout2d(dropout)
        self.classify = nn.Conv2d(embed, num_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        ups = []
        for f, lin in zip(feats, self.embeds):
            b, _, h, w = f.shape
            e = lin(f.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
            ups.append(e if (h, w) == size else F.interpolate(e, size=size, mode="bilinear", align_corners=False))
        return self.classify(self.dropout(self.fuse(torch.cat(ups[::-1], 1))))
