"""Losses (RSFNet §III-F): class weights, the combined RSF loss and its handling of absent modalities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_seg_core.models.rsfnet.model import TrainOutput
from rgbt_seg_core.training.losses import RSFLoss, class_frequencies, class_weights


def test_class_frequencies_and_weights() -> None:
    labels = [np.array([[0, 0, 1], [2, 2, 2]]), np.array([[0, 1]])]
    freq = class_frequencies(labels, 4)
    assert freq.tolist() == pytest.approx([3 / 8, 2 / 8, 3 / 8, 0.0])
    w = class_weights(freq)
    assert w[3] == pytest.approx(1 / math.log(1.05))
    assert w[0] == pytest.approx(1 / math.log(1.05 + 3 / 8))
    with pytest.raises(ValueError, match="out of range"):
        class_frequencies([np.array([5])], 4)


def _output(b: int = 2, c: int = 3, conf: torch.Tensor | None = None) -> TrainOutput:
    g = torch.Generator().manual_seed(0)
    mk = lambda: torch.randn(b, c, 4, 5, generator=g)  # noqa: E731
    return TrainOutput(mk(), mk(), mk(), conf)


def test_total_is_the_sum_of_its_parts() -> None:
    conf = torch.tensor([[0.2, 0.9], [0.5, 0.5]])
    pseudo = torch.tensor([[0.4, 0.1], [0.5, 0.0]])
    out = _output(conf=conf)
    target = torch.randint(0, 3, (2, 4, 5), generator=torch.Generator().manual_seed(1))
    w = torch.tensor([1.0, 2.0, 3.0])
    total, parts = RSFLoss(w)(out, target, pseudo)
    ce = lambda x: F.cross_entropy(x, target, weight=w)  # noqa: E731
    reg = F.smooth_l1_loss(conf, pseudo, reduction="sum") / 2
    assert float(total) == pytest.approx(float(ce(out.logits) + ce(out.aux8) + ce(out.aux16) + 0.3 * reg), rel=1e-6)
    assert parts["reg"] == pytest.approx(float(reg))


def test_absent_modality_is_ignored() -> None:
    conf = torch.tensor([[0.2, float("nan")]])
    target = torch.zeros(1, 4, 5, dtype=torch.long)
    total, parts = RSFLoss()(_output(b=1, conf=conf), target, torch.tensor([[0.7, 0.3]]))
    assert torch.isfinite(total)
    assert parts["reg"] == pytest.approx(0.5 * 0.5**2)


def test_confidences_without_pseudo_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="pseudo-labels are required"):
        RSFLoss()(_output(conf=torch.zeros(2, 2)), torch.zeros(2, 4, 5, dtype=torch.long))


def test_each_family_gets_its_loss_and_an_unknown_family_is_an_error() -> None:
    from rgbt_seg_core.models.registry import FAMILIES
    from rgbt_seg_core.training.config import TrainConfig
    from rgbt_seg_core.training.losses import LOSS_BUILDERS, CIMLoss, build_loss

    cfg = TrainConfig(dataset="synthetic", model="rsfnet50_18", reg_weight=0.7, aux_weight=0.4,
                      confidence_target="gate")
    w = torch.tensor([1.0, 2.0, 3.0])
    assert set(LOSS_BUILDERS) == set(FAMILIES)  # a new family needs a loss before it can train
    rsf = build_loss("rsfnet", w, cfg, ignore_index=255)
    assert isinstance(rsf, RSFLoss)
    assert (rsf.reg_weight, rsf.aux_weight, rsf.confidence_target, rsf.ignore_index) == (0.7, 0.4, "gate", 255)
    assert torch.equal(rsf.weights, w)
    cim = build_loss("cimnet", w, cfg, ignore_index=255)
    assert isinstance(cim, CIMLoss) and cim.ignore_index == 255 and torch.equal(cim.weights, w)
    with pytest.raises(ValueError, match="no loss for model family 'segformer'.*cimnet, rsfnet"):
        build_loss("segformer", w, cfg)


def test_the_trainer_picks_the_loss_from_the_models_family() -> None:
    """Every registered model's class states its family, and that family has a loss."""
    from rgbt_seg_core.models import list_models, model_family
    from rgbt_seg_core.training.losses import LOSS_BUILDERS

    for name in list_models():
        assert model_family(name) in LOSS_BUILDERS, name


def test_the_gate_target_matches_the_fusions_normalised_gate() -> None:
    """With confidence_target=gate the loss regresses RSFNet's normalised gate, computed from the output alone."""
    from rgbt_seg_core.models.layers.gates import gate_weights

    conf = torch.tensor([[0.2, 0.9], [0.5, 0.5], [1e-3, 0.0]])
    pseudo = torch.tensor([[0.4, 0.6], [0.5, 0.5], [1.0, 0.0]])
    target = torch.zeros(3, 4, 5, dtype=torch.long)
    _, parts = RSFLoss(reg_weight=1.0, confidence_target="gate")(_output(b=3, conf=conf), target, pseudo)
    g = gate_weights(conf[:, 0], conf[:, 1], "normalized")[0]
    ref = F.smooth_l1_loss(torch.stack([g, 1 - g], dim=1), pseudo, reduction="sum") / 3
    assert parts["reg"] == float(ref)
