"""``config/segment.yaml``, rendered from the schema: every setting with its value, and above it its description,
unit, range or choices, and whether the node reads it only at start (a test keeps the file equal to this)."""

from __future__ import annotations

from typing import Any

from rgbt_seg_core.settings.schema import SETTINGS, Settings, defaults
from rgbt_seg_core.settings.spec import Setting

__all__ = ["render_yaml", "yaml_value", "setting_notes"]

HEADER = """\
# Parameters of rgbt_seg_ros/segmentation_node (every one, with its default). `/**` matches the node in any
# namespace. The launch file overrides checkpoint and device only when its arguments are given.
# `rgbt-seg bag-eval --params FILE` (and bag-extract, bench node) runs with the same settings.
# Generated from rgbt_seg_core/settings/schema.py: python -m rgbt_seg_ros.params > config/segment.yaml
"""


def _quoted(text: str) -> str:
    # YAML's double-quoted style: printable ASCII as it is, everything else escaped (no raw line breaks or
    # characters YAML refuses), so any text reads back as itself
    out = []
    for ch in text:
        code = ord(ch)
        if 0x20 <= code < 0x7F and ch not in '"\\':
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def yaml_value(value: Any) -> str:
    """A value as a ROS parameter file writes it: text quoted, booleans lower case, lists in brackets."""
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, float):
        text = repr(value)  # YAML 1.1 (PyYAML) reads an exponent without a point (1e-08) as text, 1.0e-08 as a float
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    return repr(value)


def setting_notes(s: Setting) -> list[str]:
    """What a reader needs beside the description: unit, range or choices, and read-only after start."""
    notes = []
    if s.unit:
        notes.append(f"unit {s.unit}")
    if s.choices:
        notes.append(f"one of {', '.join(s.choices)}")
    if s.range:
        notes.append(f"range {s.range[0]}..{s.range[1]}")
    if s.read_only:
        notes.append("read-only after start")
    return notes


def render_yaml(settings: Settings | None = None, header: str = HEADER) -> str:
    """The parameter file of ``settings`` (by default every default), for the node at any namespace (``/**``)."""
    values = settings.values() if settings is not None else defaults()
    lines = [header.rstrip("\n"), "/**:", "  ros__parameters:"]
    for s in SETTINGS:
        notes = setting_notes(s)
        lines.append(f"    # {s.description}" + (f" ({'; '.join(notes)})" if notes else ""))
        lines.append(f"    {s.name}: {yaml_value(values[s.name])}")
    return "\n".join(lines) + "\n"
