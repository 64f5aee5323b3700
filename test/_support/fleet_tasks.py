"""Functions the fleet's Dask tests ship to worker processes (module-level, so that a worker imports them by name;
pytest.ini puts test/ on sys.path, and the workers a LocalCluster spawns inherit it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rgbt_seg_core.fleet.shards import ShardResult, ShardTask, cached_engine, run_shard

BLOCK_LIMIT_S = 300.0  # a worker the test forgot to kill gives up, so that a broken test fails instead of hanging


def engine_builds() -> tuple[int, int]:
    """This process's engine cache: (models built, shards that asked for one)."""
    info = cached_engine.cache_info()
    return info.misses, info.hits + info.misses


def run_shard_blocking_once(control: str, task: ShardTask) -> ShardResult:
    """``run_shard``, except that the first attempt at the shard named in ``control/block`` writes its process id to
    ``control/pid`` and then waits to be killed. Every attempt at every shard is logged in ``control/attempts``."""
    folder = Path(control)
    with open(folder / "attempts", "a", encoding="utf-8") as log:
        log.write(f"{task.describe()}\n")
    pid_file = folder / "pid"
    if task.describe() == (folder / "block").read_text(encoding="utf-8") and not pid_file.exists():
        (folder / "pid.tmp").write_text(str(os.getpid()), encoding="utf-8")
        os.replace(folder / "pid.tmp", pid_file)  # whole, or not there: the test reads it as soon as it exists
        deadline = time.monotonic() + BLOCK_LIMIT_S
        while time.monotonic() < deadline:
            time.sleep(0.05)  # polls for its own death, no timing rests on it
        raise TimeoutError(f"{task.describe()}: blocked for {BLOCK_LIMIT_S} s and nobody killed this worker")
    return run_shard(task)
