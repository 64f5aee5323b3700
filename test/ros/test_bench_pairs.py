"""The pure parts of ``rgbt-seg bench node --pairs``: the cameras' schedule, the model status's batch sizes as the
node writes them, per pair counts and latency, RSS from /proc. The run itself is in test_bench_node.py."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("rclpy")

from rgbt_seg_ros.bench_pairs import batch_histogram, check_pairs_args, latency_row, pair_names, rss_kib, schedule  # noqa: E402

pytestmark = pytest.mark.ros


@given(st.integers(1, 16), st.integers(1, 40), st.floats(0.1, 200.0))
def test_schedule_publishes_every_pair_at_its_rate_with_spread_phases(pairs: int, frames: int, rate: float) -> None:
    plan = schedule(pairs, frames, rate)
    assert len(plan) == pairs * frames
    assert [t for t, _, _ in plan] == sorted(t for t, _, _ in plan)
    for i in range(pairs):
        times = [t for t, p, _ in plan if p == i]
        assert [k for _, p, k in plan if p == i] == list(range(frames))
        assert times[0] == pytest.approx(i / (rate * pairs))
        assert all(b - a == pytest.approx(1 / rate) for a, b in zip(times, times[1:]))


@given(st.dictionaries(st.integers(1, 16), st.integers(0, 10**6), max_size=16))
def test_batch_histogram_reads_what_the_model_status_writes(sizes: dict[int, int]) -> None:
    text = ", ".join(f"{n}: {count}" for n, count in sorted(sizes.items()))  # as pipeline._model_status writes it
    assert batch_histogram(text) == sizes


def test_batch_histogram_refuses_a_malformed_value() -> None:
    with pytest.raises(ValueError):
        batch_histogram("1: x")


@given(st.dictionaries(st.integers(0, 10**12), st.floats(0, 1e3), max_size=30), st.data())
def test_latency_row_counts_add_up(published: dict[int, float], data: st.DataObject) -> None:
    labelled = data.draw(st.sets(st.sampled_from(sorted(published)) if published else st.nothing()))
    extra = data.draw(st.sets(st.integers(-100, -1), max_size=3))  # labels of frames not in the timed stream
    delay = data.draw(st.floats(0, 10))
    arrived = {s: published[s] + delay for s in labelled} | {s: 0.0 for s in extra}
    row = latency_row(published, arrived)
    assert row["published"] == len(published) and row["labelled"] == len(labelled)
    assert row["labelled"] + row["dropped"] == row["published"]
    if labelled:
        assert row["latency_ms_p50"] == pytest.approx(1e3 * delay, abs=0.01)
        assert row["latency_ms_p95"] >= row["latency_ms_p50"]
    else:
        assert row["latency_ms_p50"] is None and row["latency_ms_p95"] is None


def test_rss_of_this_process_and_a_missing_key_named() -> None:
    assert rss_kib(os.getpid(), "VmHWM") >= rss_kib(os.getpid()) > 0
    with pytest.raises(RuntimeError, match="/proc/.*/status has no VmNothing"):
        rss_kib(os.getpid(), "VmNothing")


def test_pair_names_and_argument_checks() -> None:
    assert pair_names(3) == ["p0", "p1", "p2"]
    check_pairs_args(16, 0.5, 1)
    for bad, flag in (((0, 1.0, 1), "--pairs"), ((2, float("nan"), 1), "--rate"), ((2, 1.0, 0), "--frames")):
        with pytest.raises(ValueError, match=flag):
            check_pairs_args(*bad)
