"""The runtime's debug lines, with a fake clock: each decision that changes what is published (a pair dropped and
why, a fallback entered or left, a stale frame) is explained once per kind per period, and nothing is formatted
while debug is off."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import raw_message
from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, Outputs, RuntimeConfig, SegmentationRuntime

S = 1_000_000_000
MS = 1_000_000


class LabelsOnly:
    palette = [[0, 0, 0], [255, 255, 255]]

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        ref = rgb if rgb is not None else thermal
        return Prediction(np.zeros(ref.shape[:2], np.uint8), None, None, 0.0, None, None)


class Lines:
    """The runtime's logger, and its debug switch (counting how often it is asked)."""

    def __init__(self, debug: bool = True) -> None:
        self.lines: list[tuple[int, str]] = []
        self.on = debug
        self.asked = 0

    def __call__(self, level: int, text: str) -> None:
        self.lines.append((level, text))

    def enabled(self) -> bool:
        self.asked += 1
        return self.on

    def debug(self, *needles: str) -> list[str]:
        return [t for lvl, t in self.lines if lvl == logging.DEBUG and all(n in t for n in needles)]


def frame(modality: int, stamp_ns: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    if modality == RGB:
        return raw_message(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "rgb8", stamp_ns=stamp_ns)
    return raw_message(rng.integers(0, 256, (6, 8), dtype=np.uint8), "mono8", stamp_ns=stamp_ns)


def make(clock: FakeClock, lines: Lines, **cfg) -> SegmentationRuntime:
    return SegmentationRuntime(LabelsOnly(), RuntimeConfig(**cfg), clock=clock, logger=lines, debug=lines.enabled)


def pair(rt: SegmentationRuntime, stamp_ns: int, seed: int = 0) -> None:
    rt.add(RGB, frame(RGB, stamp_ns, seed))
    rt.add(THERMAL, frame(THERMAL, stamp_ns, seed + 1))


def test_a_pair_replaced_in_the_newest_slot_is_explained_and_throttled() -> None:
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines)
    for k in range(4):  # nobody takes: each pair replaces the one before
        pair(rt, 10 * S + k * 50 * MS, k)
    assert rt.counts["dropped"] == 3
    (line,) = lines.debug("dropped unsegmented")
    assert "pair at 10.000 s" in line and "pair at 10.050 s replaced it" in line and "newest-only" in line
    clock.advance(5.0)
    pair(rt, 20 * S, 9)
    assert lines.debug("dropped unsegmented")[-1].endswith("(2 more like this in the last 5 s)")


def test_unpaired_stale_and_same_stamp_frames_are_explained() -> None:
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines, queue_size=2)
    for k in range(3):  # no thermal frame: the third evicts the oldest
        rt.add(RGB, frame(RGB, 10 * S + k * 100 * MS, k))
    (line,) = lines.debug("rgb frame dropped unpaired")
    assert "queue_size=2" in line and "no thermal frame within slop=0.05 s" in line
    rt.add(RGB, frame(RGB, 10 * S + 150 * MS, 5))  # older than the newest rgb frame (10.2 s)
    (line,) = lines.debug("stale rgb frame")
    assert "stamp 10.150 s" in line
    rt.add(THERMAL, frame(THERMAL, 30 * S))
    rt.add(THERMAL, frame(THERMAL, 30 * S, 3))
    (line,) = lines.debug("thermal frame dropped unpaired", "same stamp 30.000 s")


def test_fallback_entered_and_left_is_explained_once_each() -> None:
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines, modality_timeout=1.0)
    pair(rt, 10 * S)
    clock.advance(1.5)  # the RGB camera goes silent
    for k in range(3):
        rt.add(THERMAL, frame(THERMAL, 12 * S + k * 50 * MS, k))
        clock.advance(0.05)
    (line,) = lines.debug("segmenting thermal alone")
    assert line.startswith("rgb camera silent for 1.5 s (modality_timeout=1 s)") and "rgb blanked" in line
    assert rt.counts["single_modality"] == 3
    pair(rt, 13 * S)
    rt.add(THERMAL, frame(THERMAL, 13 * S + 50 * MS))
    assert len(lines.debug("rgb camera usable again")) == 1


def test_a_frozen_camera_fallback_says_frozen() -> None:
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines, frozen_timeout=1.0, modality_timeout=10.0)
    for k in range(30):  # thermal repeats one frame; rgb changes
        stamp = 10 * S + k * 100 * MS
        rt.add(RGB, frame(RGB, stamp, k))
        rt.add(THERMAL, frame(THERMAL, stamp, 0))
        clock.advance(0.1)
    (line,) = lines.debug("segmenting rgb alone")
    assert line.startswith("thermal camera frozen (identical frames for") and "frozen_timeout=1 s" in line


def test_out_of_order_and_unsubscribed_pairs_are_explained() -> None:
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines, realtime=False)
    pair(rt, 10 * S)
    pair(rt, 9 * S)
    for _ in range(2):
        rt.process(rt.take(0))
    (line,) = lines.debug("out of order")
    assert "pair at 9.000 s" in line and "last output (10.000 s)" in line and "jump_threshold=2 s" in line
    pair(rt, 11 * S)
    assert rt.process(rt.take(0), Outputs(labels=False)) is None
    (line,) = lines.debug("pair at 11.000 s not segmented: no output has a subscriber")


def test_nothing_is_formatted_while_debug_is_off() -> None:
    clock, lines = FakeClock(), Lines(debug=False)
    rt = make(clock, lines, queue_size=1, modality_timeout=1.0)
    for k in range(5):
        pair(rt, 10 * S + k * 50 * MS, k)
    clock.advance(2.0)
    rt.add(THERMAL, frame(THERMAL, 13 * S))
    assert lines.asked > 0 and not lines.debug()
    lines.on = True  # the level is asked each time: switched on while running, the lines come
    pair(rt, 14 * S)
    assert lines.debug("rgb camera usable again")


def test_the_default_switch_is_the_modules_logging_level(caplog) -> None:
    clock = FakeClock()
    rt = SegmentationRuntime(LabelsOnly(), RuntimeConfig(), clock=clock)
    with caplog.at_level(logging.INFO, logger="rgbt_seg_core.runtime.runtime"):
        pair(rt, S)
        pair(rt, 2 * S)
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]
    with caplog.at_level(logging.DEBUG, logger="rgbt_seg_core.runtime.runtime"):
        pair(rt, 3 * S)
    assert any("dropped unsegmented" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


@settings(max_examples=100, deadline=None)
@given(script=st.lists(st.tuples(st.integers(0, 3), st.integers(-3 * S, 3 * S), st.floats(0, 2)), max_size=40),
       realtime=st.booleans(), queue_size=st.integers(1, 3))
def test_any_stream_gives_well_formed_debug_lines(script, realtime: bool, queue_size: int) -> None:
    """Every debug line's format matches its arguments, whatever order frames come in."""
    clock, lines = FakeClock(), Lines()
    rt = make(clock, lines, realtime=realtime, queue_size=queue_size, modality_timeout=0.5, frozen_timeout=1.0)
    for action, stamp_offset, dt in script:
        clock.advance(dt)
        if action in (RGB, THERMAL):
            rt.add(action, frame(action, 100 * S + stamp_offset, stamp_offset % 3))
        elif (work := rt.take(0)) is not None:
            rt.process(work, Outputs(labels=action == 2))
    for level, text in lines.lines:
        assert isinstance(text, str) and text and "%" not in text
