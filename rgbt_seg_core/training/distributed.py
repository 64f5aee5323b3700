"""Training on several processes and machines under ``torchrun``: the process group and its timeout, validation
sharded across ranks, and a lost peer reported as such.

Validation: each rank scores a disjoint slice of the split (frames ``rank, rank + world, ...``) and the int64
confusion matrices are summed across ranks. Every frame is scored exactly once, so the mIoU equals a
single-process evaluation's to the last bit. ``DistributedSampler`` is not used: it pads the split to a multiple
of the world size by repeating frames, which would count those frames twice.

A lost peer: collectives wait at most ``timeout_s`` (the process group's timeout), so a node that dies or hangs
stops the others with :class:`PeerLostError`, whose message names the rank and the timeout, instead of a hang.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.evaluation.evaluator import EvalResult, evaluate
from rgbt_seg_core.inference.engine import InferenceEngine

__all__ = ["DistInfo", "PeerLostError", "dist_info", "init_process_group", "close_process_group", "is_peer_loss",
           "peer_loss_reported", "shard_indices", "sync_buffers", "validate_sharded"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run, as torchrun's environment says (one process: world 1, rank 0)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0


def dist_info() -> DistInfo:
    """Read torchrun's ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; a value that is not an integer is an error
    naming the variable, not a silent single-process run."""
    values = {}
    for name, default in (("WORLD_SIZE", 1), ("RANK", 0), ("LOCAL_RANK", 0)):
        raw = os.environ.get(name)
        try:
            values[name] = default if raw is None else int(raw)
        except ValueError:
            raise ValueError(f"environment variable {name}={raw!r} is not an integer (set by torchrun)") from None
    info = DistInfo(values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"])
    if info.world < 1 or not 0 <= info.rank < info.world or info.local_rank < 0:
        raise ValueError(f"RANK={info.rank}, LOCAL_RANK={info.local_rank} do not fit WORLD_SIZE={info.world}")
    return info


class PeerLostError(RuntimeError):
    """Another rank of the run died, hung or cut its connection: this rank cannot go on alone."""


def init_process_group(device_type: str, timeout_s: float, init_method: str | None = None) -> None:
    """NCCL on CUDA, gloo otherwise. ``timeout_s`` bounds every collective and the store's waits, so that a peer
    that is gone stops this rank within it (see :func:`peer_loss_reported`). ``init_method``: torchrun's
    environment (``env://``, the default) or, e.g., a ``file://`` store shared by processes of one machine."""
    if not timeout_s > 0:
        raise ValueError(f"training option dist_timeout={timeout_s!r} is invalid: must be > 0 seconds")
    backend, timeout = ("nccl" if device_type == "cuda" else "gloo"), timedelta(seconds=timeout_s)
    if init_method is None:  # env:// reads the rank and world size from the environment itself
        dist.init_process_group(backend=backend, timeout=timeout)
    else:
        info = dist_info()
        dist.init_process_group(backend=backend, timeout=timeout, init_method=init_method, rank=info.rank,
                                world_size=info.world)


# How the backends word a vanished peer. gloo raises a plain RuntimeError ("[gloo/transport/tcp/unbound_buffer.cc]
# Timed out waiting 30000ms for send operation to complete", "Connection closed by peer"); NCCL and the store raise
# torch.distributed.DistError's subclasses.
_TRANSPORT_SIGNS = ("gloo", "nccl", "timed out", "connection", "socket", "reset by peer", "closed by peer")


def close_process_group() -> None:
    """Every rank waits for the others, then tears its connections down. A rank that left first would close its
    gloo connections under a peer still tearing down its own, and that peer's process aborts at exit
    ("terminate called without an active exception", status -6), so a finished run would look failed to torchrun.
    Only after a run that ended well: after a failure the barrier would wait out the timeout."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_peer_loss(exc: BaseException) -> bool:
    """Whether ``exc`` is the backend's word that a peer is gone, not an error of this rank's own work."""
    if isinstance(exc, dist.DistError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(sign in message for sign in _TRANSPORT_SIGNS)


@contextmanager
def peer_loss_reported(rank: int, timeout_s: float) -> Iterator[None]:
    """Turn the backend's error about a vanished peer into one message that says what happened and what sets the
    wait; any other error passes through as it is."""
    try:
        yield
    except RuntimeError as exc:
        if isinstance(exc, PeerLostError) or not is_peer_loss(exc):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PeerLostError(
            f"rank {rank}: peer lost (no reply within {timeout_s:g} s, or its connection closed): another process "
            f"of this run died or hung, see its log; dist_timeout (--dist-timeout) sets the wait ({detail})"
        ) from exc


def shard_indices(n: int, rank: int, world: int) -> range:
    """This rank's frames of a split of ``n``: disjoint across ranks, together exactly ``range(n)``, no padding
    (so the slices differ in length by at most one)."""
    if world < 1 or not 0 <= rank < world or n < 0:
        raise ValueError(f"cannot shard {n} frames for rank {rank} of {world}")
    return range(rank, n, world)


def sync_buffers(model: nn.Module, src: int = 0) -> None:
    """Give every rank ``src``'s buffers (BatchNorm running statistics). Without SyncBatchNorm each rank's
    statistics follow its own batches after the last step (DDP broadcasts rank 0's only at the next forward), so
    without this the ranks would validate different models, none of them the one the checkpoint holds."""
    for buf in model.buffers():
        dist.broadcast(buf, src=src)


def _all_reduce_result(result: EvalResult, device: torch.device) -> EvalResult:
    """Sum every count over ranks: each confusion matrix (the split's, then each subset's in name order) with its
    pixels predicted as no class (``min_confidence``), and the frame count. One int64 vector, one all-reduce:
    exact, whatever the order the ranks add in."""
    matrices = [result.confusion, *(result.subsets[k] for k in sorted(result.subsets))]
    parts = [a.reshape(-1) for cm in matrices for a in (cm.matrix, cm.unlabelled)]
    packed = torch.from_numpy(np.concatenate([*parts, np.array([result.images], np.int64)])).to(device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    summed, at = packed.cpu().numpy(), 0
    for cm in matrices:
        for name in ("matrix", "unlabelled"):
            shape = getattr(cm, name).shape
            setattr(cm, name, summed[at : at + int(np.prod(shape))].reshape(shape).copy())
            at += int(np.prod(shape))
    result.images = int(summed[at])
    return result


def validate_sharded(engine: InferenceEngine, dataset: RGBTDataset, info: DistInfo, device: torch.device) -> EvalResult:
    """Score ``dataset`` with this rank's slice and return the whole split's result, the same on every rank and
    equal to :func:`evaluate` on one process. ``device`` is where the collective runs (NCCL needs CUDA tensors)."""
    if info.world <= 1:
        return evaluate(engine, dataset)
    mine = evaluate(engine, dataset, indices=shard_indices(len(dataset), info.rank, info.world))
    return _all_reduce_result(mine, device)
