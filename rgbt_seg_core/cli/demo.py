"""``rgbt-seg demo``: the whole pipeline on the embedded synthetic data set, in minutes on a CPU.

synthesise -> train the demo preset (rgbt_seg_core/training/presets/synthetic.yaml) -> export the deploy form
(verified) -> evaluate on the synthetic test split -> metrics table, report PNGs and overlay images. A second run
reuses the data set and the trained model when they are complete. ``--quick`` runs every step on a few frames and
training iterations (a check that the pipeline works end to end, in seconds; its model is far from converged).
``make demo`` then replays the test split live through the real ROS node (``python -m rgbt_seg_ros.demo_live
DIR``: the ROS side lives in the ROS package).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from rgbt_seg_core.cli import evaluate, export, synth, train
from rgbt_seg_core.models.checkpoint_file import CheckpointError, read_meta
from rgbt_seg_core.training.config import resolve_train_config

log = logging.getLogger(__name__)

DEMO_MODEL = "rsfnet50_18"
DEMO_SIZE = (128, 160)
DEMO_FRAMES = 320
# --quick: 4 test frames and 1 optimiser step: every step of the pipeline runs, in seconds
QUICK_FRAMES = 16
QUICK_ITERS = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthesise, train, export and evaluate on the synthetic data set",
        description="Runs the main job end to end on the embedded synthetic data set with the demo preset "
        f"({DEMO_MODEL}, rgbt_seg_core/training/presets/synthetic.yaml, {DEMO_SIZE[0]}x{DEMO_SIZE[1]} frames). "
        "Writes DIR/data, DIR/run, DIR/model_deploy.safetensors, DIR/report and DIR/predictions. The live replay "
        "through the ROS node that `make demo` ends with: python -m rgbt_seg_ros.demo_live DIR.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retrain", action="store_true", help="train again even if a finished model exists")
    p.add_argument("--quick", action="store_true",
                   help=f"a pipeline check in seconds: {QUICK_FRAMES} frames, {QUICK_ITERS} training "
                   f"iteration{'s' if QUICK_ITERS != 1 else ''} "
                   "(the model is not trained to any accuracy; use its own --out)")

    p.set_defaults(run=run)


def _finished(run_dir: Path, max_iters: int | None) -> bool:
    """Whether ``run_dir`` holds a finished run scheduled for ``max_iters``; a finished run of another length (a
    ``--quick`` run where the full demo is asked for, or the reverse) is an error, not a model to reuse."""
    last = run_dir / "last.safetensors"
    if not last.is_file():
        return False
    try:
        training = read_meta(last).training
    except (CheckpointError, OSError):
        return False
    state = training.get("state") or {}
    if not state or state.get("iteration") != state.get("total_iters"):
        return False
    trained = (training.get("config") or {}).get("max_iters")
    if trained != max_iters:
        raise ValueError(f"{run_dir} holds a finished demo run of max_iters {trained}, this demo trains "
                         f"{max_iters}; pass --retrain or choose another --out")
    return True


def _reuse_data(data: Path, frames: int) -> bool:
    """Whether ``data`` already holds the demo's data set of ``frames`` frames (one of another size is an
    error: mixing the quick and the full demo in one folder would evaluate on the wrong split)."""
    info = data / "synth.json"
    if not (info.is_file() and (data / "test.txt").is_file()):
        return False
    num = json.loads(info.read_text()).get("num")
    if num != frames:
        raise ValueError(f"{data} holds a synthetic data set of {num} frames, this demo needs {frames}; "
                         "choose another --out")
    return True


def _sub(module, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"rgbt-seg {module.__name__.rsplit('.', 1)[-1]}")
    subs = parser.add_subparsers(dest="command")
    module.add_parser(subs)
    args = parser.parse_args(argv)
    code = args.run(args)
    if code:
        raise RuntimeError(f"demo step {argv[0]} failed with exit code {code}")


def run(args: argparse.Namespace) -> int:
    t0 = time.time()
    out = Path(args.out)
    data, run_dir = out / "data", out / "run"
    frames = QUICK_FRAMES if args.quick else DEMO_FRAMES
    print(f"[1/4] synthetic data set -> {data}")
    if _reuse_data(data, frames):
        print("      reusing the existing data set")
    else:
        _sub(synth, ["synth", "--out", str(data), "--num", str(frames), "--seed", str(args.seed),
                     "--height", str(DEMO_SIZE[0]), "--width", str(DEMO_SIZE[1])])
    _train_step(args, data, run_dir)
    deploy = out / "model_deploy.safetensors"
    print(f"[3/4] exporting the deploy form -> {deploy}")
    _sub(export, ["export", "--checkpoint", str(run_dir / "last.safetensors"), "--out", str(deploy), "--verify",
                  "--verify-size", str(DEMO_SIZE[0]), str(DEMO_SIZE[1])])
    print(f"[4/4] evaluating on the synthetic test split -> {out / 'report'}")
    _sub(evaluate, ["eval", "--checkpoint", str(deploy), "--dataset", "synthetic", "--data-root", str(data),
                    "--split", "test", "--device", "cpu", "--report-dir", str(out / "report"),
                    "--save-predictions", str(out / "predictions")])
    print(f"demo finished in {time.time() - t0:.0f} s; overlays in {out / 'predictions' / 'overlay'}")
    print(f"live replay through the ROS node (make demo runs it): python -m rgbt_seg_ros.demo_live {out}")
    return 0


def _train_step(args: argparse.Namespace, data: Path, run_dir: Path) -> None:
    iters = ["--max-iters", str(QUICK_ITERS)] if args.quick else []
    # the schedule length this demo trains for: the preset's, or --quick's
    max_iters = resolve_train_config(dataset="synthetic", model=DEMO_MODEL, data_root=str(data),
                                     max_iters=QUICK_ITERS if args.quick else None).max_iters
    print(f"[2/4] training {DEMO_MODEL} (demo preset) -> {run_dir}")
    if not args.retrain and _finished(run_dir, max_iters):
        print("      reusing the finished model in", run_dir)
        return
    resume = (run_dir / "last.safetensors").is_file() and not args.retrain
    if args.retrain and run_dir.exists():
        for f in ("last.safetensors", "best.safetensors"):
            (run_dir / f).unlink(missing_ok=True)
    _sub(train, ["train", "--dataset", "synthetic", "--data-root", str(data), "--model", DEMO_MODEL,
                 "--out", str(run_dir), "--seed", str(args.seed), *iters, *(["--resume"] if resume else [])])
