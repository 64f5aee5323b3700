"""CompressedImage as image_transport's compressed plugin writes it: format strings, channel order, 8/16 bit,
grey and Bayer payloads, and refusals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from _support.image_messages import compressed_message, encode
from rgbt_seg_core.runtime.imageconv import (
    CompressedFormat,
    ImageFormatError,
    decode_image,
    parse_format,
    rgb_from_compressed,
    thermal_from_compressed,
)

RNG = np.random.default_rng(0)
RGB = cv2.GaussianBlur(RNG.integers(0, 256, (24, 33, 3), dtype=np.uint8), (5, 5), 0)  # odd width on purpose
BGR = np.ascontiguousarray(RGB[:, :, ::-1])


@pytest.mark.parametrize("fmt, parsed", [
    ("jpeg", CompressedFormat("jpeg")),
    ("png", CompressedFormat("png")),
    ("rgb8; jpeg compressed bgr8", CompressedFormat("jpeg", "rgb8", compressed_bgr=True)),
    ("bgr8; png compressed bgr8", CompressedFormat("png", "bgr8", compressed_bgr=True)),
    ("rgb16; png compressed bgr16", CompressedFormat("png", "rgb16", compressed_bgr=True)),
    ("mono16; png compressed ", CompressedFormat("png", "mono16")),
    ("mono8; jpeg compressed mono8", CompressedFormat("jpeg", "mono8")),
    ("bayer_rggb8; png compressed ", CompressedFormat("png", "bayer_rggb8")),
    ("16UC1; compressedDepth", CompressedFormat("png", "16UC1", depth=True)),
    ("32FC1; compressedDepth png", CompressedFormat("png", "32FC1", depth=True)),
])
def test_image_transport_format_strings(fmt: str, parsed: CompressedFormat) -> None:
    assert parse_format(fmt) == parsed


@pytest.mark.parametrize("fmt, reason", [
    ("rgb8; tiff compressed ", "only jpeg and png"),
    ("16UC1; compressedDepth rvl", "compressedDepth rvl is not supported"),
    ("tiff", "not jpeg, png"),
    ("", "not jpeg, png"),
    ("nv21; jpeg compressed bgr8", "encoding 'nv21' is not one this package converts"),
    ("rgb8;", "only jpeg and png"),
])
def test_other_formats_are_refused(fmt: str, reason: str) -> None:
    with pytest.raises(ImageFormatError, match=reason):
        parse_format(fmt)


@pytest.mark.parametrize("fmt", ["png", "rgb8; png compressed bgr8", "bgr8; png compressed bgr8",
                                 "rgba8; png compressed bgr8"])
def test_colour_png_is_rgb(fmt: str) -> None:
    np.testing.assert_array_equal(rgb_from_compressed(compressed_message(encode(BGR, ".png"), fmt)), RGB)


def test_colour_jpeg_is_rgb() -> None:
    out = rgb_from_compressed(compressed_message(encode(BGR, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 98),
                                                 "rgb8; jpeg compressed bgr8"))
    err, swapped = (np.abs(out.astype(int) - ref).mean() for ref in (RGB, BGR))
    assert out.shape == RGB.shape and err < 8 and err < swapped / 3, (err, swapped)


def test_without_compressed_bgr_a_colour_payload_is_in_rgb_order() -> None:
    """The subscriber's rule: a stated colour encoding without "compressed bgr" was encoded from R, G, B memory."""
    out = rgb_from_compressed(compressed_message(encode(RGB, ".png"), "rgb8; png compressed rgb8"))
    np.testing.assert_array_equal(out, RGB)


def test_a_grey_jpeg_becomes_three_channels() -> None:
    grey = RGB[:, :, 1].copy()
    for fmt in ("jpeg", "mono8; jpeg compressed mono8"):
        out = rgb_from_compressed(compressed_message(encode(grey, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), fmt))
        assert out.shape == (*grey.shape, 3) and np.array_equal(out[..., 0], out[..., 2])
        assert np.abs(out[..., 0].astype(int) - grey).max() <= 2


def test_16_bit_colour_png_is_scaled_as_cv_bridge_does() -> None:
    bgr16 = RNG.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    out = rgb_from_compressed(compressed_message(encode(bgr16, ".png"), "rgb16; png compressed bgr16"))
    np.testing.assert_array_equal(out, np.round(bgr16[:, :, ::-1] / 257.0).astype(np.uint8))


def test_a_bayer_png_is_demosaiced_as_the_raw_image_would_be() -> None:
    mosaic = RNG.integers(0, 65536, (6, 9)).astype(np.uint16)
    out = rgb_from_compressed(compressed_message(encode(mosaic, ".png"), "bayer_gbrg16; png compressed "))
    expected = np.round(cv2.cvtColor(mosaic, cv2.COLOR_BayerGR2RGB) / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fmt", ["png", "mono8; png compressed ", "8UC1; png compressed "])
def test_8_bit_thermal_png(fmt: str) -> None:
    t = RNG.integers(0, 256, (9, 11)).astype(np.uint8)
    out = thermal_from_compressed(compressed_message(encode(t, ".png"), fmt))
    assert out.dtype == np.uint8 and np.array_equal(out, t)


@pytest.mark.parametrize("fmt", ["png", "mono16; png compressed ", "16UC1; png compressed "])
def test_16_bit_thermal_png(fmt: str) -> None:
    t = RNG.integers(0, 65536, (9, 11)).astype(np.uint16)
    out = thermal_from_compressed(compressed_message(encode(t, ".png"), fmt))
    assert out.dtype == np.uint16 and np.array_equal(out, t)


def test_signed_16_bit_thermal_travels_as_the_pngs_bits() -> None:
    t = RNG.integers(-32768, 32768, (4, 6)).astype(np.int16)
    out = thermal_from_compressed(compressed_message(encode(t.view(np.uint16), ".png"), "16SC1; png compressed "))
    assert out.dtype == np.int16 and np.array_equal(out, t)


def test_a_jpeg_of_a_16_bit_image_is_widened_as_the_subscriber_does() -> None:
    t8 = np.full((8, 8), 100, np.uint8)
    out = thermal_from_compressed(compressed_message(encode(t8, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100),
                                                     "mono16; jpeg compressed mono8"))
    assert out.dtype == np.uint16 and np.all(out == 100 * 256)


@pytest.mark.parametrize("payload, fmt, reason", [
    (encode(BGR, ".png"), "png", "has 3 channels; thermal must be one channel"),
    (encode(BGR, ".png"), "rgb8; png compressed bgr8", "compressed 'rgb8' images are not thermal"),
    (encode(RGB[:, :, 0].copy(), ".png"), "mono16; png compressed ", "declares mono16 but the png holds uint8"),
    (encode(RGB[:, :, 0].copy(), ".png"), "jpeg", "says jpeg, but the payload is a png"),
])
def test_payloads_that_are_not_thermal_are_refused(payload: bytes, fmt: str, reason: str) -> None:
    with pytest.raises(ImageFormatError, match=reason):
        thermal_from_compressed(compressed_message(payload, fmt))


def test_colour_refuses_depth_and_non_colour_encodings() -> None:
    with pytest.raises(ImageFormatError, match="compressedDepth carries depth"):
        rgb_from_compressed(compressed_message(b"", "16UC1; compressedDepth"))
    with pytest.raises(ImageFormatError, match="'32FC1' images are not colour"):
        rgb_from_compressed(compressed_message(encode(BGR, ".png"), "32FC1; png compressed "))


def test_max_pixels_applies_to_the_declared_size() -> None:
    msg = compressed_message(encode(BGR, ".png"), "png")
    assert rgb_from_compressed(msg, 24 * 33).shape == (24, 33, 3)
    with pytest.raises(ImageFormatError, match="33x24 = 792 pixels is above max_pixels=791"):
        rgb_from_compressed(msg, 24 * 33 - 1)


def test_decode_image_takes_any_payload() -> None:
    label = RNG.integers(0, 9, (5, 6)).astype(np.uint8)
    arr, enc = decode_image(compressed_message(encode(label, ".png"), "mono8; png compressed "))
    assert enc == "mono8" and np.array_equal(arr, label)
    arr, enc = decode_image(compressed_message(encode(BGR, ".png"), "bgr8; png compressed bgr8"))
    assert enc == "rgb8" and np.array_equal(arr, RGB)


def test_a_jpeg_of_a_16_bit_bayer_mosaic_is_demosaiced_at_8_bits() -> None:
    mosaic = np.full((8, 10), 77, np.uint8)
    out = rgb_from_compressed(compressed_message(encode(mosaic, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100),
                                                 "bayer_rggb16; jpeg compressed mono8"))
    assert out.shape == (8, 10, 3) and np.abs(out.astype(int) - 77).max() <= 1
