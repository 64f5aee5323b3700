"""Time shards: a bag cut into shards equals the whole bag pair for pair (same outputs, in the same order, the same
confusion matrix and counts), across borders that fall inside a camera's silence and a frozen camera's run; and a
shard that did not warm up would not (so the comparison can fail)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _support.fleet_bags import EVENT_SETTINGS, write_event_bag
from rgbt_seg_core.bags.evaluate import evaluate_bag
from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import bag_span
from rgbt_seg_core.fleet import window as window_module
from rgbt_seg_core.fleet.digests import file_sha256
from rgbt_seg_core.fleet.shards import ShardResult, ShardTask, cached_engine, plan_windows, run_shard, settings_json
from rgbt_seg_core.runtime.node_settings import checked_pairs, node_configs

COUNTS = ("frames", "pairs", "evaluated", "unlabelled", "unpaired", "bad_frames", "rgb_only", "thermal_only")


@pytest.fixture(scope="module")
def event_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # thermal silent 0.3 s, then a 0.7 s pause of the recorder (longer than a shard's warm-up), then RGB frozen
    return write_event_bag(tmp_path_factory.mktemp("fleet_shards") / "bag", frames=40, thermal_gap=(8, 14),
                           pause=(16, 30), frozen_rgb=(30, 37))


def _task(bag: Path, checkpoint: Path, window: tuple[int | None, int | None]) -> ShardTask:
    values = {**EVENT_SETTINGS, "checkpoint": str(checkpoint), "device": "cpu"}
    span = bag_span(bag)
    return ShardTask(str(bag), "", BagTopics(), window, str(checkpoint), settings_json(values),
                     file_sha256(checkpoint), bag_start_ns=span[0] if span else None)


def _summed(results: list[ShardResult]) -> dict:
    out: dict = {k: sum(getattr(r, k) for r in results) for k in COUNTS}
    out["stamps"] = [s for r in results for s in r.stamps]
    out["confusion"] = sum(r.confusion for r in results).tolist()
    out["misses"] = sum(r.misses for r in results).tolist()
    out["runtime"] = {k: sum(r.runtime[k] for r in results) for k in results[0].runtime}
    return out


def test_sharded_equals_unsharded_pair_for_pair(event_bag: Path, varied_checkpoint: Path) -> None:
    whole = run_shard(_task(event_bag, varied_checkpoint, (None, None)))
    # the whole bag through the fleet is bag-eval's own replay
    task = _task(event_bag, varied_checkpoint, (None, None))
    runtime, _ = node_configs(checked_pairs(task.settings_values).node, realtime=False, warmup=0)
    engine = cached_engine(task.checkpoint, task.checkpoint_digest, task.settings)
    ref, _ = evaluate_bag(event_bag, engine, config=runtime)
    assert whole.error is None and whole.runtime == ref.runtime and whole.pairs == ref.pairs
    assert (whole.unpaired, whole.evaluated, whole.bad_frames) == (ref.unpaired, ref.evaluated, ref.bad_frames)
    assert whole.unlabelled == ref.unlabelled_pairs and np.array_equal(whole.confusion, ref.confusion.matrix)
    assert (whole.confusion.sum(axis=0) > 0).sum() >= 3  # the labels vary across the frame
    assert whole.rgb_only > 0 and whole.thermal_only > 0 and whole.unpaired > 0  # the events happened

    span = bag_span(event_bag)
    windows = plan_windows(span, 0.15)
    shards = [run_shard(_task(event_bag, varied_checkpoint, w)) for w in windows]
    assert len(shards) >= 10 and all(s.error is None for s in shards)
    assert _summed(shards) == _summed([whole])
    # the borders fell where the runtime's state mattered: shards that warmed up from inside the bag had fallbacks
    lead = window_module.lead_ns(runtime)
    warmed = [s for s, w in zip(shards, windows) if w[0] is not None and w[0] - lead > span[0]]
    assert sum(s.rgb_only for s in warmed) and sum(s.thermal_only for s in warmed)


class _StubEngine:
    """Constant labels: pairing, fallbacks and counting without the model's cost."""

    class_names = [f"c{i}" for i in range(9)]
    palette = [[i, i, i] for i in range(9)]

    def predict(self, rgb, thermal, **kw) -> SimpleNamespace:  # noqa: ANN001
        shape = (rgb if rgb is not None else thermal).shape[:2]
        return SimpleNamespace(labels=np.ones(shape, np.uint8), seconds=0.0, color=None, overlay=None, gates=None,
                               confidence=None)


def _stub_run(task: ShardTask) -> ShardResult:
    runtime, _ = node_configs(checked_pairs(task.settings_values).node, realtime=False, warmup=0)
    return window_module.evaluate_window(task, _StubEngine(), runtime, None)  # type: ignore[arg-type]


def test_without_warm_up_the_shards_would_differ(event_bag: Path, tiny_checkpoint: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _summed([_stub_run(_task(event_bag, tiny_checkpoint, (None, None)))])
    windows = plan_windows(bag_span(event_bag), 0.15)
    assert _summed([_stub_run(_task(event_bag, tiny_checkpoint, w)) for w in windows]) == whole
    # not told that the node ran before the warm-up: after the pause RGB waits for a thermal frame, not alone
    unseeded = _summed([_stub_run(dataclasses.replace(_task(event_bag, tiny_checkpoint, w), bag_start_ns=None))
                        for w in windows])
    assert unseeded["rgb_only"] < whole["rgb_only"]
    monkeypatch.setattr(window_module, "lead_ns", lambda config: 0)
    cold = _summed([_stub_run(_task(event_bag, tiny_checkpoint, w)) for w in windows])
    assert cold != whole
    assert cold["runtime"]["frozen_rgb"] < whole["runtime"]["frozen_rgb"]  # a frozen run cut by a border is missed


def test_tasks_and_results_pickle(event_bag: Path, tiny_checkpoint: Path) -> None:
    task = _task(event_bag, tiny_checkpoint, (1, 2))
    assert pickle.loads(pickle.dumps(task)) == task and hash(task) == hash(dataclasses.replace(task))
    res = ShardResult("b", "", (None, 5), ["a", "b"], [[0, 0, 0]] * 2, confusion=np.eye(2, dtype=np.int64),
                      stamps=[1, 2], runtime={"processed": 2})
    back = ShardResult.from_json(pickle.loads(pickle.dumps(res)).to_json())
    assert back.to_json() == res.to_json() and back.window == (None, 5)


@given(start=st.integers(0, 10**18), length=st.integers(1, 10**11), seconds=st.floats(0.001, 200.0))
def test_windows_partition_the_bag(start: int, length: int, seconds: float) -> None:
    end = start + length
    windows = plan_windows((start, end), seconds)
    assert windows[0][0] is None and windows[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))  # contiguous: each time in exactly one
    inner = [w[0] for w in windows[1:]]
    assert inner == sorted(inner) and all(start < b < end for b in inner)
    step = max(1, int(seconds * 1e9))
    assert len(windows) == max(1, -(-length // step))


def test_whole_bags_and_bad_shard_lengths() -> None:
    assert plan_windows((0, 10**9), 0) == [(None, None)] and plan_windows(None, 5.0) == [(None, None)]
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="--shard-seconds"):
            plan_windows((0, 10**9), bad)
