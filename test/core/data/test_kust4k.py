"""Kust4K loader: flat folders with configurable names, day/night from the names, the paper's 70/10/20 split per
illumination generated deterministically when the release's split files are absent, and up-front validation."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.data import DatasetLayoutError, Kust4KDataset, build_dataset
from rgbt_seg_core.data.kust4k import kust4k_split

H, W = 32, 40


def _kust(root: Path, names: list[str], dirs: tuple[str, str, str] = ("RGB", "TIR", "Label"),
          thermal_3ch: bool = False) -> Path:
    rng = np.random.default_rng(0)
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(root / dirs[0] / f"{name}.png"), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        t = rng.integers(0, 256, (H, W), dtype=np.uint8)
        cv2.imwrite(str(root / dirs[1] / f"{name}.png"), np.dstack([t] * 3) if thermal_3ch else t)
        cv2.imwrite(str(root / dirs[2] / f"{name}.png"), rng.integers(0, 9, (H, W), dtype=np.uint8))
    return root


def _names(n_day: int, n_night: int) -> list[str]:
    return [f"day_{i:04d}" for i in range(n_day)] + [f"night_{i:04d}" for i in range(n_night)]


def test_generated_split_is_70_10_20_per_illumination_and_disjoint(tmp_path: Path) -> None:
    root = _kust(tmp_path / "k", _names(20, 10))
    splits = {s: Kust4KDataset(root, s, image_size=(H, W)) for s in ("train", "val", "test", "test_day", "test_night")}
    names = {s: set(ds.names) for s, ds in splits.items()}
    assert all(ds.generated_split for ds in splits.values())
    assert not (names["train"] & names["val"]) and not (names["train"] & names["test"]) and not (names["val"] &
                                                                                                 names["test"])
    assert names["train"] | names["val"] | names["test"] == set(_names(20, 10))
    count = {s: (sum(n.startswith("day") for n in v), sum(n.startswith("night") for n in v)) for s, v in names.items()}
    assert count["train"] == (14, 7) and count["val"] == (2, 1) and count["test"] == (4, 2)
    assert names["test_day"] | names["test_night"] == names["test"] and count["test_night"] == (0, 2)
    again = Kust4KDataset(root, "train", image_size=(H, W))
    assert again.names == splits["train"].names  # deterministic
    splits["test"].validate()
    s = splits["train"][0]
    raw = cv2.imread(str(root / "RGB" / f"{s.name}.png"))
    assert (s.rgb[:, :, 0] == raw[:, :, 2]).all() and s.thermal.shape == (H, W) and s.label.dtype == np.uint8
    assert splits["test"].is_night("night_0001") is True and splits["test"].is_night("day_0001") is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_day=st.integers(0, 60), n_night=st.integers(0, 60), extra=st.lists(st.text("abc_", max_size=5), max_size=4))
def test_split_partitions_any_set(n_day: int, n_night: int, extra: list[str]) -> None:
    names = _names(n_day, n_night)
    night = {n: n.startswith("night") for n in names}
    parts = {s: kust4k_split(names, night, s) for s in ("train", "val", "test", "test_day", "test_night")}
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == sorted(names)  # every name, once
    assert sorted(parts["test_day"] + parts["test_night"]) == parts["test"]
    for is_night, n in ((False, n_day), (True, n_night)):
        got = sum(night[x] == is_night for x in parts["train"])
        assert got == round(n * 0.7)
    # adding names of one illumination never moves the other's
    more = names + [f"night_x{e}" for e in extra]
    night2 = {n: n.startswith("night") for n in more}
    assert [n for n in kust4k_split(more, night2, "train") if not night2[n]] == \
        [n for n in parts["train"] if not night[n]]


def test_split_files_and_folder_names_are_options(tmp_path: Path) -> None:
    root = _kust(tmp_path / "k", _names(3, 2), dirs=("visible", "infrared", "gt"), thermal_3ch=True)
    (root / "train.txt").write_text("day_0000\nnight_0001\n")
    (root / "test.txt").write_text("day_0001\nnight_0000\n")
    opts = {"rgb_dir": "visible", "thermal_dir": "infrared", "label_dir": "gt", "image_size": (H, W)}
    ds = build_dataset("kust4k", root, "train", **opts)
    assert ds.names == ["day_0000", "night_0001"] and not ds.generated_split
    assert build_dataset("kust4k", root, "test_night", **opts).names == ["night_0000"]
    ds.validate()
    assert ds[0].thermal.ndim == 2
    with pytest.raises(DatasetLayoutError, match="folder missing: .*RGB") as err:
        build_dataset("kust4k", root, "train")
    assert "folders present: gt, infrared, visible" in str(err.value)
    with pytest.raises(ValueError, match="takes no option rgb_folder"):
        build_dataset("kust4k", root, "train", rgb_folder="x")
    with pytest.raises(ValueError, match="rgb_dir='../x' must be a folder name"):
        build_dataset("kust4k", root, "train", rgb_dir="../x")
    with pytest.raises(ValueError, match="night_pattern='\\(' is not a regular expression"):
        build_dataset("kust4k", root, "train", night_pattern="(", **{k: v for k, v in opts.items()})


def test_validation_reports_every_problem(tmp_path: Path) -> None:
    root = _kust(tmp_path / "k", _names(4, 0))
    (root / "train.txt").write_text("day_0000\nday_0001\nday_0002\nday_0003\nday_9999\nmystery\n")
    (root / "TIR" / "day_0001.png").unlink()
    cv2.imwrite(str(root / "Label" / "day_0002.png"), np.full((H, W), 12, np.uint8))
    colour = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "TIR" / "day_0003.png"), colour)
    with pytest.raises(DatasetLayoutError) as err:
        Kust4KDataset(root, "train", image_size=(H, W)).validate()
    text = str(err.value)
    for want in ("thermal of day_0001", "label value 12", "colour thermal image", "day_9999",
                 "mystery: cannot tell day from night"):
        assert want in text, (want, text)
    assert len(err.value.problems) == 5


def test_names_neither_day_nor_night_stop_a_generated_split(tmp_path: Path) -> None:
    root = _kust(tmp_path / "k", ["frame_1", "day_1"])
    with pytest.raises(DatasetLayoutError, match=re.escape("1 name(s) are neither day nor night, e.g. frame_1")):
        Kust4KDataset(root, "train")
    ds = Kust4KDataset(root, "train", night_pattern="frame", image_size=(H, W))  # an explicit rule settles it
    assert ds.is_night("frame_1") is True
