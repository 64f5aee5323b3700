"""Training losses, one per model family: RSFNet's (§III-F) and CIMNet's (§III-F, Eq. 24).

RSFNet:

    L = CE_w(main) + CE_w(aux8) + CE_w(aux16) + lambda * R

with class weights w_c = 1 / ln(1.05 + p_c) from the training split's pixel frequencies and lambda = 0.3. The
confidence regression R is the paper's SmoothL1(p^_rgb, p_rgb) + SmoothL1(p^_thm, p_thm) by default
(``confidence_target="confidence"``); the authors' published code instead regresses the normalised gates,
SmoothL1(g_rgb, p_rgb) + SmoothL1(1 - g_rgb, p_thm) with g_rgb = p^_rgb / (p^_rgb + p^_thm + eps)
(``confidence_target="gate"``).

The losses read only the fields of a family's training output (duck-typed below), never the model's modules, so
training depends on the model contract (``SegmentationModel.family`` and its ``forward`` in train mode) alone;
:func:`build_loss` picks the loss from the family.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rgbt_seg_core.models.layers.gates import gate_weights
from rgbt_seg_core.training.config import TrainConfig

__all__ = ["class_frequencies", "class_weights", "RSFLoss", "CIMLoss", "LOSS_BUILDERS", "build_loss"]

class DeepSupervisedOutput(Protocol):
    """RSFNet's training output (RSFNet §III-E, §III-F): main and auxiliary logits, raw confidences."""

    logits: torch.Tensor  # B x C x H x W
    aux8: torch.Tensor  # B x C x H x W
    aux16: torch.Tensor  # B x C x H x W
    confidence: torch.Tensor | None  # B x 2 (rgb, thermal); NaN column for an absent modality


class MutualInformationOutput(Protocol):
    """CIMNet's training output (CIMNet §III-F): logits, the MI term and its learnable weight beta."""

    logits: torch.Tensor  # B x C x H x W
    mi: torch.Tensor | None
    mi_weight: torch.Tensor


def class_frequencies(labels: Iterable[np.ndarray], num_classes: int) -> np.ndarray:
    """Pixel frequency of each class over ``labels`` (sums to 1). Values >= num_classes are an error."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for lab in labels:
        lab = np.asarray(lab)
        if lab.size and int(lab.max()) >= num_classes:
            raise ValueError(f"label value {int(lab.max())} out of range for {num_classes} classes")
        counts += np.bincount(lab.reshape(-1).astype(np.int64), minlength=num_classes)[:num_classes]
    total = counts.sum()
    if total == 0:
        raise ValueError("class_frequencies: no labelled pixels")
    return counts / total


def class_weights(frequencies: np.ndarray | torch.Tensor, c: float = 1.05) -> torch.Tensor:
    """ENet-style weights 1 / ln(c + p_c): rare classes weigh up to 1/ln(1.05) ~ 20.5, frequent ones ~ 1.4."""
    p = torch.as_tensor(np.asarray(frequencies), dtype=torch.float32)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("class_weights: frequencies must lie in [0, 1]")
    return 1.0 / torch.log(c + p)


class RSFLoss(nn.Module):
    """Weighted CE on main and auxiliary logits plus the confidence regression to the pseudo-labels."""

    weights: torch.Tensor | None  # a buffer: moves with .to(device) and is saved with the module

    def __init__(
        self,
        weights: torch.Tensor | None = None,
        *,
        reg_weight: float = 0.3,
        aux_weight: float = 1.0,
        ignore_index: int = -100,
        confidence_target: str = "confidence",
    ) -> None:
        super().__init__()
        if confidence_target not in ("confidence", "gate"):
            raise ValueError(f"confidence_target must be 'confidence' or 'gate', got {confidence_target!r}")
        self.confidence_target = confidence_target
        self.register_buffer("weights", weights.float() if weights is not None else None)
        self.reg_weight = reg_weight
        self.aux_weight = aux_weight
        self.ignore_index = ignore_index

    def forward(
        self, output: DeepSupervisedOutput, target: torch.Tensor, pseudo: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Args:
            output: the model's train-mode output.
            target: B x H x W class ids (int64).
            pseudo: B x 2 pseudo-labels (rgb, thermal) or None when the model has no confidence heads.

        Returns:
            The total loss and its parts (floats, for logging).
        """
        def ce(logits: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(logits, target, weight=self.weights, ignore_index=self.ignore_index)

        main = ce(output.logits)
        aux = ce(output.aux8) + ce(output.aux16)
        total = main + self.aux_weight * aux
        parts = {"main": float(main.detach()), "aux": float(aux.detach())}
        if output.confidence is not None:
            if pseudo is None:
                raise ValueError("RSFLoss: the model predicts confidences, so pseudo-labels are required")
            conf = output.confidence
            if self.confidence_target == "gate":
                if not torch.isfinite(conf).all():
                    raise ValueError("confidence_target=gate needs both modalities' confidences")
                conf = torch.stack(gate_weights(conf[:, 0], conf[:, 1], "normalized"), dim=1)  # the fusion's gate
            present = torch.isfinite(conf)  # an absent modality (single-encoder variants) has NaN
            reg = F.smooth_l1_loss(
                torch.where(present, conf, torch.zeros_like(conf)),
                torch.where(present, pseudo.to(conf.dtype), torch.zeros_like(conf)),
                reduction="sum",
            ) / conf.shape[0]
            total = total + self.reg_weight * reg
            parts["reg"] = float(reg.detach())
        parts["total"] = float(total.detach())
        return total, parts


class CIMLoss(nn.Module):
    """CIMNet's loss (CIMNet §III-F, Eq. 24): L = L_ce + beta * L_mi, beta the model's learnable weight (>= 0).

    The class weights are the training split's, as for RSFLoss; CIMNet has no pseudo-label regression.
    """

    weights: torch.Tensor | None  # a buffer, as in RSFLoss

    def __init__(self, weights: torch.Tensor | None = None, *, ignore_index: int = -100) -> None:
        super().__init__()
        self.register_buffer("weights", weights.float() if weights is not None else None)
        self.ignore_index = ignore_index

    def forward(self, output: MutualInformationOutput, target: torch.Tensor, pseudo: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, float]]:
        ce = F.cross_entropy(output.logits, target, weight=self.weights, ignore_index=self.ignore_index)
        total = ce
        parts = {"main": float(ce.detach())}
        if output.mi is not None:
            total = total + output.mi_weight * output.mi
            parts["mi"] = float(output.mi.detach())
            parts["beta"] = float(output.mi_weight.detach())
        parts["total"] = float(total.detach())
        return total, parts


LossBuilder = Callable[[torch.Tensor | None, TrainConfig, int], nn.Module]


def _rsfnet_loss(weights: torch.Tensor | None, cfg: TrainConfig, ignore_index: int) -> nn.Module:
    return RSFLoss(weights, reg_weight=cfg.reg_weight, aux_weight=cfg.aux_weight, ignore_index=ignore_index,
                   confidence_target=cfg.confidence_target)


def _cimnet_loss(weights: torch.Tensor | None, cfg: TrainConfig, ignore_index: int) -> nn.Module:
    return CIMLoss(weights, ignore_index=ignore_index)  # CE + beta * L_mi (CIMNet §III-F)


# model family (SegmentationModel.family, models.registry.FAMILIES) -> its loss
LOSS_BUILDERS: dict[str, LossBuilder] = {"rsfnet": _rsfnet_loss, "cimnet": _cimnet_loss}


def build_loss(family: str, weights: torch.Tensor | None, cfg: TrainConfig, *, ignore_index: int = -100) -> nn.Module:
    """The loss of ``family``, with the training split's class ``weights`` and ``cfg``'s loss options."""
    try:
        builder = LOSS_BUILDERS[family]
    except KeyError:
        raise ValueError(f"no loss for model family {family!r}; families with a loss: "
                         f"{', '.join(sorted(LOSS_BUILDERS))}") from None
    return builder(weights, cfg, ignore_index)
