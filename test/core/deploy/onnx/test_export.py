"""ONNX export and the ONNX Runtime backend: round trip within 1e-3 relative at several (odd) sizes, the same
labels as torch fp32, the checkpoint/ONNX pairing checked, and clear errors for a missing package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _support.varied_model import assert_varied
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.models.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def exported(varied_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A checkpoint and its ONNX export: the tests that need it skip without the exporter or ONNX Runtime (the
    export's --verify runs it); the missing-package errors are tested without either."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    d = tmp_path_factory.mktemp("onnx")
    ckpt = varied_checkpoint
    onnx_path = d / "v.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(onnx_path), "--format", "onnx", "--verify",
                 "--verify-size", "64", "80"]) == 0
    return {"dir": d, "ckpt": ckpt, "onnx": onnx_path}


def test_round_trip_within_1e_3_at_several_sizes(exported: dict, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    from rgbt_seg_core.deploy.verify import verify_backend

    src = load_checkpoint(exported["ckpt"])
    diff, rel, agree = verify_backend(src, src.model.reparameterize(), "onnx", exported["onnx"],
                                      [(64, 80), (67, 83), (96, 160)])
    assert rel <= 1e-3 and agree >= 0.999, (diff, rel, agree)
    graph = onnx.load(str(exported["onnx"])).graph
    assert [i.name for i in graph.input] == ["rgb", "thermal"] and [o.name for o in graph.output] == ["logits"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(x, str) for x in (dims[0], *dims[2:]))  # batch, H, W dynamic


def test_onnxruntime_backend_gives_torch_fp32_labels(exported: dict) -> None:
    rng = np.random.default_rng(5)
    rgb, thermal = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8), rng.integers(0, 256, (72, 96), dtype=np.uint8)
    ref = InferenceEngine(exported["ckpt"], InferenceConfig(device="cpu", precision="fp32", warmup=0))
    ort = InferenceEngine(exported["ckpt"], InferenceConfig(device="cpu", backend="onnxruntime",
                                                            model_file=str(exported["onnx"]), warmup=0))
    a, b = ref.predict(rgb, thermal).labels, ort.predict(rgb, thermal).labels
    assert_varied(a)
    assert (a == b).mean() >= 0.999 and ort.precision == "fp32"
    with pytest.raises(ValueError, match="needs backend torch"):
        InferenceEngine(exported["ckpt"], InferenceConfig(device="cpu", backend="onnxruntime", precision="bf16",
                                                          model_file=str(exported["onnx"])))


def test_onnxruntime_takes_the_thread_budget_torch_has(exported: dict) -> None:
    """As the OpenVINO runner: not ONNX Runtime's default of a spinning thread per core beside torch's."""
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            engine = InferenceEngine(exported["ckpt"], InferenceConfig(device="cpu", backend="onnxruntime",
                                                                       model_file=str(exported["onnx"]), warmup=0))
            assert engine._runner is not None
            options = engine._runner._session.get_session_options()
            assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow  # about 30 single frames and batches through ONNX Runtime
def test_onnxruntime_batches_equal_single_frames(exported: dict) -> None:
    """The file takes batches up to its max_batch: 1, 2 and 4 frames at two sizes in one stream, each frame with its
    own pair's preprocessing, give each frame's labels alone, logits within float rounding."""
    from _support.batch_check import assert_batches_equal_single_frames, assert_own_preprocessing_matters
    from rgbt_seg_core.deploy.onnx.export import MAX_BATCH, MAX_BATCH_KEY, onnx_metadata

    assert onnx_metadata(exported["onnx"])[MAX_BATCH_KEY] == str(MAX_BATCH)
    ort = InferenceEngine(exported["ckpt"], InferenceConfig(device="cpu", backend="onnxruntime",
                                                            model_file=str(exported["onnx"]), warmup=0))
    assert ort._runner is not None and ort._runner.max_batch == MAX_BATCH
    assert_own_preprocessing_matters(ort)
    assert assert_batches_equal_single_frames(ort, atol=1e-4) == 14


def test_a_file_states_the_batch_it_takes(tmp_path: Path) -> None:
    from rgbt_seg_core.deploy.onnx.export import MAX_BATCH_KEY, max_batch

    assert max_batch({}, tmp_path / "old.onnx") == 1  # made before the batch axis: one frame per call
    assert max_batch({MAX_BATCH_KEY: "64"}, tmp_path / "m.onnx") == 64
    for bad in ("many", "0", "-3"):
        with pytest.raises(ValueError, match=rf"m.onnx: metadata {MAX_BATCH_KEY} "):
            max_batch({MAX_BATCH_KEY: bad}, tmp_path / "m.onnx")


def test_onnx_file_must_belong_to_the_checkpoint(exported: dict, other_varied_checkpoint: Path) -> None:
    other = other_varied_checkpoint
    with pytest.raises(ValueError, match="exported from another checkpoint"):
        InferenceEngine(other, InferenceConfig(device="cpu", backend="onnxruntime", model_file=str(exported["onnx"])))


def test_missing_optional_package_is_a_clear_error(varied_checkpoint: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    ckpt = varied_checkpoint
    model_file = tmp_path / "v.onnx"  # any existing file: the package is required before the file is read
    model_file.write_bytes(b"not read")
    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    monkeypatch.setattr("importlib.import_module", lambda name: no_ort(name))
    with pytest.raises(RuntimeError, match=r"optional package 'onnxruntime': pip install '\.\[onnx\]'"):
        InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="onnxruntime", model_file=str(model_file)))
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime, openvino, tensorrt"):
        InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="tensorflow"))
    assert torch.__name__ == "torch"
