"""The fleet's report: the combined scores as ``eval`` writes them (Markdown, JSON, the IoU and confusion PNGs of
:mod:`rgbt_seg_core.evaluation.reports`), the per-bag table worst bags first (also as CSV), the bad bags and bad
inputs with their reasons.

The combined scores come from the summed confusion matrix, so the mIoU is that of every scored frame of every good
bag together, not a mean of the bags' mIoUs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rgbt_seg_core.evaluation.metrics import SegmentationScores, scores_from_confusion
from rgbt_seg_core.evaluation.reports import confusion_png, iou_bar_png, json_report, markdown_report
from rgbt_seg_core.fleet.evaluate import BagSummary, FleetResult
from rgbt_seg_core.fleet.inputs import BadInput

__all__ = ["bag_rows", "fleet_json", "fleet_markdown", "bags_csv", "write_report", "print_fleet", "CSV_COLUMNS"]

CSV_COLUMNS = ("bag", "frames", "pairs", "drops", "rgb_only", "thermal_only", "evaluated", "mIoU", "fps",
               "worst_class", "worst_class_iou")


def _row(b: BagSummary) -> dict[str, Any]:
    worst = b.worst_class
    return {"bag": b.bag, "frames": b.frames, "pairs": b.pairs, "drops": b.drops, "rgb_only": b.rgb_only,
            "thermal_only": b.thermal_only, "evaluated": b.evaluated, "mIoU": b.miou, "fps": b.fps,
            "worst_class": worst[0] if worst else None, "worst_class_iou": worst[1] if worst else None}


def bag_rows(result: FleetResult) -> list[dict[str, Any]]:
    """The per-bag table, worst bag (lowest mIoU) first."""
    return [_row(b) for b in result.bags]


def _bad(result: FleetResult, bad_inputs: Sequence[BadInput]) -> tuple[list[dict], list[dict]]:
    bags = [{"bag": b.bag, "reason": b.reason, "frames_read": b.frames} for b in result.bad]
    inputs = [{"input": i.input, "reason": i.reason} for i in bad_inputs]
    return bags, inputs


def fleet_json(result: FleetResult, meta: dict[str, Any], bad_inputs: Sequence[BadInput] = ()) -> str:
    """``eval``'s JSON (scores, per-class, confusion matrix) of the combined result, with ``bags`` (the table),
    ``bad_bags`` and ``bad_inputs``."""
    scores = _scores(result)
    bags, inputs = _bad(result, bad_inputs)
    extra = {**meta, "evaluated": result.evaluated, "bags": bag_rows(result), "bad_bags": bags,
             "bad_inputs": inputs}
    if result.misses is not None:  # per true class, pixels predicted unlabelled (below min_confidence)
        extra["unlabelled_predictions"] = result.misses.tolist()
    return json_report(extra, scores, None, _confusion(result))


def _confusion(result: FleetResult) -> np.ndarray:
    if result.confusion is None:  # callers write a report only once some bag was evaluated
        raise ValueError("no bag could be scored: there is no confusion matrix to report")
    return result.confusion


def _scores(result: FleetResult) -> SegmentationScores:
    """The fleet's scores, from the summed confusion matrix (and the summed misses, below ``min_confidence``)."""
    return scores_from_confusion(_confusion(result), result.class_names, result.misses)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _table(result: FleetResult) -> list[str]:
    out = ["| Bag | Frames | Pairs | Drops | RGB-only | Thermal-only | mIoU | FPS | Worst class (IoU) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in bag_rows(result):
        worst = f"{r['worst_class']} ({_pct(r['worst_class_iou'])})" if r["worst_class"] else ""
        fps = f"{r['fps']:.1f}" if r["fps"] is not None else ""
        out.append(f"| {r['bag']} | {r['frames']} | {r['pairs']} | {r['drops']} | {r['rgb_only']} | "
                   f"{r['thermal_only']} | {_pct(r['mIoU'])} | {fps} | {worst} |")
    return out


def fleet_markdown(result: FleetResult, title: str, bad_inputs: Sequence[BadInput] = ()) -> str:
    """The combined table in ``eval``'s layout, then the bags worst first, then what could not be evaluated."""
    scores = _scores(result)
    out = [f"# {title}", "", f"{len(result.bags)} bag(s), {result.evaluated} scored frames; confusion matrices "
           "summed over every bag", "", markdown_report(title, scores), "### Bags, worst first", "",
           *_table(result), ""]
    bags, inputs = _bad(result, bad_inputs)
    if bags or inputs:
        out += ["### Not evaluated", ""]
        out += [f"- {b['bag']}: {b['reason']}" for b in bags]
        out += [f"- {i['input']}: {i['reason']}" for i in inputs]
        out.append("")
    return "\n".join(out)


def bags_csv(result: FleetResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in bag_rows(result):
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def write_report(folder: str | Path, result: FleetResult, meta: dict[str, Any], title: str,
                 bad_inputs: Sequence[BadInput] = ()) -> Path:
    """``report.md``, ``metrics.json``, ``bags.csv``, ``confusion.png`` and ``iou.png`` in ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(fleet_markdown(result, title, bad_inputs))
    (out / "metrics.json").write_text(fleet_json(result, meta, bad_inputs))
    (out / "bags.csv").write_text(bags_csv(result))
    scores = _scores(result)
    confusion_png(out / "confusion.png", _confusion(result), scores.class_names)
    iou_bar_png(out / "iou.png", scores, result.palette)
    return out


def print_fleet(result: FleetResult, bad_inputs: Sequence[BadInput] = ()) -> None:
    """The per-bag table, the combined scores and what could not be evaluated, on stdout."""
    print(f"\n  {'bag':<40} {'frames':>7} {'pairs':>6} {'drops':>6} {'rgb-only':>8} {'thm-only':>8} "
          f"{'mIoU':>6} {'FPS':>7}  worst class")
    for r in bag_rows(result):
        fps = f"{r['fps']:.1f}" if r["fps"] is not None else ""
        worst = f"{r['worst_class']} ({_pct(r['worst_class_iou'])})" if r["worst_class"] else ""
        print(f"  {r['bag'][-40:]:<40} {r['frames']:>7} {r['pairs']:>6} {r['drops']:>6} {r['rgb_only']:>8} "
              f"{r['thermal_only']:>8} {_pct(r['mIoU']):>6} {fps:>7}  {worst}")
    if result.confusion is not None and result.evaluated:
        s = _scores(result)
        print(f"\n  all {len(result.bags)} bag(s), {result.evaluated} scored frames (confusion matrices summed): "
              f"mIoU {100 * s.miou:.2f} %, mAcc {100 * s.macc:.2f} %")
    for b in result.bad:
        print(f"  not evaluated: {b.bag}: {b.reason}")
    for i in bad_inputs:
        print(f"  not evaluated: {i.input}: {i.reason}")
