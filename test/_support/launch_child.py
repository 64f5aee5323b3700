"""Run the installed segment.launch.py under the real launch / launch_ros with the given arguments, publish camera
pairs, and print how many labels came back (test_launch_and_config.py runs it when launch is installed).

    python test/ros/launch_child.py CHECKPOINT SHARE_DIR [name:=value ...] [wait:=SECONDS]
"""
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from launch import LaunchDescription, LaunchService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _support.ros_harness import make_image  # noqa: E402

ckpt, share = sys.argv[1], sys.argv[2]
args = dict(a.split(":=", 1) for a in sys.argv[3:])
sys.argv = sys.argv[:1]
wait = float(args.pop("wait", 90))
source = PythonLaunchDescriptionSource(os.path.join(share, "launch", "segment.launch.py"))
ld = LaunchDescription([IncludeLaunchDescription(source, launch_arguments={"checkpoint": ckpt, "device": "cpu",
                                                                           **args}.items())])
ls = LaunchService(argv=[])
ls.include_launch_description(ld)


def peer() -> None:
    from rclpy.executors import SingleThreadedExecutor

    ctx = rclpy.Context()
    rclpy.init(args=[], context=ctx)
    node = rclpy.create_node("launch_peer", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    pr = node.create_publisher(Image, args.get("rgb_topic", "rgb/image"), qos)
    pt = node.create_publisher(Image, "thermal/image", qos)
    got = []
    ns = args.get("namespace", "")
    node.create_subscription(Image, f"{'/' + ns if ns else ''}/segmentation_node/labels", got.append, 5)
    rng = np.random.default_rng(0)
    end = time.monotonic() + wait
    stamp = 10.0
    while time.monotonic() < end and not got:
        ex.spin_once(timeout_sec=0.05)
        stamp += 0.1
        pr.publish(make_image(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "rgb8", stamp))
        pt.publish(make_image(rng.integers(0, 256, (48, 64), dtype=np.uint8), "mono8", stamp))
    print(f"labels received: {len(got)}", flush=True)
    ex.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    ls.shutdown()


threading.Thread(target=peer, daemon=True).start()
print(f"launch exit: {ls.run()}")
