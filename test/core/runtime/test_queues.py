"""Hand-over to the inference worker: the newest slot keeps one item (the live node segments the latest frame and
counts what it replaced), the FIFO keeps all of them in order; both wake a waiting worker on put and on close."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime.queues import FifoQueue, NewestSlot

OPS = st.lists(st.one_of(st.tuples(st.just("put"), st.integers()), st.tuples(st.just("take"), st.none())),
               max_size=50)


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_newest_slot_keeps_the_latest_and_returns_what_it_replaced(ops: list) -> None:
    slot: NewestSlot[int] = NewestSlot()
    held: int | None = None
    for op, value in ops:
        if op == "put":
            assert slot.put(value) == held
            held = value
        else:
            assert slot.take(timeout=0) == held
            held = None
        assert len(slot) == (held is not None)


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_fifo_keeps_every_item_in_order(ops: list) -> None:
    queue: FifoQueue[int] = FifoQueue()
    model: list[int] = []
    for op, value in ops:
        if op == "put":
            assert queue.put(value) is None
            model.append(value)
        else:
            assert queue.take(timeout=0) == (model.pop(0) if model else None)
        assert len(queue) == len(model)


@pytest.mark.parametrize("kind", [NewestSlot, FifoQueue])
def test_take_waits_for_a_put_from_another_thread(kind: type) -> None:
    q = kind()
    timer = threading.Timer(0.05, q.put, args=("frame",))
    timer.start()
    started = time.monotonic()
    try:
        assert q.take(timeout=10.0) == "frame"
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("kind", [NewestSlot, FifoQueue])
def test_close_wakes_a_waiting_worker_and_an_empty_take_times_out(kind: type) -> None:
    q = kind()
    started = time.monotonic()
    assert q.take(timeout=0.05) is None and time.monotonic() - started >= 0.04
    assert q.take(timeout=0) is None
    got: list = []
    worker = threading.Thread(target=lambda: got.append(q.take(timeout=30.0)))
    worker.start()
    time.sleep(0.05)
    q.close()
    worker.join(timeout=5.0)
    assert not worker.is_alive() and got == [None]
    assert q.take() is None  # closed and empty: returns at once, even without a timeout


@pytest.mark.parametrize("kind", [NewestSlot, FifoQueue])
def test_items_put_before_close_are_still_taken(kind: type) -> None:
    q = kind()
    q.put(1)
    q.close()
    assert q.take() == 1 and q.take() is None
