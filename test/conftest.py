"""Shared fixtures. Before anything else, as pytest imports this file before any test module: the optional
runtimes' telemetry is switched off (test modules import onnxruntime and openvino while they are collected, and
ONNX Runtime reads its switch only at its import), and ROS discovery is confined to loopback before anything can
import rclpy, whatever the shell said; a domain given in the environment stays, else a random one keeps parallel
runs apart. test/test_no_traffic.py checks both under strace."""

from __future__ import annotations

from rgbt_seg_core.utils.optional import telemetry_off

telemetry_off()  # the core's one switch; it sets ORT_DISABLE_TELEMETRY, which subprocesses inherit too

import os  # noqa: E402

from rgbt_seg_core.utils.ros_discovery import use_local_ros_env  # noqa: E402

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


# ---------------------------------------------------------------------------------------------------- fixtures
# Small checkpoints made once per session and shared by every module that reads them: building and saving even a
# small RSFNet (a ResNet-50 RGB encoder) takes seconds on a busy 2-core machine, and two dozen modules need one.
# Tests only read these files; whatever a test writes goes to its own tmp_path.

from pathlib import Path  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random RSFNet: fast on CPU, real enough for bit-exact comparisons (it predicts one class
    everywhere: where labels must vary, take ``varied_checkpoint``)."""
    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    torch.manual_seed(0)
    model = build_model("rsfnet50_18", fusion_channels=[16, 16, 32, 32], reduced_dim=16).eval()
    path = tmp_path_factory.mktemp("tiny_ckpt") / "tiny.safetensors"
    save_checkpoint(path, model)
    return path


def _varied(tmp_path_factory: pytest.TempPathFactory, folder: str, name: str, **kw) -> Path:
    from _support.varied_model import save_varied_checkpoint

    return save_varied_checkpoint(tmp_path_factory.mktemp(folder) / name, **kw)


@pytest.fixture(scope="session")
def varied_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``save_varied_checkpoint``'s default (rsfnet50_18, seed 0, training form): labels vary across a frame."""
    return _varied(tmp_path_factory, "varied", "v.safetensors")


@pytest.fixture(scope="session")
def other_varied_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another checkpoint of the same model (seed 1): a model file exported from ``varied_checkpoint`` is not its."""
    return _varied(tmp_path_factory, "varied_other", "other.safetensors", seed=1)


@pytest.fixture(scope="session")
def varied_cimnet_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CIMNet (cimnet_r18, seed 4) whose labels vary across a frame."""
    return _varied(tmp_path_factory, "varied_cimnet", "cimnet.safetensors", seed=4, model_name="cimnet_r18")
