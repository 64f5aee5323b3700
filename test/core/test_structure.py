"""The core library must work without ROS: importing every module must not pull in rclpy."""

from __future__ import annotations

import subprocess
import sys


def test_core_never_imports_rclpy() -> None:
    code = (
        "import pkgutil, importlib, sys, rgbt_seg_core\n"
        "for m in pkgutil.walk_packages(rgbt_seg_core.__path__, 'rgbt_seg_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
