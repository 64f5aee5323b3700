"""Registered RSFNet variants: the backbone pairs of the paper's Table XII (RGB encoder first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rgbt_seg_core.models.registry import register_model
from rgbt_seg_core.models.rsfnet.model import RSFNet, RSFNetConfig
from rgbt_seg_core.models.weights import build_with_weights

__all__ = ["PAIRS"]

PAIRS: dict[str, tuple[str, str]] = {
    "rsfnet50_18": ("resnet50", "resnet18"),
    "rsfnet50_34": ("resnet50", "resnet34"),
    "rsfnet50_50": ("resnet50", "resnet50"),
    "rsfnet101_34": ("resnet101", "resnet34"),
    "rsfnet101_101": ("resnet101", "resnet101"),
    "rsfnet161_121": ("densenet161", "densenet121"),
    "rsfnet161_161": ("densenet161", "densenet161"),
    "rsfnet_vgg19_16": ("vgg19", "vgg16"),
    "rsfnet_vgg19_19": ("vgg19", "vgg19"),
}


def _build(name: str, *, num_classes: int, pretrained: bool | str | Path, **options: Any) -> RSFNet:
    rgb, thermal = PAIRS[name]
    config = RSFNetConfig(rgb_encoder=rgb, thermal_encoder=thermal, num_classes=num_classes, **options)
    return build_with_weights(lambda imagenet: RSFNet(config, pretrained=imagenet), pretrained)


def _make(name: str) -> None:
    def builder(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> RSFNet:
        return _build(name, num_classes=num_classes, pretrained=pretrained, **options)

    rgb, thermal = PAIRS[name]
    builder.__name__ = name
    builder.__doc__ = f"RSFNet with a {rgb} RGB encoder and a {thermal} thermal encoder."
    register_model(name, family="rsfnet")(builder)


for _name in PAIRS:
    _make(_name)
