"""SCSFR: spatial- and channel-wise sequential feature rectification (CIMNet §III-C, Fig. 7, Eq. 11-23).

1. F = 1x1 conv of both streams (Eq. 11), to ``mid`` channels.
2. Offsets: a K x K conv of F sampled at the previous layer's offsets (Eq. 13: the first SCSFR takes CIPA's
   prior, later ones the previous stage's, resized to this stage and scaled by the stride ratio), so each stage
   refines the shift it inherits; then F is aligned by a deformable conv with those offsets (Eq. 12, DCN v2 with
   a modulation mask).
3. SWR (Eq. 14-18): two 1x1 convs with a ReLU and a sigmoid give one weight map per modality; each stream gains
   lambda_s times the other stream weighted by it.
4. CWR (Eq. 19-23): GAP and GMP of both rectified streams (4C) -> MLP -> sigmoid -> a channel weight per modality;
   each stream gains lambda_c times the other weighted by it.

lambda_s and lambda_c are learnable, initialised at 0.5. Switching SWR or CWR off removes exactly its layers.
The deformable convolutions are depthwise (one K x K filter per channel of F; offsets shared by all channels):
with ResNet-101's 2048-channel stage a dense 3x3 deformable conv alone would hold 38 M parameters. They run
torchvision's kernel; the ONNX export swaps them for the same function built from GridSample and Conv
(:mod:`rgbt_seg_core.models.layers.deform`), as runtimes without DeformConv need.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import DeformConv2d

__all__ = ["SCSFR", "SCSFROutput", "CPUSafeDeformConv2d", "resize_offsets"]


def resize_offsets(offset: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Offsets (in pixels of their own grid) carried to a grid of ``size``: resampled and rescaled.

    No shortcut for an equal size (bilinear resampling to the same grid is an exact copy): comparing the sizes
    of two stages puts guards into a dynamic-shape export that its solver cannot prove and then gives up on."""
    scale_y, scale_x = size[0] / offset.shape[-2], size[1] / offset.shape[-1]
    out = F.interpolate(offset, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([scale_y, scale_x], dtype=out.dtype, device=out.device).repeat(offset.shape[1] // 2)
    return out * scale[None, :, None, None]


class CPUSafeDeformConv2d(DeformConv2d):
    """torchvision's deformable conv has no bfloat16/float16 CPU kernel: on the CPU it runs in float32 and hands
    back the input's dtype, so CPU autocast (bf16 training and inference) works through it."""

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.device.type == "cpu" and (x.dtype != torch.float32 or torch.is_autocast_enabled("cpu")):
            with torch.autocast("cpu", enabled=False):
                out = super().forward(x.float(), offset.float(), None if mask is None else mask.float())
            return out.to(x.dtype)
        return super().forward(x, offset, mask)


class SCSFROutput(NamedTuple):
    rgb: torch.Tensor
    thermal: torch.Tensor
    offset: torch.Tensor


class SCSFR(nn.Module):
    def __init__(self, channels: int, *, mid: int, kernel: int = 3, swr: bool = True, cwr: bool = True,
                 channel_reduction: int = 16) -> None:
        super().__init__()
        self.kernel = kernel
        self.reduce = nn.Sequential(nn.Conv2d(2 * channels, mid, 1, bias=False), nn.BatchNorm2d(mid),
                                    nn.ReLU(inplace=True))
        k2 = kernel * kernel
        self.offset_conv = CPUSafeDeformConv2d(mid, 3 * k2, kernel, padding=kernel // 2)  # (dy, dx) x K^2 + mask K^2
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)
        self.align = CPUSafeDeformConv2d(mid, mid, kernel, padding=kernel // 2, groups=mid)
        self.swr, self.cwr = swr, cwr
        self.spatial = nn.Sequential(nn.Conv2d(mid, mid // 2, 1), nn.ReLU(inplace=True), nn.Conv2d(mid // 2, 2, 1),
                                     nn.Sigmoid()) if swr else None
        self.lambda_s = nn.Parameter(torch.tensor(0.5)) if swr else None
        hidden = max(8, 4 * channels // channel_reduction)
        self.channel = nn.Sequential(nn.Linear(4 * channels, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, 2 * channels), nn.Sigmoid()) if cwr else None
        self.lambda_c = nn.Parameter(torch.tensor(0.5)) if cwr else None

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor, prior: torch.Tensor | None) -> SCSFROutput:
        f = self.reduce(torch.cat([rgb, thermal], 1))
        k2 = self.kernel * self.kernel
        if prior is None:
            prior = f.new_zeros(f.shape[0], 2 * k2, *f.shape[-2:])
        else:
            prior = resize_offsets(prior, tuple(f.shape[-2:])).to(f.dtype)
        out = self.offset_conv(f, prior)
        offset = prior + out[:, :2 * k2]
        mask = torch.sigmoid(out[:, 2 * k2:])  # starts at 0.5 everywhere (zero-initialised conv)
        aligned = self.align(f, offset, mask)
        if self.spatial is not None and self.lambda_s is not None:
            w = self.spatial(aligned)
            rgb, thermal = rgb + self.lambda_s * w[:, 1:2] * thermal, thermal + self.lambda_s * w[:, 0:1] * rgb
        if self.channel is not None and self.lambda_c is not None:
            c = rgb.shape[1]
            pooled = torch.cat([rgb.mean((2, 3)), rgb.amax((2, 3)), thermal.mean((2, 3)), thermal.amax((2, 3))], 1)
            w = self.channel(pooled)
            w_r, w_t = w[:, :c, None, None], w[:, c:, None, None]
            rgb, thermal = rgb + self.lambda_c * w_t * thermal, thermal + self.lambda_c * w_r * rgb
        return SCSFROutput(rgb, thermal, offset)
