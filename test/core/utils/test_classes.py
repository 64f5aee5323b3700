"""Class names and palettes: the released data sets' own, and distinct generated colours for any other count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rgbt_seg_core.utils.classes import (
    KUST4K_CLASSES,
    KUST4K_PALETTE,
    MFNET_CLASSES,
    MFNET_PALETTE,
    PST900_CLASSES,
    PST900_PALETTE,
    UNLABELLED_NAME,
    default_classes,
    label_map,
)


@pytest.mark.parametrize("names, palette", [(MFNET_CLASSES, MFNET_PALETTE), (PST900_CLASSES, PST900_PALETTE),
                                            (KUST4K_CLASSES, KUST4K_PALETTE)])
def test_each_data_set_has_one_colour_per_class(names: tuple, palette: tuple) -> None:
    assert len(names) == len(palette) == len(set(names))
    assert len(set(palette)) == len(palette) and palette[0] == (0, 0, 0)  # the unlabelled class is black
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette)


def test_released_data_sets() -> None:
    assert MFNET_CLASSES[:3] == ("unlabeled", "car", "person") and len(MFNET_CLASSES) == 9
    assert PST900_CLASSES == ("background", "fire_extinguisher", "backpack", "hand_drill", "survivor")
    assert default_classes(9) == (MFNET_CLASSES, MFNET_PALETTE)
    assert default_classes(5) == (PST900_CLASSES, PST900_PALETTE)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12, 40, 256])
def test_other_counts_get_generic_names_and_distinct_colours(n: int) -> None:
    names, palette = default_classes(n)
    assert names == tuple(f"class_{i}" for i in range(n))
    assert len(palette) == n and len(set(palette)) == n and palette[0] == (0, 0, 0)
    assert all(all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in palette)


def test_generated_palette_is_pascal_vocs() -> None:
    _, palette = default_classes(4)
    assert palette == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))


def test_label_map_names_each_class_and_the_unlabelled_id() -> None:
    assert label_map(["a", "b"], 255) == [(0, "a"), (1, "b"), (255, UNLABELLED_NAME)]
    many = [f"c{i}" for i in range(300)]
    assert label_map(many, 255) == list(enumerate(many))  # 255 is a class there, not "unlabelled"
    with pytest.raises(ValueError, match="uint16"):
        label_map(["x"] * 65536, 255)


@given(st.lists(st.text(max_size=10), max_size=300), st.integers(0, 65535))
def test_label_map_keeps_every_name_at_its_index_and_ids_unique(names: list[str], unlabelled: int) -> None:
    got = label_map(names, unlabelled)
    assert got[:len(names)] == list(enumerate(names))
    assert got[len(names):] == ([(unlabelled, UNLABELLED_NAME)] if unlabelled >= len(names) else [])
    assert len({i for i, _ in got}) == len(got)
