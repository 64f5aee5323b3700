"""Registration: the homography from point pairs, the warp on host and device, the offset as its special case,
and the labels of a warped thermal frame registered back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_inputs, prepare_on_device
from rgbt_seg_core.inference.registration import (
    apply_homography_to_points,
    check_homography,
    estimate_homography,
    homography_yaml,
    offset_homography,
    read_homography,
    read_point_pairs,
    resize_homography,
)

TRUE_H = np.array([[1.92, 0.04, 21.0], [-0.03, 1.95, 14.0], [2e-5, -1e-5, 1.0]])  # 320x256 thermal -> 640x512 RGB


def _pairs(n: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.c_[rng.uniform(10, 310, n), rng.uniform(10, 246, n)]
    r = apply_homography_to_points(TRUE_H, t) + rng.normal(0, noise, (n, 2))
    return t, r


def test_homography_is_recovered_within_half_a_pixel() -> None:
    grid = np.stack(np.meshgrid(np.linspace(0, 319, 9), np.linspace(0, 255, 7)), -1).reshape(-1, 2)
    for seed in range(5):  # 48 pairs (a 6 x 8 target's corners) located to 0.2 px in the RGB image
        t, r = _pairs(48, noise=0.2, seed=seed)
        fit = estimate_homography(t, r)
        err = np.linalg.norm(apply_homography_to_points(fit.h, grid) - apply_homography_to_points(TRUE_H, grid), axis=1)
        assert err.max() < 0.5, (seed, err.max())  # over the whole thermal image, not only at the pairs
        assert 0.1 < fit.rms < 0.5 and len(fit.errors) == 48
    exact = estimate_homography(*_pairs(4, noise=0.0))
    assert np.allclose(exact.h, TRUE_H / TRUE_H[2, 2], rtol=1e-6, atol=1e-8) and exact.max < 1e-6


def test_degenerate_pairs_are_refused() -> None:
    t, r = _pairs(4, 0.0)
    with pytest.raises(ValueError, match="at least 4"):
        estimate_homography(t[:3], r[:3])
    line = np.c_[np.arange(5.0), np.arange(5.0)]
    with pytest.raises(ValueError, match="collinear"):
        estimate_homography(line, line * 2)
    with pytest.raises(ValueError, match="non-finite"):
        estimate_homography(np.r_[t, [[np.nan, 1]]], np.r_[r, [[1, 1]]])


def test_offset_is_the_special_case_of_the_homography() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    thermal = rng.integers(0, 2 ** 16, (24, 32), dtype=np.uint16)
    for offset in ((0, 0), (3, -2), (-7, 5)):
        _, ref = prepare_inputs(rgb, thermal, ThermalNorm(), offset)
        h = offset_homography(*offset) @ resize_homography((24, 32), (48, 64))
        _, got = prepare_inputs(rgb, thermal, ThermalNorm(), (0, 0), h)
        assert got.shape == ref.shape and float((got - ref).abs().max()) < 1e-5, offset
        _, both = prepare_inputs(rgb, thermal, ThermalNorm(), offset, resize_homography((24, 32), (48, 64)))
        assert float((both - ref).abs().max()) < 1e-5  # the offset moves the registered image further


def _warp_cases():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    h = check_homography([[1.3, 0.1, -2], [0.05, 1.25, 3], [1e-3, 0, 1]])
    for thermal in (rng.integers(0, 256, (30, 44), dtype=np.uint8), rng.normal(300, 5, (20, 28)).astype(np.float32)):
        yield rgb, thermal, h


def test_warp_samples_thermal_at_the_inverse_homography() -> None:
    """Each RGB pixel holds the bilinear sample of thermal at H^-1 (pixel - offset), or 0 where that is outside."""
    for rgb, thermal, h in _warp_cases():
        _, got = prepare_inputs(rgb, thermal, ThermalNorm(), (1, 2), h)
        assert (got == 0).any() and (got > 0).any()  # part of the frame sees no thermal pixel
        _, flat = prepare_inputs(None, thermal, ThermalNorm())  # normalised at its own size, no warp
        src = flat[0].double().numpy()
        inv = np.linalg.inv(h)
        for y, x in ((10, 12), (25, 30), (33, 47), (0, 0)):
            sx, sy, sw = inv @ [x - 1, y - 2, 1]
            sx, sy = sx / sw, sy / sw
            th, tw = src.shape
            if not (-0.5 <= sx <= tw - 0.5 and -0.5 <= sy <= th - 0.5):
                assert float(got[0, y, x]) == 0.0
                continue
            cx, cy = min(max(sx, 0), tw - 1), min(max(sy, 0), th - 1)  # edges held within half a pixel
            x0, y0 = min(int(cx), tw - 2), min(int(cy), th - 2)
            fx, fy = cx - x0, cy - y0
            expect = ((1 - fy) * ((1 - fx) * src[y0, x0] + fx * src[y0, x0 + 1])
                      + fy * ((1 - fx) * src[y0 + 1, x0] + fx * src[y0 + 1, x0 + 1]))
            assert abs(float(got[0, y, x]) - expect) < 1e-4, (y, x)


@pytest.mark.gpu
def test_cuda_and_cpu_warp_agree() -> None:
    for rgb, thermal, h in _warp_cases():
        _, cpu = prepare_on_device(rgb, thermal, ThermalNorm(), (1, 2), torch.device("cpu"), homography=h)
        _, dev = prepare_on_device(rgb, thermal, ThermalNorm(), (1, 2), torch.device("cuda"), homography=h)
        assert torch.allclose(cpu, dev.cpu(), atol=1e-6)
        assert (cpu == 0).any() and (cpu > 0).any()


def test_engine_labels_for_a_warped_thermal_frame_registered_back(varied_checkpoint: Path) -> None:
    from _support.varied_model import assert_varied
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine

    ckpt = varied_checkpoint
    rng = np.random.default_rng(3)
    rgb = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (128, 96), interpolation=cv2.INTER_LINEAR)
    thermal = cv2.resize(rng.integers(0, 256, (12, 16), dtype=np.uint8), (128, 96), interpolation=cv2.INTER_LINEAR)
    plain = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    expected = plain.predict(rgb, thermal).labels
    assert_varied(expected)
    # the thermal camera sees the scene moved by (9, -4) px in a larger image: registered back, labels are identical
    shifted = np.zeros((110, 150), np.uint8)
    shifted[10:106, 0:128] = thermal[:, :]
    shifted = np.roll(shifted, 9, axis=1)
    back = offset_homography(-9, -10)
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0,
                                                   thermal_homography=tuple(back.reshape(-1))))
    assert np.array_equal(engine.predict(rgb, shifted).labels, expected)
    # a projective view of it, registered back by the inverse homography: the same labels up to resampling
    warp = np.array([[0.9, 0.05, 6.0], [-0.04, 0.92, 4.0], [1e-4, 5e-5, 1.0]])
    seen = cv2.warpPerspective(thermal, warp, (140, 110), flags=cv2.INTER_LINEAR)
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0,
                                                   thermal_homography=tuple(np.linalg.inv(warp).reshape(-1))))
    got = engine.predict(rgb, seen).labels
    assert (got == expected)[4:-4, 4:-4].mean() > 0.97


def test_yaml_round_trip_and_bad_files(tmp_path: Path) -> None:
    t, r = _pairs(6, 0.2)
    f = tmp_path / "pairs.yaml"
    f.write_text("pairs:\n" + "".join(f"  - {{rgb: [{a}, {b}], thermal: [{c}, {d}]}}\n"
                                      for (a, b), (c, d) in zip(r, t)))
    tt, rr = read_point_pairs(f)
    assert np.allclose(tt, t) and np.allclose(rr, r)
    fit = estimate_homography(tt, rr)
    out = tmp_path / "h.yaml"
    out.write_text(homography_yaml(fit.h, fit, str(f)))
    assert np.allclose(read_homography(out), fit.h, rtol=1e-8)
    for text, why in (("pairs: 3", "expected a mapping"), ("pairs:\n  - {rgb: [1, 2]}", "pair 1 must be"),
                      ("[", "not valid YAML"), ("pairs:\n  - {rgb: [1, 2], thermal: [a, 2]}", "pair 1 must be")):
        f.write_text(text)
        with pytest.raises(ValueError, match=why):
            read_point_pairs(f)
    out.write_text("/**:\n  ros__parameters:\n    thermal_offset_x: 2\n")
    with pytest.raises(ValueError, match="sets no thermal_homography"):
        read_homography(out)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_point_pairs(tmp_path / "none.yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_point_pair_files_parse_or_fail_with_a_value_error(tmp_path_factory, data: bytes) -> None:
    f = tmp_path_factory.mktemp("fuzz") / "p.yaml"
    f.write_bytes(data)
    try:
        t, r = read_point_pairs(f)
    except ValueError:
        return
    assert t.shape == r.shape and t.shape[1] == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=12))
def test_any_nine_numbers_are_a_homography_or_a_named_error(values: list[float]) -> None:
    try:
        h = check_homography(values)
    except ValueError as exc:
        assert "homography" in str(exc)
        return
    assert h is None or (h.shape == (3, 3) and h[2, 2] == 1.0 and np.isfinite(h).all())
