"""The settings schema: every row well formed, values checked as the node checks its parameters, and one default
per setting wherever a default appears (node declaration, config/segment.yaml, the configs, every tool's flags)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from rgbt_seg_core.cli.main import build_parser
from rgbt_seg_core.cli.settings_options import TOOL_GROUPS, resolve_settings, tool_settings
from rgbt_seg_core.inference.engine import InferenceConfig
from rgbt_seg_core.inference.preprocess import ThermalNorm
from rgbt_seg_core.runtime.runtime import RuntimeConfig
from rgbt_seg_core.settings import (
    GROUPS,
    SETTING_NAMES,
    SETTINGS,
    Settings,
    SettingsError,
    default,
    defaults,
    setting,
    settings_in,
)
from rgbt_seg_core.settings.render import written

ROOT = Path(__file__).resolve().parents[3]
# what each config calls a setting, where its field is named otherwise or holds two settings
RUNTIME_FIELDS = {f.name for f in dataclasses.fields(RuntimeConfig)} - {"realtime"}
ENGINE_FIELDS = ("device", "precision", "backend", "model_file", "openvino_device", "cuda_graphs", "warmup",
                 "min_confidence")


def test_every_row_is_well_formed() -> None:
    assert SETTING_NAMES == tuple(f.name for f in dataclasses.fields(Settings))
    assert len(set(SETTING_NAMES)) == len(SETTINGS) == 38
    for s in SETTINGS:
        assert s.group in GROUPS and s.description and s.type in (bool, int, float, str, list), s.name
        assert type(s.default) is s.type and s.read_only is (not s.dynamic), s.name
        assert (s.item is not None) == (s.type is list), s.name
        assert s.type is not list or all(type(v) is s.item for v in s.default), s.name
        assert s.choices is None or (s.type is str and s.default in s.choices), s.name
        assert s.range is None or (s.type in (int, float) and s.range[0] <= s.default <= s.range[1]), s.name
        assert s.flag == "--" + s.name.replace("_", "-")
    assert {s.group for s in SETTINGS} == set(GROUPS)
    assert [s.name for s in settings_in(["camera"])] == ["rgb_transport", "thermal_transport", "qos_reliability",
                                                         "qos_depth"]
    with pytest.raises(ValueError, match="no settings group 'cameras'"):
        settings_in(["cameras"])
    with pytest.raises(KeyError, match="no setting named 'slopp'"):
        setting("slopp")


def test_what_a_camera_pair_may_set_itself() -> None:
    """A camera's settings (how it is subscribed, paired, registered, normalised and judged failed) may differ
    between pairs; the model, its device, precision and backend, batching, warm-up and diagnostics are the node's."""
    assert [s.name for s in SETTINGS if s.per_pair] == [
        "rgb_transport", "thermal_transport", "qos_reliability", "qos_depth", "queue_size", "slop", "thermal_norm",
        "thermal_range_min", "thermal_range_max", "thermal_percentile_low", "thermal_percentile_high",
        "thermal_offset_x", "thermal_offset_y", "thermal_homography", "modality_timeout", "frozen_timeout",
        "blank_missing_modality"]
    assert all(s.per_pair for s in settings_in(["camera"]))
    assert not any(s.per_pair for s in settings_in(["node"]))
    s = Settings.from_values({})
    assert (s.pairs, s.max_batch, s.batch_timeout) == ([], 0, 0.0)
    assert setting("pairs").type_name == "list of str" and setting("pairs").read_only


def test_defaults_are_valid_and_fresh() -> None:
    s = Settings.from_values({})
    assert s.values() == defaults() and s.frozen_timeout == 2.0 and s.warmup == 2
    default("thermal_homography").append(1.0)  # a copy: the schema's list stays as it is
    assert default("thermal_homography") == [0.0] * 9


def _tool_defaults(tool: str) -> dict:
    """The settings a tool resolves with no flag given, after its own documented defaults."""
    if tool in ("bag-eval", "bag-extract"):
        args = build_parser().parse_args([tool, "bag"] + (["--out", "x"] if tool == "bag-extract" else []))
        return resolve_settings(args).values()
    if tool == "bench node":
        from rgbt_seg_ros.bench_node import BENCH_DEFAULTS, bench_pins, bench_settings

        args = build_parser().parse_args(["bench", "node"])
        return {**bench_settings(args).values(), **{k: defaults()[k] for k in {**BENCH_DEFAULTS,
                                                                              **bench_pins(1, 1)}}}
    import argparse

    from rgbt_seg_core.cli.settings_options import add_settings_options
    from rgbt_seg_ros.demo_live import DEMO_DEFAULTS, demo_values

    parser = argparse.ArgumentParser()
    add_settings_options(parser, "demo_live")
    given = demo_values(parser.parse_args([]))
    assert given == {}  # nothing given: the demo's own defaults (DEMO_DEFAULTS) alone are over the schema's
    return {**defaults(), **given, **{k: defaults()[k] for k in DEMO_DEFAULTS}}


@pytest.mark.parametrize("tool", sorted(TOOL_GROUPS))
def test_one_default_per_setting_everywhere(tool: str) -> None:
    """Walks every setting, so a new one cannot skip a place: the node's declaration, the YAML file, the configs,
    and each tool with no flag given (a tool's own documented defaults aside)."""
    from rgbt_seg_ros.params import PARAM_SPECS

    declared = {spec.name: spec.default for spec in PARAM_SPECS}
    in_file = yaml.safe_load((ROOT / "config" / "segment.yaml").read_text())["/**"]["ros__parameters"]
    resolved = _tool_defaults(tool)
    runtime, engine, norm = RuntimeConfig(), InferenceConfig(), ThermalNorm()
    config_values = {**{n: getattr(runtime, n) for n in RUNTIME_FIELDS}, **{n: getattr(engine, n)
                                                                            for n in ENGINE_FIELDS},
                     "thermal_offset_x": engine.thermal_offset[0], "thermal_offset_y": engine.thermal_offset[1],
                     "thermal_norm": norm.mode, "thermal_percentile_low": norm.percentiles[0],
                     "thermal_percentile_high": norm.percentiles[1]}
    for s in SETTINGS:
        assert declared[s.name] == s.default and type(declared[s.name]) is s.type, s.name
        if written(s, s.default):
            assert in_file[s.name] == s.default and type(in_file[s.name]) is s.type, s.name
        else:  # an empty list: commented out, as rcl would read it as a parameter of no type
            assert s.name not in in_file and f"\n    # {s.name}: " in (ROOT / "config" / "segment.yaml").read_text()
        assert resolved[s.name] == s.default, (tool, s.name)
        if s.name in config_values:
            assert config_values[s.name] == s.default, s.name
    assert set(declared) == set(resolved) == set(SETTING_NAMES) == set(in_file) | {"pairs"}
    assert engine.homography() is None and norm.range is None  # the settings' "not set"
    assert {s.group for s in tool_settings(tool)} == set(TOOL_GROUPS[tool])


def test_configs_from_settings_are_the_defaults_configs() -> None:
    s = Settings.from_values({})
    assert RuntimeConfig.from_settings(s, realtime=True) == RuntimeConfig()
    assert RuntimeConfig.from_settings(s, realtime=False) == RuntimeConfig(realtime=False)
    made = InferenceConfig.from_settings(s, warmup=0)
    assert dataclasses.replace(made, thermal_homography=None) == InferenceConfig(warmup=0)
    fixed = s.replace({"thermal_norm": "fixed", "thermal_range_min": 10, "thermal_range_max": 20.5,
                       "thermal_offset_x": -3, "thermal_percentile_low": 5})
    made = InferenceConfig.from_settings(fixed)
    assert made.thermal_norm == ThermalNorm("fixed", (10.0, 20.5), (5.0, 99.0)) and made.thermal_offset == (-3, 0)


def test_int_for_float_is_kept_as_float_and_bool_is_no_number() -> None:
    s = Settings.from_values({"frozen_timeout": 2, "slop": 1, "thermal_homography": [1, 0, 0, 0, 1, 0, 0, 0, 1]})
    assert s.frozen_timeout == 2.0 and type(s.frozen_timeout) is float and type(s.slop) is float
    assert all(type(v) is float for v in s.thermal_homography)
    for name, value in (("queue_size", True), ("slop", False), ("queue_size", 2.0), ("checkpoint", 3)):
        with pytest.raises(SettingsError, match=rf"^parameter {name}: expected "):
            Settings.from_values({name: value})


def test_errors_name_the_setting_and_the_source() -> None:
    with pytest.raises(SettingsError, match=r"^f.yaml: parameter slop=-1.0 out of range \[1e-06, 10.0\]$"):
        Settings.from_values({"slop": -1.0}, source="f.yaml")
    with pytest.raises(SettingsError, match="^unknown parameter sloppy "):
        Settings.from_values({"sloppy": 1.0})
    with pytest.raises(SettingsError, match=r"^f.yaml: unknown parameter front.slop \(a camera pair's own value, "):
        Settings.from_values({"pairs": ["front"], "front.slop": 0.1}, source="f.yaml")  # settings.pairs takes it
    with pytest.raises(SettingsError, match="thermal_percentile_low must be below thermal_percentile_high"):
        Settings.from_values({"thermal_percentile_low": 50, "thermal_percentile_high": 50})
    with pytest.raises(SettingsError, match="thermal_norm=fixed needs thermal_range_max > thermal_range_min"):
        Settings.from_values({"thermal_norm": "fixed"})
    with pytest.raises(SettingsError, match="parameter device: expected one of auto, cpu, cuda, cuda:N"):
        Settings.from_values({"device": "gpu0"})
    with pytest.raises(SettingsError, match=r"parameter rgb_transport='jpeg': expected one of raw, compressed"):
        Settings.from_values({"rgb_transport": "jpeg"})
