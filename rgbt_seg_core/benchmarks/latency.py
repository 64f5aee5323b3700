"""``rgbt-seg bench latency``: every backend and precision this machine has, side by side on the same frames.

Variants run interleaved (one frame through each, round after round), so all see the same machine state; each
is timed from raw camera arrays to labels through :meth:`InferenceEngine.predict` (preprocessing included, as the
node runs it). Reported per variant: median and p95 latency, the ratio to fp32 eager torch (the baseline), the
share of labels equal to the baseline's (on the timing frames, or with ``--data-root`` on the first test frames of
that synthetic set) and, with ``--data-root``, the test split's mIoU against the baseline's.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.precision import cpu_flags, cpu_has_native_bf16

__all__ = ["available_variants", "run_latency_benchmark"]


@dataclass
class Variant:
    name: str
    config: InferenceConfig
    engine: InferenceEngine | None = None
    times: list[float] = field(default_factory=list)


def available_variants(device: str, backends: list[str]) -> list[tuple[str, InferenceConfig]]:
    """(name, config) for every backend x precision this machine can run; the first is the fp32 baseline."""
    out: list[tuple[str, InferenceConfig]] = []
    if "torch" in backends:
        out.append(("torch fp32", InferenceConfig(device=device, precision="fp32", warmup=0)))
        if device == "cpu" or device.startswith("cuda") and torch.cuda.is_bf16_supported():
            out.append(("torch bf16", InferenceConfig(device=device, precision="bf16", warmup=0)))
        if device.startswith("cuda"):
            out.append(("torch fp16", InferenceConfig(device=device, precision="fp16", warmup=0)))
    if "onnxruntime" in backends and _importable("onnxruntime"):
        out.append(("onnxruntime fp32", InferenceConfig(device=device, backend="onnxruntime", warmup=0)))
    if "openvino" in backends and _importable("openvino"):  # OpenVINO runs on the CPU here, whatever --device says
        out.append(("openvino fp32", InferenceConfig(device="cpu", backend="openvino", precision="fp32", warmup=0)))
        if cpu_has_native_bf16():
            out.append(("openvino bf16", InferenceConfig(device="cpu", backend="openvino", precision="bf16", warmup=0)))
    if "tensorrt" in backends and device.startswith("cuda") and _importable("tensorrt"):
        out.append(("tensorrt fp16", InferenceConfig(device=device, backend="tensorrt", precision="fp16", warmup=0)))
    if not out or out[0][0] != "torch fp32":
        out.insert(0, ("torch fp32", InferenceConfig(device=device, precision="fp32", warmup=0)))
    return out


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _frames(height: int, width: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
             rng.integers(0, 256, (height, width), dtype=np.uint8)) for _ in range(n)]


def run_latency_benchmark(checkpoint: str | None, *, height: int = 480, width: int = 640, device: str = "cpu",
                          backends: Sequence[str] = ("torch", "onnxruntime", "openvino", "tensorrt"),
                          rounds: int = 10, warmup: int = 2, data_root: str | None = None,
                          model: str = "rsfnet50_18") -> dict[str, Any]:
    """The comparison of the module docstring, on ``checkpoint`` (a random ``model`` in deploy form if None)."""
    tmp = None
    if checkpoint is None:
        tmp = tempfile.TemporaryDirectory()
        checkpoint = _random_checkpoint(Path(tmp.name), model)
    try:
        variants = [Variant(n, c, InferenceEngine(checkpoint, c))
                    for n, c in available_variants(device, list(backends))]
        frames = _frames(height, width, max(1, min(rounds, 4)))  # timing: frames of the size asked for
        labels = _time_rounds(variants, frames, rounds, warmup)
        base = variants[0]
        base_median = statistics.median(base.times)
        ds = None
        if data_root:  # agreement on real content: the test split's frames (at their own size)
            from rgbt_seg_core.data import build_dataset

            ds = build_dataset("synthetic", data_root, "test")
            samples = [ds[i] for i in range(min(8, len(ds)))]
            labels = {v.name: [v.engine.predict(s.rgb, s.thermal).labels for s in samples]  # type: ignore[union-attr]
                      for v in variants}
        rows = []
        for v in variants:
            agree = float(np.mean([(a == b).mean() for a, b in zip(labels[v.name], labels[base.name])]))
            med = statistics.median(v.times)
            rows.append({"variant": v.name, "precision": v.engine.precision if v.engine else "",
                         "median_ms": round(1e3 * med, 2), "p95_ms": round(1e3 * float(np.percentile(v.times, 95)), 2),
                         "ratio_to_fp32_eager": round(med / base_median, 3), "label_agreement": round(agree, 5)})
        if ds is not None:
            _add_miou(rows, variants, ds)
        flags = cpu_flags()
        return {
            "checkpoint": checkpoint if tmp is None else f"random {model}", "input": [height, width],
            "device": device, "threads": torch.get_num_threads(), "rounds": rounds,
            "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx"))),
            "native_bf16": cpu_has_native_bf16(flags), "rows": rows,
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def _random_checkpoint(folder: Path, model: str) -> str:
    from rgbt_seg_core.models import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    path = str(folder / "bench.safetensors")
    torch.manual_seed(0)
    save_checkpoint(path, build_model(model).eval().reparameterize())
    return path


def _time_rounds(variants: list[Variant], frames: list[tuple[np.ndarray, np.ndarray]], rounds: int, warmup: int
                 ) -> dict[str, list[np.ndarray]]:
    """One frame through each variant per round (timed after ``warmup`` rounds); returns each variant's labels of
    the first timed rounds, one per frame."""
    labels: dict[str, list[np.ndarray]] = {v.name: [] for v in variants}
    for r in range(warmup + rounds):
        rgb, thermal = frames[r % len(frames)]
        for v in variants:
            assert v.engine is not None
            t0 = time.perf_counter()
            lab = v.engine.predict(rgb, thermal).labels
            dt = time.perf_counter() - t0
            if r >= warmup:
                v.times.append(dt)
                if len(labels[v.name]) < len(frames):
                    labels[v.name].append(lab)
    return labels


def _add_miou(rows: list[dict[str, Any]], variants: list[Variant], ds: Any) -> None:
    """Each row's test-split mIoU (%) and its change from the baseline's, in points."""
    from rgbt_seg_core.evaluation.evaluator import evaluate

    mious = {v.name: evaluate(v.engine, ds).scores().miou for v in variants if v.engine is not None}
    base = variants[0].name
    for row in rows:
        row["miou"] = round(100 * mious[row["variant"]], 2)
        row["miou_change_points"] = round(100 * (mious[row["variant"]] - mious[base]), 2)
