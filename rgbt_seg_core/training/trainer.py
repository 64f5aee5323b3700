"""The training loop: SGD + poly decay (RSFNet §IV-B) or AdamW + warm-up + step decay (CIMNet §V-A).

Checkpoints in RUN_DIR:
  * ``last.safetensors``: written atomically at every epoch end (and when stopping early); also carries the
    optimizer momentum, RNG states and loop position, so ``--resume`` continues exactly where it stopped.
  * ``best.safetensors``: the model with the best validation mIoU so far (model only).

Exact resume: the batch order of an epoch is a permutation drawn from ``(seed, epoch)`` and each sample's
augmentation from ``(seed, epoch, index)``, so after restoring weights, optimizer, torch RNG (dropout) and the
position inside the epoch, the remaining steps see the same data in the same order as an uninterrupted run.

Multi-GPU and multi-node: launched by ``torchrun``, the trainer initialises the process group from the environment
(with ``dist_timeout``), wraps the model in DistributedDataParallel (SyncBatchNorm on CUDA), shards each epoch's
permutation and the validation split across ranks (``training.distributed``); only rank 0 writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.data.training import IGNORE_INDEX, TrainingSet
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.precision import autocast, precision_name, resolve_precision
from rgbt_seg_core.models import build_model
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import CheckpointError, CheckpointMeta, save_checkpoint
from rgbt_seg_core.models.contract import SegmentationModel
from rgbt_seg_core.training.config import TrainConfig
from rgbt_seg_core.training.distributed import (
    close_process_group,
    dist_info,
    init_process_group,
    peer_loss_reported,
    sync_buffers,
    validate_sharded,
)
from rgbt_seg_core.training.losses import build_loss, class_weights
from rgbt_seg_core.training.schedule import learning_rate
from rgbt_seg_core.training.split_statistics import split_statistics
from rgbt_seg_core.utils.atomic import remove_stale_temporaries

__all__ = ["Trainer", "TrainResult"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    iterations: int
    epochs_done: int
    best_miou: float | None
    last_checkpoint: Path
    best_checkpoint: Path | None
    stopped_early: bool


@dataclass
class _Run:
    """What one run trains with, built once by :meth:`Trainer._setup`."""

    train_ds: RGBTDataset
    val_ds: RGBTDataset | None
    train_set: TrainingSet
    model: SegmentationModel  # the model checkpoints hold
    train_model: nn.Module  # what the steps run: ``model``, or its DistributedDataParallel wrapper
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    meta: dict[str, Any]  # the checkpoints' training metadata
    batches_per_epoch: int
    total_iters: int
    epochs: int


@dataclass
class _Position:
    """Where the loop is (what ``last.safetensors`` records for an exact resume) and the best mIoU so far."""

    epoch: int = 0
    batch: int = 0
    iteration: int = 0
    best: float | None = None
    best_epoch: int | None = None


def _param_groups(model: nn.Module, encoder_lr_mult: float) -> list[dict[str, Any]]:
    """One group at the base lr; with ``encoder_lr_mult`` != 1 the encoders get their own group at lr x mult
    (the authors' code fine-tunes the ImageNet encoders at 0.001 and trains new layers at 0.01)."""
    if encoder_lr_mult == 1.0:
        return [{"params": list(model.parameters()), "lr_mult": 1.0}]
    enc: list[nn.Parameter] = []
    new: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        (enc if name.startswith(("rgb_encoder.", "thermal_encoder.")) else new).append(p)
    return [{"params": new, "lr_mult": 1.0}, {"params": enc, "lr_mult": float(encoder_lr_mult)}]


# optimizer state per parameter, saved as tensors "optim.<key>.<index>" (SGD's buffer kept its first name)
_OPTIM_KEYS = {"momentum": "momentum_buffer", "exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "step": "step"}


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = _param_groups(model, cfg.encoder_lr_mult)
    if cfg.optimizer == "adamw":  # CIMNet §V-A
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _dataset_options(cfg: TrainConfig) -> dict[str, Any]:
    opts = {"thermal": cfg.thermal} if cfg.dataset == "pst900" else {}
    return {**opts, **cfg.dataset_options}


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.dist = dist_info()
        self.world, self.rank, self.local_rank = self.dist.world, self.dist.rank, self.dist.local_rank
        self.is_main = self.rank == 0
        if cfg.device == "auto":
            self.device = torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self._owns_group = self.world > 1 and not dist.is_initialized()  # closed by run() once it ends well
        if self._owns_group:  # the backend follows the device: gloo for a CPU run
            init_process_group(self.device.type, cfg.dist_timeout)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        self.run_dir = Path(cfg.out)
        self.dtype = resolve_precision(cfg.precision, self.device)

    # ------------------------------------------------------------------ setup
    def _datasets(self) -> tuple[RGBTDataset, RGBTDataset | None]:
        cfg = self.cfg
        opts = _dataset_options(cfg)
        train = build_dataset(cfg.dataset, cfg.data_root, cfg.train_split, **opts)
        val = build_dataset(cfg.dataset, cfg.data_root, cfg.val_split, **opts) if cfg.val_split else None
        for ds in (train, val):
            if ds is not None:
                log.info("checking %s", ds.describe())
                ds.validate()  # the whole set, before any time is spent training
        return train, val

    def _engine(self, model: SegmentationModel) -> InferenceEngine:
        """Validation goes through the inference engine (same preprocessing and precision as every tool), on the
        training form as it is."""
        meta = CheckpointMeta(self.cfg.model, {}, list(self.class_names), [list(c) for c in self.palette])
        # channels_last=False: the engine must not change the memory format of the weights training goes on with
        # (that alone makes a resumed run differ from an uninterrupted one under bf16)
        config = InferenceConfig(device=str(self.device), precision=precision_name(self.dtype), channels_last=False)
        return InferenceEngine.from_model(model, meta, config)

    def _build_model(self, num_classes: int) -> SegmentationModel:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, num_classes=num_classes, pretrained=cfg.pretrained, **cfg.model_options)
        return model.to(self.device)

    def _resume_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
        path = self.run_dir / "last.safetensors"
        if not path.is_file():
            shared = " (every node reads it: --out must be on a file system all nodes see)" if self.world > 1 else ""
            raise FileNotFoundError(f"--resume: no {path} to resume from{shared}")
        loaded = load_checkpoint(path)
        state = loaded.meta.training.get("state")
        if not state:
            raise CheckpointError(f"{path}: holds no training state (was it written by `rgbt-seg train`?)")
        if loaded.meta.model != self.cfg.model:
            raise CheckpointError(f"{path}: trained {loaded.meta.model}, but this run asks for {self.cfg.model}")
        model.load_state_dict(loaded.model.state_dict())
        saved_opt = state.get("optimizer", "sgd")  # runs written before AdamW was added used SGD
        if saved_opt != self.cfg.optimizer:
            raise CheckpointError(f"{path}: trained with optimizer {saved_opt}, this run asks for {self.cfg.optimizer}")
        opt_state = optimizer.state_dict()
        for i in (i for g in opt_state["param_groups"] for i in g["params"]):  # indices run across groups
            entry = {name: loaded.extra[f"optim.{key}.{i}"].to(self.device)
                     for key, name in _OPTIM_KEYS.items() if f"optim.{key}.{i}" in loaded.extra}
            if "step" in entry:
                entry["step"] = entry["step"].cpu()  # AdamW keeps its step count on the CPU
            if entry:
                opt_state["state"][i] = entry
        optimizer.load_state_dict(opt_state)
        torch.set_rng_state(loaded.extra["rng.torch"])
        if torch.cuda.is_available() and "rng.cuda" in loaded.extra and self.device.type == "cuda":
            torch.cuda.set_rng_state(loaded.extra["rng.cuda"], self.device)
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        log.info("resuming from %s at epoch %d, batch %d", path, state["epoch"], state["batch"])
        return state

    # ------------------------------------------------------------------ checkpoints
    def _restore_best(self, state: dict[str, Any]) -> None:
        """``best`` must load whenever ``last`` says there is one. If it is missing or unreadable (a copy lost it,
        or an older rgbt-seg wrote last before best) and the best epoch is the one ``last`` holds, re-create it
        from ``last``'s weights; otherwise say so, since those weights are gone."""
        if state.get("best") is None:
            return
        path = self.run_dir / "best.safetensors"
        try:
            load_checkpoint(path)
            return
        except (FileNotFoundError, CheckpointError) as exc:
            problem = str(exc)
        if state.get("best_epoch") is not None and state["best_epoch"] == state["epoch"] and state["batch"] == 0:
            loaded = load_checkpoint(self.run_dir / "last.safetensors")
            training = {k: v for k, v in loaded.meta.training.items() if k != "state"}
            save_checkpoint(path, loaded.model, class_names=loaded.meta.class_names, palette=loaded.meta.palette,
                            training=training)
            log.warning("re-created %s from last.safetensors (%s)", path, problem)
        else:
            log.warning("%s cannot be restored (%s); the next improvement writes it again", path, problem)

    def _save(self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: dict[str, Any],
              meta: dict[str, Any]) -> Path:
        path = self.run_dir / name
        extra: dict[str, torch.Tensor] = {}
        training = dict(meta)
        if optimizer is not None:
            for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"]):
                for key, name in _OPTIM_KEYS.items():
                    buf = optimizer.state.get(p, {}).get(name)
                    if isinstance(buf, torch.Tensor):
                        extra[f"optim.{key}.{i}"] = buf
            state = {**state, "optimizer": self.cfg.optimizer}
            extra["rng.torch"] = torch.get_rng_state()
            if self.device.type == "cuda":
                extra["rng.cuda"] = torch.cuda.get_rng_state(self.device)
            if self.scaler is not None:
                state = {**state, "scaler": self.scaler.state_dict()}
            training["state"] = state
        save_checkpoint(path, model, class_names=list(self.class_names), palette=self.palette, training=training,
                        extra_tensors=extra)
        return path

    # ------------------------------------------------------------------ loop
    def _order(self, epoch: int, n: int) -> list[int]:
        perm = np.random.default_rng([self.cfg.seed, epoch, 7919]).permutation(n)
        if self.world > 1:
            perm = perm[: n - n % self.world][self.rank :: self.world]
        return [int(i) for i in perm]

    def run(self, *, resume: bool = False) -> TrainResult:
        """Train to the end of the schedule (or ``stop_after_iters``), from the start or, with ``resume``, from
        where ``last.safetensors`` says the previous run stopped. Under torchrun a peer that dies or stops
        answering for ``dist_timeout`` seconds ends the run with :class:`PeerLostError`."""
        if self.world <= 1:
            return self._run(resume)
        with peer_loss_reported(self.rank, self.cfg.dist_timeout):
            result = self._run(resume)
            if self._owns_group:
                close_process_group()
        return result

    def _run(self, resume: bool) -> TrainResult:
        self._prepare_run_dir(resume)
        run = self._setup()
        pos = self._resume_position(run) if resume else _Position()
        start_epoch, start_batch = pos.epoch, pos.batch
        self._wrap_distributed(run)
        writer = self._writer()
        if self.is_main:
            (self.run_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        bar = self._bar(run.total_iters, pos.iteration)
        stopped = False
        t0 = time.time()
        for epoch in range(start_epoch, run.epochs):
            first = start_batch if epoch == start_epoch else 0
            batch_no, stopped = self._train_epoch(run, pos, epoch, first, bar, writer)
            if stopped:
                self._save_stop(run, pos, epoch, batch_no)
                break
            self._end_epoch(run, pos, epoch, self._validate(run, pos, epoch, bar, writer))
            if self.world > 1:
                dist.barrier()
            if pos.iteration >= run.total_iters:
                break
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        log.info("trained %d iterations in %.1f s", pos.iteration, time.time() - t0)
        best_path = self.run_dir / "best.safetensors"
        return TrainResult(self.run_dir, pos.iteration, min(run.epochs, pos.iteration // run.batches_per_epoch),
                           pos.best, self.run_dir / "last.safetensors", best_path if best_path.is_file() else None,
                           stopped)

    # ------------------------------------------------------------------ run steps
    def _prepare_run_dir(self, resume: bool) -> None:
        """Rank 0 readies the run folder; under torchrun every rank learns of its refusal at once (instead of
        waiting ``dist_timeout`` for a rank 0 that has gone)."""
        error: OSError | None = None
        if self.is_main:
            try:
                self._clean_run_dir(resume)
            except OSError as exc:  # a run already there, or a folder that cannot be made
                error = exc
        problem = str(error) if error is not None else None
        if self.world > 1:
            shared = [problem]
            dist.broadcast_object_list(shared, src=0)
            problem = shared[0]
        if error is not None:
            raise error
        if problem is not None:
            raise OSError(f"rank 0 stopped the run: {problem}")

    def _clean_run_dir(self, resume: bool) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in ("last.safetensors", "best.safetensors"):  # left by a run killed mid-write
            for stale in remove_stale_temporaries(self.run_dir, name):
                log.info("removed %s, left by an interrupted write", stale)
        if not resume and (self.run_dir / "last.safetensors").exists():
            raise FileExistsError(
                f"{self.run_dir} already holds a run (last.safetensors); pass --resume to continue it or "
                f"choose another --out"
            )

    def _setup(self) -> _Run:
        """Data, statistics, model, loss, optimizer and schedule length, in the order that fixes the RNG stream
        (the model's initialisation seeds it), so a resumed run builds exactly what the first one did."""
        cfg = self.cfg
        train_ds, val_ds = self._datasets()
        self.class_names, self.palette = train_ds.class_names, [list(c) for c in train_ds.palette]
        stats = split_statistics(
            train_ds,
            cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else None,
            restrict_to_boxes=bool(cfg.pseudo_labels.get("restrict_to_boxes", False)),
        )
        weights = class_weights(stats.class_frequencies, cfg.class_weight_c).to(self.device)
        model = self._build_model(train_ds.num_classes)
        criterion = build_loss(model.family, weights, cfg, ignore_index=IGNORE_INDEX)
        optimizer = _optimizer(model, cfg)
        # fp16's narrow range needs loss scaling; bf16 has float32's range and does not
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None
        train_set = TrainingSet(train_ds, crop=(cfg.crop[0], cfg.crop[1]) if cfg.crop else None, pseudo=stats.pseudo,
                                flip=cfg.flip, max_rotation=cfg.max_rotation, blur_prob=cfg.blur_prob, seed=cfg.seed)
        per_rank = len(train_ds) // self.world if self.world > 1 else len(train_ds)
        if per_rank < 1:
            raise ValueError(f"{train_ds.describe()} has fewer images than processes ({self.world})")
        batches_per_epoch = max(1, per_rank // cfg.batch_size)  # drop the ragged tail: BN needs full batches
        total_iters = cfg.epochs * batches_per_epoch
        if cfg.max_iters is not None:
            total_iters = min(total_iters, cfg.max_iters)
        meta = {"dataset": cfg.dataset, "config": cfg.to_dict(), "class_frequencies": stats["class_frequencies"]}
        return _Run(train_ds, val_ds, train_set, model, model, criterion, optimizer, meta, batches_per_epoch,
                    total_iters, math.ceil(total_iters / batches_per_epoch))

    def _resume_position(self, run: _Run) -> _Position:
        state = self._resume_state(run.model, run.optimizer)
        assert state is not None
        if state["total_iters"] != run.total_iters:
            raise ValueError(
                f"--resume: the run was scheduled for {state['total_iters']} iterations, this configuration "
                f"gives {run.total_iters}; resume with the same epochs/max_iters/batch_size"
            )
        if self.is_main:
            self._restore_best(state)
        return _Position(state["epoch"], state["batch"], state["iteration"], state["best"], state.get("best_epoch"))

    def _wrap_distributed(self, run: _Run) -> None:
        if self.world <= 1:
            return
        train_model: nn.Module = run.model
        if self.device.type == "cuda":
            train_model = nn.SyncBatchNorm.convert_sync_batchnorm(train_model)
        run.train_model = nn.parallel.DistributedDataParallel(
            train_model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )

    def _train_epoch(self, run: _Run, pos: _Position, epoch: int, first: int, bar: Any, writer: Any
                     ) -> tuple[int, bool]:
        """The epoch's batches from ``first`` on; returns the next batch's number and whether
        ``stop_after_iters`` stopped it."""
        cfg = self.cfg
        run.train_set.set_epoch(epoch)
        order = self._order(epoch, len(run.train_ds))
        remaining = min(run.batches_per_epoch, first + run.total_iters - pos.iteration)
        batch_ids = [order[b * cfg.batch_size : (b + 1) * cfg.batch_size] for b in range(first, remaining)]
        # a private generator: creating a loader must not consume the global RNG that dropout uses,
        # or a resumed run would diverge from an uninterrupted one
        loader = DataLoader(run.train_set, batch_sampler=batch_ids, num_workers=cfg.num_workers,
                            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(epoch))
        run.train_model.train()
        batch_no = first
        for batch in loader:
            lr, parts = self._step(run, batch, pos.iteration)
            pos.iteration += 1
            batch_no += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{parts['total']:.3f}", lr=f"{lr:.2e}")
            if writer is not None:
                for k, v in parts.items():
                    writer.add_scalar(f"loss/{k}", v, pos.iteration)
                writer.add_scalar("lr", lr, pos.iteration)
            if cfg.stop_after_iters is not None and pos.iteration >= cfg.stop_after_iters \
                    and pos.iteration < run.total_iters:
                return batch_no, True
        return batch_no, False

    def _step(self, run: _Run, batch: dict[str, torch.Tensor], iteration: int) -> tuple[float, dict[str, float]]:
        """One optimizer step at the schedule's lr for ``iteration``; returns that lr and the loss's parts."""
        cfg = self.cfg
        lr = learning_rate(base=cfg.lr, iteration=iteration, total=run.total_iters,
                           batches_per_epoch=run.batches_per_epoch, schedule=cfg.schedule, power=cfg.poly_power,
                           steps=cfg.lr_steps, gamma=cfg.lr_gamma, warmup=cfg.warmup_iters)
        for g in run.optimizer.param_groups:
            g["lr"] = lr * g["lr_mult"]
        rgb, thermal = batch["rgb"].to(self.device), batch["thermal"].to(self.device)
        label = batch["label"].to(self.device)
        with autocast(self.device, self.dtype):
            out = run.train_model(rgb, thermal)
            loss, parts = run.criterion(out, label, batch["pseudo"].to(self.device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at iteration {iteration}; lower --set lr=")
        run.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(run.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            run.optimizer.step()
        return lr, parts

    def _validate(self, run: _Run, pos: _Position, epoch: int, bar: Any, writer: Any) -> float | None:
        """The validation mIoU at this epoch's end, or None when this epoch is not validated."""
        cfg = self.cfg
        if run.val_ds is None or not ((epoch + 1) % cfg.val_every == 0 or pos.iteration >= run.total_iters):
            return None
        if self.world > 1:
            sync_buffers(run.model)  # every rank validates the model the checkpoints hold: rank 0's
        res = validate_sharded(self._engine(run.model), run.val_ds, self.dist, self.device)
        miou = res.scores().miou
        if writer is not None:
            writer.add_scalar("val/mIoU", miou, pos.iteration)
            writer.add_scalar("val/mAcc", res.scores().macc, pos.iteration)
        if bar is not None:
            bar.write(f"epoch {epoch + 1}/{run.epochs}: val mIoU {miou:.4f} mAcc {res.scores().macc:.4f}")
        return miou

    def _save_stop(self, run: _Run, pos: _Position, epoch: int, batch_no: int) -> None:
        """``stop_after_iters`` reached: ``last`` records the position inside the epoch, for ``--resume``."""
        next_epoch, next_batch = (epoch, batch_no) if batch_no < run.batches_per_epoch else (epoch + 1, 0)
        if self.is_main:
            self._save("last.safetensors", run.model, run.optimizer,
                       {"epoch": next_epoch, "batch": next_batch, "iteration": pos.iteration,
                        "total_iters": run.total_iters, "best": pos.best, "best_epoch": pos.best_epoch},
                       {**run.meta, "epoch": next_epoch})
            log.info("stopped after %d iterations; continue with --resume", pos.iteration)

    def _end_epoch(self, run: _Run, pos: _Position, epoch: int, miou: float | None) -> None:
        """Track the best mIoU and write the epoch's checkpoints. Every rank tracks the best (its mIoU is the
        all-reduced one, the same everywhere), so each rank's position agrees with rank 0's checkpoints."""
        improved = miou is not None and (pos.best is None or miou > pos.best)
        if improved:
            pos.best = miou
            pos.best_epoch = epoch + 1
        if not self.is_main:
            return
        epoch_meta = {**run.meta, "epoch": epoch + 1, "iteration": pos.iteration, "val_miou": miou}
        # best first, then last: `last` is the commit point, so whenever it says a best exists, that best
        # is on disk (a kill between the two leaves the previous last, and resuming redoes this epoch)
        if improved:
            self._save("best.safetensors", run.model, None, {}, epoch_meta)
        if (epoch + 1) % self.cfg.save_every == 0 or pos.iteration >= run.total_iters or improved:
            self._save("last.safetensors", run.model, run.optimizer,
                       {"epoch": epoch + 1, "batch": 0, "iteration": pos.iteration, "total_iters": run.total_iters,
                        "best": pos.best, "best_epoch": pos.best_epoch}, epoch_meta)

    def _writer(self):
        if not (self.cfg.tensorboard and self.is_main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed; no TensorBoard logs (pip install tensorboard)")
            return None
        return SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _bar(self, total: int, initial: int):
        if not (self.cfg.progress and self.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc="train", unit="it", dynamic_ncols=True)
