"""Where a new model's weights come from, for every family: ImageNet encoders, an offline folder of them, or an
rgbt-seg checkpoint of the same architecture to start from (fine-tuning). One rule, so ``build_model``'s
``pretrained`` means the same for RSFNet and CIMNet."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

from rgbt_seg_core.models.checkpoint_file import load_weights_into
from rgbt_seg_core.models.contract import SegmentationModel

__all__ = ["resolve_pretrained", "build_with_weights"]

M = TypeVar("M", bound=SegmentationModel)


def resolve_pretrained(pretrained: bool | str | Path) -> tuple[bool | str, Path | None]:
    """``build_model``'s ``pretrained``: (ImageNet source for the encoders, or False; checkpoint to start from)."""
    if pretrained is True or pretrained == "imagenet":
        return "imagenet", None
    if not pretrained:
        return False, None
    path = Path(pretrained)
    if path.is_dir():
        return str(path), None
    if path.is_file():
        return False, path
    raise FileNotFoundError(f"pretrained path does not exist: {path}")


def build_with_weights(make: Callable[[bool | str], M], pretrained: bool | str | Path) -> M:
    """``make(encoder_weights)`` builds the model; a checkpoint given as ``pretrained`` is then loaded into it."""
    imagenet, start_from = resolve_pretrained(pretrained)
    model = make(imagenet)
    if start_from is not None:
        load_weights_into(model, start_from)
    return model
