"""One shard's replay: a window of a bag's time, counted so that a bag's shards sum exactly to the whole bag.

Every count is attributed by bag time, the clock the offline runtime runs on (:mod:`rgbt_seg_core.bags.replay`):
a message belongs to the window its bag time lies in, and a hand-over (a pair, or a frame segmented alone) to the
window of the message that completed it, its *decision time*. Each shard owns the half-open window [start, stop),
so every message and every hand-over belongs to exactly one shard: nothing is counted twice or lost.

The runtime carries state from message to message: the pairing queues, each camera's last frame (silence and
the camera-failure fallback), the run of identical frames (frozen camera), the last stamp per camera (clock
jumps) and the last output's stamp (order). So a shard does not start cold at its window. It reads from
:func:`lead_ns` before the window (the warm-up: messages go through the runtime, hand-overs only move the order
check on, nothing is segmented) and as long after it (the tail: to see its frames pair with later ones and its
outputs meet their labels; hand-overs there are the next shard's). ``lead = modality_timeout + frozen_timeout +
slop + 0.25 s``. Where the warm-up does not reach back to the bag's start, the runtime is told the node had been
running before it: a camera silent through the whole warm-up has failed by the window, as it had in the whole
replay.

What the warm-up makes equal, and what it cannot. Silence verdicts (and so the RGB-only and thermal-only
fallbacks) agree exactly, unless the bag's first usable frame falls inside the warm-up after unusable ones. Pairing
agrees wherever a pair's two frames are recorded within ``lead`` of each other and a camera's stamps do not step
back by more than that; an output meets its label wherever they are recorded within ``lead``. The identical-frame
run of a frozen camera is timed from the warm-up, so a camera that had sent no frame for over ``modality_timeout +
slop + 0.25 s`` before ``frozen_timeout`` ahead of the window and comes back repeating its last frame bit for bit is
judged frozen later than in the whole replay; a camera that comes back after a gap of over ``lead`` in its usable
frames with a jumped clock is not seen to jump (no earlier stamp to compare with). The order check forgets the last
output when there was none in the warm-up, and counts every warm-up hand-over as segmented (the warm-up does not
run the model), which differs after an inference error. Labels are matched on the output's stamp, as
:func:`~rgbt_seg_core.bags.evaluate.evaluate_bag` matches them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rgbt_seg_core.bags.io import BagImage
from rgbt_seg_core.bags.replay import BagReplay
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix
from rgbt_seg_core.fleet.records import ShardResult, ShardTask, Window
from rgbt_seg_core.inference.engine import InferenceEngine, Preprocessing
from rgbt_seg_core.runtime import Outputs, RuntimeConfig, Work
from rgbt_seg_core.runtime.pairing import slop_to_ns

__all__ = ["evaluate_window", "lead_ns", "WARM", "OWN", "TAIL"]

WARM, OWN, TAIL = 0, 1, 2
MARGIN_S = 0.25  # beyond the slop: how far apart in bag time a pair's two frames and its label may be recorded


def lead_ns(config: RuntimeConfig) -> int:
    """How much bag time a shard reads before and after its window (see the module's docstring)."""
    return slop_to_ns(config.modality_timeout + config.frozen_timeout + config.slop + MARGIN_S)


class _Phases:
    """Which part of the shard a time falls in. Judged on the runtime clock's float seconds (``bag_time_ns * 1e-9``,
    as the replay sets it), so that a frame's ``arrival`` is judged exactly as the message it came in."""

    def __init__(self, window: Window) -> None:
        start, stop = window
        self.start = None if start is None else start * 1e-9
        self.stop = None if stop is None else stop * 1e-9

    def of(self, seconds: float) -> int:
        if self.start is not None and seconds < self.start:
            return WARM
        if self.stop is not None and seconds >= self.stop:
            return TAIL
        return OWN


class _ShardCount:
    """The counting of one shard's replay: phase changes snapshot the runtime's counters, the shard's own outputs
    are segmented and scored, and its own frames are followed to see whether they paired."""

    def __init__(self, replay: BagReplay, task: ShardTask, res: ShardResult) -> None:
        self.replay, self.res, self.topics = replay, res, task.topics
        self.phases = _Phases(task.window)
        self.phase = WARM if task.window[0] is not None else OWN
        self.before = self._snapshot() if self.phase == OWN else None
        self.after: tuple[dict[str, int], int] | None = None
        self.paired_own = 0  # own frames that left the pairing in a pair, in this window or in the tail
        self.pred: dict[int, np.ndarray] = {}
        self.gt: dict[int, np.ndarray] = {}
        self.confusion = ConfusionMatrix(len(res.class_names))

    def _snapshot(self) -> tuple[dict[str, int], int]:
        rt = self.replay.runtime
        return dict(rt.counts), sum(rt.pairer.stats.received)

    def on_item(self, item: BagImage) -> None:
        phase = self.phases.of(item.bag_time_ns * 1e-9)
        if phase != self.phase:
            if self.phase == WARM:
                self.before = self._snapshot()
            if phase == TAIL:
                self.after = self._snapshot()
            self.phase = phase
        if phase == OWN:
            self.res.received[item.topic] = self.res.received.get(item.topic, 0) + 1

    def on_label(self, item: BagImage, gt: np.ndarray | None) -> None:
        if gt is None:
            self.res.bad_frames += self.phase == OWN
        else:
            self._match(self.gt, item.stamp_ns, gt)

    def on_work(self, work: Work, bag_time_ns: int) -> None:
        runtime = self.replay.runtime
        if self.phase == WARM:  # the node segmented it before the window: only the order check moves on
            stamp = work.lead.stamp_ns
            if runtime.order.accepts(stamp):
                runtime.order.commit(stamp)
            return
        if work.rgb is not None and work.thermal is not None:
            self.paired_own += sum(self.phases.of(f.arrival) == OWN for f in (work.rgb, work.thermal))
        if self.phase == TAIL:
            return  # the next shard's
        self.res.rgb_only += work.thermal is None
        self.res.thermal_only += work.rgb is None
        out = runtime.process(work, Outputs(labels=True))
        if out is None:
            return
        self.res.model_seconds += out.model_seconds
        self.res.stamps.append(out.stamp_ns)
        self._match(self.pred, out.stamp_ns, out.labels)

    def _match(self, which: dict[int, np.ndarray], stamp_ns: int, labels: np.ndarray) -> None:
        which[stamp_ns] = labels
        if stamp_ns in self.pred and stamp_ns in self.gt:
            gt, pred = self.gt.pop(stamp_ns), self.pred.pop(stamp_ns)
            if gt.shape != pred.shape:
                self.res.bad_frames += 1
                return
            self.confusion.update(gt, pred)
            self.res.evaluated += 1

    def finish(self) -> None:
        end = self._snapshot()
        after = self.after or end
        before = self.before or after  # a window no message fell in counts nothing
        counts = {k: after[0][k] - before[0][k] for k in after[0]}
        res = self.res
        res.runtime = counts
        res.confusion, res.misses = self.confusion.matrix, self.confusion.unlabelled
        res.pairs = counts["processed"]
        res.bad_frames += counts["bad_rgb"] + counts["bad_thermal"]
        res.unpaired = after[1] - before[1] - self.paired_own
        res.unlabelled = len(self.pred)
        res.frames = res.received.get(self.topics.rgb, 0) + res.received.get(self.topics.thermal, 0)


def evaluate_window(task: ShardTask, engine: InferenceEngine, config: RuntimeConfig,
                    preprocessing: Preprocessing | None) -> ShardResult:
    """Replay ``task``'s window of its bag through a runtime with ``config`` and ``preprocessing`` (the pair's),
    segmenting with ``engine`` and scoring against the bag's labels; the counts are the window's alone."""
    start, stop = task.window
    lead = lead_ns(config)
    span = (None if start is None else start - lead, None if stop is None else stop + lead)
    replay = BagReplay(Path(task.bag), task.topics, True, engine, config, preprocessing, span=span)
    if span[0] is not None and task.bag_start_ns is not None and span[0] > task.bag_start_ns:
        # the node had run before the warm-up began: a camera silent through all of it has failed by the window
        replay.runtime.monitor.first_any = span[0] * 1e-9
    res = ShardResult(task.bag, task.pair, task.window, list(engine.class_names),
                      [list(map(int, c)) for c in engine.palette])
    count = _ShardCount(replay, task, res)
    t0 = time.perf_counter()
    replay.run(count.on_work, count.on_label, on_item=count.on_item)
    res.seconds = time.perf_counter() - t0
    count.finish()
    res.error = replay.error
    return res
