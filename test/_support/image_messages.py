"""Image and CompressedImage messages built from their documented layouts, for the image conversion tests.

Written from sensor_msgs/Image's field definitions (rows of ``step`` bytes, samples in ``is_bigendian`` order)
and image_transport's payloads, not with the package's own writer, so a layout mistake there cannot hide.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

import cv2
import numpy as np

S = 1_000_000_000


def header(stamp_ns: int = S, frame_id: str = "cam") -> SimpleNamespace:
    sec, nsec = divmod(stamp_ns, S)
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nsec), frame_id=frame_id)


def raw_message(arr: np.ndarray, encoding: str, *, padding: int = 0, bigendian: bool = False,
                stamp_ns: int = S) -> SimpleNamespace:
    """An Image holding ``arr`` (H x W or H x W x C), each row followed by ``padding`` junk bytes."""
    h, w = arr.shape[:2]
    samples = arr.astype(arr.dtype.newbyteorder(">" if bigendian else "<"))
    rows = samples.reshape(h, -1).view(np.uint8)
    junk = np.full((h, padding), 0xA5, np.uint8)
    data = np.hstack([rows, junk]).tobytes()
    return SimpleNamespace(header=header(stamp_ns), height=h, width=w, encoding=encoding,
                           is_bigendian=int(bigendian), step=rows.shape[1] + padding, data=data)


def compressed_message(data: bytes, fmt: str, stamp_ns: int = S) -> SimpleNamespace:
    return SimpleNamespace(header=header(stamp_ns), format=fmt, data=data)


def encode(arr: np.ndarray, ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, arr, list(params))
    assert ok
    return buf.tobytes()


def depth_config(fmt: int = 0, a: float = 0.0, b: float = 0.0) -> bytes:
    """compressed_depth_image_transport's ConfigHeader: int32 format, float32 depthParam[2], little-endian."""
    return struct.pack("<iff", fmt, a, b)
