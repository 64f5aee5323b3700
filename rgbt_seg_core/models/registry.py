"""Model registry in the torchvision/timm manner: builders register under a name, ``build_model`` finds them.

A builder is a small function returning a model; it takes keyword-only options, and the registry refuses a
duplicate name so two modules cannot silently shadow each other.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from torch import nn

__all__ = ["register_model", "build_model", "list_models", "get_builder"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
B = TypeVar("B", bound=Callable[..., nn.Module])


def register_model(name: str | None = None) -> Callable[[B], B]:
    def wrap(fn: B) -> B:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        _REGISTRY[key] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_builder(name: str) -> Callable[..., nn.Module]:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def build_model(name: str, num_classes: int = 9, pretrained: bool | str = False, **options: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`, e.g. ``"rsfnet50_18"``.
        num_classes: output classes (9 for MFNet, 5 for PST900).
        pretrained: ``False``; ``"imagenet"`` (or ``True``) for torchvision ImageNet encoder weights, which
            needs network access or torchvision's cache; a folder holding those weight files (offline
            machines); or an rgbt-seg ``.safetensors`` checkpoint of the same architecture to start from.
        **options: architecture options (``kernel_size``, ``reduced_dim``, ``gate``, ``gate_mode``,
            ``multi_branch``, ``fusion``, ``confidence_heads``, ``modalities``, ``fusion_channels``).
    """
    return get_builder(name)(num_classes=num_classes, pretrained=pretrained, **options)


def _ensure_loaded() -> None:
    from . import cimnet_builders, rsfnet_builders  # noqa: F401  (register on import)
