"""Reading the node's parameters from a ROS 2 parameter file, so a tool runs with exactly what a node ran with.

Two kinds of file hold them: ``config/segment.yaml`` (``/**: ros__parameters: {...}``, the wildcard that matches
the node in any namespace) and what ``ros2 param dump`` writes of a running node (``/segmentation_node:`` or
``/ns/segmentation_node: ros__parameters: {...}``, with parameters every rclpy node has). Node names may also be
nested maps of namespaces (``ns: {segmentation_node: {ros__parameters: ...}}``), and nested parameter maps mean
dotted names, as rcl's YAML parser reads them (a camera pair's own settings are written so:
``front: {thermal_homography: [...]}`` is ``front.thermal_homography``). For one node, the ``/**`` entry applies
first and the node's own entry over it, as rcl applies them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rgbt_seg_core.settings.spec import SettingsError

__all__ = ["FOREIGN_PARAMETERS", "DEFAULT_NODE", "is_foreign", "read_params_file", "node_entries"]

# parameters that rclpy declares on every node (ros2 param dump writes them), not settings of ours
FOREIGN_PARAMETERS = ("use_sim_time", "start_type_description_service", "qos_overrides.*")
DEFAULT_NODE = "segmentation_node"
WILDCARD = "/**"
# A parameter file is a few KB. The bounds keep a wrong or hostile file (a YAML alias bomb: a few lines whose
# aliases nest into billions of leaves) from taking the tool's memory or time before it is refused.
MAX_FILE_BYTES = 1 << 20
MAX_PARAMETERS = 10_000


def is_foreign(name: str) -> bool:
    return any(name == f or (f.endswith(".*") and name.startswith(f[:-1])) for f in FOREIGN_PARAMETERS)


def _flatten(params: dict, prefix: str, out: dict[str, Any], path: str) -> None:
    for key, value in params.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str):
            raise SettingsError(f"{path}: parameter name {key!r} is not text")
        if isinstance(value, dict):
            _flatten(value, name + ".", out, path)
        elif name in out:  # `front.slop: 0.1` beside `front: {slop: 0.2}`: which one rcl keeps is not ours to guess
            raise SettingsError(f"{path}: parameter {name} given twice (as a dotted name and as nested keys)")
        else:
            out[name] = value
        if len(out) > MAX_PARAMETERS:
            raise SettingsError(f"{path}: more than {MAX_PARAMETERS} parameters: not a node's parameter file")


def node_entries(data: Any, path: str, namespace: str = "") -> dict[str, dict[str, Any]]:
    """Node name (``/**``, ``/segmentation_node``, ``/ns/segmentation_node``) -> its parameters, flattened to
    dotted names."""
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of node names to ros__parameters, got "
                            f"{type(data).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, dict):
            raise SettingsError(f"{path}: {key!r} holds no ros__parameters (expected `{key}: ros__parameters: "
                                "{...}`)")
        name = f"{namespace}/{key.strip('/')}"
        if "ros__parameters" in value:
            params = value["ros__parameters"]
            if not isinstance(params, dict):
                raise SettingsError(f"{path}: {name}: ros__parameters is not a mapping")
            flat: dict[str, Any] = {}
            _flatten(params, "", flat, f"{path}: {name}")
            out[name] = flat
            rest = [k for k in value if k != "ros__parameters"]
            if rest:
                raise SettingsError(f"{path}: {name}: unexpected key {rest[0]!r} beside ros__parameters")
        else:
            out.update(node_entries(value, path, name))
    return out


def _pick(entries: dict[str, dict[str, Any]], node: str | None, path: str) -> list[str]:
    """The entries that apply to the node asked for, the wildcard first."""
    named = [n for n in entries if n != WILDCARD]
    if node is not None:
        want = "/" + node.strip("/")
        mine = [n for n in named if n == want] or [n for n in named if n.rsplit("/", 1)[-1] == want[1:]]
        if not mine and WILDCARD not in entries:
            raise SettingsError(f"{path}: no parameters for node {node} (it holds {', '.join(entries)})")
    elif len(named) <= 1:
        mine = named
    else:
        mine = [n for n in named if n.rsplit("/", 1)[-1] == DEFAULT_NODE]
    if len(mine) > 1:
        raise SettingsError(f"{path}: parameters for several nodes ({', '.join(mine)}); pick one with --node")
    if not mine and named and node is None:
        raise SettingsError(f"{path}: parameters for several nodes ({', '.join(named)}); pick one with --node")
    return ([WILDCARD] if WILDCARD in entries else []) + mine


def read_params_file(path: str | Path, node: str | None = None) -> dict[str, Any]:
    """The parameters a node (``node``: its name, with or without namespace; by default the file's only node, or
    ``segmentation_node``) takes from the file, without :data:`FOREIGN_PARAMETERS`. Unchecked: validate with
    :meth:`~rgbt_seg_core.settings.schema.Settings.from_values`. Raises :class:`SettingsError` naming the file for
    a file that cannot be read, is no YAML or no parameter file."""
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:
            raise SettingsError(f"{path}: over {MAX_FILE_BYTES} bytes: not a node's parameter file")
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the parameter file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not YAML: {exc}") from None
    entries = node_entries(data, str(path))
    if not entries:
        raise SettingsError(f"{path}: holds no ros__parameters")
    values: dict[str, Any] = {}
    for name in _pick(entries, node, str(path)):
        values.update(entries[name])
    return {k: v for k, v in values.items() if not is_foreign(k)}
