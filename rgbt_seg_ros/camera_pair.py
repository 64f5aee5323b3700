"""One camera pair's ROS side, for a node that serves one pair or several through one model (issue 26).

A pair has its own subscriptions (its transports and QoS, on :func:`~rgbt_seg_core.settings.pairs.pair_topics`'
names: ``front/rgb/image`` in, ``~/front/labels`` out; today's names for the one pair of a node whose ``pairs``
is empty), its own :class:`~rgbt_seg_core.runtime.SegmentationRuntime` (pairing, camera health, its registration
and thermal normalisation), its own colour ``camera_info`` and its own diagnostics status. Only the model, its
worker and the batching are the node's (:mod:`.pipeline`). So one pair's dead or wrongly encoded camera is judged,
reported and dropped within that pair, and no other pair waits for it.
"""

from __future__ import annotations

import array
import functools
import time
from typing import Any, Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from rgbt_seg_core.runtime import RGB, THERMAL, FrameResult, Outputs, SegmentationRuntime, transport_topic
from rgbt_seg_core.runtime.compressed_outputs import COMPRESSIBLE
from rgbt_seg_core.runtime.imageconv import array_to_image_fields
from rgbt_seg_core.settings import Settings
from rgbt_seg_core.settings.pairs import SINGLE, pair_topics

from .graph import incompatible_qos_callbacks, topic_view

__all__ = ["CameraPair", "CAMERAS", "OUTPUT_TYPES", "status_name", "level_field"]

CAMERAS = ((RGB, "rgb"), (THERMAL, "thermal"))
OUTPUT_TYPES = {"labels": Image, "color": Image, "overlay": Image, "gate/rgb": Image, "gate/thermal": Image,
                "confidence": Float32MultiArray, "label_confidence": Image, "camera_info": CameraInfo,
                **{f"{name}/compressed": CompressedImage for name in COMPRESSIBLE}}


def status_name(node_name: str, pair: str) -> str:
    """A pair's DiagnosticStatus name: the node's as before for the one pair of a node without ``pairs``."""
    return f"rgbt_seg: {node_name}" if pair == SINGLE else f"rgbt_seg: {node_name}: pair {pair}"


def level_field(level: int) -> Any:
    """DiagnosticStatus.level is a byte in some ROS 2 distributions' Python messages and an int in others."""
    return bytes([level]) if isinstance(DiagnosticStatus.OK, bytes) else level


def _image(header: Any, arr: np.ndarray, encoding: str) -> Image:
    msg = Image(**array_to_image_fields(arr, encoding))
    msg.header = header
    return msg


def _compressed(header: Any, fmt: str, data: bytes) -> CompressedImage:
    # array('B') is what rclpy keeps; bytes would be checked by rclpy's setter one byte at a time in Python
    msg = CompressedImage(format=fmt, data=array.array("B", data))
    msg.header = header
    return msg


class CameraPair:
    """One pair's subscriptions, publishers, camera_info and graph view around its runtime (see the module
    docstring). ``settings`` are the pair's own (the node's with the pair's ``<pair>.<setting>`` over them)."""

    def __init__(self, node: Node, name: str, settings: Settings, runtime: SegmentationRuntime) -> None:
        self.node, self.name, self.settings, self.runtime = node, name, settings, runtime
        self.topics = pair_topics(name)
        self.publishers: dict[str, Any] = {}  # by OUTPUTS key (labels, gate/rgb, camera_info, ...)
        self._subs: list[Any] = []
        self.camera_info: CameraInfo | None = None
        self.qos_event: list[str | None] = [None, None]
        self.base_topics = ["", ""]

    def create_publishers(self) -> None:
        create = self.node.create_publisher
        self.publishers = {key: create(typ, self.topics.outputs[key], 5) for key, typ in OUTPUT_TYPES.items()}

    def destroy_publishers(self) -> None:
        for pub in self.publishers.values():
            self.node.destroy_publisher(pub)
        self.publishers = {}

    # ------------------------------------------------------------------ input
    def subscribe(self, on_image: Callable[["CameraPair", int, Any], None]) -> None:
        """Subscribe to the pair's cameras with its own transports and QoS, and to its colour camera_info."""
        s = self.settings
        self.qos_event = [None, None]
        self.camera_info = None
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.qos_depth,
                         reliability=ReliabilityPolicy.BEST_EFFORT if s.qos_reliability == "best_effort"
                         else ReliabilityPolicy.RELIABLE)
        for modality, camera in CAMERAS:
            transport = s.rgb_transport if modality == RGB else s.thermal_transport
            # image_transport's rule: remappings apply to the base topic, the transport's suffix comes after
            base = self.node.resolve_topic_name(self.topics.images[camera])
            self.base_topics[modality] = base
            self._subs.append(self.node.create_subscription(
                Image if transport == "raw" else CompressedImage, transport_topic(base, transport),
                lambda msg, m=modality: on_image(self, m, msg), qos,
                event_callbacks=incompatible_qos_callbacks(functools.partial(self._on_qos, modality))))
        self._subs.append(self.node.create_subscription(CameraInfo, self.topics.camera_info, self._on_camera_info,
                                                        qos))

    def unsubscribe(self) -> None:
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs, self.camera_info = [], None

    def _on_qos(self, modality: int, policy: str) -> None:
        self.qos_event[modality] = policy

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    # ------------------------------------------------------------------ output
    def wanted(self) -> Outputs:
        count = {name: pub.get_subscription_count() for name, pub in self.publishers.items()}
        return Outputs(labels=count["labels"] > 0, color=count["color"] > 0, overlay=count["overlay"] > 0,
                       gates=count["gate/rgb"] + count["gate/thermal"] > 0, confidence=count["confidence"] > 0,
                       label_confidence=count["label_confidence"] > 0,
                       compressed=frozenset(name for name in COMPRESSIBLE if count[f"{name}/compressed"] > 0))

    def publish(self, out: FrameResult) -> None:
        """Every output this pair computed, with its RGB frame's header (thermal's for a thermal-only output)."""
        header, pubs = out.header, self.publishers
        pubs["labels"].publish(_image(header, out.labels, "mono8"))
        info = self.camera_info
        if info is not None and out.rgb is not None:  # thermal-only outputs have no colour camera_info
            info.header = header
            pubs["camera_info"].publish(info)
        if out.color is not None:
            pubs["color"].publish(_image(header, out.color, "rgb8"))
        if out.overlay is not None:
            pubs["overlay"].publish(_image(header, out.overlay, "rgb8"))
        if out.gates is not None:
            pubs["gate/rgb"].publish(_image(header, out.gates[0], "32FC1"))
            pubs["gate/thermal"].publish(_image(header, out.gates[1], "32FC1"))
        if out.confidence is not None:
            msg = Float32MultiArray()
            msg.layout.dim = [MultiArrayDimension(label="modality:rgb,thermal", size=2, stride=2)]
            msg.data = [float(v) for v in out.confidence]
            pubs["confidence"].publish(msg)
        if out.label_confidence is not None:  # made only while ~/label_confidence has a subscriber
            encoding = "mono8" if out.label_confidence.dtype == np.uint8 else "32FC1"
            pubs["label_confidence"].publish(_image(header, out.label_confidence, encoding))
        for name, encoded in out.compressed.items():  # only those with a subscriber were encoded
            pubs[f"{name}/compressed"].publish(_compressed(header, encoded.format, encoded.data))

    # ------------------------------------------------------------------ diagnostics
    def views(self, activated: float) -> list[Any]:
        """The graph's view of each camera; none during the first ``modality_timeout`` after activation, while
        discovery may not have found the drivers yet (a start must not log "no publisher" for a camera that is
        there)."""
        s = self.settings
        if time.monotonic() - activated < s.modality_timeout:
            return [None, None]
        reliable = s.qos_reliability == "reliable"
        return [topic_view(self.node, camera, self.base_topics[m], s.rgb_transport if m == RGB else
                           s.thermal_transport, reliable, self.qos_event[m]) for m, camera in CAMERAS]

    def status(self, node_name: str, activated: float, hardware_id: str, extra: dict[str, str]) -> DiagnosticStatus:
        """The pair's health, with today's wording and keys (``extra``: the shared model's device and name),
        named by the pair."""
        health = self.runtime.diagnostics(self.views(activated))
        status = DiagnosticStatus()
        status.name = status_name(node_name, self.name)
        status.hardware_id = hardware_id
        status.level = level_field(health.level)
        status.message = health.message
        values = {**health.values, **extra}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status
