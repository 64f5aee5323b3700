"""The node's configs from its settings: one function for the node and the offline tools, and the last check of a
set of settings (the configs' own cross-checks), named as the node names them."""

from __future__ import annotations

import pytest

from rgbt_seg_core.runtime.node_settings import (
    check_configs,
    checked_pairs,
    checked_settings,
    node_configs,
    pair_configs,
)
from rgbt_seg_core.settings import Settings, SettingsError


def test_the_node_and_an_offline_tool_differ_only_where_they_say() -> None:
    s = Settings.from_values({"frozen_timeout": 3, "slop": 0.07, "warmup": 5, "thermal_offset_y": 2})
    live_rt, live_inf = node_configs(s)
    off_rt, off_inf = node_configs(s, realtime=False, warmup=0)
    assert live_rt.realtime and not off_rt.realtime and live_inf.warmup == 5 and off_inf.warmup == 0
    assert off_rt.frozen_timeout == live_rt.frozen_timeout == 3.0 and off_rt.slop == 0.07
    assert off_inf.thermal_offset == live_inf.thermal_offset == (0, 2)


@pytest.mark.parametrize("values, why", [
    ({"slop": 2.5}, r"^parameters: jump_threshold \(2.0 s\) must exceed slop \(2.5 s\)$"),
    ({"precision": "int8", "backend": "openvino"}, r"^parameters: precision int8 needs the quantised model file"),
    ({"thermal_homography": [1, 2, 0, 2, 4, 0, 0, 0, 1]}, r"^parameter thermal_homography: thermal homography is "
                                                          "singular"),
])
def test_the_configs_cross_checks_refuse_named(values: dict, why: str) -> None:
    s = Settings.from_values(values)  # each value alone is fine
    with pytest.raises(SettingsError, match=why):
        node_configs(s)
    with pytest.raises(SettingsError, match="^f.yaml: " + why.lstrip("^")):
        check_configs(s, source="f.yaml")
    with pytest.raises(SettingsError, match="^cmd: " + why.lstrip("^")):
        checked_settings(values, source="cmd")


def test_checked_settings_keeps_good_values() -> None:
    s = checked_settings({"jump_threshold": 5, "slop": 2.5})
    assert s.jump_threshold == 5.0 and s.slop == 2.5


def test_each_pair_has_its_configs_and_its_errors_name_it() -> None:
    values = {"pairs": ["front", "rear"], "front.thermal_offset_y": 2, "rear.slop": 0.2}
    ps = checked_pairs(values)
    configs = pair_configs(ps, realtime=False, warmup=0)
    assert list(configs) == ["front", "rear"] and configs["front"][1].thermal_offset == (0, 2)
    assert configs["rear"][0].slop == 0.2 and configs["front"][0].slop == 0.05 and not configs["rear"][0].realtime
    assert list(pair_configs(checked_pairs({}))) == [""]  # no pairs: the one pair, with the node's configs
    with pytest.raises(SettingsError, match=r"^f.yaml: pair rear: parameters: jump_threshold \(2.0 s\) must exceed "
                       r"slop \(2.5 s\)$"):
        checked_pairs({**values, "rear.slop": 2.5}, source="f.yaml")
    with pytest.raises(SettingsError, match="^pair front: parameter thermal_homography: thermal homography is "
                       "singular"):
        checked_pairs({**values, "front.thermal_homography": [1, 2, 0, 2, 4, 0, 0, 0, 1]})
