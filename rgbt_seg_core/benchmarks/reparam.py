"""``rgbt-seg bench reparam``: the training form against the re-parameterised deploy form (RSFNet §III-D).

Both forms run on the same random input, interleaved, so the speed-up is not an artefact of clock drift or a warm
cache favouring the second; their logits are compared too, since a deploy form that is faster but different would
be no re-parameterisation at all.
"""

from __future__ import annotations

import copy
import platform
import statistics
import time
from typing import Any

import torch

from rgbt_seg_core.models import build_model

__all__ = ["time_interleaved", "run_reparam_benchmark"]


def time_interleaved(models: list[torch.nn.Module], inputs: tuple[torch.Tensor, ...], iters: int, warmup: int
                     ) -> list[list[float]]:
    """Time several models round-robin so clock drift and cache effects hit all of them alike."""
    sync = torch.cuda.synchronize if inputs[0].is_cuda else (lambda: None)
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode():
        for _ in range(warmup):
            for m in models:
                m(*inputs)
        sync()
        for i in range(iters):
            order = range(len(models)) if i % 2 == 0 else reversed(range(len(models)))
            for k in order:
                t = time.perf_counter()
                models[k](*inputs)
                sync()
                times[k].append(time.perf_counter() - t)
    return times


def run_reparam_benchmark(model: str, *, height: int = 480, width: int = 640, batch: int = 1, iters: int = 10,
                          warmup: int = 1, device: str = "cpu") -> dict[str, Any]:
    """Median latency of both forms of a random ``model``, their ratio and the largest logit difference."""
    if iters < 1 or warmup < 0 or batch < 1:
        raise ValueError("--iters and --batch must be >= 1 and --warmup >= 0")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(batch, 3, height, width, generator=gen).to(dev)
    thermal = torch.rand(batch, 1, height, width, generator=gen).to(dev)
    torch.manual_seed(0)
    train_form = build_model(model).to(dev).eval()
    deployed = copy.deepcopy(train_form).reparameterize()
    with torch.inference_mode():
        diff = float((deployed(rgb, thermal) - train_form(rgb, thermal)).abs().max())
    train_t, deploy_t = time_interleaved([train_form, deployed], (rgb, thermal), iters, warmup)
    tm, dm = statistics.median(train_t), statistics.median(deploy_t)
    return {
        "model": model,
        "input": [batch, height, width],
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "train_form_ms": round(tm * 1e3, 2),
        "deploy_form_ms": round(dm * 1e3, 2),
        "speedup": round(tm / dm, 3),
        "max_abs_logit_diff": diff,
    }
