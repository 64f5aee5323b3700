"""Labels into pictures: the colour image and the overlay the node publishes and the tools write.

Made where the labels are. On the host with OpenCV's vectorised kernels (``cv2.LUT`` through a 256-entry palette
table, ``cv2.addWeighted`` for the blend): 0.45 and 0.73 ms at 480 x 640 on the project's 2-core machine, where
NumPy's fancy indexing and float blend took 2.3 and 8.8 (docs/benchmarks.md, "ROS node overhead"). On the GPU
with the same arithmetic in torch (:func:`colorize_tensor`, :func:`overlay_tensor`), when inference runs there, so
that only finished images come back.

The rule both follow: colour is the palette entry of each class id (ids beyond the palette are black); the overlay
is ``(1 - alpha) * image + alpha * colour`` rounded, where the class is not 0, and the image itself where it is 0
(background left unblended, so the scene stays readable). The host blend rounds half to even, the torch one half
up; they differ by at most one grey level, where the exact value ends in .5. A pixel below ``min_confidence`` has
the unlabelled id 255, past every palette (at most 255 classes run with it), so it is black in the colour image and
darkened in the overlay: where the model is unsure shows.

The labels' confidence (``~/label_confidence``) is encoded where it is made too (:func:`encode_confidence`), so that
its mono8 form comes back from a GPU as one byte a pixel.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch

from rgbt_seg_core.settings.vocab import CONFIDENCE_ENCODINGS

__all__ = ["palette_lut", "colorize", "overlay", "grey_to_rgb", "colorize_tensor", "overlay_tensor", "check_alpha",
           "encode_confidence", "Renders"]

Palette = Sequence[Sequence[int]]


def palette_lut(palette: Palette | np.ndarray) -> np.ndarray:
    """The 256 x 3 uint8 table of a palette: entry i is class i's colour, black past the palette's end."""
    lut = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette)
    if pal.size == 0:  # no colours: everything black
        return lut
    if pal.ndim != 2 or pal.shape[1] != 3 or not np.issubdtype(pal.dtype, np.integer) or pal.min() < 0 \
            or pal.max() > 255:
        raise ValueError(f"a palette is a list of [r, g, b] colours of 0..255, got shape {pal.shape} "
                         f"({pal.dtype})")
    lut[: min(len(pal), 256)] = pal[:256]
    return lut


def _as_lut(palette: Palette | np.ndarray) -> np.ndarray:
    if isinstance(palette, np.ndarray) and palette.shape == (256, 3) and palette.dtype == np.uint8:
        return palette
    return palette_lut(palette)


def _labels_u8(label: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(label if label.dtype == np.uint8 else label.astype(np.uint8))


def colorize(label: np.ndarray, palette: Palette | np.ndarray) -> np.ndarray:
    """Class ids H x W -> RGB H x W x 3 uint8 (``palette``: a list of colours or :func:`palette_lut`'s table)."""
    lab = _labels_u8(label)
    return cv2.LUT(cv2.cvtColor(lab, cv2.COLOR_GRAY2RGB), _as_lut(palette).reshape(256, 1, 3))


def check_alpha(alpha: float) -> float:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must lie in [0, 1], got {alpha}")
    return float(alpha)


def overlay(rgb: np.ndarray, label: np.ndarray, palette: Palette | np.ndarray, alpha: float = 0.5,
            color: np.ndarray | None = None) -> np.ndarray:
    """Blend the colourised labels over the RGB image (the rule in the module docstring); ``color``: the colour
    image of ``label`` when the caller has it already."""
    alpha = check_alpha(alpha)
    lab = _labels_u8(label)
    base = np.ascontiguousarray(rgb, np.uint8)
    col = colorize(lab, palette) if color is None else color
    out = cv2.addWeighted(base, 1.0 - alpha, col, alpha, 0.0)
    cv2.copyTo(base, (lab == 0).view(np.uint8), out)  # background keeps the image
    return out


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """H x W uint8 -> H x W x 3, the same value in each channel."""
    return cv2.cvtColor(np.ascontiguousarray(grey, np.uint8), cv2.COLOR_GRAY2RGB)


def colorize_tensor(labels: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """H x W uint8 class ids -> H x W x 3 uint8, on the labels' device (``lut``: :func:`palette_lut` there)."""
    return lut[labels.long()]


def overlay_tensor(base: torch.Tensor, labels: torch.Tensor, color: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`overlay` in torch: ``base`` H x W x 3 uint8, ``color`` :func:`colorize_tensor`'s image of ``labels``."""
    alpha = check_alpha(alpha)
    blend = (base.float() * (1.0 - alpha) + color.float() * alpha + 0.5).clamp_(0, 255).to(torch.uint8)
    return torch.where((labels != 0).unsqueeze(-1), blend, base)


def encode_confidence(confidence: torch.Tensor, encoding: str) -> torch.Tensor:
    """The labels' confidence (float32 probabilities, on any device) in an image encoding of
    :data:`~rgbt_seg_core.settings.vocab.CONFIDENCE_ENCODINGS`: ``32FC1`` as it is, ``mono8`` as round(255 p)
    (half to even, as Python's and NumPy's round)."""
    if encoding == "32FC1":
        return confidence
    if encoding == "mono8":
        return (confidence * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"confidence_encoding {encoding!r}: expected one of {', '.join(CONFIDENCE_ENCODINGS)}")


class Renders(NamedTuple):
    """Which pictures to make with the labels (:meth:`InferenceEngine.predict`'s ``render``); ``confidence``: the
    labels' confidence in this encoding (``32FC1`` or ``mono8``), empty for none."""

    color: bool = False
    overlay: bool = False
    alpha: float = 0.5
    confidence: str = ""
