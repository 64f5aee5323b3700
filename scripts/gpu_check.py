"""The steps of ``scripts/gpu_check.sh`` (which sets up the environment and calls this), in one process.

Run from the source tree with the machine's own torch; see rgbt_seg_core/benchmarks/gpu_check.py for what is
measured and docs/benchmarks.md for how to read the report. This file joins the core (latency, the runtime's path)
and the ROS package (the node over DDS, when rclpy is importable), which the core itself may not import.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import site
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if os.environ.get("GPU_CHECK_SITE"):  # the carried wheels: their .pth files run too (the ROS wheels set up there)
    site.addsitedir(os.environ["GPU_CHECK_SITE"])

import torch  # noqa: E402

from rgbt_seg_core.benchmarks import gpu_check as gc  # noqa: E402
from rgbt_seg_core.benchmarks.latency import random_checkpoint  # noqa: E402


def _ros_available() -> bool:
    if importlib.util.find_spec("rclpy") is None:
        return False
    try:
        import rclpy  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
    except Exception:  # wheels present but not loadable (another Python, missing shared libraries)
        return False
    return True


def gpu_tests(dry_run: bool, budget_s: int) -> dict:
    """``pytest -m gpu`` (collected only in the dry run, where there is no GPU to run them)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", str(ROOT / "test")]
    if dry_run:
        cmd.insert(4, "--collect-only")
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget_s)
        rc, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:  # what ran before the budget ran out still counts
        rc = "timeout"
        text = "".join(t.decode(errors="replace") if isinstance(t, bytes) else (t or "")
                       for t in (exc.stdout, exc.stderr)) + f"\n(stopped after {budget_s} s)"
    tail = text.strip().splitlines()[-12:]
    joined = "\n".join(tail)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|selected|deselected)", joined)}
    return {"rc": rc, **counts, "tail": joined}


def node(checkpoint: str, device: torch.device, height: int, width: int, frames: int, all_outputs: bool,
         ros: bool) -> dict:
    if not ros:
        return gc.runtime_node_latency(checkpoint, device, height, width, frames, all_outputs)
    from rgbt_seg_ros.bench_node import run_node_benchmark

    result = run_node_benchmark(checkpoint, "rsfnet50_18", height, width, frames, all_outputs, str(device))
    return {"transport": "loopback DDS (rclpy)", **result}


def _failed(result: object) -> bool:
    """A step failed: it raised, pytest did not pass (rc 5: nothing collected counts as passed), or a row of it
    (a latency variant) failed."""
    if isinstance(result, list):
        return any(isinstance(row, dict) and "error" in row for row in result)
    return isinstance(result, dict) and ("error" in result or result.get("rc", 0) not in (0, 5))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="the GPU check's steps (scripts/gpu_check.sh calls this)")
    p.add_argument("--dry-run", action="store_true", help="on the CPU, small and short: tests the script itself")
    p.add_argument("--out", default="gpu_check_out", help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--checkpoint", help="checkpoint to time (default: a random full-width rsfnet50_18)")
    args = p.parse_args(argv)
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available to this torch; use --dry-run on a machine without a GPU",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if dry else "cuda")
    h, w = (64, 80) if dry else (480, 640)
    rounds, frames = (3, 3) if dry else (50, 100)
    ros = _ros_available()
    report = gc.Report(dry, gc.environment(device), gc.plan(dry, ros))
    out = Path(args.out)
    budgets = {s.name: s.budget_s for s in report.plan}
    with tempfile.TemporaryDirectory(prefix="rgbt_seg_gpu_check_") as tmp:
        ckpt = args.checkpoint or random_checkpoint(Path(tmp))
        steps = [("gpu-tests", lambda: gpu_tests(dry, budgets["gpu-tests"])),
                 ("latency", lambda: gc.model_latency(ckpt, device, h, w, rounds)),
                 ("batch", lambda: gc.batch_latency(ckpt, device, h, w, max(2, rounds // 2))),
                 ("node-labels", lambda: node(ckpt, device, h, w, frames, False, ros)),
                 ("node-all", lambda: node(ckpt, device, h, w, frames, True, ros))]
        for name, fn in steps:
            print(f"gpu_check: {name} ...", flush=True)
            report.run(name, fn)
            js, md = gc.write_report(report, out)  # after every step: a call cut short keeps what it measured
    print(md.read_text())
    failed = [n for n, r in report.steps.items() if _failed(r)]
    print(f"gpu_check: report in {js} and {md}" + (f"; failed steps: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
