"""The re-parameterisation benchmark (RSFNet §III-D): interleaved timing and its result."""

from __future__ import annotations

import math

import pytest
import torch

from rgbt_seg_core.benchmarks.reparam import run_reparam_benchmark, time_interleaved


class _Recorder(torch.nn.Module):
    def __init__(self, name: str, calls: list[str]) -> None:
        super().__init__()
        self.name, self.calls = name, calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(self.name)
        return x


def test_time_interleaved_alternates_the_order_and_times_every_iteration() -> None:
    calls: list[str] = []
    models = [_Recorder("a", calls), _Recorder("b", calls)]
    times = time_interleaved(models, (torch.zeros(1),), iters=3, warmup=1)
    assert [len(t) for t in times] == [3, 3] and all(t >= 0 for ts in times for t in ts)
    # warm-up a b, then a b / b a / a b: neither model is always the second to run
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]


def test_deploy_form_agrees_with_the_training_form() -> None:
    r = run_reparam_benchmark("rsfnet50_18", height=64, width=64, iters=1, warmup=0)
    assert r["input"] == [1, 64, 64] and r["device"] == "cpu" and r["model"] == "rsfnet50_18"
    assert r["train_form_ms"] > 0 and r["deploy_form_ms"] > 0
    assert math.isfinite(r["speedup"]) and r["speedup"] == pytest.approx(r["train_form_ms"] / r["deploy_form_ms"],
                                                                         rel=0.02)
    assert r["max_abs_logit_diff"] < 1e-3


@pytest.mark.parametrize("bad", [{"iters": 0}, {"warmup": -1}, {"batch": 0}])
def test_bad_counts_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="--iters and --batch must be >= 1 and --warmup >= 0"):
        run_reparam_benchmark("rsfnet50_18", **bad)
