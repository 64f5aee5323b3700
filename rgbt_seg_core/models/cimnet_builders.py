"""Registered CIMNet variants. ``cimnet_r101`` is the paper's Kust4K model (two ResNet-101 encoders, Table II);
``cimnet_mitb4`` is its MFNet model (two MiT-B4 encoders, §V-C); ``cimnet_r18`` is a small pair with the same
modules, for CPUs and quick experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cimnet import CIMNet, _build
from .registry import register_model

__all__ = ["cimnet_r101", "cimnet_r18", "cimnet_mitb4"]


@register_model()
def cimnet_r101(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet with two ResNet-101 encoders (CIMNet Table II: 110.9 M parameters, 132.4 GMAC at 512 x 640)."""
    model = _build(num_classes=num_classes, pretrained=pretrained, encoder="resnet101", **options)  # type: ignore
    model.model_name = "cimnet_r101"  # type: ignore[assignment]
    return model


@register_model()
def cimnet_r18(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet's modules on two ResNet-18 encoders."""
    model = _build(num_classes=num_classes, pretrained=pretrained, encoder="resnet18", **options)  # type: ignore
    model.model_name = "cimnet_r18"  # type: ignore[assignment]
    return model


@register_model()
def cimnet_mitb4(*, num_classes: int = 9, pretrained: bool | str | Path = False, **options: Any) -> CIMNet:
    """CIMNet with two MiT-B4 (SegFormer) encoders, the paper's MFNet model (needs ``transformers``)."""
    model = _build(num_classes=num_classes, pretrained=pretrained, encoder="mit_b4", **options)  # type: ignore
    model.model_name = "cimnet_mitb4"  # type: ignore[assignment]
    return model
