"""INT8 calibration inputs: frames spread over the whole split, preprocessed exactly as the engine preprocesses
them, from any sized sequence of samples; an empty split or a frame the NaN rule refuses is named."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rgbt_seg_core.inference.calibration import calibration_feeds, describe, pick_frames
from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_on_device


@dataclass(frozen=True)
class Frame:
    name: str
    rgb: np.ndarray
    thermal: np.ndarray


class Split(list):
    """A list of frames that names itself as a data set split does."""

    dataset_name, split, root = "synthetic", "train", "/data/synth"


def _frames(n: int, h: int = 24, w: int = 32, thermal_dtype: type = np.uint8) -> list[Frame]:
    rng = np.random.default_rng(n)
    return [Frame(f"f{i}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                  rng.integers(0, 256, (h, w)).astype(thermal_dtype)) for i in range(n)]


@given(st.integers(-3, 400), st.integers(-3, 400))
def test_picked_frames_are_spread_over_the_split_without_repeats(total: int, wanted: int) -> None:
    picked = pick_frames(total, wanted)
    if total <= 0 or wanted <= 0:
        assert picked == []
        return
    assert picked == sorted(set(picked)) and all(0 <= i < total for i in picked)
    assert len(picked) == min(total, wanted)
    assert picked[0] == 0 and (wanted == 1 or picked[-1] == total - 1)  # both ends: day and night, first and last


def test_feeds_are_the_engines_inputs() -> None:
    frames = _frames(5, thermal_dtype=np.uint16)
    norm = ThermalNorm(mode="percentile")
    feeds = calibration_feeds(frames, 3, norm)
    assert len(feeds) == 3
    for feed, frame in zip(feeds, (frames[0], frames[2], frames[4])):
        rgb, thermal = prepare_on_device(frame.rgb, frame.thermal, norm)
        assert set(feed) == {"rgb", "thermal"} and feed["rgb"].dtype == np.float32
        assert feed["rgb"].shape == (1, 3, 24, 32) and feed["thermal"].shape == (1, 1, 24, 32)
        np.testing.assert_array_equal(feed["rgb"], rgb.numpy())
        np.testing.assert_array_equal(feed["thermal"], thermal.numpy())
    assert len(calibration_feeds(frames, 50)) == 5


def test_an_empty_split_and_a_refused_frame_are_named() -> None:
    with pytest.raises(ValueError, match="calibration split synthetic:train at /data/synth has no frames"):
        calibration_feeds(Split(), 4)
    with pytest.raises(ValueError, match="calibration split list of 0 frames has no frames"):
        calibration_feeds([], 4)
    frames = _frames(3, thermal_dtype=np.float32)
    frames[2] = Frame("night_0007", frames[2].rgb, np.full((24, 32), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"calibration frame night_0007 \(synthetic:train\): thermal no finite pixel"):
        calibration_feeds(Split(frames), 3)


@given(st.text(max_size=12), st.text(max_size=12), st.none() | st.text(max_size=12))
def test_describe_names_a_split_or_the_sequence(name: str, split: str, root: str | None) -> None:
    class Named(list):
        pass

    named = Named()
    named.dataset_name, named.split, named.root = name, split, root  # type: ignore[attr-defined]
    assert describe(named) == f"{name}:{split}" + (f" at {root}" if root is not None else "")
    assert describe(named, root=False) == f"{name}:{split}"
    assert describe((1, 2)) == "tuple of 2 frames"
