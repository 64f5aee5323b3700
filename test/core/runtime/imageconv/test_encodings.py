"""Raw sensor_msgs/Image <-> array: every encoding, padded rows, big-endian samples, malformed messages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.image_messages import raw_message
from rgbt_seg_core.runtime.imageconv import ENCODINGS, ImageFormatError, array_to_image_fields, image_to_array
from rgbt_seg_core.runtime.imageconv.encodings import bit_depth

ROS_NAMES = {  # sensor_msgs/image_encodings.hpp
    "rgb8", "rgba8", "rgb16", "rgba16", "bgr8", "bgra8", "bgr16", "bgra16", "mono8", "mono16", "8UC1", "16UC1",
    "16SC1", "32FC1", "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "bayer_rggb16", "bayer_bggr16",
    "bayer_gbrg16", "bayer_grbg16", "uyvy", "yuv422", "yuyv", "yuv422_yuy2",
}


def random_samples(rng: np.random.Generator, encoding: str, h: int, w: int) -> np.ndarray:
    dtype, ch = ENCODINGS[encoding]
    shape = (h, w) if ch == 1 else (h, w, ch)
    if dtype.kind == "f":
        return rng.normal(0, 1e4, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def test_every_encoding_is_named_as_ros_names_it() -> None:
    assert set(ENCODINGS) == ROS_NAMES


@settings(max_examples=150, deadline=None)
@given(encoding=st.sampled_from(sorted(ENCODINGS)), h=st.integers(1, 9), w=st.integers(1, 9),
       padding=st.integers(0, 7), bigendian=st.booleans(), seed=st.integers(0, 2**16))
def test_samples_come_back_whatever_the_row_padding_and_byte_order(encoding, h, w, padding, bigendian, seed) -> None:
    arr = random_samples(np.random.default_rng(seed), encoding, h, w)
    out = image_to_array(raw_message(arr, encoding, padding=padding, bigendian=bigendian))
    assert out.dtype == arr.dtype and out.dtype.isnative and out.flags.c_contiguous
    np.testing.assert_array_equal(out, arr)
    assert bit_depth(encoding) == arr.dtype.itemsize * 8


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_fields_round_trip(encoding: str) -> None:
    arr = random_samples(np.random.default_rng(0), encoding, 3, 4)
    f = array_to_image_fields(arr, encoding)
    np.testing.assert_array_equal(image_to_array(SimpleNamespace(**f)), arr)


def test_rosbags_and_rclpy_data_types_are_read() -> None:
    arr = np.arange(12, dtype=np.uint16).reshape(3, 4)
    msg = raw_message(arr, "mono16")
    for data in (np.frombuffer(msg.data, np.uint8), bytearray(msg.data), memoryview(msg.data), list(msg.data)):
        np.testing.assert_array_equal(image_to_array(SimpleNamespace(**{**vars(msg), "data": data})), arr)


@pytest.mark.parametrize("change, reason", [
    ({"encoding": "nv21"}, "unsupported encoding 'nv21'"),
    ({"width": 0}, "empty image"),
    ({"step": 7}, "step 7 is smaller than width x channels x bytes = 8"),
    ({"data": b"\0" * 23}, "data has 23 bytes, expected step x height = 24"),
    ({"data": [1, 2, 300]}, "not a sequence of byte values"),
    ({"data": 10**12}, "data field of type int is not a byte sequence"),
])
def test_malformed_messages_are_refused(change: dict, reason: str) -> None:
    msg = raw_message(np.zeros((3, 4), np.uint16), "16UC1")
    with pytest.raises(ImageFormatError, match=reason):
        image_to_array(SimpleNamespace(**{**vars(msg), **change}))


def test_an_array_that_does_not_fit_its_encoding_is_refused() -> None:
    with pytest.raises(ImageFormatError, match="does not fit encoding yuv422"):
        array_to_image_fields(np.zeros((2, 4, 3), np.uint8), "yuv422")
