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
    from .bag_tools import use_local_ros_env

    use_local_ros_env()  # before rclpy initialises
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint
    from rgbt_seg_core.runtime.imageconv import array_to_image_fields
    from .segmentation_node import SegmentationNode

    tmp = None
    if checkpoint is None:
        tmp = tempfile.TemporaryDirectory()
        checkpoint = str(Path(tmp.name) / "bench.safetensors")
        save_checkpoint(checkpoint, build_model(model).eval().reparameterize())
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    thermal = rng.integers(0, 256, (height, width), dtype=np.uint8)

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = SegmentationNode(context=ctx, parameter_overrides=[
        Parameter("checkpoint", value=checkpoint), Parameter("device", value=device),
        Parameter("qos_reliability", value="reliable"), Parameter("warmup", value=1),
        Parameter("warmup_height", value=height), Parameter("warmup_width", value=width),
        Parameter("modality_timeout", value=3600.0),
        Parameter("frozen_timeout", value=0.0)])  # one frame, published again and again
    peer = rclpy.create_node("bench_peer", context=ctx)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_rgb = peer.create_publisher(Image, "rgb/image", qos)
    pub_thermal = peer.create_publisher(Image, "thermal/image", qos)
    got = threading.Event()
    arrivals: list[float] = []

    def on_labels(_msg: Any) -> None:
        arrivals.append(time.perf_counter())
        got.set()

    subs = [peer.create_subscription(Image, "/segmentation_node/labels", on_labels, 5)]
    if all_outputs:
        for name in ("color", "overlay", "gate/rgb", "gate/thermal"):
            subs.append(peer.create_subscription(Image, f"/segmentation_node/{name}", lambda m: None, 5))
    # one executor per node, each in its own thread: the peer's receipt of the labels must not queue behind the
    # node's callbacks (as it would in a shared executor), or the measurement would blame the node for it
    executors = [SingleThreadedExecutor(context=ctx), SingleThreadedExecutor(context=ctx)]
    executors[0].add_node(node)
    executors[1].add_node(peer)
    spins = [threading.Thread(target=e.spin, daemon=True) for e in executors]
    for t in spins:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (pub_rgb.get_subscription_count() == 0
                                               or pub_thermal.get_subscription_count() == 0
                                               or node.pipeline.publishers["labels"].get_subscription_count() == 0):
            time.sleep(0.05)
        e2e: list[float] = []
        model_times: list[float] = []
        for i in range(frames + 1):  # the first frame also warms up the transport; not counted
            got.clear()
            stamp = 1000.0 + i
            msgs = []
            for arr, enc in ((rgb, "rgb8"), (thermal, "mono8")):
                m = Image(**array_to_image_fields(arr, enc))
                m.header.stamp.sec = int(stamp)
                m.header.frame_id = "bench"
                msgs.append(m)
            t0 = time.perf_counter()
            pub_rgb.publish(msgs[0])
            pub_thermal.publish(msgs[1])
            if not got.wait(timeout=120):
                raise RuntimeError("the node published no labels within 120 s")
            if i:
                e2e.append(arrivals[-1] - t0)
                # the model alone, on the node's own engine, right after: same process, threads and clock state
                model_times.append(node.engine.predict(rgb, thermal, want_gates=all_outputs).seconds)
        e2e_in_node, model_in_node = node.runtime.latency_samples()
        inside = statistics.median(a - b for a, b in zip(e2e_in_node, model_in_node))
        model_name = node.engine.meta.model
    finally:
        for e in executors:
            e.shutdown()
        node.destroy_node()
        peer.destroy_node()
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
