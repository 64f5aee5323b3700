"""``make gpu-check`` (scripts/gpu_check.sh): everything GPU-side measured in one call on a bare CUDA machine.

Why one call: a GPU is lent to a task by chance, for minutes, with no network. So the plan is fixed in advance and
every step has a time budget; a step that fails is recorded with its error and the next one runs, and the report
is written after every step, so whatever was measured comes back even when the machine is taken away.

Steps (:func:`plan`): the ``gpu``-marked tests; model-only and raw-frame latency at 480 x 640, batch 1, for torch
fp32, fp16 eager, fp16 with CUDA graphs, fp16 channels-last with CUDA graphs, and each other registered backend
that runs on this GPU (:mod:`rgbt_seg_core.deploy.registry`: ONNX Runtime where it has the CUDA provider, TensorRT
where it is installed); batches of 1, 2 and 4 frames (one node serving several camera pairs, issue 26) through torch
fp16 with CUDA graphs (one graph per batch size) and through ONNX Runtime's CUDA provider, each batch's labels
checked against its frames one at a time (:func:`batch_latency`); the node end to end with labels only and with
every output (over DDS when rclpy is importable, else the same path without DDS: :func:`runtime_node_latency`,
which says so). The dry run (``--dry-run``) runs the same steps on the CPU at a small size with few rounds (the
batch step through torch fp32 and ONNX Runtime's CPU provider), so the script, the plan and the report writer are
tested on any machine.

The report is ``gpu_check.json`` (every figure) and ``gpu_check.md`` (one table per step) in the output folder;
docs/benchmarks.md says how to read them.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["Step", "plan", "Report", "model_latency", "batch_latency", "runtime_node_latency", "write_report",
           "environment", "backend_versions", "BATCH_SIZES"]

BATCH_SIZES = (1, 2, 4)


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    budget_s: int  # the most this step may take (the shell script's own timeout covers the whole call)


def plan(dry_run: bool, ros: bool) -> list[Step]:
    node = "over loopback DDS (rclpy found)" if ros else "without DDS: the runtime's path (rclpy not found)"
    return [
        Step("gpu-tests", "pytest -m gpu: the CUDA paths' own tests"
             + (" (dry run: collected only)" if dry_run else ""), 140),
        Step("latency", "model-only and raw-frame latency, batch 1: torch fp32, fp16 eager, fp16 + CUDA graphs, "
             "fp16 channels-last + CUDA graphs, and every other backend that runs on this GPU (ONNX Runtime's CUDA "
             "provider, TensorRT) if present", 130),
        Step("batch", f"batches of {', '.join(map(str, BATCH_SIZES))} frames: model-only and raw-frame latency per "
             "batch and per frame, torch " + ("fp32 and ONNX Runtime on the CPU" if dry_run else
                                              "fp16 + CUDA graphs and ONNX Runtime's CUDA provider")
             + ", each batch's labels against its frames one at a time", 80),
        Step("node-labels", f"the node end to end, labels only, {node}", 60),
        Step("node-all", f"the node end to end, every output, {node}", 60),
    ]


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu"] = f"{props.name} sm{props.major}{props.minor}, {props.total_memory / 2**30:.0f} GiB"
    env.update(backend_versions())
    return env


def backend_versions() -> dict[str, str | None]:
    """Each registered backend's package version (None where it is not installed), and for those that run on CUDA,
    whether they can here. Imports the installed runtimes, with their telemetry off."""
    from rgbt_seg_core.deploy.registry import list_backends
    from rgbt_seg_core.utils.optional import require

    out: dict[str, str | None] = {}
    for backend in list_backends():
        if not backend.module:
            continue
        if not backend.installed():
            out[backend.name] = None
            continue
        try:
            version = str(getattr(require(backend.module, backend.extra), "__version__", "?"))
        except RuntimeError as exc:  # present but not loadable (missing shared libraries, another Python)
            out[backend.name] = f"not loadable: {exc.__cause__ or exc}"
            continue
        if backend.cuda_ready is not None:
            version += ", CUDA" if backend.cuda_ready() else ", no CUDA"
        out[backend.name] = version
    return out


def _variants(device: torch.device) -> list[tuple[str, dict[str, Any]]]:
    """(row name, InferenceConfig keywords) of the latency step on ``device``."""
    d = str(device)
    if device.type != "cuda":  # the dry run: the same rows where a CPU has an equivalent
        return [("torch fp32", dict(device=d, precision="fp32")),
                ("torch bf16 eager", dict(device=d, precision="bf16", channels_last=False)),
                ("torch bf16 channels-last", dict(device=d, precision="bf16", channels_last=True))]
    rows = [("torch fp32", dict(device=d, precision="fp32", cuda_graphs=False)),
            ("torch fp16 eager", dict(device=d, precision="fp16", cuda_graphs=False, channels_last=False)),
            ("torch fp16 + CUDA graphs", dict(device=d, precision="fp16", cuda_graphs=True, channels_last=False)),
            ("torch fp16 channels-last + CUDA graphs", dict(device=d, precision="fp16", cuda_graphs=True,
                                                            channels_last=True))]
    from rgbt_seg_core.deploy.registry import list_backends

    for backend in list_backends():  # every other backend that runs on this GPU, in the first precision it is timed in
        if backend.runner is None or backend.cuda_ready is None or backend.timed is None:
            continue
        timed = [p for p, where in backend.timed(d, False) if where.startswith("cuda")]
        if timed and backend.installed() and backend.cuda_ready():
            rows.append((f"{backend.name} CUDA {timed[0]}", dict(device=d, backend=backend.name, precision=timed[0])))
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_latency(checkpoint: str, device: torch.device, height: int, width: int, rounds: int,
                  warmup: int = 3) -> list[dict[str, Any]]:
    """Per variant: model-only time (preprocessed inputs already on the device, to labels on the device,
    synchronised) and raw-frame time (camera arrays to labels on the host, :meth:`InferenceEngine.predict`)."""
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    thermal = rng.integers(0, 256, (height, width), dtype=np.uint8)
    rows = []
    for name, kw in _variants(device):
        try:
            engine = InferenceEngine(checkpoint, InferenceConfig(warmup=0, **kw))
            r, t = engine.tensors(rgb, thermal)
            model, frame, _ = _timed(engine, r, t, lambda: engine.predict(rgb, thermal), device, rounds, warmup)
            m = statistics.median(model)
            rows.append({"variant": name, "precision": engine.precision, "model_ms_p50": round(1e3 * m, 3),
                         "model_fps": round(1.0 / m, 1), "frame_ms_p50": round(1e3 * statistics.median(frame), 3),
                         "frame_ms_p95": round(1e3 * float(np.percentile(frame, 95)), 3)})
        except Exception as exc:  # one variant failing must not lose the others
            rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def _timed(engine: Any, r: torch.Tensor, t: torch.Tensor, from_host: Callable[[], Any], device: torch.device,
           rounds: int, warmup: int) -> tuple[list[float], list[float], Any]:
    """Seconds of the model alone (prepared inputs on the device to labels there, synchronised) and of
    ``from_host`` (camera arrays to outputs on the host), interleaved so that both see the same clocks and caches;
    with the last result of ``from_host``."""
    model, frame, out = [], [], None
    with torch.inference_mode():
        for i in range(warmup + rounds):
            _sync(device)
            t0 = time.perf_counter()
            engine._labels(r, t)
            _sync(device)
            t1 = time.perf_counter()
            out = from_host()
            t2 = time.perf_counter()
            if i >= warmup:
                model.append(t1 - t0)
                frame.append(t2 - t1)
    return model, frame, out


def _batch_variants(device: torch.device) -> list[tuple[str, dict[str, Any]]]:
    """(row name, InferenceConfig keywords) of the batch step: torch with CUDA graphs and ONNX Runtime on the GPU; the
    same two on the CPU in the dry run (torch fp32: a CPU has no graphs)."""
    from rgbt_seg_core.deploy.registry import get_backend

    d = str(device)
    cuda = device.type == "cuda"
    rows = [("torch fp16 + CUDA graphs", dict(device=d, precision="fp16", cuda_graphs=True, channels_last=False))
            if cuda else ("torch fp32", dict(device=d, precision="fp32"))]
    ort = get_backend("onnxruntime")
    if ort.installed() and (not cuda or (ort.cuda_ready is not None and ort.cuda_ready())):
        rows.append((f"onnxruntime {'CUDA' if cuda else 'CPU'} fp32", dict(device=d, backend="onnxruntime",
                                                                          precision="fp32")))
    return rows


def batch_latency(checkpoint: str, device: torch.device, height: int, width: int, rounds: int,
                  warmup: int = 2) -> list[dict[str, Any]]:
    """Per variant and batch size: model-only time of the batch (preprocessed inputs on the device to labels on
    the device, synchronised), raw-frame time (camera arrays to every frame's labels on the host,
    :meth:`~rgbt_seg_core.inference.engine.InferenceEngine.predict_frames`), each per batch and per frame, and the
    share of labels equal to each frame's alone (``labels_agree``: 1.0 but for ties that another batch size's
    kernels round otherwise)."""
    from rgbt_seg_core.inference.engine import BatchFrame, InferenceConfig, InferenceEngine

    rng = np.random.default_rng(0)
    frames = [BatchFrame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                         rng.integers(0, 256, (height, width), dtype=np.uint8)) for _ in range(max(BATCH_SIZES))]
    rows: list[dict[str, Any]] = []
    for name, kw in _batch_variants(device):
        try:
            engine = InferenceEngine(checkpoint, InferenceConfig(warmup=0, max_batch=max(BATCH_SIZES), **kw))
            alone = [engine.predict(f.rgb, f.thermal).labels for f in frames]
        except Exception as exc:  # one variant failing must not lose the others
            rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for b in BATCH_SIZES:
            try:
                rows.append({"variant": name, "batch": b, "precision": engine.precision,
                             **_time_batch(engine, frames[:b], alone[:b], device, rounds, warmup)})
            except Exception as exc:
                rows.append({"variant": name, "batch": b, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def _time_batch(engine: Any, frames: list, alone: list[np.ndarray], device: torch.device, rounds: int,
                warmup: int) -> dict[str, Any]:
    b = len(frames)
    r, t = engine.batch_tensors(frames)
    model, frame, preds = _timed(engine, r, t, lambda: engine.predict_frames(frames), device, rounds, warmup)
    m, f = statistics.median(model), statistics.median(frame)
    agree = min(float((p.labels == a).mean()) for p, a in zip(preds, alone))
    return {"model_ms_p50": round(1e3 * m, 3), "model_ms_per_frame": round(1e3 * m / b, 3),
            "model_fps": round(b / m, 1), "frame_ms_p50": round(1e3 * f, 3),
            "frame_ms_per_frame": round(1e3 * f / b, 3), "fps": round(b / f, 1), "labels_agree": round(agree, 5)}


def runtime_node_latency(checkpoint: str, device: torch.device, height: int, width: int, frames: int,
                         all_outputs: bool) -> dict[str, Any]:
    """The node's path without DDS: messages as rclpy delivers them (the same fields) into
    :class:`~rgbt_seg_core.runtime.SegmentationRuntime`, paired, segmented and rendered, one pair at a time. What
    DDS and message (de)serialisation add is not in it; the report says so."""
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.runtime import RGB, THERMAL, Outputs, RuntimeConfig, SegmentationRuntime
    from rgbt_seg_core.runtime.imageconv import array_to_image_fields

    engine = InferenceEngine(checkpoint, InferenceConfig(device=str(device), warmup=1))
    engine.warmup(height, width)
    runtime = SegmentationRuntime(engine, RuntimeConfig(frozen_timeout=0.0, modality_timeout=3600.0),
                                  clock=time.monotonic)
    rng = np.random.default_rng(0)
    fields_rgb = array_to_image_fields(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "rgb8")
    fields_t = array_to_image_fields(rng.integers(0, 256, (height, width), dtype=np.uint8), "mono8")
    want = Outputs(labels=True, color=all_outputs, overlay=all_outputs, gates=all_outputs, confidence=all_outputs)
    total, model = [], []
    for i in range(frames + 2):
        stamp = SimpleNamespace(sec=1000 + i, nanosec=0)
        header = SimpleNamespace(stamp=stamp, frame_id="bench")
        t0 = time.perf_counter()
        runtime.add(RGB, SimpleNamespace(header=header, **fields_rgb))
        runtime.add(THERMAL, SimpleNamespace(header=header, **fields_t))
        work = runtime.take(timeout=5.0)
        out = runtime.process(work, want) if work is not None else None
        if out is None:
            raise RuntimeError(f"frame {i}: the runtime gave no output")
        if i >= 2:
            total.append(time.perf_counter() - t0)
            model.append(out.model_seconds)
    t50 = statistics.median(total)
    return {"transport": "none: the runtime's path without DDS", "outputs": "all" if all_outputs else "labels",
            "frames": frames, "precision": engine.precision, "end_to_end_ms_p50": round(1e3 * t50, 3),
            "model_ms_p50": round(1e3 * statistics.median(model), 3),
            "in_node_overhead_ms_p50": round(1e3 * statistics.median(a - b for a, b in zip(total, model)), 3),
            "rate_hz": round(1.0 / t50, 1)}


@dataclass
class Report:
    dry_run: bool
    environment: dict[str, Any]
    plan: list[Step]
    steps: dict[str, Any] = field(default_factory=dict)  # name -> result or {"error": ...}
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, step: str, fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        try:
            self.steps[step] = fn()
        except Exception as exc:  # a failed step is recorded; the next one still runs
            self.steps[step] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=4)}
        self.seconds[step] = round(time.perf_counter() - t0, 1)


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    """``gpu_check.json`` and ``gpu_check.md`` in ``out`` (written whole each time, so a call cut short still
    leaves the last complete report)."""
    from rgbt_seg_core.utils.atomic import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    data = {"dry_run": report.dry_run, "environment": report.environment, "plan": [asdict(s) for s in report.plan],
            "steps": report.steps, "seconds": report.seconds}
    js, md = out / "gpu_check.json", out / "gpu_check.md"
    atomic_write_bytes(js, (json.dumps(data, indent=1, default=str) + "\n").encode())
    atomic_write_bytes(md, _markdown(report).encode())
    return js, md


def _markdown(report: Report) -> str:
    env = report.environment
    lines = [f"# GPU check{' (dry run on the CPU)' if report.dry_run else ''}", "",
             " · ".join(f"{k} {v}" for k, v in env.items() if v is not None), ""]
    for step in report.plan:
        result = report.steps.get(step.name)
        took = report.seconds.get(step.name)
        lines.append(f"## {step.name}: {step.what}" + (f" ({took:.0f} s)" if took is not None else " (not run)"))
        lines.append("")
        if isinstance(result, dict) and "error" in result:
            lines += [f"failed: {result['error']}", ""]
        elif isinstance(result, list) and result and isinstance(result[0], dict):
            keys = list(dict.fromkeys(k for row in result for k in row))
            lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in result]
            lines.append("")
        elif isinstance(result, dict):  # one row; long texts (a test run's tail) stay in the JSON
            row = {k: v for k, v in result.items() if k not in ("tail", "trace")}
            lines += ["| " + " | ".join(row) + " |", "|" + "---|" * len(row),
                      "| " + " | ".join(str(v) for v in row.values()) + " |", ""]
        elif result is not None:
            lines += [f"    {result}", ""]
    return "\n".join(lines) + "\n"
