"""What ``launch/segment.launch.py`` computes, as plain functions so it is tested without the launch library.

* Parameters: the params file first, then only the launch arguments that were given. An empty ``device`` or
  ``checkpoint`` argument leaves the file's value alone (a default of "auto" would silently override it).
* RViz: the shipped config names the node's topics absolutely (RViz resolves topics against its own node, not
  ours), so the launch file rewrites them under the node's namespace.
"""

from __future__ import annotations

from typing import Any

__all__ = ["node_parameters", "normalize_namespace", "rviz_config_for_namespace"]

NODE_NAME = "segmentation_node"


def node_parameters(params_file: str, *, checkpoint: str = "", device: str = "",
                    use_sim_time: str | bool = False, registration_file: str = "") -> list[Any]:
    """The node's parameter list: the params file, then the registration file (`rgbt-seg register`; its
    ``thermal_homography`` wins over the params file's), then the launch arguments that were given."""
    overrides: dict[str, Any] = {"use_sim_time": _as_bool(use_sim_time)}
    if checkpoint.strip():
        overrides["checkpoint"] = checkpoint.strip()
    if device.strip():
        overrides["device"] = device.strip()
    files = [f for f in (params_file, registration_file.strip()) if f]
    return [*files, overrides]


def normalize_namespace(namespace: str) -> str:
    """"", "/" -> ""; "robot1", "/robot1/" -> "/robot1"."""
    parts = [p for p in namespace.strip().split("/") if p]
    return "/" + "/".join(parts) if parts else ""


def rviz_config_for_namespace(text: str, namespace: str) -> str:
    ns = normalize_namespace(namespace)
    return text.replace(f"Value: /{NODE_NAME}/", f"Value: {ns}/{NODE_NAME}/")


def _as_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"use_sim_time: expected true or false, got {value!r}")
