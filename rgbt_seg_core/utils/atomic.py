"""Atomic file writes: a temporary file in the same folder, fsync, rename. Readers see the old file or the whole
new one, never a part, and an interrupted write leaves only a ``.<name>.*.tmp`` file, which
:func:`remove_stale_temporaries` clears."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["atomic_write", "atomic_write_bytes", "remove_stale_temporaries"]


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(f)`` fills the temporary file; it becomes ``path`` only once complete and synced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def remove_stale_temporaries(folder: str | Path, name: str) -> list[Path]:
    """Remove the temporary files an interrupted atomic write of ``folder/name`` left behind."""
    gone = []
    for p in Path(folder).glob(f".{name}.*.tmp"):
        try:
            p.unlink()
            gone.append(p)
        except OSError:
            pass
    return gone
