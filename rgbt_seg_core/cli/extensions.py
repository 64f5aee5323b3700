"""Commands that other installed packages provide, found through the ``rgbt_seg.commands`` entry-point group.

``rgbt_seg_ros`` provides the ones that need rclpy (``bag-play``, ``bag-eval --live``, ``bench node``). Their
arguments are parsed here like every other command's, so ``--help`` works without ROS; only running them needs
the provider, and without it the error says what to install.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

__all__ = ["GROUP", "ROS_HINT", "load_command", "run_command"]

GROUP = "rgbt_seg.commands"
ROS_HINT = ("it needs the ROS 2 Python packages: pip install 'rgbt_seg_ros[ros]' (or source a ROS 2 install "
            "and build rgbt_seg_ros with colcon)")


def load_command(name: str) -> Callable[..., int]:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise RuntimeError(f"{name}: no installed package provides this command; {ROS_HINT}")
    try:
        return found[0].load()
    except ImportError as exc:
        raise RuntimeError(f"{name}: {ROS_HINT} ({exc})") from exc


def run_command(name: str, *args: Any) -> int:
    return int(load_command(name)(*args) or 0)
