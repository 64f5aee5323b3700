"""ROS test fixtures (the harness itself lives in test/ros_harness.py so test modules can import it)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random RSFNet: fast on CPU, real enough for bit-exact comparisons."""
    import torch

    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    torch.manual_seed(0)
    model = build_model("rsfnet50_18", fusion_channels=[16, 16, 32, 32], reduced_dim=16).eval()
    path = tmp_path_factory.mktemp("ros_ckpt") / "tiny.safetensors"
    save_checkpoint(path, model)
    return path
