"""Fuzz the checkpoint loader (header fields, model options, raw bytes) in a child process with a memory cap:
every file either loads or gives a CheckpointError naming it, and never needs memory beyond the real model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUPPORT = HERE.parents[1] / "_support"


@pytest.mark.slow
def test_loader_fuzz_under_a_memory_cap(tmp_path: Path) -> None:
    cap = 1536 * 2**20  # the fuzzed files' models hold ~150 MB of weights; a forged header wanted 6 GB
    root = HERE.parents[2]  # the source tree under test, as in every other test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(SUPPORT / "checkpoint_fuzz_child.py"), str(tmp_path), str(cap)],
                         capture_output=True, text=True, timeout=900, cwd=root, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    assert "ok: peak RSS" in out.stdout
