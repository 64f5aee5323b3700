"""Launch the RGB-T segmentation node, optionally with RViz.

    ros2 launch rgbt_seg_ros segment.launch.py checkpoint:=/path/model.safetensors \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image_raw use_rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("checkpoint", None, "rgbt-seg .safetensors checkpoint (training or deploy form)"),
    ("rgb_topic", "rgb/image", "colour camera topic (sensor_msgs/Image)"),
    ("thermal_topic", "thermal/image", "thermal camera topic (sensor_msgs/Image)"),
    ("device", "auto", "auto, cpu, cuda or cuda:N"),
    ("params_file", None, "parameter YAML (default: the package's config/segment.yaml)"),
    ("namespace", "", "namespace of the node"),
    ("use_rviz", "false", "also start RViz with config/segment.rviz"),
)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("rgbt_seg_ros")
    defaults = {"params_file": PathJoinSubstitution([share, "config", "segment.yaml"])}
    args = []
    for name, default, description in ARGUMENTS:
        value = defaults.get(name, default)
        if value is None:
            args.append(DeclareLaunchArgument(name, description=description))
        else:
            args.append(DeclareLaunchArgument(name, default_value=value, description=description))
    node = Node(
        package="rgbt_seg_ros",
        executable="segmentation_node",
        name="segmentation_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {"checkpoint": LaunchConfiguration("checkpoint"), "device": LaunchConfiguration("device")},
        ],
        remappings=[
            ("rgb/image", LaunchConfiguration("rgb_topic")),
            ("thermal/image", LaunchConfiguration("thermal_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "segment.rviz"])],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    return LaunchDescription([*args, node, rviz])
