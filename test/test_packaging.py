"""What `pip install .` ships: every source folder is a package, and the installed CLI runs outside the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
        "print(train_config_dir())\n"
        "from rgbt_seg_core.cli.main import main\n"
        "sys.exit(main(['train', '--help']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shipped = sorted(p.name for p in (ROOT / "rgbt_seg_core" / "training" / "presets").glob("*.yaml"))
    assert str(shipped) in out.stdout and "mfnet.yaml" in shipped  # every preset shipped as package data
    assert "site-packages/rgbt_seg_core/training/presets" in out.stdout
    assert "--resume" in out.stdout


# ---------------------------------------------------------------------------------------------------- colcon
PACKAGED = ["setup.py", "setup.cfg", "package.xml", "README.md", "resource", "launch", "config", "scripts",
            "rgbt_seg_core", "rgbt_seg_ros"]


def _run_node_expecting_fatal(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    """Starting the node with a missing checkpoint proves the executable runs and imports what it needs."""
    out = subprocess.run([*cmd, "--ros-args", "-p", "checkpoint:=/nonexistent/model.safetensors"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 1 and "cannot start" in text and "/nonexistent/model.safetensors" in text, text
    return text


@pytest.mark.slow  # two colcon builds of a copy of the package, each starting the built node
@pytest.mark.parametrize("symlink", [False, True], ids=["install", "symlink-install"])
def test_colcon_build(tmp_path: Path, symlink: bool) -> None:
    pytest.importorskip("colcon_core")
    pytest.importorskip("ament_package")
    src = tmp_path / "src" / "rgbt_seg"
    src.mkdir(parents=True)
    for name in PACKAGED:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "colcon", "build", "--event-handlers", "console_direct-"]
    out = subprocess.run(cmd + (["--symlink-install"] if symlink else []), cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    prefix = tmp_path / "install" / "rgbt_seg_ros"
    share = prefix / "share" / "rgbt_seg_ros"
    for rel in ("package.xml", "launch/segment.launch.py", "config/segment.yaml", "config/segment.rviz"):
        assert (share / rel).is_file(), rel
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "rgbt_seg_ros").is_file()
    node = prefix / "lib" / "rgbt_seg_ros" / "segmentation_node"
    assert node.is_file() and os.access(node, os.X_OK)
    first = node.read_text().splitlines()[0]
    assert first.startswith("#!") and "env python" not in first  # the console script, with its interpreter
    managed = prefix / "lib" / "rgbt_seg_ros" / "segmentation_lifecycle_node"
    assert os.access(managed, os.X_OK) and "segmentation_lifecycle_node" in managed.read_text()
    # in the built environment (what `source install/setup.bash` gives), from outside any source tree
    site = next((prefix / "lib").glob("python3*/site-packages"))
    paths = [str(tmp_path / "build" / "rgbt_seg_ros")] if symlink else [str(site)]
    run_env = {**env, "PYTHONPATH": os.pathsep.join(paths), "AMENT_PREFIX_PATH": str(prefix)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = subprocess.run([sys.executable, "-c", "import rgbt_seg_core, sys\n"
                            "from rgbt_seg_core.training.config import preset_path\n"
                            "print(rgbt_seg_core.__file__); print(preset_path('mfnet'))"],
                           cwd=elsewhere, env=run_env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    module, preset = probe.stdout.split()
    assert str(tmp_path) in module and Path(preset).is_file(), probe.stdout
    _run_node_expecting_fatal([str(node)], run_env, elsewhere)


def test_pip_launcher_runs_without_an_activated_environment(tmp_path: Path) -> None:
    launcher = Path(sys.prefix) / "lib" / "rgbt_seg_ros" / "segmentation_node"
    if not launcher.is_file():
        pytest.skip("this environment has no pip-installed rgbt_seg_ros (make installs one)")
    first = launcher.read_text().splitlines()[0]
    assert first == "#!/bin/sh"
    managed = launcher.with_name("segmentation_lifecycle_node")
    assert os.access(managed, os.X_OK) and "bin/rgbt-seg-lifecycle-node" in managed.read_text()
    assert os.access(Path(sys.prefix) / "bin" / "rgbt-seg-lifecycle-node", os.X_OK)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
           **{k: v for k, v in os.environ.items() if k.startswith("ROS_")}}
    _run_node_expecting_fatal([str(launcher)], env, tmp_path)


def test_presets_are_package_data_and_a_missing_one_is_an_error(tmp_path: Path, monkeypatch) -> None:
    from rgbt_seg_core.training import config

    assert config.train_config_dir() == ROOT / "rgbt_seg_core" / "training" / "presets" or "site-packages" in str(
        config.train_config_dir())
    monkeypatch.setattr(config, "train_config_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="training preset for 'mfnet' missing"):
        config.resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="x")


def test_package_xml_declares_what_the_package_uses() -> None:
    import re
    import xml.etree.ElementTree as ET

    deps = {e.text for e in ET.parse(ROOT / "package.xml").getroot() if e.tag.endswith("depend")}
    used = set()
    for f in (ROOT / "rgbt_seg_ros").rglob("*.py"):
        used |= set(re.findall(r"^\s*(?:from|import) "
                               r"(rclpy|rcl_interfaces|sensor_msgs|std_msgs|diagnostic_msgs|lifecycle_msgs)\b",
                               f.read_text(), re.M))
    used |= {"launch", "launch_ros", "rviz2"}  # launch/segment.launch.py
    assert used <= deps, f"used but not declared: {sorted(used - deps)}"
    assert not deps & {"cv_bridge", "message_filters", "python3-safetensors"}, "declared but unused or no rosdep key"
    import ast

    setup = ast.parse((ROOT / "setup.py").read_text())
    requires = next(n.value for n in ast.walk(setup) if isinstance(n, ast.keyword) and n.arg == "install_requires")
    assert "safetensors" not in ast.literal_eval(requires)  # read and written by rgbt_seg_core.utils.safetensors_io


def _setup_keyword(name: str):
    import ast

    setup = ast.parse((ROOT / "setup.py").read_text())
    return ast.literal_eval(next(n.value for n in ast.walk(setup) if isinstance(n, ast.keyword) and n.arg == name))


def test_install_requires_floors_are_the_ones_checked_on_import() -> None:
    """setup.py and rgbt_seg_core.utils.versions state each floor once each; they must agree."""
    import re

    from rgbt_seg_core.utils.versions import MINIMUM

    floors = {m.group(1): m.group(2) for m in (re.fullmatch(r"([\w-]+)>=([\d.]+)", r) for r in
                                                 _setup_keyword("install_requires")) if m}
    for req in MINIMUM:
        assert floors.get(req.distributions[0]) == ".".join(map(str, req.minimum)), req


def test_python_floor_is_310_everywhere() -> None:
    assert _setup_keyword("python_requires") == ">=3.10"
    assert "sys.version_info >= (3, 10)" in (ROOT / "Makefile").read_text()


def test_ros_extra_has_a_wheel_for_each_ros_package_the_node_imports() -> None:
    import re

    extra = set(_setup_keyword("extras_require")["ros"])
    used = set()
    for f in (ROOT / "rgbt_seg_ros").rglob("*.py"):
        used |= set(re.findall(r"^\s*(?:from|import) (rclpy|sensor_msgs|std_msgs|diagnostic_msgs|lifecycle_msgs)\b",
                               f.read_text(), re.M))
    wanted = {"ros-" + name.replace("_", "-") for name in used}
    assert wanted <= extra, f"imported but not in the ros extra: {sorted(wanted - extra)}"
