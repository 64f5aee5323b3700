"""``rgbt-seg bench outputs``: each output's bytes raw against compressed, on small synthetic scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rgbt_seg_core.benchmarks.outputs import run_outputs_benchmark
from rgbt_seg_core.cli.main import main


def test_compressed_forms_are_smaller_and_the_raw_sizes_are_the_pixels(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "outputs.json"
    assert main(["bench", "outputs", "--height", "64", "--width", "80", "--frames", "2", "--rate", "5",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    rows = {row["output"]: row for row in r["outputs"]}
    assert list(rows) == ["labels", "color", "overlay", "gate/rgb", "gate/thermal"]
    assert rows["labels"]["raw_bytes_per_frame"] == 64 * 80 and rows["overlay"]["raw_bytes_per_s"] == 5 * 3 * 64 * 80
    for name in ("labels", "color", "overlay"):
        row = rows[name]
        assert 0 < row["compressed_bytes_per_frame"] < row["raw_bytes_per_frame"], name
        assert row["compressed_bytes_per_s"] == pytest.approx(5 * row["compressed_bytes_per_frame"], abs=5)
        assert row["encode_ms_p50"] > 0
    assert "compressed_bytes_per_frame" not in rows["gate/rgb"]  # 32FC1: no compressed form
    assert "| `labels` | 5.1 kB | 0.03 MB/s |" in capsys.readouterr().out


def test_bad_arguments_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="jpeg_quality must be an integer in"):
        run_outputs_benchmark(64, 80, frames=1, quality=0)
    with pytest.raises(ValueError, match="--frames must be >= 1 and --rate > 0"):
        run_outputs_benchmark(64, 80, frames=0)
