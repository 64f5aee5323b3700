"""Thermal camera frames -> H x W arrays of the camera's own values (counts, kelvin or degrees Celsius).

Values are kept as they come (uint8, uint16, int16 or float32): the inference path normalises them with one
rule (:func:`rgbt_seg_core.inference.preprocess.normalize_thermal`, the ``thermal_range_min/max`` parameters), so a
signed 16-bit camera in centi-degrees or a float camera in degrees Celsius needs only the right range.
Compressed thermal is a single-channel 8- or 16-bit PNG (or grey JPEG) from image_transport's compressed
plugin, or compressed_depth_image_transport's compressedDepth PNG (:mod:`.depth`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rgbt_seg_core.runtime.imageconv.compressed import (
    DEFAULT_MAX_PIXELS,
    CompressedFormat,
    Payload,
    decode_payload,
    open_payload,
    parse_format,
)
from rgbt_seg_core.runtime.imageconv.depth import inverse_depth_to_float
from rgbt_seg_core.runtime.imageconv.encodings import ENCODINGS, ImageFormatError, image_to_array

__all__ = ["THERMAL_ENCODINGS", "thermal_from_image", "check_thermal_format", "thermal_from_payload",
           "thermal_from_compressed"]

THERMAL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "16SC1", "32FC1")
_COMPRESSED_16 = ("mono16", "16UC1", "16SC1")


def thermal_from_image(msg: Any) -> np.ndarray:
    """A raw thermal sensor_msgs/Image -> H x W array in the camera's dtype (native byte order)."""
    enc = str(msg.encoding)
    if enc not in THERMAL_ENCODINGS:
        raise ImageFormatError(
            f"thermal topic: encoding {enc!r} not supported (use one of {', '.join(THERMAL_ENCODINGS)})"
        )
    return image_to_array(msg)


def check_thermal_format(fmt: CompressedFormat) -> None:
    """Refuse, before decoding, a compressed format that cannot hold one thermal value a pixel."""
    allowed = ("mono8", "8UC1") + _COMPRESSED_16 + (("32FC1",) if fmt.depth else ())
    if fmt.encoding is not None and fmt.encoding not in allowed:
        raise ImageFormatError(f"compressed {fmt.encoding!r} images are not thermal "
                               f"(use one of {', '.join(allowed)}{'' if fmt.depth else '; 32FC1 via compressedDepth'})")


def _as_declared(arr: np.ndarray, fmt: CompressedFormat) -> np.ndarray:
    """The decoded samples as the publisher's encoding, the way image_transport's subscribers hand them on.

    A JPEG of a 16-bit image holds its top 8 bits (the plugin scaled by 255/65535); the subscriber widens it by
    256, so the same fixed thermal range applies as to the raw topic. 16SC1 travels as the PNG's 16 bits.
    """
    if arr.ndim != 2:
        raise ImageFormatError(f"compressed payload has {arr.shape[2]} channels; thermal must be one channel")
    declared = fmt.encoding
    if declared in _COMPRESSED_16 and arr.dtype == np.uint8 and fmt.codec == "jpeg":
        arr = arr.astype(np.uint16) << 8
    if declared is not None and ENCODINGS[declared][0].itemsize != arr.dtype.itemsize:
        raise ImageFormatError(f"the format declares {declared} but the {fmt.codec} holds {arr.dtype} samples")
    return arr.view(np.int16) if declared == "16SC1" else arr


def thermal_from_payload(payload: Payload, max_pixels: int) -> np.ndarray:
    """An opened thermal payload (:func:`~.compressed.open_payload`) -> H x W array."""
    check_thermal_format(payload.format)
    arr = decode_payload(payload, max_pixels)
    if payload.depth is not None and payload.format.encoding == "32FC1":
        if arr.ndim != 2 or arr.dtype != np.uint16:
            raise ImageFormatError(f"a 32FC1 compressedDepth payload must be a 16-bit grey PNG, "
                                   f"got {arr.dtype} {arr.shape}")
        return inverse_depth_to_float(arr, payload.depth)
    return _as_declared(arr, payload.format)


def thermal_from_compressed(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A thermal sensor_msgs/CompressedImage -> H x W array (uint8, uint16, int16; float32 for 32FC1 depth).

    The size the PNG/JPEG header declares is checked against ``max_pixels`` before anything is decoded.
    """
    check_thermal_format(parse_format(msg.format))  # a refusal of the format comes before reading the payload
    return thermal_from_payload(open_payload(msg), max_pixels)
