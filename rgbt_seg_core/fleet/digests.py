"""Content digests for the shard cache: a bag's, a checkpoint's and the settings'.

A cached result may be reused only for the same bytes evaluated the same way, so the keys are made of content,
not of paths or times: a bag's digest is the SHA-256 over each of its files' name, size and SHA-256. Hashing a
large bag takes a while, so a file's SHA-256 is remembered by (path, size, mtime) in this process and, with a
cache folder, in ``<cache>/digests/``: a rerun over the same unchanged bags hashes nothing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from rgbt_seg_core.utils.atomic import atomic_write_bytes

__all__ = ["file_sha256", "bag_files", "bag_digest", "settings_digest"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_known: dict[tuple[str, int, int], str] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def file_sha256(path: str | Path, cache: Path | None = None) -> str:
    """The file's SHA-256 (hex), remembered by (path, size, mtime) here and in ``cache/digests`` when given."""
    path = Path(path)
    key = _stat_key(path)
    if key in _known:
        return _known[key]
    note = None
    if cache is not None:
        note = cache / "digests" / hashlib.sha256(repr(key).encode()).hexdigest()
        try:
            text = note.read_text(encoding="ascii").strip()
            if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
                _known[key] = text
                return text
        except (OSError, UnicodeDecodeError):
            pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    _known[key] = digest
    if note is not None:
        atomic_write_bytes(note, digest.encode("ascii"))
    return digest


def bag_files(bag: str | Path) -> list[Path]:
    """The files a bag consists of: a bag folder's regular files (metadata and storage files), or the one file."""
    bag = Path(bag)
    if bag.is_dir():
        return sorted(p for p in bag.iterdir() if p.is_file() and not p.name.startswith("."))
    return [bag]


def bag_digest(bag: str | Path, cache: Path | None = None) -> str:
    """SHA-256 over each file's name, size and content digest. Raises FileNotFoundError naming a missing bag."""
    bag = Path(bag)
    if not bag.exists():
        raise FileNotFoundError(f"bag not found: {bag}")
    h = hashlib.sha256()
    for p in bag_files(bag):
        h.update(f"{p.name}\0{os.path.getsize(p)}\0{file_sha256(p, cache)}\n".encode())
    return h.hexdigest()


def settings_digest(values: Mapping[str, Any], ignore: tuple[str, ...] = ("checkpoint",)) -> str:
    """SHA-256 of the settings as canonical JSON, without ``ignore`` (the checkpoint is keyed by its content, so
    moving the file keeps the cache)."""
    kept = {k: v for k, v in values.items() if k not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
