"""Node overhead benchmark: end-to-end latency (camera publish -> ~/labels received) against model latency.

Frames are sent one at a time (the next pair only after the previous labels arrived), so the figure is latency,
not throughput; ``one_in_flight_rate_hz`` is the pairs per second of that loop. ``rate_hz`` is measured after it,
with the cameras streaming: a pair is published whenever fewer than two wait for their labels, so the node
receives one pair while it segments the other, as it does behind real cameras; it is the labels received per
second. Model latency is the node's own
:meth:`InferenceEngine.predict` on the same pair, timed right after each end-to-end frame (interleaved, so both
see the same process, threads and CPU clock state): the difference is what the node adds (DDS transport both ways,
message conversion, pairing, thread hand-off, pictures, publishing). The in-node overhead is the node's own part
of that, per frame: pair complete -> every subscribed output published, minus the model. Node and peer spin in
separate executors, as the node would in its own process.

``ceiling`` swaps the node's model for :class:`ConstantLabeller`, which answers at once with a fixed, varied
label map: what remains is the node's own path, and the rate it could reach with an infinitely fast model. It
is a benchmark instrument, not a node option.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn


class ConstantLabeller(nn.Module):
    """A stand-in model that costs nothing: for every frame of a size the same labels (vertical bands of every
    class, so every output has real content), logits and gates, made once. :meth:`labels` stands in for the model
    and its argmax together, :meth:`forward_with_gates` for the gated pass."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self._cache: dict[tuple, Any] = {}

    def _outputs(self, rgb: torch.Tensor) -> tuple[torch.Tensor, Any]:
        from rgbt_seg_core.models.contract import GatedOutput

        key = (tuple(rgb.shape), rgb.device)
        if key not in self._cache:
            b, _, h, w = rgb.shape
            band = (torch.arange(w, device=rgb.device) * self.num_classes // max(1, w)).clamp_(max=self.num_classes - 1)
            labels = band.to(torch.uint8)[None, None, :].expand(b, h, -1).contiguous()
            logits = torch.nn.functional.one_hot(band, self.num_classes).T.float()  # C x W
            logits = logits[None, :, None, :].expand(b, -1, h, -1).contiguous()
            gates = torch.full((b, 2, max(1, h // 4), max(1, w // 4)), 0.5, device=rgb.device)
            gated = GatedOutput(logits, torch.full((b, 2), 0.5, device=rgb.device), (gates,))
            self._cache[key] = (labels, gated)
        return self._cache[key]

    def labels(self, rgb: torch.Tensor, thermal: torch.Tensor, scored: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The engine's labels pass: the labels, and each pixel's confidence where ``scored`` (sure: 1)."""
        labels = self._outputs(rgb)[0]
        return labels, torch.ones(labels.shape, device=labels.device) if scored else None

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        return self._outputs(rgb)[1].logits

    def forward_with_gates(self, rgb: torch.Tensor, thermal: torch.Tensor) -> Any:
        return self._outputs(rgb)[1]


BENCH_DEFAULTS = {"device": "cpu"}  # the bench's own default, under a --params file and the flags


def bench_pins(height: int, width: int) -> dict[str, Any]:
    """The node parameters the measurement needs, over a --params file (a flag may still change them): reliable
    QoS (nothing lost in transit), no frozen-camera check (one frame is sent again and again), no silence
    timeout, and one warm-up at the frame size."""
    return {"qos_reliability": "reliable", "frozen_timeout": 0.0, "modality_timeout": 3600.0, "warmup": 1,
            "warmup_height": height, "warmup_width": width}


def bench_settings(args: argparse.Namespace) -> Any:
    """The node's settings for ``rgbt-seg bench node``: its defaults, ``--params``, :func:`bench_pins`, flags."""
    from rgbt_seg_core.cli.settings_options import resolve_settings

    return resolve_settings(args, base=BENCH_DEFAULTS, pinned=bench_pins(args.height, args.width))


def run_node_benchmark(checkpoint: str | None, model: str, height: int, width: int, frames: int,
                       all_outputs: bool, device: str = "cpu", ceiling: bool = False,
                       settings: Mapping[str, Any] | None = None, compressed: bool = False) -> dict[str, Any]:
    """End-to-end and model latency of ``frames`` pairs through the node (see module docstring). ``settings``:
    node parameter values over :func:`bench_pins` (``checkpoint`` and ``device`` are the arguments').
    ``compressed``: the peer subscribes to ``~/labels|color|overlay/compressed`` too (what they add to the node's
    own path, and the bytes each message held)."""
    from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

    use_local_ros_env()  # before rclpy initialises
    import rclpy

    tmp = None
    if checkpoint is None:
        tmp = tempfile.TemporaryDirectory()
        checkpoint = _random_checkpoint(Path(tmp.name), model)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    thermal = rng.integers(0, 256, (height, width), dtype=np.uint8)

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    bench = None
    try:
        params = {**bench_pins(height, width), **(settings or {}), "checkpoint": checkpoint, "device": device}
        node = _start_node(ctx, params)
        model_name = node.engine.meta.model
        if ceiling:
            _swap_in_constant_labeller(node.engine)
        bench = _Bench(ctx, node, all_outputs, compressed)
        bench.wait_for_discovery(timeout=20.0)
        e2e, model_times, loop_seconds = bench.measure(rgb, thermal, frames)
        published = list(node.pipeline.published)[-frames:]
        rate = bench.streaming_rate(rgb, thermal, frames)
        compressed_sizes = bench.compressed_sizes
    finally:
        if bench is not None:
            bench.close()
        rclpy.try_shutdown(context=ctx)
        if tmp is not None:
            tmp.cleanup()
    out = _summary(model_name, height, width, device, frames, all_outputs, ceiling, e2e, model_times, published,
                   loop_seconds, rate)
    if compressed:
        out["outputs"] += " + compressed"
        out["compressed_bytes_per_frame"] = {f"{name}/compressed": round(statistics.mean(sizes))
                                             for name, sizes in compressed_sizes.items() if sizes}
    return out


def _summary(model_name: str, height: int, width: int, device: str, frames: int, all_outputs: bool, ceiling: bool,
             e2e: list[float], model_times: list[float], published: list[tuple[float, float]],
             loop_seconds: float, rate: float) -> dict[str, Any]:
    inside = statistics.median(total - model for total, model in published)
    m50, e50 = statistics.median(model_times), statistics.median(e2e)
    return {
        "model": "constant-time labeller (ceiling)" if ceiling else model_name, "input": [height, width],
        "device": device, "frames": frames, "outputs": "all" if all_outputs else "labels", "ceiling": ceiling,
        "model_ms_p50": round(1e3 * m50, 3), "end_to_end_ms_p50": round(1e3 * e50, 3),
        "end_to_end_ms_p95": round(1e3 * float(np.percentile(e2e, 95)), 3),
        "in_node_overhead_ms_p50": round(1e3 * inside, 3),
        "overhead_ms": round(1e3 * (e50 - m50), 3), "overhead_ratio": round((e50 - m50) / max(m50, 1e-9), 4),
        "rate_hz": round(rate, 1), "one_in_flight_rate_hz": round(frames / loop_seconds, 1),
    }


def _swap_in_constant_labeller(engine: Any) -> None:
    """The engine's model and its argmax become a :class:`ConstantLabeller`; its preprocessing, pictures and
    transfers stay as they are."""
    if engine.backend != "torch":
        raise ValueError("--ceiling replaces the torch model; use --backend torch (the default)")
    labeller = ConstantLabeller(len(engine.class_names)).to(engine.device)
    engine.model = labeller  # the gated pass (gates and confidence outputs)
    engine._labels = labeller.labels  # the labels pass, CUDA graph and all


def _random_checkpoint(folder: Path, model: str) -> str:
    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    path = str(folder / "bench.safetensors")
    save_checkpoint(path, build_model(model).eval().reparameterize())
    return path


def _start_node(ctx: Any, params: Mapping[str, Any]) -> Any:
    from rclpy.parameter import Parameter

    from .segmentation_node import SegmentationNode

    return SegmentationNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


class _Bench:
    """The node and a peer that plays the cameras and receives ``~/labels``, each spun by its own executor."""

    def __init__(self, ctx: Any, node: Any, all_outputs: bool, compressed: bool = False) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image

        self.node, self.all_outputs = node, all_outputs
        self.peer = rclpy.create_node("bench_peer", context=ctx)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_rgb = self.peer.create_publisher(Image, "rgb/image", qos)
        self.pub_thermal = self.peer.create_publisher(Image, "thermal/image", qos)
        self.got = threading.Event()
        self.arrivals: list[float] = []
        self.peer.create_subscription(Image, "/segmentation_node/labels", self._on_labels, 5)
        if all_outputs:
            for name in ("color", "overlay", "gate/rgb", "gate/thermal"):
                self.peer.create_subscription(Image, f"/segmentation_node/{name}", lambda m: None, 5)
        self.compressed_sizes: dict[str, list[int]] = {name: [] for name in ("labels", "color", "overlay")
                                                       if compressed}
        for name, sizes in self.compressed_sizes.items():
            self.peer.create_subscription(CompressedImage, f"/segmentation_node/{name}/compressed",
                                          lambda m, s=sizes: s.append(len(m.data)), 5)
        # one executor per node, each in its own thread: the peer's receipt of the labels must not queue behind
        # the node's callbacks (as it would in a shared executor), or the measurement would blame the node for it
        self.executors = [SingleThreadedExecutor(context=ctx), SingleThreadedExecutor(context=ctx)]
        self.executors[0].add_node(node)
        self.executors[1].add_node(self.peer)
        for e in self.executors:
            threading.Thread(target=e.spin, daemon=True).start()

    def _on_labels(self, _msg: Any) -> None:
        self.arrivals.append(time.perf_counter())
        self.got.set()

    def wait_for_discovery(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pubs = self.node.pipeline.publishers
        outputs = [pubs["labels"], *(pubs[f"{name}/compressed"] for name in self.compressed_sizes)]
        while time.monotonic() < deadline and (self.pub_rgb.get_subscription_count() == 0
                                               or self.pub_thermal.get_subscription_count() == 0
                                               or any(p.get_subscription_count() == 0 for p in outputs)):
            time.sleep(0.05)

    def measure(self, rgb: np.ndarray, thermal: np.ndarray, frames: int) -> tuple[list[float], list[float], float]:
        """End-to-end and model-alone seconds of each frame, one pair at a time, and the seconds the timed frames'
        publish -> receive loops took together (the model-alone runs between them not counted)."""
        e2e: list[float] = []
        model_times: list[float] = []
        loop = 0.0
        for i in range(frames + 1):  # the first frame also warms up the transport; not counted
            self.got.clear()
            msgs = self._pair(rgb, thermal, 1000 + i)
            t0 = time.perf_counter()
            self.pub_rgb.publish(msgs[0])
            self.pub_thermal.publish(msgs[1])
            if not self.got.wait(timeout=120):
                raise RuntimeError("the node published no labels within 120 s")
            if i:
                e2e.append(self.arrivals[-1] - t0)
                loop += self.arrivals[-1] - t0
                # the model alone, on the node's own engine, right after: same process, threads and clock state
                model_times.append(self.node.engine.predict(rgb, thermal, want_gates=self.all_outputs).seconds)
        return e2e, model_times, loop

    @staticmethod
    def _pair(rgb: np.ndarray, thermal: np.ndarray, sec: int) -> list[Any]:
        from sensor_msgs.msg import Image

        from rgbt_seg_core.runtime.imageconv import array_to_image_fields

        msgs = []
        for arr, enc in ((rgb, "rgb8"), (thermal, "mono8")):
            m = Image(**array_to_image_fields(arr, enc))
            m.header.stamp.sec = sec
            m.header.frame_id = "bench"
            msgs.append(m)
        return msgs

    def _unpublished(self) -> int:
        """Pairs the node took in but published nothing for (a newer pair replaced it, or it was refused)."""
        counts = self.node.runtime.counts
        return sum(counts.get(k, 0) for k in ("dropped", "out_of_order", "skipped_no_subscribers", "inference_errors"))

    def streaming_rate(self, rgb: np.ndarray, thermal: np.ndarray, frames: int, in_flight: int = 2) -> float:
        """Outputs per second while the cameras stream: each pair is published as soon as fewer than ``in_flight``
        are unaccounted for (neither labelled nor dropped by the node), so the node receives the next pair while it
        segments this one."""
        # made before the clock starts; stamps go on from the latency loop's, one second apart as there
        next_sec = 1000 + frames + 1
        pairs = [self._pair(rgb, thermal, next_sec + i) for i in range(frames)]
        start, dropped = len(self.arrivals), self._unpublished()

        def accounted() -> int:
            return len(self.arrivals) - start + self._unpublished() - dropped

        def wait_until(n: int) -> None:
            deadline = time.monotonic() + 120
            while accounted() < n:
                self.got.clear()
                if accounted() >= n:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("the node accounted for no pair within 120 s")
                self.got.wait(timeout=0.05)  # a dropped pair sets no event: look at the counters again soon

        t0 = time.perf_counter()
        for i, msgs in enumerate(pairs):
            wait_until(i + 1 - in_flight)
            self.pub_rgb.publish(msgs[0])
            self.pub_thermal.publish(msgs[1])
        wait_until(frames)
        done = len(self.arrivals) - start
        if done == 0:
            raise RuntimeError("the node published no labels while the cameras streamed")
        return done / (self.arrivals[-1] - t0)

    def close(self) -> None:
        for e in self.executors:
            e.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()
