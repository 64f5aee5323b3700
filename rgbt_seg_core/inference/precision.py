"""Which number format inference runs in, chosen from what the hardware does natively.

``auto`` is float16 on CUDA, bfloat16 on CPUs with native bfloat16 arithmetic (AMX or AVX512_BF16, read from the
CPU's flags, never guessed from a model name), float32 otherwise. Reduced precision runs under autocast (the one
mechanism for every tool): convolutions and matrix products in the reduced type, reductions and the rest in
float32, weights kept in float32.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

__all__ = ["PRECISIONS", "cpu_flags", "cpu_has_native_bf16", "resolve_precision", "autocast", "precision_name"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def resolve_precision(precision: str, device: torch.device, flags: frozenset[str] | None = None) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``; a ValueError names what the device cannot do."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16(flags) else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision fp16 runs on CUDA only; on a CPU use bf16 (fast with AMX or AVX512_BF16) or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("precision bf16: this GPU has no bfloat16 support; use fp16 or fp32")
    return DTYPES[precision]


def precision_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}[dtype]


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    if dtype == torch.float32:
        return contextlib.nullcontext()
    # No weight-cast cache: it only lives for one context anyway, and CUDA graph capture requires it off.
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False)
