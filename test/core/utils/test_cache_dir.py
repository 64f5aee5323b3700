"""The cache folder follows XDG_CACHE_HOME, and ~/.cache without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.utils.cache_dir import default_cache_dir


def test_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "rgbt_seg"


def test_home_cache_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "rgbt_seg"
    assert not default_cache_dir().exists()  # naming the folder does not create it
