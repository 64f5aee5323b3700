"""Every encoder both families can use, in one table: name -> family, and one builder that dispatches on it.

RSFNet takes the torchvision CNNs (RSFNet §III-B); CIMNet takes ResNets or a Mix Transformer (CIMNet §V-C). Each
model states which families it accepts, so a new encoder is one row here and one builder in its module.
"""

from __future__ import annotations

from pathlib import Path

from rgbt_seg_core.models.encoders.cnn import ENCODERS as CNN_ENCODERS
from rgbt_seg_core.models.encoders.cnn import Encoder, build_cnn_encoder
from rgbt_seg_core.models.encoders.mit import MIT_SIZES, MiTEncoder, build_mit_encoder

__all__ = ["ENCODER_FAMILY", "encoder_names", "build_encoder", "Encoder", "MiTEncoder"]

ENCODER_FAMILY: dict[str, str] = {**{n: s.family for n, s in CNN_ENCODERS.items()}, **{n: "mit" for n in MIT_SIZES}}


def encoder_names(*families: str) -> list[str]:
    """The encoders of the given families (all of them without an argument), in table order."""
    return [n for n, f in ENCODER_FAMILY.items() if not families or f in families]


def build_encoder(name: str, *, in_channels: int = 3, pretrained: bool | str | Path = False) -> Encoder | MiTEncoder:
    family = ENCODER_FAMILY.get(name)
    if family is None:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(sorted(ENCODER_FAMILY))}")
    build = build_mit_encoder if family == "mit" else build_cnn_encoder
    return build(name, in_channels=in_channels, pretrained=pretrained)
