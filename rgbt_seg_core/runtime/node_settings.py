"""The node's settings made into the two configs the node runs with, by the node and by every tool that replays
what it runs (``bag-eval``, ``bag-extract``, ``bench node``, the demo's live step). Building them is also the last
check of a set of settings: the runtime's and the engine's own cross-checks (the jump threshold above the slop, a
quantised model file for int8, a homography that can map one camera onto the other), so a tool refuses a
parameter file exactly where the node would refuse the same values. A node serving several camera pairs has a pair
of configs for each (:func:`pair_configs`)."""

from __future__ import annotations

from typing import Any, Mapping

from rgbt_seg_core.inference.engine import InferenceConfig
from rgbt_seg_core.runtime.runtime import RuntimeConfig
from rgbt_seg_core.settings.pairs import PairSettings, resolve_pairs
from rgbt_seg_core.settings.schema import Settings
from rgbt_seg_core.settings.spec import SettingsError

__all__ = ["node_configs", "check_configs", "checked_settings", "pair_configs", "checked_pairs"]


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


def pair_configs(ps: PairSettings, *, realtime: bool = True,
                 **inference: Any) -> dict[str, tuple[RuntimeConfig, InferenceConfig]]:
    """:func:`node_configs` of each pair's settings, by pair (:data:`~rgbt_seg_core.settings.pairs.SINGLE` alone
    where ``pairs`` is empty); an error names the pair whose settings do not go together."""
    out = {}
    for pair, s in ps.pairs.items():
        try:
            out[pair] = node_configs(s, realtime=realtime, **inference)
        except SettingsError as exc:
            raise SettingsError(f"pair {pair}: {exc}" if pair else str(exc)) from exc.__cause__
    return out


def checked_pairs(values: Mapping[str, Any], *, source: str = "",
                  settings_type: type[Settings] = Settings) -> PairSettings:
    """Each pair's settings from flat parameters (:func:`~rgbt_seg_core.settings.pairs.resolve_pairs`), refused as
    the node refuses them, up to each pair's configs (:func:`pair_configs`)."""
    ps = resolve_pairs(values, source=source, settings_type=settings_type)
    try:
        pair_configs(ps)
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}" if source else str(exc)) from exc.__cause__
    return ps
