"""Loaders on fixtures in the exact public layouts; broken layouts fail with the path and the expected layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rgbt_seg_core.data import DatasetLayoutError, MFNetDataset, PST900Dataset, build_dataset
from rgbt_seg_core.data.base import as_image_size

H, W = 48, 64


def _mfnet(root: Path, names_by_split: dict[str, list[str]], flip: bool = False) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    all_names = sorted({n for v in names_by_split.values() for n in v})
    for name in all_names:
        rgbt = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)  # R, G, B, T in file order
        bgra = rgbt[:, :, [2, 1, 0, 3]]
        cv2.imwrite(str(root / "images" / f"{name}.png"), bgra)
        cv2.imwrite(str(root / "labels" / f"{name}.png"), rng.integers(0, 9, (H, W), dtype=np.uint8))
    for split, names in names_by_split.items():
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


SPLITS = {"train": ["00001D", "00002N", "00001D_flip"], "val": ["00003D"], "test": ["00004D", "00005N"],
          "test_day": ["00004D"], "test_night": ["00005N"]}


def test_mfnet_reads_channels_in_file_order(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", SPLITS)
    ds = MFNetDataset(root, "train", image_size=(H, W))
    assert len(ds) == 3 and ds.names[2] == "00001D_flip"
    s = ds[0]
    raw = cv2.imread(str(root / "images" / "00001D.png"), cv2.IMREAD_UNCHANGED)  # B, G, R, T
    assert (s.rgb[:, :, 0] == raw[:, :, 2]).all() and (s.thermal == raw[:, :, 3]).all()
    assert s.label.dtype == np.uint8 and s.rgb.shape == (H, W, 3)
    ds.validate()
    assert MFNetDataset.is_night("00002N") and MFNetDataset.is_night("00002N_flip") and not MFNetDataset.is_night("1D")


def test_mfnet_default_size_is_480x640(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", SPLITS)
    with pytest.raises(DatasetLayoutError, match="expected 480x640"):
        MFNetDataset(root, "val").validate()


def test_mfnet_missing_split_file(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", {"train": ["00001D"]})
    with pytest.raises(FileNotFoundError, match="val.txt") as err:
        MFNetDataset(root, "val")
    assert "images/<name>.png" in str(err.value)


def test_mfnet_broken_files_are_all_reported(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", SPLITS)
    (root / "images" / "00001D.png").unlink()  # missing
    cv2.imwrite(str(root / "images" / "00002N.png"), np.zeros((H, W, 3), np.uint8))  # no thermal channel
    cv2.imwrite(str(root / "labels" / "00001D_flip.png"), np.full((H, W), 12, np.uint8))  # bad label value
    with pytest.raises(DatasetLayoutError) as err:
        MFNetDataset(root, "train", image_size=(H, W)).validate()
    msg = str(err.value)
    assert "3 problem(s)" in msg
    assert "00001D.png" in msg and "4-channel" in msg and "label value 12 out of range 0..8" in msg
    assert "Expected layout" in msg


def test_mfnet_wrong_size_and_unreadable(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", SPLITS)
    cv2.imwrite(str(root / "labels" / "00003D.png"), np.zeros((H, W + 2), np.uint8))
    with pytest.raises(DatasetLayoutError, match=f"label is {H}x{W + 2}, expected {H}x{W}"):
        MFNetDataset(root, "val", image_size=(H, W)).validate()
    (root / "images" / "00004D.png").write_bytes(b"not a png")
    with pytest.raises(DatasetLayoutError, match="unreadable image"):
        MFNetDataset(root, "test", image_size=(H, W)).validate()


def _pst(root: Path, names: list[str], split: str = "train") -> Path:
    rng = np.random.default_rng(1)
    for sub in ("rgb", "thermal", "thermal_raw", "depth", "labels"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    for n in names:
        cv2.imwrite(str(root / split / "rgb" / f"{n}.png"), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        cv2.imwrite(str(root / split / "thermal" / f"{n}.png"), rng.integers(0, 256, (H, W), dtype=np.uint8))
        cv2.imwrite(str(root / split / "thermal_raw" / f"{n}.png"), rng.integers(0, 65535, (H, W), dtype=np.uint16))
        cv2.imwrite(str(root / split / "labels" / f"{n}.png"), rng.integers(0, 5, (H, W), dtype=np.uint8))
    return root


def test_pst900_8bit_and_raw(tmp_path: Path) -> None:
    root = _pst(tmp_path / "pst", ["32_bag_a", "40_bag_b"])
    ds = PST900Dataset(root, "train", image_size=(H, W))
    assert ds.names == ["32_bag_a", "40_bag_b"] and ds.num_classes == 5
    assert ds[0].thermal.dtype == np.uint8
    raw = PST900Dataset(root, "train", thermal="raw", image_size=(H, W))
    assert raw[0].thermal.dtype == np.uint16
    raw.validate()
    ds.validate()


def test_pst900_missing_thermal_and_bad_label(tmp_path: Path) -> None:
    root = _pst(tmp_path / "pst", ["a", "b"])
    (root / "train" / "thermal" / "a.png").unlink()
    cv2.imwrite(str(root / "train" / "labels" / "b.png"), np.full((H, W), 7, np.uint8))
    with pytest.raises(DatasetLayoutError) as err:
        PST900Dataset(root, "train", image_size=(H, W)).validate()
    msg = str(err.value)
    assert "thermal/a.png" in msg and "label value 7 out of range 0..4" in msg


def test_pst900_missing_folder_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="test/rgb"):
        PST900Dataset(tmp_path, "test")
    with pytest.raises(ValueError, match="split"):
        PST900Dataset(tmp_path, "val")
    with pytest.raises(ValueError, match="thermal"):
        PST900Dataset(tmp_path, "train", thermal="16")


def test_build_dataset_synthetic_needs_synth_json(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "mf", SPLITS)
    with pytest.raises(FileNotFoundError, match="synth.json"):
        build_dataset("synthetic", root, "train")
    with pytest.raises(ValueError, match="unknown data set"):
        build_dataset("kitti", root, "train")


@given(st.one_of(st.lists(st.integers(-10**6, 10**6), max_size=4),
                 st.tuples(st.integers(1, 4096), st.integers(1, 4096)), st.text(max_size=3)))
def test_as_image_size_takes_two_numbers_or_names_the_option(value: list[int] | tuple[int, int] | str) -> None:
    """A size from YAML or JSON (a list, a tuple, or a wrong type): (height, width), or a ValueError naming it."""
    if not isinstance(value, str) and len(value) == 2:
        assert as_image_size(value, "opt") == (int(value[0]), int(value[1]))
    else:
        with pytest.raises(ValueError, match=r"opt: expected \[height, width\]"):
            as_image_size(value, "opt")  # a str is a Sequence too, and must still be refused


def test_mfnet_metadata_with_a_bad_size_names_the_file(tmp_path: Path) -> None:
    root = _mfnet(tmp_path / "m", {"train": ["a"]})
    (root / "synth.json").write_text('{"image_size": [48, 64, 3]}')
    with pytest.raises(ValueError, match=r"synth\.json: unreadable .*image_size: expected"):
        MFNetDataset(root, "train")
