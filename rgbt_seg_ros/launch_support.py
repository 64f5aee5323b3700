"""What ``launch/segment.launch.py`` computes, as plain functions so it is tested without the launch library.

* Parameters: the params file first, then only the launch arguments that were given. An empty ``device`` or
  ``checkpoint`` argument leaves the file's value alone (a default of "auto" would silently override it).
* Topics: the cameras' image topics are remapped as given; ``rgb/camera_info`` follows the colour topic the way
  image_transport pairs them (``/cam/color/image_raw`` -> ``/cam/color/camera_info``) unless given. A compressed
  transport needs no remapping of its own: the node appends ``/compressed`` to the remapped base topic.
* Lifecycle: ``lifecycle:=true`` starts the managed node; ``autostart:=true`` then configures it and, once it is
  inactive after configuring, activates it.
* RViz: the shipped config names the node's topics absolutely (RViz resolves topics against its own node, not
  ours), so the launch file rewrites them under the node's namespace.
"""

from __future__ import annotations

from typing import Any

from rgbt_seg_core.utils.booleans import parse_bool

__all__ = ["node_parameters", "normalize_namespace", "rviz_config_for_namespace", "camera_info_topic", "remappings",
           "as_bool", "node_executable"]

NODE_NAME = "segmentation_node"


def node_parameters(params_file: str, *, checkpoint: str = "", device: str = "",
                    use_sim_time: str | bool = False, registration_file: str = "", rgb_transport: str = "",
                    thermal_transport: str = "") -> list[Any]:
    """The node's parameter list: the params file, then the registration file (`rgbt-seg register`; its
    ``thermal_homography`` wins over the params file's), then the launch arguments that were given."""
    overrides: dict[str, Any] = {"use_sim_time": as_bool(use_sim_time, "use_sim_time")}
    given = {"checkpoint": checkpoint, "device": device, "rgb_transport": rgb_transport,
             "thermal_transport": thermal_transport}
    for name, value in given.items():
        if value.strip():
            overrides[name] = value.strip()
    files = [f for f in (params_file, registration_file.strip()) if f]
    return [*files, overrides]


def normalize_namespace(namespace: str) -> str:
    """"", "/" -> ""; "robot1", "/robot1/" -> "/robot1"."""
    parts = [p for p in namespace.strip().split("/") if p]
    return "/" + "/".join(parts) if parts else ""


def rviz_config_for_namespace(text: str, namespace: str) -> str:
    ns = normalize_namespace(namespace)
    return text.replace(f"Value: /{NODE_NAME}/", f"Value: {ns}/{NODE_NAME}/")


def as_bool(value: str | bool, name: str) -> bool:
    """A launch argument's truth value: an argument left empty is false; anything but the usual spellings is an
    error naming the argument."""
    return parse_bool(value, name, empty=False)


def camera_info_topic(image_topic: str) -> str:
    """image_transport's rule: the camera_info topic is the image topic's sibling named camera_info."""
    head, _, _ = image_topic.rstrip("/").rpartition("/")
    return f"{head}/camera_info" if head or image_topic.startswith("/") else "camera_info"


def remappings(rgb_topic: str, thermal_topic: str, rgb_info_topic: str = "") -> list[tuple[str, str]]:
    return [("rgb/image", rgb_topic), ("thermal/image", thermal_topic),
            ("rgb/camera_info", rgb_info_topic.strip() or camera_info_topic(rgb_topic))]


def node_executable(lifecycle: str | bool) -> str:
    return "segmentation_lifecycle_node" if as_bool(lifecycle, "lifecycle") else "segmentation_node"
