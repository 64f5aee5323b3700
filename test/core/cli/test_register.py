"""``rgbt-seg register``: point pairs in, a params file the node reads out, each pair's error printed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from rgbt_seg_core.cli.main import main
from rgbt_seg_core.inference.registration import read_homography
from rgbt_seg_core.settings import read_params_file, resolve_pairs

H = np.array([[1.02, 0.01, 12.0], [-0.015, 0.98, -7.5], [1e-5, -2e-5, 1.0]])


def _project(points: np.ndarray) -> np.ndarray:
    p = np.c_[points, np.ones(len(points))] @ H.T
    return p[:, :2] / p[:, 2:]


def _write_pairs(path: Path, thermal: np.ndarray, rgb: np.ndarray) -> None:
    pairs = [{"rgb": [float(r[0]), float(r[1])], "thermal": [float(t[0]), float(t[1])]} for t, r in zip(thermal, rgb)]
    path.write_text(yaml.safe_dump({"pairs": pairs}))


def test_register_fits_the_homography_and_writes_the_node_parameter(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    thermal = np.array([[10, 12], [600, 20], [620, 460], [15, 470], [320, 240], [150, 380], [480, 90.0]])
    _write_pairs(tmp_path / "pairs.yaml", thermal, _project(thermal))
    out = tmp_path / "params" / "homography.yaml"
    assert main(["register", "--pairs", str(tmp_path / "pairs.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    errors = [float(e) for e in re.findall(r"error ([0-9.]+) px", printed)]
    assert len(errors) == len(thermal) and max(errors) < 1e-3
    assert "check this pair" not in printed
    assert f"{len(thermal)} pairs: reprojection error RMS" in printed and f"wrote {out}" in printed
    h = read_homography(out)
    np.testing.assert_allclose(h / h[2, 2], H, rtol=1e-6, atol=1e-9)
    params = yaml.safe_load(out.read_text())["/**"]["ros__parameters"]
    # nine floats, each written as one (1.0, 1.0e-05): rcl refuses a list that mixes integers and floats, and YAML
    # 1.1 reads 1e-05 as text
    assert len(params["thermal_homography"]) == 9 and all(type(v) is float for v in params["thermal_homography"])


def test_register_flags_a_mis_clicked_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thermal = np.array([[10, 12], [600, 20], [620, 460], [15, 470], [320, 240], [150, 380], [480, 90.0]])
    rgb = _project(thermal)
    rgb[4] += [25.0, -20.0]  # clicked on the wrong point
    _write_pairs(tmp_path / "pairs.yaml", thermal, rgb)
    assert main(["register", "--pairs", str(tmp_path / "pairs.yaml"), "--out", str(tmp_path / "h.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    flagged = [line for line in lines if "check this pair" in line]
    assert flagged and any(line.startswith("pair   5:") for line in flagged)


def test_register_bad_pairs_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pairs.yaml").write_text("pairs:\n  - {rgb: [1, 2]}\n")
    assert main(["register", "--pairs", str(tmp_path / "pairs.yaml"), "--out", str(tmp_path / "h.yaml")]) == 2
    assert "pair 1 must be {rgb: [x, y], thermal: [x, y]}" in capsys.readouterr().err
    assert not (tmp_path / "h.yaml").exists()


def test_register_writes_one_camera_pairs_homography(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--pair front: front.thermal_homography (a nested key), which changes that pair alone, and which
    --thermal-homography still reads."""
    thermal = np.array([[10, 12], [600, 20], [620, 460], [15, 470], [320, 240]], float)
    _write_pairs(tmp_path / "points.yaml", thermal, _project(thermal))
    out = tmp_path / "front.yaml"
    assert main(["register", "--pairs", str(tmp_path / "points.yaml"), "--out", str(out), "--pair", "front"]) == 0
    assert f"wrote {out}: front.thermal_homography" in capsys.readouterr().out
    nested = yaml.safe_load(out.read_text())["/**"]["ros__parameters"]
    assert list(nested) == ["front"] and list(nested["front"]) == ["thermal_homography"]
    given = read_params_file(out)
    assert list(given) == ["front.thermal_homography"]
    ps = resolve_pairs({"pairs": ["front", "rear"], **given})
    h = np.array(ps.pairs["front"].thermal_homography).reshape(3, 3)
    np.testing.assert_allclose(h / h[2, 2], H, rtol=1e-6, atol=1e-9)
    assert ps.pairs["rear"].thermal_homography == [0.0] * 9 and ps.node.thermal_homography == [0.0] * 9
    np.testing.assert_allclose(read_homography(out), h)


@pytest.mark.parametrize("pair", ["front/left", "2nd", "slop", "no"])
def test_register_refuses_a_pair_the_node_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      pair: str) -> None:
    thermal = np.array([[10, 12], [600, 20], [620, 460], [15, 470]], float)
    _write_pairs(tmp_path / "points.yaml", thermal, _project(thermal))
    out = tmp_path / "h.yaml"
    assert main(["register", "--pairs", str(tmp_path / "points.yaml"), "--out", str(out), "--pair", pair]) == 2
    assert re.search(rf"parameter pairs: pair '?{pair}'? ", capsys.readouterr().err)
    assert not out.exists()
