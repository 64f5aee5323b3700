"""``rgbt-seg bench outputs``: what each of the node's outputs costs a network, raw against image_transport's
compressed form (issue 28), and what encoding the compressed form costs the node's worker.

The bytes depend on what the pictures hold: camera noise and a random model's speckled labels compress badly, a
street scene and its segmentation well. So the frames are the synthetic street scenes (day and night,
:mod:`rgbt_seg_core.data.synthetic`) with their true labels, what a model that is right would publish: the colour
image and the overlay are drawn from them by the engine's own functions (:mod:`rgbt_seg_core.inference.render`)
and encoded by the node's (:mod:`rgbt_seg_core.runtime.compressed_outputs`). A raw Image costs its pixels (the
header's few dozen bytes aside). The gate maps' compressed form (16-bit PNG) is not timed here: its size depends on
the model's gates, which these scenes do not have (docs/benchmarks.md measures it on an output bag).
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any, Callable

import numpy as np

from rgbt_seg_core.data.synthetic import SynthConfig, render_frame
from rgbt_seg_core.inference.render import colorize, overlay
from rgbt_seg_core.runtime.compressed_outputs import CompressedOutput, check_jpeg_quality, encode_jpeg, encode_png
from rgbt_seg_core.utils.classes import MFNET_PALETTE

__all__ = ["run_outputs_benchmark", "format_outputs_table"]


def _timed(encode: Callable[[], CompressedOutput]) -> tuple[int, float]:
    start = time.perf_counter()
    size = len(encode().data)
    return size, time.perf_counter() - start


def run_outputs_benchmark(height: int = 480, width: int = 640, frames: int = 20, rate: float = 10.0,
                          quality: int = 80, alpha: float = 0.5, seed: int = 0) -> dict[str, Any]:
    """Mean bytes per frame and bytes per second at ``rate`` of each output, raw and compressed, and the median
    milliseconds the node's worker spends encoding each compressed form, over ``frames`` synthetic scenes."""
    quality = check_jpeg_quality(quality)
    if frames < 1 or rate <= 0:
        raise ValueError(f"bench outputs: --frames must be >= 1 and --rate > 0, got {frames} and {rate}")
    cfg = SynthConfig(height=height, width=width, seed=seed)
    sizes: dict[str, list[int]] = {"labels": [], "color": [], "overlay": []}
    seconds: dict[str, list[float]] = {k: [] for k in sizes}
    for i in range(frames):
        _, rgb, _, labels = render_frame(cfg, i)
        color = colorize(labels, MFNET_PALETTE)
        blended = overlay(rgb, labels, MFNET_PALETTE, alpha, color=color)  # drawn by the engine, not timed here
        pictures = {"labels": lambda: encode_png(labels),
                    "color": lambda: encode_jpeg(color, quality, "color"),
                    "overlay": lambda: encode_jpeg(blended, quality)}
        for name, encode in pictures.items():
            size, took = _timed(encode)
            sizes[name].append(size)
            seconds[name].append(took)
    pixels = height * width
    raw = {"labels": pixels, "color": 3 * pixels, "overlay": 3 * pixels, "gate/rgb": 4 * pixels,
           "gate/thermal": 4 * pixels}
    rows = []
    for name, raw_bytes in raw.items():
        row: dict[str, Any] = {"output": name, "raw_bytes_per_frame": raw_bytes,
                               "raw_bytes_per_s": raw_bytes * rate}
        if name in sizes:
            mean = float(np.mean(sizes[name]))
            row.update(compressed_bytes_per_frame=round(mean), compressed_bytes_per_s=round(mean * rate),
                       ratio=round(raw_bytes / mean, 1),
                       encode_ms_p50=round(1e3 * statistics.median(seconds[name]), 3))
        rows.append(row)
    return {"input": [height, width], "frames": frames, "rate_hz": rate, "jpeg_quality": quality,
            "content": "synthetic street scenes with their true labels", "machine": platform.machine(),
            "outputs": rows}


def format_outputs_table(result: dict[str, Any]) -> str:
    """The result as the Markdown table docs/benchmarks.md holds."""
    h, w = result["input"]
    rate = result["rate_hz"]
    lines = [f"{w}x{h} at {rate:g} Hz, JPEG quality {result['jpeg_quality']}, {result['frames']} frames "
             f"({result['content']})", "",
             "| output | raw per frame | raw at rate | compressed per frame | compressed at rate | ratio "
             "| encode p50 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["outputs"]:
        if "compressed_bytes_per_frame" in r:
            lines.append(f"| `{r['output']}` | {_kb(r['raw_bytes_per_frame'])} | {_mb(r['raw_bytes_per_s'])}/s | "
                         f"{_kb(r['compressed_bytes_per_frame'])} | {_mb(r['compressed_bytes_per_s'])}/s | "
                         f"{r['ratio']:g}x | {r['encode_ms_p50']:.2f} ms |")
        else:
            lines.append(f"| `{r['output']}` | {_kb(r['raw_bytes_per_frame'])} | {_mb(r['raw_bytes_per_s'])}/s | "
                         "(no compressed form) | | | |")
    return "\n".join(lines)


def _kb(n: float) -> str:
    return f"{n / 1e3:.1f} kB"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"
