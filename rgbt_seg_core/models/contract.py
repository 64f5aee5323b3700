"""What every segmentation model in the registry promises, so inference, export, training and the node can take any
of them without knowing its family.

``forward(rgb, thermal)`` gives logits in eval mode and the family's training output in train mode (deep
supervision differs: RSFNet §III-E, CIMNet §III-E). ``forward_with_gates`` adds what a family can show of its
fusion (RSFNet's confidence gates; CIMNet has none and returns empty gates). ``reparameterize`` turns the
training form into the deploy form in place (RSFNet §III-D; a no-op where a family has nothing to fold).
``family`` picks the loss and the CLI options; ``model_name`` is set by the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

__all__ = ["GatedOutput", "SegmentationModel"]


class GatedOutput(NamedTuple):
    logits: torch.Tensor  # B x C x H x W
    confidence: torch.Tensor | None  # B x 2 (rgb, thermal) raw p^ values; None without confidence heads
    gates: tuple[torch.Tensor, ...]  # per stage 1..4: B x 2 x H_s x W_s (rgb, thermal) spatial maps x gate g_m


class SegmentationModel(nn.Module):
    """Base class of the registered models. Inputs are B x 3 x H x W RGB and B x 1 x H x W thermal (either may be
    ``None`` for a single-modality model); H and W must be multiples of :attr:`pad_multiple`."""

    family: ClassVar[str] = ""
    pad_multiple: ClassVar[int] = 32
    model_name: str = ""
    config: Any
    deployed: bool = False

    def forward(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> Any:
        raise NotImplementedError

    def forward_with_gates(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> GatedOutput:
        return GatedOutput(self.forward(rgb, thermal), None, ())

    def reparameterize(self) -> SegmentationModel:
        self.deployed = True
        return self

    def parameter_groups(self) -> dict[str, int]:
        """Parameter counts per part, for ``model-info`` and the papers' tables."""
        return {"total": sum(p.numel() for p in self.parameters())}

    def encoders(self) -> list[nn.Module]:
        """The backbones, for the papers' encoder-only figures and for folding their batch norms."""
        return []
