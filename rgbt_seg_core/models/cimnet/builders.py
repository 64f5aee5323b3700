"""Registered CIMNet variants. ``cimnet_r101`` is the paper's Kust4K model (two ResNet-101 encoders, Table II);
``cimnet_mitb4`` is its MFNet model (two MiT-B4 encoders, §V-C); ``cimnet_r18`` is a small pair with the same
modules, for CPUs and quick experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rgbt_seg_core.models.cimnet.model import CIMNet, CIMNetConfig
from rgbt_seg_core.models.registry import register_model
from rgbt_seg_core.models.weights import build_with_weights

__all__ = ["cimnet_r101", "cimnet_r18", "cimnet_mitb4"]


def _build(encoder: str, num_classes: int, pretrained: bool | str | Path, options: dict[str, Any]) -> CIMNet:
    config = CIMNetConfig(encoder=encoder, num_classes=num_classes, **options)
    return build_with_weights(lambda imagenet: CIMNet(config, pretrained=imagenet), pretrained)


@register_model(family="cimnet")
def cimnet_r101(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet with two ResNet-101 encoders (CIMNet Table II: 110.9 M parameters, 132.4 GMAC at 512 x 640)."""
    return _build("resnet101", num_classes, pretrained, options)


@register_model(family="cimnet")
def cimnet_r18(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet's modules on two ResNet-18 encoders."""
    return _build("resnet18", num_classes, pretrained, options)


@register_model(family="cimnet")
def cimnet_mitb4(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet with two MiT-B4 (SegFormer) encoders, the paper's MFNet model (needs ``transformers``)."""
    return _build("mit_b4", num_classes, pretrained, options)
