"""Colour encodings -> RGB uint8, against OpenCV's own conversions (cv_bridge's table, written out here), with
odd sizes, padded rows and big-endian 16-bit samples; plus checks of what the names mean, independent of OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import raw_message
from rgbt_seg_core.runtime.imageconv import RGB_ENCODINGS, ImageFormatError, rgb_from_image, to_rgb

# cv_bridge's getConversionCodes (ROS Bayer names are OpenCV's shifted by a row)
OPENCV_CODE = {
    "rgb8": None, "bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB, "rgb16": None, "bgr16": cv2.COLOR_BGR2RGB, "rgba16": cv2.COLOR_RGBA2RGB,
    "bgra16": cv2.COLOR_BGRA2RGB, "mono16": cv2.COLOR_GRAY2RGB,
    "bayer_rggb8": cv2.COLOR_BayerBG2RGB, "bayer_bggr8": cv2.COLOR_BayerRG2RGB,
    "bayer_gbrg8": cv2.COLOR_BayerGR2RGB, "bayer_grbg8": cv2.COLOR_BayerGB2RGB,
    "bayer_rggb16": cv2.COLOR_BayerBG2RGB, "bayer_bggr16": cv2.COLOR_BayerRG2RGB,
    "bayer_gbrg16": cv2.COLOR_BayerGR2RGB, "bayer_grbg16": cv2.COLOR_BayerGB2RGB,
    "yuv422": cv2.COLOR_YUV2RGB_UYVY, "uyvy": cv2.COLOR_YUV2RGB_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUY2, "yuyv": cv2.COLOR_YUV2RGB_YUY2,
}
YUV = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")


def channels(encoding: str) -> int:
    """Samples a pixel, from the names: mono and Bayer 1, YUV 4:2:2 2, rgb/bgr 3, rgba/bgra 4."""
    if encoding.startswith(("mono", "bayer")):
        return 1
    return 2 if encoding in YUV else len(encoding.rstrip("0123456789"))


def frame(rng: np.random.Generator, encoding: str, h: int, w: int) -> np.ndarray:
    ch, dtype = channels(encoding), np.uint16 if encoding.endswith("16") else np.uint8
    shape = (h, w) if ch == 1 else (h, w, ch)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def reference(arr: np.ndarray, encoding: str) -> np.ndarray:
    """cv_bridge's toCvCopy(msg, "rgb8"): colour conversion at the source depth, then convertTo(255 / 65535)."""
    code = OPENCV_CODE[encoding]
    out = arr if code is None else cv2.cvtColor(arr, code)
    if out.dtype == np.uint16:  # round(v * 255 / 65535) in exact integers
        out = ((out.astype(np.int64) * 510 + 65535) // 131070).astype(np.uint8)
    return out


def test_the_reference_covers_every_colour_encoding() -> None:
    assert set(OPENCV_CODE) == set(RGB_ENCODINGS)


@settings(max_examples=200, deadline=None)
@given(encoding=st.sampled_from(sorted(RGB_ENCODINGS)), h=st.integers(1, 12), half_w=st.integers(1, 8),
       odd=st.booleans(), padding=st.integers(0, 9), bigendian=st.booleans(), seed=st.integers(0, 2**16))
def test_every_encoding_equals_opencvs_conversion(encoding, h, half_w, odd, padding, bigendian, seed) -> None:
    w = 2 * half_w + (odd and encoding not in YUV)  # odd widths for all but YUV 4:2:2 (refused below)
    arr = frame(np.random.default_rng(seed), encoding, h, w)
    out = rgb_from_image(raw_message(arr, encoding, padding=padding, bigendian=bigendian))
    assert out.dtype == np.uint8 and out.shape == (h, w, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, reference(arr, encoding))


def test_sixteen_bit_is_scaled_as_cv_bridge_does() -> None:
    v = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    out = to_rgb(v, "mono16")[:, :, 0].astype(np.int64)
    assert np.array_equal(out, np.round(v / 257.0).astype(np.int64))  # 255/65535 = 1/257; never a tie
    assert out[0, 0] == 0 and out[-1, -1] == 255


@pytest.mark.skipif(not hasattr(cv2, "COLOR_BayerRGGB2RGB"), reason="OpenCV without the pattern-named codes")
def test_bayer_codes_equal_opencvs_pattern_named_codes() -> None:
    for pattern in ("rggb", "bggr", "gbrg", "grbg"):
        assert OPENCV_CODE[f"bayer_{pattern}8"] == getattr(cv2, f"COLOR_Bayer{pattern.upper()}2RGB")


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_a_mosaic_of_one_colour_demosaics_to_that_colour(pattern: str, bits: int) -> None:
    """The pattern names the top-left 2 x 2 cell row by row (ROS's meaning), whatever OpenCV calls it."""
    scale = 257 if bits == 16 else 1
    value = {"r": 200 * scale, "g": 120 * scale, "b": 40 * scale}
    cell = np.array([[value[pattern[0]], value[pattern[1]]], [value[pattern[2]], value[pattern[3]]]])
    mosaic = np.tile(cell, (6, 7)).astype(np.uint16 if bits == 16 else np.uint8)
    out = rgb_from_image(raw_message(mosaic, f"bayer_{pattern}{bits}"))
    inner = out[2:-2, 2:-2].reshape(-1, 3)
    assert np.all(np.abs(inner.astype(int) - [200, 120, 40]) <= 1), inner[:3]


def test_odd_sized_bayer_frames_convert() -> None:
    for h, w in ((1, 1), (3, 1), (1, 5), (5, 7)):
        assert rgb_from_image(raw_message(np.full((h, w), 9, np.uint8), "bayer_grbg8")).shape == (h, w, 3)


def test_uyvy_and_yuyv_orders_of_the_same_pixels_agree() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(16, 236, (4, 6)).astype(np.uint8)
    u, v = (rng.integers(16, 241, (4, 3)).astype(np.uint8) for _ in range(2))
    chroma = np.stack([u, v], axis=2).reshape(4, 6)  # U0 V0 U1 V1 ...: one chroma pair per two pixels
    uyvy = np.stack([chroma, y], axis=2)  # U Y0 V Y1
    yuyv = np.stack([y, chroma], axis=2)  # Y0 U Y1 V
    a = rgb_from_image(raw_message(uyvy, "uyvy"))
    np.testing.assert_array_equal(a, rgb_from_image(raw_message(yuyv, "yuv422_yuy2")))
    np.testing.assert_array_equal(a, rgb_from_image(raw_message(uyvy, "yuv422")))
    grey = np.stack([np.full((2, 4), 128, np.uint8), np.tile([[50, 200]], (2, 2)).astype(np.uint8)], axis=2)
    g = rgb_from_image(raw_message(grey, "uyvy"))
    assert np.all(g[..., 0] == g[..., 1]) and np.all(g[..., 1] == g[..., 2]) and g[0, 1, 0] > g[0, 0, 0]


@pytest.mark.parametrize("encoding", YUV)
def test_yuv422_with_an_odd_width_is_refused(encoding: str) -> None:
    with pytest.raises(ImageFormatError, match="width 5 is odd"):
        rgb_from_image(raw_message(np.zeros((2, 5, 2), np.uint8), encoding))


@pytest.mark.parametrize("encoding", ["32FC1", "16SC1", "8UC1", "nv21", ""])
def test_encodings_that_are_not_colour_are_refused(encoding: str) -> None:
    with pytest.raises(ImageFormatError, match="not supported"):
        rgb_from_image(raw_message(np.zeros((2, 4), np.float32), encoding))
