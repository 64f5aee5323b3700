"""Frame checks for the camera formats robots publish: their order (stamp, declared size, encoding/format,
decode), raw and compressed frames of each camera through the runtime, and hostile compressed frames through
SegmentationRuntime.add: it never raises and counts every frame as good or bad."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support.image_messages import S, compressed_message, depth_config, encode, header, raw_message
from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, FrameError, RuntimeConfig, SegmentationRuntime, decode_frame
from rgbt_seg_core.runtime.imageconv import compressed as compressed_module

H, W = 12, 16
RNG = np.random.default_rng(0)
RGB_IMAGE = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


class FakeEngine:
    """Records what it was given; labels of zeros."""

    palette = [[0, 0, 0], [255, 0, 0]]

    def __init__(self) -> None:
        self.inputs: list[tuple[np.ndarray | None, np.ndarray | None]] = []

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        assert thermal_checked, "the runtime applied the NaN rule on arrival and says so"
        self.inputs.append((rgb, thermal))
        h, w = (rgb if rgb is not None else thermal).shape[:2]
        return Prediction(np.zeros((h, w), np.uint8), None, None, 0.001)


def runtime(**cfg) -> tuple[SegmentationRuntime, FakeEngine, FakeClock]:
    engine, clock = FakeEngine(), FakeClock(0.0)
    return SegmentationRuntime(engine, RuntimeConfig(**cfg), clock=clock), engine, clock


def drain(rt: SegmentationRuntime) -> int:
    n = 0
    while (work := rt.take(0)) is not None:
        n += rt.process(work) is not None
    return n


CAMERA_FRAMES = {  # (modality, message, expected array)
    "bayer_rggb8": (RGB, raw_message(np.zeros((H, W), np.uint8), "bayer_rggb8", padding=3), np.zeros((H, W, 3))),
    "yuv422_yuy2": (RGB, raw_message(np.full((H, W, 2), 128, np.uint8), "yuv422_yuy2"), None),
    "rgb16 big-endian": (RGB, raw_message(RGB_IMAGE.astype(np.uint16) * 257, "rgb16", bigendian=True), RGB_IMAGE),
    "png": (RGB, compressed_message(encode(RGB_IMAGE[:, :, ::-1], ".png"), "rgb8; png compressed bgr8"), RGB_IMAGE),
    "16SC1 °C": (THERMAL, raw_message(np.full((H, W), -1500, np.int16), "16SC1", bigendian=True),
                 np.full((H, W), -1500, np.int16)),
    "compressedDepth": (THERMAL, compressed_message(depth_config() + encode(np.full((H, W), 30000, np.uint16), ".png"),
                                                    "16UC1; compressedDepth"), np.full((H, W), 30000, np.uint16)),
}


@pytest.mark.parametrize("name", CAMERA_FRAMES)
def test_each_cameras_formats_reach_the_engine(name: str) -> None:
    modality, msg, expected = CAMERA_FRAMES[name]
    rt, engine, _ = runtime()
    other = raw_message(np.zeros((H, W), np.uint8), "mono8") if modality == RGB else raw_message(RGB_IMAGE, "rgb8")
    rt.add(modality, msg)
    rt.add(1 - modality, other)
    assert drain(rt) == 1 and rt.counts["bad_rgb"] == rt.counts["bad_thermal"] == 0, rt.last_error
    got = engine.inputs[0][modality]
    assert got.shape[:2] == (H, W) and (modality == THERMAL or got.dtype == np.uint8)
    if expected is not None:
        assert got.dtype == expected.dtype or modality == RGB
        np.testing.assert_array_equal(got, expected)


def test_checks_run_in_order_stamp_size_format_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compressed_module.cv2, "imdecode", lambda *a: pytest.fail("decoded before the checks"))
    big = encode(np.zeros((40, 50), np.uint8), ".png")
    no_stamp = SimpleNamespace(header=None, format="tiff", data=b"")
    with pytest.raises(FrameError, match="no usable header stamp"):
        decode_frame(RGB, no_stamp, 0.0, 100)
    with pytest.raises(FrameError, match="RGB: 50x40 = 2000 pixels is above max_pixels=100"):
        decode_frame(RGB, compressed_message(depth_config() + big, "16UC1; compressedDepth"), 0.0, 100)
    with pytest.raises(FrameError, match="RGB: compressedDepth carries depth or thermal data, not colour"):
        decode_frame(RGB, compressed_message(depth_config() + big, "16UC1; compressedDepth"), 0.0, 10**6)
    with pytest.raises(FrameError, match="thermal: compressed 'rgb8' images are not thermal"):
        decode_frame(THERMAL, compressed_message(big, "rgb8; png compressed bgr8"), 0.0, 10**6)
    with pytest.raises(FrameError, match="thermal: encoding 'bgr8' not supported"):
        decode_frame(THERMAL, raw_message(RGB_IMAGE, "bgr8"), 0.0, 10**6)


def test_an_unreadable_compressed_header_is_a_bad_frame_with_its_reason() -> None:
    rt, _, _ = runtime()
    rt.add(RGB, compressed_message(b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "png"))
    assert rt.counts["bad_rgb"] == 1 and "RGB: PNG does not start with an IHDR chunk" in rt.last_error


# ---------------------------------------------------------------------------------------------------- fuzz
_GOOD = [
    (encode(RGB_IMAGE, ".jpg"), "rgb8; jpeg compressed bgr8"),
    (encode(RGB_IMAGE[:, :, 0].copy(), ".png"), "mono8; png compressed "),
    (encode(RNG.integers(0, 65536, (H, W)).astype(np.uint16), ".png"), "mono16; png compressed "),
    (depth_config(0, 1e4, -9.0) + encode(RNG.integers(0, 999, (H, W)).astype(np.uint16), ".png"),
     "32FC1; compressedDepth"),
]
_FORMATS = [f for _, f in _GOOD] + ["png", "jpeg", "tiff", "16UC1; compressedDepth", "bayer_bggr8; png compressed ",
                                    "garbage", ""]


@st.composite
def hostile_compressed(draw: st.DrawFn) -> SimpleNamespace:
    data = bytearray(draw(st.sampled_from(_GOOD))[0]) if draw(st.booleans()) else bytearray(draw(st.binary()))
    if data and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    stamp = draw(st.integers(0, 5 * S))
    fmt = draw(st.one_of(st.sampled_from(_FORMATS), st.text(max_size=12)))
    return compressed_message(bytes(data), fmt, stamp) if draw(st.integers(0, 9)) else \
        SimpleNamespace(header=header(stamp), format=draw(st.none() | st.integers()), data=draw(st.integers(0, 10**12)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(st.tuples(st.sampled_from([RGB, THERMAL]), hostile_compressed(), st.floats(0, 0.5)),
                       max_size=30), max_pixels=st.sampled_from([100, 4000, 10**6]))
def test_hostile_compressed_frames_never_raise_and_each_is_counted(script, max_pixels: int) -> None:
    rt, _, clock = runtime(max_pixels=max_pixels, realtime=False)
    expected_bad = {RGB: 0, THERMAL: 0}
    for modality, msg, dt in script:
        clock.advance(dt)
        try:
            decode_frame(modality, msg, 0.0, max_pixels)
        except FrameError:
            expected_bad[modality] += 1
        rt.add(modality, msg)  # never raises
        drain(rt)
    c = rt.counts
    for modality, name in ((RGB, "rgb"), (THERMAL, "thermal")):
        sent = sum(1 for m, _, _ in script if m == modality)
        assert c[f"received_{name}"] == sent and c[f"bad_{name}"] == expected_bad[modality]
    assert c["inference_errors"] == 0


def test_a_cv2_decoder_failure_is_a_counted_bad_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args):
        raise cv2.error("simulated decoder failure")

    monkeypatch.setattr(compressed_module.cv2, "imdecode", fail)
    rt, _, _ = runtime()
    rt.add(RGB, compressed_message(*_GOOD[0]))
    assert rt.counts["bad_rgb"] == 1 and "could not be decoded" in rt.last_error
