"""Hostile compressed frames: random bytes, cut or bit-flipped real PNG/JPEG/compressedDepth payloads, wrong or
odd format strings and data types. Decoding returns a well-formed array or raises ImageFormatError, never
anything else, and never returns (so never allocated) more than max_pixels."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support.image_messages import depth_config, encode, header
from rgbt_seg_core.runtime.imageconv import (
    ImageFormatError,
    compressed_size,
    decode_image,
    rgb_from_compressed,
    thermal_from_compressed,
)

RNG = np.random.default_rng(5)
_RGB = cv2.GaussianBlur(RNG.integers(0, 256, (20, 27, 3), dtype=np.uint8), (3, 3), 0)
_T16 = RNG.integers(0, 65536, (15, 13)).astype(np.uint16)
REAL = [  # (payload, the format image_transport would give it)
    (encode(_RGB, ".png"), "rgb8; png compressed bgr8"),
    (encode(_RGB, ".jpg"), "rgb8; jpeg compressed bgr8"),
    (encode(_RGB, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "jpeg"),
    (encode(_RGB[:, :, 0].copy(), ".jpg"), "mono8; jpeg compressed mono8"),
    (encode(_T16, ".png"), "mono16; png compressed "),
    (depth_config(0, 1.5, -2.0) + encode(_T16, ".png"), "16UC1; compressedDepth"),
    (depth_config(0, 10100.0, -9.0) + encode(_T16, ".png"), "32FC1; compressedDepth png"),
]
FORMATS = [fmt for _, fmt in REAL] + ["png", "jpeg", "jpg", "tiff", "", "bgr8; png compressed bgr16",
                                       "32FC1; compressedDepth", "16SC1; png compressed ", "rgb8;", ";;",
                                       "bayer_rggb8; jpeg compressed mono8", "yuv422; png compressed bgr8",
                                       "16UC1; compressedDepth rvl", "\x00\xff", "rgb8; jpeg compressed rgb8"]
ENTRY_POINTS = [rgb_from_compressed, thermal_from_compressed, lambda m, p: decode_image(m, p)[0],
                lambda m, p: compressed_size(m)]


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL))[0])
    for _ in range(draw(st.integers(0, 6))):  # bit flips
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(max_size=16))
    return bytes(data)


payloads = st.one_of(mangled(), st.binary(max_size=200), st.sampled_from([p for p, _ in REAL]),
                     st.builds(lambda p, junk: p[:12] + junk, st.sampled_from([p for p, _ in REAL]),
                               st.binary(max_size=64)))
data_fields = st.one_of(payloads, payloads.map(lambda b: np.frombuffer(b, np.uint8)), payloads.map(list),
                        st.just([1, 999]), st.none(), st.integers())
formats = st.one_of(st.sampled_from(FORMATS), st.text(max_size=30), st.none(), st.integers())


def check(out: np.ndarray, max_pixels: int) -> None:
    assert isinstance(out, np.ndarray) and out.ndim in (2, 3) and out.shape[0] * out.shape[1] <= max_pixels
    assert out.dtype in (np.uint8, np.uint16, np.int16, np.float32)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_fields, fmt=formats, max_pixels=st.sampled_from([1, 300, 4000, 10**8]),
       entry=st.sampled_from(range(len(ENTRY_POINTS))))
def test_hostile_compressed_frames_raise_only_image_format_errors(data, fmt, max_pixels: int, entry: int) -> None:
    msg = SimpleNamespace(header=header(), format=fmt, data=data)
    try:
        out = ENTRY_POINTS[entry](msg, max_pixels)
    except ImageFormatError:
        return
    if isinstance(out, tuple):  # compressed_size
        assert all(isinstance(v, int) and v > 0 for v in out)
    else:
        check(out, max_pixels)


def test_real_payloads_decode() -> None:
    """The seeds of the fuzz test are good frames, so mangling them explores the decoders past their headers."""
    for payload, fmt in REAL:
        decode = thermal_from_compressed if "mono16" in fmt or "Depth" in fmt else rgb_from_compressed
        check(decode(SimpleNamespace(header=header(), format=fmt, data=payload), 10**6), 10**6)
