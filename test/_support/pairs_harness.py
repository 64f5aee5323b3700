"""A node serving several camera pairs plus a peer with each pair's cameras and label subscribers, over a real DDS
graph; imported by ROS tests after importorskip (see ros_harness for the single-pair node's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy

from _support.ros_harness import make_image, spin_apart, spin_until, stop_spinning


class PairsHarness:
    """``pairs`` cameras published by a peer on ``/<pair>/rgb/image`` and ``/<pair>/thermal/image``; each pair's
    ``~/<pair>/labels`` and ``/diagnostics`` received. ``params``: the node's parameters, dotted ones included."""

    def __init__(self, checkpoint: Path, pairs: list[str], **params: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from rgbt_seg_ros.segmentation_node import SegmentationNode

        self.pairs = pairs
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        values = {"checkpoint": str(checkpoint), "device": "cpu", "warmup": 1, "warmup_height": 48,
                  "warmup_width": 64, "qos_reliability": "reliable", "qos_depth": 10, "modality_timeout": 30.0,
                  "frozen_timeout": 0.0, "diagnostics_period": 0.2, "pairs": pairs, **params}
        try:
            self.node = SegmentationNode(context=self.context,
                                         parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        except BaseException:
            rclpy.try_shutdown(context=self.context)
            raise
        self.peer = rclpy.create_node("pairs_peer", context=self.context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.cameras = {p: (self.peer.create_publisher(Image, f"/{p}/rgb/image", qos),
                            self.peer.create_publisher(Image, f"/{p}/thermal/image", qos)) for p in pairs}
        self.labels: dict[str, list[Any]] = {p: [] for p in pairs}
        self.diagnostics: list[Any] = []
        self._subs = [self.peer.create_subscription(Image, f"/segmentation_node/{p}/labels",
                                                    lambda m, p=p: self.labels[p].append(m), 10) for p in pairs]
        self._subs.append(self.peer.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10))
        self.executors, self._threads = spin_apart(self.context, self.node, self.peer)
        pubs = self.node.pipeline.publishers
        assert spin_until(lambda: all(pub.get_subscription_count() > 0 for cams in self.cameras.values()
                                      for pub in cams) and
                          all(pubs[f"{p}/labels"].get_subscription_count() > 0 for p in pairs), 10.0), \
            "discovery failed"

    def publish(self, pair: str, rgb: np.ndarray | None, thermal: np.ndarray | None, stamp: float,
                rgb_encoding: str = "rgb8", thermal_encoding: str = "mono8") -> None:
        """One frame of each camera given, the RGB frame's frame_id naming the pair."""
        pub_rgb, pub_thermal = self.cameras[pair]
        if rgb is not None:
            pub_rgb.publish(make_image(rgb, rgb_encoding, stamp, f"{pair}_rgb_optical"))
        if thermal is not None:
            pub_thermal.publish(make_image(thermal, thermal_encoding, stamp, f"{pair}_thermal_optical"))

    def labelled(self, pair: str, stamp: float) -> Any:
        """The labels ``pair`` published for ``stamp``, or None."""
        sec, nsec = int(stamp), int(round((stamp - int(stamp)) * 1e9))
        return next((m for m in list(self.labels[pair])
                     if (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nsec)), None)

    def status(self, name: str) -> Any:
        """The newest DiagnosticStatus called ``name``, or None."""
        for arr in reversed(list(self.diagnostics)):
            for status in arr.status:
                if status.name == name:
                    return status
        return None

    def close(self) -> None:
        stop_spinning(self.context, self.executors, self._threads, self.node, self.peer)
