"""Load a checkpoint as a ready model: verify the file, build its model from the header through the registry on
the ``meta`` device, compare every tensor, and only then give the model memory and fill it from the file (see
:mod:`rgbt_seg_core.models.checkpoint_file` for the format and its checks).

A header's ``pretrained`` option is never acted on: a file never makes the loader download or probe anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from rgbt_seg_core.models.checkpoint_file import (
    DIGEST_KEY,
    CheckpointError,
    CheckpointMeta,
    check_tensors,
    fill_model,
    open_file,
    split_extra,
    verify_open,
)
from rgbt_seg_core.models.contract import SegmentationModel
from rgbt_seg_core.models.registry import build_model, list_models
from rgbt_seg_core.utils.safetensors_io import SafetensorsError, read_tensor

__all__ = ["LoadedCheckpoint", "load_checkpoint"]


def _build(path: Path, meta: CheckpointMeta, device: str | torch.device) -> SegmentationModel:
    if meta.model not in list_models():
        raise CheckpointError(f"{path}: unknown model {meta.model!r} (this rgbt-seg has {', '.join(list_models())})")
    options = {k: v for k, v in meta.options.items() if k != "pretrained"}  # never download or probe from a file
    try:
        # random initialisation is overwritten by the file: keep the caller's RNG untouched (exact resumes)
        with torch.random.fork_rng(devices=[]), torch.device(device):
            model = build_model(meta.model, num_classes=meta.num_classes, pretrained=False, **options)
            if meta.deploy:
                model.reparameterize()
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: the model options in its header are invalid: {exc}") from exc
    except RuntimeError as exc:
        if str(device) != "meta":  # after the meta-device check a real build cannot fail on options: don't mask
            raise
        raise CheckpointError(f"{path}: the model options in its header are invalid: {exc}") from exc
    return model


def _materialized(path: Path, meta: CheckpointMeta, model: SegmentationModel) -> SegmentationModel:
    """The meta-device model with empty CPU storage: fill_model writes every tensor of its state dict from the file,
    so the random initialisation a CPU build makes (half the load time of a ResNet-50 model) would be thrown away.
    A model that holds a buffer outside its state dict (nothing would fill it) is built on the CPU instead."""
    in_state = set(model.state_dict())
    if any(name not in in_state for name, _ in model.named_buffers()):
        return _build(path, meta, "cpu")
    return model.to_empty(device="cpu")


@dataclass
class LoadedCheckpoint:
    model: SegmentationModel
    meta: CheckpointMeta
    path: Path
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    sha256: str = ""  # the file's checksum over header and tensors


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Verify a checkpoint, rebuild its model from the header and load the weights (eval mode)."""
    with open_file(path) as f:
        opened = verify_open(path, f)
        p, meta = opened.path, opened.meta
        weights, extra = split_extra(opened.header.tensors)
        model = _build(p, meta, "meta")
        check_tensors(p, model, weights)  # before any memory is given: a forged header can ask for any size
        model = _materialized(p, meta, model)
        fill_model(p, f, model, weights)
        try:
            extra_tensors = {k: read_tensor(f, info) for k, info in extra.items()}
        except SafetensorsError as exc:
            raise CheckpointError(f"{p}: {exc}") from exc
    return LoadedCheckpoint(model.to(map_location).eval(), meta, p, extra_tensors,
                            opened.header.metadata[DIGEST_KEY])


