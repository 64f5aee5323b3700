"""Model registry in the torchvision/timm manner: builders register under a name and a family, ``build_model``
finds them.

A builder is a small function returning a :class:`~rgbt_seg_core.models.contract.SegmentationModel`; it takes
keyword-only options. The registry refuses a duplicate name, so two modules cannot silently shadow each other,
and it stamps ``model_name`` on what a builder returns, which is what a checkpoint records. The families' builder
modules register when :mod:`rgbt_seg_core.models` is imported (which importing this module always does first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rgbt_seg_core.models.contract import SegmentationModel

__all__ = ["register_model", "build_model", "list_models", "get_builder", "model_family", "FAMILIES"]

FAMILIES = ("rsfnet", "cimnet")
Builder = Callable[..., SegmentationModel]


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    family: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str | None = None, *, family: str) -> Callable[[Builder], Builder]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; families: {', '.join(FAMILIES)}")

    def wrap(fn: Builder) -> Builder:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = _Entry(fn, family)
        return fn

    return wrap


def list_models(family: str | None = None) -> list[str]:
    return sorted(k for k, e in _REGISTRY.items() if family is None or e.family == family)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def get_builder(name: str) -> Builder:
    return _entry(name).builder


def model_family(name: str) -> str:
    return _entry(name).family


def build_model(name: str, num_classes: int = 9, pretrained: bool | str = False, **options: Any) -> SegmentationModel:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`, e.g. ``"rsfnet50_18"``.
        num_classes: output classes (9 for MFNet, 5 for PST900).
        pretrained: ``False``; ``"imagenet"`` (or ``True``) for ImageNet encoder weights, which needs network
            access or a cache; a folder holding those weight files (offline machines); or an rgbt-seg
            ``.safetensors`` checkpoint of the same architecture to start from
            (:func:`rgbt_seg_core.models.weights.resolve_pretrained`).
        **options: the family's architecture options: the fields of ``RSFNetConfig`` or ``CIMNetConfig``.
    """
    model = get_builder(name)(num_classes=num_classes, pretrained=pretrained, **options)
    model.model_name = name
    return model
