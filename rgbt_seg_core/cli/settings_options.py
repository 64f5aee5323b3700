"""The settings as command-line flags: one flag per setting (``frozen_timeout`` -> ``--frozen-timeout``), made
from the schema (:mod:`rgbt_seg_core.settings.schema`) for every tool that runs as the node runs, plus
``--params FILE`` (a ``config/segment.yaml`` or a ``ros2 param dump``) and ``--node NAME``.

Every flag defaults to None, so only a flag given overrides: the settings resolve as the schema's defaults, then
the tool's own defaults, then the file, then what the tool must pin to measure what it measures, then the flags.
Each tool takes the settings of some groups (:data:`TOOL_GROUPS`) and leaves out a few by name where another flag
of its own means the same (:data:`TOOL_SKIPS`); the rest of a parameter file is still checked, not used."""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from rgbt_seg_core.runtime.node_settings import checked_settings
from rgbt_seg_core.settings import GROUPS, SETTINGS, Setting, Settings, SettingsError, read_params_file
from rgbt_seg_core.settings.pairs import pairs_from_text
from rgbt_seg_core.settings.render import yaml_value
from rgbt_seg_core.utils.booleans import parse_bool

__all__ = ["TOOL_GROUPS", "TOOL_SKIPS", "ALIASES", "tool_settings", "add_setting_flag", "add_settings_options",
           "flag_value", "flag_values", "resolve_settings"]

# camera and node settings say how the node subscribes and starts: a bag replay has neither
TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "bag-eval": ("inference", "runtime"),
    "bag-extract": ("inference", "runtime"),
    "bench node": GROUPS,
    "demo_live": GROUPS,
}
# bag-extract's checkpoint is --prelabel (it labels only when asked); the demo runs the checkpoint it trained; the
# node benchmark makes its own synthetic camera pairs
TOOL_SKIPS: dict[str, tuple[str, ...]] = {"bag-extract": ("checkpoint",), "demo_live": ("checkpoint",),
                                          "bench node": ("pairs",)}
# older two-number flags, kept: each sets two settings (--thermal-range also picks the fixed normalisation)
ALIASES = {"thermal_range": ("--thermal-range", ("LOW", "HIGH"), float, ("thermal_range_min", "thermal_range_max")),
           "thermal_offset": ("--thermal-offset", ("DX", "DY"), int, ("thermal_offset_x", "thermal_offset_y"))}


def tool_settings(tool: str) -> tuple[Setting, ...]:
    """The settings ``tool`` has flags for."""
    if tool not in TOOL_GROUPS:
        raise KeyError(f"no settings flags for tool {tool!r}")
    skip = TOOL_SKIPS.get(tool, ())
    return tuple(s for s in SETTINGS if s.group in TOOL_GROUPS[tool] and s.name not in skip)


def bool_flag(text: str) -> bool:
    """argparse's type for a true/false flag (every spelling ``parse_bool`` takes), refusing others by name."""
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _help(s: Setting) -> str:
    unit = f" {s.unit}" if s.unit else ""
    extra = ""
    if s.type is list:
        extra = ("; the YAML file of `rgbt-seg register`, or the numbers as a YAML list" if s.item is float
                 else "; names separated by commas, or a YAML list")
    text = f"{s.description} (default {yaml_value(s.default)}{unit}{extra})"
    return text.replace("%", "%%")  # argparse formats help with %


def add_setting_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, s: Setting,
                     help: str | None = None) -> None:
    """The setting's flag (default None: not given); ``help`` replaces the schema's where a tool says more."""
    kw: dict[str, Any] = {"dest": s.name, "default": None, "help": help or _help(s)}
    if s.type is bool:
        kw.update(type=bool_flag, metavar="{true,false}")
    elif s.type is list:  # one word, so it cannot swallow a positional argument after it
        kw.update(metavar="YAML|[N,...]" if s.item is float else "NAME,...")
    else:
        kw.update(type=s.type, choices=s.choices)
    parser.add_argument(s.flag, **kw)


def add_settings_options(parser: argparse.ArgumentParser, tool: str) -> None:
    """``--params``, ``--node`` and a flag for each of the tool's settings (:func:`tool_settings`), with the
    aliases whose settings the tool takes."""
    group = parser.add_argument_group("settings (the node's parameters, as in config/segment.yaml)")
    group.add_argument("--params", metavar="FILE",
                       help="run with the node's parameters from this file: config/segment.yaml or the output of "
                       "`ros2 param dump` (flags override single values)")
    group.add_argument("--node", metavar="NAME", help="--params: the node whose parameters to take, where the file "
                       "holds several (default: the only one, or segmentation_node; /** applies to every node)")
    names = set()
    for s in tool_settings(tool):
        add_setting_flag(group, s)
        names.add(s.name)
    for dest, (flag, metavar, kind, targets) in ALIASES.items():
        if set(targets) <= names:
            group.add_argument(flag, dest=dest, type=kind, nargs=2, metavar=metavar, default=None,
                               help=f"sets {' and '.join(targets)}"
                               + (" and thermal_norm fixed" if dest == "thermal_range" else ""))


def flag_value(s: Setting, value: Any) -> Any:
    """A flag's parsed value as the setting's value: a list flag's word read as a YAML list (``[1, 0, 0, ...]``,
    as ROS writes a list parameter), else as the file `rgbt-seg register` wrote; names as ``front,rear``."""
    if s.item is str:
        return pairs_from_text(str(value))
    return _list_value(s, str(value)) if s.type is list else value


def _list_value(s: Setting, text: str) -> Any:
    import yaml

    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, list):
        return parsed  # checked as the node checks it (numbers, then the homography itself)
    from rgbt_seg_core.inference.registration import read_homography

    try:
        return [float(v) for v in read_homography(text).reshape(-1)]
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{s.flag}: expected a YAML list of numbers or a homography file: {exc}") from None


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (an alias first, so a flag of the setting itself wins over it)."""
    out: dict[str, Any] = {}
    rng = getattr(args, "thermal_range", None)
    if rng is not None:
        out.update(thermal_norm="fixed", thermal_range_min=float(rng[0]), thermal_range_max=float(rng[1]))
    offset = getattr(args, "thermal_offset", None)
    if offset is not None:
        out.update(thermal_offset_x=int(offset[0]), thermal_offset_y=int(offset[1]))
    for s in SETTINGS:
        value = getattr(args, s.name, None)
        if value is not None:
            out[s.name] = flag_value(s, value)
    return out


def resolve_settings(args: argparse.Namespace, *, base: Mapping[str, Any] | None = None,
                     pinned: Mapping[str, Any] | None = None) -> Settings:
    """The settings a tool runs with: the schema's defaults, ``base`` (the tool's own defaults), ``--params FILE``
    (checked alone first, so its errors name the file), ``pinned`` (what the tool needs to measure what it
    measures), then the flags given. Raises :class:`~rgbt_seg_core.settings.SettingsError` naming the file or the
    command line, and the setting."""
    values: dict[str, Any] = dict(base or {})
    path = getattr(args, "params", None)
    if path:
        values.update(read_params_file(path, getattr(args, "node", None)))
        checked_settings(values, source=str(path))
    values.update(pinned or {})
    flags = flag_values(args)
    values.update(flags)
    return checked_settings(values, source="command line" if flags else "")
