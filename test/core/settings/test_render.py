"""config/segment.yaml is the schema rendered, and any settings render to a file that reads back as themselves."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.settings import SETTINGS, Settings, SettingsError, read_params_file, render_yaml, resolve_pairs
from rgbt_seg_core.settings.render import EXAMPLE_PAIR_VALUES, EXAMPLE_PAIRS

ROOT = Path(__file__).resolve().parents[3]


def test_the_config_file_is_the_schema_rendered() -> None:
    text = (ROOT / "config" / "segment.yaml").read_text()
    assert text == render_yaml()
    assert "    # silence after which a camera counts as failed (unit s; range 0.0..3600.0; per pair)\n" in text
    assert "(one of raw, compressed, compressedDepth; read-only after start; per pair)" in text
    assert "    # time between /diagnostics messages (unit s; range 0.05..60.0)\n" in text  # the node's alone
    assert len(yaml.safe_load(text)["/**"]["ros__parameters"]) == len(SETTINGS) - 1  # pairs: an empty list


@settings(max_examples=30, deadline=None)
@given(model_file=st.text(max_size=12), offset=st.integers(-500, 500), alpha=st.floats(0.0, 1.0))
def test_rendered_settings_read_back(tmp_path_factory, model_file: str, offset: int, alpha: float) -> None:
    s = Settings.from_values({"model_file": model_file, "thermal_offset_y": offset, "overlay_alpha": alpha})
    path = tmp_path_factory.mktemp("r") / "p.yaml"
    path.write_text(render_yaml(s))
    assert Settings.from_values(read_params_file(path)) == s


def test_the_commented_example_pair_resolves_once_uncommented(tmp_path) -> None:
    """The example in config/segment.yaml is a working file: uncommented, it gives two pairs, front with its own
    homography and transport, rear with the node's."""
    text = (ROOT / "config" / "segment.yaml").read_text()
    assert '\n    # pairs: ["front", "rear"]\n' in text and "\n    # front:\n    #   thermal_homography: [" in text
    lines = text.splitlines()
    start = lines.index("    # front:")
    example = [line.replace("    # ", "    ", 1) for line in lines[start:]]
    path = tmp_path / "pairs.yaml"
    path.write_text("\n".join([line.replace('    # pairs: ["front"', '    pairs: ["front"') for line in lines[:start]]
                              + example) + "\n")
    ps = resolve_pairs(read_params_file(path), source=str(path))
    assert ps.names == tuple(EXAMPLE_PAIRS) == ("front", "rear")
    assert ps.pairs["front"].thermal_homography == EXAMPLE_PAIR_VALUES["front"]["thermal_homography"]
    assert ps.pairs["front"].rgb_transport == "compressed" and ps.pairs["rear"].rgb_transport == "raw"
    assert ps.pairs["rear"] == ps.node and ps.own == EXAMPLE_PAIR_VALUES


@settings(max_examples=30, deadline=None)
@given(pairs=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), min_size=1, max_size=3, unique=True),
       offset=st.integers(-500, 500), depth=st.integers(1, 100))
def test_pairs_and_their_own_values_render_and_read_back(tmp_path_factory, pairs: list, offset: int,
                                                         depth: int) -> None:
    values = {"pairs": pairs, f"{pairs[0]}.thermal_offset_x": offset, f"{pairs[-1]}.qos_depth": depth}
    try:
        ps = resolve_pairs(values)
    except SettingsError as exc:  # a pair named as a setting, or as YAML's "no"
        assert "has the name of the node's parameter" in str(exc) or "reads as a boolean or null" in str(exc)
        return
    path = tmp_path_factory.mktemp("r") / "p.yaml"
    path.write_text(render_yaml(ps.node, pair_values=ps.own))
    assert "# front:" not in path.read_text()  # the example stands in only where no pair sets its own
    assert resolve_pairs(read_params_file(path)) == ps
