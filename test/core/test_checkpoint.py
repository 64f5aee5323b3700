"""Checkpoint round trips (training and deploy forms) and rejection of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from helpers import randomize_batchnorms
from rgbt_seg_core import build_model
from rgbt_seg_core.checkpoint import CheckpointError, load_checkpoint, load_weights_into, read_meta, save_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = randomize_batchnorms(build_model("rsfnet50_18", num_classes=5, kernel_size=3)).eval()
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    save_checkpoint(path, model, training={"epoch": 3, "dataset": "pst900"})
    return model, path


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 40, 56, generator=g), torch.rand(1, 1, 40, 56, generator=g)


def test_round_trip_training_form(trained) -> None:
    model, path = trained
    loaded = load_checkpoint(path)
    meta = loaded.meta
    assert meta.model == "rsfnet50_18" and meta.options["kernel_size"] == 3 and not meta.deploy
    assert meta.class_names[1] == "fire_extinguisher" and len(meta.palette) == 5
    assert meta.training == {"epoch": 3, "dataset": "pst900"}
    assert meta.normalization["rgb_scale"] == pytest.approx(1 / 255)
    with torch.no_grad():
        assert torch.equal(model(*_inputs()), loaded.model(*_inputs()))


def test_round_trip_deploy_form(trained, tmp_path: Path) -> None:
    model, path = trained
    deployed = load_checkpoint(path).model.reparameterize()
    out = tmp_path / "deploy.safetensors"
    save_checkpoint(out, deployed, class_names=["bg", "a", "b", "c", "d"])
    loaded = load_checkpoint(out)
    assert loaded.meta.deploy and loaded.model.deployed
    assert loaded.meta.class_names == ["bg", "a", "b", "c", "d"]
    with torch.no_grad():
        assert torch.equal(deployed(*_inputs()), loaded.model(*_inputs()))
        ref = model(*_inputs())
        err = float((ref - loaded.model(*_inputs())).abs().max())
        assert err <= 1e-4 * max(1.0, float(ref.abs().max()))


def test_truncated_file_is_rejected(trained, tmp_path: Path) -> None:
    _, path = trained
    for keep in (4, 100, path.stat().st_size // 2, path.stat().st_size - 1):
        bad = tmp_path / f"trunc{keep}.safetensors"
        bad.write_bytes(path.read_bytes()[:keep])
        with pytest.raises(CheckpointError, match=str(bad.name)):
            load_checkpoint(bad)


def test_tampered_tensor_bytes_are_detected(trained, tmp_path: Path) -> None:
    _, path = trained
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    bad = tmp_path / "tampered.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(bad)


def test_random_bytes_and_plain_safetensors_are_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01" * 500)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not an rgbt-seg checkpoint"):
        load_checkpoint(plain)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_checkpoint(tmp_path / "nothere.safetensors")


def _rewrite_header(path: Path, out: Path, **changes) -> None:
    """Edit the JSON header while keeping the tensors (and their checksum) intact."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["rgbt_seg"])
    meta.update(changes)
    header["__metadata__"]["rgbt_seg"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])


def test_mismatched_architecture_names_the_keys(trained, tmp_path: Path) -> None:
    _, path = trained
    bad = tmp_path / "wrong_model.safetensors"
    _rewrite_header(path, bad, model="rsfnet50_34")
    with pytest.raises(CheckpointError, match="weights do not fit the model"):
        load_checkpoint(bad)
    bad2 = tmp_path / "wrong_k.safetensors"
    _rewrite_header(path, bad2, options={**read_meta(path).options, "kernel_size": 5})
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(bad2)


def test_invalid_header_values_are_rejected(trained, tmp_path: Path) -> None:
    _, path = trained
    cases = {
        "unknown_model": ({"model": "rsfnet9000"}, "unknown model"),
        "bad_option": ({"options": {"fusion": "avg"}}, "options in its header are invalid"),
        "version": ({"version": 99}, "version"),
        "palette": ({"palette": [[0, 0, 0]]}, "palette"),
    }
    for name, (change, match) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        _rewrite_header(path, bad, **change)
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(bad)


def test_form_mismatch_on_load_weights_into(trained) -> None:
    _, path = trained
    deployed = build_model("rsfnet50_18", num_classes=5, kernel_size=3).reparameterize()
    with pytest.raises(CheckpointError, match="training-form"):
        load_weights_into(deployed, path)


def test_pretrained_path_initialises_from_checkpoint(trained) -> None:
    model, path = trained
    again = build_model("rsfnet50_18", num_classes=5, kernel_size=3, pretrained=str(path)).eval()
    with torch.no_grad():
        assert torch.equal(model(*_inputs()), again(*_inputs()))


def test_failed_save_leaves_existing_file_intact(trained, tmp_path: Path) -> None:
    _, path = trained
    target = tmp_path / "keep.safetensors"
    target.write_bytes(path.read_bytes())
    before = target.read_bytes()
    model = build_model("rsfnet50_18", num_classes=5)
    with pytest.raises(ValueError, match="names"):
        save_checkpoint(target, model, class_names=["only", "three", "names"])
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.safetensors"]  # no temporary left behind
