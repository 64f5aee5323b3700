"""Per-pixel confidence (issue 28): the winning class's softmax probability, made where the labels are and only when
asked for; ``min_confidence`` turns exactly the pixels below it into the unlabelled id; bag-eval scores those as
misses of their true class."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rgbt_seg_core.inference.engine as engine_module
from _support.varied_model import assert_varied, save_varied_checkpoint
from rgbt_seg_core.bags.evaluate import evaluate_bag
from rgbt_seg_core.bags.io import ImageBagWriter
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.inference.engine import (
    UNLABELLED,
    BatchFrame,
    InferenceConfig,
    InferenceEngine,
    Renders,
    top_confidence,
)
from rgbt_seg_core.models.checkpoint import load_checkpoint

H, W = 48, 64
FP32 = InferenceConfig(device="cpu", precision="fp32", warmup=0)


@pytest.fixture(scope="module")
def confident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The varied model with its classifier scaled: the same labels, a confidence spanning most of (1/9, 1]."""
    return save_varied_checkpoint(tmp_path_factory.mktemp("confident") / "c.safetensors", logit_scale=600.0)


@pytest.fixture(scope="module")
def engine(confident: Path) -> InferenceEngine:
    return InferenceEngine(confident, FP32)


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


def _softmax_max(engine: InferenceEngine, frames: list[BatchFrame]) -> np.ndarray:
    return torch.softmax(engine.logits(frames), dim=1).max(dim=1).values.numpy()


def test_top_confidence_is_the_softmax_maximum_without_a_softmax() -> None:
    logits = torch.randn(2, 9, 5, 7) * 30  # far beyond exp's float32 range unless the maximum is taken out first
    labels, conf = top_confidence(logits)
    assert torch.equal(labels, logits.max(dim=1).indices.to(torch.uint8)) and conf.dtype == torch.float32
    torch.testing.assert_close(conf, torch.softmax(logits, dim=1).max(dim=1).values, rtol=1e-6, atol=1e-7)
    _, half_conf = top_confidence(logits.half())  # reduced-precision logits: widened, not overflowed
    torch.testing.assert_close(half_conf, torch.softmax(logits.half().float(), 1).max(1).values, rtol=1e-6,
                               atol=1e-7)


def test_confidence_on_torch_equals_the_softmax_of_the_logits(engine: InferenceEngine) -> None:
    frames = [BatchFrame(*_pair(0)), BatchFrame(*_pair(1))]
    want = _softmax_max(engine, frames)
    plain = engine.predict_frames(frames)
    asked = engine.predict_frames([replace(f, render=Renders(confidence="32FC1")) for f in frames])
    for i, (a, b) in enumerate(zip(plain, asked)):
        assert a.label_confidence is None  # not asked for: not made
        assert b.label_confidence is not None and b.label_confidence.dtype == np.float32
        np.testing.assert_allclose(b.label_confidence, want[i], rtol=1e-5, atol=1e-6)
        assert np.array_equal(a.labels, b.labels)
    conf = asked[0].label_confidence
    assert_varied(plain[0].labels)
    assert conf.min() < 0.3 and conf.max() > 0.6, "the confidence must vary across the frame"
    # one frame alone, the gated pass (gates asked for too), and mono8 = round(255 p), as the node publishes it
    alone = engine.predict(*_pair(0), render=Renders(confidence="32FC1"), want_gates=True)
    np.testing.assert_allclose(alone.label_confidence, want[0], rtol=1e-5, atol=1e-6)
    mono8 = engine.predict(*_pair(0), render=Renders(confidence="mono8")).label_confidence
    assert mono8.dtype == np.uint8 and np.array_equal(mono8, np.round(conf * np.float32(255)).astype(np.uint8))


def test_confidence_is_computed_only_when_asked(engine: InferenceEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(engine_module, "top_confidence", lambda logits: calls.append(1) or top_confidence(logits))
    engine.predict(*_pair(0), render=Renders(color=True, overlay=True), want_gates=True)
    engine.predict_frames([BatchFrame(*_pair(0))] * 2)
    assert calls == []
    engine.predict(*_pair(0), render=Renders(confidence="mono8"))
    assert calls == [1]


@pytest.mark.xdist_group("test/core/deploy/onnx/test_export.py")  # its export of varied_checkpoint, made once
def test_confidence_on_onnxruntime_equals_the_softmax_of_its_logits(varied_checkpoint: Path) -> None:
    """Where a backend's runner gives the logits (ONNX Runtime here; OpenVINO and TensorRT alike), the confidence is
    computed from them on the engine's side. The varied model's own export (cached once per session) is reused, so
    its confidence varies little, but varies."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    ort = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", backend="onnxruntime", warmup=0))
    frames = [BatchFrame(*_pair(2), render=Renders(confidence="32FC1")), BatchFrame(*_pair(3))]
    got = ort.predict_frames(frames)
    want = _softmax_max(ort, frames)
    assert got[1].label_confidence is None and got[0].label_confidence is not None
    np.testing.assert_allclose(got[0].label_confidence, want[0], rtol=1e-5, atol=1e-7)
    assert np.ptp(got[0].label_confidence) > 1e-4  # it varies across the frame
    torch_conf = InferenceEngine(varied_checkpoint, FP32).predict(*_pair(2), render=Renders(confidence="32FC1"))
    np.testing.assert_allclose(got[0].label_confidence, torch_conf.label_confidence, rtol=1e-4)


@pytest.fixture(scope="module")
def reference(engine: InferenceEngine) -> tuple[np.ndarray, np.ndarray, object]:
    """A frame, and its prediction with min_confidence off."""
    rgb, thermal = _pair(4)
    return rgb, thermal, engine.predict(rgb, thermal, render=Renders(confidence="32FC1"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_min_confidence_turns_exactly_the_pixels_below_it_unlabelled(engine: InferenceEngine, reference: tuple,
                                                                      data: st.DataObject) -> None:
    rgb, thermal, ref = reference
    conf = ref.label_confidence
    # any threshold, or one of the confidences themselves (a pixel exactly at it is not below it), or one a hair
    # above a confidence in float64 that float32 cannot tell from it (compared as published: in float32)
    at = float(data.draw(st.sampled_from(sorted(set(conf.ravel().tolist())))))
    threshold = data.draw(st.one_of(st.floats(0.0, 1.0), st.just(at), st.just(float(np.nextafter(at, 1.0)))))
    below = conf < np.float32(threshold) if threshold > 0 else np.zeros_like(conf, bool)
    want = np.where(below, UNLABELLED, ref.labels)
    engine.reconfigure(replace(FP32, min_confidence=threshold))
    try:
        got = engine.predict(rgb, thermal, render=Renders(confidence="32FC1") if data.draw(st.booleans()) else None)
        assert np.array_equal(got.labels, want)  # whether or not the confidence is asked for too
        assert got.label_confidence is None or np.array_equal(got.label_confidence, conf)
        assert np.array_equal(engine.predict_batch([rgb], [thermal])[0].numpy(), want)  # the evaluator's path
    finally:
        engine.reconfigure(FP32)


def test_min_confidence_is_refused_where_255_is_a_class(confident: Path) -> None:
    loaded = load_checkpoint(confident)
    many = replace(loaded.meta, class_names=[f"c{i}" for i in range(256)], palette=[[0, 0, 0]] * 256)
    InferenceEngine.from_model(loaded.model, many, FP32)  # off: any number of classes the labels hold
    with pytest.raises(ValueError, match="has 256 classes, so id 255 .* run it with min_confidence 0"):
        InferenceEngine.from_model(loaded.model, many, replace(FP32, min_confidence=0.5))
    running = InferenceEngine.from_model(loaded.model, many, FP32)
    with pytest.raises(ValueError, match="has 256 classes"):  # the node asks before it takes the parameter
        running.check_reconfigure(replace(FP32, min_confidence=0.5))
    with pytest.raises(ValueError, match="has 256 classes"):
        running.reconfigure(replace(FP32, min_confidence=0.5))
    assert running.config.min_confidence == 0.0
    with pytest.raises(ValueError, match="min_confidence must lie in"):
        replace(FP32, min_confidence=1.5)


def test_bag_eval_scores_unlabelled_pixels_as_misses(engine: InferenceEngine, confident: Path,
                                                     tmp_path: Path) -> None:
    """Ground truth = the model's own labels: without min_confidence every pixel is right; with it, each pixel below
    it is a miss of its class (its row, no column), reported per class beside the matrix."""
    bag, frames = tmp_path / "bag", [_pair(5), _pair(6)]
    preds = [engine.predict(r, t, render=Renders(confidence="32FC1")) for r, t in frames]
    with ImageBagWriter(bag, "mcap") as w:
        for i, ((rgb, thermal), pred) in enumerate(zip(frames, preds)):
            w.write_image("/rgb/image", rgb, "rgb8", 10.0 + i, "rgb")
            w.write_image("/thermal/image", thermal, "mono8", 10.0 + i, "thermal")
            w.write_image("/labels/ground_truth", pred.labels, "mono8", 10.0 + i, "rgb")
    threshold = float(np.median(np.concatenate([p.label_confidence.ravel() for p in preds])))
    out = tmp_path / "eval.json"
    assert main(["bag-eval", str(bag), "--checkpoint", str(confident), "--device", "cpu", "--precision", "fp32",
                 "--min-confidence", str(threshold), "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    n = len(engine.class_names)
    misses, hits = np.zeros(n, int), np.zeros(n, int)
    for p in preds:
        below = p.label_confidence < np.float32(threshold)
        misses += np.bincount(p.labels[below], minlength=n)
        hits += np.bincount(p.labels[~below], minlength=n)
    assert got["evaluated"] == 2 and got["unlabelled_predictions"] == misses.tolist() and misses.sum() > 0
    assert np.array_equal(np.diag(got["confusion_matrix"]), hits) and np.sum(got["confusion_matrix"]) == hits.sum()
    assert got["pixels"] == 2 * H * W
    acc = [got["per_class"][name]["acc"] for name in engine.class_names]
    want = np.where(hits + misses > 0, hits / np.maximum(hits + misses, 1), 0.0)
    np.testing.assert_allclose(acc, want)
    assert got["per_class"][engine.class_names[int(np.argmax(misses))]]["iou"] < 1.0
    res, _ = evaluate_bag(bag, engine)  # min_confidence off: every prediction right
    assert res.confusion is not None and res.confusion.unlabelled.sum() == 0 and res.confusion.scores().macc > 0


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_confidence_is_made_on_the_gpu_and_equals_the_softmax(confident: Path, precision: str) -> None:
    """On CUDA the confidence has CUDA graphs of its own (captured at warm-up, so a first subscriber waits for no
    capture), comes back in the frame's one download (mono8 as one byte a pixel), and min_confidence cuts exactly
    the pixels below it there too."""
    gpu = InferenceEngine(confident, InferenceConfig(device="cuda", precision=precision, warmup=1))
    gpu.warmup(H, W, batch_sizes=(1, 2))
    assert gpu._scored_graphs is not None and gpu._scored_graphs.captures == 2
    frames = [BatchFrame(*_pair(0), render=Renders(confidence="32FC1")),
              BatchFrame(*_pair(1), render=Renders(color=True, confidence="mono8"), want_gates=True)]
    want = _softmax_max(gpu, frames)
    preds = gpu.predict_frames(frames)
    np.testing.assert_allclose(preds[0].label_confidence, want[0], rtol=1e-5, atol=1e-6)
    alone = gpu.predict(*_pair(1), render=Renders(confidence="32FC1"))
    mono8 = preds[1].label_confidence  # from the gated pass in a batch of two: within a grey level of alone's
    assert mono8.dtype == np.uint8 and mono8.shape == (H, W)
    assert np.abs(mono8.astype(int) - np.round(alone.label_confidence * 255).astype(int)).max() <= 1
    assert gpu._scored_graphs.captures == 2  # replayed, none captured per frame
    cpu = InferenceEngine(confident, FP32).predict(*_pair(0), render=Renders(confidence="32FC1"))
    close = np.abs(preds[0].label_confidence - cpu.label_confidence)
    assert close.max() <= (1e-4 if precision == "fp32" else 3e-2)
    threshold = float(np.median(preds[0].label_confidence))
    gpu.reconfigure(replace(gpu.config, min_confidence=threshold))
    cut = gpu.predict(*_pair(0)).labels
    below = preds[0].label_confidence < np.float32(threshold)
    assert below.any() and np.array_equal(cut, np.where(below, UNLABELLED, preds[0].labels))
