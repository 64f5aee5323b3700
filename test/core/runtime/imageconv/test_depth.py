"""compressed_depth_image_transport's payload: the 12-byte ConfigHeader against a brute-force reading of its
documented layout (int32 format, two float32 quantisation parameters, little-endian), and the 32FC1
inverse-depth decoding against the codec's per-pixel loop."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import compressed_message, depth_config, encode
from rgbt_seg_core.runtime.imageconv import ImageFormatError, compressed_size, thermal_from_compressed
from rgbt_seg_core.runtime.imageconv.depth import DepthHeader, inverse_depth_to_float, split_depth_header


def brute_int32(b: bytes) -> int:
    value = sum(byte << (8 * i) for i, byte in enumerate(b))
    return value - (1 << 32) if value >= 1 << 31 else value


def brute_float32(b: bytes) -> float:
    bits = sum(byte << (8 * i) for i, byte in enumerate(b))
    sign = -1.0 if bits >> 31 else 1.0
    exponent, mantissa = (bits >> 23) & 0xFF, bits & ((1 << 23) - 1)
    if exponent == 255:
        return sign * math.inf if mantissa == 0 else math.nan
    if exponent == 0:
        return sign * mantissa * 2.0 ** -149
    return sign * (1 + mantissa / 2**23) * 2.0 ** (exponent - 127)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=13, max_size=40))
def test_config_header_equals_a_brute_force_reading(data: bytes) -> None:
    header, rest = split_depth_header(data)
    assert header.format == brute_int32(data[0:4])
    assert same(header.quant_a, brute_float32(data[4:8])) and same(header.quant_b, brute_float32(data[8:12]))
    assert rest == data[12:]


@pytest.mark.parametrize("size", [0, 5, 12])
def test_a_payload_with_nothing_after_the_header_is_refused(size: int) -> None:
    with pytest.raises(ImageFormatError, match="has no image after its 12-byte header"):
        split_depth_header(b"\0" * size)


def codec_decode(q: np.ndarray, a: float, b: float) -> np.ndarray:
    """The codec's loop: depth = A / ((float) q - B) where q != 0, else NaN; all in float32."""
    out = np.empty(q.shape, np.float32)
    fa, fb = np.float32(a), np.float32(b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for idx, v in np.ndenumerate(q):
            out[idx] = fa / (np.float32(v) - fb) if v else np.float32(np.nan)
    return out


def codec_encode(depth: np.ndarray, depth_max: float, quantization: float) -> tuple[np.ndarray, float, float]:
    """The codec's quantisation (float32, truncated to unsigned short), for realistic payloads."""
    z0, dmax = np.float32(quantization), np.float32(depth_max)
    a = z0 * (z0 + np.float32(1))
    b = np.float32(1) - a / dmax
    q = np.zeros(depth.shape, np.uint16)
    for idx, d in np.ndenumerate(depth):
        if d < dmax:
            q[idx] = np.uint16(a / np.float32(d) + b)
    return q, float(a), float(b)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), seed=st.integers(0, 2**16),
       a=st.floats(-1e6, 1e6, width=32), b=st.floats(-1e5, 1e5, width=32))
def test_inverse_depth_equals_the_codec_loop(h: int, w: int, seed: int, a: float, b: float) -> None:
    q = np.random.default_rng(seed).integers(0, 65536, (h, w)).astype(np.uint16)
    q.flat[0] = 0
    np.testing.assert_array_equal(inverse_depth_to_float(q, DepthHeader(0, a, b)), codec_decode(q, a, b))


def test_a_32fc1_compressed_depth_frame_decodes_as_the_codec_does() -> None:
    depth = np.random.default_rng(1).uniform(0.3, 12.0, (6, 9)).astype(np.float32)
    q, a, b = codec_encode(depth, depth_max=10.0, quantization=100.0)
    msg = compressed_message(depth_config(0, a, b) + encode(q, ".png"), "32FC1; compressedDepth png")
    assert compressed_size(msg) == (6, 9)
    out = thermal_from_compressed(msg)
    np.testing.assert_array_equal(out, codec_decode(q, a, b))
    near = depth < 10.0
    assert np.all(np.isnan(out[~near])) and np.allclose(out[near], depth[near], rtol=0.05)


@pytest.mark.parametrize("fmt", ["16UC1; compressedDepth", "16UC1; compressedDepth png", "mono16; compressedDepth"])
def test_16_bit_compressed_depth_is_the_pngs_samples(fmt: str) -> None:
    t = np.random.default_rng(2).integers(0, 65536, (5, 7)).astype(np.uint16)
    garbage = depth_config(0, float("nan"), 3e38)  # the codec leaves the floats unset for 16-bit images
    out = thermal_from_compressed(compressed_message(garbage + encode(t, ".png"), fmt))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, t)


def test_rvl_and_colour_payloads_are_refused() -> None:
    t = encode(np.zeros((4, 4), np.uint16), ".png")
    with pytest.raises(ImageFormatError, match="compressedDepth rvl is not supported"):
        thermal_from_compressed(compressed_message(depth_config() + t, "16UC1; compressedDepth rvl"))
    with pytest.raises(ImageFormatError, match="must be a 16-bit grey PNG"):
        rgb = encode(np.zeros((4, 4, 3), np.uint16), ".png")
        thermal_from_compressed(compressed_message(depth_config() + rgb, "32FC1; compressedDepth"))
    with pytest.raises(ImageFormatError, match="neither PNG nor JPEG"):
        thermal_from_compressed(compressed_message(t, "16UC1; compressedDepth"))  # no ConfigHeader in front
    assert cv2.imdecode(np.frombuffer(t, np.uint8), cv2.IMREAD_UNCHANGED).shape == (4, 4)
