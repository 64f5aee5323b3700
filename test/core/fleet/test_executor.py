"""The executor seam: the in-process executor keeps the contract every executor keeps (each task once, its result or
its exception, Ctrl-C through), ``--workers 1`` imports no Dask, and without Dask ``--workers 2`` says what to
install."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from rgbt_seg_core.cli.main import main
from rgbt_seg_core.fleet.evaluate import make_executor
from rgbt_seg_core.fleet.executor import FLEET_EXTRA_HINT, InProcessExecutor


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    if x == 5:
        raise KeyboardInterrupt
    return x * x


def test_in_process_contract() -> None:
    with InProcessExecutor() as ex:
        got = list(ex.map([1, 2, 3, 4], _square))
    assert [t for t, _ in got] == [1, 2, 3, 4] and [o for _, o in got if not isinstance(o, Exception)] == [1, 4, 16]
    assert isinstance(got[2][1], ValueError) and str(got[2][1]) == "three"
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for task, _ in InProcessExecutor().map([4, 5, 6], _square):
            seen.append(task)
    assert seen == [4]


class _NoDask:
    """A finder that refuses (and notes) every import of Dask."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    def find_spec(self, name: str, *args: object) -> None:
        if name.split(".")[0] in ("dask", "distributed"):
            self.tried.append(name)
            raise ImportError(f"{name}: blocked by the test")
        return None


def test_one_worker_imports_no_dask(monkeypatch: pytest.MonkeyPatch, tiny_checkpoint,  # noqa: ANN001
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] in ("dask", "distributed")]:
        monkeypatch.delitem(sys.modules, name)  # imported by another test: make a new import visible
    blocker = _NoDask()
    monkeypatch.setattr(sys, "meta_path", [blocker, *sys.meta_path])
    assert type(make_executor(1)).__name__ == "InProcessExecutor"
    # the whole fleet path, in process: nothing to evaluate, so it ends with status 3
    assert main(["bag-eval", "missing_a", "missing_b", "--checkpoint", str(tiny_checkpoint)]) == 3
    assert "nothing could be evaluated" in capsys.readouterr().out and blocker.tried == []


def test_without_dask_several_workers_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tiny_checkpoint,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    with pytest.raises(RuntimeError, match=r"--workers 2 needs Dask distributed: pip install 'rgbt-seg\[fleet\]'"):
        make_executor(2)
    with pytest.raises(RuntimeError, match="--scheduler tcp://10.0.0.1:8786"):
        make_executor(1, "tcp://10.0.0.1:8786")
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        make_executor(0)
    assert main(["bag-eval", "no_such_bag", "another", "--checkpoint", str(tiny_checkpoint), "--workers", "2"]) == 2
    assert FLEET_EXTRA_HINT in capsys.readouterr().err
