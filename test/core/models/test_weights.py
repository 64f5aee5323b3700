"""Where a new model's weights come from, the same rule for both families: ImageNet encoders, an offline folder
of them, or an rgbt-seg checkpoint of the same architecture to start from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from _support.varied_model import SMALL_OPTIONS, save_varied_checkpoint
from rgbt_seg_core import build_model
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import CheckpointError
from rgbt_seg_core.models.weights import build_with_weights, resolve_pretrained


@pytest.mark.parametrize("value", [True, "imagenet"])
def test_imagenet(value: bool | str) -> None:
    assert resolve_pretrained(value) == ("imagenet", None)


@pytest.mark.parametrize("value", [False, "", None])
def test_nothing(value: bool | str | None) -> None:
    assert resolve_pretrained(value) == (False, None)


def test_a_folder_is_an_offline_imagenet_source_and_a_file_a_start(tmp_path: Path) -> None:
    (tmp_path / "ckpt.safetensors").write_bytes(b"x")
    assert resolve_pretrained(tmp_path) == (str(tmp_path), None)
    assert resolve_pretrained(str(tmp_path)) == (str(tmp_path), None)
    assert resolve_pretrained(str(tmp_path / "ckpt.safetensors")) == (False, tmp_path / "ckpt.safetensors")
    with pytest.raises(FileNotFoundError, match=r"pretrained path does not exist: .*nope"):
        resolve_pretrained(tmp_path / "nope")


@pytest.mark.parametrize("name", ["rsfnet50_18", "cimnet_r18"])
def test_a_checkpoint_to_start_from_is_loaded_into_the_new_model(tmp_path: Path, name: str) -> None:
    path = save_varied_checkpoint(tmp_path / f"{name}.safetensors", seed=3, model_name=name)
    made: list = []

    def make(encoders):
        made.append(encoders)
        torch.manual_seed(99)  # different from the checkpoint's
        return build_model(name, **SMALL_OPTIONS[name])

    model = build_with_weights(make, path)
    assert made == [False]  # the start replaces the encoders' weights: ImageNet is not fetched
    want = load_checkpoint(path).model.state_dict()
    got = model.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    fresh = make(False).state_dict()
    assert any(not torch.equal(fresh[k], got[k]) for k in got if got[k].is_floating_point())


def test_build_with_weights_passes_the_encoder_source_on(tmp_path: Path) -> None:
    made: list = []
    build_with_weights(lambda encoders: made.append(encoders) or build_model("rsfnet50_18",
                                                                             **SMALL_OPTIONS["rsfnet50_18"]), False)
    assert made == [False]


def test_a_checkpoint_of_another_architecture_is_refused(varied_checkpoint: Path, tmp_path: Path) -> None:
    path = varied_checkpoint  # an rsfnet50_18
    with pytest.raises(CheckpointError):
        build_with_weights(lambda encoders: build_model("cimnet_r18", **SMALL_OPTIONS["cimnet_r18"]), path)
    with pytest.raises(FileNotFoundError, match="pretrained path does not exist"):
        build_with_weights(lambda encoders: pytest.fail("built before the path was checked"), tmp_path / "none")
