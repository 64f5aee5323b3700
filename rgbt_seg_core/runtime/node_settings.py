"""The node's settings made into the two configs the node runs with, by the node and by every tool that replays
what it runs (``bag-eval``, ``bag-extract``, ``bench node``, the demo's live step). Building them is also the last
check of a set of settings: the runtime's and the engine's own cross-checks (the jump threshold above the slop, a
quantised model file for int8, a homography that can map one camera onto the other), so a tool refuses a
parameter file exactly where the node would refuse the same values."""

from __future__ import annotations

from typing import Any, Mapping

from rgbt_seg_core.inference.engine import InferenceConfig
from rgbt_seg_core.runtime.runtime import RuntimeConfig
from rgbt_seg_core.settings.schema import Settings
from rgbt_seg_core.settings.spec import SettingsError

__all__ = ["node_configs", "check_configs", "checked_settings"]


def node_configs(s: Settings, *, realtime: bool = True, **inference: Any) -> tuple[RuntimeConfig, InferenceConfig]:
    """The runtime's and the engine's configs from ``s``, as the node makes them (``realtime=True``); an offline
    tool passes ``realtime=False`` (every pair kept) and its own engine overrides (``warmup=0``). Raises
    :class:`SettingsError` (``parameters: ...``) where the settings do not go together."""
    try:
        return RuntimeConfig.from_settings(s, realtime=realtime), InferenceConfig.from_settings(s, **inference)
    except SettingsError:
        raise
    except ValueError as exc:
        raise SettingsError(f"parameters: {exc}") from exc


def check_configs(s: Settings, *, source: str = "") -> None:
    """:func:`node_configs`' checks alone, the error naming ``source`` (a file, the command line) where given."""
    try:
        node_configs(s)
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}" if source else str(exc)) from exc.__cause__


def checked_settings(values: Mapping[str, Any], *, source: str = "") -> Settings:
    """Settings from ``values`` (the rest at their defaults), refused as the node refuses its parameters: each
    value's own checks, the checks across settings, and the configs' (:func:`node_configs`)."""
    s = Settings.from_values(values, source=source)
    check_configs(s, source=source)
    return s
