"""The backends beyond eager torch: OpenVINO IR (exported, verified, labels equal to torch fp32), the float16 ONNX
graph TensorRT builds its engines from (run here by ONNX Runtime on the CPU), TensorRT itself on a GPU, the
pairing of every model file with its checkpoint, and clear errors for what is missing."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _support.varied_model import assert_varied
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.models.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def ckpt(varied_checkpoint: Path) -> Path:
    return varied_checkpoint


def _frame(h: int = 72, w: int = 96, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8)


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real_import = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {module!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr("importlib.import_module", lambda name: fake(name))


def test_missing_backends_are_clear_errors(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rgbt_seg_core.deploy.tensorrt.export import build_engine

    with monkeypatch.context() as m:
        _without(m, "openvino")
        with pytest.raises(RuntimeError, match=r"optional package 'openvino': pip install '\.\[openvino\]'"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", model_file=str(ckpt)))
    with monkeypatch.context() as m:
        _without(m, "tensorrt")
        with pytest.raises(RuntimeError, match=r"optional package 'tensorrt': pip install '\.\[tensorrt\]'"):
            build_engine(ckpt, ckpt.with_suffix(".engine"), torch.device("cpu"))
    assert not ckpt.with_suffix(".engine").exists()


def test_tensorrt_needs_a_gpu(ckpt: Path) -> None:
    with pytest.raises(ValueError, match="runs on a CUDA GPU"):
        InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="tensorrt"))


@pytest.mark.slow  # a third export of the model (float16 inside)
def test_half_onnx_graph_for_tensorrt_keeps_the_labels(ckpt: Path, tmp_path: Path) -> None:
    """The graph a TensorRT fp16 engine is built from: float16 inside, float32 at the edges, fp32's labels."""
    pytest.importorskip("onnxscript")  # the exporter's package
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from rgbt_seg_core.deploy.onnx.export import export_onnx

    model = load_checkpoint(ckpt).model.reparameterize()
    path = export_onnx(model, tmp_path / "half.onnx", height=64, width=80, half=True)
    graph = onnx.load(str(path)).graph
    kinds = {i.data_type for i in graph.initializer}
    assert onnx.TensorProto.FLOAT16 in kinds
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in [*graph.input, *graph.output])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(1)
    rgb, thermal = torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 1, 67, 91, generator=g)
    with torch.inference_mode():
        ref = model(rgb, thermal)
    got = torch.from_numpy(session.run(["logits"], {"rgb": rgb.numpy(), "thermal": thermal.numpy()})[0])
    assert_varied(ref.argmax(1)[0].numpy().astype(np.uint8))
    assert float((got - ref).abs().max()) <= 3e-2 * float(ref.abs().max())
    assert (got.argmax(1) == ref.argmax(1)).float().mean() >= 0.99


@pytest.fixture(scope="module")
def ir(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxscript")  # the IR is converted from the ONNX export
    pytest.importorskip("openvino")
    out = tmp_path_factory.mktemp("ov") / "v.xml"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--format", "openvino", "--verify",
                 "--verify-size", "64", "80"]) == 0
    assert out.is_file() and out.with_suffix(".bin").is_file()
    return out


class TestOpenVino:
    def test_fp32_labels_equal_torch_fp32(self, ckpt: Path, ir: Path) -> None:
        rgb, thermal = _frame()
        ref = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0)).predict(rgb, thermal)
        ov = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", precision="fp32",
                                                   model_file=str(ir), warmup=0))
        assert ov.precision == "fp32"
        got = ov.predict(rgb, thermal, want_gates=True)  # labels only: gates come from the torch model
        assert_varied(ref.labels)
        assert (got.labels == ref.labels).mean() >= 0.999 and got.gates is None

    def test_auto_precision_and_odd_sizes(self, ckpt: Path, ir: Path) -> None:
        from rgbt_seg_core.inference.precision import cpu_has_native_bf16

        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", model_file=str(ir),
                                                       warmup=0))
        assert engine.precision == ("bf16" if cpu_has_native_bf16() else "fp32")
        ref = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
        for h, w in ((33, 47), (130, 170)):
            rgb, thermal = _frame(h, w)
            assert (engine.predict(rgb, thermal).labels == ref.predict(rgb, thermal).labels).mean() >= 0.97

    def test_cache_export_and_ownership(self, ckpt: Path, ir: Path, tmp_path: Path, other_varied_checkpoint: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a model file the engine makes the IR into the cache, from the checkpoint's cached float graph
        (every format starts there; the `ir` export made it). That graph is copied into an empty cache: its own
        export from torch is tested with onnxruntime, and a second one here would cost a minute."""
        import shutil

        from rgbt_seg_core.deploy.model_files import onnx_for

        loaded = load_checkpoint(ckpt)
        graph = onnx_for(loaded, loaded.model.eval().reparameterize())
        (tmp_path / "cache" / "rgbt_seg" / "onnx").mkdir(parents=True)
        shutil.copy(graph, tmp_path / "cache" / "rgbt_seg" / "onnx" / graph.name)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", precision="fp32", warmup=0))
        made = list((tmp_path / "cache").rglob("*.xml"))
        assert len(made) == 1 and engine.predict(*_frame()).labels.shape == (72, 96)
        assert [p.name for p in (tmp_path / "cache").rglob("*.onnx")] == [graph.name]  # no second float graph
        other = other_varied_checkpoint
        with pytest.raises(ValueError, match="exported from another checkpoint"):
            InferenceEngine(other, InferenceConfig(device="cpu", backend="openvino", model_file=str(ir)))
        with pytest.raises(FileNotFoundError, match="openvino model file not found"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", model_file=str(tmp_path / "x.xml")))
        with pytest.raises(ValueError, match="openvino_device 'NPU9' is not on this machine"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", model_file=str(ir),
                                                  openvino_device="NPU9"))

    @pytest.mark.slow  # about 30 single frames and batches through OpenVINO
    def test_batches_equal_single_frames(self, ckpt: Path, ir: Path) -> None:
        """The IR keeps the ONNX graph's dynamic batch: 1, 2 and 4 frames at two sizes in one stream, each with its
        own pair's preprocessing, give each frame's labels alone, logits within float rounding."""
        from _support.batch_check import assert_batches_equal_single_frames
        from rgbt_seg_core.deploy.onnx.export import MAX_BATCH
        from rgbt_seg_core.deploy.openvino.export import openvino_metadata

        assert openvino_metadata(ir)["rgbt_seg.max_batch"] == str(MAX_BATCH)
        ov = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="openvino", precision="fp32",
                                                   model_file=str(ir), warmup=0))
        assert ov._runner is not None and ov._runner.max_batch == MAX_BATCH
        assert assert_batches_equal_single_frames(ov, atol=1e-4) == 14

    def test_export_refuses_a_wrong_suffix(self, ckpt: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "v.onnx"),
                     "--format", "openvino"]) == 2
        assert "--format openvino writes a .xml file" in capsys.readouterr().err
        assert not list(tmp_path.iterdir())


@pytest.mark.gpu
def test_tensorrt_engine_matches_torch_and_checks_its_record(ckpt: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")  # the engine is built from the ONNX export
    pytest.importorskip("tensorrt")
    engine_path = tmp_path / "v.engine"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(engine_path), "--format", "tensorrt",
                 "--verify", "--verify-size", "96", "128", "--max-batch", "4"]) == 0
    record = json.loads(Path(f"{engine_path}.json").read_text())
    assert record["precision"] == "fp16" and record["checkpoint_sha256"] == load_checkpoint(ckpt).sha256
    assert record["max_batch"] == 4  # the optimisation profile's batches: 1..4
    trt = InferenceEngine(ckpt, InferenceConfig(device="cuda", backend="tensorrt", model_file=str(engine_path),
                                                warmup=0))
    ref = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    assert trt.precision == "fp16"
    for h, w in ((96, 128), (67, 91)):
        rgb, thermal = _frame(h, w)
        a, b = trt.predict(rgb, thermal).labels, ref.predict(rgb, thermal).labels
        assert_varied(b)
        assert (a == b).mean() >= 0.99
    with pytest.raises(ValueError, match="outside this TensorRT engine's sizes"):
        trt.predict(*_frame(16, 2000))
    from _support.batch_check import assert_batches_equal_single_frames, batch_of

    assert trt._runner is not None and trt._runner.max_batch == 4
    assert_batches_equal_single_frames(trt, atol=5e-2, agreement=0.999)  # fp16: kernels differ by batch size
    five = batch_of(72, 96, 5, seed=9)  # more than the profile takes: the engine runs it as 4 + 1
    for a, f in zip(trt.predict_frames(five), five):
        assert (a.labels == trt.predict(f.rgb, f.thermal, preprocessing=f.preprocessing).labels).mean() >= 0.999
    with pytest.raises(ValueError, match="batch of 5 frames lies outside this TensorRT engine's batches 1 .. 4"):
        trt._runner(*(torch.cat([x] * 5) for x in trt.tensors(*_frame(96, 128))))
    record["gpu"] = "Some Other GPU sm00"
    Path(f"{engine_path}.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="engines are GPU-specific"):
        InferenceEngine(ckpt, InferenceConfig(device="cuda", backend="tensorrt", model_file=str(engine_path)))
