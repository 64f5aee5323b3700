"""Node overhead benchmark: end-to-end latency (camera publish -> ~/labels received) against model latency.

Frames are sent one at a time (the next pair only after the previous labels arrived), so the figure is latency,
not throughput. Model latency is the node's own :meth:`InferenceEngine.predict` on the same pair, timed right
after each end-to-end frame (interleaved, so both see the same process, threads and CPU clock state): the
difference is what the node adds (DDS transport both ways, message conversion, pairing, thread hand-off,
publishing). Node and peer spin in separate executors, as the node would in its own process.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def run_node_benchmark(checkpoint: str | None, model: str, height: int, width: int, frames: int,
                       all_outputs: bool, device: str = "cpu") -> dict[str, Any]:
    """End-to-end and model latency of ``frames`` pairs through the node (see module docstring)."""
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
        bench = _Bench(ctx, _start_node(ctx, checkpoint, device, height, width), all_outputs)
        bench.wait_for_discovery(timeout=20.0)
        e2e, model_times = bench.measure(rgb, thermal, frames)
        e2e_in_node, model_in_node = bench.node.runtime.latency_samples()
        inside = statistics.median(a - b for a, b in zip(e2e_in_node, model_in_node))
        model_name = bench.node.engine.meta.model
    finally:
        if bench is not None:
            bench.close()
        rclpy.try_shutdown(context=ctx)
        if tmp is not None:
            tmp.cleanup()
    m50, e50 = statistics.median(model_times), statistics.median(e2e)
    return {
        "model": model_name, "input": [height, width], "device": device, "frames": frames,
        "outputs": "all" if all_outputs else "labels",
        "model_ms_p50": round(1e3 * m50, 2), "end_to_end_ms_p50": round(1e3 * e50, 2),
        "end_to_end_ms_p95": round(1e3 * float(np.percentile(e2e, 95)), 2),
        "in_node_overhead_ms_p50": round(1e3 * inside, 2),
        "overhead_ms": round(1e3 * (e50 - m50), 2), "overhead_ratio": round((e50 - m50) / m50, 4),
    }


def _random_checkpoint(folder: Path, model: str) -> str:
    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    path = str(folder / "bench.safetensors")
    save_checkpoint(path, build_model(model).eval().reparameterize())
    return path


def _start_node(ctx: Any, checkpoint: str, device: str, height: int, width: int) -> Any:
    from rclpy.parameter import Parameter

    from .segmentation_node import SegmentationNode

    return SegmentationNode(context=ctx, parameter_overrides=[
        Parameter("checkpoint", value=checkpoint), Parameter("device", value=device),
        Parameter("qos_reliability", value="reliable"), Parameter("warmup", value=1),
        Parameter("warmup_height", value=height), Parameter("warmup_width", value=width),
        Parameter("modality_timeout", value=3600.0),
        Parameter("frozen_timeout", value=0.0)])  # one frame, published again and again


class _Bench:
    """The node and a peer that plays the cameras and receives ``~/labels``, each spun by its own executor."""

    def __init__(self, ctx: Any, node: Any, all_outputs: bool) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

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
        labels = self.node.pipeline.publishers["labels"]
        while time.monotonic() < deadline and (self.pub_rgb.get_subscription_count() == 0
                                               or self.pub_thermal.get_subscription_count() == 0
                                               or labels.get_subscription_count() == 0):
            time.sleep(0.05)

    def measure(self, rgb: np.ndarray, thermal: np.ndarray, frames: int) -> tuple[list[float], list[float]]:
        """End-to-end and model-alone seconds of each frame, one pair at a time."""
        from sensor_msgs.msg import Image

        from rgbt_seg_core.runtime.imageconv import array_to_image_fields

        e2e: list[float] = []
        model_times: list[float] = []
        for i in range(frames + 1):  # the first frame also warms up the transport; not counted
            self.got.clear()
            stamp = 1000.0 + i
            msgs = []
            for arr, enc in ((rgb, "rgb8"), (thermal, "mono8")):
                m = Image(**array_to_image_fields(arr, enc))
                m.header.stamp.sec = int(stamp)
                m.header.frame_id = "bench"
                msgs.append(m)
            t0 = time.perf_counter()
            self.pub_rgb.publish(msgs[0])
            self.pub_thermal.publish(msgs[1])
            if not self.got.wait(timeout=120):
                raise RuntimeError("the node published no labels within 120 s")
            if i:
                e2e.append(self.arrivals[-1] - t0)
                # the model alone, on the node's own engine, right after: same process, threads and clock state
                model_times.append(self.node.engine.predict(rgb, thermal, want_gates=self.all_outputs).seconds)
        return e2e, model_times

    def close(self) -> None:
        for e in self.executors:
            e.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()
