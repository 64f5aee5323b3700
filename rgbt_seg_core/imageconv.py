"""sensor_msgs/Image <-> numpy without ROS (a small cv_bridge equivalent for the node and the bag tools).

Works on the message's fields (encoding, height, width, step, is_bigendian, data) so it serves rclpy messages
and rosbags-deserialised messages alike. Every malformed message raises :class:`ImageFormatError` with the
reason (unsupported encoding, size/step/data-length mismatch), never returns a wrong array.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["ImageFormatError", "ENCODINGS", "image_to_array", "array_to_image_fields", "to_rgb", "rgb_from_image",
           "thermal_from_image", "decode_image", "image_size", "stamp_ns"]

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
THERMAL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")


class ImageFormatError(ValueError):
    pass


def image_to_array(msg: Any) -> np.ndarray:
    """H x W (one channel) or H x W x C array viewing the message's data (copied if rows are padded)."""
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
    data = msg.data
    if isinstance(data, np.ndarray):  # rosbags
        buf = data if data.dtype == np.uint8 else data.tobytes()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        buf = data
    else:  # rclpy's array.array('B') and plain sequences
        buf = bytes(data)
    n = len(buf)
    if n < step * h:
        raise ImageFormatError(f"data has {n} bytes, expected step x height = {step * h}")
    raw = np.frombuffer(buf, dtype=np.uint8, count=step * h).reshape(h, step)[:, :row]
    arr = raw.copy().view(dtype if not msg.is_bigendian else dtype.newbyteorder(">"))
    arr = arr.astype(dtype, copy=False).reshape(h, w, ch)
    return arr[:, :, 0] if ch == 1 else arr


def array_to_image_fields(arr: np.ndarray, encoding: str) -> dict[str, Any]:
    """Fields for a sensor_msgs/Image: height, width, encoding, is_bigendian, step, data (bytes)."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported encoding {encoding!r}")
    dtype, ch = ENCODINGS[encoding]
    a = np.ascontiguousarray(arr, dtype=dtype)
    if (ch == 1 and a.ndim != 2) or (ch > 1 and (a.ndim != 3 or a.shape[2] != ch)):
        raise ImageFormatError(f"array of shape {arr.shape} does not fit encoding {encoding}")
    h, w = a.shape[:2]
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0, "step": w * ch * dtype.itemsize,
            "data": a.tobytes()}


def to_rgb(arr: np.ndarray, encoding: str) -> np.ndarray:
    """An array in any supported colour encoding -> H x W x 3 uint8 in RGB order."""
    if encoding not in RGB_ENCODINGS:
        raise ImageFormatError(
            f"RGB topic: encoding {encoding!r} not supported (use one of {', '.join(RGB_ENCODINGS)})"
        )
    if encoding == "rgb8":
        return arr
    if encoding == "bgr8":
        return np.ascontiguousarray(arr[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(arr[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(arr[:, :, 2::-1])
    return np.repeat(arr[:, :, None], 3, axis=2)  # mono8


def rgb_from_image(msg: Any) -> np.ndarray:
    """Any supported colour encoding -> H x W x 3 uint8 in RGB order."""
    enc = str(msg.encoding)
    if enc not in RGB_ENCODINGS:
        raise ImageFormatError(f"RGB topic: encoding {enc!r} not supported (use one of {', '.join(RGB_ENCODINGS)})")
    return to_rgb(image_to_array(msg), enc)


def thermal_from_image(msg: Any) -> np.ndarray:
    enc = str(msg.encoding)
    if enc not in THERMAL_ENCODINGS:
        raise ImageFormatError(
            f"thermal topic: encoding {enc!r} not supported (use one of {', '.join(THERMAL_ENCODINGS)})"
        )
    return image_to_array(msg)


def stamp_ns(msg: Any) -> int:
    """The header stamp as integer nanoseconds (sec * 1e9 + nanosec, as rclpy's ``Time.from_msg``)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_size(msg: Any) -> tuple[int, int] | None:
    """(height, width) a raw Image declares, read before any pixel is touched; None for a CompressedImage."""
    if not hasattr(msg, "encoding"):
        return None
    return int(msg.height), int(msg.width)


def decode_image(msg: Any) -> tuple[np.ndarray, str]:
    """Image or CompressedImage -> (array, encoding). Compressed colour comes back in RGB order as ``rgb8``."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        data = np.frombuffer(bytes(msg.data), dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else \
            np.asarray(msg.data, dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if img is None:
            raise ImageFormatError(f"CompressedImage ({msg.format!r}) could not be decoded")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            return img, "rgb8"
        return img, "mono16" if img.dtype == np.uint16 else "mono8"
    return image_to_array(msg), str(msg.encoding)
