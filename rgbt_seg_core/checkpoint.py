"""Checkpoints: safetensors weights plus a JSON header that says how to rebuild and use the model.

Why safetensors: loading never unpickles, so a checkpoint from a colleague or the internet cannot run code.
The JSON header (safetensors metadata key ``rgbt_seg``) carries the model name and options, class names,
palette, input normalisation, training metadata and the deploy flag, so the evaluator and the ROS node read
them instead of re-declaring them. A SHA-256 over the tensors detects a file modified after it was written.

Files are written atomically (temporary file in the same folder, fsync, rename): an interrupted save never
leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .classes import default_classes

__all__ = [
    "CheckpointError",
    "CheckpointMeta",
    "DEFAULT_NORMALIZATION",
    "save_checkpoint",
    "load_checkpoint",
    "read_meta",
    "load_weights_into",
    "tensors_digest",
    "atomic_write_bytes",
]

FORMAT = "rgbt-seg-checkpoint"
FORMAT_VERSION = 1
META_KEY = "rgbt_seg"
EXTRA_PREFIX = "extra."

# SPEC §3: pixels are scaled to [0, 1], no mean/std. 16-bit thermal is mapped by the consumer (node, loaders).
DEFAULT_NORMALIZATION: dict[str, Any] = {"rgb_scale": 1.0 / 255.0, "thermal_scale": 1.0 / 255.0, "mean": None, "std": None}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong with it."""


@dataclass
class CheckpointMeta:
    model: str
    options: dict[str, Any]
    class_names: list[str]
    palette: list[list[int]]
    normalization: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    training: dict[str, Any] = field(default_factory=dict)
    deploy: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self, digest: str) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "model": self.model,
                "options": self.options,
                "class_names": self.class_names,
                "palette": self.palette,
                "normalization": self.normalization,
                "training": self.training,
                "deploy": self.deploy,
                "tensors_sha256": digest,
            },
            sort_keys=True,
        )


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _model_name(model: nn.Module) -> str:
    name = getattr(model, "model_name", None)
    if not name:
        raise ValueError("save_checkpoint: model has no registered name; build it with rgbt_seg_core.build_model")
    return str(name)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    class_names: list[str] | tuple[str, ...] | None = None,
    palette: list[list[int]] | tuple[tuple[int, int, int], ...] | None = None,
    normalization: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> CheckpointMeta:
    """Save a model built by :func:`rgbt_seg_core.build_model` (training or deploy form).

    Class names and palette default to the data set implied by the class count (MFNet for 9, PST900 for 5).
    ``extra_tensors`` (optimizer buffers, RNG states) are stored under an ``extra.`` prefix in the same file,
    so a resumable checkpoint is written in one atomic step and stays usable for evaluation.
    """
    from safetensors.torch import save

    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("save_checkpoint: model has no config; build it with rgbt_seg_core.build_model")
    num_classes = config.num_classes
    default_names, default_palette = default_classes(num_classes)
    names = list(class_names) if class_names is not None else list(default_names)
    pal = [list(map(int, c)) for c in (palette if palette is not None else default_palette)]
    if len(names) != num_classes or len(pal) != num_classes:
        raise ValueError(
            f"save_checkpoint: model has {num_classes} classes but {len(names)} names and {len(pal)} palette entries"
        )
    if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in pal):
        raise ValueError("save_checkpoint: palette entries must be three integers in 0..255")
    options = config.to_dict()
    options.pop("num_classes")
    for key in ("rgb_encoder", "thermal_encoder"):
        options.pop(key)  # implied by the model name
    meta = CheckpointMeta(
        model=_model_name(model),
        options=options,
        class_names=names,
        palette=pal,
        normalization=dict(normalization or DEFAULT_NORMALIZATION),
        training=dict(training or {}),
        deploy=bool(getattr(model, "deployed", False)),
    )
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + k] = v.detach().contiguous().cpu()
    blob = save(tensors, metadata={META_KEY: meta.to_json(tensors_digest(tensors))})
    atomic_write_bytes(Path(path), blob)
    return meta


def _parse_meta(path: Path, raw: dict[str, str] | None) -> tuple[CheckpointMeta, str]:
    if not raw or META_KEY not in raw:
        raise CheckpointError(f"{path}: not an rgbt-seg checkpoint (safetensors file without '{META_KEY}' metadata)")
    try:
        d = json.loads(raw[META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: checkpoint header is not valid JSON ({exc})") from exc
    if d.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {d.get('format')!r}")
    if d.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {d.get('version')!r}; this rgbt-seg reads version {FORMAT_VERSION}"
        )
    missing = [k for k in ("model", "options", "class_names", "palette", "tensors_sha256") if k not in d]
    if missing:
        raise CheckpointError(f"{path}: checkpoint header lacks {', '.join(missing)}")
    meta = CheckpointMeta(
        model=d["model"],
        options=dict(d["options"]),
        class_names=list(d["class_names"]),
        palette=[list(c) for c in d["palette"]],
        normalization=dict(d.get("normalization") or DEFAULT_NORMALIZATION),
        training=dict(d.get("training") or {}),
        deploy=bool(d.get("deploy", False)),
    )
    if len(meta.palette) != len(meta.class_names):
        raise CheckpointError(f"{path}: {len(meta.class_names)} class names but {len(meta.palette)} palette entries")
    return meta, str(d["tensors_sha256"])


def _open(path: str | Path) -> tuple[Path, CheckpointMeta, str, dict[str, torch.Tensor]]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    try:
        tensors = load(data)
        meta_raw = _read_raw_metadata(data)
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file; truncated or corrupt? ({exc})") from exc
    meta, digest = _parse_meta(path, meta_raw)
    if tensors_digest(tensors) != digest:
        raise CheckpointError(f"{path}: tensor data does not match the checksum in its header (modified or corrupt)")
    return path, meta, digest, tensors


def _read_raw_metadata(data: bytes) -> dict[str, str] | None:
    if len(data) < 8:
        raise ValueError("file shorter than the safetensors header length field")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header length points past the end of the file")
    header = json.loads(data[8 : 8 + n])
    meta = header.get("__metadata__")
    return dict(meta) if meta else None


def read_meta(path: str | Path) -> CheckpointMeta:
    """The header of a checkpoint, after verifying the whole file."""
    return _open(path)[1]


def _build_from_meta(path: Path, meta: CheckpointMeta) -> nn.Module:
    from .models import build_model, list_models

    if meta.model not in list_models():
        raise CheckpointError(f"{path}: unknown model {meta.model!r} (this rgbt-seg has {', '.join(list_models())})")
    try:
        model = build_model(meta.model, num_classes=meta.num_classes, **meta.options)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the model options in its header are invalid: {exc}") from exc
    if meta.deploy:
        model.reparameterize()  # type: ignore[operator]
    return model


def _load_state(path: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with wrong shape (e.g. {k}: file {tuple(tensors[k].shape)}, model {tuple(expected[k].shape)})"
            )
        raise CheckpointError(f"{path}: weights do not fit the model: " + "; ".join(parts))
    model.load_state_dict(tensors, strict=True)


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    meta: CheckpointMeta
    path: Path
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def _split_extra(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    model = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    extra = {k[len(EXTRA_PREFIX) :]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    return model, extra


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Verify a checkpoint, rebuild its model from the header and load the weights (eval mode)."""
    p, meta, _, tensors = _open(path)
    weights, extra = _split_extra(tensors)
    model = _build_from_meta(p, meta)
    _load_state(p, model, weights)
    return LoadedCheckpoint(model.to(map_location).eval(), meta, p, extra)


def load_weights_into(model: nn.Module, path: str | Path) -> CheckpointMeta:
    """Initialise an already built model from a checkpoint of the same architecture (fine-tuning start)."""
    p, meta, _, tensors = _open(path)
    if meta.deploy != bool(getattr(model, "deployed", False)):
        form = "deploy" if meta.deploy else "training"
        raise CheckpointError(f"{p}: holds a {form}-form model; the target model is in the other form")
    _load_state(p, model, _split_extra(tensors)[0])
    return meta
