"""Thermal encodings -> H x W values, and that signed and negative temperatures go through the one fixed-range
normalisation (host and device) and the NaN rule unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import raw_message
from rgbt_seg_core.inference.preprocess import (
    ThermalNorm,
    normalize_thermal,
    prepare_inputs,
    prepare_on_device,
    thermal_problem,
)
from rgbt_seg_core.runtime.imageconv import THERMAL_ENCODINGS, ImageFormatError, thermal_from_image

DTYPE = {"mono8": np.uint8, "8UC1": np.uint8, "mono16": np.uint16, "16UC1": np.uint16, "16SC1": np.int16,
         "32FC1": np.float32}


def test_the_thermal_encodings() -> None:
    assert set(THERMAL_ENCODINGS) == set(DTYPE)


@settings(max_examples=100, deadline=None)
@given(encoding=st.sampled_from(sorted(DTYPE)), h=st.integers(1, 9), w=st.integers(1, 9),
       padding=st.integers(0, 5), bigendian=st.booleans(), seed=st.integers(0, 2**16))
def test_values_come_back_as_the_camera_sent_them(encoding, h, w, padding, bigendian, seed) -> None:
    rng, dtype = np.random.default_rng(seed), np.dtype(DTYPE[encoding])
    if dtype.kind == "f":
        arr = rng.uniform(-40, 120, (h, w)).astype(dtype)
    else:
        arr = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (h, w), endpoint=True).astype(dtype)
    out = thermal_from_image(raw_message(arr, encoding, padding=padding, bigendian=bigendian))
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("encoding", ["rgb8", "bayer_rggb16", "yuv422", "32FC3", ""])
def test_other_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(ImageFormatError, match="thermal topic: encoding .* not supported"):
        thermal_from_image(raw_message(np.zeros((2, 2), np.uint8), encoding))


def test_signed_centi_degrees_use_the_fixed_range() -> None:
    """A 16SC1 camera in 0.01 °C: -20 °C .. 60 °C is (-2000, 6000); below and above clip to 0 and 1."""
    t = np.array([[-4000, -2000, 0], [2000, 6000, 9000]], np.int16)
    assert thermal_problem(t) == (None, False)
    norm = ThermalNorm(mode="auto", range=(-2000.0, 6000.0))
    expected = np.array([[0, 0, 0.25], [0.5, 1, 1]], np.float32)
    np.testing.assert_allclose(normalize_thermal(t, norm), expected, atol=1e-6)
    _, host = prepare_inputs(None, t, norm)
    _, dev = prepare_on_device(None, t, norm, (0, 0), torch.device("cpu"))
    np.testing.assert_allclose(host.numpy()[0], expected, atol=1e-6)
    np.testing.assert_allclose(dev.numpy()[0, 0], expected, atol=1e-6)


def test_negative_degrees_celsius_in_float_use_the_fixed_range() -> None:
    t = np.array([[-30.0, -10.0, np.nan], [15.0, 40.0, 55.0]], np.float32)
    problem, nonfinite = thermal_problem(t)
    assert problem is None and nonfinite
    out = normalize_thermal(t, ThermalNorm(mode="fixed", range=(-10.0, 40.0)))
    finite = np.isfinite(t)  # a NaN pixel counts as a raw 0 (here 0 °C), the rule host and device share
    np.testing.assert_allclose(out[finite], [0, 0, 0.5, 1, 1], atol=1e-6)
