"""The fast colour and overlay images against the NumPy code they replaced, on random label maps and palettes; the
torch (GPU-side) versions against both; the packed single download."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rgbt_seg_core.inference.engine import download_packed, pack_bytes, unpack_bytes
from rgbt_seg_core.inference.render import colorize, colorize_tensor, grey_to_rgb, overlay, overlay_tensor, palette_lut


def reference_colorize(label: np.ndarray, palette) -> np.ndarray:
    """The NumPy colouring the node used before (a fancy-indexed table), kept as the reference."""
    lut = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette, np.uint8)[:256]
    lut[: len(pal)] = pal
    return lut[label.astype(np.uint8)]


def reference_overlay(rgb: np.ndarray, label: np.ndarray, palette, alpha: float) -> np.ndarray:
    col = reference_colorize(label, palette).astype(np.float32)
    out = rgb.astype(np.float32)
    fg = (label != 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * out + alpha * col, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))
palettes = st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=30)


@st.composite
def frames(draw):
    h, w = draw(shapes)
    label = draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, 40)))  # ids past the palette too
    rgb = draw(hnp.arrays(np.uint8, (h, w, 3)))
    return label, rgb, draw(palettes), draw(st.floats(0.0, 1.0))


@settings(max_examples=300, deadline=None)
@given(frames())
def test_fast_images_equal_the_reference(frame) -> None:
    label, rgb, palette, alpha = frame
    want_color = reference_colorize(label, palette)
    np.testing.assert_array_equal(colorize(label, palette), want_color)  # exactly
    np.testing.assert_array_equal(colorize(label, palette_lut(palette)), want_color)
    want = reference_overlay(rgb, label, palette, alpha)
    got = overlay(rgb, label, palette, alpha)
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    assert int(np.abs(got.astype(int) - want.astype(int)).max(initial=0)) <= 1  # the blend within one grey level
    np.testing.assert_array_equal(got[label == 0], rgb[label == 0])  # background untouched
    # the torch versions (what runs on the GPU) give the reference's blend exactly: the same float arithmetic
    lut = torch.from_numpy(palette_lut(palette))
    lab_t = torch.from_numpy(label)
    col_t = colorize_tensor(lab_t, lut)
    np.testing.assert_array_equal(col_t.numpy(), want_color)
    np.testing.assert_array_equal(overlay_tensor(torch.from_numpy(rgb), lab_t, col_t, alpha).numpy(), want)


def test_wider_label_types_and_non_contiguous_images_are_taken() -> None:
    rng = np.random.default_rng(0)
    palette = [[10, 20, 30], [200, 100, 0], [0, 0, 255]]
    label = rng.integers(0, 3, (30, 40)).astype(np.int64)
    rgb = rng.integers(0, 256, (30, 80, 3), dtype=np.uint8)[:, ::2]  # a strided view
    np.testing.assert_array_equal(colorize(label, palette), reference_colorize(label, palette))
    diff = overlay(rgb, label, palette, 0.4).astype(int) - reference_overlay(rgb, label, palette, 0.4)
    assert np.abs(diff).max() <= 1
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    np.testing.assert_array_equal(grey_to_rgb(grey), np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("alpha", [-0.01, 1.5, float("nan")])
def test_alpha_outside_zero_one_is_refused(alpha: float) -> None:
    z = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="overlay alpha must lie in"):
        overlay(np.zeros((2, 2, 3), np.uint8), z, [[0, 0, 0]], alpha)
    with pytest.raises(ValueError, match="overlay alpha must lie in"):
        overlay_tensor(torch.zeros(2, 2, 3, dtype=torch.uint8), torch.from_numpy(z),
                       torch.zeros(2, 2, 3, dtype=torch.uint8), alpha)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(st.sampled_from([torch.uint8, torch.float32, torch.int64]),
                                               st.lists(st.integers(0, 5), min_size=0, max_size=3))), max_size=6))
def test_packed_bytes_come_back_as_the_tensors(spec) -> None:
    g = torch.Generator().manual_seed(0)
    parts = [None if s is None else (torch.rand(tuple(s[1]), generator=g) * 200).to(s[0]) for s in spec]
    present = [p for p in parts if p is not None]
    if not present:
        assert download_packed(parts) == parts
        return
    host = pack_bytes(parts).numpy()
    assert host.dtype == np.uint8 and host.size == sum(p.numel() * p.element_size() for p in present)
    for got, want in zip(unpack_bytes(host, parts), parts):
        if want is None:
            assert got is None
        else:
            assert got.dtype == want.numpy().dtype and got.shape == tuple(want.shape)
            assert got.flags.aligned  # widest types first: a float view never starts mid-word
            np.testing.assert_array_equal(got, want.numpy())
    with pytest.raises(ValueError, match="packed buffer holds"):
        unpack_bytes(np.zeros(host.size + 1, np.uint8), parts)
    # host tensors are handed back without packing
    for got, want in zip(download_packed(parts), parts):
        assert (got is None) == (want is None)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 9), st.integers(1, 9), st.integers(0, 3))
def test_class_ids_are_argmax_ties_to_the_first_class(c: int, h: int, w: int, levels: int) -> None:
    from rgbt_seg_core.inference.engine import class_ids

    g = torch.Generator().manual_seed(c * 100 + h * 10 + w)
    logits = torch.randint(0, levels + 1, (2, c, h, w), generator=g).float()  # few levels: many ties
    got = class_ids(logits)
    assert got.dtype == torch.uint8 and got.shape == (2, h, w)
    want = torch.from_numpy(np.argmax(logits.numpy(), axis=1))  # NumPy's argmax: the first maximum
    assert torch.equal(got.long(), want)


def test_a_palette_that_is_not_rgb_colours_is_refused() -> None:
    assert not palette_lut([]).any()  # no colours: all black
    for bad in ([[1, 2, 3, 4]], [1, 2, 3], [[0, 0, 300]], [[0.5, 0, 0]], [[-1, 0, 0]]):
        with pytest.raises(ValueError, match="a palette is a list of \\[r, g, b\\] colours of 0..255"):
            palette_lut(bad)
