"""The one preprocessing (torch, on the CPU here): thermal normalisation against hand-computed values (fixed
range, percentiles, 16-bit, NaN pixels, clamping), never NaN whatever the frame holds; the resize and the
registration shift by hand; every thermal type, size, normalisation and offset against an independent NumPy/OpenCV
computation (the former host implementation); and the CUDA device against the CPU where there is one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rgbt_seg_core.inference.preprocess import (
    ThermalNorm,
    normalize_thermal,
    percentile,
    prepare_inputs,
    prepare_on_device,
)

CPU = torch.device("cpu")


def test_constant_frame_at_float32_extremes_is_zero_not_nan() -> None:
    for value in (3e38, -3e38, 1e30, 0.5):
        out = normalize_thermal(np.full((4, 5), value, np.float32))
        assert np.isfinite(out).all() and (out == 0).all()


@settings(max_examples=200, deadline=None)
@given(arr=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=8), elements=st.floats(width=32)),
       mode=st.sampled_from(["auto", "percentile"]))
def test_output_is_finite_and_in_unit_range(arr: np.ndarray, mode: str) -> None:
    out = normalize_thermal(arr, ThermalNorm(mode=mode))
    assert out.shape == arr.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_fixed_range_maps_linearly_and_clamps() -> None:
    t = np.array([[250.0, 300.0, 310.0], [350.0, 400.0, 420.0]], np.float32)
    for mode in ("fixed", "auto"):  # auto with a range is the fixed mapping
        out = normalize_thermal(t, ThermalNorm(mode=mode, range=(300.0, 400.0)))
        np.testing.assert_allclose(out, [[0.0, 0.0, 0.1], [0.5, 1.0, 1.0]], atol=1e-6)
    # 8-bit data without a range: fixed is (0, 255), auto divides by 255 (a range would be ignored)
    u8 = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_allclose(normalize_thermal(u8, ThermalNorm(mode="fixed")), [[0.0, 0.2, 1.0]], atol=1e-6)
    np.testing.assert_allclose(normalize_thermal(u8, ThermalNorm(range=(0.0, 51.0))), [[0.0, 0.2, 1.0]], atol=1e-6)
    with pytest.raises(ValueError, match="needs a range"):
        normalize_thermal(t, ThermalNorm(mode="fixed"))


def test_nan_and_inf_pixels_count_as_raw_zero() -> None:
    t = np.array([[np.nan, np.inf, -np.inf, 20.0]], np.float32)
    out = normalize_thermal(t, ThermalNorm(mode="fixed", range=(-10.0, 40.0)))
    np.testing.assert_allclose(out, [[0.2, 0.2, 0.2, 0.6]], atol=1e-6)  # (0 - -10) / 50 and (20 - -10) / 50


def test_percentiles_are_numpys_linear_ones_of_the_valid_pixels() -> None:
    # valid pixels 10, 20, 30, 40 (zeros and NaN left out); 50th percentile: position 1.5 -> 25
    t = np.array([[0.0, 10.0, 20.0], [np.nan, 30.0, 40.0]], np.float32)
    out = normalize_thermal(t, ThermalNorm(mode="percentile", percentiles=(0.0, 50.0)))
    np.testing.assert_allclose(out, [[0.0, 0.0, 10 / 15], [0.0, 1.0, 1.0]], atol=1e-6)  # (x - 10) / (25 - 10)
    # 1..101 with (10, 90): low 11, high 91
    ramp = np.arange(1, 102, dtype=np.float32).reshape(1, -1)
    out = normalize_thermal(ramp, ThermalNorm(mode="percentile", percentiles=(10.0, 90.0)))
    np.testing.assert_allclose(out[0, [0, 10, 50, 90, 100]], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    # a flat frame's range is widened to 1: every pixel at low maps to 0
    assert (normalize_thermal(np.full((3, 3), 300.0, np.float32), ThermalNorm(mode="percentile")) == 0).all()


def test_16bit_is_normalised_by_its_full_value() -> None:
    """Values above 32767 travel as int16 bits and are widened back: they must not come out negative."""
    t = np.array([[0, 16384], [40000, 65535]], np.uint16)
    out = normalize_thermal(t, ThermalNorm(range=(0.0, 65535.0)))
    np.testing.assert_allclose(out, np.array([[0, 16384], [40000, 65535]]) / 65535.0, atol=1e-6)
    # auto without a range: percentiles of the non-zero pixels, (0, 100): low 16384, high 65535
    out = normalize_thermal(t, ThermalNorm(percentiles=(0.0, 100.0)))
    np.testing.assert_allclose(out, [[0.0, 0.0], [(40000 - 16384) / (65535 - 16384), 1.0]], atol=1e-6)
    out = normalize_thermal(t, ThermalNorm(range=(16384.0, 40000.0)))
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0, 1.0]], atol=1e-6)


def test_resize_is_bilinear_with_half_pixel_centres_then_shifted() -> None:
    """Thermal [0, 255] widened to 4 pixels samples at -0.25, 0.25, 0.75, 1.25 (edges held): 0, 1/4, 3/4, 1."""
    rgb = np.zeros((1, 4, 3), np.uint8)
    thermal = np.array([[0, 255]], np.uint8)
    r, t = prepare_inputs(rgb, thermal)
    assert r.shape == (3, 1, 4) and t.shape == (1, 1, 4)
    np.testing.assert_allclose(t[0, 0].numpy(), [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    _, t = prepare_inputs(rgb, thermal, offset=(1, 0))  # right by one; the vacated pixel is 0
    np.testing.assert_allclose(t[0, 0].numpy(), [0.0, 0.0, 0.25, 0.75], atol=1e-6)
    _, t = prepare_inputs(rgb, thermal, offset=(0, 1))  # down by one: nothing stays in a one-row frame
    assert float(t.abs().max()) == 0.0
    rgb = np.array([[[0, 51, 255]]], np.uint8)
    r, _ = prepare_inputs(rgb, None)
    np.testing.assert_allclose(r[:, 0, 0].numpy(), [0.0, 0.2, 1.0], atol=1e-7)


def _reference(rgb: np.ndarray | None, thermal: np.ndarray | None, norm: ThermalNorm,
               offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The former host preprocessing, in NumPy and OpenCV: 3 x H x W and 1 x H x W float32."""
    h, w = rgb.shape[:2] if rgb is not None else thermal.shape
    r = rgb.transpose(2, 0, 1).astype(np.float32) / 255.0 if rgb is not None else np.zeros((3, h, w), np.float32)
    if thermal is None:
        return r, np.zeros((1, h, w), np.float32)
    x = thermal.astype(np.float32)
    finite = np.isfinite(x)
    x = np.where(finite, x, 0.0).astype(np.float32)
    mode = norm.mode
    if mode == "auto":
        mode = "scale" if thermal.dtype == np.uint8 else "fixed" if norm.range is not None else "percentile"
    if mode == "fixed" and norm.range is None:
        if thermal.dtype != np.uint8:
            raise ValueError("fixed needs a range")
        mode = "scale"
    valid = x[finite & (x != 0)]
    if mode == "scale":
        t = x / 255.0
    elif mode == "percentile" and valid.size == 0:
        t = np.zeros_like(x)
    else:
        lo, hi = (float(v) for v in np.percentile(valid, norm.percentiles)) if mode == "percentile" else norm.range
        span = (hi if hi > lo else lo + 1.0) - lo  # a flat frame's range widened to 1
        if not (np.isfinite(span) and span > 0):
            t = np.zeros_like(x)
        else:
            y = (x - np.float32(lo)) / np.float32(span)
            t = np.clip(np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    if t.shape != (h, w):
        t = np.clip(cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    out = np.zeros_like(t)
    dx, dy = offset
    if abs(dx) < w and abs(dy) < h:
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = t[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return r, out[None]


@st.composite
def frames(draw):
    h, w = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    th, tw = draw(st.sampled_from([(h, w), (max(2, h // 2), max(2, w // 2)), (h + 7, w + 3)]))
    kind = draw(st.sampled_from(["u8", "u16", "f32", "f64", "nan", "flat", "zeros"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    if kind == "u8":
        thermal = rng.integers(0, 256, (th, tw), dtype=np.uint8)
    elif kind == "u16":
        thermal = rng.integers(0, 65536, (th, tw), dtype=np.uint16)
    elif kind in ("f32", "f64", "nan"):
        thermal = rng.normal(300, 25, (th, tw)).astype(np.float32 if kind != "f64" else np.float64)
        if kind == "nan":
            thermal[rng.random((th, tw)) < 0.2] = np.nan
            thermal[0, 0] = np.inf
    elif kind == "flat":
        thermal = np.full((th, tw), 1e6, np.float32)
    else:
        thermal = np.zeros((th, tw), np.uint16)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if draw(st.booleans()) else None
    if rgb is None and (th, tw) != (h, w):
        h, w = th, tw
    mode = draw(st.sampled_from(["auto", "fixed", "percentile"]))
    norm = ThermalNorm(mode=mode, range=(0.0, 400.0) if mode == "fixed" or draw(st.booleans()) else None,
                       percentiles=draw(st.sampled_from([(1.0, 99.0), (0.0, 100.0), (5.0, 60.0)])))
    offset = (draw(st.integers(-50, 50)), draw(st.integers(-50, 50)))
    return rgb, thermal, norm, offset


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_preprocessing_equals_the_numpy_computation(case) -> None:
    rgb, thermal, norm, offset = case
    try:
        ref_r, ref_t = _reference(rgb, thermal, norm, offset)
    except ValueError:  # the same inputs must be refused
        with pytest.raises(ValueError, match="needs a range"):
            prepare_on_device(rgb, thermal, norm, offset, CPU)
        return
    r, t = prepare_on_device(rgb, thermal, norm, offset, CPU)
    assert r.shape == (1, *ref_r.shape) and t.shape == (1, *ref_t.shape)
    assert r.dtype == t.dtype == torch.float32
    np.testing.assert_array_equal(r[0].numpy(), ref_r)
    assert float(np.abs(t[0].numpy() - ref_t).max()) <= 2e-5
    assert bool(torch.isfinite(t).all()) and 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    single_r, single_t = prepare_inputs(rgb, thermal, norm, offset)  # the data sets' form: the same tensors
    assert torch.equal(single_r, r[0]) and torch.equal(single_t, t[0])


@pytest.mark.gpu
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_cuda_preprocessing_equals_cpu(case) -> None:
    rgb, thermal, norm, offset = case
    try:
        cpu = prepare_on_device(rgb, thermal, norm, offset, CPU)
    except ValueError as exc:
        with pytest.raises(ValueError) as dev_exc:
            prepare_on_device(rgb, thermal, norm, offset, torch.device("cuda"))
        assert str(dev_exc.value) == str(exc)
        return
    r, t = prepare_on_device(rgb, thermal, norm, offset, torch.device("cuda"))
    assert r.device.type == t.device.type == "cuda"
    assert torch.equal(r.cpu(), cpu[0])
    assert float((t.cpu() - cpu[1]).abs().max()) <= 2e-5


@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=300),
       st.floats(0.0, 100.0))
def test_percentile_is_numpys(values: list[float], q: float) -> None:
    a = np.asarray(values, np.float32)
    expected = float(np.percentile(a, q))
    got = percentile(torch.from_numpy(a), q)
    assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected), float(np.ptp(a)))
