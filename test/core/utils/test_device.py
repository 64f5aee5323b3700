"""Device names: auto takes CUDA when there is one; asking for CUDA without it is an error, not a CPU fallback."""

from __future__ import annotations

import pytest
import torch

from rgbt_seg_core.utils.device import resolve_device


@pytest.mark.parametrize("cuda", [False, True])
def test_auto_takes_cuda_when_present(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    want = torch.device("cuda" if cuda else "cpu")
    assert resolve_device("auto") == want and resolve_device("") == want


def test_explicit_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=rf"device '{name}': CUDA is not available on this machine"):
        resolve_device(name)


def test_a_name_torch_does_not_know_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="gpu0"):
        resolve_device("gpu0")
