"""Launch the RGB-T segmentation node, optionally with RViz.

    ros2 launch rgbt_seg_ros segment.launch.py checkpoint:=/path/model.safetensors \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image_raw use_rviz:=true

    ros2 launch rgbt_seg_ros segment.launch.py checkpoint:=/path/model.safetensors \
        rgb_topic:=/camera/color/image_raw rgb_transport:=compressed lifecycle:=true autostart:=true

    ros2 launch rgbt_seg_ros segment.launch.py checkpoint:=/path/model.safetensors pairs:=front,rear use_rviz:=true

``pairs`` makes one node serve several camera pairs through one model, each pair on its own topics
(``front/rgb/image``, ``front/thermal/image``, ``front/rgb/camera_info`` in; ``~/front/labels`` ... out), with its
own settings from the params file (``front.thermal_homography``); RViz then shows every pair's outputs.
``checkpoint``, ``device`` and the transports override the params file only when given; ``namespace`` moves the
node and the RViz displays together; ``use_sim_time`` is passed to both. ``lifecycle:=true`` starts the managed
node (``segmentation_lifecycle_node``, same name and parameters), left unconfigured for a lifecycle manager, or
configured and activated by this file with ``autostart:=true``.
"""

import os
import tempfile

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from rgbt_seg_ros.launch_support import (
    as_bool,
    launch_pairs,
    node_executable,
    node_parameters,
    normalize_namespace,
    remappings,
    rviz_config_for_pairs,
)

ARGUMENTS = (
    ("checkpoint", "", "rgbt-seg .safetensors checkpoint (training or deploy form); empty: the params file's"),
    ("rgb_topic", "rgb/image", "colour camera topic (sensor_msgs/Image)"),
    ("thermal_topic", "thermal/image", "thermal camera topic (sensor_msgs/Image)"),
    ("rgb_transport", "", "raw, compressed or compressedDepth (subscribes <rgb_topic>/compressed ...); empty: the "
     "params file's (default raw)"),
    ("thermal_transport", "", "raw, compressed or compressedDepth; empty: the params file's (default raw)"),
    ("rgb_info_topic", "", "colour camera_info topic; empty: camera_info beside rgb_topic"),
    ("pairs", "", "camera pairs one node serves, front,rear (or [front, rear]), each on <pair>/rgb/image, "
     "<pair>/thermal/image and <pair>/rgb/camera_info; empty: the params file's (default one pair, on rgb_topic and "
     "thermal_topic)"),
    ("device", "", "auto, cpu, cuda or cuda:N; empty: the params file's (default auto)"),
    ("params_file", "", "parameter YAML (empty: the package's config/segment.yaml)"),
    ("registration_file", "", "thermal_homography YAML from `rgbt-seg register`, applied after params_file"),
    ("namespace", "", "namespace of the node (and of the topics RViz shows)"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("use_rviz", "false", "also start RViz with config/segment.rviz"),
    ("lifecycle", "false", "start the managed (lifecycle) node instead of the plain one"),
    ("autostart", "false", "with lifecycle:=true, configure and activate it at once"),
)


def _launch(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    share = FindPackageShare("rgbt_seg_ros").perform(context)
    params_file = arg["params_file"] or os.path.join(share, "config", "segment.yaml")
    parameters = node_parameters(params_file, checkpoint=arg["checkpoint"], device=arg["device"],
                                 use_sim_time=arg["use_sim_time"], registration_file=arg["registration_file"],
                                 rgb_transport=arg["rgb_transport"], thermal_transport=arg["thermal_transport"],
                                 pairs=arg["pairs"])
    namespace = normalize_namespace(arg["namespace"])
    lifecycle = as_bool(arg["lifecycle"], "lifecycle")
    node = (LifecycleNode if lifecycle else Node)(
        package="rgbt_seg_ros",
        executable=node_executable(lifecycle),
        name="segmentation_node",
        namespace=namespace,
        output="screen",
        parameters=parameters,
        remappings=remappings(arg["rgb_topic"], arg["thermal_topic"], arg["rgb_info_topic"], arg["pairs"]),
    )
    actions = [node]
    if as_bool(arg["autostart"], "autostart"):
        if not lifecycle:
            raise ValueError("autostart:=true needs lifecycle:=true (the plain node starts active)")
        actions += _autostart(node)
    if as_bool(arg["use_rviz"], "use_rviz"):
        with open(os.path.join(share, "config", "segment.rviz"), encoding="utf-8") as f:
            text = rviz_config_for_pairs(f.read(), namespace, launch_pairs(arg["pairs"]))
        fd, rviz_file = tempfile.mkstemp(prefix="rgbt_seg_", suffix=".rviz")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_file],
                            parameters=[{"use_sim_time": parameters[-1]["use_sim_time"]}]))
    return actions


def _autostart(node: LifecycleNode) -> list:
    """Configure now; activate when that configuring has ended in inactive, once (a manager's later cleanup and
    configure, or a deactivate, are not undone)."""
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    def change(transition_id: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id))

    activate = RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, start_state="configuring",
                                                      goal_state="inactive", handle_once=True,
                                                      entities=[change(Transition.TRANSITION_ACTIVATE)]))
    return [activate, change(Transition.TRANSITION_CONFIGURE)]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in ARGUMENTS]
    return LaunchDescription([*args, OpaqueFunction(function=_launch)])
