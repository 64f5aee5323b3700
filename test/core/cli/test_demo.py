"""``rgbt-seg demo --quick``: every step of the demo pipeline on a few frames and iterations, then reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rgbt_seg_core.cli.demo import QUICK_FRAMES, QUICK_ITERS, _finished
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.models.checkpoint_file import read_meta


@pytest.mark.slow
def test_quick_demo_runs_every_step_and_a_second_run_reuses_them(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for step in ("[1/4] synthetic data set", "[2/4] training rsfnet50_18", "[3/4] exporting the deploy form",
                 "[4/4] evaluating on the synthetic test split", "demo finished in"):
        assert step in printed
    assert json.loads((out / "data" / "synth.json").read_text())["num"] == QUICK_FRAMES
    state = read_meta(out / "run" / "last.safetensors").training["state"]
    assert state["iteration"] == state["total_iters"] == QUICK_ITERS
    deployed = read_meta(out / "model_deploy.safetensors")
    assert deployed.model == "rsfnet50_18"
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics  # the evaluation's report
    for name in ("report.md", "confusion.png", "iou.png"):
        assert (out / "report" / name).stat().st_size > 0
    overlays = sorted((out / "predictions" / "overlay").glob("*.png"))
    assert len(overlays) == QUICK_FRAMES // 4  # one per test frame

    assert main(["demo", "--quick", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert "reusing the existing data set" in again and "reusing the finished model" in again

    # the full demo must not reuse the quick one's data or model
    assert main(["demo", "--out", str(out)]) == 2
    assert f"holds a synthetic data set of {QUICK_FRAMES} frames, this demo needs 320" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"max_iters {QUICK_ITERS}, this demo trains 900"):
        _finished(out / "run", 900)
