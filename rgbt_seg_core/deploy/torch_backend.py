"""The torch backend: the re-parameterised model itself, run by the engine (autocast, channels-last, CUDA graphs:
:mod:`rgbt_seg_core.inference.engine`), so it has no runner and no model file of its own."""

from __future__ import annotations

import torch

from rgbt_seg_core.deploy.registry import NATIVE, Backend, register_backend

__all__ = ["TORCH"]


def _timed(device: str, native_bf16: bool) -> list[tuple[str, str]]:
    """fp32 (the baseline every other row is compared with), bf16 where the device takes it (emulated on CPUs
    without native bf16, which the comparison shows), fp16 on CUDA."""
    rows = [("fp32", device)]
    cuda = device.startswith("cuda")
    if not cuda or torch.cuda.is_bf16_supported():
        rows.append(("bf16", device))
    if cuda:
        rows.append(("fp16", device))
    return rows


TORCH = register_backend(Backend(
    name="torch", summary="torch (default; fp32, bf16, fp16)", precisions=("fp32", "bf16", "fp16"), auto=NATIVE,
    timed=_timed))
