"""The two recipes: the paper's (defaults) and the authors' published code's (mfnet_authors preset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_seg_core import build_model
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.data.training import augment
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.rsfnet.model import TrainOutput
from rgbt_seg_core.training.config import TrainConfig, resolve_train_config
from rgbt_seg_core.training.losses import RSFLoss
from rgbt_seg_core.training.trainer import Trainer, _param_groups


def _output(conf: torch.Tensor) -> TrainOutput:
    logits = torch.zeros(conf.shape[0], 3, 4, 4)
    return TrainOutput(logits, logits, logits, conf)


def test_confidence_target_gate_regresses_the_normalised_gates() -> None:
    conf = torch.tensor([[0.8, 0.2], [0.3, 0.6]])
    pseudo = torch.tensor([[0.7, 0.1], [0.2, 0.9]])
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    _, paper = RSFLoss(reg_weight=1.0)(_output(conf), target, pseudo)
    _, authors = RSFLoss(reg_weight=1.0, confidence_target="gate")(_output(conf), target, pseudo)
    g = conf[:, 0] / (conf[:, 0] + conf[:, 1] + 1e-6)
    expect = (F.smooth_l1_loss(g, pseudo[:, 0], reduction="sum") +
              F.smooth_l1_loss(1 - g, pseudo[:, 1], reduction="sum")) / 2
    assert authors["reg"] == pytest.approx(float(expect), rel=1e-6)
    assert paper["reg"] == pytest.approx(float(F.smooth_l1_loss(conf, pseudo, reduction="sum") / 2), rel=1e-6)
    with pytest.raises(ValueError, match="confidence_target"):
        RSFLoss(confidence_target="both")


def test_encoder_lr_mult_splits_the_parameters() -> None:
    model = build_model("rsfnet50_18", fusion_channels=[16, 16, 32, 32], reduced_dim=16)
    assert len(_param_groups(model, 1.0)) == 1
    new, enc = _param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert enc["lr_mult"] == 0.1 and all(names[id(p)].split(".")[0] in ("rgb_encoder", "thermal_encoder")
                                         for p in enc["params"])
    assert not any(names[id(p)].startswith(("rgb_encoder.", "thermal_encoder.")) for p in new["params"])
    assert len(enc["params"]) + len(new["params"]) == len(list(model.parameters()))


def test_blur_is_drawn_only_when_enabled() -> None:
    rng_img = np.random.default_rng(0)
    rgb = rng_img.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    thermal = rng_img.integers(0, 256, (40, 40), dtype=np.uint8)
    label = np.zeros((40, 40), np.uint8)
    plain = augment(rgb, thermal, label, np.random.default_rng(1), crop=None, max_rotation=0)
    same = augment(rgb, thermal, label, np.random.default_rng(1), crop=None, max_rotation=0, blur_prob=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain, same))  # the paper's recipe is unchanged
    blurred = augment(rgb, thermal, label, np.random.default_rng(1), crop=None, max_rotation=0, blur_prob=1.0)
    assert not np.array_equal(blurred[0], plain[0]) and blurred[0].std() < plain[0].std()


def test_presets_and_dotted_options() -> None:
    paper = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d")
    assert paper.epochs == 300 and paper.confidence_target == "confidence" and paper.encoder_lr_mult == 1.0
    assert paper.pseudo_labels == {"restrict_to_boxes": False} and paper.max_rotation == 10 and paper.blur_prob == 0
    authors = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", preset="mfnet_authors")
    assert authors.epochs == 200 and authors.confidence_target == "gate" and authors.encoder_lr_mult == 0.1
    assert authors.pseudo_labels == {"restrict_to_boxes": True} and authors.max_rotation == 0
    assert authors.blur_prob > 0 and authors.batch_size == 8
    with pytest.raises(ValueError, match="for the mfnet data set"):
        resolve_train_config(dataset="pst900", model="rsfnet50_18", data_root="/d", preset="mfnet_authors")
    with pytest.raises(FileNotFoundError, match="presets: kust4k, mfnet, mfnet_authors"):
        resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", preset="nope")
    cfg = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d",
                               sets=["pseudo_labels.restrict_to_boxes=true", "confidence_target=gate"])
    assert cfg.pseudo_labels["restrict_to_boxes"] and cfg.confidence_target == "gate"
    for bad in (["pseudo_labels.boxes=true"], ["confidence_target=p"], ["encoder_lr_mult=0"], ["blur_prob=2"]):
        with pytest.raises(ValueError):
            resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", sets=bad)


@pytest.mark.slow
def test_authors_recipe_resumes_exactly(tmp_path: Path) -> None:
    """Two parameter groups: the momentum buffers of both survive a stop and resume."""
    root = tmp_path / "data"
    write_synthetic_dataset(root, 12, SynthConfig(height=64, width=64, seed=0))  # 6 training frames: 3 steps

    def cfg(out: str, **kw) -> TrainConfig:
        return TrainConfig(dataset="synthetic", data_root=str(root), model="rsfnet50_18", out=str(tmp_path / out),
                           epochs=2, batch_size=2, crop=[48, 48], num_workers=0, device="cpu", deterministic=True,
                           tensorboard=False, progress=False, cache_dir=str(tmp_path / "cache"), val_split=None,
                           confidence_target="gate", encoder_lr_mult=0.1, blur_prob=0.5, max_rotation=0.0,
                           pseudo_labels={"restrict_to_boxes": True},
                           model_options={"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16}, **kw)

    Trainer(cfg("full")).run()
    Trainer(cfg("part", stop_after_iters=4)).run()
    Trainer(cfg("part")).run(resume=True)
    a = load_checkpoint(tmp_path / "full" / "last.safetensors")
    b = load_checkpoint(tmp_path / "part" / "last.safetensors")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.extra.keys() == b.extra.keys() and all(torch.equal(a.extra[k], b.extra[k]) for k in a.extra)
