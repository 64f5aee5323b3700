"""config/segment.yaml and the launch file agree with the node's declared parameters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from rgbt_seg_ros.params import PARAM_SPECS, NodeParams

ROOT = Path(__file__).resolve().parents[2]


def test_yaml_keys_equal_declared_parameters() -> None:
    data = yaml.safe_load((ROOT / "config" / "segment.yaml").read_text())
    params = data["/**"]["ros__parameters"]
    assert set(params) == {s.name for s in PARAM_SPECS}
    for spec in PARAM_SPECS:
        assert params[spec.name] == spec.default, spec.name
    NodeParams.from_values({**params, "checkpoint": "x.safetensors"})  # the defaults are valid


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
    assert declared == {"checkpoint", "rgb_topic", "thermal_topic", "device", "params_file", "namespace", "use_rviz"}


def test_launch_file_names_every_argument_even_without_launch() -> None:
    text = (ROOT / "launch" / "segment.launch.py").read_text()
    for name in ("checkpoint", "rgb_topic", "thermal_topic", "device", "params_file", "namespace", "use_rviz"):
        assert f'("{name}",' in text
