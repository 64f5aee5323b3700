"""The compressed outputs without ROS: the encoders against the project's own camera decoder (which reads
image_transport's formats as its subscriber does), their refusals, and the runtime encoding only what is wanted."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rgbt_seg_core.inference.engine import Prediction
from rgbt_seg_core.inference.render import colorize, overlay
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, Outputs, RuntimeConfig, SegmentationRuntime
from rgbt_seg_core.runtime import runtime as runtime_module
from rgbt_seg_core.runtime.compressed_outputs import (
    GATE_SCALE,
    decode_gate,
    encode_gate,
    encode_jpeg,
    encode_outputs,
    encode_png,
)
from rgbt_seg_core.runtime.imageconv import array_to_image_fields, decode_image
from rgbt_seg_core.settings import Settings
from rgbt_seg_core.settings.spec import SettingsError

PALETTE = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]


def _decoded(encoded) -> tuple[np.ndarray, str]:
    return decode_image(SimpleNamespace(format=encoded.format, data=encoded.data))


def _smooth_rgb(h: int, w: int) -> np.ndarray:
    """A picture JPEG is made for: gradients, no noise."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([255 * x // max(1, w - 1), 255 * y // max(1, h - 1), (x + y) % 256], axis=2).astype(np.uint8)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=48)))
def test_any_label_image_round_trips_exactly_through_png(labels: np.ndarray) -> None:
    encoded = encode_png(labels)
    assert encoded.format == "mono8; png compressed "  # as compressed_image_transport writes a mono8 PNG
    arr, encoding = _decoded(encoded)
    assert encoding == "mono8" and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, labels)


@settings(max_examples=20, deadline=None)
@given(hnp.arrays(np.uint16, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24)))
def test_sixteen_bit_images_round_trip_exactly_too(image: np.ndarray) -> None:
    encoded = encode_png(image, "mono16", "thermal")
    assert encoded.format == "mono16; png compressed "
    np.testing.assert_array_equal(_decoded(encoded)[0], image)


@pytest.mark.parametrize("quality", [10, 80, 100])
def test_jpeg_decodes_to_the_size_and_near_the_picture_in_the_plugins_format(quality: int) -> None:
    rgb = _smooth_rgb(48, 64)
    encoded = encode_jpeg(rgb, quality)
    assert encoded.format == "rgb8; jpeg compressed bgr8"
    arr, encoding = _decoded(encoded)  # the decoder swaps the plugin's BGR back to the stated rgb8
    assert encoding == "rgb8" and arr.shape == rgb.shape
    assert np.abs(arr.astype(int) - rgb).mean() < (12 if quality == 10 else 3)


def test_higher_quality_costs_more_bytes() -> None:
    rgb = overlay(_smooth_rgb(96, 128), np.random.default_rng(0).integers(0, 5, (96, 128), dtype=np.uint8),
                  PALETTE, 0.5)
    sizes = [len(encode_jpeg(rgb, q).data) for q in (20, 60, 95)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(max_value=0), st.integers(min_value=101), st.floats(allow_nan=True), st.booleans(),
                 st.text(max_size=3)))
def test_a_quality_out_of_bounds_or_not_an_integer_is_refused_naming_jpeg_quality(quality) -> None:
    with pytest.raises(ValueError, match=r"jpeg_quality must be an integer in \[1, 100\]"):
        encode_jpeg(_smooth_rgb(8, 8), quality)
    with pytest.raises(ValueError, match="jpeg_quality"):
        RuntimeConfig(jpeg_quality=quality)


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_the_setting_refuses_its_bounds_naming_itself(quality: int) -> None:
    with pytest.raises(SettingsError, match=rf"parameter jpeg_quality={quality} out of range \[1, 100\]"):
        Settings.from_values({"jpeg_quality": quality})
    assert Settings.from_values({"jpeg_quality": 1}).jpeg_quality == 1


def test_wrong_images_and_names_are_refused_naming_the_output() -> None:
    with pytest.raises(ValueError, match=r"labels: mono8 needs a non-empty H x W uint8 array, got int64"):
        encode_png(np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match="labels: PNG outputs are mono8 or mono16, got encoding 'rgb8'"):
        encode_png(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError, match=r"color: rgb8 needs a non-empty H x W x 3 uint8 array"):
        encode_jpeg(np.zeros((4, 4), np.uint8), 80, "color")
    with pytest.raises(ValueError, match="no compressed form of output.s. gates; only labels, color, overlay"):
        encode_outputs({"gates"}, 80, labels=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="overlay/compressed wanted, but no overlay picture was rendered"):
        encode_outputs({"overlay"}, 80, labels=np.zeros((4, 4), np.uint8))


# ------------------------------------------------------------------------------------------- the gate maps
HALF_STEP = 0.5 / GATE_SCALE
gate_maps = hnp.arrays(st.sampled_from([np.float32, np.float64]),
                       hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24),
                       elements=st.floats(0.0, 1.0, width=32))


@settings(max_examples=60, deadline=None)
@given(gate_maps)
def test_a_gate_map_round_trips_through_16_bit_png_within_half_a_step(gate: np.ndarray) -> None:
    encoded = encode_gate(gate)
    assert encoded.format == "mono16; png compressed "  # as compressed_image_transport writes a mono16 PNG
    values, encoding = _decoded(encoded)
    assert encoding == "mono16" and values.dtype == np.uint16
    np.testing.assert_array_equal(values, np.rint(gate.astype(np.float64) * 65535))  # exactly round(gate*65535)
    back = decode_gate(values)
    assert back.dtype == np.float32 and back.shape == gate.shape
    # half a step, plus float32's own rounding of value / 65535
    assert np.abs(back.astype(np.float64) - gate).max() <= HALF_STEP + 1e-7


def test_the_gate_ends_and_steps_are_exact() -> None:
    gate = np.array([[0.0, 1.0, 0.5, 1 / 65535, 1 - HALF_STEP * 0.99, -HALF_STEP * 0.99]], np.float64)
    values, _ = _decoded(encode_gate(gate))
    assert values.tolist() == [[0, 65535, 32768, 1, 65535, 0]]  # 32767.5 rounds half to even; tiny excursions clip


@pytest.mark.parametrize("bad, match", [
    (np.full((2, 2), 1.01, np.float32), r"gate/rgb: gate values must be finite and in \[0, 1\], got \[1.01"),
    (np.array([[0.2, -0.1]], np.float32), r"gate/rgb: gate values must be finite and in \[0, 1\], got \[-0.1"),
    (np.array([[0.2, np.nan]], np.float32), r"got \[0.2, 0.2\] and non-finite values"),
    (np.zeros((2, 2), np.uint8), "gate/rgb: a gate map is a non-empty H x W float array, got uint8"),
    (np.zeros((2, 2, 1), np.float32), r"got float32 \(2, 2, 1\)"),
    (np.zeros((0, 3), np.float32), "non-empty"),
])
def test_what_is_no_gate_map_is_refused_naming_the_output(bad: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_gate(bad, "gate/rgb")


def test_decoding_a_gate_needs_the_16_bit_values() -> None:
    with pytest.raises(ValueError, match="gate/thermal: a gate PNG decodes to mono16 .uint16., got uint8"):
        decode_gate(np.zeros((2, 2), np.uint8), "gate/thermal")


# ---------------------------------------------------------------------------------------------- the runtime
H, W = 48, 64


class _Engine:
    palette = PALETTE

    def __init__(self) -> None:
        self.renders: list = []

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        self.renders.append(render)
        labels = (rgb[:, :, 0] // 52).astype(np.uint8)  # 0..4, varying across the frame
        color = colorize(labels, PALETTE) if render.color else None
        over = overlay(rgb, labels, PALETTE, render.alpha) if render.overlay else None
        return Prediction(labels, None, None, 0.001, color, over)


def _message(arr: np.ndarray, encoding: str, stamp_ns: int) -> SimpleNamespace:
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nsec), frame_id="cam"),
                           **array_to_image_fields(arr, encoding))


def _segment(want: Outputs, quality: int = 80, engine: _Engine | None = None):
    engine, clock = engine or _Engine(), FakeClock(0.0)
    rt = SegmentationRuntime(engine, RuntimeConfig(jpeg_quality=quality), clock=clock)
    rgb = _smooth_rgb(H, W)
    rt.add(RGB, _message(rgb, "rgb8", 5_000_000_000))
    rt.add(THERMAL, _message(np.full((H, W), 100, np.uint8), "mono8", 5_000_000_000))
    return rt.process(rt.take(0), want), engine, rgb


def test_a_compressed_subscriber_alone_gets_its_picture_rendered_encoded_and_not_handed_on_raw() -> None:
    out, engine, rgb = _segment(Outputs(labels=False, compressed=frozenset({"overlay", "labels"})), quality=90)
    assert out is not None and engine.renders[-1].overlay and not engine.renders[-1].color
    assert out.overlay is None and out.color is None and set(out.compressed) == {"labels", "overlay"}
    np.testing.assert_array_equal(_decoded(out.compressed["labels"])[0], out.labels)
    picture = overlay(rgb, out.labels, PALETTE, 0.5)
    decoded = _decoded(out.compressed["overlay"])[0].astype(int)
    # near the overlay (JPEG blurs its hard class edges a little), far from the camera picture under it
    assert np.abs(decoded - picture).mean() < 8 < 30 < np.abs(decoded - rgb).mean()


def test_nothing_is_encoded_without_a_compressed_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    monkeypatch.setattr(runtime_module, "encode_outputs", lambda *a, **k: calls.append(a) or {})
    out, engine, _ = _segment(Outputs(labels=True, color=True, overlay=True))
    assert out is not None and out.compressed == {} and calls == []
    assert out.color is not None and out.overlay is not None  # raw subscribers still get theirs
    out, _, _ = _segment(Outputs(labels=False, compressed=frozenset({"color"})))
    assert out is not None and len(calls) == 1 and calls[0][0] == frozenset({"color"})


class _GatedEngine(_Engine):
    """The torch backend's kind: gates (here from the picture, so that they vary) only when asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[bool] = []

    def predict(self, rgb, thermal, *, want_gates=False, thermal_checked=False, render=None):
        self.asked.append(want_gates)
        pred = super().predict(rgb, thermal, want_gates=want_gates, thermal_checked=thermal_checked, render=render)
        gate = rgb[:, :, 0].astype(np.float32) / 255
        return pred._replace(gates=np.stack([gate, 1 - gate])) if want_gates else pred


def test_a_compressed_gate_subscriber_alone_gets_the_gated_pass_and_its_png_not_the_raw_gates() -> None:
    engine = _GatedEngine()
    out, _, rgb = _segment(Outputs(labels=False, compressed=frozenset({"gate/thermal"})), engine=engine)
    assert out is not None and engine.asked == [True] and out.gates is None and set(out.compressed) == {
        "gate/thermal"}
    assert out.compressed["gate/thermal"].format == "mono16; png compressed "
    thermal_gate = 1 - rgb[:, :, 0].astype(np.float32) / 255
    np.testing.assert_array_equal(_decoded(out.compressed["gate/thermal"])[0],
                                  np.rint(thermal_gate.astype(np.float64) * 65535))
    out, _, _ = _segment(Outputs(labels=True, compressed=frozenset({"labels"})), engine=engine)
    assert engine.asked[-1] is False and set(out.compressed) == {"labels"}  # no gate subscriber: no gated pass


def test_a_backend_without_gates_leaves_their_compressed_form_out_as_the_raw_one() -> None:
    out, _, _ = _segment(Outputs(labels=False, gates=True, compressed=frozenset({"gate/rgb", "labels"})))
    assert out is not None and out.gates is None and set(out.compressed) == {"labels"}
