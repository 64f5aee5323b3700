"""Which number format inference runs in, chosen from what the hardware does natively.

``auto`` is float16 on CUDA, bfloat16 on CPUs with native bfloat16 arithmetic (AMX or AVX512_BF16, read from the
CPU's flags, never guessed from a model name), float32 otherwise. Reduced precision runs under autocast (the one
mechanism for every tool): convolutions and matrix products in the reduced type, reductions and the rest in
float32, weights kept in float32.

``int8`` is not a torch precision: it names a model file quantised after training (``rgbt-seg export --int8``,
:mod:`rgbt_seg_core.deploy.onnx.quantize`) that a backend whose record takes int8 runs (onnxruntime, openvino,
tensorrt: :mod:`rgbt_seg_core.deploy.registry`), given as the model file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from rgbt_seg_core.deploy.registry import backends_taking, get_backend
from rgbt_seg_core.settings.vocab import PRECISIONS, TORCH_PRECISIONS

__all__ = ["PRECISIONS", "TORCH_PRECISIONS", "int8_backends", "check_int8", "cpu_flags", "cpu_has_native_bf16",
           "resolve_precision", "autocast", "precision_name"]

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


def int8_backends() -> tuple[str, ...]:
    """The backends that run a quantised model file (their records take precision int8)."""
    return backends_taking("int8")


def check_int8(precision: str, backend: str, model_file: str) -> None:
    """Precision int8 runs a quantised file, so it needs a backend that runs one and the file itself: a
    ValueError says which is missing and how to make the file."""
    if precision != "int8":
        return
    takers = int8_backends()
    if backend not in takers:
        raise ValueError(f"precision int8 runs a quantised model file with backend {', '.join(takers)}, "
                         f"not {backend}")
    if not model_file:
        raise ValueError(f"precision int8 needs the quantised model file (model_file / --model-file): make it with "
                         f"`rgbt-seg export --format {get_backend(backend).format} --int8 "
                         "--calibration-data DIR --dataset NAME`")


def resolve_precision(precision: str, device: torch.device, flags: frozenset[str] | None = None) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``; a ValueError names what the device cannot do."""
    if precision == "int8":
        check_int8(precision, "torch", "")
    if precision not in TORCH_PRECISIONS:
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
