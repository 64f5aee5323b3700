"""Evaluate a checkpoint on many bags: plan the shards, take what the cache has, run the rest on an executor, and
sum the results per bag and over the fleet.

A bag is planned as the single-bag ``bag-eval`` plans it (its camera pairs and topics, from ``--pair``, the
settings file or the bag), then cut into time shards (:func:`~rgbt_seg_core.fleet.shards.plan_windows`); each
(pair, window) is one :class:`~rgbt_seg_core.fleet.shards.ShardTask`. A bag that cannot be planned (unreadable,
a topic missing, no labels to score against) or whose shard fails (a truncated file, a worker's error) is a bad
bag: listed with its reason and left out of the sums, so every other bag's result stands as it would alone.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import bag_span, list_topics
from rgbt_seg_core.bags.pairs import PairPlan
from rgbt_seg_core.evaluation.metrics import scores_from_confusion
from rgbt_seg_core.fleet.cache import ShardCache
from rgbt_seg_core.fleet.digests import bag_digest, file_sha256, settings_digest
from rgbt_seg_core.fleet.executor import FLEET_EXTRA_HINT, Executor, InProcessExecutor
from rgbt_seg_core.fleet.shards import ShardResult, ShardTask, plan_windows, run_shard, settings_json

__all__ = ["FleetPlan", "FleetResult", "BagSummary", "plan_fleet", "run_fleet", "FleetProgress", "make_executor"]

log = logging.getLogger(__name__)


@dataclass
class FleetPlan:
    """The shards to run, the frames each bag is expected to have (for the progress bar), and the bags refused
    before running (bag -> reason)."""

    tasks: list[ShardTask] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)

    @property
    def bags(self) -> list[str]:
        return list(dict.fromkeys([t.bag for t in self.tasks]))


def _labels_missing(plan: PairPlan, topics: dict[str, BagTopics]) -> str | None:
    missing = [t.labels for p, t in topics.items() if p not in plan.labelled]
    return f"no labels to score against: topic(s) {', '.join(missing)} not in the bag" if missing else None


def _plan_bag(bag: Path, plan: PairPlan, common: dict, shard_seconds: float, cache: ShardCache | None,
              out: FleetPlan) -> None:
    counts = {t: n for t, (_, n) in list_topics(bag).items()}
    reason = _labels_missing(plan, dict(plan.pairs))
    if reason:
        out.bad[str(bag)] = reason
        return
    span = bag_span(bag)
    digest = bag_digest(bag, cache.root if cache else None) if cache else ""
    out.frames[str(bag)] = sum(counts.get(t, 0) for tp in plan.pairs.values() for t in (tp.rgb, tp.thermal))
    for pair, topics in plan.pairs.items():
        for window in plan_windows(span, shard_seconds):
            out.tasks.append(ShardTask(bag=str(bag), pair=pair, topics=topics, window=window, bag_digest=digest,
                                       bag_start_ns=span[0] if span else None, **common))


def plan_fleet(bags: Sequence[Path], plan_of: Callable[[Path], PairPlan], values: dict, checkpoint: str,
               shard_seconds: float = 0.0, cache: ShardCache | None = None) -> FleetPlan:
    """The shards of every bag.

    Args:
        bags: the bags, in order (:func:`~rgbt_seg_core.fleet.inputs.expand_inputs`).
        plan_of: a bag's camera pairs and topics, as the single-bag ``bag-eval`` plans them; what it raises makes
            the bag a bad one, with the message as the reason.
        values: the node's flat parameter values (``--params`` and the flags).
        checkpoint: the checkpoint's path.
        shard_seconds: ``--shard-seconds`` (0: whole bags).
        cache: the shard cache, whose keys need the bags' content digests (computed only with a cache).
    """
    text = settings_json(values)
    common = {"checkpoint": str(checkpoint), "settings": text, "checkpoint_digest": file_sha256(checkpoint),
              "settings_digest": settings_digest(values)}
    out = FleetPlan()
    for bag in bags:
        try:
            _plan_bag(bag, plan_of(bag), common, shard_seconds, cache, out)
        except (OSError, RuntimeError, ValueError) as exc:  # BagError is a RuntimeError; SettingsError a ValueError
            out.bad[str(bag)] = _reason(str(bag), str(exc)) or type(exc).__name__
    return out


@dataclass
class BagSummary:
    """One bag's shards summed; ``reason`` set for a bad bag (left out of the fleet's sums)."""

    bag: str
    class_names: list[str]
    confusion: np.ndarray | None = None
    misses: np.ndarray | None = None
    frames: int = 0
    pairs: int = 0
    drops: int = 0
    rgb_only: int = 0
    thermal_only: int = 0
    evaluated: int = 0
    unpaired: int = 0
    bad_frames: int = 0
    seconds: float = 0.0
    shards: int = 0
    reason: str | None = None

    def add(self, r: ShardResult) -> None:
        self.confusion = _plus(self.confusion, r.confusion)
        self.misses = _plus(self.misses, r.misses)
        self.frames += r.frames
        self.pairs += r.pairs
        self.drops += r.drops
        self.rgb_only += r.rgb_only
        self.thermal_only += r.thermal_only
        self.evaluated += r.evaluated
        self.unpaired += r.unpaired
        self.bad_frames += r.bad_frames
        self.seconds += r.seconds
        self.shards += 1

    @property
    def miou(self) -> float | None:
        if self.confusion is None or not self.evaluated:
            return None
        return scores_from_confusion(self.confusion, self.class_names, self.misses).miou

    @property
    def fps(self) -> float | None:
        return self.pairs / self.seconds if self.seconds > 0 else None

    @property
    def worst_class(self) -> tuple[str, float] | None:
        """The class of lowest IoU among those the bag's labels hold."""
        if self.confusion is None or not self.evaluated:
            return None
        scores = scores_from_confusion(self.confusion, self.class_names, self.misses)
        present = [i for i in range(len(self.class_names))
                   if self.confusion[i].sum() > 0 or (self.misses is not None and self.misses[i] > 0)]
        if not present:
            return None
        i = min(present, key=lambda c: scores.iou[c])
        return self.class_names[i], float(scores.iou[i])


@dataclass
class FleetResult:
    """Every bag's summary (good ones worst first, by mIoU), the bad ones, and the fleet's summed confusion."""

    bags: list[BagSummary]
    bad: list[BagSummary]
    class_names: list[str]
    palette: list[list[int]]
    confusion: np.ndarray | None
    misses: np.ndarray | None = None
    cached: int = 0
    computed: int = 0

    @property
    def evaluated(self) -> int:
        return sum(b.evaluated for b in self.bags)


class _Task(Protocol):
    @property
    def bag(self) -> str: ...


class _Plan(Protocol):
    """What :class:`FleetProgress` reads of a plan: bag-eval's :class:`FleetPlan` and bag-extract's prelabel plan."""

    @property
    def tasks(self) -> Sequence[_Task]: ...

    @property
    def bad(self) -> Mapping[str, str]: ...


class FleetProgress:
    """Bags done, failed and left, from shard results as they come (whatever executor they come from)."""

    def __init__(self, plan: _Plan) -> None:
        self.left_shards: dict[str, int] = {}
        for t in plan.tasks:
            self.left_shards[t.bag] = self.left_shards.get(t.bag, 0) + 1
        self.failed: set[str] = set(plan.bad)
        self.done = 0

    def note(self, task: _Task, ok: bool) -> None:
        self.left_shards[task.bag] -= 1
        if not ok:
            self.failed.add(task.bag)
        if self.left_shards[task.bag] == 0 and task.bag not in self.failed:
            self.done += 1

    def postfix(self) -> dict[str, int]:
        left = sum(1 for b, n in self.left_shards.items() if n > 0 and b not in self.failed)
        return {"bags done": self.done, "failed": len(self.failed), "left": left}


def _outcomes(plan: FleetPlan, executor: Executor, cache: ShardCache | None, result: FleetResult
              ) -> Iterable[tuple[ShardTask, ShardResult | Exception]]:
    """Cached shards first, then the executor's as they complete; each new good result cached as it arrives."""
    todo = []
    for task in plan.tasks:
        hit = cache.get(task) if cache is not None else None
        if hit is None:
            todo.append(task)
        else:
            result.cached += 1
            yield task, hit
    for task, outcome in executor.map(todo, run_shard):
        result.computed += 1
        if cache is not None and isinstance(outcome, ShardResult) and outcome.error is None:
            cache.put(task, outcome)
        yield task, outcome


def run_fleet(plan: FleetPlan, executor: Executor, cache: ShardCache | None = None,
              on_result: Callable[[ShardTask, ShardResult | Exception], object] | None = None) -> FleetResult:
    """Run every shard of ``plan`` (the cache's first) and sum them; ``on_result`` sees each outcome as it comes.
    KeyboardInterrupt propagates; the shards finished before it are in the cache."""
    result = FleetResult([], [], [], [], None)
    by_bag: dict[str, list[tuple[ShardTask, ShardResult | Exception]]] = {b: [] for b in plan.bags}
    for task, outcome in _outcomes(plan, executor, cache, result):
        by_bag[task.bag].append((task, outcome))
        if on_result is not None:
            on_result(task, outcome)
    _sum(plan, by_bag, result)
    return result


def _reason(bag: str, text: str) -> str:
    """A message without the bag's name in front (the report names the bag beside it)."""
    while text.startswith(f"{bag}: "):
        text = text[len(bag) + 2:]
    return text


def _failure(task: ShardTask, outcome: ShardResult | Exception) -> str | None:
    if isinstance(outcome, Exception):
        text = _reason(task.bag, str(outcome)) or type(outcome).__name__
    elif outcome.error:
        text = _reason(task.bag, outcome.error)
    else:
        return None
    where = task.describe()[len(task.bag):].strip()
    return f"{where}: {text}" if where else text


def _sum(plan: FleetPlan, by_bag: dict, result: FleetResult) -> None:
    """Each bag's shards in window order, then the good bags into the fleet's confusion matrix."""
    good = [o for outs in by_bag.values() for _, o in outs if isinstance(o, ShardResult)]
    if good:
        result.class_names, result.palette = list(good[0].class_names), good[0].palette
    for bag, outs in by_bag.items():
        summary = BagSummary(bag, result.class_names)
        outs.sort(key=lambda to: (to[0].pair, -1 if to[0].window[0] is None else to[0].window[0]))
        for task, outcome in outs:
            reason = _failure(task, outcome)
            summary.reason = summary.reason or reason
            if isinstance(outcome, ShardResult):
                summary.add(outcome)
        (result.bad if summary.reason else result.bags).append(summary)
    for bag, reason in plan.bad.items():
        result.bad.append(BagSummary(bag, result.class_names, reason=reason))
    result.bags.sort(key=lambda b: (b.miou is None, b.miou if b.miou is not None else 0.0))
    for b in result.bags:
        result.confusion = _plus(result.confusion, b.confusion)
        result.misses = _plus(result.misses, b.misses)


def _plus(total: np.ndarray | None, more: np.ndarray | None) -> np.ndarray | None:
    if more is None:
        return total
    return more.copy() if total is None else total + more


def make_executor(workers: int = 1, scheduler: str | None = None, dashboard: bool = False) -> Executor:
    """The in-process executor for one worker and no scheduler; else ``DaskExecutor(workers=, scheduler=,
    dashboard=)`` from :mod:`rgbt_seg_core.fleet.dask_executor`, imported only here so that the default never
    loads Dask. Without Dask installed, a RuntimeError that says what to install.

    Args:
        workers: ``--workers``: local worker processes (one thread each); 1 with no scheduler runs in-process.
        scheduler: ``--scheduler``: the address of a running Dask scheduler (``tcp://HOST:8786``).
        dashboard: ``--dashboard``: log the Dask dashboard's address (off by default).
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers == 1 and not scheduler:
        return InProcessExecutor()
    if importlib.util.find_spec("distributed") is None:  # said before anything starts, without importing Dask
        how = f"--scheduler {scheduler}" if scheduler else f"--workers {workers}"
        raise RuntimeError(f"{how} needs Dask distributed: {FLEET_EXTRA_HINT}")
    from rgbt_seg_core.fleet.dask_executor import DaskExecutor

    return DaskExecutor(workers=workers, scheduler=scheduler, dashboard=dashboard)
