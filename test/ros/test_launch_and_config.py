"""config/segment.yaml and the launch file agree with the node's declared parameters."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.settings.render import written
from rgbt_seg_ros.params import PARAM_SPECS, NodeParams, render_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_yaml_keys_equal_declared_parameters() -> None:
    data = yaml.safe_load((ROOT / "config" / "segment.yaml").read_text())
    params = data["/**"]["ros__parameters"]
    in_file = [s for s in PARAM_SPECS if written(s, s.default)]  # an empty list is left out: rcl cannot type it
    assert set(params) == {s.name for s in in_file} and len(in_file) >= len(PARAM_SPECS) - 1
    for spec in in_file:
        assert params[spec.name] == spec.default, spec.name
    NodeParams.from_values({**params, "checkpoint": "x.safetensors"})  # the defaults are valid
    # descriptions, ranges and choices too: the file is the table, rendered (python -m rgbt_seg_ros.params)
    assert (ROOT / "config" / "segment.yaml").read_text() == render_yaml()


def test_param_validation_messages() -> None:
    base = {"checkpoint": "m.safetensors"}
    with pytest.raises(ValueError, match="checkpoint is required"):
        NodeParams.from_values({})
    with pytest.raises(ValueError, match=r"slop=-1.0 out of range"):
        NodeParams.from_values({**base, "slop": -1.0})
    with pytest.raises(ValueError, match="qos_reliability"):
        NodeParams.from_values({**base, "qos_reliability": "sometimes"})
    with pytest.raises(ValueError, match="expected int"):
        NodeParams.from_values({**base, "queue_size": "ten"})
    with pytest.raises(ValueError, match="thermal_range_max > thermal_range_min"):
        NodeParams.from_values({**base, "thermal_norm": "fixed"})
    for bad, why in (([1.0] * 8, "must be 9 numbers"), ([1, 0, 0, 0, 1, 0, 0, 0, 0], r"H\[2\]\[2\] = 0"),
                     ([1, 2, 0, 2, 4, 0, 0, 0, 1], "singular"), ([float("nan")] + [0.0] * 8, "non-finite"),
                     ("abc", "expected list")):
        with pytest.raises(ValueError, match=why):
            NodeParams.from_values({**base, "thermal_homography": bad})
    with pytest.raises(ValueError, match=r"parameters: precision int8 runs a quantised model file with backend "
                       r"onnxruntime, openvino, tensorrt, not torch"):
        NodeParams.from_values({**base, "precision": "int8"})
    with pytest.raises(ValueError, match=r"parameters: precision int8 needs the quantised model file \(model_file"):
        NodeParams.from_values({**base, "precision": "int8", "backend": "openvino"})
    int8 = NodeParams.from_values({**base, "precision": "int8", "backend": "openvino", "model_file": "m_int8.xml"})
    assert int8.inference_config().precision == "int8"
    p = NodeParams.from_values({**base, "thermal_homography": [2, 0, 1, 0, 2, 1, 0, 0, 1]})
    assert p.inference_config().homography()[0, 0] == 2.0


def _real_launch_available() -> bool:
    # the repository's launch/ folder imports as an empty namespace package; the real library has LaunchDescription
    try:
        import launch

        return hasattr(launch, "LaunchDescription") and importlib.util.find_spec("launch_ros") is not None
    except ImportError:
        return False


@pytest.mark.skipif(not _real_launch_available(), reason="ROS 2 launch / launch_ros not installed")
def test_launch_description_declares_its_arguments() -> None:
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("segment_launch", ROOT / "launch" / "segment.launch.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    declared = {e.name for e in ld.entities if isinstance(e, DeclareLaunchArgument)}
    assert declared == set(LAUNCH_ARGUMENTS)


LAUNCH_ARGUMENTS = ("checkpoint", "rgb_topic", "thermal_topic", "rgb_transport", "thermal_transport", "rgb_info_topic",
                    "device", "params_file", "registration_file", "namespace", "use_sim_time", "use_rviz", "lifecycle",
                    "autostart", "pairs")


@pytest.mark.skipif(not _real_launch_available(), reason="ROS 2 launch / launch_ros not installed")
@pytest.mark.parametrize("args, labels", [(["lifecycle:=true", "autostart:=true"], True),
                                          (["lifecycle:=true", "wait:=10"], False),  # left for a manager
                                          ([], True)])
def test_the_launch_file_starts_the_node_it_is_asked_for(tiny_checkpoint, args: list[str], labels: bool) -> None:
    """The installed launch file under the real launch_ros: the managed node with autostart is configured and
    activated by launch_ros' lifecycle events and segments; without autostart it waits unconfigured."""
    import subprocess
    import sys

    share = Path(sys.prefix) / "share" / "rgbt_seg_ros"
    out = subprocess.run([sys.executable, str(ROOT / "test" / "_support" / "launch_child.py"), str(tiny_checkpoint),
                          str(share), *args], capture_output=True, text=True, timeout=300).stdout
    assert "launch exit: 0" in out and ("labels received: 0" not in out) == labels, out


def test_launch_file_names_every_argument_even_without_launch() -> None:
    text = (ROOT / "launch" / "segment.launch.py").read_text()
    for name in LAUNCH_ARGUMENTS:
        assert f'("{name}",' in text


def test_launch_arguments_override_the_params_file_only_when_given() -> None:
    from rgbt_seg_ros.launch_support import node_parameters

    assert node_parameters("/p.yaml", rgb_transport="compressed", thermal_transport=" ") == [
        "/p.yaml", {"use_sim_time": False, "rgb_transport": "compressed"}]
    assert node_parameters("/p.yaml") == ["/p.yaml", {"use_sim_time": False}]  # the file's device stands
    assert node_parameters("/p.yaml", registration_file="/h.yaml") == ["/p.yaml", "/h.yaml", {"use_sim_time": False}]
    assert node_parameters("/p.yaml", checkpoint=" m.safetensors ", device="cuda:1", use_sim_time="true") == [
        "/p.yaml", {"use_sim_time": True, "checkpoint": "m.safetensors", "device": "cuda:1"}]
    with pytest.raises(ValueError, match="^use_sim_time: expected true or false, got 'maybe'$"):
        node_parameters("/p.yaml", use_sim_time="maybe")
    assert node_parameters("/p.yaml", use_sim_time=" YES ")[-1] == {"use_sim_time": True}
    assert node_parameters("/p.yaml", use_sim_time="")[-1] == {"use_sim_time": False}  # an argument left empty


def test_camera_topics_and_the_node_kind() -> None:
    from rgbt_seg_ros.launch_support import camera_info_topic, node_executable, remappings

    assert camera_info_topic("/cam/color/image_raw") == "/cam/color/camera_info"
    assert camera_info_topic("rgb/image") == "rgb/camera_info" and camera_info_topic("image") == "camera_info"
    assert camera_info_topic("/image") == "/camera_info"
    assert remappings("/c/image_raw", "/t/image_raw") == [
        ("rgb/image", "/c/image_raw"), ("thermal/image", "/t/image_raw"), ("rgb/camera_info", "/c/camera_info")]
    assert remappings("/c/image_raw", "/t", " /c/info ")[2] == ("rgb/camera_info", "/c/info")
    assert node_executable("true") == "segmentation_lifecycle_node" and node_executable("") == "segmentation_node"
    with pytest.raises(ValueError, match="lifecycle: expected true or false"):
        node_executable("sometimes")
    for executable in ("segmentation_node", "segmentation_lifecycle_node"):  # both installed by setup.py
        assert f'"{executable} = rgbt_seg_ros.{executable}:main"' in (ROOT / "setup.py").read_text()
        assert (ROOT / "scripts" / executable).exists()


@pytest.mark.parametrize("namespace, prefix", [("", ""), ("/", ""), ("robot1", "/robot1"), ("/a/b/", "/a/b")])
def test_rviz_topics_follow_the_namespace(namespace: str, prefix: str) -> None:
    from rgbt_seg_ros.launch_support import rviz_config_for_namespace

    text = (ROOT / "config" / "segment.rviz").read_text()
    topics = [line.split("Value:")[1].strip() for line in rviz_config_for_namespace(text, namespace).splitlines()
              if "Value: /" in line]
    # the overlay through image_transport's compressed transport: RViz takes the transport from the topic's suffix
    assert topics == [f"{prefix}/segmentation_node/{t}" for t in ("overlay/compressed", "color", "gate/rgb",
                                                                  "gate/thermal")]
    data = yaml.safe_load(rviz_config_for_namespace(text, namespace))
    assert data["Visualization Manager"]["Displays"][0]["Topic"]["Value"] == \
        f"{prefix}/segmentation_node/overlay/compressed"


@settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(st.sampled_from([s.name for s in PARAM_SPECS]),
                              st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                                        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12),
                                        st.lists(st.integers(-3, 3), min_size=9, max_size=9))))
def test_any_parameter_values_give_params_or_a_named_error(values: dict) -> None:
    """Parameters come from users: any value either validates (and is kept as given) or raises the error of the
    parameter at fault. A one-parameter error (type, finiteness, range, choices) names a parameter that was given
    and that value alone raises it again; an error across parameters names one that was given, alone valid."""
    values = {"checkpoint": "m.safetensors", **values}
    base = {"checkpoint": "m.safetensors"}
    try:
        p = NodeParams.from_values(values)
    except ValueError as exc:
        msg = str(exc)
        single = SINGLE_PARAMETER_ERROR.match(msg)
        if single:
            name = single["name"]
            assert name in values, msg
            with pytest.raises(ValueError) as alone:
                NodeParams.from_values({**base, name: values[name]})
            assert str(alone.value) == msg
            return
        assert CROSS_PARAMETER_ERROR.match(msg), msg
        named = [n for n in values if re.search(rf"\b{n}\b", msg.replace("thermal homography", "thermal_homography"))]
        assert named, msg
        for name in values:  # every value passes its own checks: the fault lies in how they combine
            try:
                NodeParams.from_values({**base, name: values[name]})
            except ValueError as alone:
                assert not SINGLE_PARAMETER_ERROR.match(str(alone)), (msg, str(alone))
        return
    p.runtime_config()
    p.inference_config()
    assert p.slop > 0 and p.jump_threshold > p.slop and p.max_pixels >= 1
    defaults = {spec.name: spec.default for spec in PARAM_SPECS}
    for name, value in values.items():  # kept as given, in the parameter's own type (ints widen to floats)
        kept = getattr(p, name)
        assert kept == (list(map(float, value)) if isinstance(value, list) else value), name
        assert type(kept) is type(defaults[name]), name


# "parameter X: expected ...", "parameter X=v out of range [...]", "parameter X=v: expected one of ..."
SINGLE_PARAMETER_ERROR = re.compile(r"parameter (?P<name>\w+)(: expected |=.* out of range \[|=.*: expected one of )")
# the cross-checks: checkpoint given, percentiles ordered, a fixed range, the homography, the runtime's own
CROSS_PARAMETER_ERROR = re.compile(r"parameter checkpoint is required|parameter thermal_percentile_low must be below"
                                   r"|thermal_norm=fixed needs|parameter thermal_homography: |parameters: ")


def test_launch_pairs_reach_the_node_and_refuse_single_pair_topics_beside_them() -> None:
    from rgbt_seg_ros.launch_support import node_parameters, remappings

    assert node_parameters("/p.yaml", pairs="front,rear")[-1] == {"use_sim_time": False, "pairs": ["front", "rear"]}
    assert node_parameters("/p.yaml", pairs="[front, rear]")[-1]["pairs"] == ["front", "rear"]
    assert "pairs" not in node_parameters("/p.yaml", pairs=" ")[-1]  # the params file's pairs stand
    assert remappings("rgb/image", "thermal/image", "", "front,rear") == remappings("rgb/image", "thermal/image")
    with pytest.raises(ValueError, match=r"^rgb_topic: names a single camera pair's topic; with pairs:=front,rear"):
        remappings("/cam/image_raw", "thermal/image", "", "front,rear")
    with pytest.raises(ValueError, match=r"^rgb_info_topic: "):
        remappings("rgb/image", "thermal/image", "/cam/info", "front")


PAIR_NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=4, unique=True)


@settings(max_examples=50, deadline=None)
@given(pairs=PAIR_NAMES, namespace=st.sampled_from(["", "robot1", "/a/b/"]))
def test_rviz_shows_each_display_once_per_pair_on_that_pairs_topic(pairs: list[str], namespace: str) -> None:
    from rgbt_seg_ros.launch_support import normalize_namespace, rviz_config_for_pairs

    text = (ROOT / "config" / "segment.rviz").read_text()
    data = yaml.safe_load(rviz_config_for_pairs(text, namespace, pairs))
    displays = data["Visualization Manager"]["Displays"]
    prefix = normalize_namespace(namespace)
    topics = [d["Topic"]["Value"] for d in displays if "Topic" in d]
    assert topics == [f"{prefix}/segmentation_node/{p}/{t}" for p in pairs
                      for t in ("overlay/compressed", "color", "gate/rgb", "gate/thermal")]
    assert [d["Name"] for d in displays if "Topic" in d][:2] == [f"{pairs[0]}: Overlay", f"{pairs[0]}: Labels (colour)"]
    assert rviz_config_for_pairs(text, namespace, []) == text.replace("Value: /segmentation_node/",
                                                                      f"Value: {prefix}/segmentation_node/")


def _launch_file_with_stand_ins(monkeypatch) -> tuple[object, list[dict]]:
    """segment.launch.py loaded over stand-ins for launch and launch_ros (not installed here): each Node records
    what it was given, LaunchConfiguration reads the launch arguments from the context, so its _launch runs."""
    import sys
    import types

    made: list[dict] = []

    class Recorded:
        def __init__(self, *args, **kwargs) -> None:
            made.append(kwargs)

    class LaunchConfiguration:
        def __init__(self, name: str) -> None:
            self.name = name

        def perform(self, context: dict) -> str:
            return context[self.name]

    class FindPackageShare:
        def __init__(self, package: str) -> None:
            pass

        def perform(self, context: dict) -> str:
            return str(ROOT)

    modules = {"launch": {"LaunchDescription": Recorded}, "launch.events": {"matches_action": lambda node: node},
               "launch.actions": {n: Recorded for n in ("DeclareLaunchArgument", "EmitEvent", "OpaqueFunction",
                                                         "RegisterEventHandler")},
               "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
               "launch_ros.actions": {"LifecycleNode": Recorded, "Node": Recorded},
               "launch_ros.substitutions": {"FindPackageShare": FindPackageShare}}
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("segment_launch_stand_ins", ROOT / "launch" / "segment.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, made


def test_the_launch_file_passes_pairs_and_shows_each_pair_in_rviz(monkeypatch) -> None:
    mod, made = _launch_file_with_stand_ins(monkeypatch)
    context = {name: default for name, default, _ in mod.ARGUMENTS}
    context.update(pairs="front,rear", use_rviz="true")
    mod._launch(context)
    node, rviz = made
    assert node["parameters"][0] == str(ROOT / "config" / "segment.yaml")
    assert node["parameters"][-1]["pairs"] == ["front", "rear"] and node["name"] == "segmentation_node"
    rviz_file = Path(rviz["arguments"][1])
    try:
        text = rviz_file.read_text()
    finally:
        rviz_file.unlink()
    assert "Value: /segmentation_node/front/overlay" in text and "Value: /segmentation_node/rear/gate/thermal" in text
    context.update(rgb_topic="/cam/image_raw", use_rviz="false")
    with pytest.raises(ValueError, match="^rgb_topic: names a single camera pair's topic"):
        mod._launch(context)


def test_the_two_pair_parameter_file_of_the_docs_is_valid(tmp_path: Path) -> None:
    from rgbt_seg_core.runtime.node_settings import checked_pairs
    from rgbt_seg_core.settings.files import read_params_file

    text = (ROOT / "docs" / "ros.md").read_text()
    block = text.split("A two-pair parameter file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "two_pairs.yaml"
    path.write_text(block)
    ps = checked_pairs(read_params_file(path), source=str(path), settings_type=NodeParams)
    assert ps.names == ("front", "rear") and ps.pairs["rear"].rgb_transport == "compressed"
    assert ps.pairs["front"].thermal_homography[0] == 1.02 and ps.pairs["rear"].thermal_homography == [0.0] * 9
    assert ps.pairs["front"].thermal_norm == ps.pairs["rear"].thermal_norm == "fixed"
