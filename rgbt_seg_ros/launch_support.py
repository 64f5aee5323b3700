"""What ``launch/segment.launch.py`` computes, as plain functions so it is tested without the launch library.

* Parameters: the params file first, then only the launch arguments that were given. An empty ``device`` or
  ``checkpoint`` argument leaves the file's value alone (a default of "auto" would silently override it).
* Topics: the cameras' image topics are remapped as given; ``rgb/camera_info`` follows the colour topic the way
  image_transport pairs them (``/cam/color/image_raw`` -> ``/cam/color/camera_info``) unless given. A compressed
  transport needs no remapping of its own: the node appends ``/compressed`` to the remapped base topic.
* Lifecycle: ``lifecycle:=true`` starts the managed node; ``autostart:=true`` then configures it and, once it is
  inactive after configuring, activates it.
* RViz: the shipped config names the node's topics absolutely (RViz resolves topics against its own node, not
  ours), so the launch file rewrites them under the node's namespace, and, for a node serving several camera pairs
  (``pairs:=front,rear``), shows each display once per pair, on that pair's outputs (``~/front/overlay``).
* Pairs: ``pairs:=front,rear`` (or ``[front, rear]``) sets the node's ``pairs``; each pair's cameras are then
  ``<pair>/rgb/image`` and so on, so ``rgb_topic`` and ``thermal_topic``, which rename a single pair's, are refused
  beside it (remap each pair's topics, or give them in a params file).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from rgbt_seg_core.settings.pairs import pairs_from_text
from rgbt_seg_core.utils.booleans import parse_bool

__all__ = ["node_parameters", "normalize_namespace", "rviz_config_for_namespace", "rviz_config_for_pairs",
           "camera_info_topic", "remappings", "as_bool", "node_executable", "launch_pairs"]

NODE_NAME = "segmentation_node"
DEFAULT_TOPICS = ("rgb/image", "thermal/image", "")  # rgb_topic, thermal_topic, rgb_info_topic as the file declares


def node_parameters(params_file: str, *, checkpoint: str = "", device: str = "",
                    use_sim_time: str | bool = False, registration_file: str = "", rgb_transport: str = "",
                    thermal_transport: str = "", pairs: str = "") -> list[Any]:
    """The node's parameter list: the params file, then the registration file (`rgbt-seg register`; its
    ``thermal_homography`` wins over the params file's), then the launch arguments that were given (``pairs`` as
    :func:`launch_pairs` reads it)."""
    overrides: dict[str, Any] = {"use_sim_time": as_bool(use_sim_time, "use_sim_time")}
    if pairs.strip():
        overrides["pairs"] = launch_pairs(pairs)
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


def launch_pairs(text: str) -> list[str]:
    """The ``pairs`` launch argument: ``front,rear`` or ``[front, rear]``; the node checks the names."""
    return pairs_from_text(text)


def rviz_config_for_pairs(text: str, namespace: str, pairs: list[str]) -> str:
    """The shipped RViz config under ``namespace`` (:func:`rviz_config_for_namespace`) with, for each of ``pairs``,
    each of the node's displays again on that pair's topic and named by it (``front: Overlay``); without pairs,
    unchanged."""
    text = rviz_config_for_namespace(text, namespace)
    if not pairs:
        return text
    data = yaml.safe_load(text)
    manager = data["Visualization Manager"]
    marker = f"/{NODE_NAME}/"

    def topic(display: dict) -> Any:
        return (display.get("Topic") or {}).get("Value")

    ours = [d for d in manager["Displays"] if isinstance(topic(d), str) and marker in topic(d)]
    shown = [d for d in manager["Displays"] if d not in ours]
    for pair in pairs:
        for display in ours:
            copied = copy.deepcopy(display)
            copied["Name"] = f"{pair}: {display.get('Name', '')}"
            copied["Topic"]["Value"] = topic(display).replace(marker, f"{marker}{pair}/", 1)
            shown.append(copied)
    manager["Displays"] = shown
    return yaml.safe_dump(data, sort_keys=False)


def as_bool(value: str | bool, name: str) -> bool:
    """A launch argument's truth value: an argument left empty is false; anything but the usual spellings is an
    error naming the argument."""
    return parse_bool(value, name, empty=False)


def camera_info_topic(image_topic: str) -> str:
    """image_transport's rule: the camera_info topic is the image topic's sibling named camera_info."""
    head, _, _ = image_topic.rstrip("/").rpartition("/")
    return f"{head}/camera_info" if head or image_topic.startswith("/") else "camera_info"


def remappings(rgb_topic: str, thermal_topic: str, rgb_info_topic: str = "",
               pairs: str = "") -> list[tuple[str, str]]:
    """The single pair's topics as given. With ``pairs`` given, each pair has its own topics (``front/rgb/image``),
    so a renamed single-pair topic is refused, naming the argument, rather than silently ignored."""
    if pairs.strip():
        given = [name for name, value, default in zip(("rgb_topic", "thermal_topic", "rgb_info_topic"),
                                                      (rgb_topic, thermal_topic, rgb_info_topic), DEFAULT_TOPICS)
                 if value.strip() != default]
        if given:
            raise ValueError(f"{given[0]}: names a single camera pair's topic; with pairs:={pairs.strip()} each pair "
                             "has its own (<pair>/rgb/image, <pair>/thermal/image, <pair>/rgb/camera_info): remap "
                             "those, or leave it out")
    return [("rgb/image", rgb_topic), ("thermal/image", thermal_topic),
            ("rgb/camera_info", rgb_info_topic.strip() or camera_info_topic(rgb_topic))]


def node_executable(lifecycle: str | bool) -> str:
    return "segmentation_lifecycle_node" if as_bool(lifecycle, "lifecycle") else "segmentation_node"
