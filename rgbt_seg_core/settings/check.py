"""Checking one setting's value as the node does: its type (an int is taken for a float and kept as a float; a
bool is never a number), finiteness, range and choices, and the forms that those cannot express (the device, the
names of camera pairs)."""

from __future__ import annotations

import array
import math
import re
from typing import Any, Iterable

from rgbt_seg_core.settings.spec import Setting, SettingsError

__all__ = ["check_value", "check_device", "check_pair_names", "retyped", "DEVICE_FORMS", "MAX_PAIRS"]

DEVICE_FORMS = "auto, cpu, cuda, cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
# A pair's name is one token of its topic names (front/rgb/image, ~/front/labels) and of its parameter names
# (front.thermal_homography): a ROS name token that no substitution or remapping rule reads as anything else.
_PAIR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_PAIRS = 16  # a robot has a few camera pairs; this bounds what one node subscribes to and batches
# ...and one that a parameter file's YAML reads as a boolean or null where it stands unquoted, as a list item or a
# nested key (`pairs: [left, no]`, `no: {slop: 0.1}`): YAML 1.1's words, which rcl's parser takes as booleans too
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})


def check_device(text: Any) -> str:
    """``device`` as the engine resolves it (:func:`rgbt_seg_core.utils.device.resolve_device`): auto, cpu, cuda or
    cuda:N. Whether CUDA is there is the engine's question, at start; this only refuses what is no device name."""
    if not isinstance(text, str) or not _DEVICE.fullmatch(text):
        raise SettingsError(f"parameter device: expected one of {DEVICE_FORMS} (N a GPU index), got {text!r}")
    return text


def check_pair_names(names: list[str], reserved: Iterable[str] = ()) -> list[str]:
    """The ``pairs`` parameter's names: each a ROS name token and no word YAML reads as other than text, none twice,
    none a ``reserved`` name (a parameter of the node, whose own name the pair's dotted keys would clash with), at
    most :data:`MAX_PAIRS`. The error names the pair at fault."""
    if len(names) > MAX_PAIRS:
        raise SettingsError(f"parameter pairs: {len(names)} pairs, at most {MAX_PAIRS}")
    taken = set(reserved)
    seen: set[str] = set()
    for name in names:
        if not _PAIR_NAME.fullmatch(name):
            raise SettingsError(f"parameter pairs: pair {name!r} is not a ROS name token (a letter, then letters, "
                                "digits or underscores)")
        if name.lower() in _YAML_WORDS:
            raise SettingsError(f"parameter pairs: pair {name} is a word a parameter file reads as a boolean or "
                                "null: name it otherwise")
        if name in seen:
            raise SettingsError(f"parameter pairs: pair {name} is named twice")
        if name in taken:
            raise SettingsError(f"parameter pairs: pair {name} has the name of the node's parameter {name} (its "
                                f"keys {name}.* would clash with it)")
        seen.add(name)
    return names


def _as_texts(s: Setting, value: Any) -> list[str]:
    # rclpy hands a string array over as a list of str; YAML may hold anything in a list
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise SettingsError(f"parameter {s.name}: expected {s.type_name}, got {value!r}")
    if any(not isinstance(x, str) for x in value):
        raise SettingsError(f"parameter {s.name}: expected a list of text, got {value!r}")
    return list(value)


def _as_floats(s: Setting, value: Any) -> list[float]:
    # rclpy hands a double array over as array('d'); YAML and JSON as a list, possibly of ints
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise SettingsError(f"parameter {s.name}: expected {s.type_name}, got {value!r}")
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in value):
        raise SettingsError(f"parameter {s.name}: expected a list of numbers, got {value!r}")
    return [float(x) for x in value]


def _is(value: Any, kind: type) -> bool:
    """Of the setting's type, where a bool is no number."""
    return isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))


def retyped(s: Setting, value: Any) -> Any:
    """``value`` in the setting's own type where only the way it was written gave it another: an integer for a
    float (``2`` for ``2.0``), integers for a list of floats. None where that is not so. The node's parameter
    handling asks this too, to retype what rclpy typed by its spelling."""
    if s.type is float and type(value) is int:
        return float(value)
    if (s.item is float and isinstance(value, (list, tuple, array.array)) and len(value) > 0
            and all(type(v) is int for v in value)):
        return [float(v) for v in value]
    return None


def check_value(s: Setting, value: Any) -> Any:
    """``value`` in the setting's own type, or :class:`SettingsError` naming the setting and what it accepts."""
    if s.type is float and (as_float := retyped(s, value)) is not None:
        value = as_float
    if s.type is list:
        value = _as_floats(s, value) if s.item is float else _as_texts(s, value)
    if not _is(value, s.type):
        raise SettingsError(f"parameter {s.name}: expected {s.type_name}, got {value!r}")
    if s.type is float and not math.isfinite(value):
        raise SettingsError(f"parameter {s.name}: expected a finite number, got {value!r}")
    if s.range is not None and not s.range[0] <= value <= s.range[1]:
        raise SettingsError(f"parameter {s.name}={value!r} out of range [{s.range[0]}, {s.range[1]}]")
    if s.choices is not None and value not in s.choices:
        raise SettingsError(f"parameter {s.name}={value!r}: expected one of {', '.join(s.choices)}")
    return s.check(value) if s.check is not None else value
