"""``config/segment.yaml``, rendered from the schema: every setting with its value, and above it its description,
unit, range or choices, whether the node reads it only at start and whether a camera pair may set its own (a test
keeps the file equal to this). Below them, an example of a node serving two camera pairs, commented out."""

from __future__ import annotations

from typing import Any, Mapping

from rgbt_seg_core.settings.schema import SETTINGS, Settings, defaults
from rgbt_seg_core.settings.spec import Setting

__all__ = ["render_yaml", "yaml_value", "setting_notes", "written", "EXAMPLE_PAIRS", "EXAMPLE_PAIR_VALUES"]

HEADER = """\
# Parameters of rgbt_seg_ros/segmentation_node (every one, with its default). `/**` matches the node in any
# namespace. The launch file overrides checkpoint and device only when its arguments are given.
# `rgbt-seg bag-eval --params FILE` (and bag-extract, bench node) runs with the same settings.
# Generated from rgbt_seg_core/settings/schema.py: python -m rgbt_seg_ros.params > config/segment.yaml
"""
# The commented example: two pairs, the first with its own registration and transport (a test uncomments it and
# checks that it resolves)
EXAMPLE_PAIRS = ["front", "rear"]
EXAMPLE_PAIR_VALUES = {"front": {"thermal_homography": [1.02, 0.0, 12.0, 0.0, 1.02, -7.5, 0.0, 0.0, 1.0],
                                 "rgb_transport": "compressed"}}
EXAMPLE_NOTE = ("With pairs set, <pair>.<setting> (a nested key) gives one pair its own value of a setting marked\n"
                '"per pair"; the others take the value above. For example:')


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
    if s.per_pair:
        notes.append("per pair")
    return notes


def written(s: Setting, value: Any) -> bool:
    """Whether the file can hold the value: rcl reads an empty list as a parameter of no type, which the node's
    typed declaration then refuses, so an empty list is left to the default and written only as a comment."""
    return not (s.type is list and len(value) == 0)


def _pair_lines(pair_values: Mapping[str, Mapping[str, Any]], indent: str) -> list[str]:
    lines = []
    for pair, values in pair_values.items():
        lines.append(f"{indent}{pair}:")
        lines += [f"{indent}  {name}: {yaml_value(value)}" for name, value in values.items()]
    return lines


def render_yaml(settings: Settings | None = None, header: str = HEADER,
                pair_values: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The parameter file of ``settings`` (by default every default), for the node at any namespace (``/**``), with
    each pair's own values (``pair_values``: pair -> setting -> value, written as nested keys) or, where none are
    given, the commented example of two pairs. The values are written as given: check them first
    (:func:`~rgbt_seg_core.settings.pairs.resolve_pairs`)."""
    values = settings.values() if settings is not None else defaults()
    lines = [header.rstrip("\n"), "/**:", "  ros__parameters:"]
    for s in SETTINGS:
        notes = setting_notes(s)
        lines.append(f"    # {s.description}" + (f" ({'; '.join(notes)})" if notes else ""))
        if written(s, values[s.name]):
            lines.append(f"    {s.name}: {yaml_value(values[s.name])}")
        else:
            lines.append("    # (empty by default, left out: a parameter file cannot hold an empty list)")
            lines.append(f"    # {s.name}: {yaml_value(EXAMPLE_PAIRS) if s.name == 'pairs' else '[]'}")
    if pair_values:
        lines += _pair_lines(pair_values, "    ")
    else:
        lines += [f"    # {line}" for line in EXAMPLE_NOTE.splitlines()]
        lines += [f"    # {line}" for line in _pair_lines(EXAMPLE_PAIR_VALUES, "")]
    return "\n".join(lines) + "\n"
