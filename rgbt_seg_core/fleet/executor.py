"""The executor seam: how shard tasks are run, in this process or on a cluster.

``bag-eval`` over many bags only needs an executor that takes picklable tasks and a module-level function and hands
back each task with its result as tasks complete, in any order. :class:`InProcessExecutor` (``--workers 1``, the
default) runs them one after another here and never imports Dask; ``fleet.dask_executor.DaskExecutor`` (the
``[fleet]`` extra) implements the same :class:`Executor` protocol on a local Dask cluster or an existing scheduler.
:func:`rgbt_seg_core.fleet.evaluate.make_executor` chooses between them and imports Dask only when it is asked for
(there, not here, as the Dask executor imports this module).

The contract, for every executor:

* ``map(tasks, fn)`` yields ``(task, outcome)`` exactly once per task, as each completes. ``outcome`` is
  ``fn(task)``'s return value, or the exception ``fn(task)`` raised (an ``Exception``, never re-raised by the
  executor: one bad shard must not stop the fleet). A task whose worker died is run again by the executor and
  still yielded once.
* ``fn`` is a module-level function and every task is picklable, so that a remote executor can ship both.
* ``KeyboardInterrupt`` in the consumer (or in the executor) propagates; ``close()`` then cancels what is left.
  Results already yielded are the consumer's to keep (the shard cache writes each as it arrives).
* ``close()`` releases workers and clusters; it is idempotent, and ``with`` calls it.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol, TypeVar

__all__ = ["Executor", "InProcessExecutor", "FLEET_EXTRA_HINT"]

T = TypeVar("T")
R = TypeVar("R")

FLEET_EXTRA_HINT = "pip install 'rgbt-seg[fleet]'"


class Executor(Protocol):
    """Runs ``fn`` over tasks; see the module's docstring for the contract every implementation keeps."""

    def map(self, tasks: Iterable[T], fn: Callable[[T], R]) -> Iterator[tuple[T, R | Exception]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...


class InProcessExecutor:
    """Each task in turn, in this process and thread: the default, and the reference the others must equal."""

    def map(self, tasks: Iterable[T], fn: Callable[[T], R]) -> Iterator[tuple[T, R | Exception]]:
        for task in tasks:
            try:
                outcome: R | Exception = fn(task)
            except Exception as exc:  # noqa: BLE001  (one task's failure is its result; Ctrl-C still propagates)
                outcome = exc
            yield task, outcome

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> "InProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
