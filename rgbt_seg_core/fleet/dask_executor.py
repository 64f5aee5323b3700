"""``--workers N`` and ``--scheduler ADDRESS``: the :class:`~rgbt_seg_core.fleet.executor.Executor` contract kept on
Dask distributed (the ``[fleet]`` extra), for a fleet of bags on one workstation or on a cluster.

Why it is set up as it is:

* **Local default**: a ``LocalCluster`` of N worker *processes* of one thread each (torch and the replay hold the
  GIL for much of a frame, so threads would not scale), with the scheduler, the workers and their HTTP servers
  bound to 127.0.0.1 and no dashboard unless asked for. Nothing listens off the loopback and nothing leaves the
  machine: ``host`` keeps Dask from asking ``get_ip()`` for the machine's outward address (a UDP connect to
  8.8.8.8), and test/test_no_traffic.py traces a run under strace. The workers fork from one server that has
  imported the shards' code once (:func:`_local_worker_settings`), rather than each importing torch afresh.
* **Threads**: a worker runs one shard at a time, and torch and OpenCV compute with as many threads as it was given
  (1 locally; ``dask worker --nthreads T`` on a cluster). One shard at a time, because the per-process engine cache
  (:func:`~rgbt_seg_core.fleet.shards.cached_engine`) must build a model once, not once per concurrent shard, and an
  engine is not made to be called from several threads at once. Dask sets ``OMP_NUM_THREADS=1`` in every worker
  it spawns (``distributed.nanny.pre-spawn-environ``), so the thread count is set on torch and OpenCV themselves.
* **As they complete**: results come back through ``as_completed``, so the caller's progress bar moves with
  whichever worker finishes, and one slow bag does not hold up the report of the others.
* **A worker that dies mid-shard** (killed, out of memory): the scheduler runs the shard again on a live worker, up
  to ``distributed.scheduler.allowed-failures`` times, and its future completes once, so the shard is yielded and
  counted once. A shard that kills every worker it lands on comes back as an error naming it (``KilledWorker``),
  and the rest of the fleet stands.
* **Ctrl-C**: ``KeyboardInterrupt`` propagates; :meth:`DaskExecutor.close` (``with`` calls it) cancels the shards
  still out and shuts the cluster down. What was yielded before stays the caller's (the shard cache writes each
  result as it arrives), and Dask's warnings about the cancelled shards are held back, as the user asked for them
  to stop.
"""

from __future__ import annotations

import importlib.util
import logging
import resource
import threading
import uuid
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterable, Iterator, TypeVar

from rgbt_seg_core.fleet.executor import FLEET_EXTRA_HINT

__all__ = ["DaskExecutor", "start_forkserver", "DASHBOARD_ADDRESS", "LOOPBACK"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

LOOPBACK = "127.0.0.1"
DASHBOARD_ADDRESS = f"{LOOPBACK}:8787"  # Dask's usual port; Dask takes a free one, and says so, when it is taken
SHARD_MODULE = "rgbt_seg_core.fleet.shards"  # what every worker of a fleet imports: preloaded once (forkserver)
CONNECT_TIMEOUT_S = 30  # --scheduler: how long a scheduler may take to answer before the run is refused

# One shard at a time in each worker process (see the module's docstring).
_ONE_SHARD_AT_A_TIME = threading.Lock()


def _require_distributed() -> Any:
    """``distributed``, or an ImportError that says which extra installs it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"bag-eval --workers/--scheduler runs on Dask distributed, which is not installed: "
                          f"{FLEET_EXTRA_HINT}") from exc
    return distributed


class DaskExecutor:
    """Runs ``fn`` over tasks on a local Dask cluster (``workers`` processes) or on the running cluster whose
    scheduler is at ``scheduler``; keeps :mod:`rgbt_seg_core.fleet.executor`'s contract."""

    def __init__(self, workers: int = 2, scheduler: str | None = None, dashboard: bool = False, *,
                 threads_per_worker: int = 1, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Start the local cluster (or connect to ``scheduler``) and wait for it to answer.

        Args:
            workers: ``--workers``: local worker processes; ignored with ``scheduler``, whose workers are its own.
            scheduler: ``--scheduler``: a running Dask scheduler (``tcp://HOST:8786``); None starts a local cluster.
            dashboard: ``--dashboard``: serve the local cluster's dashboard on 127.0.0.1 and log its address (and
                the address of a remote scheduler's, where it has one).
            threads_per_worker: threads of each local worker, and so torch's threads in it.
            connect_timeout: seconds ``scheduler`` may take to answer.
        """
        if workers < 1 or threads_per_worker < 1:
            raise ValueError(f"--workers and threads per worker must be >= 1, got {workers} and "
                             f"{threads_per_worker}")
        distributed = _require_distributed()
        _dask_logs_at_warning()
        self.cluster: Any = None
        self._outstanding: set[Any] = set()
        self._config: Any = None
        if scheduler:
            self.client = self._connect(distributed, scheduler, connect_timeout)
        else:
            self._config = _local_worker_settings()
            try:
                self.cluster = _local_cluster(distributed, workers, threads_per_worker, dashboard)
                self.client = distributed.Client(self.cluster)
            except BaseException:
                self._restore_config()
                raise
        if dashboard:
            self._log_dashboard()

    @staticmethod
    def _connect(distributed: Any, scheduler: str, timeout: float) -> Any:
        """A client of the scheduler at ``scheduler``, or an error that names the address."""
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConnectionError(f"--scheduler {scheduler}: no Dask scheduler answered within {timeout:g} s "
                                  f"({exc}); start one with `dask scheduler` and workers with `dask worker "
                                  f"{scheduler}`") from exc
        if not client.scheduler_info().get("workers"):
            log.warning("--scheduler %s has no workers yet; the shards wait until one joins (`dask worker %s`)",
                        scheduler, scheduler)
        return client

    def _log_dashboard(self) -> None:
        if "dashboard" not in self.client.scheduler_info().get("services", {}):
            log.warning("--dashboard: the Dask scheduler serves no dashboard")
            return
        if self.cluster is not None and importlib.util.find_spec("bokeh") is None:  # an address with no page
            log.warning("--dashboard: Dask draws its dashboard with bokeh, which is not installed here: "
                        "pip install 'bokeh>=3.1'")
        log.info("Dask dashboard: %s", self.client.dashboard_link)

    @property
    def worker_count(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def map(self, tasks: Iterable[T], fn: Callable[[T], R]) -> Iterator[tuple[T, R | Exception]]:
        """Each task with ``fn(task)`` or the exception it raised, once per task, as they complete on the workers.

        Args:
            tasks: picklable tasks.
            fn: a module-level function the workers can import.
        """
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("this DaskExecutor is closed")
        name = getattr(fn, "__name__", "task")  # the tasks' name on the dashboard
        pending = {self.client.submit(_run_one, fn, task, key=f"{name}-{uuid.uuid4().hex}"): task for task in tasks}
        self._outstanding |= set(pending)
        try:
            for future in as_completed(list(pending)):
                task = pending.pop(future)
                self._outstanding.discard(future)
                outcome = _outcome(future, task)
                future.release()  # the result is the caller's now; the cluster need not keep it
                yield task, outcome
        finally:
            # the caller stopped early (Ctrl-C, an error, a break): nothing left should run
            if pending and self.client is not None:
                self.client.cancel(list(pending))
                self._outstanding -= set(pending)

    def worker_peak_rss_mb(self) -> dict[str, float]:
        """Each worker process's peak resident memory so far, in MiB, by worker address."""
        return self.client.run(_peak_rss_mb)

    def close(self, interrupted: bool = False) -> None:
        """Cancel what is still out and shut down the client (and the local cluster); idempotent.

        Args:
            interrupted: the run was stopped (Ctrl-C): Dask's warnings about the shards it cancels are not shown.
        """
        if self.client is None:
            return
        with _quiet_dask() if interrupted else nullcontext():
            try:
                if self._outstanding:
                    self.client.cancel(list(self._outstanding))
                    self._outstanding.clear()
                self.client.close()
            finally:
                self.client = None
                try:
                    if self.cluster is not None:
                        self.cluster.close()
                finally:
                    self._restore_config()

    def _restore_config(self) -> None:
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(interrupted=bool(exc) and exc[0] is KeyboardInterrupt)


def start_forkserver() -> None:
    """Start the server that local workers fork from now, importing the shards' code, instead of with the first
    cluster: ``bench fleet`` times that one-time import apart from each cluster it starts."""
    import multiprocessing
    import os

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    config = _local_worker_settings()
    # the thread variables Dask sets before it starts a worker, so that the server imports torch and OpenCV under
    # them, as it does when a cluster starts it; this process's own are left as they were
    wanted = _worker_environ()
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        worker = multiprocessing.get_context("forkserver").Process(target=int)  # returns at once: the server is up
        worker.start()
        worker.join()
    finally:
        config.__exit__(None, None, None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _local_cluster(distributed: Any, workers: int, threads: int, dashboard: bool) -> Any:
    """A LocalCluster on the loopback. Its scheduler's HTTP server (health, metrics) runs without a dashboard too:
    on a free loopback port then, so that it takes no one's 8787."""
    http = {} if dashboard else {"dashboard": False, "dashboard_address": f"{LOOPBACK}:0"}
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, host=LOOPBACK,
                                    dashboard_address=DASHBOARD_ADDRESS if dashboard else None,
                                    worker_dashboard_address=None, scheduler_kwargs=http)


def _local_worker_settings() -> Any:
    """Dask's settings for local workers, for as long as the cluster runs (a restarted worker starts the same way);
    the returned object restores them.

    * Workers forked from one server that has imported the shards' code (torch, the engine, the runtime) once,
      instead of each spawned afresh and importing it again: measured here with 2 workers, the first result came 2x
      sooner, a killed worker was back at once, and the cluster closed in 0.1 s instead of 4 s (spawned workers were
      still importing). Dask sets the workers' thread variables (``OMP_NUM_THREADS``) before the first worker
      starts, so the server, started then, has them. Spawned where the platform has no forkserver.
    * Without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``: set, it makes glibc map and unmap every large tensor afresh
      (setting it turns off malloc's adaptive mmap threshold), and a worker segmented 1.6x slower than this process
      (bench fleet's bags, 2.85 s against 4.6 s a bag).
    """
    import multiprocessing

    import dask
    from distributed.utils import get_mp_context

    settings: dict[str, Any] = {"distributed.nanny.pre-spawn-environ": _worker_environ()}
    forkserver = "forkserver" in multiprocessing.get_all_start_methods()
    if forkserver:
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
    config = dask.config.set(settings)
    if forkserver:  # after Dask's own preload list (set on its first call), which this replaces: both, then
        get_mp_context().set_forkserver_preload(["distributed", "numpy", SHARD_MODULE])
    return config


def _worker_environ() -> dict[str, str]:
    """The variables Dask sets before a worker starts, less the malloc setting that slows torch down."""
    import dask

    environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    return {k: str(v) for k, v in environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}


def _dask_logs_at_warning() -> None:
    """Dask's INFO lines (every connection, every worker's start and stop; Dask sets its logger to INFO) at WARNING,
    unless this process logs DEBUG (``rgbt-seg -v``): a tool's user wants the fleet's progress, not the cluster's
    bookkeeping."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    for name in ("distributed", "tornado"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _run_one(fn: Callable[[T], R], task: T) -> R:
    """On a worker: ``fn(task)``, one at a time in this process, torch computing with the worker's threads."""
    with _ONE_SHARD_AT_A_TIME:
        _use_worker_threads()
        return fn(task)


def _use_worker_threads() -> None:
    """torch's and OpenCV's thread pools (the frames' decoding and resizing) sized to the worker's threads."""
    import cv2
    import torch
    from distributed import get_worker

    try:
        threads = get_worker().state.nthreads
    except ValueError:  # not on a worker (a client's own process): leave the pools as they are
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if cv2.getNumThreads() != threads:
        cv2.setNumThreads(threads)


def _outcome(future: Any, task: object) -> Any:
    """A completed future's result, or the exception that stands for it: the task's own, or one that names the
    task where the cluster (not the task) failed it."""
    from distributed import KilledWorker

    if future.status == "finished":
        return future.result()
    what = task.describe() if hasattr(task, "describe") else repr(task)
    if future.status == "cancelled":
        return RuntimeError(f"{what}: cancelled by the Dask scheduler (did it shut down, or lose this client?)")
    exc = future.exception()
    if isinstance(exc, KilledWorker):
        return RuntimeError(f"{what}: every Dask worker that ran it died ({exc}); a bag this large may need more "
                            "memory per worker, or a shorter --shard-seconds")
    return exc if isinstance(exc, Exception) else RuntimeError(f"{what}: {exc!r}")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own loggers at ERROR for the block: the warnings a cancelled run makes are expected."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
