"""Colour camera frames -> H x W x 3 uint8 RGB, with OpenCV's own conversions, as cv_bridge makes them.

The OpenCV code for each encoding is cv_bridge's (``getConversionCodes``). OpenCV names a Bayer pattern by the
second row's first two pixels, ROS by the first row's, so ROS ``bayer_rggb`` is OpenCV ``BayerBG`` and so on.
16-bit samples are converted at 16 bits first and then scaled by 255/65535 with rounding, as cv_bridge's
``convertTo`` does for a 16 -> 8 bit request (so a 12-bit camera in a 16-bit container looks 16x darker, as it
does through cv_bridge). Bayer works at any size (OpenCV handles odd widths and heights); YUV 4:2:2 shares a
chroma pair between two pixels, so it needs an even width.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rgbt_seg_core.runtime.imageconv.compressed import (
    DEFAULT_MAX_PIXELS,
    CompressedFormat,
    Payload,
    decode_payload,
    open_payload,
    parse_format,
)
from rgbt_seg_core.runtime.imageconv.encodings import BAYER_PATTERNS, ENCODINGS, ImageFormatError, image_to_array

__all__ = ["RGB_ENCODINGS", "to_rgb", "rgb_from_image", "check_colour_format", "rgb_from_payload",
           "rgb_from_compressed"]

_OPENCV_BAYER = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB, "gbrg": cv2.COLOR_BayerGR2RGB,
                 "grbg": cv2.COLOR_BayerGB2RGB}
_UYVY, _YUYV = cv2.COLOR_YUV2RGB_UYVY, cv2.COLOR_YUV2RGB_YUY2

# encoding -> OpenCV code to RGB at the source depth (None: already R, G, B)
_TO_RGB: dict[str, int | None] = {
    "rgb8": None, "bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
    "rgb16": None, "bgr16": cv2.COLOR_BGR2RGB, "rgba16": cv2.COLOR_RGBA2RGB, "bgra16": cv2.COLOR_BGRA2RGB,
    "mono16": cv2.COLOR_GRAY2RGB,
    **{f"bayer_{p}{bits}": _OPENCV_BAYER[p] for p in BAYER_PATTERNS for bits in (8, 16)},
    "yuv422": _UYVY, "uyvy": _UYVY, "yuv422_yuy2": _YUYV, "yuyv": _YUYV,
}
RGB_ENCODINGS = tuple(_TO_RGB)
_COLOUR_IN_ROS = ("rgb", "bgr", "yuv", "uyvy", "yuyv")  # ROS isColor: the compressed plugin swaps their channels


def _to_8bit(arr: np.ndarray) -> np.ndarray:
    """cv_bridge's 16 -> 8 bit rule: ``convertTo`` with scale 255/65535, rounded (v -> round(v / 257))."""
    return cv2.convertScaleAbs(arr, alpha=255.0 / 65535.0) if arr.dtype == np.uint16 else arr


def to_rgb(arr: np.ndarray, encoding: str) -> np.ndarray:
    """An array laid out as ``encoding`` (as :func:`image_to_array` returns it) -> H x W x 3 uint8 RGB.

    Raises:
        ImageFormatError: an encoding the colour camera does not take, an array that does not fit it, or
            YUV 4:2:2 with an odd width.
    """
    if encoding not in _TO_RGB:
        raise ImageFormatError(f"encoding {encoding!r} is not a colour encoding "
                               f"(use one of {', '.join(RGB_ENCODINGS)})")
    dtype, ch = ENCODINGS[encoding]
    if arr.dtype != dtype or arr.ndim != (2 if ch == 1 else 3) or (ch > 1 and arr.shape[2] != ch):
        raise ImageFormatError(f"{arr.dtype} array of shape {arr.shape} does not fit encoding {encoding}")
    code = _TO_RGB[encoding]
    if ch == 2 and arr.shape[1] % 2:
        raise ImageFormatError(f"{encoding}: width {arr.shape[1]} is odd; YUV 4:2:2 pairs pixels, so it must be even")
    if code is None:
        return _to_8bit(np.ascontiguousarray(arr))
    try:
        return _to_8bit(cv2.cvtColor(np.ascontiguousarray(arr), code))
    except cv2.error as exc:  # the checks above should leave nothing for OpenCV to refuse; never a cv2.error
        raise ImageFormatError(f"{encoding}: OpenCV refused the conversion ({str(exc).strip()[-120:]})") from exc


def rgb_from_image(msg: Any) -> np.ndarray:
    """A raw colour sensor_msgs/Image -> H x W x 3 uint8 RGB."""
    enc = str(msg.encoding)
    if enc not in _TO_RGB:
        raise ImageFormatError(f"RGB topic: encoding {enc!r} not supported (use one of {', '.join(RGB_ENCODINGS)})")
    return to_rgb(image_to_array(msg), enc)


def check_colour_format(fmt: CompressedFormat) -> None:
    """Refuse, before decoding, a compressed format that cannot hold a colour picture."""
    if fmt.depth:
        raise ImageFormatError("compressedDepth carries depth or thermal data, not colour")
    if fmt.encoding is not None and fmt.encoding not in _TO_RGB:
        raise ImageFormatError(f"compressed {fmt.encoding!r} images are not colour "
                               f"(use one of {', '.join(RGB_ENCODINGS)})")


def _decoded_encoding(arr: np.ndarray, fmt: CompressedFormat) -> str:
    """How a decoded payload is laid out, in encoding terms: what image_transport's subscriber would publish.

    OpenCV decodes colour as B, G, R; the plugin writes ``compressed bgr8`` when it swapped a colour image to
    BGR before encoding, so without it (and for a stated colour encoding) the decoded order is R, G, B. A
    single-channel payload of a Bayer camera is its mosaic (the plugin compresses Bayer as grey).
    """
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(arr.dtype)
    ch = 1 if arr.ndim == 2 else arr.shape[2]
    if bits is None or ch not in (1, 3, 4):
        raise ImageFormatError(f"compressed payload decodes to {arr.dtype} with {ch} channels, not a colour image")
    declared = fmt.encoding or ""
    if ch == 1:
        return f"{declared.rstrip('0123456789') if declared.startswith('bayer_') else 'mono'}{bits}"
    rgb_order = declared.startswith(_COLOUR_IN_ROS) and not fmt.compressed_bgr
    return ("rgb" if rgb_order else "bgr") + ("a" if ch == 4 else "") + str(bits)


def rgb_from_payload(payload: Payload, max_pixels: int) -> np.ndarray:
    """An opened colour payload (:func:`~.compressed.open_payload`) -> H x W x 3 uint8 RGB."""
    check_colour_format(payload.format)
    arr = decode_payload(payload, max_pixels)
    return to_rgb(arr, _decoded_encoding(arr, payload.format))


def rgb_from_compressed(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A colour sensor_msgs/CompressedImage (JPEG or PNG, 8 or 16 bit) -> H x W x 3 uint8 RGB.

    The size the PNG/JPEG header declares is checked against ``max_pixels`` before anything is decoded.
    """
    check_colour_format(parse_format(msg.format))  # a refusal of the format comes before reading the payload
    return rgb_from_payload(open_payload(msg), max_pixels)
