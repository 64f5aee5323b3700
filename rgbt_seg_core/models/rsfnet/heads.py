"""Segmentation heads (RSFNet §III-E): 3x3 conv (128) + BN + ReLU + Dropout(0.1) + 1x1 conv to classes.

The same form serves the main head (stride 4) and the two deep-supervision heads (strides 8 and 16) that exist
only while training; the caller resizes the logits to the input size.
"""

from __future__ import annotations

from torch import nn

__all__ = ["SegHead"]


class SegHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(hidden, num_classes, 1),
        )

    def strip_dropout(self) -> None:
        """Dropout is the identity at inference; a deployed model should not carry it."""
        for i, m in enumerate(self):
            if isinstance(m, (nn.Dropout, nn.Dropout2d)):
                self[i] = nn.Identity()
