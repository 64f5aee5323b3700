"""RSFNet's fusion gates from the two confidences (RSFNet §III-C, Eq. 8), in one place: the fusion applies them and
the loss regresses them (``confidence_target="gate"``), so both must use the same formula and eps."""

from __future__ import annotations

import torch

__all__ = ["GATE_EPS", "GATE_MODES", "gate_weights"]

GATE_EPS = 1e-6  # the authors' code
GATE_MODES = ("normalized", "raw")


def gate_weights(p_rgb: torch.Tensor, p_thm: torch.Tensor, mode: str,
                 eps: float = GATE_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample fusion gates from the two confidences.

    ``normalized`` (default, as the authors' code): g_rgb = p_rgb / (p_rgb + p_thm + eps), g_thm = 1 - g_rgb.
    ``raw`` (as the paper's equation): g_m = p_m.
    """
    if mode == "normalized":
        g_rgb = p_rgb / (p_rgb + p_thm + eps)
        return g_rgb, 1.0 - g_rgb
    if mode == "raw":
        return p_rgb, p_thm
    raise ValueError(f"gate mode must be 'normalized' or 'raw', got {mode!r}")
