"""Validation sharded across ranks equals one process's exactly (no frame padded in twice), and the pieces around
it: the slices, torchrun's environment, the timeout option and the "peer lost" message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _support.torchrun_nodes import ROOT
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.evaluation.evaluator import EvalResult, evaluate
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix
from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.training.config import TrainConfig
from rgbt_seg_core.training.distributed import (
    PeerLostError,
    _all_reduce_result,
    dist_info,
    is_peer_loss,
    peer_loss_reported,
    shard_indices,
)


@pytest.fixture(scope="module")
def odd_val_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth_odd")
    write_synthetic_dataset(root, 20, SynthConfig(height=64, width=64, seed=3))  # val: 5 frames, day and night
    return root


@given(n=st.integers(0, 200), world=st.integers(1, 9))
def test_slices_cover_the_split_once(n: int, world: int) -> None:
    slices = [list(shard_indices(n, r, world)) for r in range(world)]
    assert sorted(i for s in slices for i in s) == list(range(n))  # each frame once: no padding, no gap
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


@pytest.mark.parametrize("n, rank, world", [(5, 2, 2), (5, -1, 2), (5, 0, 0), (-1, 0, 1)])
def test_impossible_slices_are_refused(n: int, rank: int, world: int) -> None:
    with pytest.raises(ValueError, match=f"rank {rank} of {world}"):
        shard_indices(n, rank, world)


# what an environment variable can hold: no NUL, no lone surrogate
_ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=4)


@given(world=st.one_of(st.none(), _ENV_TEXT, st.integers(-2, 9).map(str)),
       rank=st.one_of(st.none(), _ENV_TEXT, st.integers(-2, 9).map(str)))
def test_torchrun_environment_is_read_or_refused_by_name(world: str | None, rank: str | None) -> None:
    env = {k: v for k, v in (("WORLD_SIZE", world), ("RANK", rank)) if v is not None}
    saved = {k: os.environ.pop(k, None) for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    os.environ.update(env)
    try:
        try:
            info = dist_info()
        except ValueError as exc:
            assert "WORLD_SIZE" in str(exc) or "RANK" in str(exc)
            return
        assert info.world >= 1 and 0 <= info.rank < info.world
        assert (info.world, info.rank) == (int(world or 1), int(rank or 0))
    finally:
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            os.environ.pop(k, None)
            if saved[k] is not None:
                os.environ[k] = saved[k]


@pytest.mark.parametrize("bad", [0, -3.0, float("nan"), "300", True])
def test_dist_timeout_must_be_positive_seconds(bad: object) -> None:
    with pytest.raises(ValueError, match="dist_timeout"):
        TrainConfig(data_root="/d", dist_timeout=bad).validate()


def test_a_lost_peer_is_reported_as_such_and_other_errors_pass() -> None:
    gloo = RuntimeError("[../gloo/transport/tcp/unbound_buffer.cc:129] Timed out waiting 15000ms for send operation")
    assert is_peer_loss(gloo) and is_peer_loss(torch.distributed.DistStoreError("wait timeout"))
    with pytest.raises(PeerLostError, match=r"^rank 1: peer lost \(no reply within 15 s") as caught:
        with peer_loss_reported(1, 15.0):
            raise gloo
    assert caught.value.__cause__ is gloo
    for own in (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), FloatingPointError("loss became nan")):
        assert not is_peer_loss(own)
        with pytest.raises(type(own), match=str(own)):
            with peer_loss_reported(0, 15.0):
                raise own


def test_the_all_reduce_keeps_every_count_in_its_place(tmp_path: Path) -> None:
    """Packing and unpacking around the all-reduce (one rank: the sum is the value itself) returns each matrix,
    each subset's, the pixels predicted as no class and the frame count where they were."""
    rng = np.random.default_rng(0)
    result = EvalResult("synthetic", "val", tuple("abc"), ConfusionMatrix(3),
                        {"night": ConfusionMatrix(3), "day": ConfusionMatrix(3)}, images=7)
    for cm in (result.confusion, *result.subsets.values()):
        cm.matrix = rng.integers(0, 2**40, (3, 3))
        cm.unlabelled = rng.integers(0, 2**40, 3)
    expected = {k: (cm.matrix.copy(), cm.unlabelled.copy()) for k, cm in [("", result.confusion),
                                                                          *result.subsets.items()]}
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        _all_reduce_result(result, torch.device("cpu"))
    finally:
        torch.distributed.destroy_process_group()
    assert result.images == 7
    for k, cm in [("", result.confusion), *result.subsets.items()]:
        assert np.array_equal(cm.matrix, expected[k][0]) and np.array_equal(cm.unlabelled, expected[k][1]), k


def test_slices_of_the_evaluator_add_up_to_the_split(varied_checkpoint: Path, odd_val_root: Path) -> None:
    """The evaluator's part of sharding, in one process: scoring disjoint slices and summing gives the split."""
    engine, val = InferenceEngine(varied_checkpoint), build_dataset("synthetic", odd_val_root, "val")
    whole = evaluate(engine, val)
    parts = [evaluate(engine, val, indices=shard_indices(len(val), r, 2)) for r in range(2)]
    assert [p.images for p in parts] == [3, 2] and whole.images == 5
    assert np.array_equal(parts[0].confusion.matrix + parts[1].confusion.matrix, whole.confusion.matrix)
    assert set(whole.subsets) == {"day", "night"}
    for k in whole.subsets:
        assert np.array_equal(parts[0].subsets[k].matrix + parts[1].subsets[k].matrix, whole.subsets[k].matrix)


def test_sharded_validation_on_two_ranks_equals_one_process(varied_checkpoint: Path, odd_val_root: Path,
                                                           tmp_path: Path) -> None:
    """Two gloo processes on loopback, an odd split (5 frames): DistributedSampler would pad it to 6, scoring a
    frame twice; the slices here score each once, and the all-reduced matrices equal one process's bit for bit."""
    val = build_dataset("synthetic", odd_val_root, "val")
    single = evaluate(InferenceEngine(varied_checkpoint), val)
    assert len(np.flatnonzero(single.confusion.matrix.sum(axis=0))) >= 2, "the model predicts one class only"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "WORLD_SIZE": "2", "GLOO_SOCKET_IFNAME": "lo"}
    child = ROOT / "test" / "_support" / "sharded_validation_child.py"
    procs = [subprocess.Popen([sys.executable, str(child), str(varied_checkpoint), str(odd_val_root),
                               str(tmp_path / f"rank{r}.json"), str(torch.get_num_threads()), str(tmp_path / "store")],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outs)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["slice"] for r in results] == [[0, 2, 4], [1, 3]]
    for r in results:  # every rank holds the whole split's result
        assert r["images"] == 5
        assert np.array_equal(np.array(r["confusion"]), single.confusion.matrix)
        assert np.array_equal(np.array(r["unlabelled"]), single.confusion.unlabelled)
        assert {k: np.array(v).tolist() for k, v in r["subsets"].items()} == \
            {k: v.matrix.tolist() for k, v in single.subsets.items()}
