"""The one check that a backend's batch equals its single frames (issue 26): a stream of batches of 1, 2 and 4 frames
at two input sizes, each frame with its own camera pair's preprocessing, compared frame by frame with the same
engine's ``predict`` of that frame alone. Shared by the torch, ONNX Runtime, OpenVINO and GPU tests so that every
backend is held to the same stream."""

from __future__ import annotations

import numpy as np

from _support.varied_model import assert_varied
from rgbt_seg_core.inference.engine import BatchFrame, InferenceEngine, Renders
from rgbt_seg_core.inference.preprocess import Preprocessing, ThermalNorm

# four camera pairs' preprocessing: the engine's own, an offset, a homography, per-frame percentiles
PAIRS = (None, Preprocessing(thermal_offset=(3, -2)),
         Preprocessing(thermal_homography=(1.02, 0.01, -2.0, 0.0, 0.98, 1.5, 0.0, 0.0, 1.0)),
         Preprocessing(ThermalNorm(mode="percentile", percentiles=(5.0, 95.0)), thermal_offset=(-1, 1)))
STREAM = ((72, 96, 1), (72, 96, 2), (48, 64, 4), (72, 96, 4), (48, 64, 2), (48, 64, 1))  # (H, W, batch size)


def batch_of(h: int, w: int, n: int, seed: int, renders: bool = False) -> list[BatchFrame]:
    """``n`` frames of one size: 8-bit and half-size 16-bit thermal in turn, pair i's preprocessing for frame i."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        thermal = rng.integers(0, 256, (h, w), dtype=np.uint8) if i % 2 == 0 else \
            rng.integers(1000, 40000, (h // 2, w // 2), dtype=np.uint16)
        render = Renders(color=True, overlay=True) if renders and i % 2 == 1 else None
        frames.append(BatchFrame(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), thermal, PAIRS[i % len(PAIRS)],
                                 render=render))
    return frames


def assert_batches_equal_single_frames(engine: InferenceEngine, atol: float = 1e-4, renders: bool = False,
                                       agreement: float = 1.0) -> int:
    """Every batch of :data:`STREAM` through ``engine.predict_frames`` against each frame alone: labels identical
    (on a GPU, whose kernels for another batch size may round otherwise in TF32 or fp16, at least ``agreement`` of
    them, with the pictures drawn from them), logits within ``atol``. Returns the number of frames compared."""
    compared = 0
    for k, (h, w, n) in enumerate(STREAM):
        frames = batch_of(h, w, n, seed=100 + k, renders=renders)
        batch = engine.predict_frames(frames)
        logits = engine.logits(frames)
        assert len(batch) == n and logits.shape[0] == n
        assert len({p.seconds for p in batch}) == 1  # the batch's one time
        for i, f in enumerate(frames):
            alone = engine.predict(f.rgb, f.thermal, preprocessing=f.preprocessing, render=f.render)
            where = f"batch {k} ({n} frames of {h}x{w}), frame {i}"
            same = float((batch[i].labels == alone.labels).mean())
            assert same >= agreement, f"{where}: {same:.4%} of the labels agree"
            diff = float((logits[i] - engine.logits([f])[0]).abs().max())
            assert diff <= atol, f"{where}: logits differ by {diff:.3g}"
            for name in ("color", "overlay"):
                a, b = getattr(batch[i], name), getattr(alone, name)
                assert (a is None) == (b is None) == (f.render is None), (where, name)
                assert a is None or same < 1.0 or np.array_equal(a, b), (where, name)
            compared += 1
        assert_varied(batch[0].labels)
    return compared


def assert_own_preprocessing_matters(engine: InferenceEngine) -> None:
    """The check above could pass with every frame preprocessed alike: each pair's own settings must change what a
    frame's labels are, or the comparison of batched with single frames would not see them mixed up."""
    for f in batch_of(72, 96, 4, seed=7)[1:]:
        own = engine.predict(f.rgb, f.thermal, preprocessing=f.preprocessing).labels
        assert not np.array_equal(own, engine.predict(f.rgb, f.thermal).labels), f.preprocessing
