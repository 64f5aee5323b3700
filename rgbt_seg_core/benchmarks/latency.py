"""``rgbt-seg bench latency``: every backend and precision this machine has, side by side on the same frames.

Variants run interleaved (one frame through each, round after round), so all see the same machine state; each
is timed from raw camera arrays to labels through :meth:`InferenceEngine.predict` (preprocessing included, as the
node runs it). Reported per variant: median and p95 latency, the ratio to fp32 eager torch (the baseline), the
share of labels equal to the baseline's (on the timing frames, or with ``--data-root`` on the first test frames of
that synthetic set) and, with ``--data-root``, the test split's mIoU against the baseline's.

INT8 rows (ONNX Runtime and OpenVINO running one QDQ file, :mod:`rgbt_seg_core.deploy.onnx.quantize`) are made
from the checkpoint on the spot: calibrated on ``--data-root``'s train split when given, else on the timing frames
(random pixels: right for timing, not for accuracy). The result says which.
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

from rgbt_seg_core.deploy.registry import backend_names, get_backend, list_backends
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.precision import cpu_flags, cpu_has_native_bf16

__all__ = ["available_variants", "run_latency_benchmark", "random_checkpoint"]


@dataclass
class Variant:
    name: str
    config: InferenceConfig
    engine: InferenceEngine | None = None
    times: list[float] = field(default_factory=list)


def available_variants(device: str, backends: list[str], int8_file: str = "") -> list[tuple[str, InferenceConfig]]:
    """(name, config) for every backend x precision this machine can run; the first is the fp32 baseline.
    ``int8_file``: a quantised ONNX file of the checkpoint (quantised for CPUs), which adds an INT8 row on the CPU
    for each installed backend that runs such a file. What each backend is timed in, and where, is its record's
    (:mod:`rgbt_seg_core.deploy.registry`)."""
    native_bf16 = cpu_has_native_bf16()
    out: list[tuple[str, InferenceConfig]] = []
    for backend in list_backends():
        if backend.name not in backends or not backend.installed() or backend.timed is None:
            continue
        for precision, where in backend.timed(device, native_bf16):
            out.append((f"{backend.name} {precision}", InferenceConfig(device=where, backend=backend.name,
                                                                        precision=precision, warmup=0)))
        if int8_file and backend.int8_target == "cpu":
            out.append((f"{backend.name} int8", InferenceConfig(device="cpu", backend=backend.name, precision="int8",
                                                                model_file=int8_file, warmup=0)))
    if not out or out[0][0] != "torch fp32":
        out.insert(0, ("torch fp32", InferenceConfig(device=device, precision="fp32", warmup=0)))
    return out


def _runs_cpu_int8(backends: Sequence[str]) -> bool:
    """Whether a backend asked for runs the CPU INT8 file, which ONNX Runtime's quantiser makes."""
    quantiser = get_backend("onnxruntime")  # deploy.onnx.quantize is ONNX Runtime's static quantisation
    return quantiser.installed() and any(b.name in backends and b.int8_target == "cpu" and b.installed()
                                         for b in list_backends())


def _frames(height: int, width: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
             rng.integers(0, 256, (height, width), dtype=np.uint8)) for _ in range(n)]


def run_latency_benchmark(checkpoint: str | None, *, height: int = 480, width: int = 640, device: str = "cpu",
                          backends: Sequence[str] | None = None,
                          rounds: int = 10, warmup: int = 2, data_root: str | None = None,
                          model: str = "rsfnet50_18", int8: bool = True) -> dict[str, Any]:
    """The comparison of the module docstring, on ``checkpoint`` (a random ``model`` in deploy form if None), for
    ``backends`` (default: every registered one)."""
    backends = backend_names() if backends is None else tuple(backends)
    tmp = tempfile.TemporaryDirectory()
    if checkpoint is None:
        checkpoint = random_checkpoint(Path(tmp.name), model)
        random_model = True
    else:
        random_model = False
    try:
        frames = _frames(height, width, max(1, min(rounds, 4)))  # timing: frames of the size asked for
        int8_file, calibration = "", ""
        if int8 and _runs_cpu_int8(backends):
            int8_file, calibration = _int8_file(checkpoint, Path(tmp.name), data_root, frames)
        variants = [Variant(n, c, InferenceEngine(checkpoint, c))
                    for n, c in available_variants(device, list(backends), int8_file)]
        labels = _time_rounds(variants, frames, rounds, warmup)
        base = variants[0]
        base_median = statistics.median(base.times)
        ds = None
        if data_root:  # agreement on real content: the test split's frames (at their own size)
            from rgbt_seg_core.data import build_dataset

            ds = build_dataset("synthetic", data_root, "test")
            samples = [ds[i] for i in range(min(8, len(ds)))]
            engines = {v.name: v.engine for v in variants if v.engine is not None}  # all: each was made above
            labels = {name: [e.predict(s.rgb, s.thermal).labels for s in samples] for name, e in engines.items()}
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
            "checkpoint": f"random {model}" if random_model else checkpoint, "input": [height, width],
            "device": device, "threads": torch.get_num_threads(), "rounds": rounds,
            "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx"))),
            "native_bf16": cpu_has_native_bf16(flags), "int8_calibration": calibration, "rows": rows,
        }
    finally:
        tmp.cleanup()


def _int8_file(checkpoint: str, folder: Path, data_root: str | None,
               frames: list[tuple[np.ndarray, np.ndarray]]) -> tuple[str, str]:
    """The checkpoint's INT8 ONNX file in ``folder``, and where its calibration frames came from."""
    from rgbt_seg_core.deploy.model_files import onnx_for
    from rgbt_seg_core.deploy.onnx.quantize import quantize_onnx
    from rgbt_seg_core.inference.calibration import calibration_feeds
    from rgbt_seg_core.inference.preprocess import prepare_on_device
    from rgbt_seg_core.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    model = loaded.model.eval() if loaded.meta.deploy else loaded.model.eval().reparameterize()
    fp32 = onnx_for(loaded, model)  # the cached fp32 export the onnxruntime and openvino rows run too
    if data_root:
        from rgbt_seg_core.data import build_dataset

        feeds = calibration_feeds(build_dataset("synthetic", data_root, "train"), 32)
        source = f"synthetic:train at {data_root}, {len(feeds)} frames"
    else:
        feeds = []
        for rgb, thermal in frames:
            r, t = prepare_on_device(rgb, thermal)
            feeds.append({"rgb": r.numpy(), "thermal": t.numpy()})
        source = f"the {len(feeds)} random timing frames (timing only: say nothing of accuracy)"
    return str(quantize_onnx(fp32, folder / "int8.onnx", feeds, source=source)), source


def random_checkpoint(folder: Path, model: str = "rsfnet50_18") -> str:
    """A random deploy-form ``model`` in ``folder``, seeded (speed does not depend on the weights)."""
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
