"""Every tool's settings flags and --params: a node's config/segment.yaml or `ros2 param dump` replayed, flags over
the file, bad files refused naming the key and the file, as the node refuses them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.cli.main import build_parser, main
from rgbt_seg_core.cli.settings_options import (
    TOOL_GROUPS,
    TOOL_SKIPS,
    add_settings_options,
    resolve_settings,
    tool_settings,
)
from rgbt_seg_core.settings import SETTINGS, SettingsError, defaults, is_foreign, setting

ROOT = Path(__file__).resolve().parents[3]
DUMP = """\
/segmentation_node:
  ros__parameters:
    checkpoint: /m.safetensors
    frozen_timeout: 2
    qos_overrides:
      /parameter_events:
        publisher:
          depth: 1000
    slop: 0.08
    start_type_description_service: true
    thermal_offset_x: 4
    use_sim_time: false
"""


def _eval_args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["bag-eval", "bag", *flags])


def test_each_tool_takes_the_groups_it_lists() -> None:
    assert TOOL_GROUPS == {"bag-eval": ("inference", "runtime"), "bag-extract": ("inference", "runtime"),
                           "bench node": ("inference", "runtime", "camera", "node"),
                           "demo_live": ("inference", "runtime", "camera", "node")}
    assert TOOL_SKIPS == {"bag-extract": ("checkpoint",), "demo_live": ("checkpoint",), "bench node": ("pairs",)}
    for tool, groups in TOOL_GROUPS.items():
        names = {s.name for s in tool_settings(tool)}
        assert names == {s.name for s in SETTINGS if s.group in groups} - set(TOOL_SKIPS.get(tool, ())), tool


@pytest.mark.parametrize("tool, argv", [("bag-eval", ["bag-eval", "b"]), ("bag-extract", ["bag-extract", "b",
                                                                                           "--out", "o"]),
                                        ("bench node", ["bench", "node"])])
def test_one_flag_per_setting_named_from_the_field(tool: str, argv: list[str]) -> None:
    parser = build_parser()
    for s in tool_settings(tool):
        value = {bool: "false", int: "3", float: "0.25", str: s.choices[-1] if s.choices else "x"}.get(s.type)
        extra = [s.flag, value if value is not None else "[1, 0, 0, 0, 1, 0, 0, 0, 1]"]
        got = getattr(parser.parse_args([*argv, *extra]), s.name)
        assert got is not None and getattr(parser.parse_args(argv), s.name) is None, s.name


def test_help_says_description_default_and_unit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bag-eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--frozen-timeout FROZEN_TIMEOUT bit-identical frames for this long" in out and "(default 2.0 s)" in out
    assert "--thermal-offset-x" in out and "--params FILE" in out and "--thermal-range LOW HIGH" in out
    assert "--qos-depth" not in out and "--warmup-height" not in out  # camera and node: not a bag replay's


def test_the_node_config_file_replays_as_the_defaults() -> None:
    s = resolve_settings(_eval_args("--params", str(ROOT / "config" / "segment.yaml")))
    assert s.values() == defaults()


def test_a_param_dump_with_flags_over_it(tmp_path: Path) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(DUMP)
    s = resolve_settings(_eval_args("--params", str(path), "--slop", "0.02", "--thermal-offset", "1", "2"))
    assert s.checkpoint == "/m.safetensors" and s.slop == 0.02 and (s.thermal_offset_x, s.thermal_offset_y) == (1, 2)
    assert s.frozen_timeout == 2.0 and type(s.frozen_timeout) is float  # `frozen_timeout: 2` in YAML
    s = resolve_settings(_eval_args("--params", str(path), "--thermal-offset-x", "7", "--thermal-range", "10", "20"))
    assert s.thermal_offset_x == 7 and s.thermal_norm == "fixed" and s.thermal_range() == (10.0, 20.0)
    s = resolve_settings(_eval_args("--thermal-range", "10", "20", "--thermal-norm", "percentile"))
    assert s.thermal_norm == "percentile"  # the setting's own flag wins over the alias


def test_the_homography_flag_takes_a_file_or_nine_numbers(tmp_path: Path) -> None:
    import numpy as np

    from rgbt_seg_core.inference.registration import homography_yaml

    h = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0], [0.0, 0.0, 1.0]])
    (tmp_path / "h.yaml").write_text(homography_yaml(h))
    by_file = resolve_settings(_eval_args("--thermal-homography", str(tmp_path / "h.yaml")))
    by_numbers = resolve_settings(_eval_args("--thermal-homography", str(h.reshape(-1).tolist())))
    assert by_file.thermal_homography == by_numbers.thermal_homography == list(h.reshape(-1))
    with pytest.raises(SettingsError, match="^--thermal-homography: expected a YAML list of numbers or a homography "
                       "file: "):
        resolve_settings(_eval_args("--thermal-homography", str(tmp_path / "none.yaml")))
    with pytest.raises(SettingsError, match="^command line: parameter thermal_homography: expected a list of numbers"):
        resolve_settings(_eval_args("--thermal-homography", "[1, x]"))
    args = build_parser().parse_args(["bag-eval", "--thermal-homography", str(tmp_path / "h.yaml"), "the_bag"])
    assert args.bag == "the_bag"  # one word: the positional after it stays itself


@pytest.mark.parametrize("body, why", [
    ("    slopp: 0.1\n", "unknown parameter slopp"),
    ("    queue_size: ten\n", "parameter queue_size: expected int, got 'ten'"),
    ("    queue_size: true\n", "parameter queue_size: expected int, got True"),
    ("    slop: -1\n", r"parameter slop=-1.0 out of range \[1e-06, 10.0\]"),
    ("    precision: int4\n", "parameter precision='int4': expected one of auto"),
    ("    slop: 3.0\n", r"parameters: jump_threshold \(2.0 s\) must exceed slop \(3.0 s\)"),
    ("    precision: int8\n", "parameters: precision int8 runs a quantised model file with backend"),
    ("    thermal_homography: [1, 2, 3]\n", "parameter thermal_homography: thermal homography must be 9 numbers"),
])
def test_bad_values_are_refused_naming_key_and_file(tmp_path: Path, body: str, why: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("/segmentation_node:\n  ros__parameters:\n" + body)
    with pytest.raises(SettingsError, match=rf"^{path}: {why}"):
        resolve_settings(_eval_args("--params", str(path)))
    assert main(["bag-eval", str(tmp_path / "no_bag"), "--params", str(path)]) == 2  # before the bag is opened
    assert f"rgbt-seg bag-eval: error: {path}: " in capsys.readouterr().err


@pytest.mark.parametrize("text, why", [("/**:\n  ros__parameters: {slop: [\n", "not YAML"),
                                       ("[1, 2]\n", "expected a mapping of node names")])
def test_malformed_files_are_refused_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=rf"^{path}: {why}"):
        resolve_settings(_eval_args("--params", str(path)))


def test_a_bad_flag_names_the_command_line_and_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^command line: parameter slop=20.0 out of range"):
        resolve_settings(_eval_args("--slop", "20"))
    with pytest.raises(SystemExit):  # argparse refuses what is no number
        _eval_args("--slop", "soon")


def test_bag_eval_needs_a_checkpoint_from_a_flag_or_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bag-eval", "no_bag"]) == 2
    assert "bag-eval needs --checkpoint (or a checkpoint in the --params file)" in capsys.readouterr().err


def test_tool_defaults_pins_and_flags_in_order(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters: {device: cuda, frozen_timeout: 5, slop: 0.2}\n")
    parser = argparse.ArgumentParser()
    add_settings_options(parser, "bench node")
    args = parser.parse_args(["--params", str(path), "--slop", "0.3"])
    s = resolve_settings(args, base={"device": "cpu", "slop": 0.1}, pinned={"frozen_timeout": 0.0, "slop": 0.4})
    assert (s.device, s.frozen_timeout, s.slop) == ("cuda", 0.0, 0.3)  # file over base, pin over file, flag last


# values a parameter file may hold: right, wrong and odd, for known and unknown keys
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.floats(-10, 10), max_size=10),
                   st.lists(st.integers(-2, 2), min_size=9, max_size=9),
                   st.sampled_from(["auto", "cpu", "cuda:1", "fixed", "percentile", "compressed", "reliable"]))
KEYS = st.one_of(st.sampled_from([s.name for s in SETTINGS]), st.sampled_from(
    ["use_sim_time", "start_type_description_service", "qos_overrides./tf.publisher.depth"]),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(KEYS, VALUES, max_size=8), node=st.sampled_from(["/**", "/segmentation_node",
                                                                                "/robot/segmentation_node"]))
def test_any_parameter_file_gives_settings_or_the_documented_error(tmp_path: Path, params: dict, node: str) -> None:
    """Every key is accounted for: a setting takes its value (ints widened to floats), a parameter every node has
    is ignored, anything else is refused by SettingsError naming the file."""
    nested: dict = {}
    for key, value in params.items():  # dotted names as ros2 param dump writes them: nested maps
        *parents, last = key.split(".")
        here = nested
        for p in parents:
            here = here.setdefault(p, {})
        here[last] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({node: {"ros__parameters": nested}}))
    try:
        s = resolve_settings(_eval_args("--params", str(path)))
    except SettingsError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return
    for key, value in params.items():
        if is_foreign(key):
            continue
        kept = getattr(s, key)  # an unknown key would have been refused
        want = setting(key).type
        assert type(kept) is want, key
        assert kept == ([float(v) for v in value] if want is list else value), key
