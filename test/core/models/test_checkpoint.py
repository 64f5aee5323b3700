"""Checkpoint round trips (training and deploy forms) and rejection of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from _support.helpers import randomize_batchnorms
from rgbt_seg_core import build_model
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import CheckpointError, load_weights_into, read_meta, save_checkpoint


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
    from rgbt_seg_core.utils.safetensors_io import write_file

    plain = tmp_path / "plain.safetensors"
    write_file(plain, {"w": torch.zeros(2)}, {})
    with pytest.raises(CheckpointError, match="not an rgbt-seg checkpoint"):
        load_checkpoint(plain)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_checkpoint(tmp_path / "nothere.safetensors")


def _rewrite_header(path: Path, out: Path, resign: bool = True, **changes) -> None:
    """Edit the header, keeping the tensors; ``resign`` recomputes the checksum, as a forger who knows the format
    would (the checksum detects damage and careless edits; it is not a signature)."""
    forge(path, out, lambda meta: meta.update(changes), resign=resign)


def forge(path: Path, out: Path, edit, resign: bool = True, tensors: dict | None = None) -> None:
    from rgbt_seg_core.models import checkpoint_file as ck
    from rgbt_seg_core.utils.safetensors_io import read_header, read_tensor, write_file

    with open(path, "rb") as f:
        header = read_header(f, path.stat().st_size)
        if tensors is None:
            tensors = {k: read_tensor(f, i) for k, i in header.tensors.items()}
    meta = json.loads(header.metadata["rgbt_seg"])
    edited = edit(meta)
    meta_json = edited if isinstance(edited, str) else json.dumps(meta)
    digest = header.metadata["rgbt_seg_sha256"]
    if resign:
        digest = ck._digest(meta_json, [(k, t.dtype, tuple(t.shape), ck._tensor_blocks(t)) for k, t in tensors.items()])
    write_file(out, tensors, {"rgbt_seg": meta_json, "rgbt_seg_sha256": digest})


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
    cases.update({
        "class_names_int": ({"class_names": 7}, "class_names must be a list"),
        "deploy_str": ({"deploy": "yes"}, "deploy must be true or false"),
        "extra_field": ({"normalization": {}}, "unknown fields 'normalization'"),
        "palette_range": ({"palette": [[0, 0, 300]] * 5}, "palette"),
        "option_kind": ({"options": {"kernel_size": {"a": 1}}}, "unsupported kind"),
    })
    for name, (change, match) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        _rewrite_header(path, bad, **change)
        with pytest.raises(CheckpointError, match=match) as err:
            load_checkpoint(bad)
        assert bad.name in str(err.value)


@pytest.mark.parametrize("text, match", [
    ("[1, 2]", "is a JSON list"), ('"a string"', "is a JSON str"), ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    ("{not json", "not valid JSON"),
])
def test_header_json_of_the_wrong_shape(trained, tmp_path: Path, text: str, match: str) -> None:
    _, path = trained
    bad = tmp_path / "shape.safetensors"
    forge(path, bad, lambda meta: text)
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(bad)
    assert "shape.safetensors" in str(err.value)


def test_an_edited_header_fails_the_checksum(trained, tmp_path: Path) -> None:
    _, path = trained
    for change in ({"class_names": ["a", "b", "c", "d", "e"]}, {"deploy": True}, {"training": {}}):
        bad = tmp_path / "edited.safetensors"
        _rewrite_header(path, bad, resign=False, **change)
        with pytest.raises(CheckpointError, match="do not match the checksum"):
            load_checkpoint(bad)


def test_pretrained_in_a_header_is_never_acted_on(trained, tmp_path: Path, monkeypatch) -> None:
    model, path = trained
    import rgbt_seg_core.models.encoders.cnn as enc

    def refuse(*a, **k):
        raise AssertionError("a checkpoint header made the loader fetch weights")

    monkeypatch.setattr(enc, "_imagenet_state_dict", refuse)
    for value in ("imagenet", str(tmp_path), True):
        bad = tmp_path / "pre.safetensors"
        _rewrite_header(path, bad, options={**read_meta(path).options, "pretrained": value})
        with torch.no_grad():
            assert torch.equal(model(*_inputs()), load_checkpoint(bad).model(*_inputs()))


def test_dtypes_are_checked_not_cast(trained, tmp_path: Path) -> None:
    from rgbt_seg_core.utils.safetensors_io import read_header, read_tensor

    _, path = trained
    with open(path, "rb") as f:
        header = read_header(f, path.stat().st_size)
        tensors = {k: read_tensor(f, i) for k, i in header.tensors.items()}
    name = next(k for k, t in tensors.items() if t.dtype == torch.float32)
    tensors[name] = tensors[name].double()
    bad = tmp_path / "f64.safetensors"
    forge(path, bad, lambda meta: None, tensors=tensors)
    with pytest.raises(CheckpointError, match="wrong dtype"):
        load_checkpoint(bad)


def test_files_interoperate_with_the_safetensors_package(trained, tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from rgbt_seg_core.utils.safetensors_io import read_header, read_tensor

    model, path = trained
    theirs = safetensors_torch.load_file(str(path))
    assert set(theirs) == set(model.state_dict()) and all(torch.equal(theirs[k], v) for k, v in
                                                           model.state_dict().items())
    other = tmp_path / "theirs.safetensors"
    ref = {"a": torch.arange(6, dtype=torch.float16).reshape(2, 3), "b": torch.tensor([True, False]),
           "c": torch.zeros(0, 4, dtype=torch.bfloat16), "d": torch.arange(5, dtype=torch.int64)}
    safetensors_torch.save_file(ref, str(other), metadata={"k": "v"})
    with open(other, "rb") as f:
        header = read_header(f, other.stat().st_size)
        assert header.metadata == {"k": "v"}
        assert all(torch.equal(read_tensor(f, header.tensors[k]), v) for k, v in ref.items())


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


def test_loading_leaves_the_global_rng_alone(trained) -> None:
    _, path = trained
    before = torch.get_rng_state()
    load_checkpoint(path)
    assert torch.equal(before, torch.get_rng_state())  # a resumed run restores its RNG, then may load more


def test_the_loaded_model_gets_memory_only_for_what_the_file_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checked meta-device model is given empty CPU storage (every state-dict tensor is then read from the
    file); a model with a buffer outside its state dict, which nothing would fill, is built on the CPU instead."""
    from rgbt_seg_core.models import checkpoint as ck

    class WithTable(torch.nn.Module):
        def __init__(self, persistent: bool) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 1)
            self.register_buffer("table", torch.arange(3.0), persistent=persistent)

    monkeypatch.setattr(ck, "_build", lambda path, meta, device: ("built", str(device)))
    with torch.device("meta"):
        filled, unfilled = WithTable(persistent=True), WithTable(persistent=False)
    out = ck._materialized(Path("m.safetensors"), None, filled)
    assert out is filled and {t.device.type for t in out.state_dict().values()} == {"cpu"}
    assert ck._materialized(Path("m.safetensors"), None, unfilled) == ("built", "cpu")
