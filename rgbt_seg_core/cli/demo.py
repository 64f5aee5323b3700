"""``rgbt-seg demo``: the whole pipeline on the embedded synthetic data set, in minutes on a CPU.

synthesise -> train the demo preset (rgbt_seg_core/training/presets/synthetic.yaml) -> export the deploy form (verified) ->
evaluate on the synthetic test split -> metrics table, report PNGs and overlay images. A second run reuses the
data set and the trained model when they are complete. ``make demo`` then replays the test split live through the
real ROS node (``python -m rgbt_seg_ros.demo_live DIR``: the ROS side lives in the ROS package).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from rgbt_seg_core.models.checkpoint_file import CheckpointError, read_meta
from rgbt_seg_core.cli import evaluate, export, synth, train

log = logging.getLogger(__name__)

DEMO_MODEL = "rsfnet50_18"
DEMO_SIZE = (128, 160)
DEMO_FRAMES = 320


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthesise, train, export and evaluate on the synthetic data set",
        description="Runs the main job end to end on the embedded synthetic data set with the demo preset "
        f"({DEMO_MODEL}, rgbt_seg_core/training/presets/synthetic.yaml, {DEMO_SIZE[0]}x{DEMO_SIZE[1]} frames). Writes DIR/data, "
        "DIR/run, DIR/model_deploy.safetensors, DIR/report and DIR/predictions. The live replay through the ROS "
        "node that `make demo` ends with: python -m rgbt_seg_ros.demo_live DIR.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retrain", action="store_true", help="train again even if a finished model exists")

    p.set_defaults(run=run)


def _finished(run_dir: Path) -> bool:
    last = run_dir / "last.safetensors"
    if not last.is_file():
        return False
    try:
        state = read_meta(last).training.get("state") or {}
    except (CheckpointError, OSError):
        return False
    return bool(state) and state.get("iteration") == state.get("total_iters")


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
    print(f"[1/4] synthetic data set -> {data}")
    if (data / "synth.json").is_file() and (data / "test.txt").is_file():
        print("      reusing the existing data set")
    else:
        _sub(synth, ["synth", "--out", str(data), "--num", str(DEMO_FRAMES), "--seed", str(args.seed),
                     "--height", str(DEMO_SIZE[0]), "--width", str(DEMO_SIZE[1])])
    print(f"[2/4] training {DEMO_MODEL} (demo preset) -> {run_dir}")
    if _finished(run_dir) and not args.retrain:
        print("      reusing the finished model in", run_dir)
    else:
        resume = (run_dir / "last.safetensors").is_file() and not args.retrain
        if args.retrain and run_dir.exists():
            for f in ("last.safetensors", "best.safetensors"):
                (run_dir / f).unlink(missing_ok=True)
        _sub(train, ["train", "--dataset", "synthetic", "--data-root", str(data), "--model", DEMO_MODEL,
                     "--out", str(run_dir), "--seed", str(args.seed), *(["--resume"] if resume else [])])
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
