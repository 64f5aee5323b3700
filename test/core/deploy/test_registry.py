"""The backend table: what every registered backend states, the lookups by name, format and file suffix, refusals of
duplicates and of malformed records, and that reading the table imports no optional runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rgbt_seg_core.deploy import BACKENDS, RunnerOptions, open_runner
from rgbt_seg_core.deploy.registry import (
    NATIVE,
    Backend,
    backend_for_file,
    backend_for_format,
    backend_names,
    backends_taking,
    get_backend,
    list_backends,
    register_backend,
    registered,
    unregister_backend,
)

BUILT_IN = ("torch", "onnxruntime", "openvino", "tensorrt")


def _record(name: str = "toy", **kw) -> Backend:
    fields = dict(name=name, summary="a test's backend", precisions=("fp32",), auto="fp32")
    return Backend(**{**fields, **kw})


def test_the_built_in_backends_in_their_order() -> None:
    assert BACKENDS == BUILT_IN and backend_names()[:4] == BUILT_IN
    assert [b.name for b in list_backends()][:4] == list(BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_backend_states_what_tools_need(name: str) -> None:
    b = get_backend(name)
    assert b.precisions and b.takes("auto") and (b.auto == NATIVE or b.auto in b.precisions)
    assert b.timed is not None and b.summary.startswith(name)
    if name == "torch":  # the engine runs the model itself: no runner, no file, nothing to install
        assert b.runner is None and b.export is None and not b.suffixes and b.installed() and not b.extra
        return
    assert callable(b.runner) and callable(b.export) and b.format and b.model_suffix.startswith(".")
    assert b.module and b.extra and "int8" in b.precisions and b.int8_target in ("cpu", "tensorrt")
    assert backend_for_format(b.format) is b and backend_for_file(f"/tmp/model{b.model_suffix}") is b


def test_the_records_say_what_the_tools_used_to_hard_code() -> None:
    assert {b.format: b.model_suffix for b in list_backends() if b.format} == {
        "onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}
    assert backends_taking("int8") == ("onnxruntime", "openvino", "tensorrt")
    assert backends_taking("bf16") == ("torch", "openvino")
    assert [b.name for b in list_backends() if b.cuda_only] == ["tensorrt"]
    assert get_backend("tensorrt").verify_tolerance > get_backend("onnxruntime").verify_tolerance
    assert get_backend("tensorrt").int8_target == "tensorrt" and get_backend("openvino").int8_target == "cpu"
    assert get_backend("torch").timed("cpu", False) == [("fp32", "cpu"), ("bf16", "cpu")]
    assert get_backend("openvino").timed("cuda", True) == [("fp32", "cpu"), ("bf16", "cpu")]
    assert get_backend("openvino").timed("cpu", False) == [("fp32", "cpu")]
    assert get_backend("tensorrt").timed("cpu", True) == [] and get_backend("tensorrt").timed("cuda", True) == [
        ("fp16", "cuda")]


def test_an_engine_file_record_is_not_a_model_file() -> None:
    assert backend_for_file("m.engine").name == "tensorrt"
    with pytest.raises(ValueError, match=r"m\.engine\.json: no backend runs this file; model files end in "
                                         r"\.onnx \(onnxruntime\), \.xml \(openvino\), \.engine \(tensorrt\)"):
        backend_for_file("m.engine.json")
    with pytest.raises(ValueError, match="no backend runs this file"):
        backend_for_file(".onnx")  # a suffix alone names no file


@given(st.text(max_size=30))
def test_an_unknown_name_is_refused_listing_the_known_ones(name: str) -> None:
    if name in backend_names():
        assert get_backend(name).name == name
        return
    with pytest.raises(ValueError) as err:
        get_backend(name)
    assert f"backend must be one of {', '.join(backend_names())}, got {name!r}" == str(err.value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), max_size=20),
       st.sampled_from(["", ".onnx", ".xml", ".engine", ".bin", ".engine.json", ".ONNX", ".safetensors"]))
def test_a_file_name_finds_the_backend_of_its_suffix_or_is_refused_by_name(stem: str, suffix: str) -> None:
    path = f"/data/{stem}{suffix}"
    try:
        found = backend_for_file(path)
    except ValueError as exc:
        assert path in str(exc) and "model files end in" in str(exc)
        assert not any(Path(path).name.endswith(b.model_suffix) and len(Path(path).name) > len(b.model_suffix)
                       for b in list_backends() if b.model_suffix)
    else:
        assert Path(path).name.endswith(found.model_suffix)


def test_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="backend 'torch' is already registered"):
        register_backend(_record("torch"))
    with pytest.raises(ValueError, match="export format 'onnx' is backend onnxruntime's"):
        register_backend(_record(export=lambda *a: "", format="onnx", suffixes=(".toy",)))
    with pytest.raises(ValueError, match=r"model files ending in \.xml are backend openvino's"):
        register_backend(_record(export=lambda *a: "", format="toy", suffixes=(".xml",)))
    assert "toy" not in backend_names()


@pytest.mark.parametrize("kw, match", [
    (dict(name="has space"), "letters, digits and underscores"),
    (dict(name=""), "letters, digits and underscores"),
    (dict(precisions=("fp8",)), "precisions must be some of fp32, bf16, fp16, int8, got fp8"),
    (dict(precisions=()), "got none"),
    (dict(auto="fp16"), "auto must be one of its precisions or 'native'"),
    (dict(format="toy"), "an export needs a format and suffixes"),
    (dict(export=lambda *a: "", format="toy"), "an export needs a format and suffixes"),
    (dict(export=lambda *a: "", format="toy", suffixes=("toy",)), "suffixes start with a dot"),
    (dict(precisions=("fp32", "int8")), "precision int8 and an int8_target go together"),
])
def test_malformed_records_are_refused_naming_the_backend(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _record(**kw)


def test_registered_takes_the_backend_out_again_even_on_error() -> None:
    with pytest.raises(RuntimeError, match="inside"):
        with registered(_record()) as toy:
            assert get_backend("toy") is toy and backend_names()[-1] == "toy" and "toy" not in BACKENDS
            raise RuntimeError("inside")
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("toy")
    register_backend(_record())
    assert unregister_backend("toy").name == "toy" and "toy" not in backend_names()
    with pytest.raises(ValueError, match="got 'toy'"):
        unregister_backend("toy")


def test_installed_is_found_without_importing(tmp_path: Path) -> None:
    assert not _record(module="rgbt_seg_no_such_package").installed()
    code = ("import sys\nfrom rgbt_seg_core.inference.engine import InferenceEngine\n"
            "from rgbt_seg_core.deploy import list_backends\n"
            "print(sorted(b.name for b in list_backends() if b.installed()))\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'openvino', 'tensorrt', 'onnx')]\n"
            "assert not heavy, heavy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'torch'" in out.stdout


def test_open_runner_checks_precision_and_device_from_the_record() -> None:
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="backend onnxruntime runs fp32, int8; precision bf16 needs backend torch "
                                         "or openvino"):
        open_runner(None, None, RunnerOptions("onnxruntime", precision="bf16"), cpu)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend tensorrt runs on a CUDA GPU; device is cpu"):
        open_runner(None, None, RunnerOptions("tensorrt", precision="fp16"), cpu)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend torch runs in the engine itself"):
        open_runner(None, None, RunnerOptions("torch"), cpu)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime, openvino, tensorrt"):
        open_runner(None, None, RunnerOptions("tensorflow"), cpu)  # type: ignore[arg-type]


def test_int8_rules_follow_the_records() -> None:
    from rgbt_seg_core.inference.precision import check_int8, int8_backends

    with registered(_record(precisions=("fp32", "int8"), int8_target="cpu", export=lambda *a: "", format="toyfmt",
                            suffixes=(".toy",))):
        assert int8_backends()[-1] == "toy"
        check_int8("int8", "toy", "m.toy")
        with pytest.raises(ValueError, match="export --format toyfmt --int8"):
            check_int8("int8", "toy", "")
    with pytest.raises(ValueError, match="with backend onnxruntime, openvino, tensorrt, not toy"):
        check_int8("int8", "toy", "m.toy")
