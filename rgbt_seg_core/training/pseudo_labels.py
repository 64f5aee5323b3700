"""Pseudo-label generation, PLG (RSFNet §III-C): how well each modality's saliency finds the objects.

For each modality: fine-grained static saliency (Montabone & Soto, OpenCV contrib) -> uint8 map -> Otsu
binarisation -> IoU with the ground-truth foreground (label != 0). The IoU is the regression target of that
modality's confidence head. It is a training-only quantity; a data set computes it once per image and caches it.
The cached value is reused for the horizontally flipped copy: OpenCV's fine-grained saliency is not exactly
flip-symmetric, but a flip moves the IoU by well under 0.02 (the tests check this bound).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["saliency_map", "otsu_mask", "mask_iou", "foreground_boxes_mask", "pseudo_label", "pseudo_labels"]


def _require_saliency() -> None:
    if not hasattr(cv2, "saliency"):
        raise ImportError(
            "cv2.saliency is missing: install opencv-contrib-python-headless (not opencv-python) for pseudo-labels"
        )


def saliency_map(image: np.ndarray) -> np.ndarray:
    """Fine-grained static saliency of an 8-bit image (H x W or H x W x 3), as uint8 H x W."""
    _require_saliency()
    if image.dtype != np.uint8:
        raise ValueError(f"saliency_map expects uint8 input, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"saliency_map expects H x W or H x W x 3, got shape {image.shape}")
    # the saliency module comes with opencv-contrib only, and OpenCV's type stubs do not list it
    create = getattr(getattr(cv2, "saliency", None), "StaticSaliencyFineGrained_create", None)
    if create is None:
        raise RuntimeError("saliency_map needs OpenCV's contrib modules: pip install opencv-contrib-python-headless")
    ok, sal = create().computeSaliency(np.ascontiguousarray(image))
    if not ok:
        raise RuntimeError("OpenCV fine-grained saliency failed")
    sal = np.asarray(sal)
    if sal.dtype != np.uint8:
        # some OpenCV builds return float maps in [0, 1] or [0, 255]
        top = float(sal.max()) if sal.size else 0.0
        sal = np.clip(sal * (255.0 if top <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return sal


def otsu_mask(sal: np.ndarray) -> np.ndarray:
    """Otsu binarisation of a uint8 map; a constant map is all background (Otsu has nothing to split)."""
    if sal.dtype != np.uint8:
        raise ValueError(f"otsu_mask expects uint8, got {sal.dtype}")
    if sal.size == 0 or sal.min() == sal.max():
        return np.zeros(sal.shape, dtype=bool)
    _, binary = cv2.threshold(sal, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary > 0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks; 0 when the union is empty."""
    if a.shape != b.shape:
        raise ValueError(f"mask_iou: shapes differ, {a.shape} vs {b.shape}")
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 0.0
    return float(np.logical_and(a, b).sum() / union)


def foreground_boxes_mask(label: np.ndarray) -> np.ndarray:
    """Union of the bounding boxes of the foreground's connected components (the authors' restriction)."""
    fg = (label != 0).astype(np.uint8)
    out = np.zeros(label.shape, dtype=bool)
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        out[y : y + h, x : x + w] = True
    return out


def pseudo_label(image: np.ndarray, label: np.ndarray, *, restrict_to_boxes: bool = False) -> float:
    """IoU between the Otsu-binarised saliency of ``image`` and the foreground of ``label``."""
    if image.shape[:2] != label.shape[:2]:
        raise ValueError(f"pseudo_label: image {image.shape[:2]} and label {label.shape[:2]} differ in size")
    mask = otsu_mask(saliency_map(image))
    if restrict_to_boxes:
        mask &= foreground_boxes_mask(label)
    return mask_iou(mask, label != 0)


def pseudo_labels(
    rgb: np.ndarray, thermal: np.ndarray, label: np.ndarray, *, restrict_to_boxes: bool = False
) -> tuple[float, float]:
    """``(p_rgb, p_thermal)`` for one training pair (8-bit images)."""
    return (
        pseudo_label(rgb, label, restrict_to_boxes=restrict_to_boxes),
        pseudo_label(thermal, label, restrict_to_boxes=restrict_to_boxes),
    )
