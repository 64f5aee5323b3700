"""The shared inference path: preprocessing choices, blanking, registration offset, precisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

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
