"""The raw sensor_msgs/Image layer: which encodings exist, and message fields <-> numpy array.

Names are those of ROS's ``sensor_msgs/image_encodings.hpp``. Works on the fields (encoding, height, width,
step, is_bigendian, data), so rclpy messages and rosbags-deserialised messages go the same way. A malformed
message raises :class:`ImageFormatError` with the reason, never returns a wrong array.
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np

__all__ = ["ImageFormatError", "ENCODINGS", "BAYER_PATTERNS", "bit_depth", "message_bytes", "image_to_array",
           "array_to_image_fields"]

U8, U16, I16, F32 = (np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32))
BAYER_PATTERNS = ("rggb", "bggr", "gbrg", "grbg")  # top-left 2 x 2 cell, row by row, as ROS names them

# encoding -> (dtype of one sample, samples per pixel). YUV 4:2:2 is two bytes a pixel (one luma, one of U/V).
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (U8, 3), "bgr8": (U8, 3), "rgba8": (U8, 4), "bgra8": (U8, 4),
    "rgb16": (U16, 3), "bgr16": (U16, 3), "rgba16": (U16, 4), "bgra16": (U16, 4),
    "mono8": (U8, 1), "mono16": (U16, 1),
    **{f"bayer_{p}8": (U8, 1) for p in BAYER_PATTERNS},
    **{f"bayer_{p}16": (U16, 1) for p in BAYER_PATTERNS},
    "yuv422": (U8, 2), "uyvy": (U8, 2), "yuv422_yuy2": (U8, 2), "yuyv": (U8, 2),
    "8UC1": (U8, 1), "16UC1": (U16, 1), "16SC1": (I16, 1), "32FC1": (F32, 1),
}


class ImageFormatError(ValueError):
    """An image message that cannot be turned into an array; the message says why."""


def bit_depth(encoding: str) -> int:
    """Bits per sample of a known encoding (ROS's ``bitDepth``)."""
    return ENCODINGS[encoding][0].itemsize * 8


def message_bytes(data: Any) -> bytes | bytearray | memoryview | np.ndarray:
    """A message's ``data`` field as bytes ``np.frombuffer`` reads, without a copy where possible.

    rclpy gives ``array.array('B')`` or bytes, rosbags a uint8 ndarray, tests lists. Anything else is an
    :class:`ImageFormatError`, never a conversion that could go wrong: ``bytes(n)`` of an int would allocate
    n bytes, so only buffers and lists/tuples of byte values are accepted.
    """
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data) if data.dtype == np.uint8 else data.tobytes()
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, (list, tuple)):
        try:
            return bytes(data)
        except (TypeError, ValueError) as exc:
            raise ImageFormatError(f"data field is not a sequence of byte values ({exc})") from exc
    try:
        view = memoryview(data)
    except TypeError:
        raise ImageFormatError(f"data field of type {type(data).__name__} is not a byte sequence") from None
    return view.cast("B") if view.c_contiguous else view.tobytes()


def image_to_array(msg: Any) -> np.ndarray:
    """H x W (one sample a pixel) or H x W x C array of the message's samples, in native byte order.

    Always a contiguous copy: padded rows (step > row bytes) are cut, big-endian 16-bit and float samples are
    swapped, so the caller may hand it to OpenCV or keep it after the message buffer is reused.
    """
    enc = str(msg.encoding)
    if enc not in ENCODINGS:
        raise ImageFormatError(f"unsupported encoding {enc!r} (supported: {', '.join(ENCODINGS)})")
    dtype, ch = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ImageFormatError(f"empty image ({w}x{h})")
    row = w * ch * dtype.itemsize
    if step < row:
        raise ImageFormatError(f"step {step} is smaller than width x channels x bytes = {row}")
    buf = message_bytes(msg.data)
    n = len(buf) if not isinstance(buf, np.ndarray) else buf.size
    if n < step * h:
        raise ImageFormatError(f"data has {n} bytes, expected step x height = {step * h}")
    raw = np.frombuffer(buf, dtype=np.uint8, count=step * h).reshape(h, step)[:, :row]
    big = bool(msg.is_bigendian) and dtype.itemsize > 1
    arr = raw.copy().view(dtype.newbyteorder(">") if big else dtype).reshape(h, w, ch)
    if big:
        arr = arr.astype(dtype)
    return arr[:, :, 0] if ch == 1 else arr


def array_to_image_fields(arr: np.ndarray, encoding: str) -> dict[str, Any]:
    """Fields for a sensor_msgs/Image: height, width, encoding, is_bigendian, step, data.

    ``data`` is an ``array.array('B')``, filled with one copy of the samples: it is the type rclpy's message keeps,
    so the field setter stores it as it is. Given bytes, that setter makes another copy, and on distros that check
    fields (Humble) it first tests every byte in Python, tens of milliseconds for one 480 x 640 colour image."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported encoding {encoding!r}")
    dtype, ch = ENCODINGS[encoding]
    a = np.ascontiguousarray(arr, dtype=dtype)
    if (ch == 1 and a.ndim != 2) or (ch > 1 and (a.ndim != 3 or a.shape[2] != ch)):
        raise ImageFormatError(f"array of shape {arr.shape} does not fit encoding {encoding}")
    h, w = a.shape[:2]
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0, "step": w * ch * dtype.itemsize,
            "data": _byte_array(a)}


def _byte_array(a: np.ndarray) -> array.array:
    out = array.array("B")
    out.frombytes(a.data.cast("B"))  # one copy, straight from the array's buffer
    return out
