"""A backend's model file: the given one (it must exist), or one made once into the cache under a name keyed by
the checkpoint's checksum; a file stamped with another checkpoint's checksum is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.deploy import model_files
from rgbt_seg_core.deploy.model_files import check_owner, model_file, onnx_for
from rgbt_seg_core.deploy.onnx import export as onnx_export
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint, load_checkpoint


@pytest.fixture(scope="module")
def loaded(varied_checkpoint: Path) -> LoadedCheckpoint:
    return load_checkpoint(varied_checkpoint)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "rgbt_seg"


def _never(path: Path) -> None:
    raise AssertionError(f"made {path} although it was given or cached")


def test_a_given_file_is_used_as_it_is(loaded: LoadedCheckpoint, cache: Path, tmp_path: Path) -> None:
    given = tmp_path / "mine.xml"
    given.write_text("x")
    assert model_file(str(given), loaded, "openvino", "unused.xml", _never) == given
    with pytest.raises(FileNotFoundError, match=r"openvino model file not found: .*missing\.xml"):
        model_file(str(tmp_path / "missing.xml"), loaded, "openvino", "unused.xml", _never)
    assert not cache.exists()


def test_the_cached_file_is_made_once(loaded: LoadedCheckpoint, cache: Path) -> None:
    made: list[Path] = []

    def make(path: Path) -> None:
        made.append(path)
        path.parent.mkdir(parents=True)
        path.write_text("model")

    first = model_file("", loaded, "tensorrt", "a.engine", make)
    assert first == cache / "tensorrt" / "a.engine" and made == [first] and first.read_text() == "model"
    assert model_file("", loaded, "tensorrt", "a.engine", _never) == first


@pytest.mark.parametrize("half", [False, True])
def test_onnx_exports_are_named_by_checksum_opset_form_and_precision(loaded: LoadedCheckpoint, cache: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      half: bool) -> None:
    calls: list[dict] = []

    def fake_export(model, path: Path, *, half: bool, metadata: dict) -> Path:
        calls.append({"half": half, "metadata": metadata})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"onnx")
        return path

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    model = loaded.model.eval()
    path = onnx_for(loaded, model, half=half)
    suffix = "_fp16" if half else ""
    want = f"{loaded.sha256[:24]}_opset{onnx_export.OPSET}_form{onnx_export.GRAPH_FORM}{suffix}.onnx"
    assert path == cache / "onnx" / want and len(loaded.sha256) == 64
    assert calls == [{"half": half, "metadata": onnx_export.checkpoint_metadata(loaded.meta, loaded.sha256)}]
    assert calls[0]["metadata"]["rgbt_seg.checkpoint_sha256"] == loaded.sha256
    assert onnx_for(loaded, model, half=half) == path and len(calls) == 1  # cached
    assert onnx_for(loaded, model, half=half, given=str(path)) == path and len(calls) == 1


def test_a_model_file_must_carry_this_checkpoints_checksum(loaded: LoadedCheckpoint, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    check_owner(path, loaded.sha256, loaded)
    with pytest.raises(ValueError, match=r"m\.onnx carries no rgbt-seg checkpoint checksum \(export it with"):
        check_owner(path, None, loaded)
    with pytest.raises(ValueError, match=r"m\.onnx was exported from another checkpoint than .*v\.safetensors"):
        check_owner(path, "0" * 64, loaded)
    assert model_files.__all__ == ["model_file", "onnx_for", "check_owner", "is_int8_file"]


def test_a_file_is_int8_by_its_quantisation_record_and_must_suit_the_precision(tmp_path: Path) -> None:
    from rgbt_seg_core.deploy.model_files import is_int8_file

    path = tmp_path / "m.onnx"
    record = {"rgbt_seg.quantization": '{"scheme": "int8 QDQ"}'}
    assert is_int8_file(path, record, "int8") and is_int8_file(path, record, "auto")
    assert not is_int8_file(path, {}, "auto") and not is_int8_file(path, {}, "fp32")
    with pytest.raises(ValueError, match=r"m\.onnx is a float model file; precision int8 needs the quantised"):
        is_int8_file(path, {}, "int8")
    for precision in ("fp32", "bf16", "fp16"):
        with pytest.raises(ValueError, match=rf"m\.onnx is an INT8 model file; precision {precision} needs a float"):
            is_int8_file(path, record, precision)
    with pytest.raises(ValueError, match="rgbt_seg.quantization is not JSON"):
        is_int8_file(path, {"rgbt_seg.quantization": "{oops"}, "int8")
