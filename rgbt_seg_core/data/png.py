"""PNG bytes of an image, for the tools that write folders in the MFNet layout (``rgbt-seg synth``,
``rgbt-seg bag-extract``): lossless, so a frame read back is the frame written, and written atomically by the
caller."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["png_bytes"]


def png_bytes(img: np.ndarray, compression: int = 3) -> bytes:
    """``img`` (H x W, or H x W x C in OpenCV's BGR(A) order; 8 or 16 bits) as PNG file bytes; ``compression`` is
    zlib's level, 0..9 (smaller files, slower)."""
    if not 0 <= compression <= 9:
        raise ValueError(f"PNG compression must be 0..9, got {compression}")
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError(f"PNG encoding failed for a {img.dtype} {img.shape} image")
    return buf.tobytes()
