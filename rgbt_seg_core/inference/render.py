"""Labels into pictures: the colour image and the overlay the node publishes and the tools write."""

from __future__ import annotations

import numpy as np

__all__ = ["colorize", "overlay"]


def colorize(label: np.ndarray, palette: list[list[int]] | tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Class ids H x W -> RGB H x W x 3 uint8; ids beyond the palette are black."""
    lut = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette, np.uint8)[:256]
    lut[: len(pal)] = pal
    return lut[label.astype(np.uint8)]


def overlay(rgb: np.ndarray, label: np.ndarray, palette, alpha: float = 0.5) -> np.ndarray:
    """Blend the colourised labels over the RGB image (class 0 left unblended, so the scene stays readable)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must lie in [0, 1], got {alpha}")
    col = colorize(label, palette).astype(np.float32)
    out = rgb.astype(np.float32)
    fg = (label != 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * out + alpha * col, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
