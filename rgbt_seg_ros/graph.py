"""What the ROS graph says about a camera, for :func:`rgbt_seg_core.runtime.input_status`, and the rclpy names
that moved between distributions (so the node runs on Humble as on Jazzy and later)."""

from __future__ import annotations

from typing import Any, Callable

from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy, qos_policy_name_from_kind

from rgbt_seg_core.runtime import Endpoint, TopicView, transport_topic
from rgbt_seg_core.runtime.input_status import TRANSPORTS

try:  # Jazzy and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # the same class, under its Humble name

__all__ = ["topic_view", "incompatible_qos_callbacks"]


def topic_view(node: Node, camera: str, base_topic: str, transport: str, reliable: bool,
               qos_event: str | None) -> TopicView | None:
    """The publishers on ``base_topic`` and on each of its transport topics; None if the graph cannot be read
    (the context is shutting down)."""
    endpoints = []
    try:
        for t in TRANSPORTS:
            topic = transport_topic(base_topic, t)
            for info in node.get_publishers_info_by_topic(topic):
                endpoints.append(Endpoint(topic, info.topic_type,
                                          info.qos_profile.reliability == ReliabilityPolicy.RELIABLE))
    except Exception:  # rclpy raises RCLError / InvalidHandle once shutdown has begun
        return None
    return TopicView(camera, base_topic, transport, reliable, tuple(endpoints), qos_event)


def incompatible_qos_callbacks(on_policy: Callable[[str], None]) -> Any:
    """Subscription event callbacks that report the name of the last incompatible policy (e.g. RELIABILITY)
    instead of rclpy's generic warning."""

    def callback(info: Any) -> None:
        on_policy(qos_policy_name_from_kind(info.last_policy_kind))

    return SubscriptionEventCallbacks(incompatible_qos=callback)
