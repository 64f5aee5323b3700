"""Preprocessing on the inference device (what the engine does on a GPU) equals the host preprocessing that every
data set and CPU path uses: checked here with torch on the CPU, on random frames of every thermal type, size,
normalisation and offset, including NaN/inf pixels and flat frames."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_inputs
from rgbt_seg_core.inference.preprocess_device import percentile, prepare_on_device

CPU = torch.device("cpu")


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
def test_device_preprocessing_equals_host(case) -> None:
    rgb, thermal, norm, offset = case
    try:
        host = prepare_inputs(rgb, thermal, norm, offset)
    except ValueError as exc:  # the same inputs must be refused the same way
        try:
            prepare_on_device(rgb, thermal, norm, offset, CPU)
        except ValueError as dev_exc:
            assert str(dev_exc) == str(exc)
            return
        raise AssertionError(f"host refused ({exc}), device accepted")
    r, t = prepare_on_device(rgb, thermal, norm, offset, CPU)
    assert r.shape == (1, *host[0].shape) and t.shape == (1, *host[1].shape)
    assert torch.equal(r[0], host[0])
    assert float((t[0] - host[1]).abs().max()) <= 2e-5
    assert bool(torch.isfinite(t).all()) and 0.0 <= float(t.min()) and float(t.max()) <= 1.0


@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=300),
       st.floats(0.0, 100.0))
def test_percentile_is_numpys(values: list[float], q: float) -> None:
    a = np.asarray(values, np.float32)
    expected = float(np.percentile(a, q))
    got = percentile(torch.from_numpy(a), q)
    assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected), float(np.ptp(a)))
