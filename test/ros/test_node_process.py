"""The node as its own process: a SIGTERM while it is busy ends it cleanly (exit 0, nothing logged as failed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from _support.ros_harness import make_image, spin_until  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigterm_while_segmenting_is_clean(tiny_checkpoint: Path) -> None:
    cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_node", "--ros-args", "-p", f"checkpoint:={tiny_checkpoint}",
           "-p", "device:=cpu", "-p", "warmup:=0", "-p", "qos_reliability:=reliable", "-p", "qos_depth:=5",
           "-p", "frozen_timeout:=0.0"]  # one frame, published again and again
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    peer = rclpy.create_node("sigterm_peer", context=ctx)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_rgb = peer.create_publisher(Image, "rgb/image", qos)
    pub_thermal = peer.create_publisher(Image, "thermal/image", qos)
    labels: list = []
    peer.create_subscription(Image, "/segmentation_node/labels", labels.append, 5)
    peer.create_subscription(Image, "/segmentation_node/overlay", lambda m: None, 5)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(peer)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    stop = threading.Event()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)  # large enough to keep the worker busy
    thermal = rng.integers(0, 256, (240, 320), dtype=np.uint8)

    def camera() -> None:
        t = 1000.0
        while not stop.wait(0.02):
            t += 0.05
            pub_rgb.publish(make_image(rgb, "rgb8", t))
            pub_thermal.publish(make_image(thermal, "mono8", t))

    cam = threading.Thread(target=camera, daemon=True)
    try:
        assert spin_until(lambda: pub_rgb.get_subscription_count() > 0, 60.0), "node did not come up"
        cam.start()
        assert spin_until(lambda: len(labels) >= 3, 60.0), "node never segmented"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        ex.shutdown()
        peer.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert proc.returncode == 0, out
    for bad in ("Traceback", "failed", "context is invalid", "ERROR"):
        assert bad not in out, out
