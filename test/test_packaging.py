"""What `pip install .` ships: every source folder is a package, and the installed CLI runs outside the repo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_folder_is_a_shipped_package() -> None:
    shipped = set(find_packages(str(ROOT), include=["rgbt_seg_core", "rgbt_seg_core.*", "rgbt_seg_ros",
                                                    "rgbt_seg_ros.*"]))
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("rgbt_seg_core", "rgbt_seg_ros")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert folders <= shipped, f"folders without __init__.py are not installed: {sorted(folders - shipped)}"


def test_installed_cli_runs_outside_the_source_tree(tmp_path: Path) -> None:
    # from another folder the source tree is not importable, so this exercises what pip installed
    code = (
        "import sys\n"
        "from rgbt_seg_core.training.config import train_config_dir\n"
        "print(sorted(p.name for p in train_config_dir().glob('*.yaml')))\n"
        "from rgbt_seg_core.cli.main import main\n"
        "sys.exit(main(['train', '--help']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "['mfnet.yaml', 'pst900.yaml', 'synthetic.yaml']" in out.stdout  # presets installed under share/
    assert "--resume" in out.stdout
