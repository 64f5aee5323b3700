"""compressed_depth_image_transport's payload: a 12-byte ConfigHeader, then the PNG.

The codec ``memcpy``s its ``ConfigHeader`` struct (``int`` compression format, ``float depthParam[2]``: no
padding) in the host's byte order; every platform ROS 2 ships for is little-endian, so it is read as such.
16-bit images are the PNG's samples unchanged (the codec zeroes values beyond its depth_max but writes no
parameters; the header's floats are then whatever was in memory and mean nothing). 32FC1 images are stored as
quantised inverse depth: a sample q is ``depthParam[0] / (q - depthParam[1])``, and 0 means none (NaN).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from rgbt_seg_core.runtime.imageconv.encodings import ImageFormatError

__all__ = ["DepthHeader", "DEPTH_HEADER_SIZE", "INV_DEPTH", "split_depth_header", "inverse_depth_to_float"]

_CONFIG_HEADER = struct.Struct("<iff")
DEPTH_HEADER_SIZE = _CONFIG_HEADER.size  # 12
INV_DEPTH = 0  # compressionFormat: the only value the codec writes


@dataclass(frozen=True)
class DepthHeader:
    format: int
    quant_a: float  # depthParam[0], float32
    quant_b: float  # depthParam[1], float32


def split_depth_header(data: bytes) -> tuple[DepthHeader, bytes]:
    """(ConfigHeader, the PNG that follows it). Like the codec, more than the header's 12 bytes are needed."""
    if len(data) <= DEPTH_HEADER_SIZE:
        raise ImageFormatError(f"compressedDepth payload of {len(data)} bytes has no image after its "
                               f"{DEPTH_HEADER_SIZE}-byte header")
    return DepthHeader(*_CONFIG_HEADER.unpack_from(data)), data[DEPTH_HEADER_SIZE:]


def inverse_depth_to_float(quantised: np.ndarray, header: DepthHeader) -> np.ndarray:
    """The codec's 32FC1 decoding, in float32 as it computes it: A / (q - B) where q != 0, else NaN."""
    a, b = np.float32(header.quant_a), np.float32(header.quant_b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value = a / (quantised.astype(np.float32) - b)
    return np.where(quantised != 0, value, np.float32(np.nan)).astype(np.float32, copy=False)
