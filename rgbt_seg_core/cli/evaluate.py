"""``rgbt-seg eval``: the metrics of the paper's tables (RTFNet convention) for a checkpoint on a split, as
tables, JSON and charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from rgbt_seg_core.cli.options import add_dataset_options, add_inference_options, dataset_options, inference_options
from rgbt_seg_core.data import DATASETS, build_dataset
from rgbt_seg_core.data.perturb import parse_settings
from rgbt_seg_core.evaluation.evaluator import evaluate
from rgbt_seg_core.evaluation.reports import confusion_png, iou_bar_png, json_report, markdown_report, robustness_tables
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on a data set split",
        description="Per-class Acc/IoU, mAcc and mIoU over all classes (RTFNet convention), day/night for MFNet. "
        "Prints a Markdown table in the layout of the paper's Tables II/V (and IV). A training checkpoint is scored "
        "in its re-parameterised deploy form (equal to within float rounding), as the node and bag-eval run it.",
    )
    p.add_argument("--checkpoint", required=True, help="training- or deploy-form .safetensors checkpoint")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="test", help="split to score (default test)")
    add_dataset_options(p)
    add_inference_options(p)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--json", metavar="OUT", help="write the metrics as JSON here")
    p.add_argument("--report-dir", metavar="DIR",
                   help="write report.md, metrics.json, confusion.png and iou.png here")
    p.add_argument("--save-predictions", metavar="DIR", help="write label, colour and overlay PNGs here")
    p.add_argument("--perturb", action="append", default=[], metavar="SETTING",
                   help="robustness protocol (CIMNet §V): rgb-failure, thermal-failure[:SIGMA], misalign:DX[,DY], "
                   "misalign-dynamic[:MAX]; join with + to combine; repeat the flag to score several settings "
                   "(each beside the clean one, in the layout of CIMNet Tables IV and V); repeatable: draws are "
                   "seeded by frame name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = parse_settings(args.perturb)  # a typo fails before the model loads
    # the deploy form through the inference engine: the ROS node, bag-eval and predict run exactly this path
    engine = InferenceEngine(args.checkpoint, InferenceConfig(
        **inference_options(args), warmup=0))
    ds = build_dataset(args.dataset, args.data_root, args.split, **dataset_options(args))
    if ds.num_classes != engine.meta.num_classes:
        raise ValueError(
            f"{args.checkpoint} predicts {engine.meta.num_classes} classes but {args.dataset} has {ds.num_classes}"
        )
    ds.validate()
    if args.save_predictions and len(settings) > 1:
        raise ValueError("--save-predictions takes one --perturb setting (the predictions of several would mix)")
    if settings:
        return _run_robustness(args, engine, ds, settings)
    with tqdm(total=len(ds), desc="eval", unit="img", disable=None) as bar:
        res = evaluate(engine, ds, batch_size=args.batch_size,
                       save_predictions=Path(args.save_predictions) if args.save_predictions else None,
                       progress=lambda n: bar.update(1))
    scores, subsets = res.scores(), res.subset_scores()
    title = f"{engine.meta.model} (deploy form, {engine.precision})"
    md = markdown_report(title, scores, subsets)
    print(md)
    meta = {"checkpoint": str(args.checkpoint), "model": engine.meta.model, "precision": engine.precision,
            "dataset": args.dataset,
            "split": args.split, "images": res.images}
    js = json_report(meta, scores, subsets, res.confusion.matrix)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(js)
    if args.report_dir:
        out = Path(args.report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(f"# {title} on {args.dataset}:{args.split}\n\n{md}")
        (out / "metrics.json").write_text(js)
        confusion_png(out / "confusion.png", res.confusion.matrix, scores.class_names)
        iou_bar_png(out / "iou.png", scores, engine.meta.palette)
        print(f"report written to {out}")
    return 0


def _run_robustness(args: argparse.Namespace, engine: InferenceEngine, ds, settings: list) -> int:
    """The clean split and each --perturb setting, one table: CIMNet Tables IV and V."""
    import json

    from rgbt_seg_core.data.perturb import PerturbationSet

    runs = [PerturbationSet(), *[s for s in settings if s]]
    scored = {}
    for setting in runs:
        with tqdm(total=len(ds), desc=setting.name, unit="img", disable=None) as bar:
            res = evaluate(engine, ds, batch_size=args.batch_size, perturb=setting,
                           save_predictions=Path(args.save_predictions) if args.save_predictions and setting else None,
                           progress=lambda n: bar.update(1))
        scored[setting.name] = res.scores()
    label = f"{engine.meta.model} ({engine.precision})"
    text = robustness_tables({label: scored})
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"checkpoint": str(args.checkpoint), "model": engine.meta.model, "precision": engine.precision,
             "dataset": args.dataset, "split": args.split, "images": len(ds),
             "settings": {k: v.to_dict() for k, v in scored.items()}}, indent=2))
    if args.report_dir:
        out = Path(args.report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "robustness.md").write_text(f"# {label} on {args.dataset}:{args.split}\n\n{text}")
        print(f"report written to {out}")
    return 0
