"""Hand-over from the input side to the inference worker.

:class:`NewestSlot` keeps only the newest item: a live node must segment the latest frame, not a backlog, so an
item that arrives while another waits replaces it (the caller counts that as dropped). :class:`FifoQueue` keeps
every item, for offline replays where each pair must be processed.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["NewestSlot", "FifoQueue"]

T = TypeVar("T")


class NewestSlot(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> T | None:
        """Store ``item``; returns the item it replaced (dropped unprocessed), if any."""
        with self._cond:
            old, self._item = self._item, item
            self._cond.notify()
            return old

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting item, waiting up to ``timeout`` seconds (0: don't wait); None if none came or closed."""
        with self._cond:
            if self._item is None and not self._closed and timeout != 0:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return int(self._item is not None)


class FifoQueue(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._closed = False

    def put(self, item: T) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()
            return None

    def take(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if not self._items and not self._closed and timeout != 0:
                self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)
