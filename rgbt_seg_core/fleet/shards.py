"""A shard: one camera pair of one bag over one window of bag time, the unit of work a fleet evaluation ships.

:class:`ShardTask` (:mod:`rgbt_seg_core.fleet.records`, with its :class:`ShardResult`) holds only what a worker on
another machine needs and pickles small; :func:`run_shard` is module-level, so that an executor can send
both anywhere. A worker keeps the engines it built (:func:`cached_engine`, keyed by the checkpoint's digest and the
engine's settings), so it loads a model once, not once per shard. :func:`plan_windows` cuts a bag's time into
shards; :mod:`rgbt_seg_core.fleet.window` replays one so that the shards of a bag sum to the whole bag.
"""

from __future__ import annotations

import functools
import json
import math

from rgbt_seg_core.bags.pairs import PairPlan, replay_configs
from rgbt_seg_core.fleet.records import NS_PER_S, ShardResult, ShardTask, Window, settings_json
from rgbt_seg_core.fleet.window import evaluate_window
from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.runtime.node_settings import checked_pairs, node_configs

__all__ = ["Window", "ShardTask", "ShardResult", "run_shard", "cached_engine", "plan_windows", "settings_json",
           "NS_PER_S"]


def plan_windows(span: tuple[int, int] | None, shard_seconds: float) -> list[Window]:
    """A bag of bag-time ``span`` (its first message and one past its last, ns) cut into windows of
    ``shard_seconds``: the first open at its start, the last open at its end, so that every message lies in exactly
    one. One window, the whole bag, for 0 or a bag whose span is unknown."""
    if shard_seconds < 0 or not math.isfinite(shard_seconds):
        raise ValueError(f"--shard-seconds must be >= 0 (0: whole bags), got {shard_seconds}")
    if shard_seconds == 0 or span is None:
        return [(None, None)]
    step = max(1, int(shard_seconds * NS_PER_S))
    start, end = span
    borders = list(range(start + step, end, step))
    edges: list[int | None] = [None, *borders, None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


@functools.lru_cache(maxsize=2)
def cached_engine(checkpoint: str, checkpoint_digest: str, engine_settings: str) -> InferenceEngine:
    """The engine for a checkpoint (by content: ``checkpoint_digest``) and the node's settings (``engine_settings``:
    :func:`settings_json`), built once per worker process. Two entries: a run compares at most a few."""
    ps = checked_pairs(json.loads(engine_settings), source="shard settings")
    _, inference = node_configs(ps.node, realtime=False, warmup=0)
    return InferenceEngine(checkpoint, inference)


def run_shard(task: ShardTask) -> ShardResult:
    """Evaluate one shard as the node would run on it (its pair's runtime settings and preprocessing), against the
    bag's ground-truth labels. Raises for what stops the shard before it reads (no bag, a checkpoint that does not
    load); a bag that breaks off mid-way is the result's ``error``, with what was read before it."""
    ps = checked_pairs(task.settings_values, source="shard settings")
    engine = cached_engine(task.checkpoint, task.checkpoint_digest, task.settings)
    _, configs = replay_configs(ps, PairPlan({task.pair: task.topics}), warmup=0)
    runtime, preprocessing = configs[task.pair]
    return evaluate_window(task, engine, runtime, preprocessing)
