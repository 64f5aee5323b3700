"""A node under test plus a peer node, over a real DDS graph; imported by ROS tests after importorskip."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from rgbt_seg_core.runtime.imageconv import array_to_image_fields


def spin_until(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def stamped(msg: Any, stamp: float, frame_id: str) -> Any:
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = int(round((stamp - int(stamp)) * 1e9))
    msg.header.frame_id = frame_id
    return msg


def make_image(arr: np.ndarray, encoding: str, stamp: float, frame_id: str = "cam") -> Image:
    return stamped(Image(**array_to_image_fields(arr, encoding)), stamp, frame_id)


def make_compressed(data: bytes, fmt: str, stamp: float, frame_id: str = "cam") -> Any:
    from sensor_msgs.msg import CompressedImage

    return stamped(CompressedImage(format=fmt, data=data), stamp, frame_id)


def spin_apart(context: Any, *nodes: Any) -> tuple[list[SingleThreadedExecutor], list[threading.Thread]]:
    """One executor and thread per node, as each would have in its own process."""
    executors = [SingleThreadedExecutor(context=context) for _ in nodes]
    for e, n in zip(executors, nodes):
        e.add_node(n)
    threads = [threading.Thread(target=e.spin, daemon=True) for e in executors]
    for t in threads:
        t.start()
    return executors, threads


def stop_spinning(context: Any, executors: list[SingleThreadedExecutor], threads: list[threading.Thread],
                  *nodes: Any) -> None:
    for e in executors:
        e.shutdown()
    for t in threads:
        t.join(timeout=5)
    for n in nodes:
        n.destroy_node()
    rclpy.try_shutdown(context=context)


class RunningNode:
    """segmentation_node on CPU with reliable QoS, spun in this process (for tools that talk to a running node:
    bag-eval --live, bag-play); ``params`` add to or override the defaults here."""

    def __init__(self, checkpoint: Path, **params: Any) -> None:
        from rclpy.parameter import Parameter

        from rgbt_seg_ros.segmentation_node import SegmentationNode

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        values = {"checkpoint": str(checkpoint), "device": "cpu", "qos_reliability": "reliable", "qos_depth": 10,
                  "warmup": 1, "warmup_height": 64, "warmup_width": 80, "modality_timeout": 60.0, **params}
        self.node = SegmentationNode(context=self.ctx,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.executors, self.threads = spin_apart(self.ctx, self.node)

    def close(self) -> None:
        stop_spinning(self.ctx, self.executors, self.threads, self.node)


class Harness:
    """The node under test plus a peer node with camera publishers and output subscribers."""

    OUTPUTS = {"labels": Image, "color": Image, "overlay": Image, "gate/rgb": Image, "gate/thermal": Image}

    def __init__(self, checkpoint: Path, *, camera_transports: tuple[str, str] | None = None,
                 camera_reliable: bool = True, wait: bool = True, **params: Any) -> None:
        """``camera_transports``: what the peer's cameras publish (default: what the node subscribes);
        ``camera_reliable``: their reliability; ``wait``: wait until the node and the peer have discovered each
        other (impossible when their QoS or transports differ)."""
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import CameraInfo, CompressedImage
        from std_msgs.msg import Float32MultiArray

        from rgbt_seg_core.runtime import transport_topic
        from rgbt_seg_ros.segmentation_node import SegmentationNode

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        values = {"checkpoint": str(checkpoint), "device": "cpu", "warmup": 1, "warmup_height": 48,
                  "warmup_width": 64, "qos_reliability": "reliable", "qos_depth": 10, "modality_timeout": 30.0,
                  "frozen_timeout": 0.0,  # tests publish one frame many times; the frozen test turns it on
                  "diagnostics_period": 0.2, **params}
        overrides = [Parameter(k, value=v) for k, v in values.items()]
        self.node = SegmentationNode(context=self.context, parameter_overrides=overrides)
        self.peer = rclpy.create_node("peer", context=self.context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE if camera_reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        transports = camera_transports or (values.get("rgb_transport", "raw"), values.get("thermal_transport", "raw"))
        self.pub_rgb, self.pub_thermal = (
            self.peer.create_publisher(Image if t == "raw" else CompressedImage, transport_topic(base, t), qos)
            for base, t in zip(("/rgb/image", "/thermal/image"), transports))
        self.pub_info = self.peer.create_publisher(CameraInfo, "rgb/camera_info", qos)
        self.received: dict[str, list[Any]] = {k: [] for k in [*self.OUTPUTS, "confidence", "diagnostics",
                                                               "camera_info"]}
        self._subs = []
        for name, typ in self.OUTPUTS.items():
            self._subs.append(self.peer.create_subscription(
                typ, f"/segmentation_node/{name}", lambda m, n=name: self.received[n].append(m), 10))
        self._subs.append(self.peer.create_subscription(
            Float32MultiArray, "/segmentation_node/confidence", lambda m: self.received["confidence"].append(m), 10))
        self._subs.append(self.peer.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: self.received["diagnostics"].append(m), 10))
        self._subs.append(self.peer.create_subscription(
            CameraInfo, "/segmentation_node/camera_info", lambda m: self.received["camera_info"].append(m), 10))
        self.executors, self._threads = spin_apart(self.context, self.node, self.peer)
        assert not wait or spin_until(self._discovered, 10.0), "discovery failed"

    def _discovered(self) -> bool:
        pubs = self.node.pipeline.publishers
        return all(p.get_subscription_count() > 0 for p in (self.pub_rgb, self.pub_thermal, self.pub_info,
                                                              pubs["labels"], pubs["gate/rgb"], pubs["camera_info"]))

    def publish_pair(self, rgb: np.ndarray, thermal: np.ndarray, stamp: float, thermal_stamp: float | None = None,
                     rgb_encoding: str = "rgb8", thermal_encoding: str = "mono8") -> None:
        self.pub_rgb.publish(make_image(rgb, rgb_encoding, stamp, "rgb_optical"))
        self.pub_thermal.publish(make_image(thermal, thermal_encoding,
                                            stamp if thermal_stamp is None else thermal_stamp, "thermal_optical"))

    def diag(self) -> dict[str, str]:
        if not self.received["diagnostics"]:
            return {}
        return {kv.key: kv.value for kv in self.received["diagnostics"][-1].status[0].values}

    def close(self) -> None:
        stop_spinning(self.context, self.executors, self._threads, self.node, self.peer)
