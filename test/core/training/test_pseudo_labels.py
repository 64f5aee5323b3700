"""Pseudo-label generation (RSFNet §III-C): Otsu + IoU on constructed maps give known values."""

from __future__ import annotations

import numpy as np
import pytest

from rgbt_seg_core.training.pseudo_labels import (
    foreground_boxes_mask,
    mask_iou,
    otsu_mask,
    pseudo_label,
    pseudo_labels,
    saliency_map,
)


def test_mask_iou_known_values() -> None:
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :5] = True  # 50 px
    b[:, 3:8] = True  # 50 px, overlap 20
    assert mask_iou(a, b) == pytest.approx(20 / 80)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(np.zeros_like(a), np.zeros_like(a)) == 0.0  # empty union -> 0 by definition


def test_otsu_splits_a_bimodal_map_exactly() -> None:
    sal = np.full((20, 30), 20, np.uint8)
    sal[5:15, 10:20] = 200
    mask = otsu_mask(sal)
    assert mask.sum() == 100 and mask[5:15, 10:20].all()
    label = np.zeros((20, 30), np.uint8)
    label[5:15, 10:25] = 3  # 150 px, contains the 100 px mask
    assert mask_iou(mask, label != 0) == pytest.approx(100 / 150)


def test_constant_map_gives_empty_mask() -> None:
    assert not otsu_mask(np.full((8, 8), 77, np.uint8)).any()


def test_salient_object_scores_higher_than_noise() -> None:
    img = np.full((120, 160), 30, np.uint8)
    img[40:80, 60:100] = 220
    label = np.zeros((120, 160), np.uint8)
    label[40:80, 60:100] = 2
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    good = pseudo_label(img, label)
    assert 0.2 < good <= 1.0
    assert pseudo_label(noise, label) < good
    sal = saliency_map(img)
    assert sal.dtype == np.uint8 and sal.shape == img.shape


def test_nearly_flip_invariant_so_caching_is_safe() -> None:
    # OpenCV's fine-grained saliency scans asymmetrically, so a flip moves the IoU by a few thousandths only
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    rgb[20:40, 10:30] = 255
    thermal = np.zeros((60, 80), np.uint8)
    thermal[20:40, 10:30] = 240
    label = np.zeros((60, 80), np.uint8)
    label[20:40, 10:30] = 2
    a = pseudo_labels(rgb, thermal, label)
    b = pseudo_labels(rgb[:, ::-1].copy(), thermal[:, ::-1].copy(), label[:, ::-1].copy())
    assert a == pytest.approx(b, abs=0.02)


def test_empty_foreground_gives_zero() -> None:
    img = np.random.default_rng(2).integers(0, 256, (40, 40), dtype=np.uint8)
    label = np.zeros((40, 40), np.uint8)
    assert pseudo_label(img, label) == 0.0
    assert pseudo_label(img, label, restrict_to_boxes=True) == 0.0


def test_restrict_to_boxes_never_lowers_precision() -> None:
    label = np.zeros((30, 30), np.uint8)
    label[2:6, 2:6] = 1
    label[20:25, 10:28] = 4
    boxes = foreground_boxes_mask(label)
    assert boxes.sum() == 16 + 90
    img = np.zeros((30, 30), np.uint8)
    img[2:6, 2:6] = 255
    img[10:15, 0:30] = 255  # salient but not an object
    assert pseudo_label(img, label, restrict_to_boxes=True) >= pseudo_label(img, label)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="uint8"):
        saliency_map(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="differ in size"):
        pseudo_label(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))
