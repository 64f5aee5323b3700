"""``export --verify``: an exported file, run by its own backend, against the torch model in fp32."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rgbt_seg_core.deploy import RunnerOptions, open_runner
from rgbt_seg_core.deploy.registry import NATIVE, backend_for_format
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint
from rgbt_seg_core.utils.device import resolve_device

__all__ = ["verify_backend"]


def verify_backend(src: LoadedCheckpoint, model: nn.Module, fmt: str, path: Path, sizes: list[tuple[int, int]],
                   seed: int = 0) -> tuple[float, float, float]:
    """Largest absolute and relative logit difference between the exported file, run by its backend, and
    ``model`` (the checkpoint's deploy form) in fp32 on random inputs at ``sizes``, and the share of equal labels.
    The file runs in what it was made for (``auto``), except where ``auto`` would pick by the hardware: there fp32,
    the reference's precision (a TensorRT engine runs as built: fp16, fp32 or int8)."""
    backend = backend_for_format(fmt)
    device = resolve_device("cuda" if backend.cuda_only else "cpu")
    run_in = "fp32" if backend.auto == NATIVE else "auto"
    runner = open_runner(src, model, RunnerOptions(backend=backend.name, model_file=str(path), precision=run_in),
                         device)
    model = model.to(device)
    g = torch.Generator().manual_seed(seed)
    worst_abs = worst_rel = 0.0
    agree = []
    with torch.inference_mode():
        for h, w in sizes:
            rgb, thermal = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 1, h, w, generator=g)
            ref = model(rgb.to(device), thermal.to(device)).float().cpu()
            got = runner(rgb.to(runner.device), thermal.to(runner.device)).float().cpu()
            diff = float((got - ref).abs().max())
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / max(1e-12, float(ref.abs().max())))
            agree.append(float((got.argmax(1) == ref.argmax(1)).float().mean()))
    return worst_abs, worst_rel, sum(agree) / len(agree)
