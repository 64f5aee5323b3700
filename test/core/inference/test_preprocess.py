"""Thermal normalisation never yields NaN, whatever the frame holds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rgbt_seg_core.inference.preprocess import ThermalNorm, normalize_thermal


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
