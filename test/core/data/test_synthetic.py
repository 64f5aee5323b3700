"""The synthetic generator: deterministic, MFNet layout, every class, day/night, misalignment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbt_seg_core.data import MFNetDataset, build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, render_frame, write_synthetic_dataset


def test_deterministic_by_seed_and_index() -> None:
    cfg = SynthConfig(height=96, width=128, seed=3)
    a, b = render_frame(cfg, 5), render_frame(cfg, 5)
    assert a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))
    c = render_frame(SynthConfig(height=96, width=128, seed=4), 5)
    assert not np.array_equal(a[1], c[1])


def test_classes_day_night_and_modalities() -> None:
    cfg = SynthConfig(height=96, width=128, seed=0)
    frames = [render_frame(cfg, i) for i in range(40)]
    labels = np.stack([f[3] for f in frames])
    assert set(np.unique(labels)) == set(range(9))  # every MFNet class appears
    day = [f for f in frames if f[0].endswith("D")]
    night = [f for f in frames if f[0].endswith("N")]
    assert day and night
    # night RGB is dark; thermal keeps its brightness
    assert np.mean([f[1].mean() for f in night]) < 0.4 * np.mean([f[1].mean() for f in day])
    assert np.mean([f[2].mean() for f in night]) > 0.6 * np.mean([f[2].mean() for f in day])
    # people are warmer than the road, cones colder
    t = np.concatenate([f[2][f[3] == 2] for f in frames])
    road = np.concatenate([f[2][(f[3] == 0) & (np.arange(96)[:, None] > 60)] for f in frames])
    cone = np.concatenate([f[2][f[3] == 7] for f in frames])
    assert np.median(t) > np.median(road) + 50 and np.median(cone) < np.median(road)


def test_misalignment_shifts_thermal_only() -> None:
    base = render_frame(SynthConfig(height=96, width=128, seed=1), 2)
    shifted = render_frame(SynthConfig(height=96, width=128, seed=1, misalign=6), 2)
    assert np.array_equal(base[1], shifted[1]) and np.array_equal(base[3], shifted[3])
    assert not np.array_equal(base[2], shifted[2])


def test_writes_mfnet_layout_readable_by_the_loader(tmp_path: Path) -> None:
    splits = write_synthetic_dataset(tmp_path / "s", 12, SynthConfig(height=64, width=96, seed=0))
    assert len(splits["train"]) == 6 and len(splits["val"]) == 3 and len(splits["test"]) == 3
    assert sorted(splits["test_day"] + splits["test_night"]) == sorted(splits["test"])
    ds = build_dataset("synthetic", tmp_path / "s", "train")
    assert isinstance(ds, MFNetDataset) and ds.image_size == (64, 96) and ds.dataset_name == "synthetic"
    ds.validate()
    name, rgb, thermal, label = render_frame(SynthConfig(height=64, width=96, seed=0), 0)
    s = ds.load(name)
    assert np.array_equal(s.rgb, rgb) and np.array_equal(s.thermal, thermal) and np.array_equal(s.label, label)


def test_refuses_foreign_or_conflicting_folders(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an rgbt-seg synthetic data set"):
        write_synthetic_dataset(tmp_path / "x", 8, SynthConfig(height=64, width=64))
    write_synthetic_dataset(tmp_path / "y", 8, SynthConfig(height=64, width=64, seed=0))
    with pytest.raises(ValueError, match="other settings"):
        write_synthetic_dataset(tmp_path / "y", 8, SynthConfig(height=64, width=64, seed=1))
    with pytest.raises(ValueError, match="at least 64x64"):
        SynthConfig(height=32, width=64)


def test_dynamic_misalignment_moves_objects_apart_from_the_scene() -> None:
    cfg = SynthConfig(height=96, width=128, seed=1)
    base = render_frame(cfg, 2)
    moved = render_frame(SynthConfig(height=96, width=128, seed=1, misalign_dynamic=8), 2)
    assert np.array_equal(base[1], moved[1]) and np.array_equal(base[3], moved[3])  # RGB and labels as they were
    changed = base[2] != moved[2]
    objects = base[3] > 0
    assert changed.any()
    # only around objects: pixels far from every labelled object keep their thermal value
    far = ~(cv2.dilate(objects.astype(np.uint8), np.ones((19, 19), np.uint8)).astype(bool))
    assert not changed[far].any()
    again = render_frame(SynthConfig(height=96, width=128, seed=1, misalign_dynamic=8), 2)
    assert np.array_equal(again[2], moved[2])  # repeatable


def test_synth_json_without_the_dynamic_key_counts_as_zero(tmp_path: Path) -> None:
    import json

    write_synthetic_dataset(tmp_path / "s", 4, SynthConfig(height=64, width=64, seed=0))
    info = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert info["misalign_dynamic"] == 0
    del info["misalign_dynamic"]  # as an older rgbt-seg wrote it
    (tmp_path / "s" / "synth.json").write_text(json.dumps(info))
    write_synthetic_dataset(tmp_path / "s", 8, SynthConfig(height=64, width=64, seed=0))  # grows it
    with pytest.raises(ValueError, match="other settings"):
        write_synthetic_dataset(tmp_path / "s", 8, SynthConfig(height=64, width=64, seed=0, misalign_dynamic=4))
    with pytest.raises(ValueError, match="misalign_dynamic must lie in 0..64"):
        SynthConfig(height=64, width=64, misalign_dynamic=65)
