"""Turning one incoming image message into a checked array, or a reason why not.

Every frame is checked here, on arrival and before pairing, so that each bad frame is counted once, whatever
happens to it later (the newest-pair slot would otherwise replace most of them unseen). Works on the fields of
a sensor_msgs/Image or CompressedImage, so rclpy messages and rosbags-deserialised messages go the same way.

Checks, in order: a header stamp; the declared size against ``max_pixels`` (before any pixel is read, so an
oversized frame costs no memory); the encoding, step and data length (:mod:`rgbt_seg_core.imageconv`); for
thermal, the NaN rule of :func:`rgbt_seg_core.preprocess.thermal_problem` (the inference engine applies the same
one): no finite pixel or values beyond ±1e30 reject the frame; some non-finite pixels are set to 0 and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..imageconv import RGB_ENCODINGS, THERMAL_ENCODINGS, ImageFormatError, decode_image, image_size, stamp_ns, to_rgb
from ..preprocess import THERMAL_ABS_LIMIT, thermal_problem

__all__ = ["Frame", "FrameError", "decode_frame", "stamp_ns_of", "THERMAL_ABS_LIMIT", "RGB", "THERMAL"]

RGB, THERMAL = 0, 1


class FrameError(ValueError):
    """A frame that cannot be used; the message says why."""


@dataclass(frozen=True)
class Frame:
    modality: int
    stamp_ns: int
    header: Any  # the message's header, passed through to the outputs
    image: np.ndarray  # RGB: H x W x 3 uint8; thermal: H x W (uint8, uint16 or float32)
    arrival: float  # runtime clock, seconds
    nonfinite: bool = False  # thermal with some NaN/inf pixels


def stamp_ns_of(msg: Any) -> int:
    """:func:`rgbt_seg_core.imageconv.stamp_ns`, with a :class:`FrameError` for a message without a usable stamp."""
    try:
        return stamp_ns(msg)
    except (AttributeError, TypeError, ValueError) as exc:
        raise FrameError(f"message has no usable header stamp ({exc})") from exc


def decode_frame(modality: int, msg: Any, arrival: float, max_pixels: int) -> Frame:
    """Raises :class:`FrameError` naming the problem."""
    name = "RGB" if modality == RGB else "thermal"
    stamp = stamp_ns_of(msg)
    try:
        size = image_size(msg)
    except (TypeError, ValueError) as exc:
        raise FrameError(f"{name}: unreadable height/width ({exc})") from exc
    if size is not None and size[0] * size[1] > max_pixels:
        raise FrameError(f"{name}: {size[1]}x{size[0]} = {size[0] * size[1]} pixels is above max_pixels={max_pixels}")
    allowed = RGB_ENCODINGS if modality == RGB else THERMAL_ENCODINGS

    def unsupported(encoding: str) -> FrameError:
        return FrameError(f"{name}: encoding {encoding!r} not supported (use one of {', '.join(allowed)})")

    if size is not None and str(msg.encoding) not in allowed:  # before decoding: name this camera's encodings
        raise unsupported(str(msg.encoding))
    try:
        arr, encoding = decode_image(msg)
    except ImageFormatError as exc:
        raise FrameError(f"{name}: {exc}") from exc
    if arr.shape[0] * arr.shape[1] > max_pixels:  # compressed images are only sized once decoded
        raise FrameError(f"{name}: {arr.shape[1]}x{arr.shape[0]} pixels is above max_pixels={max_pixels}")
    if encoding not in allowed:  # what a compressed image decoded to
        raise unsupported(encoding)
    if modality == RGB:
        return Frame(modality, stamp, msg.header, to_rgb(arr, encoding), arrival)
    problem, nonfinite = thermal_problem(arr)
    if problem is not None:
        raise FrameError(f"thermal: {problem}")
    return Frame(modality, stamp, msg.header, arr, arrival, nonfinite)
