"""config/segment.yaml is the schema rendered, and any settings render to a file that reads back as themselves."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.settings import SETTINGS, Settings, read_params_file, render_yaml

ROOT = Path(__file__).resolve().parents[3]


def test_the_config_file_is_the_schema_rendered() -> None:
    text = (ROOT / "config" / "segment.yaml").read_text()
    assert text == render_yaml()
    assert "    # silence after which a camera counts as failed (unit s; range 0.0..3600.0)\n" in text
    assert "(one of raw, compressed, compressedDepth; read-only after start)" in text
    assert len(yaml.safe_load(text)["/**"]["ros__parameters"]) == len(SETTINGS)


@settings(max_examples=30, deadline=None)
@given(model_file=st.text(max_size=12), offset=st.integers(-500, 500), alpha=st.floats(0.0, 1.0))
def test_rendered_settings_read_back(tmp_path_factory, model_file: str, offset: int, alpha: float) -> None:
    s = Settings.from_values({"model_file": model_file, "thermal_offset_y": offset, "overlay_alpha": alpha})
    path = tmp_path_factory.mktemp("r") / "p.yaml"
    path.write_text(render_yaml(s))
    assert Settings.from_values(read_params_file(path)) == s
