"""CIPA: complementary information promotion and amplification (CIMNet §III-B, Fig. 6), after encoder stage 1.

* Mutual-information regularisation (MIR, Eq. 1-5): each modality goes through a 3x3 conv and two fully connected
  layers to low-dimensional vectors V_r, V_t. Every cell of a coarse grid over the frame gives one pair of vectors
  (samples of the two random variables); a softmax turns each vector into a distribution over ``vec_dim`` states.
  With marginals P_r, P_t (means over samples) and the joint P_rt (mean of the outer products),
  MI = H(P_r) + H(P_t) - H(P_rt) (Eq. 1; Eq. 4 is the same quantity rewritten with cross-entropies and KL terms).
  It is 0 when the joint factorises and grows as one modality's state predicts the other's; training minimises it.
* ECA channel attention on each modality (Eq. 6-9): GAP, a 1-D conv across channels, a sigmoid.
* Modality-shift modelling (MSM, Eq. 10): an MLP over both attended features gives the initial offset field
  (2 x K x K channels: a (dy, dx) per tap of SCSFR's K x K deformable kernel), the prior of the first SCSFR.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_seg_core.models.layers.eca import ECA

__all__ = ["CIPA", "CIPAOutput", "mutual_information"]


def mutual_information(v_r: torch.Tensor, v_t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 1 for N paired samples (N x D logits each): H(P_r) + H(P_t) - H(P_rt), in nats, >= 0."""
    p = v_r.float().softmax(dim=1)
    q = v_t.float().softmax(dim=1)
    joint = p.t() @ q / p.shape[0]  # D x D
    pr, pt = p.mean(0), q.mean(0)

    def entropy(x: torch.Tensor) -> torch.Tensor:
        return -(x * (x + eps).log()).sum()

    return entropy(pr) + entropy(pt) - entropy(joint)


class CIPAOutput(NamedTuple):
    rgb: torch.Tensor
    thermal: torch.Tensor
    offset: torch.Tensor | None  # B x 2K^2 x H x W (None without MSM)
    mi: torch.Tensor | None  # scalar (None without MIR, or in a deployed model)


class _Embed(nn.Module):
    """3x3 conv, then two fully connected layers applied to each grid cell, to ``vec_dim`` logits. The conv runs on
    the features pooled to twice the grid: the vectors describe cells, and full-resolution convs would cost
    6 GMAC at 512 x 640 for a branch that exists only in training."""

    def __init__(self, channels: int, hidden: int, vec_dim: int, grid: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden),
                                  nn.ReLU(inplace=True))
        self.grid = grid
        self.fc = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, vec_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 2 * self.grid)
        y = F.adaptive_avg_pool2d(self.conv(x), self.grid)  # B x hidden x g x g
        return self.fc(y.flatten(2).transpose(1, 2).reshape(-1, y.shape[1]))  # (B g g) x vec_dim


class CIPA(nn.Module):
    def __init__(self, channels: int, *, mir: bool = True, msm: bool = True, kernel: int = 3,
                 hidden: int = 64, vec_dim: int = 16, grid: int = 8) -> None:
        super().__init__()
        self.mir, self.msm = mir, msm
        self.embed_r = _Embed(channels, hidden, vec_dim, grid) if mir else None
        self.embed_t = _Embed(channels, hidden, vec_dim, grid) if mir else None
        self.eca_r, self.eca_t = ECA(channels), ECA(channels)
        self.offset: nn.Sequential | None = None
        if msm:
            first, last = nn.Conv2d(2 * channels, channels // 4, 1), nn.Conv2d(channels // 4, 2 * kernel * kernel, 1)
            for param in last.parameters():  # weight and bias: start from "no shift", the prior is learnt
                nn.init.zeros_(param)
            self.offset = nn.Sequential(first, nn.ReLU(inplace=True), last)

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> CIPAOutput:
        mi = None
        if self.embed_r is not None and self.embed_t is not None:
            mi = mutual_information(self.embed_r(rgb), self.embed_t(thermal))
        r, t = self.eca_r(rgb), self.eca_t(thermal)
        offset = self.offset(torch.cat([r, t], 1)) if self.offset is not None else None
        return CIPAOutput(r, t, offset, mi)

    def drop_training_parts(self) -> None:
        """The MI branch only shapes training; a deployed model has no use for it."""
        self.embed_r = self.embed_t = None
