"""Learning-rate schedules: RSFNet's poly decay (§IV-B) and CIMNet's step decay after a linear warm-up (§V-A).

One pure function of the iteration, evaluated before each step, so a resumed run sets exactly the lr an
uninterrupted one would, with no scheduler state to save.
"""

from __future__ import annotations

__all__ = ["poly_lr", "learning_rate"]


def poly_lr(base: float, iteration: int, total: int, power: float) -> float:
    """lr * (1 - iter/total)^power, RSFNet's schedule."""
    return base * (1.0 - min(iteration, total) / total) ** power


def learning_rate(*, base: float, iteration: int, total: int, batches_per_epoch: int, schedule: str = "poly",
                  power: float = 0.9, steps: list[int] | tuple[int, ...] = (), gamma: float = 0.1,
                  warmup: int = 0) -> float:
    """The lr for the step about to be taken.

    ``step``: ``base * gamma ** k``, k the number of ``steps`` epochs already completed (mmcv's step policy, which
    CIMNet's "decay at the 8th and 11th epochs" follows: ``steps=[8, 11]`` lowers the lr after 8 and after 11
    full epochs). ``warmup``: the first ``warmup`` iterations scale that lr by ``(iteration + 1) / warmup``.
    """
    if schedule == "poly":
        lr = poly_lr(base, iteration, total, power)
    elif schedule == "step":
        epochs_done = iteration // max(1, batches_per_epoch)
        lr = base * gamma ** sum(1 for s in steps if epochs_done >= s)
    else:
        raise ValueError(f"unknown lr schedule {schedule!r} (poly or step)")
    if iteration < warmup:
        lr *= (iteration + 1) / warmup
    return lr
