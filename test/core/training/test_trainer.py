"""Training: exact resume after an interruption mid-epoch, schedule, configuration layering."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.training.config import TrainConfig, resolve_train_config
from rgbt_seg_core.training.schedule import poly_lr
from rgbt_seg_core.training.trainer import Trainer


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, 12, SynthConfig(height=64, width=64, seed=0))  # 6 training frames
    return root


def _cfg(root: Path, out: Path, cache: Path, **kw) -> TrainConfig:
    base = dict(dataset="synthetic", data_root=str(root), model="rsfnet50_18", out=str(out), epochs=2,
                batch_size=2, crop=[48, 48], lr=0.01, num_workers=0, device="cpu", deterministic=True,
                tensorboard=False, progress=False, cache_dir=str(cache), val_every=1,
                model_options={"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16})
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(synth_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    full = Trainer(_cfg(synth_root, tmp_path / "full", cache)).run()
    assert full.iterations == 6 and not full.stopped_early  # 6 train images / batch 2 x 2 epochs
    part = Trainer(_cfg(synth_root, tmp_path / "part", cache, stop_after_iters=4)).run()
    assert part.stopped_early and part.iterations == 4  # inside the second epoch
    resumed = Trainer(_cfg(synth_root, tmp_path / "part", cache)).run(resume=True)
    assert resumed.iterations == 6
    a = load_file(str(tmp_path / "full" / "last.safetensors"))
    b = load_file(str(tmp_path / "part" / "last.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert (tmp_path / "full" / "best.safetensors").is_file()


@pytest.mark.slow
def test_adamw_step_warmup_cimnet_resumes_exactly(synth_root: Path, tmp_path: Path) -> None:
    """The Kust4K recipe's optimiser and schedule (CIMNet §V-A) on a CIMNet: AdamW's moments and step count go
    into last.safetensors, so a resumed run equals an uninterrupted one; and the lr followed warm-up then steps."""
    kw = dict(model="cimnet_r18", model_options={"embed_dim": 32}, optimizer="adamw", lr=1e-3, weight_decay=0.05,
              schedule="step", lr_steps=[1], warmup_iters=3, val_split=None)
    cache = tmp_path / "cache"
    full = Trainer(_cfg(synth_root, tmp_path / "full", cache, **kw)).run()
    part = Trainer(_cfg(synth_root, tmp_path / "part", cache, stop_after_iters=4, **kw)).run()
    assert part.stopped_early and part.iterations == 4
    saved = load_file(str(tmp_path / "part" / "last.safetensors"))
    assert any(k.startswith("extra.optim.exp_avg_sq.") for k in saved) and "extra.optim.step.0" in saved
    with pytest.raises(Exception, match="trained with optimizer adamw, this run asks for sgd"):
        Trainer(_cfg(synth_root, tmp_path / "part", cache, **{**kw, "optimizer": "sgd"})).run(resume=True)
    resumed = Trainer(_cfg(synth_root, tmp_path / "part", cache, **kw)).run(resume=True)
    assert full.iterations == resumed.iterations == 6
    a = load_file(str(tmp_path / "full" / "last.safetensors"))
    b = load_file(str(tmp_path / "part" / "last.safetensors"))
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert a.keys() == b.keys() and not different, different[:3]


def test_step_schedule_with_warmup() -> None:
    from rgbt_seg_core.training.schedule import learning_rate

    def lr(i: int) -> float:
        return learning_rate(base=1e-4, iteration=i, total=1300, batches_per_epoch=100, schedule="step",
                             steps=[8, 11], gamma=0.1, warmup=500)

    assert lr(0) == pytest.approx(1e-4 / 500) and lr(249) == pytest.approx(0.5e-4) and lr(499) == pytest.approx(1e-4)
    assert lr(799) == pytest.approx(1e-4) and lr(800) == pytest.approx(1e-5)  # after 8 full epochs
    assert lr(1099) == pytest.approx(1e-5) and lr(1100) == pytest.approx(1e-6)
    cfg = resolve_train_config(dataset="kust4k", model="cimnet_r101", data_root="/d")
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.warmup_iters, cfg.lr_steps, cfg.lr_gamma, cfg.batch_size) \
        == ("adamw", 1e-4, 0.05, 500, [8, 11], 0.1, 4)
    for bad in ("optimizer=adam", "schedule=cosine", "lr_steps=[0]", "lr_gamma=2", "warmup_iters=-1", "betas=[1, 2]"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            resolve_train_config(dataset="kust4k", model="cimnet_r101", data_root="/d", sets=[bad])


def test_existing_run_needs_resume(synth_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(synth_root, tmp_path / "r", tmp_path / "c", max_iters=1, val_split=None)
    Trainer(cfg).run()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg).run()


def test_resume_without_checkpoint_is_an_error(synth_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no .*last.safetensors"):
        Trainer(_cfg(synth_root, tmp_path / "none", tmp_path / "c")).run(resume=True)


def test_poly_lr() -> None:
    assert poly_lr(0.01, 0, 100, 0.9) == 0.01
    assert poly_lr(0.01, 50, 100, 0.9) == pytest.approx(0.01 * 0.5**0.9)
    assert poly_lr(0.01, 100, 100, 0.9) == 0.0


def test_config_layers_and_errors(tmp_path: Path) -> None:
    cfg = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/data")
    assert cfg.epochs == 300 and cfg.batch_size == 8 and cfg.crop == [256, 512]  # Table I, by_model
    cfg = resolve_train_config(dataset="mfnet", model="rsfnet101_34", data_root="/data")
    assert cfg.batch_size == 4
    cfg = resolve_train_config(dataset="pst900", model="rsfnet50_18", data_root="/d")
    assert cfg.epochs == 100 and cfg.batch_size == 4 and cfg.crop == [360, 640]
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 7\nmodel_options: {kernel_size: 3}\n")
    cfg = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", config_file=str(f),
                               sets=["lr=0.02", "model_options.reduced_dim=32"], epochs=9)
    assert cfg.epochs == 9 and cfg.lr == 0.02 and cfg.model_options == {"kernel_size": 3, "reduced_dim": 32}
    f.write_text("epochz: 7\n")
    with pytest.raises(ValueError, match="unknown training option 'epochz'"):
        resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", config_file=str(f))
    with pytest.raises(ValueError, match="batch_size"):
        resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", sets=["batch_size=0"])
    with pytest.raises(ValueError, match="key=value"):
        resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root="/d", sets=["lr"])
