"""Training across machines, on loopback: two torchrun "nodes" of one process each (c10d rendezvous on
127.0.0.1, gloo) train exactly as one node of two processes, write each checkpoint once (rank 0), resume, and a
node that dies stops the other within the timeout with a message that says so."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest
import torch
import yaml

from _support.torchrun_nodes import finish, loopback_env, loopback_only_network, start_nodes
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.evaluation.evaluator import evaluate
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.precision import precision_name, resolve_precision
from rgbt_seg_core.models.checkpoint import load_checkpoint

# the smallest configuration the trainer takes (as test_trainer.py's); 6 training frames on 2 ranks of batch 1 are
# 3 steps an epoch, and max_iters 3 is one epoch: validation and the final checkpoints once, at the end
TINY = {"model_options": {"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16}, "epochs": 1, "max_iters": 3,
        "batch_size": 1, "crop": None, "lr": 0.01, "num_workers": 0, "device": "cpu", "deterministic": True,
        "tensorboard": False, "progress": False, "threads": 1, "val_every": 1000, "save_every": 1000}
RUN_TIMEOUT = 300  # seconds a launch may take on a busy 2-core machine before the test calls it a hang


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist_train")
    write_synthetic_dataset(folder / "data", 12, SynthConfig(height=64, width=64, seed=0))  # 6 train, 3 val
    (folder / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "cache_dir": str(folder / "cache")}))
    return folder


@pytest.fixture
def network() -> Iterator[list[str]]:
    """The namespace prefix. Without one, torch's store would ask the DNS resolver for ``::ffff:127.0.0.1``'s name
    (test/_support/torchrun_nodes.py), a query off the machine: such a machine skips, and CI, which runs as root,
    fails (a skip there would pass in silence)."""
    with loopback_only_network() as prefix:
        if not prefix:
            why = ("no network namespace of loopback only could be made (`unshare --net` needs root or "
                   "CAP_SYS_ADMIN, and util-linux): torchrun's store would send DNS queries off the machine")
            ci = os.environ.get("CI", "").strip().lower()
            if ci and ci not in ("0", "false", "no", "off"):
                pytest.fail(f"{why}; CI={os.environ.get('CI')!r}, where this test may not be skipped")
            pytest.skip(why)
        yield prefix


def _args(synth: Path, out: Path, *extra: str, timeout_s: int = 120) -> list[str]:
    return ["--dataset", "synthetic", "--data-root", str(synth / "data"), "--model", "rsfnet50_18",
            "--config", str(synth / "tiny.yaml"), "--out", str(out), "--dist-timeout", str(timeout_s), *extra]


def _train(nnodes: int, nproc: int, args: list[str], events: Path, logs: Path, network: list[str]) -> None:
    events.mkdir(parents=True, exist_ok=True)
    nodes = start_nodes(nnodes, nproc, args, loopback_env(events), logs, network)
    codes = finish(nodes, RUN_TIMEOUT)
    assert codes == [0] * nnodes, "\n".join(f"--- node {i}\n{n.output()[-4000:]}" for i, n in enumerate(nodes))


def _writes(events: Path) -> dict[str, list[str]]:
    return {p.name: p.read_text().split() for p in sorted(events.glob("writes.*"))}


@pytest.mark.slow  # three torchrun launches of two workers each: ~60 s on an idle 2-core machine
def test_two_nodes_train_as_one_node_of_two_processes_and_resume(synth: Path, tmp_path: Path,
                                                                   network: list[str]) -> None:
    ref, two = tmp_path / "ref", tmp_path / "two"
    _train(1, 2, _args(synth, ref), tmp_path / "ev_ref", tmp_path / "logs_ref", network)
    # two nodes, stopped after 2 of the 3 steps and resumed: the resume is exact (test_trainer.py), so any
    # difference from the reference would come from the nodes
    _train(2, 1, _args(synth, two, "--set", "stop_after_iters=2"), tmp_path / "ev_two", tmp_path / "logs_stop",
           network)
    assert _writes(tmp_path / "ev_two") == {"writes.0": ["last.safetensors"]}  # rank 0 only, once
    assert load_checkpoint(two / "last.safetensors").meta.training["state"]["iteration"] == 2
    _train(2, 1, _args(synth, two, "--resume"), tmp_path / "ev_two", tmp_path / "logs_resume", network)
    assert _writes(tmp_path / "ev_two") == {"writes.0": ["last.safetensors", "best.safetensors", "last.safetensors"]}
    assert sorted(p.name for p in two.iterdir()) == ["best.safetensors", "config.json", "last.safetensors"]
    # a new run into the same folder: rank 0 refuses, and rank 1 hears it at once, not after the 120 s timeout
    nodes = start_nodes(2, 1, _args(synth, two), loopback_env(tmp_path / "ev_two"), tmp_path / "logs_again", network)
    assert all(code != 0 for code in finish(nodes, 100))
    assert all("already holds a run" in n.output() for n in nodes), "\n".join(n.output()[-2000:] for n in nodes)

    # bit-equal: both runs do the same arithmetic in the same order (world 2, the same slices of the same
    # permutation, one thread per worker, a two-rank all-reduce whose sum a + b does not depend on who adds)
    a, b = load_checkpoint(ref / "last.safetensors"), load_checkpoint(two / "last.safetensors")
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} tensors differ from the 1-node x 2-process run, e.g. {differ[:3]}"
    # validation was sharded and all-reduced: both runs chose their best on the same global mIoU, and that mIoU
    # is one process's validation of the model the checkpoint holds (rank 1 validated with rank 0's BN statistics)
    assert a.meta.training["val_miou"] == b.meta.training["val_miou"] is not None
    assert a.meta.training["state"]["best"] == b.meta.training["state"]["best"]
    assert _single_process_miou(b, synth / "data") == b.meta.training["val_miou"]


def _single_process_miou(loaded, root: Path) -> float:
    """The trainer's validation in this process: its engine configuration, one thread as the workers had."""
    config = InferenceConfig(device="cpu", precision=precision_name(resolve_precision("auto", torch.device("cpu"))),
                             channels_last=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        engine = InferenceEngine.from_model(loaded.model, loaded.meta, config)
        return evaluate(engine, build_dataset("synthetic", root, "val")).scores().miou
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow  # a launch, then the timeout (15 s) for the survivor to notice: ~35 s
def test_a_dead_node_stops_the_other_within_the_timeout(synth: Path, tmp_path: Path, network: list[str]) -> None:
    timeout_s, margin_s = 15, 45  # margin: the survivor's exit and its torchrun agent's, on a busy machine
    events = tmp_path / "events"
    events.mkdir()
    args = _args(synth, tmp_path / "run", timeout_s=timeout_s)
    nodes = start_nodes(2, 1, args, loopback_env(events, RGBT_TEST_STALL="1:1"), tmp_path / "logs", network)
    try:
        marker = events / "stalled.1"  # rank 1 has done one step and waits there to be killed
        deadline = time.monotonic() + RUN_TIMEOUT
        while not marker.exists():
            assert time.monotonic() < deadline and all(n.proc.poll() is None for n in nodes), \
                "\n".join(n.output()[-3000:] for n in nodes)
            time.sleep(0.1)
        nodes[1].kill()
        killed = time.monotonic()
        code = nodes[0].proc.wait(timeout=timeout_s + margin_s)
        took = time.monotonic() - killed
    finally:
        for n in nodes:
            n.kill()
    out = nodes[0].output()
    assert code != 0, out[-3000:]
    assert f"rank 0: peer lost (no reply within {timeout_s} s" in out, out[-3000:]
    assert took <= timeout_s + margin_s
    assert not (tmp_path / "run" / "last.safetensors").exists()  # nothing claims a finished run
