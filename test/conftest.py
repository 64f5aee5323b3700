"""Shared fixtures. ROS discovery is confined to loopback before anything can import rclpy: Jazzy and later
read ROS_AUTOMATIC_DISCOVERY_RANGE, Humble reads ROS_LOCALHOST_ONLY; a random domain keeps parallel runs apart."""

from __future__ import annotations

import os
import random

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
