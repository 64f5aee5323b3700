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


def _worker_domain(domain: int, worker: str) -> int:
    """pytest-xdist's workers (gw0, gw1, ...) each on their own domain, as their nodes share topic names: gw0 keeps
    the run's domain, the others step 116 at a time through the 1..232 that DDS ports allow (a run's domain is
    1..100 from the Makefile, so two workers' domains never meet)."""
    index = int(worker[2:]) if worker[:2] == "gw" and worker[2:].isdigit() else 0
    return (domain - 1 + 116 * index) % 232 + 1


if os.environ.get("PYTEST_XDIST_WORKER") and os.environ["ROS_DOMAIN_ID"].isdigit():
    os.environ["ROS_DOMAIN_ID"] = str(_worker_domain(int(os.environ["ROS_DOMAIN_ID"]),
                                                     os.environ["PYTEST_XDIST_WORKER"]))

import pytest  # noqa: E402
import torch  # noqa: E402

# Two threads at most, and the cores shared out between pytest-xdist's workers: .ci/run gives each of its two
# side-by-side suites one (OMP_NUM_THREADS=1), as two suites with two spinning OpenMP threads each on two cores run
# several times slower than the work they do. Child processes inherit the choice through OMP_NUM_THREADS.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
_threads = max(1, min(2, int(os.environ.get("OMP_NUM_THREADS") or 2), (os.cpu_count() or 1) // _workers))
os.environ["OMP_NUM_THREADS"] = str(_threads)
torch.set_num_threads(_threads)


SHARED_SCOPES = ("package", "module", "class")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip without CUDA. A test that uses a module- or class-wide fixture (a trained model, an export) is
    grouped with its module, so that pytest-xdist builds that fixture on one worker, once."""
    no_cuda = not torch.cuda.is_available()
    for item in items:
        if no_cuda and "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        shared = any(d.scope in SHARED_SCOPES for chain in defs for d in chain)
        if shared and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


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
