"""FFM: two-stage feature fusion (CIMNet §III-D), in the manner of CMX's fusion module.

Stage 1 keeps the two branches and exchanges global information by cross-attention: each branch is projected to
``dim`` channels, queries of one attend to keys and values of the other in the efficient (channel-context) form,
``softmax(K^T V)`` per head, whose cost is linear in the number of pixels. Stage 2 concatenates the branches and
embeds them back to the stage's channel count (1x1 -> depthwise 3x3 -> 1x1 conv) on top of the branches' sum.
CMX adds a 1x1 conv residual instead of the sum; at ResNet-101's widths that conv alone would cost 2.7 GMAC per
stage, twice what CIMNet's Table II leaves for all of its modules.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FFM"]


class _CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.kv_r = nn.Linear(dim, 2 * dim, bias=False)
        self.kv_t = nn.Linear(dim, 2 * dim, bias=False)

    def _context(self, kv: torch.Tensor) -> torch.Tensor:
        b, n, _ = kv.shape
        k, v = kv.reshape(b, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)  # each B x h x N x d
        return (k.transpose(-2, -1) @ v * self.scale).softmax(dim=-2)  # B x h x d x d

    def forward(self, r: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, c = r.shape
        q_r = r.reshape(b, n, self.heads, -1).transpose(1, 2)
        q_t = t.reshape(b, n, self.heads, -1).transpose(1, 2)
        ctx_r, ctx_t = self._context(self.kv_r(r)), self._context(self.kv_t(t))
        out_r = (q_r @ ctx_t).transpose(1, 2).reshape(b, n, c)  # RGB queries read thermal's context
        out_t = (q_t @ ctx_r).transpose(1, 2).reshape(b, n, c)
        return out_r, out_t


class FFM(nn.Module):
    def __init__(self, channels: int, *, dim: int, heads: int = 8) -> None:
        super().__init__()
        self.proj_r = nn.Linear(channels, dim)
        self.proj_t = nn.Linear(channels, dim)
        self.attn = _CrossAttention(dim, heads)
        self.end_r = nn.Linear(2 * dim, channels)
        self.end_t = nn.Linear(2 * dim, channels)
        self.norm_r, self.norm_t = nn.LayerNorm(channels), nn.LayerNorm(channels)
        mid = dim
        self.embed = nn.Sequential(
            nn.Conv2d(2 * channels, mid, 1), nn.Conv2d(mid, mid, 3, padding=1, groups=mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1), nn.BatchNorm2d(channels),
        )
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        b, c, h, w = rgb.shape
        r = rgb.flatten(2).transpose(1, 2)
        t = thermal.flatten(2).transpose(1, 2)
        pr, pt = torch.relu(self.proj_r(r)), torch.relu(self.proj_t(t))
        ar, at = self.attn(pr, pt)
        r = self.norm_r(r + self.end_r(torch.cat([pr, ar], -1)))
        t = self.norm_t(t + self.end_t(torch.cat([pt, at], -1)))
        r = r.transpose(1, 2).reshape(b, c, h, w)
        t = t.transpose(1, 2).reshape(b, c, h, w)
        return self.norm(r + t + self.embed(torch.cat([r, t], 1)))
