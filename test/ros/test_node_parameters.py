"""The node's parameters as users type them, through the real parameter services over DDS: an integer for a float
setting (``ros2 param set ... frozen_timeout 0``, a YAML ``2`` in ``ros2 param load`` or a params file at start)
is taken and kept as a double; a value of another type is refused naming the setting; ``ros2 param describe``
shows each constraint; ``--log-level segmentation_node:=debug`` explains decisions on /rosout."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rcl_interfaces.msg import Log, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.srv import (  # noqa: E402
    DescribeParameters,
    GetParameters,
    SetParameters,
    SetParametersAtomically,
)
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from _support.ros_harness import Harness, make_image, spin_until  # noqa: E402
from rgbt_seg_core.settings import retyped  # noqa: E402
from rgbt_seg_ros.params import PARAM_SPECS  # noqa: E402
from rgbt_seg_ros.pipeline import CONVERTS_ON_SET, _type_refusal  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
NODE = "/segmentation_node"
FLOATS = [s for s in PARAM_SPECS if type(s.default) is float]
IDENTITY = [1, 0, 0, 0, 1, 0, 0, 0, 1]
needs_pre_set = pytest.mark.skipif(not CONVERTS_ON_SET, reason="rclpy before Iron has no pre-set-parameters hook")


@pytest.fixture(scope="module")
def harness(tiny_checkpoint: Path):
    # integers where the settings are floats, as a params file or `-p frozen_timeout:=2` types them
    h = Harness(tiny_checkpoint, wait=False, frozen_timeout=2, modality_timeout=30, thermal_homography=IDENTITY)
    yield h
    h.close()


def _call(h: Harness, srv_type, name: str, request):
    client = h.peer.create_client(srv_type, f"{NODE}/{name}")
    try:
        assert client.wait_for_service(timeout_sec=20.0), f"{NODE}/{name} never came up"
        future = client.call_async(request)
        assert spin_until(future.done, 20.0), f"{NODE}/{name} did not answer"
        return future.result()
    finally:
        h.peer.destroy_client(client)


def _integer(name: str, value: int) -> ParameterMsg:
    """What `ros2 param set NODE name 2` sends: the value typed as written."""
    return ParameterMsg(name=name, value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value))


def _get(h: Harness, *names: str) -> list[ParameterValue]:
    return list(_call(h, GetParameters, "get_parameters", GetParameters.Request(names=list(names))).values)


def test_integers_given_at_start_are_declared_as_doubles(harness: Harness) -> None:
    timeout, homography = _get(harness, "frozen_timeout", "thermal_homography")
    assert timeout.type == ParameterType.PARAMETER_DOUBLE and timeout.double_value == 2.0
    assert homography.type == ParameterType.PARAMETER_DOUBLE_ARRAY and list(homography.double_array_value) == \
        [float(v) for v in IDENTITY]
    assert harness.node.params.frozen_timeout == 2.0 and harness.node.runtime.config.frozen_timeout == 2.0


@needs_pre_set
def test_ros2_param_set_with_an_integer_keeps_every_float_setting_a_double(harness: Harness) -> None:
    for spec in FLOATS:
        current = harness.node.get_parameter(spec.name).value
        value = math.ceil(current) if spec.range is None or math.ceil(current) <= spec.range[1] else int(current)
        (result,) = _call(harness, SetParameters, "set_parameters",
                          SetParameters.Request(parameters=[_integer(spec.name, value)])).results
        if spec.read_only:
            assert not result.successful and "read-only" in result.reason, (spec.name, result.reason)
            continue
        assert result.successful, (spec.name, result.reason)
        (got,) = _get(harness, spec.name)
        assert got.type == ParameterType.PARAMETER_DOUBLE and got.double_value == float(value), spec.name
    (result,) = _call(harness, SetParameters, "set_parameters",
                      SetParameters.Request(parameters=[_integer("frozen_timeout", 0)])).results
    assert result.successful and harness.node.runtime.config.frozen_timeout == 0.0  # "0: off", as documented


@needs_pre_set
def test_ros2_param_load_of_integers_one_by_one_and_atomically(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(f"{NODE}:\n  ros__parameters:\n    frozen_timeout: 3\n    overlay_alpha: 1\n"
                    f"    thermal_homography: {IDENTITY}\n")
    client = AsyncParameterClient(harness.peer, NODE)
    assert client.wait_for_services(timeout_sec=20.0)
    future = client.load_parameter_file(str(path))  # what `ros2 param load` does
    assert spin_until(future.done, 20.0)
    assert all(r.successful for r in future.result().results), future.result().results
    timeout, alpha = _get(harness, "frozen_timeout", "overlay_alpha")
    assert (timeout.type, timeout.double_value, alpha.type, alpha.double_value) == \
        (ParameterType.PARAMETER_DOUBLE, 3.0, ParameterType.PARAMETER_DOUBLE, 1.0)
    path.write_text(f"{NODE}:\n  ros__parameters:\n    frozen_timeout: 4\n    stats_window: 6\n")
    future = client.load_parameter_file_atomically(str(path))
    assert spin_until(future.done, 20.0) and future.result().result.successful, future.result()
    assert harness.node.runtime.config.frozen_timeout == 4.0 and harness.node.runtime.config.stats_window == 6.0
    assert harness.node.get_parameter("stats_window").type_ == Parameter.Type.DOUBLE


@pytest.mark.parametrize("name, value, expect", [
    ("overlay_alpha", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="0.3"), "a float"),
    ("overlay_alpha", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True), "a float"),
    ("thermal_offset_x", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=2.5), "an integer"),
    ("thermal_offset_x", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False), "an integer"),
])
def test_a_wrong_type_is_refused_naming_the_setting(harness: Harness, name: str, value: ParameterValue,
                                                    expect: str) -> None:
    before = harness.node.get_parameter(name).value
    (result,) = _call(harness, SetParameters, "set_parameters",
                      SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])).results
    assert not result.successful and f"parameter {name}: expected {expect}" in result.reason, result.reason
    atomic = _call(harness, SetParametersAtomically, "set_parameters_atomically", SetParametersAtomically.Request(
        parameters=[_integer("stats_window", 5), ParameterMsg(name=name, value=value)])).result
    assert not atomic.successful and f"parameter {name}" in atomic.reason
    assert harness.node.get_parameter(name).value == before


def test_describe_shows_every_constraint(harness: Harness) -> None:
    names = [s.name for s in PARAM_SPECS]
    described = {d.name: d for d in _call(harness, DescribeParameters, "describe_parameters",
                                          DescribeParameters.Request(names=names)).descriptors}
    homography = described["thermal_homography"]
    assert "9 numbers" in homography.additional_constraints and "row-major" in homography.additional_constraints
    for spec in PARAM_SPECS:
        d = described[spec.name]
        assert d.description == spec.description and d.read_only == spec.read_only and not d.dynamic_typing
        if spec.choices:
            assert "one of: " + ", ".join(spec.choices) in d.additional_constraints, spec.name
        if spec.range is not None:
            (r,) = d.integer_range if type(spec.default) is int else d.floating_point_range
            assert (r.from_value, r.to_value) == tuple(spec.range), spec.name
        if getattr(spec, "unit", ""):
            assert f"unit: {spec.unit}" in d.additional_constraints, spec.name


# ---------------------------------------------------------------------------------------------------- the rules
VALUES = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=8),
                   st.lists(st.integers(-1000, 1000), min_size=1, max_size=12),
                   st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=12))


@given(spec=st.sampled_from(PARAM_SPECS), value=VALUES)
def test_a_value_is_taken_only_in_its_settings_type_or_as_integers_for_floats(spec, value) -> None:
    param = Parameter(spec.name, value=value)
    want = Parameter.Type.from_parameter_value(spec.default)
    convertible = (want == Parameter.Type.DOUBLE and param.type_ == Parameter.Type.INTEGER) or (
        want == Parameter.Type.DOUBLE_ARRAY and param.type_ == Parameter.Type.INTEGER_ARRAY)
    converted = retyped(spec, param.value)
    assert (converted is not None) == convertible
    if convertible:
        assert Parameter.Type.from_parameter_value(converted) == want
        assert np.array_equal(np.asarray(converted, float), np.asarray(value, float))
    refusal = _type_refusal([param])
    assert (refusal is None) == (param.type_ == want or (convertible and CONVERTS_ON_SET))
    if refusal is not None:
        assert not refusal.successful and refusal.reason.startswith(f"parameter {spec.name}: expected ")


def test_without_the_pre_set_hook_an_integer_for_a_float_is_refused_saying_how_to_write_it(monkeypatch) -> None:
    """Humble's rclpy has no pre-set-parameters hook: the refusal names the setting and asks for 0.0."""
    from rgbt_seg_ros import pipeline

    monkeypatch.setattr(pipeline, "CONVERTS_ON_SET", False)
    refusal = _type_refusal([Parameter("frozen_timeout", value=0)])
    assert refusal is not None and refusal.reason.startswith("parameter frozen_timeout: expected a float")
    assert "write it with a decimal point" in refusal.reason
    assert _type_refusal([Parameter("frozen_timeout", value=0.0)]) is None


# ---------------------------------------------------------------------------------------------------- as a process
def _start(tiny_checkpoint: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_node", "--ros-args", "-p", f"checkpoint:={tiny_checkpoint}",
           "-p", "device:=cpu", "-p", "warmup:=0", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_params_file_integer_at_start_and_debug_lines_on_rosout(tiny_checkpoint: Path, tmp_path: Path) -> None:
    # its own name: the module's node, also segmentation_node, is still up
    name = "segmentation_node_as_process"
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    frozen_timeout: 2\n    qos_reliability: reliable\n")
    proc = _start(tiny_checkpoint, "-r", f"__node:={name}", "--params-file", str(params), "--log-level",
                  f"{name}:=debug")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    peer = rclpy.create_node("params_peer", context=ctx)
    lines: list[Log] = []
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    peer.create_subscription(Log, "/rosout", lines.append, reliable)
    pub = peer.create_publisher(Image, "rgb/image", reliable)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(peer)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        client = AsyncParameterClient(peer, f"/{name}")
        assert client.wait_for_services(timeout_sec=90.0), "node did not come up"
        future = client.get_parameters(["frozen_timeout"])
        assert spin_until(future.done, 20.0)
        (value,) = future.result().values
        assert value.type == ParameterType.PARAMETER_DOUBLE and value.double_value == 2.0
        assert spin_until(lambda: pub.get_subscription_count() > 0, 30.0)
        rgb = np.zeros((8, 8, 3), np.uint8)
        pub.publish(make_image(rgb, "rgb8", 100.0))
        pub.publish(make_image(rgb, "rgb8", 99.9))  # older than the frame before: stale
        assert spin_until(lambda: any(m.name == name and m.level == Log.DEBUG and
                                      "stale rgb frame" in m.msg for m in list(lines)), 20.0), \
            [m.msg for m in lines]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        ex.shutdown()
        peer.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert proc.returncode == 0, out


def test_an_unknown_device_stops_the_node_naming_device_and_its_forms(tiny_checkpoint: Path) -> None:
    proc = _start(tiny_checkpoint, "-p", "device:=gpu")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "cannot start: parameter device" in out and "gpu" in out, out
    assert all(form in out for form in ("auto", "cpu", "cuda", "cuda:N")), out
    assert "Traceback" not in out, out
