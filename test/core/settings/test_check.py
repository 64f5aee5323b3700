"""One value's checks: the device's forms, types, finiteness, lists of numbers."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rgbt_seg_core.settings import SettingsError, check_device, check_value, setting


@pytest.mark.parametrize("text", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_forms_accepted(text: str) -> None:
    assert check_device(text) == text


@pytest.mark.parametrize("text", ["", "gpu1", "cuda:", "cuda:-1", "CPU", "cuda:0 ", "mps", 3, None])
def test_other_devices_refused_naming_the_setting_and_the_forms(text: object) -> None:
    with pytest.raises(SettingsError, match=r"^parameter device: expected one of auto, cpu, cuda, cuda:N \(N a GPU "
                       r"index\), got "):
        check_device(text)


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                 st.lists(st.one_of(st.integers(-5, 5), st.floats(), st.text(max_size=2), st.booleans()),
                          max_size=10),
                 st.lists(st.sampled_from(["front", "rear", "a", "2b", "no", "slop"]), max_size=3)))
def test_any_value_is_taken_in_the_settings_type_or_refused_by_name(value: object) -> None:
    for name in ("slop", "queue_size", "cuda_graphs", "thermal_homography", "thermal_norm", "thermal_range_max",
                 "pairs"):
        s = setting(name)
        try:
            kept = check_value(s, value)
        except SettingsError as exc:
            assert str(exc).startswith(f"parameter {name}"), exc
            continue
        assert type(kept) is s.type
        if s.type is float:
            assert math.isfinite(kept) and not isinstance(value, bool)
        if s.item is float:
            assert kept == [float(v) for v in value] and not any(isinstance(v, bool) for v in value)
        if s.item is str:  # names: text, each a ROS name token, none twice
            assert kept == value and len(set(kept)) == len(kept) and all(re.fullmatch(r"[A-Za-z]\w*", v) for v in kept)
