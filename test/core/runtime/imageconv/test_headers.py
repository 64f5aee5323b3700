"""Sizes from PNG IHDR and JPEG SOF headers, against what cv2.imdecode produces; oversized declarations are
refused before the decoder runs (and so before it allocates)."""

from __future__ import annotations

import resource
import struct
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import compressed_message, encode
from rgbt_seg_core.runtime.imageconv import (
    ImageFormatError,
    compressed_size,
    rgb_from_compressed,
    thermal_from_compressed,
)
from rgbt_seg_core.runtime.imageconv import compressed as compressed_module
from rgbt_seg_core.runtime.imageconv.headers import read_header


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR (valid, checksummed) declares width x height grey 8-bit, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start of marker, end of segment) up to the first SOS, read independently of the package."""
    out, pos = [], 2
    while True:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        out.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            return out
        pos += 2 + length


def images(draw: st.DrawFn, codec: str) -> tuple[np.ndarray, bytes]:
    h, w = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    ch = draw(st.sampled_from([1, 3, 4] if codec == "png" else [1, 3]))
    dtype = draw(st.sampled_from([np.uint8, np.uint16])) if codec == "png" else np.uint8
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arr = rng.integers(0, np.iinfo(dtype).max, (h, w, ch) if ch > 1 else (h, w), endpoint=True).astype(dtype)
    if codec == "png":
        return arr, encode(arr, ".png", cv2.IMWRITE_PNG_COMPRESSION, draw(st.integers(0, 9)))
    params = [cv2.IMWRITE_JPEG_QUALITY, draw(st.integers(5, 100)), cv2.IMWRITE_JPEG_PROGRESSIVE,
              int(draw(st.booleans())), cv2.IMWRITE_JPEG_RST_INTERVAL, draw(st.integers(0, 3))]
    return arr, encode(arr, ".jpg", *params)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), codec=st.sampled_from(["png", "jpeg"]))
def test_header_size_equals_the_decoded_size(data, codec: str) -> None:
    arr, payload = images(data.draw, codec)
    header = read_header(payload)
    decoded = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (header.codec, header.height, header.width) == (codec, *decoded.shape[:2]) == (codec, *arr.shape[:2])
    assert header.channels == (1 if decoded.ndim == 2 else decoded.shape[2])
    assert compressed_size(compressed_message(payload, codec)) == arr.shape[:2]


def test_a_png_declaring_100000_squared_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = png_declaring(100_000, 100_000)
    msg = compressed_message(payload, "mono8; png compressed ")
    assert compressed_size(msg) == (100_000, 100_000)
    calls: list[int] = []
    real = cv2.imdecode
    monkeypatch.setattr(compressed_module.cv2, "imdecode", lambda *a: calls.append(1) or real(*a))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, the process's peak
    tracemalloc.start()
    t0 = time.perf_counter()
    for decode in (rgb_from_compressed, thermal_from_compressed):
        with pytest.raises(ImageFormatError, match="100000x100000 = 10000000000 pixels is above max_pixels"):
            decode(msg)  # the default bound; the node passes its own max_pixels
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not calls and elapsed < 0.5 and peak < 1 << 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024


def test_a_jpeg_whose_sof_declares_a_huge_size_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = bytearray(encode(np.zeros((8, 8, 3), np.uint8), ".jpg"))
    sof = next(s for m, s, _ in jpeg_segments(bytes(payload)) if m == 0xC0)
    payload[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    monkeypatch.setattr(compressed_module.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(ImageFormatError, match="60000x60000 = 3600000000 pixels is above max_pixels=307200"):
        rgb_from_compressed(compressed_message(bytes(payload), "jpeg"), 640 * 480)


def test_a_decoded_size_other_than_the_headers_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = encode(np.zeros((8, 6), np.uint8), ".png")
    monkeypatch.setattr(compressed_module.cv2, "imdecode", lambda *a: np.zeros((6, 8), np.uint8))
    with pytest.raises(ImageFormatError, match="png decoded to 8x6, but its header declares 6x8"):
        thermal_from_compressed(compressed_message(payload, "png"))


def test_broken_headers_are_refused() -> None:
    jpeg = encode(np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8), ".jpg")
    segments = jpeg_segments(jpeg)
    scan = segments[-1][2]
    _, sof_start, sof_end = next(s for s in segments if s[0] == 0xC0)
    no_sof = jpeg[:sof_start] + jpeg[sof_end:]
    png = png_declaring(5, 5)
    bad_crc = png[:30] + bytes([png[30] ^ 1]) + png[31:]
    zero = png_declaring(5, 5)[:16] + struct.pack(">II", 0, 5) + png[24:]
    cases = {
        no_sof: "no frame header \\(SOF\\) before its first scan",
        jpeg[:(scan + len(jpeg)) // 2]: "no end-of-image marker",
        jpeg[:-2]: "no end-of-image marker",
        jpeg[:sof_start + 3]: "ends inside a segment length",
        jpeg[:sof_start + 6]: "runs past the end",
        bad_crc: "IHDR checksum does not match",
        zero: "IHDR checksum|impossible size",
        png[:20]: "too short",
        b"GIF89a....": "neither PNG nor JPEG",
        b"": "neither PNG nor JPEG",
    }
    for payload, reason in cases.items():
        with pytest.raises(ImageFormatError, match=reason):
            read_header(payload)
