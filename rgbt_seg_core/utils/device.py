"""The torch device a name means: ``auto`` takes CUDA when present; an explicit CUDA request without CUDA is a
clear error rather than a silent CPU fallback (a robot configured for its GPU should say so when it has none)."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev
