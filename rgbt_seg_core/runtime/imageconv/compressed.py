"""sensor_msgs/CompressedImage: what the format string says, where the PNG/JPEG is, and decoding it safely.

Format strings are those image_transport's plugins write: ``"<encoding>; jpeg compressed bgr8"``,
``"<encoding>; png compressed bgr16"``, ``"mono16; png compressed "`` (compressed); ``"16UC1; compressedDepth"``
or ``"16UC1; compressedDepth png"`` (compressedDepth); and the older bare ``"jpeg"`` / ``"png"``. TIFF and
compressedDepth's RVL are refused: TIFF's size cannot be read before decoding without parsing its IFDs, and RVL
is a sequential nibble code that has no vectorised decoder here.

Decoding follows the frame checks: the header's size is compared with ``max_pixels`` before ``cv2.imdecode``
runs, so the decoder never allocates more than that, and it only ever sees data that starts with a valid PNG or
JPEG header (so OpenCV's other decoders never see hostile bytes). Every failure is an :class:`ImageFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rgbt_seg_core.runtime.imageconv.depth import DepthHeader, split_depth_header
from rgbt_seg_core.runtime.imageconv.encodings import ENCODINGS, ImageFormatError, message_bytes
from rgbt_seg_core.runtime.imageconv.headers import ContainerHeader, read_header

__all__ = ["DEFAULT_MAX_PIXELS", "CompressedFormat", "Payload", "parse_format", "open_payload", "compressed_size",
           "decode_payload"]

DEFAULT_MAX_PIXELS = 8192 * 8192  # for callers without a max_pixels setting: still no unbounded allocation
_CODECS = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png"}


@dataclass(frozen=True)
class CompressedFormat:
    codec: str  # "jpeg" or "png": what the payload must be
    encoding: str | None = None  # the publisher's raw encoding, when the string states one
    depth: bool = False  # compressedDepth: a 12-byte ConfigHeader precedes the PNG
    compressed_bgr: bool = False  # "compressed bgr...": the plugin swapped colour to BGR before encoding


def _refuse(fmt: str, why: str) -> ImageFormatError:
    return ImageFormatError(f"compressed format {fmt!r}: {why}")


def parse_format(fmt: Any) -> CompressedFormat:
    """Parse a CompressedImage ``format`` string as image_transport's subscribers read it."""
    text = str(fmt).strip()
    if ";" not in text:
        codec = _CODECS.get(text.lower())
        if codec is None:
            raise _refuse(text, "not jpeg, png, '<encoding>; jpeg/png compressed ...' or '<encoding>; compressedDepth'")
        return CompressedFormat(codec)
    encoding, rest = (part.strip() for part in text.split(";", 1))
    if encoding and encoding not in ENCODINGS:
        raise _refuse(text, f"encoding {encoding!r} is not one this package converts")
    words = rest.split()
    if words[:1] == ["compressedDepth"]:
        if words[1:2] not in ([], ["png"]):
            raise _refuse(text, f"compressedDepth {words[1]} is not supported (only png)")
        return CompressedFormat("png", encoding or None, depth=True)
    codec = _CODECS.get(words[0].lower()) if words else None
    if codec is None:
        raise _refuse(text, "only jpeg and png are supported (tiff and other codecs are not)")
    return CompressedFormat(codec, encoding or None, compressed_bgr="compressed bgr" in rest)


@dataclass(frozen=True)
class Payload:
    format: CompressedFormat
    header: ContainerHeader
    data: bytes  # the PNG or JPEG itself
    depth: DepthHeader | None = None  # compressedDepth's ConfigHeader


def open_payload(msg: Any) -> Payload:
    """Parse the format, split off compressedDepth's header and read the PNG/JPEG header; nothing is decoded."""
    fmt = parse_format(msg.format)
    data = bytes(message_bytes(msg.data))
    depth = None
    if fmt.depth:
        depth, data = split_depth_header(data)
    header = read_header(data)
    if header.codec != fmt.codec:
        raise ImageFormatError(f"compressed format {str(msg.format).strip()!r} says {fmt.codec}, "
                               f"but the payload is a {header.codec}")
    if header.codec == "jpeg" and header.bits != 8:
        raise ImageFormatError(f"{header.bits}-bit JPEG is not supported (8-bit only)")
    return Payload(fmt, header, data, depth)


def compressed_size(msg: Any) -> tuple[int, int]:
    """(height, width) the PNG/JPEG header of a CompressedImage declares."""
    header = open_payload(msg).header
    return header.height, header.width


def decode_payload(payload: Payload, max_pixels: int) -> np.ndarray:
    """Decode as OpenCV's ``IMREAD_UNCHANGED`` does (colour as B, G, R; 8 or 16 bit; no EXIF rotation).

    Raises:
        ImageFormatError: a declared size above ``max_pixels`` (before decoding), a payload the decoder
            rejects, or a decoded size other than the header's.
    """
    h, w = payload.header.height, payload.header.width
    if h * w > max_pixels:
        raise ImageFormatError(f"{w}x{h} = {h * w} pixels is above max_pixels={max_pixels}")
    try:
        img = cv2.imdecode(np.frombuffer(payload.data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageFormatError(f"{payload.header.codec} could not be decoded ({str(exc).strip()[-120:]})") from exc
    if img is None:
        raise ImageFormatError(f"{payload.header.codec} could not be decoded (corrupt or truncated)")
    if img.shape[:2] != (h, w):
        raise ImageFormatError(f"{payload.header.codec} decoded to {img.shape[1]}x{img.shape[0]}, "
                               f"but its header declares {w}x{h}")
    return img
