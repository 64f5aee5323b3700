"""Camera pairs: their names, their topics, and each pair's settings resolved from the node's and its own
(``<pair>.<setting>``), every key applied or refused by name; with ``pairs`` empty, a single-pair node as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.settings import (
    SETTING_NAMES,
    SETTINGS,
    Setting,
    Settings,
    SettingsError,
    check_value,
    read_params_file,
    setting,
)
from rgbt_seg_core.settings.pairs import (
    MAX_PAIRS,
    OUTPUTS,
    PER_PAIR,
    SINGLE,
    pair_key,
    pair_parameters,
    pair_topics,
    pairs_from_text,
    resolve_pairs,
)

TWO = {"pairs": ["front", "rear"]}
HOMOGRAPHY = [1.0, 0.0, 12.0, 0.0, 1.0, -7.5, 0.0, 0.0, 1.0]


# ------------------------------------------------------------------------------------------------ no pairs: as before
def test_no_pairs_is_one_pair_with_the_nodes_settings() -> None:
    ps = resolve_pairs({"slop": 0.1})
    assert ps.names == (SINGLE,) and ps.pairs[SINGLE] is ps.node and ps.own == {} and ps.batch_size == 1
    assert ps.node == Settings.from_values({"slop": 0.1}) and ps.parameters() == ps.node.values()


def test_no_pairs_has_the_single_pair_nodes_topic_names() -> None:
    """The names rgbt_seg_ros.pipeline subscribes and publishes today, made by the one function."""
    t = pair_topics(SINGLE)
    assert t.images == {"rgb": "rgb/image", "thermal": "thermal/image"} and t.camera_info == "rgb/camera_info"
    assert t.outputs == {"labels": "~/labels", "color": "~/color", "overlay": "~/overlay", "gate/rgb": "~/gate/rgb",
                         "gate/thermal": "~/gate/thermal", "confidence": "~/confidence",
                         "label_confidence": "~/label_confidence", "camera_info": "~/camera_info",
                         "labels/compressed": "~/labels/compressed",
                         "color/compressed": "~/color/compressed", "overlay/compressed": "~/overlay/compressed",
                         "gate/rgb/compressed": "~/gate/rgb/compressed",
                         "gate/thermal/compressed": "~/gate/thermal/compressed", "label_info": "~/label_info"}
    assert [t.image("rgb", tr) for tr in ("raw", "compressed", "compressedDepth")] == [
        "rgb/image", "rgb/image/compressed", "rgb/image/compressedDepth"]
    assert t.subscriptions(Settings.from_values({"thermal_transport": "compressed"})) == {
        "rgb": "rgb/image", "thermal": "thermal/image/compressed"}


# ------------------------------------------------------------------------------------------------ topics
def test_a_pairs_topics_are_under_its_name() -> None:
    t = pair_topics("front")
    assert t.images == {"rgb": "front/rgb/image", "thermal": "front/thermal/image"}
    assert t.camera_info == "front/rgb/camera_info" and t.image("rgb", "compressed") == "front/rgb/image/compressed"
    assert t.outputs == {k: f"~/front/{k}" for k in OUTPUTS} and t.outputs["gate/rgb"] == "~/front/gate/rgb"
    with pytest.raises(ValueError, match="camera 'depth': expected one of rgb, thermal"):
        t.image("depth", "raw")
    with pytest.raises(ValueError, match="transport 'jpeg'"):
        t.image("rgb", "jpeg")
    with pytest.raises(SettingsError, match=r"^parameter pairs: pair 'front/left' is not a ROS name token"):
        pair_topics("front/left")


@given(st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True), min_size=2, max_size=6, unique=True))
def test_no_two_pairs_share_a_topic(names: list[str]) -> None:
    names = [n for n in names if n.lower() not in ("y", "n", "yes", "no", "true", "false", "on", "off", "null")]
    topics = [pair_topics(n) for n in names] + [pair_topics(SINGLE)]
    every = [x for t in topics for x in [*t.images.values(), t.camera_info, *t.outputs.values()]]
    assert len(every) == len(set(every)) == len(topics) * (3 + len(OUTPUTS))


# ------------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("names, why", [
    (["front", "front"], "pair front is named twice"),
    (["2front"], "pair '2front' is not a ROS name token"),
    (["_front"], "pair '_front' is not a ROS name token"),
    (["front-left"], "pair 'front-left' is not a ROS name token"),
    ([""], "pair '' is not a ROS name token"),
    (["front.left"], r"pair 'front.left' is not a ROS name token"),
    (["slop"], r"pair slop has the name of the node's parameter slop \(its keys slop.\* would clash with it\)"),
    (["use_sim_time"], "pair use_sim_time has the name of the node's parameter"),
    (["qos_overrides"], "pair qos_overrides has the name of the node's parameter"),
    (["left", "No"], "pair No is a word a parameter file reads as a boolean or null"),
    ([f"p{i}" for i in range(MAX_PAIRS + 1)], f"{MAX_PAIRS + 1} pairs, at most {MAX_PAIRS}"),
    ("front", r"expected list of str, got 'front'"),
    ([3], r"expected a list of text, got \[3\]"),
])
def test_bad_pair_names_are_refused_naming_the_pair(names: object, why: str) -> None:
    with pytest.raises(SettingsError, match=rf"^f.yaml: parameter pairs: {why}"):
        resolve_pairs({"pairs": names}, source="f.yaml")


def test_pair_names_as_a_launch_argument_gives_them() -> None:
    assert pairs_from_text("front,rear") == pairs_from_text(" [front, rear] ") == ["front", "rear"]
    assert pairs_from_text("") == pairs_from_text("[]") == []
    assert pairs_from_text("front,,rear") == ["front", "", "rear"]  # refused by the names' check, not dropped
    with pytest.raises(SettingsError, match="^parameter pairs: '\\[front' is not a YAML list"):
        pairs_from_text("[front")
    with pytest.raises(SettingsError, match="^parameter pairs: '\\[front\\]x' is not a YAML list"):
        pairs_from_text("[front]x")


@given(st.text(max_size=30))
def test_any_launch_argument_gives_a_list_or_a_named_error(text: str) -> None:
    try:
        got = pairs_from_text(text)
    except SettingsError as exc:
        assert str(exc).startswith("parameter pairs: ") and text.strip().startswith("[")
        return
    assert isinstance(got, list)
    try:
        check_value(setting("pairs"), got)
    except SettingsError as exc:
        assert str(exc).startswith("parameter pairs: ")


@given(st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), max_size=5))
def test_names_joined_by_commas_come_back(names: list[str]) -> None:
    assert pairs_from_text(",".join(names)) == names


# ------------------------------------------------------------------------------------------------ resolution
def test_a_pairs_own_value_overrides_the_nodes_for_that_pair_alone() -> None:
    ps = resolve_pairs({**TWO, "slop": 0.07, "thermal_offset_x": 3, "front.thermal_homography": HOMOGRAPHY,
                        "rear.slop": 0.1, "rear.rgb_transport": "compressed", "rear.frozen_timeout": 0})
    front, rear = ps.pairs["front"], ps.pairs["rear"]
    assert ps.names == ("front", "rear") and ps.batch_size == 2
    assert front.thermal_homography == HOMOGRAPHY and rear.thermal_homography == [0.0] * 9
    assert (front.slop, rear.slop, ps.node.slop) == (0.07, 0.1, 0.07)
    assert front.thermal_offset_x == rear.thermal_offset_x == 3  # the node's, shared
    assert rear.rgb_transport == "compressed" and front.rgb_transport == "raw"
    assert rear.frozen_timeout == 0.0 and type(rear.frozen_timeout) is float  # an int for a float, as node-wide
    assert ps.own == {"front": {"thermal_homography": HOMOGRAPHY},
                      "rear": {"frozen_timeout": 0.0, "rgb_transport": "compressed", "slop": 0.1}}
    assert resolve_pairs(ps.parameters()) == ps


def test_a_change_reaches_the_node_or_one_pair() -> None:
    """What the node does on `ros2 param set`: a node-wide value reaches every pair without its own; a pair's value
    that pair alone."""
    ps = resolve_pairs({**TWO, "front.thermal_offset_x": 5})
    wide = ps.changed({"thermal_offset_x": -2})
    assert (wide.pairs["front"].thermal_offset_x, wide.pairs["rear"].thermal_offset_x) == (5, -2)
    one = ps.changed({"rear.thermal_offset_x": 7})
    assert (one.pairs["front"].thermal_offset_x, one.pairs["rear"].thermal_offset_x, one.node.thermal_offset_x) == (
        5, 7, 0)
    with pytest.raises(SettingsError, match=r"^ros2 param set: parameter rear.thermal_offset_x=900 out of range"):
        ps.changed({"rear.thermal_offset_x": 900}, source="ros2 param set")


@pytest.mark.parametrize("max_batch, pairs, size", [(0, 4, 4), (2, 4, 2), (8, 3, 3), (0, 0, 1), (3, 0, 1)])
def test_a_batch_holds_max_batch_frames_or_one_per_pair(max_batch: int, pairs: int, size: int) -> None:
    ps = resolve_pairs({"pairs": [f"cam{i}" for i in range(pairs)], "max_batch": max_batch})
    assert ps.batch_size == size


@pytest.mark.parametrize("values, why", [
    ({"front.slop": 0.1}, r"parameter front.slop: no camera pair 'front' \(pairs is empty\)"),
    ({**TWO, "left.slop": 0.1}, r"parameter left.slop: no camera pair 'left' \(pairs is front, rear\)"),
    ({**TWO, "front.device": "cpu"}, "parameter front.device: device is the node's, shared by every pair, and "
                                     "cannot be set per pair"),
    ({**TWO, "rear.max_batch": 1}, "parameter rear.max_batch: max_batch is the node's"),
    ({**TWO, "rear.pairs": ["a"]}, "parameter rear.pairs: pairs is the node's"),
    ({**TWO, "front.slopp": 0.1}, r"parameter front.slopp: no setting 'slopp' \(a pair sets those marked per "
                                  r"pair in config/segment.yaml\)"),
    ({**TWO, "front.slop.x": 0.1}, "parameter front.slop.x: no setting 'slop.x'"),
    ({**TWO, "front.slop": -1}, r"parameter front.slop=-1.0 out of range \[1e-06, 10.0\]"),
    ({**TWO, "front.rgb_transport": "jpeg"}, "parameter front.rgb_transport='jpeg': expected one of raw, "),
    ({**TWO, "rear.thermal_homography": "x"}, "parameter rear.thermal_homography: expected list of float, got 'x'"),
    ({**TWO, "rear.qos_depth": True}, "parameter rear.qos_depth: expected int, got True"),
    ({**TWO, "rear.thermal_norm": "fixed"}, "pair rear: thermal_norm=fixed needs thermal_range_max > "
                                           "thermal_range_min"),
    ({**TWO, "thermal_norm": "fixed", "thermal_range_max": 9.0, "front.thermal_range_min": 10},
     "pair front: thermal_norm=fixed needs"),
    ({**TWO, "sloppy": 1}, "unknown parameter sloppy"),
])
def test_a_key_that_is_no_pairs_setting_is_refused_naming_it(values: dict, why: str) -> None:
    with pytest.raises(SettingsError, match=rf"^f.yaml: {why}"):
        resolve_pairs(values, source="f.yaml")


def test_what_a_pair_may_set() -> None:
    assert {s.name for s in PER_PAIR} == {s.name for s in SETTINGS if s.per_pair}
    params = pair_parameters(["front", "rear"])
    assert len(params) == 2 * len(PER_PAIR) and params["rear.thermal_homography"] is setting("thermal_homography")
    assert pair_key("front.qos_depth", ["front"]) == ("front", setting("qos_depth"))
    with pytest.raises(SettingsError, match=r"^parameter slop: not a pair's parameter \(<pair>.<setting>\)$"):
        pair_key("slop", ["front"])


def test_a_parameter_file_with_nested_pair_keys(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("/segmentation_node:\n  ros__parameters:\n    pairs: [front, rear]\n    qos_depth: 3\n"
                    "    front:\n      thermal_homography: [1, 0, 12, 0, 1, -7.5, 0, 0, 1]\n"
                    "      rgb_transport: compressed\n    rear:\n      qos_depth: 1\n")
    ps = resolve_pairs(read_params_file(path), source=str(path))
    assert ps.pairs["front"].thermal_homography == HOMOGRAPHY and ps.pairs["front"].rgb_transport == "compressed"
    assert (ps.pairs["front"].qos_depth, ps.pairs["rear"].qos_depth) == (3, 1)
    path.write_text("/**:\n  ros__parameters:\n    pairs: [front]\n    front:\n      device: cpu\n")
    with pytest.raises(SettingsError, match=rf"^{path}: parameter front.device: device is the node's"):
        resolve_pairs(read_params_file(path), source=str(path))


# ------------------------------------------------------------------------------------------------ any input
GOOD_NAMES = st.one_of(st.sampled_from(["front", "rear", "left", "cam_2"]),
                       st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True))
PAIR_NAMES = st.one_of(GOOD_NAMES, st.sampled_from(["slop", "no", "2x", "a-b", "", "a.b"]))
KEYS = st.one_of(st.sampled_from(SETTING_NAMES), st.from_regex(r"[a-z_]{1,8}", fullmatch=True))
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=True),
                   st.text(max_size=6), st.lists(st.floats(-10, 10), max_size=10),
                   st.lists(st.integers(-2, 2), min_size=9, max_size=9), st.lists(PAIR_NAMES, max_size=3),
                   st.sampled_from(["compressed", "fixed", "percentile", "reliable", "cpu"]))


def _taken(row: Setting) -> st.SearchStrategy:
    """Values the setting takes alone (the checks across settings may still refuse them)."""
    if row.choices:
        return st.sampled_from(row.choices)
    if row.type is list:
        return st.sampled_from([HOMOGRAPHY, [0] * 9])
    if row.type in (int, float) and row.range:
        return (st.integers if row.type is int else st.floats)(*row.range)
    return {bool: st.booleans(), int: st.integers(0, 9), float: st.floats(-9, 9), str: st.text(max_size=4)}[row.type]


@st.composite
def parameters(draw: st.DrawFn) -> tuple[list, dict]:
    """A ``pairs`` value and the parameters beside it: each pair's own, mostly for a named pair and a per-pair
    setting with a value it takes, and now and then anything at all."""
    pairs = draw(st.lists(GOOD_NAMES, max_size=4, unique=True) | st.lists(PAIR_NAMES, max_size=4))
    odd = st.dictionaries(KEYS, VALUES, max_size=2)
    params: dict = {**draw(st.just({}) | odd), "pairs": pairs}
    for _ in range(draw(st.integers(0, 4))):
        if pairs and draw(st.integers(0, 3)):  # three in four: a pair's own value as a user means it
            pair = draw(st.sampled_from(pairs))
            name = draw(st.sampled_from([s.name for s in PER_PAIR]))
            value = draw(_taken(setting(name)))
        else:
            pair, name = draw(PAIR_NAMES), draw(KEYS)
            value = draw(_taken(setting(name)) | VALUES if name in SETTING_NAMES else VALUES)
        if pair and "." not in pair and not isinstance(params.get(pair, {}), dict):
            continue  # a pair named as a setting given a value: the file cannot hold both
        params.setdefault(pair, {})[name] = value
    return pairs, params


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=parameters())
def test_any_nested_parameters_give_pair_settings_or_an_error_naming_the_key(tmp_path: Path, drawn: tuple) -> None:
    """Parameters from users: any file either resolves, with every key applied where it says, or is refused by
    SettingsError naming the file and a key, a pair or the pairs parameter. Nothing else is raised."""
    pairs, params = drawn
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    flat = read_params_file(path)
    try:
        ps = resolve_pairs(flat, source=str(path))
    except SettingsError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path}: "), msg
        named = [k for k in [*flat, *(f"pair {p}" for p in pairs)] if re.search(rf"(^|\W){re.escape(k)}(\W|$)",
                                                                              msg[len(str(path)):])]
        assert named, msg
        event(f"refused: {msg[len(str(path)) + 2:][:22]}")
        return
    event(f"resolved: {len(ps.own)} pairs with their own values")
    assert ps.names == (tuple(pairs) or (SINGLE,))
    for key, value in flat.items():
        pair, _, name = key.rpartition(".")
        row = setting(name)
        got = ps.pairs[pair] if pair else ps.node
        assert getattr(got, name) == check_value(row, value), key  # applied, in the setting's own type
        assert not pair or row.per_pair
    for pair, s in ps.pairs.items():  # what a pair does not set is the node's
        for row in SETTINGS:
            if f"{pair}.{row.name}" not in flat:
                assert getattr(s, row.name) == getattr(ps.node, row.name), (pair, row.name)


def test_the_largest_node_a_file_can_describe_is_within_the_files_bounds(tmp_path: Path) -> None:
    """MAX_PAIRS pairs, each setting every setting a pair may set: a few hundred parameters and a few tens of KB,
    far inside what read_params_file accepts (MAX_PARAMETERS, MAX_FILE_BYTES)."""
    from rgbt_seg_core.settings.files import MAX_FILE_BYTES, MAX_PARAMETERS
    from rgbt_seg_core.settings.render import render_yaml

    names = [f"cam{i}" for i in range(MAX_PAIRS)]
    own = {p: {s.name: s.default for s in PER_PAIR} for p in names}
    ps = resolve_pairs({"pairs": names, **{f"{p}.{k}": v for p, values in own.items() for k, v in values.items()}})
    path = tmp_path / "p.yaml"
    path.write_text(render_yaml(ps.node, pair_values=ps.own))
    flat = read_params_file(path)
    assert len(flat) == len(SETTINGS) + MAX_PAIRS * len(PER_PAIR) < MAX_PARAMETERS
    assert path.stat().st_size < MAX_FILE_BYTES // 10
    assert resolve_pairs(flat) == ps
