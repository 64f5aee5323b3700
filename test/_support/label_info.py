"""What the LabelInfo tests share: a checkpoint of a known model under other class names, vision_msgs'
definitions as upstream writes them (fields only), and whether the tests may skip where vision_msgs is missing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable

import pytest

# vision_msgs 4.x (ros-perception/vision_msgs, msg/VisionClass.msg and msg/LabelInfo.msg): the fields, in order,
# as upstream spells them; its type hash, as rosidl prints it into share/vision_msgs/msg/LabelInfo.json
UPSTREAM_DEFINITIONS = {
    "vision_msgs/msg/VisionClass": "uint16 class_id\nstring class_name\n",
    "vision_msgs/msg/LabelInfo": "std_msgs/Header header\nvision_msgs/VisionClass[] class_map\nfloat32 threshold\n",
}
UPSTREAM_LABEL_INFO_HASH = "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783"
VISION_MSGS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "vision_msgs"


def renamed_checkpoint(source: Path, target: Path, class_names: list[str]) -> Path:
    """``source``'s model and weights saved again under ``class_names``."""
    from rgbt_seg_core import load_checkpoint
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    save_checkpoint(target, load_checkpoint(source).model, class_names=class_names)
    return target


def require_vision_msgs() -> None:
    """Skip, naming why, where ``vision_msgs.msg`` cannot be imported; fail instead under CI, where make builds it
    (a skip there would pass in silence)."""
    if importlib.util.find_spec("vision_msgs") is not None:
        return
    why = ("vision_msgs is not importable: `make vision-msgs` builds it into the venv (needs cmake, a C/C++ "
           "compiler and the Python headers; scripts/vision_msgs/build.py)")
    if os.environ.get("CI"):
        pytest.fail(f"{why}; under CI it must be there")
    pytest.skip(why)


def _build_wheels() -> list[str]:
    """scripts/vision_msgs/build.py's BUILD_WHEELS, read from the script (it is not a module of the package)."""
    import ast

    tree = ast.parse((VISION_MSGS_DIR / "build.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", "") == "BUILD_WHEELS" for t in node.targets))


def require_build_tools(which: Callable[[str], str | None]) -> None:
    """Skip, naming what is missing, where scripts/vision_msgs/build.py cannot run without the network (cmake, a
    C/C++ compiler, the Python headers, the toolchain wheels); fail instead under CI, where make installs them."""
    import sysconfig

    missing = [tool for tool in ("cmake", "cc", "c++") if which(tool) is None]
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        missing.append("Python.h")
    for dist in _build_wheels():
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if not missing:
        return
    why = f"cannot build vision_msgs here: missing {', '.join(missing)}"
    spec = importlib.util.find_spec("vision_msgs")
    from_ros = spec is not None and not str(spec.origin).startswith(sys.prefix)
    if os.environ.get("CI") and not from_ros:  # with ROS's vision_msgs, make never needed the build's wheels
        pytest.fail(f"{why}; under CI make installs them")
    pytest.skip(why)
