"""The Dask executor keeps the executor contract: two local worker processes bound to 127.0.0.1 give the in-process
report, an existing scheduler does too, each worker builds the model once, a worker killed mid-shard has its shard
run again and counted once, Ctrl-C shuts the cluster down with the finished shards cached, and without the
``[fleet]`` extra the error says what to install."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _support.fleet_bags import EVENT_SETTINGS, write_event_bag
from _support.fleet_tasks import engine_builds, run_shard_blocking_once
from rgbt_seg_core.bags.io import list_topics
from rgbt_seg_core.bags.pairs import plan_pairs
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.fleet.cache import ShardCache
from rgbt_seg_core.fleet.dask_executor import DaskExecutor
from rgbt_seg_core.fleet.evaluate import FleetPlan, FleetResult, plan_fleet, run_fleet
from rgbt_seg_core.fleet.executor import InProcessExecutor
from rgbt_seg_core.fleet.report import bag_rows
from rgbt_seg_core.fleet.shards import ShardTask, run_shard

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="Dask distributed is not installed (pip install 'rgbt-seg[fleet]')")
SHARD_SECONDS = 0.2  # two shards of each 8-frame bag at 20 fps: more shards than workers
KILL_WAIT_S = 120.0  # how long the test waits for the blocked shard to start before failing


def _report(result: FleetResult) -> dict[str, Any]:
    """What the fleet's report says, without the timings (frames per second)."""
    rows = [{k: v for k, v in row.items() if k != "fps"} for row in bag_rows(result)]
    confusion = None if result.confusion is None else result.confusion.tolist()
    return {"bags": rows, "bad": [(b.bag, b.reason) for b in result.bad], "confusion": confusion}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, varied_checkpoint: Path) -> dict[str, Any]:
    """Three tiny bags, each with a silent thermal camera for a while; their shards; the in-process result (a
    small RSFNet takes tens of milliseconds a frame here, so the bags are a few frames each)."""
    folder = tmp_path_factory.mktemp("dask_fleet")
    bags = [write_event_bag(folder / f"bag{i}", frames=8, seed=i, thermal_gap=(2, 4), frozen_rgb=None)
            for i in range(3)]
    values = {**EVENT_SETTINGS, "checkpoint": str(varied_checkpoint), "device": "cpu"}

    def plan_of(bag: Path) -> Any:
        return plan_pairs(bag, {t: n for t, (_, n) in list_topics(bag).items()})

    cache = ShardCache(folder / "digests")  # the cache's keys need the bags' digests
    plan = plan_fleet(bags, plan_of, values, str(varied_checkpoint), SHARD_SECONDS, cache)
    assert not plan.bad and len(plan.tasks) == 6
    reference = run_fleet(plan, InProcessExecutor())
    assert reference.evaluated > 0 and not reference.bad
    return {"bags": bags, "plan": plan, "reference": _report(reference)}


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    """A local cluster of two worker processes, shared by the tests that do not stop it."""
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask distributed is not installed (pip install 'rgbt-seg[fleet]')")
    with DaskExecutor(workers=2) as executor:
        yield executor


def _on_loopback(address: str) -> bool:
    return address.startswith("tcp://127.0.0.1:")


@needs_dask
def test_two_loopback_workers_equal_in_process_loading_the_model_once(cluster: DaskExecutor,
                                                                      fleet: dict[str, Any]) -> None:
    # test/test_no_traffic.py traces this one: a local cluster's start, its shards and its shut-down
    info = cluster.client.scheduler_info()
    assert _on_loopback(cluster.cluster.scheduler_address) and len(info["workers"]) == 2
    assert all(_on_loopback(address) for address in info["workers"])
    assert cluster.client.dashboard_link.startswith("http://127.0.0.1:")  # its HTTP server too (no dashboard)
    before = cluster.client.run(engine_builds)
    result = run_fleet(fleet["plan"], cluster)
    after = cluster.client.run(engine_builds)
    assert _report(result) == fleet["reference"]
    assert result.computed == len(fleet["plan"].tasks) and result.cached == 0
    asked = {w: after[w][1] - before.get(w, (0, 0))[1] for w in after}
    assert sum(asked.values()) == len(fleet["plan"].tasks)
    assert max(asked.values()) > 1  # some worker ran several shards...
    assert all(after[w][0] == 1 for w in after if after[w][1])  # ...and each worker built one engine


@needs_dask
def test_cli_on_an_existing_scheduler_writes_the_in_process_report(cluster: DaskExecutor, fleet: dict[str, Any],
                                                                  varied_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["bag-eval", *map(str, fleet["bags"]), "--checkpoint", str(varied_checkpoint), "--device", "cpu",
                 "--slop", str(EVENT_SETTINGS["slop"]), "--modality-timeout", str(EVENT_SETTINGS["modality_timeout"]),
                 "--frozen-timeout", str(EVENT_SETTINGS["frozen_timeout"]), "--shard-seconds", str(SHARD_SECONDS),
                 "--scheduler", cluster.cluster.scheduler_address, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    expected = fleet["reference"]
    assert [{k: v for k, v in row.items() if k != "fps"} for row in report["bags"]] == expected["bags"]
    assert report["confusion_matrix"] == expected["confusion"] and report["bad_bags"] == []
    assert cluster.worker_count == 2  # the command closed its client; the cluster it did not start stays


@needs_dask
def test_a_scheduler_that_does_not_answer_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # a free port: nothing listens once closed
    with pytest.raises(ConnectionError, match=f"--scheduler {address}: no Dask scheduler answered"):
        DaskExecutor(scheduler=address, connect_timeout=0.5)


class _Substituted:
    """An executor that runs another function in place of ``run_shard``: the fault the test injects."""

    def __init__(self, executor: DaskExecutor, fn: Callable[[ShardTask], Any]) -> None:
        self.executor, self.fn = executor, fn

    def map(self, tasks: Iterable[ShardTask], fn: Callable[[ShardTask], Any]) -> Iterator[tuple[ShardTask, Any]]:
        assert fn is run_shard
        return self.executor.map(tasks, self.fn)


def _kill_when_blocked(pid_file: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + KILL_WAIT_S
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


@needs_dask
def test_a_worker_killed_mid_shard_has_it_run_again_and_counted_once(cluster: DaskExecutor, fleet: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    # late in the module: the shared cluster's nanny restarts the killed worker, which takes a moment
    plan: FleetPlan = fleet["plan"]
    control, cache = tmp_path / "control", ShardCache(tmp_path / "cache")
    control.mkdir()
    blocked = next(t for t in plan.tasks if t.bag == str(fleet["bags"][1]))  # the second bag's first shard
    (control / "block").write_text(blocked.describe())
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_blocked, args=(control / "pid", killed), daemon=True)
    killer.start()
    executor = _Substituted(cluster, functools.partial(run_shard_blocking_once, str(control)))
    result = run_fleet(plan, executor, cache)  # type: ignore[arg-type]  # map is all run_fleet uses
    killer.join(timeout=1)
    assert killed and killed[0] != os.getpid()
    attempts = (control / "attempts").read_text().splitlines()
    assert attempts.count(blocked.describe()) >= 2  # the killed attempt and the one that finished
    assert result.computed == len(plan.tasks)  # each shard came back once...
    assert len(list((tmp_path / "cache").rglob("*.json"))) == len(plan.tasks)
    assert _report(result) == fleet["reference"]  # ...and was counted once


@needs_dask
def test_ctrl_c_shuts_the_cluster_down_and_keeps_the_finished_shards(cluster: DaskExecutor, fleet: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    # last in the module: it shuts the shared cluster down, through the executor's own ``with`` as bag-eval does
    plan, cache = fleet["plan"], ShardCache(tmp_path / "cache")

    def interrupt(task: ShardTask, outcome: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C does, while the other shards are still out

    with pytest.raises(KeyboardInterrupt):
        with cluster:
            run_fleet(plan, cluster, cache, interrupt)
    assert cluster.client is None and cluster.cluster.status.name == "closed"
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1  # written before the interrupt reached the run
    rerun = run_fleet(plan, InProcessExecutor(), cache)
    assert (rerun.cached, rerun.computed) == (1, len(plan.tasks) - 1)
    assert _report(rerun) == fleet["reference"]


def test_without_the_fleet_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an import finds where the package is missing
    with pytest.raises(ImportError, match=r"pip install 'rgbt-seg\[fleet\]'"):
        DaskExecutor(workers=2)


@given(st.integers(-3, 0), st.integers(1, 4))
def test_fewer_than_one_worker_or_thread_is_refused_before_anything_starts(bad: int, good: int) -> None:
    for workers, threads in ((bad, good), (good, bad)):
        with pytest.raises(ValueError, match="--workers and threads per worker must be >= 1"):
            DaskExecutor(workers=workers, threads_per_worker=threads)
