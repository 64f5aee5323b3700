"""Several camera pairs' runtimes through one scheduler and one model call (issue 26): each pair's hand-over goes to
its slot in the shared scheduler, a batch is segmented in one call with each frame's own preprocessing, and each
pair's runtime counts and finishes its own frames; one pair's failing frame costs that pair alone its output."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.inference.preprocess import Preprocessing
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, Outputs, PairSlot, RuntimeConfig, SegmentationRuntime
from rgbt_seg_core.runtime import process_batch as run_batch
from rgbt_seg_core.runtime.batching import BatchScheduler
from rgbt_seg_core.runtime.imageconv import array_to_image_fields

H, W = 8, 12
S = 1_000_000_000
PAIRS = ("front", "rear", "left")


class BatchEngine:
    """Labels filled with the frame's thermal offset dx, so each frame shows whose preprocessing it got; a frame
    whose RGB is all 13 fails, as an unusable frame would."""

    palette = [[0, 0, 0]] * 16

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_frames(self, frames):
        self.batches.append(len(frames))
        if any(f.rgb is not None and (f.rgb == 13).all() for f in frames):
            raise ValueError("batch frame: unusable")
        return [self._one(f.rgb, f.thermal, f.preprocessing) for f in frames]

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None, preprocessing=None):
        assert thermal_checked
        self.batches.append(1)
        if rgb is not None and (rgb == 13).all():
            raise ValueError("unusable")
        return self._one(rgb, thermal, preprocessing)

    @staticmethod
    def _one(rgb, thermal, preprocessing):
        dx = preprocessing.thermal_offset[0] if preprocessing is not None else 0
        ref = rgb if rgb is not None else thermal
        return Prediction(np.full(ref.shape[:2], dx, np.uint8), None, None, 0.001)


def _msg(arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> SimpleNamespace:
    sec, nsec = divmod(stamp_ns, S)
    return SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nsec), frame_id=frame_id),
                           **array_to_image_fields(arr, encoding))


def _node(engine: BatchEngine, clock: FakeClock, pairs=PAIRS) -> tuple[BatchScheduler, dict[str, SegmentationRuntime]]:
    scheduler: BatchScheduler = BatchScheduler(list(pairs), clock=clock)
    runtimes = {p: SegmentationRuntime(engine, RuntimeConfig(frozen_timeout=0.0), clock=clock,
                                       handover=PairSlot(scheduler, p),
                                       preprocessing=Preprocessing(thermal_offset=(i, 0)))
                for i, p in enumerate(pairs)}
    return scheduler, runtimes


def _send(runtime: SegmentationRuntime, pair: str, stamp_ns: int, rgb_value: int | None = None) -> None:
    rgb = np.full((H, W, 3), 100 if rgb_value is None else rgb_value, np.uint8)
    runtime.add(RGB, _msg(rgb, "rgb8", stamp_ns, f"{pair}_rgb"))
    runtime.add(THERMAL, _msg(np.full((H, W), 50, np.uint8), "mono8", stamp_ns, f"{pair}_thermal"))


def test_each_pair_hands_over_to_its_slot_and_gets_its_own_preprocessing_in_one_call() -> None:
    engine, clock = BatchEngine(), FakeClock(10.0)
    scheduler, runtimes = _node(engine, clock)
    assert len(runtimes["front"].queue) == 0  # an empty slot is still the slot the pairs go to
    for i, pair in enumerate(PAIRS):
        _send(runtimes[pair], pair, (5 + i) * S)
    _send(runtimes["rear"], "rear", 9 * S)  # replaces rear's waiting pair: rear's drop, nobody else's
    assert len(runtimes["rear"].queue) == 1 and runtimes["rear"].counts["dropped"] == 1
    assert runtimes["front"].counts["dropped"] == 0
    batch = scheduler.take(timeout=0)
    assert batch is not None and batch.pairs == PAIRS
    results = run_batch(engine, [(runtimes[p], work, Outputs()) for p, work in batch])
    assert engine.batches == [3]
    for i, (pair, out) in enumerate(zip(PAIRS, results)):
        assert out is not None and out.header.frame_id == f"{pair}_rgb" and (out.labels == i).all()
        assert runtimes[pair].counts["processed"] == 1
    assert results[1].stamp_ns == 9 * S


def test_one_pairs_failing_frame_costs_that_pair_alone() -> None:
    engine, clock = BatchEngine(), FakeClock(10.0)
    scheduler, runtimes = _node(engine, clock)
    for pair in PAIRS:
        _send(runtimes[pair], pair, 5 * S, rgb_value=13 if pair == "rear" else None)
    batch = scheduler.take(timeout=0)
    results = run_batch(engine, [(runtimes[p], work, Outputs()) for p, work in batch])
    assert [out is not None for out in results] == [True, False, True]
    assert engine.batches == [3, 1, 1, 1]  # the batch, then each frame alone
    assert runtimes["rear"].counts["inference_errors"] == 1 and "unusable" in runtimes["rear"].last_error
    assert all(runtimes[p].counts["inference_errors"] == 0 for p in ("front", "left"))
    assert not runtimes["rear"]._busy


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(PAIRS), st.integers(0, 40), st.booleans()), min_size=1,
                      max_size=30))
def test_every_frame_handed_over_ends_once_in_its_own_pairs_counts(steps) -> None:
    """Random stamps (some stepping back), subscribers coming and going: every pair put in the scheduler is
    served, dropped or still waiting; every served one ends exactly once in its own runtime's counts, and an output
    carries its own pair's header and preprocessing."""
    engine, clock = BatchEngine(), FakeClock(10.0)
    scheduler, runtimes = _node(engine, clock)
    for pair, stamp, wanted in steps:
        clock.advance(0.01)
        _send(runtimes[pair], pair, 100 * S + stamp * S // 10)
        if wanted or len(scheduler) == len(PAIRS):
            batch = scheduler.take(timeout=0)
            want = Outputs(labels=wanted)
            for (p, _), out in zip(batch, run_batch(engine, [(runtimes[p], w, want) for p, w in batch])):
                if out is not None:
                    assert out.header.frame_id == f"{p}_rgb" and (out.labels == PAIRS.index(p)).all()
    stats = scheduler.stats()
    for pair, rt in runtimes.items():
        c, sc = rt.counts, stats.pairs[pair]
        ended = c["processed"] + c["skipped_no_subscribers"] + c["out_of_order"] + c["inference_errors"]
        assert sc.served == ended and sc.received == c["pairs"] + c["single_modality"]
        assert sc.received == sc.served + sc.dropped + int(sc.waiting) and c["dropped"] == sc.dropped
