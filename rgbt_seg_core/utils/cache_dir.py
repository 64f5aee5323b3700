"""Where rgbt-seg keeps what it can rebuild (split statistics, exported model files): ``$XDG_CACHE_HOME/rgbt_seg``,
``~/.cache/rgbt_seg`` without it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rgbt_seg"
