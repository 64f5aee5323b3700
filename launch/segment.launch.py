"""Launch the RGB-T segmentation node, optionally with RViz.

    ros2 launch rgbt_seg_ros segment.launch.py checkpoint:=/path/model.safetensors \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image_raw use_rviz:=true

``checkpoint`` and ``device`` override the params file only when given; ``namespace`` moves the node and the
RViz displays together; ``use_sim_time`` is passed to both.
"""

import os
import tempfile

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rgbt_seg_ros.launch_support import node_parameters, normalize_namespace, rviz_config_for_namespace

ARGUMENTS = (
    ("checkpoint", "", "rgbt-seg .safetensors checkpoint (training or deploy form); empty: the params file's"),
    ("rgb_topic", "rgb/image", "colour camera topic (sensor_msgs/Image)"),
    ("thermal_topic", "thermal/image", "thermal camera topic (sensor_msgs/Image)"),
    ("device", "", "auto, cpu, cuda or cuda:N; empty: the params file's (default auto)"),
    ("params_file", "", "parameter YAML (empty: the package's config/segment.yaml)"),
    ("registration_file", "", "thermal_homography YAML from `rgbt-seg register`, applied after params_file"),
    ("namespace", "", "namespace of the node (and of the topics RViz shows)"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("use_rviz", "false", "also start RViz with config/segment.rviz"),
)


def _launch(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    share = FindPackageShare("rgbt_seg_ros").perform(context)
    params_file = arg["params_file"] or os.path.join(share, "config", "segment.yaml")
    parameters = node_parameters(params_file, checkpoint=arg["checkpoint"], device=arg["device"],
                                 use_sim_time=arg["use_sim_time"], registration_file=arg["registration_file"])
    namespace = normalize_namespace(arg["namespace"])
    actions = [Node(
        package="rgbt_seg_ros",
        executable="segmentation_node",
        name="segmentation_node",
        namespace=namespace,
        output="screen",
        parameters=parameters,
        remappings=[("rgb/image", arg["rgb_topic"]), ("thermal/image", arg["thermal_topic"])],
    )]
    if arg["use_rviz"].strip().lower() in ("true", "1", "yes", "on"):
        with open(os.path.join(share, "config", "segment.rviz"), encoding="utf-8") as f:
            text = rviz_config_for_namespace(f.read(), namespace)
        fd, rviz_file = tempfile.mkstemp(prefix="rgbt_seg_", suffix=".rviz")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_file],
                            parameters=[{"use_sim_time": parameters[-1]["use_sim_time"]}]))
    return actions


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in ARGUMENTS]
    return LaunchDescription([*args, OpaqueFunction(function=_launch)])
