"""``rgbt-seg bench node --pairs N``: N camera pairs through one node serving them all, against N single-pair nodes.

Issue 26 asks whether one node with one model, batching every pair's frames, beats one node per pair on a robot.
The answer depends on memory and on throughput when the model is the bottleneck, so both setups run here, one
after the other, on the same synthetic cameras:

* ``one_node``: one node process with ``pairs: [p0, ..., pN-1]``;
* ``separate_nodes``: N node processes with ``pairs`` empty, each in namespace ``/p<i>``, so each loads its own
  model, as a robot with N nodes would.

Each node runs in its own process (``python -m rgbt_seg_ros.segmentation_node``) so that its resident memory is
its own: RSS is read from ``/proc/<pid>/status`` (``VmRSS`` sampled while the cameras stream, ``VmHWM`` at the end)
and summed over the setup's processes. This process only plays the cameras (``/p<i>/rgb/image`` and
``/p<i>/thermal/image``, the same topics for both setups) and receives the labels. Each pair publishes ``--frames``
pairs at ``--rate`` Hz, the pairs' phases spread evenly over one period (cameras on a robot are not synchronised).
A pair published whose labels never arrive is a drop: the node's newest-frame slot replaced it with a newer one.
Latency is camera publish -> labels received, matched by stamp. The one node's model calls and batch sizes come
from its model status in ``/diagnostics`` (the change over the timed stream); a single-pair node makes one call,
of one frame, per labelled frame.
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from rgbt_seg_core.settings.check import MAX_PAIRS

WARMUP_STAMP = 999.0  # warm-up frames, 10 ms apart, just before the timed stream's first stamp (1000 s)
STREAM_STAMP = 1000.0
EXTRA_OUTPUTS = ("color", "overlay", "gate/rgb", "gate/thermal")
SETUPS = ("one_node", "separate_nodes")


def check_pairs_args(pairs: int, rate: float, frames: int, ceiling: bool = False) -> None:
    """Refuses what the run cannot measure, naming the flag."""
    if not 1 <= pairs <= MAX_PAIRS:
        raise ValueError(f"--pairs must be between 1 and {MAX_PAIRS} (got {pairs})")
    if not rate > 0 or not np.isfinite(rate):
        raise ValueError(f"--rate must be a positive number of frames per second per pair (got {rate})")
    if frames < 1:
        raise ValueError(f"--frames must be >= 1 (got {frames})")
    if ceiling:
        raise ValueError("--ceiling swaps the model inside the benchmark's own process; --pairs runs the nodes in "
                         "processes of their own: leave out one of them")


def pair_names(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def schedule(pairs: int, frames: int, rate: float) -> list[tuple[float, int, int]]:
    """(seconds from the start, pair index, frame index) of every publish, in time order: each pair at ``rate``,
    pair i's phase i/pairs of a period after pair 0's."""
    period = 1.0 / rate
    return sorted((k * period + i * period / pairs, i, k) for i in range(pairs) for k in range(frames))


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """``key`` (VmRSS: resident now, VmHWM: the peak) of process ``pid`` in KiB, from ``/proc/<pid>/status``."""
    path = f"/proc/{pid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{path} has no {key} line")


def batch_histogram(text: str) -> dict[int, int]:
    """The model status's ``batch_sizes`` value (``"1: 4, 2: 7"``) as frames per batch -> batches."""
    out: dict[int, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        size, _, count = item.partition(":")
        out[int(size)] = int(count)
    return out


def latency_row(published: Mapping[int, float], arrived: Mapping[int, float]) -> dict[str, Any]:
    """One pair's counts and camera -> labels latency over the timed stream (``published`` and ``arrived``:
    stamp in ns -> perf_counter seconds)."""
    lat = [arrived[s] - t for s, t in published.items() if s in arrived]
    labelled = len(lat)
    return {"published": len(published), "labelled": labelled, "dropped": len(published) - labelled,
            "latency_ms_p50": round(1e3 * float(np.percentile(lat, 50)), 2) if lat else None,
            "latency_ms_p95": round(1e3 * float(np.percentile(lat, 95)), 2) if lat else None}


@dataclass
class _NodeProcess:
    """One node in its own process; its output goes to ``log`` so a failed start can say why."""

    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT (the node's clean stop), then SIGKILL where it did not end in ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start_nodes(folder: Path, settings: Any, setup: str, names: list[str]) -> list[_NodeProcess]:
    """The setup's node processes, started (not yet ready): one serving ``names``, or one per name in ``/<name>``."""
    from rgbt_seg_core.settings.render import render_yaml

    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[1])  # the nodes run the code this benchmark runs
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH", "")]))
    jobs = [(names, "/")] if setup == "one_node" else [([], f"/{n}") for n in names]
    nodes: list[_NodeProcess] = []
    try:
        for i, (pairs, namespace) in enumerate(jobs):
            params = folder / f"{setup}_{i}.yaml"
            params.write_text(render_yaml(settings.replace({"pairs": pairs}), header="# rgbt-seg bench node --pairs"))
            log = folder / f"{setup}_{i}.log"
            cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_node", "--ros-args", "-r", f"__ns:={namespace}",
                   "--params-file", str(params)]
            with open(log, "w") as out:
                proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            nodes.append(_NodeProcess(proc, log))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


class _Cameras:
    """The benchmark's peer node: each pair's two cameras, its label subscription (and the other outputs' with
    ``all_outputs``) and ``/diagnostics``, spun by its own executor thread."""

    def __init__(self, ctx: Any, names: list[str], label_topics: Mapping[str, str], frame: tuple[np.ndarray, ...],
                 all_outputs: bool, clock: Callable[[], float]) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from rgbt_seg_core.runtime.imageconv import array_to_image_fields

        self.names, self.clock = names, clock
        self.peer = rclpy.create_node("bench_pairs_peer", context=ctx)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {n: (self.peer.create_publisher(Image, f"/{n}/rgb/image", qos),
                         self.peer.create_publisher(Image, f"/{n}/thermal/image", qos)) for n in names}
        self.msgs = {n: (Image(**array_to_image_fields(frame[0], "rgb8")),
                         Image(**array_to_image_fields(frame[1], "mono8"))) for n in names}
        self.lock = threading.Lock()
        self.published: dict[str, dict[int, float]] = {n: {} for n in names}
        self.arrived: dict[str, dict[int, float]] = {n: {} for n in names}
        self.model_status: tuple[float, dict[str, str]] | None = None  # (arrival, values) of the newest
        self.subs = {n: self.peer.create_subscription(Image, label_topics[n], self._on_labels(n), 10) for n in names}
        self.extra = [self.peer.create_subscription(Image, label_topics[n].rsplit("/", 1)[0] + "/" + out,
                                                    lambda m: None, 5)
                      for n in names for out in (EXTRA_OUTPUTS if all_outputs else ())]
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.peer)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_labels(self, name: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            now = self.clock()
            with self.lock:
                self.arrived[name].setdefault(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, now)
        return record

    def _on_diagnostics(self, msg: Any) -> None:
        from .pipeline import MODEL_STATUS

        for status in msg.status:
            if status.name == MODEL_STATUS:
                self.model_status = (self.clock(), {kv.key: kv.value for kv in status.values})

    def connected(self) -> bool:
        return all(p.get_subscription_count() > 0 for pubs in self.pubs.values() for p in pubs) and \
            all(s.get_publisher_count() > 0 for s in self.subs.values())

    def publish(self, name: str, stamp: float) -> int:
        """Both cameras of ``name`` at ``stamp`` (seconds); returns the stamp in ns, recorded with the time."""
        sec, nsec = int(stamp), int(round((stamp - int(stamp)) * 1e9))
        ns = sec * 10**9 + nsec
        now = self.clock()
        with self.lock:
            self.published[name][ns] = now
        for pub, msg in zip(self.pubs[name], self.msgs[name]):
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nsec
            msg.header.frame_id = f"{name}_optical"
            pub.publish(msg)
        return ns

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.peer.destroy_node()


def _wait(condition: Callable[[], bool], timeout: float, nodes: list[_NodeProcess],
          clock: Callable[[], float] = time.monotonic, step: float = 0.05) -> bool:
    """Polls ``condition`` until true (True) or ``timeout`` passes (False); raises where a node process ended."""
    deadline = clock() + timeout
    while not condition():
        for node in nodes:
            if node.proc.poll() is not None:
                raise RuntimeError(f"a node process ended (exit {node.proc.returncode}); {node.log}:\n{node.tail()}")
        if clock() > deadline:
            return False
        time.sleep(step)
    return True


def _warm_up(cams: _Cameras, nodes: list[_NodeProcess], timeout: float) -> None:
    """Every pair's labels once, before the clock starts: discovery done, the model loaded and warm. A frame is
    published again every second until its pair's labels come (the first may go before the link is complete)."""
    if not _wait(cams.connected, timeout, nodes):
        raise RuntimeError(f"the nodes' topics were not all connected within {timeout:.0f} s\n"
                           + "\n".join(f"{n.log}:\n{n.tail(5)}" for n in nodes))
    deadline = time.monotonic() + timeout
    for j in itertools.count():
        missing = [n for n in cams.names if not cams.arrived[n]]
        if not missing:  # and each pair's newest warm-up frame too, so none is still in the node when timing starts
            newest = {n: max(cams.published[n]) for n in cams.names}
            if not _wait(lambda: all(newest[n] in cams.arrived[n] for n in cams.names), timeout, nodes):
                raise RuntimeError(f"the last warm-up frames were not labelled within {timeout:.0f} s")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no labels for pairs {', '.join(missing)} within {timeout:.0f} s")
        for n in missing:
            cams.publish(n, WARMUP_STAMP + 0.01 * j)
        _wait(lambda: all(cams.arrived[n] for n in missing), 1.0, nodes)


class _RssSampler:
    """The summed VmRSS of the node processes every ``interval`` seconds while the cameras stream."""

    def __init__(self, nodes: list[_NodeProcess], interval: float = 0.2) -> None:
        self.nodes, self.interval = nodes, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(sum(rss_kib(n.proc.pid) for n in self.nodes))
            except (OSError, RuntimeError):  # a process ending: the next sample, or none, tells
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "_RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _fresh_model_status(cams: _Cameras, nodes: list[_NodeProcess], timeout: float) -> dict[str, str]:
    """The model status published after this call began (so it counts every frame labelled before it)."""
    since = cams.clock()
    if not _wait(lambda: cams.model_status is not None and cams.model_status[0] > since + 0.3, timeout, nodes):
        raise RuntimeError(f"no model status on /diagnostics within {timeout:.0f} s")
    assert cams.model_status is not None
    return cams.model_status[1]


def _stream(cams: _Cameras, frames: int, rate: float, nodes: list[_NodeProcess], drain: float) -> tuple[float, float]:
    """Publishes the timed stream on schedule, then waits until every pair's last frame is labelled (the newest
    frame is never replaced, so it is always segmented) or ``drain`` seconds pass. Returns the first publish's
    and the last arrival's times."""
    plan = schedule(len(cams.names), frames, rate)
    start = cams.clock() + 0.05
    for offset, i, k in plan:
        delay = start + offset - cams.clock()
        if delay > 0:
            time.sleep(delay)
        cams.publish(cams.names[i], STREAM_STAMP + k / rate)
    last = {n: max(cams.published[n]) for n in cams.names}
    _wait(lambda: all(last[n] in cams.arrived[n] for n in cams.names), drain, nodes)
    with cams.lock:
        arrivals = [t for n in cams.names for s, t in cams.arrived[n].items() if s in cams.published[n]]
    return start, max(arrivals, default=start)


def _run_setup(ctx: Any, folder: Path, settings: Any, setup: str, names: list[str], frame: tuple[np.ndarray, ...],
               rate: float, frames: int, all_outputs: bool) -> dict[str, Any]:
    """One setup, its processes started and stopped here (stopped on every way out)."""
    topics = {n: f"/segmentation_node/{n}/labels" if setup == "one_node" else f"/{n}/segmentation_node/labels"
              for n in names}
    nodes = _start_nodes(folder, settings, setup, names)
    cams = None
    try:
        cams = _Cameras(ctx, names, topics, frame, all_outputs, time.perf_counter)
        _warm_up(cams, nodes, timeout=300.0)
        before = _fresh_model_status(cams, nodes, 30.0) if setup == "one_node" else None
        warm = {n: set(cams.published[n]) for n in names}
        for n in names:  # the warm-up frames are not counted
            cams.published[n].clear()
        with _RssSampler(nodes) as sampler:
            start, end = _stream(cams, frames, rate, nodes, drain=max(30.0, 10.0 / rate))
        peak = sum(rss_kib(n.proc.pid, "VmHWM") for n in nodes)
        after = _fresh_model_status(cams, nodes, 30.0) if setup == "one_node" else None
        with cams.lock:
            rows = {n: latency_row(cams.published[n], {s: t for s, t in cams.arrived[n].items() if s not in warm[n]})
                    for n in names}
    finally:
        if cams is not None:
            cams.close()
        for node in nodes:
            node.stop()
    return _setup_summary(rows, len(nodes), start, end, sampler.samples, peak, before, after)


def _setup_summary(rows: dict[str, dict[str, Any]], processes: int, start: float, end: float, samples: list[int],
                   peak: int, before: dict[str, str] | None, after: dict[str, str] | None) -> dict[str, Any]:
    labelled = sum(r["labelled"] for r in rows.values())
    if before is not None and after is not None:
        b, a = batch_histogram(before.get("batch_sizes", "")), batch_histogram(after.get("batch_sizes", ""))
        delta = {size: a.get(size, 0) - b.get(size, 0) for size in a}
        calls = sum(delta.values())
        served = sum(size * count for size, count in delta.items())
        sizes = {str(size): count for size, count in sorted(delta.items()) if count}
        call_ms = float(after["model_time_p50_ms"]) if after.get("model_time_p50_ms", "n/a") != "n/a" else None
    else:  # a single-pair node: one call of one frame per labelled frame; its time is not in its diagnostics
        calls, served, sizes, call_ms = labelled, labelled, {"1": labelled}, None
    return {
        "processes": processes, "pairs": rows, "labelled": labelled,
        "labelled_fps": round(labelled / (end - start), 2) if end > start else 0.0,
        "rss_mib_steady": round(statistics.median(samples) / 1024, 1) if samples else None,
        "rss_mib_peak": round(peak / 1024, 1),
        "model_calls": calls, "frames_in_calls": served,
        "mean_batch_size": round(served / calls, 3) if calls else None, "batch_sizes": sizes,
        "model_call_ms_p50": call_ms,  # the one node's, over its last 200 calls (warm-up batches included)
    }


def run_pairs_benchmark(checkpoint: str | None, model: str, height: int, width: int, pairs: int, rate: float,
                        frames: int, all_outputs: bool, settings: Any, setups: tuple[str, ...] = SETUPS
                        ) -> dict[str, Any]:
    """Both setups (module docstring) on ``pairs`` synthetic camera pairs; ``settings``: the node's, as
    :func:`~rgbt_seg_ros.bench_node.bench_settings` made them (checkpoint empty: a random ``model``)."""
    from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

    check_pairs_args(pairs, rate, frames)
    use_local_ros_env()  # before rclpy initialises, and inherited by the node processes
    import rclpy

    from rgbt_seg_core.models.checkpoint_file import read_meta

    from .bench_node import _random_checkpoint

    rng = np.random.default_rng(0)
    frame = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
             rng.integers(0, 256, (height, width), dtype=np.uint8))
    names = pair_names(pairs)
    with tempfile.TemporaryDirectory(prefix="rgbt_bench_pairs_") as tmp:
        folder = Path(tmp)
        checkpoint = checkpoint or _random_checkpoint(folder, model)
        model_name = read_meta(checkpoint).model
        settings = settings.replace({"checkpoint": checkpoint, "diagnostics_period": 0.25})
        ctx = rclpy.Context()
        rclpy.init(context=ctx)
        previous = _exit_on_sigterm()
        try:
            results = {setup: _run_setup(ctx, folder, settings, setup, names, frame, rate, frames, all_outputs)
                       for setup in setups}
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            rclpy.try_shutdown(context=ctx)
    return {"model": model_name, "input": [height, width], "device": settings.device, "pairs": pairs,
            "rate_hz": rate, "frames": frames, "outputs": "all" if all_outputs else "labels",
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset (torch's default)"), "setups": results}


def _exit_on_sigterm() -> Any:
    """A SIGTERM (``timeout``, a CI runner) ends the benchmark through its ``finally`` blocks, which stop the node
    processes, instead of at once, which would leave them running. Returns the handler it replaced (None off the
    main thread, where a handler cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)


def print_pairs_summary(r: Mapping[str, Any]) -> None:
    print(f"{r['model']} {r['input'][0]}x{r['input'][1]} on {r['device']}: {r['pairs']} camera pairs at "
          f"{r['rate_hz']} Hz, {r['frames']} frames each, outputs: {r['outputs']}")
    for setup, s in r["setups"].items():
        print(f"  {setup} ({s['processes']} process{'es' if s['processes'] > 1 else ''}): {s['labelled_fps']:.2f} "
              f"labelled fps, RSS {s['rss_mib_steady']} MiB steady / {s['rss_mib_peak']} MiB peak, "
              f"{s['model_calls']} model calls, mean batch {s['mean_batch_size']}"
              + (f", {s['model_call_ms_p50']} ms a call (p50)" if s["model_call_ms_p50"] is not None else ""))
        for name, p in s["pairs"].items():
            print(f"    {name}: {p['labelled']}/{p['published']} labelled, {p['dropped']} dropped, latency p50 "
                  f"{p['latency_ms_p50']} ms, p95 {p['latency_ms_p95']} ms")

