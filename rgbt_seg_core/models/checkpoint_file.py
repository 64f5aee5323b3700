"""The checkpoint file format: safetensors weights plus a JSON header that says how to rebuild and use the model.

A checkpoint is outside input: from a colleague, a download, a half-finished copy. So loading never unpickles
(safetensors holds raw tensors only), and nothing in a file is acted on before it has been checked:

1. The safetensors container is parsed with hard limits (:mod:`rgbt_seg_core.utils.safetensors_io`).
2. The header (metadata key ``rgbt_seg``: model name and options, class names, palette, training metadata,
   deploy flag) is checked against its schema and bounds.
3. One SHA-256 over the header *and* every tensor (``rgbt_seg_sha256``) must match: an edited class list or
   deploy flag is refused like edited weights.
4. Tensor names, shapes and dtypes are compared with a model before any is copied into it
   (:func:`check_tensors`); :mod:`rgbt_seg_core.models.checkpoint` builds that model on the ``meta`` device
   first, so memory never exceeds the real model's size whatever the options claim.

This module knows the format only, not the registry: model builders read weights through it (fine-tuning
starts), and the registry's loader (:mod:`rgbt_seg_core.models.checkpoint`) sits above both.

Every problem is a :class:`CheckpointError` that names the file. Files are written atomically (temporary file
in the same folder, fsync, rename): an interrupted save never leaves a half-written checkpoint under the final
name.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rgbt_seg_core.utils.classes import default_classes
from rgbt_seg_core.utils.safetensors_io import (
    Header,
    SafetensorsError,
    TensorInfo,
    iter_bytes,
    parse_json,
    read_header,
    read_tensor,
    write_file,
)

__all__ = [
    "CheckpointError",
    "CheckpointMeta",
    "save_checkpoint",
    "read_meta",
    "load_weights_into",
    "check_tensors",
    "fill_model",
    "open_file",
    "verify_open",
    "split_extra",
]

FORMAT = "rgbt-seg-checkpoint"
FORMAT_VERSION = 2
META_KEY = "rgbt_seg"
DIGEST_KEY = "rgbt_seg_sha256"
EXTRA_PREFIX = "extra."
MAX_CLASSES = 256  # labels are published as mono8
MAX_NAME_CHARS = 128


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong with it."""


@dataclass
class CheckpointMeta:
    model: str
    options: dict[str, Any]
    class_names: list[str]
    palette: list[list[int]]
    training: dict[str, Any] = field(default_factory=dict)
    deploy: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "version": FORMAT_VERSION, "model": self.model, "options": self.options,
             "class_names": self.class_names, "palette": self.palette, "training": self.training,
             "deploy": self.deploy},
            sort_keys=True,
        )


def _digest(meta_json: str, tensors: list[tuple[str, torch.dtype, tuple[int, ...], Any]]) -> str:
    """SHA-256 over the header text, then each tensor's name, dtype, shape and bytes, in name order. Each item's
    last element is an iterable of byte blocks."""
    h = hashlib.sha256()
    h.update(f"{FORMAT}/{FORMAT_VERSION}\n".encode())
    h.update(meta_json.encode("utf-8", "surrogatepass"))
    for name, dtype, shape, blocks in sorted(tensors, key=lambda t: t[0]):
        h.update(f"\n{name}|{str(dtype).removeprefix('torch.')}|{list(shape)}|".encode("utf-8", "surrogatepass"))
        for block in blocks:
            h.update(block)
    return h.hexdigest()


def _tensor_blocks(t: torch.Tensor) -> list[bytes | memoryview]:
    return [t.reshape(-1).view(torch.uint8).numpy().data] if t.numel() else []


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
    training: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> CheckpointMeta:
    """Save a model built by :func:`rgbt_seg_core.build_model` (training or deploy form).

    Class names and palette default to the data set implied by the class count (MFNet for 9, PST900 for 5).
    ``extra_tensors`` (optimizer buffers, RNG states) are stored under an ``extra.`` prefix in the same file,
    so a resumable checkpoint is written in one atomic step and stays usable for evaluation.
    """
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
    for key in ("rgb_encoder", "thermal_encoder", "encoder"):
        options.pop(key, None)  # implied by the model name
    meta = CheckpointMeta(model=_model_name(model), options=options, class_names=names, palette=pal,
                          training=dict(training or {}), deploy=bool(getattr(model, "deployed", False)))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + k] = v.detach().contiguous().cpu()
    meta_json = meta.to_json()
    digest = _digest(meta_json, [(k, t.dtype, tuple(t.shape), _tensor_blocks(t)) for k, t in tensors.items()])
    write_file(Path(path), tensors, {META_KEY: meta_json, DIGEST_KEY: digest})
    return meta


def _validate_meta(path: Path, d: object) -> CheckpointMeta:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: checkpoint header {why}")

    if not isinstance(d, dict):
        raise bad(f"is a JSON {type(d).__name__}, expected an object")
    if d.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {d.get('format')!r}")
    version = d.get("version")
    if version != FORMAT_VERSION:
        hint = " (written by an earlier rgbt-seg whose checksum did not cover the header; re-train or re-export " \
               "it with that version's weights)" if version == 1 else ""
        raise CheckpointError(f"{path}: checkpoint format version {version!r}; this rgbt-seg reads version "
                              f"{FORMAT_VERSION}{hint}")
    missing = [k for k in ("model", "options", "class_names", "palette", "deploy") if k not in d]
    if missing:
        raise bad(f"lacks {', '.join(missing)}")
    unknown = sorted(set(d) - {"format", "version", "model", "options", "class_names", "palette", "training",
                               "deploy"})
    if unknown:
        raise bad(f"has unknown fields {', '.join(map(repr, unknown))}")
    model, options, names, palette = d["model"], d["options"], d["class_names"], d["palette"]
    training, deploy = d.get("training", {}), d["deploy"]
    if not isinstance(model, str) or len(model) > MAX_NAME_CHARS:
        raise bad(f"model must be a model name, got {model!r:.80}")
    if not isinstance(options, dict):
        raise bad(f"options must be an object, got {type(options).__name__}")
    for k, v in options.items():
        ok = isinstance(v, (bool, int, float, str)) or (isinstance(v, list) and len(v) <= 16 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v))
        if not ok or len(k) > MAX_NAME_CHARS:
            raise bad(f"option {k!r:.80} has a value of an unsupported kind ({type(v).__name__})")
    if (not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES
            or not all(isinstance(n, str) and 0 < len(n) <= MAX_NAME_CHARS for n in names)):
        raise bad(f"class_names must be a list of 2..{MAX_CLASSES} non-empty names")
    if (not isinstance(palette, list) or len(palette) != len(names) or not all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and
                                                        0 <= v <= 255 for v in c) for c in palette)):
        raise bad(f"palette must hold one [r, g, b] (0..255) per class ({len(names)} classes)")
    if not isinstance(training, dict):
        raise bad(f"training must be an object, got {type(training).__name__}")
    if not isinstance(deploy, bool):
        raise bad(f"deploy must be true or false, got {deploy!r:.80}")
    return CheckpointMeta(model, dict(options), list(names), [list(c) for c in palette], dict(training), deploy)


@dataclass
class OpenedCheckpoint:
    path: Path
    meta: CheckpointMeta
    header: Header


def verify_open(path: str | Path, f: io.BufferedIOBase) -> OpenedCheckpoint:
    path = Path(path)
    try:
        header = read_header(f, path.stat().st_size)
    except SafetensorsError as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); truncated or corrupt?") from exc
    if META_KEY not in header.metadata or DIGEST_KEY not in header.metadata:
        if META_KEY in header.metadata:  # format 1 kept its checksum inside the header
            try:
                old_meta = parse_json(header.metadata[META_KEY], "header")
            except SafetensorsError:
                old_meta = None
            version = old_meta.get("version") if isinstance(old_meta, dict) else None
            _validate_meta(path, {"format": FORMAT, "version": version})
        raise CheckpointError(f"{path}: not an rgbt-seg checkpoint (safetensors file without '{META_KEY}' metadata)")
    meta_json = header.metadata[META_KEY]
    try:
        d = parse_json(meta_json, "the checkpoint header")
    except SafetensorsError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    meta = _validate_meta(path, d)
    try:
        digest = _digest(meta_json, [(i.name, i.dtype, i.shape, iter_bytes(f, i)) for i in header.tensors.values()])
    except SafetensorsError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    if digest != header.metadata[DIGEST_KEY]:
        raise CheckpointError(f"{path}: header or tensor data do not match the checksum (modified or corrupt)")
    return OpenedCheckpoint(path, meta, header)


def open_file(path: str | Path) -> io.BufferedReader:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc})") from exc


def read_meta(path: str | Path) -> CheckpointMeta:
    """The header of a checkpoint, after verifying the whole file."""
    with open_file(path) as f:
        return verify_open(path, f).meta


def check_tensors(path: Path, model: nn.Module, tensors: dict[str, TensorInfo]) -> None:
    """Names, shapes and dtypes of the file against the model (on the meta device: nothing allocated)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tensors[k].shape)
    dtypes = sorted(k for k in set(expected) & set(tensors) if expected[k].dtype != tensors[k].dtype)
    if missing or unexpected or wrong or dtypes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shape (e.g. {k}: file {tensors[k].shape}, model "
                         f"{tuple(expected[k].shape)})")
        if dtypes:
            k = dtypes[0]
            parts.append(f"{len(dtypes)} with wrong dtype (e.g. {k}: file {tensors[k].dtype}, model "
                         f"{expected[k].dtype})")
        raise CheckpointError(f"{path}: weights do not fit the model: " + "; ".join(parts))


def fill_model(path: Path, f: io.BufferedIOBase, model: nn.Module, tensors: dict[str, TensorInfo]) -> None:
    """Copy the file's tensors into the model one at a time (peak memory: the model plus one tensor)."""
    state = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, target in state.items():
            try:
                target.copy_(read_tensor(f, tensors[name]))
            except SafetensorsError as exc:
                raise CheckpointError(f"{path}: {exc}") from exc


def split_extra(tensors: dict[str, TensorInfo]) -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
    weights = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    return weights, extra


def load_weights_into(model: nn.Module, path: str | Path) -> CheckpointMeta:
    """Initialise an already built model from a checkpoint of the same architecture (fine-tuning start)."""
    with open_file(path) as f:
        opened = verify_open(path, f)
        p, meta = opened.path, opened.meta
        if meta.deploy != bool(getattr(model, "deployed", False)):
            form = "deploy" if meta.deploy else "training"
            raise CheckpointError(f"{p}: holds a {form}-form model; the target model is in the other form")
        weights, _ = split_extra(opened.header.tensors)
        check_tensors(p, model, weights)
        fill_model(p, f, model, weights)
    return meta
