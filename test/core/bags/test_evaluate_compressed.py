"""``bag-eval --out-bag ... --out-compressed``: the output bag's pictures in image_transport's compressed transport,
decoded by the camera decoder: labels equal the raw run's exactly, the JPEG pictures are near the raw ones, the gate
maps' 16-bit PNGs hold round(gate * 65535) of the raw run's gates, and the bag is a fraction of the raw one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _support.varied_model import assert_varied
from rgbt_seg_core.bags.evaluate import COMPRESSED_TOPICS, OUTPUT_TOPICS
from rgbt_seg_core.bags.io import list_topics, read_images
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.runtime.compressed_outputs import decode_gate
from rgbt_seg_core.runtime.imageconv import decode_image


def _by_stamp(bag: Path, topic: str) -> dict[int, tuple[np.ndarray, str]]:
    return {item.stamp_ns: decode_image(item.msg) for item in read_images(bag, [topic])}


def _formats(bag: Path, topic: str) -> set[str]:
    return {str(item.msg.format) for item in read_images(bag, [topic])}


def _bag_bytes(bag: Path) -> int:
    return sum(f.stat().st_size for f in bag.iterdir() if f.is_file())


def test_compressed_outputs_decode_to_the_raw_labels_and_near_the_raw_pictures(
        varied_checkpoint: Path, tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "data", 8, SynthConfig(height=64, width=80, seed=3))
    bag = tmp_path / "in"
    assert main(["bag-from-dataset", "--dataset", "synthetic", "--data-root", str(tmp_path / "data"), "--split",
                 "test", "--out", str(bag), "--fps", "10"]) == 0
    common = ["bag-eval", str(bag), "--checkpoint", str(varied_checkpoint), "--device", "cpu"]
    assert main([*common, "--out-bag", str(tmp_path / "raw")]) == 0
    assert main([*common, "--out-bag", str(tmp_path / "small"), "--out-compressed", "--jpeg-quality", "90"]) == 0

    topics = list_topics(tmp_path / "small")
    for key, topic in COMPRESSED_TOPICS.items():
        assert topics[topic][0] == "sensor_msgs/msg/CompressedImage" and OUTPUT_TOPICS[key] not in topics
    assert _formats(tmp_path / "small", COMPRESSED_TOPICS["labels"]) == {"mono8; png compressed "}
    for key in ("gate_rgb", "gate_thermal"):  # as compressed_image_transport writes a mono16 PNG
        assert _formats(tmp_path / "small", COMPRESSED_TOPICS[key]) == {"mono16; png compressed "}
    assert _formats(tmp_path / "small", COMPRESSED_TOPICS["overlay"]) == {"rgb8; jpeg compressed bgr8"}

    raw_labels = _by_stamp(tmp_path / "raw", OUTPUT_TOPICS["labels"])
    png_labels = _by_stamp(tmp_path / "small", COMPRESSED_TOPICS["labels"])
    assert len(raw_labels) >= 2 and raw_labels.keys() == png_labels.keys()
    for stamp, (labels, encoding) in raw_labels.items():
        assert_varied(labels)
        assert png_labels[stamp][1] == encoding == "mono8"
        np.testing.assert_array_equal(png_labels[stamp][0], labels)
    for key in ("overlay", "rgb"):
        raw = _by_stamp(tmp_path / "raw", OUTPUT_TOPICS[key])
        for stamp, (picture, _) in _by_stamp(tmp_path / "small", COMPRESSED_TOPICS[key]).items():
            assert picture.shape == raw[stamp][0].shape
            assert np.abs(picture.astype(int) - raw[stamp][0]).mean() < 8, key
    _assert_gates_are_the_raw_ones(tmp_path / "raw", tmp_path / "small")
    # measured: 160 kB raw, 25 kB compressed (2 frames of 64x80), 6.4x; with the gates raw it was 101 kB, 1.6x
    assert _bag_bytes(tmp_path / "raw") > 4 * _bag_bytes(tmp_path / "small")


def _assert_gates_are_the_raw_ones(raw_bag: Path, small_bag: Path) -> None:
    """Each gate PNG holds exactly round(gate * 65535) of the raw run's gate, so value / 65535 is within half a
    step of it; and the gates are not flat, so a PNG of zeros would not pass."""
    for key in ("gate_rgb", "gate_thermal"):
        raw = _by_stamp(raw_bag, OUTPUT_TOPICS[key])
        png = _by_stamp(small_bag, COMPRESSED_TOPICS[key])
        assert len(raw) >= 2 and raw.keys() == png.keys()
        for stamp, (gate, encoding) in raw.items():
            values, png_encoding = png[stamp]
            assert encoding == "32FC1" and png_encoding == "mono16" and values.shape == gate.shape
            assert np.ptp(gate) * 65535 > 50, key  # the test model's gates span ~190 steps
            np.testing.assert_array_equal(values, np.rint(gate.astype(np.float64) * 65535))
            assert np.abs(decode_gate(values).astype(np.float64) - gate).max() <= 0.5 / 65535 + 1e-7


def test_out_compressed_without_an_output_bag_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bag-eval", str(tmp_path / "none"), "--checkpoint", "x.safetensors", "--out-compressed"]) != 0
    assert "--out-compressed says how --out-bag writes its pictures: give --out-bag too" in capsys.readouterr().err
