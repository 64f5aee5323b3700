"""INT8 post-training quantisation: a trained model's INT8 file keeps its labels on both CPU backends, carries the
checkpoint's checksum, and bad calibration data or a mismatched file is refused by name."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from rgbt_seg_core.cli.main import main  # noqa: E402
from rgbt_seg_core.data import build_dataset  # noqa: E402
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory):
    """One model-file cache for the module: the trained model's float ONNX graph is exported once into it, and the
    INT8 exports, the fixture below and the latency rows all start from that one file."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small rsfnet50_18 trained briefly on a small synthetic set: its labels follow the scene, so label
    agreement with fp32 means something (a random model predicts one class everywhere)."""
    from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
    from rgbt_seg_core.training.config import resolve_train_config
    from rgbt_seg_core.training.trainer import Trainer

    root = tmp_path_factory.mktemp("int8")
    data = root / "data"
    write_synthetic_dataset(data, 32, SynthConfig(height=64, width=80, seed=0))
    cfg = resolve_train_config(dataset="synthetic", model="rsfnet50_18", data_root=str(data), out=str(root / "run"),
                               max_iters=60, seed=0, sets=["model_options.fusion_channels=[16,16,32,32]",
                                                            "model_options.reduced_dim=16", "crop=[64,80]",
                                                            "precision=fp32"])
    Trainer(cfg).run()
    return root / "run" / "last.safetensors", data


@pytest.fixture(scope="module")
def fp32_and_int8(trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The trained model's fp32 ONNX export (the cached one the INT8 exports start from) and its INT8 form (4
    calibration frames), made once."""
    from rgbt_seg_core.deploy.model_files import onnx_for
    from rgbt_seg_core.deploy.onnx.quantize import quantize_onnx
    from rgbt_seg_core.inference.calibration import calibration_feeds
    from rgbt_seg_core.models.checkpoint import load_checkpoint

    ckpt, data = trained
    folder = tmp_path_factory.mktemp("onnx")
    src = load_checkpoint(ckpt)
    fp32 = onnx_for(src, src.model.eval().reparameterize())
    q = quantize_onnx(fp32, folder / "q.onnx", calibration_feeds(build_dataset("synthetic", data, "train"), 4))
    return fp32, q


def _labels(engine: InferenceEngine, ds) -> list[np.ndarray]:
    return [engine.predict(s.rgb, s.thermal).labels for s in (ds[i] for i in range(len(ds)))]


def test_int8_export_keeps_the_labels_on_both_cpu_backends(trained, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from rgbt_seg_core.deploy.onnx.export import onnx_metadata
    from rgbt_seg_core.deploy.openvino.export import convert_onnx_to_openvino, openvino_metadata
    from rgbt_seg_core.models.checkpoint import load_checkpoint

    ckpt, data = trained
    out = tmp_path / "m_int8.onnx"
    rc = main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--int8", "--calibration-data", str(data),
               "--dataset", "synthetic", "--calibration-frames", "8", "--out", str(out), "--verify"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "INT8 ONNX model written" in text and "verify: int8 (onnxruntime) vs torch fp32 on synthetic:test" in text
    meta = onnx_metadata(out)
    assert meta["rgbt_seg.checkpoint_sha256"] == load_checkpoint(ckpt).sha256
    record = json.loads(meta["rgbt_seg.quantization"])
    assert record["frames"] == 8 and record["target"] == "cpu" and record["quantized_ops"] > 20
    assert "synthetic:train" in record["source"]
    from rgbt_seg_core.utils.cache_dir import default_cache_dir  # the float graph it started from stays for reuse
    assert [p.name for p in (default_cache_dir() / "onnx").glob("*.onnx")] == [
        p.name for p in (default_cache_dir() / "onnx").glob(f"{load_checkpoint(ckpt).sha256[:24]}_*.onnx")] != []
    ir = convert_onnx_to_openvino(out, tmp_path / "m_int8.xml")
    assert json.loads(openvino_metadata(ir)["rgbt_seg.quantization"]) == record

    test = build_dataset("synthetic", data, "test")
    ref = _labels(InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0)), test)
    # the labels follow the scene: several classes in every frame, and more over the split
    assert all(len(np.unique(label)) >= 2 for label in ref)
    assert len(np.unique(np.concatenate([label.ravel() for label in ref]))) >= 4
    objects = [label != 0 for label in ref]
    for backend, path in (("onnxruntime", out), ("openvino", ir), ("openvino", out)):
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="int8", backend=backend,
                                                       model_file=str(path), warmup=0))
        assert engine.precision == "int8"
        got = _labels(engine, test)
        agree = np.mean([(a == b).mean() for a, b in zip(got, ref)])
        on_objects = sum(int((a == b)[m].sum()) for a, b, m in zip(got, ref, objects)) / sum(int(m.sum())
                                                                                         for m in objects)
        assert agree >= 0.97, (backend, path.suffix, agree)
        # the briefly trained small model's logits lie close together on objects (97 % agree here); a broken
        # quantisation (wrong scales, a lost input) agrees on background alone
        assert on_objects >= 0.7, (backend, path.suffix, on_objects)
    # auto runs what the file holds
    auto = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="onnxruntime", model_file=str(out), warmup=0))
    assert auto.precision == "int8"


def test_a_mismatched_int8_file_or_precision_is_refused(trained, fp32_and_int8, varied_checkpoint: Path) -> None:
    ckpt, _ = trained
    fp32, q = fp32_and_int8
    for backend in ("onnxruntime", "openvino"):
        with pytest.raises(ValueError, match="is an INT8 model file; precision fp32 needs a float export"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", backend=backend,
                                                  model_file=str(q), warmup=0))
        with pytest.raises(ValueError, match="is a float model file; precision int8 needs the quantised export"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="int8", backend=backend,
                                                  model_file=str(fp32), warmup=0))
        other = varied_checkpoint
        with pytest.raises(ValueError, match="exported from another checkpoint"):
            InferenceEngine(other, InferenceConfig(device="cpu", precision="int8", backend=backend,
                                                   model_file=str(q), warmup=0))
    with pytest.raises(ValueError, match="precision int8 needs the quantised model file"):
        InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="int8", backend="onnxruntime"))


def test_the_int8_file_takes_a_batch(trained, fp32_and_int8) -> None:
    """The quantiser keeps the batch axis dynamic (calibrated on single frames): a batch of data set frames, each
    with its own preprocessing, gives each frame's INT8 labels alone, on both CPU backends."""
    import onnx

    from rgbt_seg_core.inference.engine import BatchFrame, Preprocessing

    ckpt, data = trained
    _, q = fp32_and_int8
    assert isinstance(onnx.load(str(q)).graph.input[0].type.tensor_type.shape.dim[0].dim_param, str)
    ds = build_dataset("synthetic", data, "test")
    frames = [BatchFrame(ds[i].rgb, ds[i].thermal, Preprocessing(thermal_offset=(i, -i)) if i % 2 else None)
              for i in range(4)]
    for backend in ("onnxruntime", "openvino"):
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="int8", backend=backend,
                                                       model_file=str(q), warmup=0))
        assert engine._runner is not None and engine._runner.max_batch > 1
        for n in (2, 4):
            for f, p in zip(frames[:n], engine.predict_frames(frames[:n])):
                alone = engine.predict(f.rgb, f.thermal, preprocessing=f.preprocessing).labels
                assert (p.labels == alone).mean() >= 0.999, backend


def test_bad_calibration_data_is_refused_by_name_and_writes_nothing(trained, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, data = trained
    out = tmp_path / "never.onnx"
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong = tmp_path / "wrong"
    (wrong / "images").mkdir(parents=True)
    (wrong / "notes.txt").write_text("not a data set")
    base = ["export", "--checkpoint", str(ckpt), "--format", "onnx", "--int8", "--out", str(out)]
    for folder in (empty, wrong, tmp_path / "missing"):
        assert main(base + ["--calibration-data", str(folder), "--dataset", "mfnet"]) != 0
        assert str(folder) in capsys.readouterr().err
    assert main(base + ["--calibration-data", str(data)]) != 0
    assert "give --calibration-data DIR and --dataset NAME" in capsys.readouterr().err
    assert main(base + ["--calibration-data", str(data), "--dataset", "synthetic", "--calibration-split",
                        "nosuchsplit"]) != 0
    assert "nosuchsplit" in capsys.readouterr().err
    assert main(base + ["--calibration-data", str(data), "--dataset", "synthetic", "--calibration-frames", "0"]) != 0
    assert "--calibration-frames must be at least 1" in capsys.readouterr().err
    assert main(base + ["--calibration-data", str(data), "--dataset", "synthetic", "--fixed-size"]) != 0
    assert "--int8 --fixed-size exports for 480x640 only, but the calibration frames are 64x80" in \
        capsys.readouterr().err
    safetensors = ["export", "--checkpoint", str(ckpt), "--int8", "--out", str(tmp_path / "x.safetensors")]
    assert main(safetensors) != 0
    assert "--int8 writes a quantised model for a backend" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_calibration_feeds_are_checked(tmp_path: Path) -> None:
    from rgbt_seg_core.deploy.onnx.quantize import _checked_feed, quantize_onnx

    with pytest.raises(ValueError, match="at least one frame"):
        quantize_onnx(tmp_path / "none.onnx", tmp_path / "q.onnx", [])
    ok = {"rgb": np.zeros((1, 3, 8, 8), np.float32), "thermal": np.zeros((1, 1, 8, 8), np.float32)}
    assert _checked_feed(0, ok)["rgb"].shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="calibration frame 3: rgb must be 1x3xHxW"):
        _checked_feed(3, {**ok, "thermal": np.zeros((1, 1, 8, 9), np.float32)})
    with pytest.raises(ValueError, match="calibration frame 1: non-finite"):
        _checked_feed(1, {**ok, "rgb": np.full((1, 3, 8, 8), np.nan, np.float32)})
    with pytest.raises(ValueError, match="expected a dict with rgb and thermal"):
        _checked_feed(2, [ok["rgb"]])
    with pytest.raises(ValueError, match="calibration frame 4: expected the keys rgb and thermal, got rgb, depth"):
        _checked_feed(4, {"rgb": ok["rgb"], "depth": ok["thermal"]})
    with pytest.raises(ValueError, match="quantisation target must be one of"):
        quantize_onnx(tmp_path / "none.onnx", tmp_path / "q.onnx", [ok], target="gpu")


def test_bench_latency_gains_int8_rows_calibrated_on_the_train_split(trained) -> None:
    from rgbt_seg_core.benchmarks.latency import run_latency_benchmark

    ckpt, data = trained  # the rows share the module's cached fp32 export
    r = run_latency_benchmark(str(ckpt), height=64, width=80, backends=("torch", "onnxruntime", "openvino"),
                              rounds=1, warmup=0, data_root=str(data))
    rows = {row["variant"]: row for row in r["rows"]}
    assert "synthetic:train" in r["int8_calibration"]
    for name in ("onnxruntime int8", "openvino int8"):
        assert rows[name]["precision"] == "int8"
        assert rows[name]["label_agreement"] >= 0.97 and abs(rows[name]["miou_change_points"]) <= 5.0


def test_the_tensorrt_target_is_symmetric_int8_and_reads_as_an_int8_graph(trained, fp32_and_int8,
                                                                           tmp_path: Path) -> None:
    """TensorRT's explicit quantisation takes int8 activations with zero points of 0; a QDQ graph is what makes an
    engine's record say int8 (the engine itself is built on a GPU: the gpu test below)."""
    import onnx
    from onnx import numpy_helper

    from rgbt_seg_core.deploy.onnx.export import onnx_metadata
    from rgbt_seg_core.deploy.onnx.quantize import quantize_onnx
    from rgbt_seg_core.deploy.tensorrt.export import _graph_precision
    from rgbt_seg_core.inference.calibration import calibration_feeds

    _, data = trained
    fp32, _ = fp32_and_int8
    q = quantize_onnx(fp32, tmp_path / "trt.onnx", calibration_feeds(build_dataset("synthetic", data, "train"), 4),
                      target="tensorrt")
    graph = onnx.load(str(q)).graph
    inits = {i.name: i for i in graph.initializer}
    zero_points = [n.input[2] for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert len(zero_points) > 20
    for name in zero_points:
        zp = numpy_helper.to_array(inits[name])
        assert zp.dtype == np.int8 and not zp.any(), name
    assert _graph_precision(q) == "int8" and _graph_precision(fp32) == "fp32"
    # op types kept in float32 are left out of the quantisation and named in the record
    _, all_int8 = fp32_and_int8
    kept = quantize_onnx(fp32, tmp_path / "kept.onnx", calibration_feeds(build_dataset("synthetic", data, "train"), 2),
                         keep_float=["Conv"])
    record = json.loads(onnx_metadata(kept)["rgbt_seg.quantization"])
    assert record["float_op_types"] == ["Conv"]
    assert record["quantized_ops"] < json.loads(onnx_metadata(all_int8)["rgbt_seg.quantization"])["quantized_ops"]


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="needs TensorRT")  # before training
def test_tensorrt_int8_engine_keeps_the_labels(trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, data = trained
    out = tmp_path / "m_int8.engine"
    rc = main(["export", "--checkpoint", str(ckpt), "--format", "tensorrt", "--int8", "--calibration-data", str(data),
               "--dataset", "synthetic", "--calibration-frames", "8", "--verify-size", "64", "80", "--out", str(out),
               "--verify"])
    assert rc == 0, capsys.readouterr().out
    assert json.loads(Path(f"{out}.json").read_text())["precision"] == "int8"
    engine = InferenceEngine(ckpt, InferenceConfig(device="cuda", precision="int8", backend="tensorrt",
                                                   model_file=str(out), warmup=0))
    assert engine.precision == "int8"
    with pytest.raises(ValueError, match="is a TensorRT int8 engine; precision fp16 needs a float engine"):
        InferenceEngine(ckpt, InferenceConfig(device="cuda", precision="fp16", backend="tensorrt",
                                              model_file=str(out), warmup=0))
