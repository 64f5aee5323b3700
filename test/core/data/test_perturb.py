"""The robustness protocols (CIMNet §V) transform a known frame exactly as specified, repeatably, and combine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.data.perturb import PerturbationSet, parse_perturbation, shift_objects


def _frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    thermal = np.full((60, 80), 50, np.uint8)
    label = np.zeros((60, 80), np.uint8)
    label[10:20, 10:20] = 1  # a car
    thermal[10:20, 10:20] = 200
    label[35:50, 50:56] = 2  # a person
    thermal[35:50, 50:56] = 150
    return rgb, thermal, label


def test_rgb_failure_zeroes_rgb_only() -> None:
    rgb, thermal, label = _frame()
    r, t = PerturbationSet.parse("rgb-failure").apply(rgb, thermal, label, "f")
    assert not r.any() and np.array_equal(t, thermal)


def test_thermal_failure_is_a_strong_gaussian_blur() -> None:
    rgb, thermal, label = _frame()
    r, t = PerturbationSet.parse("thermal-failure:6").apply(rgb, thermal, label, "f")
    assert np.array_equal(r, rgb)
    assert np.array_equal(t, cv2.GaussianBlur(thermal, (0, 0), 6, 6, borderType=cv2.BORDER_REFLECT))
    assert t.std() < 0.6 * thermal.std()
    # sigma is given in RGB pixels: thermal at half size is blurred with half the sigma
    small = thermal[::2, ::2].copy()
    _, ts = PerturbationSet.parse("thermal-failure:6").apply(rgb, small, label, "f")
    assert np.array_equal(ts, cv2.GaussianBlur(small, (0, 0), 3, 3, borderType=cv2.BORDER_REFLECT))


def test_static_misalignment_moves_thermal() -> None:
    rgb, thermal, label = _frame()
    _, t = PerturbationSet.parse("misalign:3").apply(rgb, thermal, label, "f")
    assert np.array_equal(t[:, 3:], thermal[:, :-3]) and not t[:, :3].any()
    _, t = PerturbationSet.parse("misalign:-2,4").apply(rgb, thermal, label, "f")
    assert np.array_equal(t[4:, :-2], thermal[:-4, 2:]) and not t[:4].any() and not t[:, -2:].any()


def test_dynamic_misalignment_moves_each_object_by_its_own_shift() -> None:
    rgb, thermal, label = _frame()
    p = PerturbationSet.parse("misalign-dynamic:5")
    _, t = p.apply(rgb, thermal, label, "frame-1")
    _, again = p.apply(rgb, thermal, label, "frame-1")
    assert np.array_equal(t, again)  # repeatable
    # the same draws, made by hand: objects largest first, one (dx, dy) each from the seeded generator
    import hashlib

    seed = int.from_bytes(hashlib.sha256(b"frame-1|misalign-dynamic:5").digest()[:8], "little")
    rng = np.random.default_rng(seed)
    car_shift = rng.integers(-5, 6, 2)
    person_shift = rng.integers(-5, 6, 2)
    ys, xs = np.nonzero(t == 200)
    assert (ys.min() - 10, xs.min() - 10) == (car_shift[1], car_shift[0])
    ys, xs = np.nonzero(t == 150)
    assert (ys.min() - 35, xs.min() - 50) == (person_shift[1], person_shift[0])
    far = np.ones_like(label, bool)
    far[3:27, 3:27] = False
    far[28:57, 43:63] = False
    assert np.array_equal(t[far], thermal[far])  # the background away from objects is untouched
    _, other = p.apply(rgb, thermal, label, "frame-2")
    assert not np.array_equal(other, t)
    with pytest.raises(ValueError, match="needs the frame's labels"):
        p.apply(rgb, thermal, None, "x")


def test_combinations_apply_in_order_and_bad_specs_are_named() -> None:
    rgb, thermal, label = _frame()
    combo = PerturbationSet.parse("misalign:2+rgb-failure")
    assert combo.name == "misalign:2+rgb-failure"
    r, t = combo.apply(rgb, thermal, label, "f")
    assert not r.any() and np.array_equal(t[:, 2:], thermal[:, :-2])
    assert PerturbationSet.parse("clean").name == "clean" and not PerturbationSet.parse("")
    for bad in ("rgb-fail", "misalign", "misalign:x", "thermal-failure:0", "misalign-dynamic:-1"):
        with pytest.raises(ValueError, match="perturbation|sigma"):
            parse_perturbation(bad)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.sampled_from([np.uint8, np.uint16, np.float32]))
def test_object_shifts_keep_shape_type_and_value_range(seed: int, max_shift: int, dtype) -> None:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 4, (24, 32)).astype(np.uint8)
    label = cv2.medianBlur(label, 5)
    thermal = rng.integers(0, 255, (24, 32)).astype(dtype)
    out = shift_objects(thermal, label, max_shift, np.random.default_rng(seed))
    assert out.shape == thermal.shape and out.dtype == thermal.dtype
    assert out.min() >= thermal.min() and out.max() <= thermal.max()


@settings(max_examples=300, deadline=None)
@example("misalign-dynamic:99999999999999999999999")  # once an int64 overflow inside the shift generator
@example("misalign:99999999999999999999999,-5")
@given(st.one_of(st.text(max_size=40), st.from_regex(r"(misalign(-dynamic)?|thermal-failure|rgb-failure)"
                                                         r"(:-?[0-9]{1,25}(\.[0-9]{1,3})?(,-?[0-9]{1,25})?)?",
                                                         fullmatch=True)))
def test_any_setting_text_parses_or_is_refused_by_name(text: str) -> None:
    """Outside input (a CLI flag): a setting either parses and applies to a frame, or gives a ValueError."""
    try:
        setting = PerturbationSet.parse(text)
    except ValueError:
        return
    rgb, thermal, label = _frame()
    r, t = setting.apply(rgb, thermal, label, "f")
    assert r.shape == rgb.shape and t.shape == thermal.shape and t.dtype == thermal.dtype
