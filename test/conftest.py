"""Shared fixtures. ROS discovery is confined to loopback before anything can import rclpy, whatever the shell
said; a domain given in the environment stays, else a random one keeps parallel runs apart."""

from __future__ import annotations

import os

from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

use_local_ros_env(confine=True)

import pytest  # noqa: E402
import torch  # noqa: E402

# Two threads at most; .ci/run gives each of its two side-by-side suites one (OMP_NUM_THREADS=1), as two suites with
# two spinning OpenMP threads each on two cores run several times slower than the work they do.
torch.set_num_threads(max(1, min(2, int(os.environ.get("OMP_NUM_THREADS") or 2), os.cpu_count() or 1)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
