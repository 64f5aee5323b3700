"""Metrics agree with brute-force per-pixel counting, absent classes included."""

from __future__ import annotations

import numpy as np
import pytest

from rgbt_seg_core.evaluation.metrics import ConfusionMatrix


def _brute(target: list[np.ndarray], pred: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    acc, iou = np.zeros(n), np.zeros(n)
    t = np.concatenate([x.ravel() for x in target])
    p = np.concatenate([x.ravel() for x in pred])
    for c in range(n):
        tp = fn = fp = 0
        for a, b in zip(t, p):  # deliberately pixel by pixel
            if a == c and b == c:
                tp += 1
            elif a == c:
                fn += 1
            elif b == c:
                fp += 1
        acc[c] = tp / (tp + fn) if tp + fn else 0.0
        iou[c] = tp / (tp + fn + fp) if tp + fn + fp else 0.0
    return acc, iou


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_with_absent_classes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    # class 5 never appears in targets or predictions; class 4 only in predictions
    target = [rng.choice([0, 1, 2, 3], size=(7, 9)) for _ in range(3)]
    pred = [rng.choice([0, 1, 2, 3, 4], size=(7, 9)) for _ in range(3)]
    cm = ConfusionMatrix(n)
    for t, p in zip(target, pred):
        cm.update(t, p)
    s = cm.scores()
    acc, iou = _brute(target, pred, n)
    np.testing.assert_allclose(s.acc, acc)
    np.testing.assert_allclose(s.iou, iou)
    assert s.miou == pytest.approx(iou.sum() / n)  # absent classes count as 0 in the mean
    assert s.macc == pytest.approx(acc.sum() / n)
    assert s.iou[5] == 0.0 and s.iou[4] == 0.0


def test_perfect_prediction_and_ignore_label() -> None:
    t = np.array([[0, 1], [2, 255]])
    cm = ConfusionMatrix(3)
    cm.update(t, np.array([[0, 1], [2, 0]]))
    s = cm.scores(("a", "b", "c"))
    assert s.miou == 1.0 and s.pixels == 3
    assert s.to_dict()["per_class"]["b"]["iou"] == 1.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ"):
        ConfusionMatrix(3).update(np.zeros((2, 2)), np.zeros((2, 3)))


def test_merge_equals_joint_update() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 4, (2, 10, 10)), rng.integers(0, 4, (2, 10, 10))
    joint, m1, m2 = ConfusionMatrix(4), ConfusionMatrix(4), ConfusionMatrix(4)
    joint.update(a, b)
    m1.update(a[0], b[0])
    m2.update(a[1], b[1])
    m1.merge(m2)
    assert (m1.matrix == joint.matrix).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_prediction_of_no_class_is_a_miss_of_the_true_class(seed: int) -> None:
    """Pixels predicted unlabelled (255, below min_confidence) count in their true class's row, in no column: the
    brute force's counting, where such a pixel is a false negative of its class and no class's false positive."""
    rng = np.random.default_rng(seed)
    target = [rng.choice([0, 1, 2, 3], size=(6, 8)) for _ in range(2)]
    pred = [np.where(rng.random((6, 8)) < 0.3, 255, rng.choice([0, 1, 2, 3], size=(6, 8))) for _ in range(2)]
    cm = ConfusionMatrix(4)
    for t, p in zip(target, pred):
        cm.update(t, p)
    acc, iou = _brute(target, pred, 4)
    s = cm.scores()
    np.testing.assert_allclose(s.acc, acc)
    np.testing.assert_allclose(s.iou, iou)
    t, p = np.concatenate([x.ravel() for x in target]), np.concatenate([x.ravel() for x in pred])
    assert cm.unlabelled.tolist() == np.bincount(t[p == 255], minlength=4).tolist() and cm.unlabelled.sum() > 0
    assert s.pixels == t.size and cm.matrix.sum() == int((p != 255).sum())
    cm.update(np.full((2, 2), 255), np.full((2, 2), 255))  # ignored truth: not scored, whatever was predicted
    assert cm.scores().pixels == t.size
    other = ConfusionMatrix(4)
    other.merge(cm)
    assert other.unlabelled.tolist() == cm.unlabelled.tolist()
