"""The shard cache: a rerun skips finished shards, a changed checkpoint or setting computes them again, the cache
follows content rather than paths, a damaged entry is computed again with a warning naming it, and Ctrl-C keeps the
shards finished before it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support.fleet_bags import write_event_bag
from rgbt_seg_core.bags.io import list_topics
from rgbt_seg_core.bags.pairs import plan_pairs
from rgbt_seg_core.fleet.cache import ShardCache
from rgbt_seg_core.fleet.digests import bag_digest, file_sha256
from rgbt_seg_core.fleet.evaluate import FleetResult, plan_fleet, run_fleet
from rgbt_seg_core.fleet.executor import InProcessExecutor


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 6 frames at 20 fps: two shards of 0.2 s
    return write_event_bag(tmp_path_factory.mktemp("fleet_cache") / "bag", frames=6, thermal_gap=None,
                           frozen_rgb=None)


def _run(bags: list[Path], checkpoint: Path, cache: ShardCache, executor: object = None, **settings: object
         ) -> FleetResult:
    values = {"checkpoint": str(checkpoint), "device": "cpu", **settings}
    plan = plan_fleet(bags, lambda b: plan_pairs(b, {t: n for t, (_, n) in list_topics(b).items()}), values,
                      str(checkpoint), 0.2, cache)
    assert len(plan.tasks) == 2 * len(bags) and not plan.bad
    return run_fleet(plan, executor or InProcessExecutor(), cache)


def test_rerun_skips_and_changes_recompute(bag: Path, varied_checkpoint: Path, other_varied_checkpoint: Path,
                                           tmp_path: Path) -> None:
    cache = ShardCache(tmp_path / "cache")
    first = _run([bag], varied_checkpoint, cache)
    assert (first.computed, first.cached) == (2, 0) and first.evaluated == 6
    again = _run([bag], varied_checkpoint, cache)
    assert (again.computed, again.cached) == (0, 2) and np.array_equal(again.confusion, first.confusion)
    assert again.bags[0].pairs == first.bags[0].pairs and again.bags[0].frames == first.bags[0].frames
    assert _run([bag], varied_checkpoint, cache, slop=0.03).computed == 2  # a setting changed
    other = _run([bag], other_varied_checkpoint, cache)  # another checkpoint
    assert other.computed == 2 and not np.array_equal(other.confusion, first.confusion)
    # content, not paths: the same checkpoint and bag elsewhere are found in the cache
    moved_ckpt = shutil.copy(varied_checkpoint, tmp_path / "moved.safetensors")
    moved_bag = shutil.copytree(bag, tmp_path / "moved_bag")
    moved = _run([Path(moved_bag)], Path(moved_ckpt), cache)
    assert (moved.computed, moved.cached) == (0, 2) and moved.bags[0].bag == str(moved_bag)


def test_damaged_entry_is_computed_again(bag: Path, varied_checkpoint: Path, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    cache = ShardCache(tmp_path / "cache")
    first = _run([bag], varied_checkpoint, cache)
    entries = sorted((tmp_path / "cache" / "shards").rglob("*.json"))
    assert len(entries) == 2
    entries[0].write_text('{"key": "not closed')
    entries[1].write_text(entries[1].read_text().replace('"confusion": [[', '"confusion": [[1, 2], [', 1))
    with caplog.at_level(logging.WARNING, logger="rgbt_seg_core.fleet.cache"):
        again = _run([bag], varied_checkpoint, cache)
    assert again.computed == 2 and np.array_equal(again.confusion, first.confusion)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert str(entries[0]) in warned and str(entries[1]) in warned and "damaged" in warned
    assert _run([bag], varied_checkpoint, cache).cached == 2  # written again, whole


class _Interrupted:
    """Hands out ``keep`` results, then Ctrl-C."""

    def __init__(self, keep: int) -> None:
        self.keep = keep

    def map(self, tasks: Iterable, fn: Callable) -> Iterator:
        for i, item in enumerate(InProcessExecutor().map(tasks, fn)):
            if i == self.keep:
                raise KeyboardInterrupt
            yield item


def test_ctrl_c_keeps_finished_shards(bag: Path, varied_checkpoint: Path, tmp_path: Path) -> None:
    cache = ShardCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        _run([bag], varied_checkpoint, cache, executor=_Interrupted(1))
    resumed = _run([bag], varied_checkpoint, cache)
    assert (resumed.computed, resumed.cached) == (1, 1) and resumed.evaluated == 6


def test_digests_follow_content(tmp_path: Path) -> None:
    bag = tmp_path / "b"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("x")
    (bag / "b_0.mcap").write_bytes(b"abc")
    first = bag_digest(bag, tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "digests").iterdir())) == 2  # each file's, remembered
    assert bag_digest(shutil.copytree(bag, tmp_path / "copy")) == first
    (bag / "b_0.mcap").write_bytes(b"abd")
    os.utime(bag / "b_0.mcap", ns=(1, 1))  # a rewrite is seen by size or mtime
    assert bag_digest(bag, tmp_path / "cache") != first
    assert file_sha256(bag / "b_0.mcap") == hashlib.sha256(b"abd").hexdigest()
    with pytest.raises(FileNotFoundError, match="missing"):
        bag_digest(tmp_path / "missing")


def _entry_task(tmp_path: Path) -> object:
    from rgbt_seg_core.bags.from_dataset import BagTopics
    from rgbt_seg_core.fleet.records import ShardTask

    return ShardTask(str(tmp_path / "bag"), "", BagTopics(), (None, 10), "ck", "{}", "c" * 64, "b" * 64, "s" * 64)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                                   lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                             max_size=4),
                                   max_leaves=12).map(lambda v: json.dumps(v).encode())))
def test_any_entry_content_is_read_or_refused(tmp_path: Path, data: bytes) -> None:
    """Whatever a cache file holds, reading it gives a result or a miss (warned about), never an error."""
    cache = ShardCache(tmp_path / "cache")
    task = _entry_task(tmp_path)
    path = cache.path(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert cache.get(task) is None  # nothing drawn here is a whole entry


def test_an_entry_round_trips_and_its_fields_are_checked(tmp_path: Path) -> None:
    from rgbt_seg_core.fleet.records import ShardResult

    cache = ShardCache(tmp_path / "cache")
    task = _entry_task(tmp_path)
    res = ShardResult(task.bag, "", (None, 10), ["a", "b"], [[0, 0, 0]] * 2, confusion=np.eye(2, dtype=np.int64),
                      misses=np.array([1, 0]), pairs=2, evaluated=2, stamps=[5, 7])
    cache.put(task, res)
    back = cache.get(task)
    assert back is not None and back.to_json() == res.to_json()
    entry = json.loads(cache.path(task).read_text())
    entry["result"]["misses"] = [1, 2, 3]  # three classes' misses for two classes
    cache.path(task).write_text(json.dumps(entry))
    assert cache.get(task) is None
