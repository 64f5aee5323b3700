"""Message-level helpers shared by the node's frame checks and the bag tools: stamp, declared size, and one
decoder for any image message (raw or compressed) for tools that take whatever a topic holds (labels)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rgbt_seg_core.runtime.imageconv.colour import rgb_from_payload
from rgbt_seg_core.runtime.imageconv.compressed import DEFAULT_MAX_PIXELS, compressed_size, open_payload
from rgbt_seg_core.runtime.imageconv.encodings import image_to_array
from rgbt_seg_core.runtime.imageconv.thermal import thermal_from_payload

__all__ = ["stamp_ns", "is_compressed", "image_size", "decode_image"]

_ENCODING_OF = {np.dtype(np.uint8): "mono8", np.dtype(np.uint16): "mono16", np.dtype(np.int16): "16SC1",
                np.dtype(np.float32): "32FC1"}


def stamp_ns(msg: Any) -> int:
    """The header stamp as integer nanoseconds (sec * 1e9 + nanosec, as rclpy's ``Time.from_msg``)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def is_compressed(msg: Any) -> bool:
    """A CompressedImage (``format`` and ``data``) rather than an Image (``encoding``, sizes and ``data``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def image_size(msg: Any) -> tuple[int, int]:
    """(height, width) a message declares, read before any pixel is decoded.

    A raw Image states it in its fields; a CompressedImage in its PNG IHDR or JPEG SOF header, so the caller can
    refuse an oversized frame before the decoder allocates it. A compressed header that cannot be read raises
    :class:`~.encodings.ImageFormatError`.
    """
    if is_compressed(msg):
        return compressed_size(msg)
    return int(msg.height), int(msg.width)


def decode_image(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """Image or CompressedImage -> (array, encoding).

    A raw Image comes back as its samples with its own encoding. A compressed one is decoded as the camera
    decoders do: colour (and Bayer) as H x W x 3 RGB ``rgb8``; one channel as thermal does it, named by dtype
    (``mono8``, ``mono16``, ``16SC1``, ``32FC1``).
    """
    if not is_compressed(msg):
        return image_to_array(msg), str(msg.encoding)
    payload = open_payload(msg)
    if payload.header.channels == 1 and not (payload.format.encoding or "").startswith("bayer_"):
        arr = thermal_from_payload(payload, max_pixels)
        return arr, _ENCODING_OF[arr.dtype]
    return rgb_from_payload(payload, max_pixels), "rgb8"
