"""Lint (ruff, with pyproject.toml's settings) over the whole repository: pyflakes' errors (unused or undefined
names), pycodestyle's and the 120-column limit fail the suite like any other regression."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED = ["rgbt_seg_core", "rgbt_seg_ros", "test", "launch", "scripts", "setup.py"]


def test_ruff_finds_nothing() -> None:
    if importlib.util.find_spec("ruff") is None:
        pytest.skip(f"ruff is not installed for {sys.executable} (pip install '.[test]')")
    assert (REPO / "pyproject.toml").is_file() and all((REPO / p).exists() for p in CHECKED)
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                          *CHECKED], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"ruff check {' '.join(CHECKED)}:\n{out.stdout}{out.stderr}"
