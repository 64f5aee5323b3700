"""``~/label_info``: what the ids in ``~/labels`` mean, told the ROS way (vision_msgs >= 4.0; issue 28).

vision_msgs' convention for segmentation: the labels are a sensor_msgs/Image, and a ``vision_msgs/LabelInfo`` on
``label_info`` at the same namespace level maps each id to its class name, latched (transient local, depth 1),
as camera_info sits beside an image: a mapper or logger that joins at any time learns the map from the node
rather than from the checkpoint file. The class map is the checkpoint's class names by index, with the unlabelled
id 255 (:data:`~rgbt_seg_core.settings.vocab.UNLABELLED`) that pixels below ``min_confidence`` get; the threshold
is ``min_confidence``. A node serving several camera pairs has one beside each pair's labels
(``~/front/label_info``).

It is published on activation, and again when the model changes (each configure loads it afresh), when
``min_confidence`` changes, and when the labels' frame changes (the first labels after activation, whose frame
is not known before; a thermal-only output carries the thermal camera's frame). The header is the latest labels'
frame with the stamp of the moment the map took effect, or the labels' own header where they brought the change.

Where vision_msgs cannot be imported (a pip-only install where scripts/vision_msgs/build.py could not run), the
node runs without ``~/label_info``, logs so once, and its diagnostics say so under the key ``label_info``.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from rgbt_seg_core.settings.vocab import UNLABELLED
from rgbt_seg_core.utils.classes import label_map

__all__ = ["LabelInfoTopics", "label_info_qos", "message_types", "STATUS_KEY"]

STATUS_KEY = "label_info"  # the diagnostics key that says where LabelInfo goes, or why it does not
_MISSING_HINT = "make vision-msgs builds it into a pip-only venv (cmake, a C/C++ compiler, the Python headers)"


def label_info_qos() -> QoSProfile:
    """Latched: the last map only, kept for subscribers that join later (they must ask for transient local too)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def message_types() -> tuple[Any, Any] | str:
    """vision_msgs' (LabelInfo, VisionClass), or why they cannot be imported."""
    try:
        from vision_msgs.msg import LabelInfo, VisionClass
    except ImportError as exc:
        return f"off: vision_msgs is not installed ({exc}); {_MISSING_HINT}"
    return LabelInfo, VisionClass


class LabelInfoTopics:
    """Every camera pair's ``~/label_info`` (``topics``: pair -> topic), for one loaded model; thread-safe, as the
    worker publishes labels while parameter changes arrive on the executor."""

    def __init__(self, node: Node, topics: Mapping[str, str], class_names: Sequence[str], threshold: float) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._class_map = label_map(class_names, UNLABELLED)
        self._threshold = float(threshold)
        self._frames = {pair: "" for pair in topics}  # the latest labels' frame id, per pair
        types = message_types()
        self.unavailable = types if isinstance(types, str) else None
        self._types: tuple[Any, Any] | None = None if isinstance(types, str) else types
        self._pubs: dict[str, Any] = {}
        self.published = 0  # LabelInfo messages sent, all pairs
        if self._types is None:
            node.get_logger().warning(f"~/label_info {self.unavailable}", once=True)
            return
        self._pubs = {pair: node.create_publisher(self._types[0], topic, label_info_qos())
                      for pair, topic in topics.items()}

    @property
    def topics(self) -> list[str]:
        return [pub.topic_name for pub in self._pubs.values()]

    def status(self) -> str:
        """The diagnostics value: where it is published, or why not."""
        return self.unavailable or ("published on " + ", ".join(self.topics))

    def publish_all(self) -> None:
        """Each pair's map, stamped now (activation)."""
        with self._lock:
            for pair in self._pubs:
                self._publish(pair, None)

    def set_threshold(self, threshold: float) -> None:
        """``min_confidence`` as it is now: republished where it changed."""
        with self._lock:
            if float(threshold) == self._threshold:
                return
            self._threshold = float(threshold)
            for pair in self._pubs:
                self._publish(pair, None)

    def labels_published(self, pair: str, header: Any) -> None:
        """``pair`` published labels with ``header``: republished, with that header, where their frame is new."""
        with self._lock:
            if pair not in self._pubs or header.frame_id == self._frames[pair]:
                return
            self._frames[pair] = header.frame_id
            self._publish(pair, header)

    def destroy(self) -> None:
        with self._lock:
            for pub in self._pubs.values():
                self.node.destroy_publisher(pub)
            self._pubs = {}

    def _publish(self, pair: str, header: Any | None) -> None:
        """Lock held. ``header`` None: the latest labels' frame, stamped now."""
        assert self._types is not None
        label_info, vision_class = self._types
        msg = label_info()
        if header is None:
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.header.frame_id = self._frames[pair]
        else:
            msg.header = header
        msg.class_map = [vision_class(class_id=i, class_name=name) for i, name in self._class_map]
        msg.threshold = self._threshold
        self._pubs[pair].publish(msg)
        self.published += 1
