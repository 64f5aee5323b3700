"""Turning one incoming image message into a checked array, or a reason why not.

Every frame is checked here, on arrival and before pairing, so that each bad frame is counted once, whatever
happens to it later (the newest-pair slot would otherwise replace most of them unseen). Works on the fields of
a sensor_msgs/Image or CompressedImage, so rclpy messages and rosbags-deserialised messages go the same way.

Checks, in order: a header stamp; the declared size against ``max_pixels`` (a raw Image's fields, a compressed
one's PNG/JPEG header: before any pixel is decoded, so an oversized frame costs no memory); the encoding or
compressed format this camera takes; then decoding, with step and data length (:mod:`rgbt_seg_core.runtime.imageconv`);
for thermal, the inference engine's NaN rule (:func:`rgbt_seg_core.inference.preprocess.thermal_problem`), applied
here once, on arrival, so that the frame is counted; the runtime tells the engine not to apply it again. No finite
pixel or values beyond ±1e30 reject the frame; some non-finite pixels are set to 0 and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rgbt_seg_core.inference.preprocess import THERMAL_ABS_LIMIT, thermal_problem
from rgbt_seg_core.runtime.imageconv import (
    RGB_ENCODINGS,
    THERMAL_ENCODINGS,
    ImageFormatError,
    check_colour_format,
    check_thermal_format,
    image_size,
    is_compressed,
    parse_format,
    rgb_from_compressed,
    rgb_from_image,
    stamp_ns,
    thermal_from_compressed,
    thermal_from_image,
)

__all__ = ["Frame", "FrameError", "decode_frame", "stamp_ns_of", "THERMAL_ABS_LIMIT", "RGB", "THERMAL"]

RGB, THERMAL = 0, 1


class FrameError(ValueError):
    """A frame that cannot be used; the message says why."""


@dataclass(frozen=True)
class Frame:
    modality: int
    stamp_ns: int
    header: Any  # the message's header, passed through to the outputs
    image: np.ndarray  # RGB: H x W x 3 uint8; thermal: H x W (uint8, uint16, int16 or float32)
    arrival: float  # runtime clock, seconds
    nonfinite: bool = False  # thermal with some NaN/inf pixels


def stamp_ns_of(msg: Any) -> int:
    """:func:`rgbt_seg_core.runtime.imageconv.stamp_ns`, with a :class:`FrameError` for a message without a usable
    stamp."""
    try:
        return stamp_ns(msg)
    except (AttributeError, TypeError, ValueError) as exc:
        raise FrameError(f"message has no usable header stamp ({exc})") from exc


def _declared_size(name: str, msg: Any) -> tuple[int, int]:
    try:
        return image_size(msg)
    except ImageFormatError as exc:
        raise FrameError(f"{name}: {exc}") from exc
    except (AttributeError, TypeError, ValueError) as exc:
        raise FrameError(f"{name}: unreadable height/width ({exc})") from exc


def _check_encoding(modality: int, name: str, msg: Any) -> None:
    """Refuse what this camera does not take before decoding, naming the encodings it does take."""
    if is_compressed(msg):
        check = check_colour_format if modality == RGB else check_thermal_format
        try:
            check(parse_format(msg.format))
        except ImageFormatError as exc:
            raise FrameError(f"{name}: {exc}") from exc
        return
    allowed = RGB_ENCODINGS if modality == RGB else THERMAL_ENCODINGS
    if str(msg.encoding) not in allowed:
        raise FrameError(f"{name}: encoding {str(msg.encoding)!r} not supported (use one of {', '.join(allowed)})")


def _decode(modality: int, msg: Any, max_pixels: int) -> np.ndarray:
    if is_compressed(msg):
        return (rgb_from_compressed if modality == RGB else thermal_from_compressed)(msg, max_pixels)
    return (rgb_from_image if modality == RGB else thermal_from_image)(msg)


def decode_frame(modality: int, msg: Any, arrival: float, max_pixels: int) -> Frame:
    """Raises :class:`FrameError` naming the problem (and nothing else, whatever the message holds)."""
    name = "RGB" if modality == RGB else "thermal"
    stamp = stamp_ns_of(msg)
    h, w = _declared_size(name, msg)
    if h * w > max_pixels:
        raise FrameError(f"{name}: {w}x{h} = {h * w} pixels is above max_pixels={max_pixels}")
    _check_encoding(modality, name, msg)
    try:
        arr = _decode(modality, msg, max_pixels)
    except ImageFormatError as exc:
        raise FrameError(f"{name}: {exc}") from exc
    except (AttributeError, TypeError, ValueError) as exc:  # a message without the fields it should have
        raise FrameError(f"{name}: unreadable message ({type(exc).__name__}: {exc})") from exc
    if modality == RGB:
        return Frame(modality, stamp, msg.header, arr, arrival)
    problem, nonfinite = thermal_problem(arr)
    if problem is not None:
        raise FrameError(f"thermal: {problem}")
    return Frame(modality, stamp, msg.header, arr, arrival, nonfinite)
