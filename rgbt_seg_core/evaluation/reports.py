"""Evaluation reports: Markdown in the layout of the paper's tables, JSON, and two PNG charts.

Table II / V layout: one row per model, for each class an Acc and an IoU column (percent), then mAcc and mIoU.
Table IV layout: day and night mAcc / mIoU. Robustness (CIMNet Tables IV and V): per-class IoU per setting, and
mIoU with one row per setting and one column per model. Charts are drawn with OpenCV so reports need no plotting
library.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from rgbt_seg_core.evaluation.metrics import SegmentationScores

__all__ = ["markdown_report", "json_report", "confusion_png", "iou_bar_png", "robustness_tables"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_report(
    title: str, scores: SegmentationScores, subsets: dict[str, SegmentationScores] | None = None
) -> str:
    names = scores.class_names
    head = "| Model | " + " | ".join(f"{n} Acc | {n} IoU" for n in names) + " | mAcc | mIoU |"
    sep = "|" + "---|" * (2 * len(names) + 3)
    row = (
        f"| {title} | "
        + " | ".join(f"{_pct(a)} | {_pct(i)}" for a, i in zip(scores.acc, scores.iou))
        + f" | {_pct(scores.macc)} | {_pct(scores.miou)} |"
    )
    out = [f"### Per-class results ({scores.pixels} labelled pixels)", "", head, sep, row, ""]
    if subsets:
        keys = list(subsets)
        out += [
            "### " + " / ".join(k.capitalize() for k in keys),
            "",
            "| Model | " + " | ".join(f"{k} mAcc | {k} mIoU" for k in keys) + " |",
            "|" + "---|" * (2 * len(keys) + 1),
            f"| {title} | " + " | ".join(f"{_pct(subsets[k].macc)} | {_pct(subsets[k].miou)}" for k in keys) + " |",
            "",
        ]
    return "\n".join(out)


def json_report(meta: dict, scores: SegmentationScores, subsets: dict[str, SegmentationScores] | None,
                confusion: np.ndarray) -> str:
    return json.dumps(
        {**meta, **scores.to_dict(), "subsets": {k: v.to_dict() for k, v in (subsets or {}).items()},
         "confusion_matrix": confusion.tolist()},
        indent=2,
    )


def confusion_png(path: Path, confusion: np.ndarray, class_names: tuple[str, ...], cell: int = 56) -> None:
    """Row-normalised confusion matrix (rows: ground truth), darker = larger share, values in percent."""
    n = len(class_names)
    rows = confusion.sum(axis=1, keepdims=True).astype(np.float64)
    norm = np.divide(confusion, rows, out=np.zeros_like(confusion, dtype=np.float64), where=rows > 0)
    left, top = 150, 150
    img = np.full((top + n * cell + 20, left + n * cell + 20, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(n):
        for j in range(n):
            v = norm[i, j]
            shade = int(255 * (1 - v))
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (200, 200, 200), 1)
            colour = (255, 255, 255) if v > 0.5 else (0, 0, 0)
            cv2.putText(img, f"{100 * v:.0f}", (x0 + 8, y0 + cell // 2 + 5), font, 0.45, colour, 1, cv2.LINE_AA)
        cv2.putText(img, class_names[i][:16], (5, top + i * cell + cell // 2 + 5), font, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    # column labels: write them along a strip with one row per class, then turn it to read bottom-up
    strip = np.full((n * cell, top - 30, 3), 255, np.uint8)
    for j in range(n):
        cv2.putText(strip, class_names[j][:16], (5, j * cell + cell // 2 + 5), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    rot = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)  # (top - 30) x (n * cell)
    img[20 : 20 + rot.shape[0], left : left + rot.shape[1]] = rot
    cv2.putText(img, "prediction", (left, 14), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def iou_bar_png(path: Path, scores: SegmentationScores, palette: list[list[int]], width: int = 640) -> None:
    n = len(scores.class_names)
    bar_h, left = 28, 160
    img = np.full((40 + n * bar_h + 30, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    span = width - left - 70
    cv2.putText(img, f"IoU per class   mIoU {100 * scores.miou:.1f}", (10, 24), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (name, iou) in enumerate(zip(scores.class_names, scores.iou)):
        y = 40 + i * bar_h
        r, g, b = palette[i] if i < len(palette) else (128, 128, 128)
        colour = (int(b), int(g), int(r)) if (r, g, b) != (0, 0, 0) else (90, 90, 90)
        cv2.rectangle(img, (left, y + 4), (left + int(span * iou), y + bar_h - 4), colour, -1)
        cv2.rectangle(img, (left, y + 4), (left + span, y + bar_h - 4), (200, 200, 200), 1)
        cv2.putText(img, name[:18], (8, y + bar_h - 9), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{100 * iou:.1f}", (left + span + 6, y + bar_h - 9), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def robustness_tables(results: dict[str, dict[str, SegmentationScores]], classes: list[str] | None = None) -> str:
    """``results[model][setting]``: CIMNet Table V's layout (a row per setting, a column per model, mIoU and its
    change from clean) and Table IV's (per-class IoU, a row per model and setting; ``classes`` picks columns)."""
    models = list(results)
    settings = list(dict.fromkeys(s for m in models for s in results[m]))
    out = ["### mIoU under each setting (CIMNet Table V layout)", "",
           "| Setting | " + " | ".join(models) + " |", "|" + "---|" * (len(models) + 1)]
    for setting in settings:
        cells = []
        for m in models:
            sc = results[m].get(setting)
            clean = results[m].get("clean")
            if sc is None:
                cells.append("")
            elif clean is not None and setting != "clean":
                cells.append(f"{_pct(sc.miou)} ({100 * (sc.miou - clean.miou):+.1f})")
            else:
                cells.append(_pct(sc.miou))
        out.append(f"| {setting} | " + " | ".join(cells) + " |")
    first = next(iter(results[models[0]].values()))
    names = list(first.class_names)
    cols = [n for n in (classes or names) if n in names]
    out += ["", "### Per-class IoU (CIMNet Table IV layout)", "",
            "| Model | Setting | " + " | ".join(cols) + " | mIoU |", "|" + "---|" * (len(cols) + 3)]
    for m in models:
        for setting, sc in results[m].items():
            out.append(f"| {m} | {setting} | " + " | ".join(_pct(sc.iou[names.index(c)]) for c in cols)
                       + f" | {_pct(sc.miou)} |")
    return "\n".join(out) + "\n"
