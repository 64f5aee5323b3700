"""The shared inference path: preprocessing choices, blanking, registration offset, precisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.preprocess import ThermalNorm, shift


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def _pair(h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8)


def test_engine_deploys_and_matches_the_model(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    assert engine.model.deployed and engine.precision in ("fp32", "bf16")  # auto on a CPU
    rgb, thermal = _pair()
    pred = engine.predict(rgb, thermal, want_gates=True)
    assert pred.labels.shape == (48, 64) and pred.labels.dtype == np.uint8
    assert pred.gates is not None and pred.gates.shape == (2, 48, 64)
    assert pred.confidence is not None and pred.confidence.shape == (2,)
    # asking for gates does not change the labels
    assert np.array_equal(pred.labels, engine.predict(rgb, thermal).labels)


def test_thermal_is_resized_and_16bit_normalised(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0,
                                                   thermal_norm=ThermalNorm(mode="fixed", range=(0, 65535))))
    rgb, thermal = _pair()
    small16 = (thermal[::2, ::2].astype(np.uint16) * 257)  # half size, 16-bit
    r, t = engine.tensors(rgb, small16)
    assert t.shape == (1, 1, 48, 64) and 0 <= float(t.min()) and float(t.max()) <= 1


def test_missing_modality_is_blanked(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    rgb, thermal = _pair()
    r, t = engine.tensors(rgb, None)
    assert float(t.abs().max()) == 0.0 and r.shape == (1, 3, 48, 64)
    r, t = engine.tensors(None, thermal)
    assert float(r.abs().max()) == 0.0 and t.shape == (1, 1, 48, 64)
    assert engine.predict(None, thermal).labels.shape == (48, 64)
    with pytest.raises(ValueError, match="at least one"):
        engine.tensors(None, None)


def test_registration_offset() -> None:
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    b = shift(a, 1, -1)  # right by one, up by one
    assert b[0, 1] == a[1, 0] and b[2].sum() == 0 and b[:, 0].sum() == 0
    assert torch.equal(b[:2, 1:], a[1:, :3])
    assert shift(a, 1, -1).dtype == a.dtype and float(shift(a, 4, 0).abs().max()) == 0.0  # all moved out
    assert shift(a, 0, 0) is a


def test_batch_is_the_single_frame_path(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    rng = np.random.default_rng(1)
    frames = [_pair(), (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                        rng.normal(300, 20, (24, 32)).astype(np.float32)), (None, _pair()[1])]
    labels = engine.predict_batch([f[0] for f in frames], [f[1] for f in frames])
    assert labels.shape == (3, 48, 64) and labels.dtype == torch.uint8
    for got, (rgb, thermal) in zip(labels, frames):
        assert np.array_equal(got.numpy(), engine.predict(rgb, thermal).labels)
    with pytest.raises(ValueError, match="one size"):
        engine.predict_batch([frames[0][0], frames[0][0][:40]], [frames[0][1], frames[0][1][:40]])
    with pytest.raises(ValueError, match="as many RGB as thermal"):
        engine.predict_batch([frames[0][0]], [])


def test_reconfigure_changes_the_preprocessing_not_the_model(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    rgb, thermal = _pair()
    before = engine.tensors(rgb, thermal)[1]
    engine.reconfigure(InferenceConfig(device="cpu", precision="fp32", warmup=0, thermal_offset=(5, 0)))
    after = engine.tensors(rgb, thermal)[1]
    assert engine.config.thermal_offset == (5, 0) and torch.equal(after[..., 5:], before[..., :-5])
    assert float(after[..., :5].abs().max()) == 0.0
    hom = (1, 0, -5, 0, 1, 0, 0, 0, 1)  # the homography, parsed once, moves it back
    engine.reconfigure(InferenceConfig(device="cpu", precision="fp32", warmup=0, thermal_offset=(5, 0),
                                       thermal_homography=hom))
    assert engine.config.homography() is engine.config.homography()
    assert float((engine.tensors(rgb, thermal)[1][..., :-5] - before[..., :-5]).abs().max()) < 1e-6
    with pytest.raises(ValueError, match="precision are fixed"):
        engine.reconfigure(InferenceConfig(device="cpu", precision="bf16", warmup=0))
    assert engine.config.thermal_homography == hom  # a refused config changes nothing


def test_thermal_view_is_what_the_model_sees(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0, thermal_offset=(2, 1)))
    _, thermal = _pair()
    view = engine.thermal_view(thermal)
    assert view.dtype == np.float32 and view.shape == thermal.shape
    np.testing.assert_array_equal(view, engine.tensors(None, thermal)[1][0, 0].float().numpy())
    np.testing.assert_allclose(view[1:, 2:], thermal[:-1, :-2] / 255.0, atol=1e-6)


def test_thermal_checked_skips_only_the_nan_scan(ckpt: Path) -> None:
    from rgbt_seg_core.inference.engine import UnusableFrame

    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    rgb, _ = _pair()
    some_nan = np.random.default_rng(2).normal(300, 20, (48, 64)).astype(np.float32)
    some_nan[:4] = np.nan
    assert np.array_equal(engine.predict(rgb, some_nan).labels,
                          engine.predict(rgb, some_nan, thermal_checked=True).labels)
    with pytest.raises(UnusableFrame, match="no finite pixel"):
        engine.predict(rgb, np.full((48, 64), np.nan, np.float32))


def test_bad_checkpoint_and_device(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        InferenceEngine(tmp_path / "none.safetensors")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            InferenceEngine(ckpt, InferenceConfig(device="cuda"))


@pytest.mark.gpu
def test_cuda_fp16_labels_are_reproducible(ckpt: Path) -> None:
    engine = InferenceEngine(ckpt, InferenceConfig(device="cuda", precision="fp16", warmup=1))
    assert engine.precision == "fp16"
    rgb, thermal = _pair(480, 640)
    a = engine.predict(rgb, thermal).labels
    b = engine.predict(rgb, thermal).labels
    assert np.array_equal(a, b)
    cpu = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0)).predict(rgb, thermal).labels
    assert (a == cpu).mean() > 0.99  # fp16 vs fp32: only pixels on decision boundaries may differ


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_fast_path_keeps_the_labels(varied_checkpoint: Path, precision: str) -> None:
    """Device preprocessing, pinned staging and CUDA graphs change nothing but the speed."""
    from _support.varied_model import assert_varied, awkward_thermal

    ckpt = varied_checkpoint
    graphs = InferenceEngine(ckpt, InferenceConfig(device="cuda", precision=precision, warmup=0))
    eager = InferenceEngine(ckpt, InferenceConfig(device="cuda", precision=precision, cuda_graphs=False, warmup=0))
    cpu = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    rgb, thermal = _pair(120, 160)
    frames = [(rgb, thermal), (rgb[:96, :128].copy(), thermal[:96, :128].copy())]
    frames += [(rgb, t) for t, _ in awkward_thermal(thermal).values()]
    for r, t in frames * 2:  # twice: the second round replays captured graphs
        a = graphs.predict(r, t).labels
        assert np.array_equal(a, eager.predict(r, t).labels)
        ref = cpu.predict(r, t).labels
        assert_varied(ref)
        assert (a == ref).mean() >= (0.999 if precision == "fp32" else 0.99)
    assert graphs._graphs is not None and graphs._graphs.captures == 2
    dev_r, dev_t = graphs.tensors(rgb, thermal)
    host_r, host_t = cpu.tensors(rgb, thermal)
    # CUDA divides by a scalar as a multiplication by its reciprocal: one ulp (6e-8 below 1) from the CPU's division
    assert float((dev_r.float().cpu() - host_r).abs().max()) <= 1.2e-7
    assert float((dev_t.float().cpu() - host_t).abs().max()) <= 2e-5


def test_pictures_are_made_with_the_labels(varied_checkpoint: Path) -> None:
    """predict(render=...) gives the colour image and overlay of its own labels, over the RGB image or, for a
    thermal-only frame, over the thermal view in grey; labels and gates do not change with what is rendered."""
    from _support.varied_model import assert_varied
    from rgbt_seg_core.inference.render import Renders, colorize, grey_to_rgb, overlay

    engine = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    rgb, thermal = _pair()
    plain = engine.predict(rgb, thermal, want_gates=True)
    assert plain.color is None and plain.overlay is None
    pred = engine.predict(rgb, thermal, want_gates=True, render=Renders(color=True, overlay=True, alpha=0.3))
    assert_varied(pred.labels)
    np.testing.assert_array_equal(pred.labels, plain.labels)
    np.testing.assert_array_equal(pred.gates, plain.gates)
    np.testing.assert_array_equal(pred.color, colorize(pred.labels, engine.palette))
    np.testing.assert_array_equal(pred.overlay, overlay(rgb, pred.labels, engine.palette, 0.3))
    only_overlay = engine.predict(rgb, thermal, render=Renders(overlay=True))
    assert only_overlay.color is None and only_overlay.overlay is not None
    alone = engine.predict(None, thermal, render=Renders(overlay=True, alpha=0.6))
    grey = (engine.thermal_view(thermal) * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(alone.overlay, overlay(grey_to_rgb(grey), alone.labels, engine.palette, 0.6))


@pytest.mark.gpu
def test_cuda_pictures_equal_the_host_ones(varied_checkpoint: Path) -> None:
    """On the GPU the pictures are made there and come back in one download: colour exactly as on the host, the
    blend within one grey level; the gates as the host computes them from the same model."""
    from _support.varied_model import assert_varied
    from rgbt_seg_core.inference.render import Renders, colorize, overlay

    ckpt = varied_checkpoint
    gpu = InferenceEngine(ckpt, InferenceConfig(device="cuda", precision="fp32", warmup=0))
    rgb, thermal = _pair(120, 160)
    for r in (rgb, None):
        pred = gpu.predict(r, thermal, want_gates=True, render=Renders(color=True, overlay=True, alpha=0.4))
        assert_varied(pred.labels)
        np.testing.assert_array_equal(pred.color, colorize(pred.labels, gpu.palette))
        base = r if r is not None else np.repeat((gpu.thermal_view(thermal) * 255 + 0.5).astype(np.uint8)[:, :, None],
                                                 3, axis=2)
        diff = pred.overlay.astype(int) - overlay(base, pred.labels, gpu.palette, 0.4)
        assert np.abs(diff).max() <= 1
        assert pred.gates is not None and pred.gates.dtype == np.float32 and pred.gates.shape == (2, 120, 160)
        assert pred.confidence is not None and pred.confidence.shape == (2,)


# ------------------------------------------------------------------------------- batches of camera pairs (issue 26)

def test_torch_batches_equal_single_frames_with_each_pairs_preprocessing(varied_checkpoint: Path) -> None:
    """Batches of 1, 2 and 4 at two sizes in one stream, each frame with its own pair's registration and thermal
    normalisation, pictures for some: each frame's prediction is the one it gets alone."""
    from _support.batch_check import assert_batches_equal_single_frames, assert_own_preprocessing_matters

    engine = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    assert_own_preprocessing_matters(engine)
    assert assert_batches_equal_single_frames(engine, atol=1e-5, renders=True) == 14


def test_a_batch_gives_each_frame_what_it_asked_for(varied_checkpoint: Path) -> None:
    from rgbt_seg_core.inference.engine import BatchFrame, Renders

    engine = InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    rgb, thermal = _pair()
    frames = [BatchFrame(rgb, thermal, want_gates=True), BatchFrame(rgb, thermal),
              BatchFrame(None, thermal, render=Renders(overlay=True), want_gates=True)]
    got = engine.predict_frames(frames)
    for f, p in zip(frames, got):
        alone = engine.predict(f.rgb, f.thermal, want_gates=f.want_gates, render=f.render)
        np.testing.assert_array_equal(p.labels, alone.labels)
        assert (p.gates is None) == (alone.gates is None) == (not f.want_gates)
        assert (p.confidence is None) == (alone.confidence is None) == (not f.want_gates)
        if f.want_gates:
            np.testing.assert_allclose(p.gates, alone.gates, atol=1e-5)
            np.testing.assert_allclose(p.confidence, alone.confidence, atol=1e-5)
    np.testing.assert_array_equal(got[2].overlay, engine.predict(None, thermal, render=Renders(overlay=True)).overlay)
    assert got[0].color is None and got[2].color is None


def test_batch_errors_name_the_frame(ckpt: Path) -> None:
    from rgbt_seg_core.inference.engine import BatchFrame, UnusableFrame

    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    rgb, thermal = _pair()
    with pytest.raises(ValueError, match=r"batch frame 1: rgb must be uint8 H x W x 3"):
        engine.predict_frames([BatchFrame(rgb, thermal), BatchFrame(rgb[..., :2].copy(), thermal)])
    with pytest.raises(UnusableFrame, match=r"batch frame 2: thermal: no finite pixel"):
        engine.predict_frames([BatchFrame(rgb, thermal)] * 2 + [BatchFrame(rgb, np.full((48, 64), np.nan, "f4"))])
    with pytest.raises(ValueError, match=r"batch frame 1 is 24x64, frame 0 48x64: a batch's frames must have one "
                                         "size"):
        engine.predict_frames([BatchFrame(rgb, thermal), BatchFrame(rgb[:24].copy(), thermal[:24].copy())])
    with pytest.raises(ValueError, match="at least one frame"):
        engine.predict_frames([])
    with pytest.raises(TypeError, match="batch frame 0: expected a BatchFrame, got tuple"):
        engine.predict_frames([(rgb, thermal)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="^rgb must be uint8"):  # one frame alone says it as it always has
        engine.predict(rgb[..., :2].copy(), thermal)


def test_per_frame_preprocessing_is_checked_once_when_made() -> None:
    from rgbt_seg_core.inference.preprocess import Preprocessing

    with pytest.raises(ValueError, match="thermal homography is singular"):
        Preprocessing(thermal_homography=(1, 0, 0, 1, 0, 0, 0, 0, 1))
    with pytest.raises(ValueError, match="thermal_offset must be two whole numbers"):
        Preprocessing(thermal_offset=(1.5, 0))  # type: ignore[arg-type]
    p = Preprocessing(thermal_homography=[2, 0, 4, 0, 2, 0, 0, 0, 2])
    assert p.thermal_homography == (1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0) and p.homography() is p.homography()
    assert Preprocessing(thermal_homography=[0] * 9).homography() is None  # the parameter's "not set"
    assert InferenceConfig(thermal_offset=(2, 1)).preprocessing() == Preprocessing(thermal_offset=(2, 1))


_dx = st.integers(-6, 6)


@st.composite
def _preprocessing(draw: st.DrawFn):
    from rgbt_seg_core.inference.preprocess import Preprocessing

    mode = draw(st.sampled_from(["auto", "percentile", "fixed"]))
    lo = draw(st.floats(0.0, 40.0))
    norm = ThermalNorm(mode=mode, range=(lo * 1000.0, lo * 1000.0 + draw(st.floats(100.0, 30000.0)))
                       if mode == "fixed" else None, percentiles=(lo, draw(st.floats(60.0, 100.0))))
    hom = None
    if draw(st.booleans()):
        s = draw(st.floats(0.9, 1.1))
        hom = (s, draw(st.floats(-0.05, 0.05)), draw(st.floats(-4, 4)), 0.0, s, draw(st.floats(-4, 4)), 0, 0, 1)
    return None if draw(st.booleans()) and mode == "auto" else Preprocessing(norm, (draw(_dx), draw(_dx)), hom)


@settings(max_examples=8, deadline=None)
@given(preps=st.lists(_preprocessing(), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       wide=st.booleans())
def test_random_settings_in_a_batch_give_each_frame_its_single_frame_result(varied_checkpoint: Path, preps: list,
                                                                            seed: int, wide: bool) -> None:
    from rgbt_seg_core.inference.engine import BatchFrame

    engine = _fp32_engine(varied_checkpoint)
    rng = np.random.default_rng(seed)
    h, w = (40, 72) if wide else (56, 48)
    frames = [BatchFrame(rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                         rng.integers(0, 65536, (h // 2, w // 2), dtype=np.uint16) if i % 2 else
                         rng.integers(0, 256, (h, w), dtype=np.uint8), prep) for i, prep in enumerate(preps)]
    batch, logits = engine.predict_frames(frames), engine.logits(frames)
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(batch[i].labels, engine.predict(f.rgb, f.thermal,
                                                                      preprocessing=f.preprocessing).labels)
        assert float((logits[i] - engine.logits([f])[0]).abs().max()) <= 1e-5


_ENGINES: dict[Path, InferenceEngine] = {}


def _fp32_engine(ckpt: Path) -> InferenceEngine:
    """One engine for every example (hypothesis runs a test body many times; function fixtures run once)."""
    if ckpt not in _ENGINES:
        _ENGINES[ckpt] = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    return _ENGINES[ckpt]


def test_a_runner_that_takes_fewer_frames_runs_the_batch_in_parts(ckpt: Path) -> None:
    """A model file made before the batch axis takes one frame: the engine splits a batch into what it takes."""
    from rgbt_seg_core.deploy.base import runner_max_batch
    from rgbt_seg_core.inference.engine import BatchFrame

    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    calls: list[int] = []

    def runner(r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(r.shape[0])
        return engine.model(r, t)

    frames = [BatchFrame(*_pair()), BatchFrame(*_pair()), BatchFrame(None, _pair()[1])] * 2
    want = [p.labels for p in engine.predict_frames(frames)]
    engine._runner, engine._max_batch = runner, 4  # as the engine sets them up for a backend's runner
    got = [p.labels for p in engine.predict_frames(frames)]
    assert calls == [4, 2] and all(np.array_equal(a, b) for a, b in zip(got, want))
    assert runner_max_batch(runner) == 1  # a runner that states no max_batch takes one frame per call
    for bad in (0, True, "4"):
        runner.max_batch = bad  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="max_batch must be a whole number of at least 1"):
            runner_max_batch(runner)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_graphs_per_batch_size_and_input_size(varied_checkpoint: Path, precision: str) -> None:
    """Torch on CUDA: one graph captured per (batch size, input size), each batch equal to its frames alone, and
    to the eager pass."""
    from _support.batch_check import STREAM, assert_batches_equal_single_frames, batch_of

    graphs = InferenceEngine(varied_checkpoint, InferenceConfig(device="cuda", precision=precision, warmup=0))
    eager = InferenceEngine(varied_checkpoint, InferenceConfig(device="cuda", precision=precision, warmup=0,
                                                               cuda_graphs=False))
    # cuDNN picks kernels per batch size, in TF32 for fp32 convolutions by default: ties may round either way
    assert_batches_equal_single_frames(graphs, atol=2e-2 if precision == "fp32" else 5e-2, renders=True,
                                       agreement=0.999)
    assert graphs._graphs is not None
    keys = {(n, h, w) for h, w, n in STREAM}
    assert graphs._graphs.captures == len(keys)  # the single frames replay the batch-of-one graphs
    for h, w, n in STREAM:
        frames = batch_of(h, w, n, seed=3)
        for a, b in zip(graphs.predict_frames(frames), eager.predict_frames(frames)):
            assert (a.labels == b.labels).mean() >= (1.0 if precision == "fp32" else 0.999)
    assert graphs._graphs.captures == len(keys)
