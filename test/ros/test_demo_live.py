"""The demo's live step: a small synthetic split as a bag, replayed through segmentation_node in its own process;
the node's labels score exactly as the offline evaluation of the same bag, and the overlay video is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset  # noqa: E402
from rgbt_seg_ros.demo_live import live_step, main  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.mark.slow
def test_live_step_scores_like_offline(varied_checkpoint: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    write_synthetic_dataset(tmp_path / "data", 16, SynthConfig(height=64, width=80, seed=3))  # 4 test frames
    ckpt = varied_checkpoint
    # lockstep: on a busy CI machine a real-time replay may drop frames; the scoring must still match exactly
    report = live_step(tmp_path / "data", ckpt, tmp_path, fps=5.0, lockstep=True)
    assert report["frames"] == 4 and report["labelled_live"] == 4 and report["dropped"] == 0
    assert report["live_mIoU"] == report["offline_mIoU"] and 0 < report["live_mIoU"] < 1
    assert report["latency_ms_p50"] > 0 and report["video"] and Path(report["video"]).exists()
    assert json.loads((tmp_path / "live.json").read_text()) == report
    out = capsys.readouterr().out
    assert "offline mIoU" in out and "live mIoU" in out and "p95" in out


def test_live_step_needs_a_finished_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "holds no finished demo" in capsys.readouterr().err
