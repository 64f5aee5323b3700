"""A setting's row."""

from __future__ import annotations

import pytest

from rgbt_seg_core.settings import Setting
from rgbt_seg_core.settings.spec import setting_field


def test_a_row_reads_as_the_node_needs_it() -> None:
    s = Setting("frozen_timeout", float, 2.0, "why", "runtime", unit="s", range=(0.0, 3600.0), dynamic=True)
    assert not s.read_only and s.type_name == "float" and s.flag == "--frozen-timeout"
    assert Setting("h", list, [0.0], "why", "inference").type_name == "list of float"
    names = Setting("pairs", list, [], "why", "node", item=str)
    assert names.type_name == "list of str" and not names.per_pair


@pytest.mark.parametrize("kind, item", [(list, int), (str, str), (float, float)])
def test_only_a_list_has_items_and_they_are_numbers_or_names(kind: type, item: type) -> None:
    with pytest.raises(TypeError, match="setting x: a list's items are float or str, and only a list has items"):
        Setting("x", kind, kind(), "why", "node", item=item)


def test_a_field_needs_a_known_group() -> None:
    with pytest.raises(ValueError, match="setting group 'robot': expected one of inference, runtime, camera, node"):
        setting_field(1, "why", group="robot")
