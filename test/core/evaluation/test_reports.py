"""Evaluation reports: the paper's table layouts in Markdown, JSON that round-trips, and the two charts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbt_seg_core.evaluation.metrics import SegmentationScores, scores_from_confusion
from rgbt_seg_core.evaluation.reports import (
    confusion_png,
    iou_bar_png,
    json_report,
    markdown_report,
    robustness_tables,
)

NAMES = ("unlabeled", "car", "person")
CONFUSION = np.array([[50, 0, 0], [10, 30, 0], [0, 20, 20]])  # rows: ground truth


def _scores(miou: float, names: tuple[str, ...] = NAMES) -> SegmentationScores:
    iou = np.linspace(miou - 0.1, miou + 0.1, len(names))
    return SegmentationScores(names, acc=np.full(len(names), 0.5), iou=iou, pixels=100)


def test_markdown_follows_table_ii_and_iv() -> None:
    scores = scores_from_confusion(CONFUSION, NAMES)
    text = markdown_report("rsfnet50_18", scores, {"day": _scores(0.5), "night": _scores(0.25)})
    lines = text.splitlines()
    assert lines[0] == "### Per-class results (130 labelled pixels)"
    assert lines[2] == ("| Model | unlabeled Acc | unlabeled IoU | car Acc | car IoU | person Acc | person IoU "
                        "| mAcc | mIoU |")
    assert lines[3] == "|" + "---|" * 9
    # car: Acc 30/40, IoU 30/(40+50-30); mAcc (1 + .75 + .5)/3, mIoU (50/60 + .5 + .5)/3
    assert lines[4] == "| rsfnet50_18 | 100.0 | 83.3 | 75.0 | 50.0 | 50.0 | 50.0 | 75.0 | 61.1 |"
    assert "### Day / Night" in lines
    assert "| Model | day mAcc | day mIoU | night mAcc | night mIoU |" in lines
    assert "| rsfnet50_18 | 50.0 | 50.0 | 50.0 | 25.0 |" in lines
    assert "Day" not in markdown_report("m", scores)  # no subsets, no second table


def test_json_report_round_trips() -> None:
    scores = scores_from_confusion(CONFUSION, NAMES)
    data = json.loads(json_report({"model": "m", "split": "test"}, scores, {"day": scores}, CONFUSION))
    assert data["model"] == "m" and data["split"] == "test" and data["pixels"] == 130
    assert data["confusion_matrix"] == CONFUSION.tolist()
    assert data["mIoU"] == pytest.approx(scores.miou) and data["per_class"]["car"] == {"acc": 0.75, "iou": 0.5}
    assert data["subsets"]["day"]["mAcc"] == pytest.approx(0.75)
    assert json.loads(json_report({}, scores, None, CONFUSION))["subsets"] == {}


def test_confusion_png_shades_by_row_share(tmp_path: Path) -> None:
    path = tmp_path / "cm.png"
    confusion = np.array([[50, 0, 0], [10, 30, 0], [0, 0, 0]])  # the last class never occurs
    confusion_png(path, confusion, NAMES, cell=56)
    img = cv2.imread(str(path))
    assert img.shape == (150 + 3 * 56 + 20, 150 + 3 * 56 + 20, 3)

    def cell(i: int, j: int) -> tuple[int, ...]:  # a corner of the cell, clear of its border and text
        return tuple(int(v) for v in img[150 + i * 56 + 3, 150 + j * 56 + 52])

    assert cell(0, 0) == (255, 0, 0)  # 100 %: darkest
    assert cell(0, 1) == (255, 255, 255)  # 0 %
    assert cell(1, 0) == (255, 191, 191) and cell(1, 1) == (255, 63, 63)  # 25 % and 75 %
    assert cell(2, 2) == (255, 255, 255)  # an empty row divides by nothing, not by zero


def test_iou_bar_png_bar_lengths_and_colours(tmp_path: Path) -> None:
    path = tmp_path / "iou.png"
    scores = SegmentationScores(NAMES, acc=np.zeros(3), iou=np.array([0.0, 0.5, 1.0]), pixels=1)
    iou_bar_png(path, scores, [[0, 0, 0], [255, 0, 0], [0, 0, 255]], width=640)
    img = cv2.imread(str(path))
    assert img.shape == (40 + 3 * 28 + 30, 640, 3)
    span, left = 640 - 160 - 70, 160

    def px(row: int, x: int) -> tuple[int, ...]:
        return tuple(int(v) for v in img[40 + row * 28 + 14, x])

    assert px(1, left + 5) == px(1, left + span // 2 - 2) == (0, 0, 255)  # RGB red, written BGR
    assert px(1, left + span // 2 + 3) == (255, 255, 255)  # the bar ends at half the span
    assert px(2, left + span - 3) == (255, 0, 0)  # IoU 1: the whole span, blue
    assert px(0, left + 5) == (255, 255, 255)  # IoU 0: no bar


def test_robustness_tables_follow_cimnet_tables_iv_and_v() -> None:
    results = {"cimnet_r18": {"clean": _scores(0.5), "noise": _scores(0.4)},
               "rsfnet50_18": {"clean": _scores(0.6), "blur": _scores(0.65)}}
    lines = robustness_tables(results, classes=["person", "car", "bicycle"]).splitlines()
    assert lines[0] == "### mIoU under each setting (CIMNet Table V layout)"
    assert lines[2:7] == ["| Setting | cimnet_r18 | rsfnet50_18 |", "|---|---|---|",
                          "| clean | 50.0 | 60.0 |", "| noise | 40.0 (-10.0) |  |", "| blur |  | 65.0 (+5.0) |"]
    i = lines.index("### Per-class IoU (CIMNet Table IV layout)")
    assert lines[i + 2] == "| Model | Setting | person | car | mIoU |"  # unknown classes are left out
    assert lines[i + 4] == "| cimnet_r18 | clean | 60.0 | 50.0 | 50.0 |"
    assert len(lines) == i + 4 + 4
