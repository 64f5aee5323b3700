"""Parameter files as the node reads them: config/segment.yaml, `ros2 param dump` output (namespaced, nested),
several nodes, parameters every rclpy node has; damaged files refused naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.settings import FOREIGN_PARAMETERS, SettingsError, is_foreign, read_params_file

ROOT = Path(__file__).resolve().parents[3]

# what `ros2 param dump /robot/segmentation_node` writes (Jazzy): ours, and what every rclpy node declares
PARAM_DUMP = """\
/robot/segmentation_node:
  ros__parameters:
    backend: torch
    checkpoint: /models/rsfnet.safetensors
    frozen_timeout: 3
    qos_overrides:
      /parameter_events:
        publisher:
          depth: 1000
          durability: volatile
          history: keep_last
          reliability: reliable
    slop: 0.08
    start_type_description_service: true
    thermal_homography:
    - 1.0
    - 0.0
    - 2.0
    - 0.0
    - 1.0
    - 0.0
    - 0.0
    - 0.0
    - 1.0
    use_sim_time: false
"""


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_config_file_reads_as_every_setting() -> None:
    values = read_params_file(ROOT / "config" / "segment.yaml")
    assert values["frozen_timeout"] == 2.0 and values["checkpoint"] == "" and len(values) == 37
    assert "pairs" not in values  # empty by default, and a parameter file cannot hold an empty list


def test_nested_keys_are_dotted_names_as_a_pair_writes_them(tmp_path: Path) -> None:
    text = ("/**:\n  ros__parameters:\n    pairs: [front, rear]\n    slop: 0.1\n"
            "    front:\n      thermal_homography: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n      rgb_transport: compressed\n"
            "    rear.slop: 0.2\n")
    assert read_params_file(_write(tmp_path, text)) == {
        "pairs": ["front", "rear"], "slop": 0.1, "front.thermal_homography": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        "front.rgb_transport": "compressed", "rear.slop": 0.2}


def test_a_parameter_given_both_dotted_and_nested_is_refused_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "/**:\n  ros__parameters:\n    front.slop: 0.1\n    front:\n      slop: 0.2\n")
    with pytest.raises(SettingsError, match=rf"^{path}: /\*\*: parameter front.slop given twice \(as a dotted name "
                       r"and as nested keys\)$"):
        read_params_file(path)
    # in two entries, the node's own over the wildcard's, as rcl applies them
    path = _write(tmp_path, "/**:\n  ros__parameters:\n    front.slop: 0.1\n"
                  "/segmentation_node:\n  ros__parameters:\n    front:\n      slop: 0.2\n")
    assert read_params_file(path) == {"front.slop": 0.2}


def test_a_param_dump_reads_without_the_parameters_every_node_has(tmp_path: Path) -> None:
    values = read_params_file(_write(tmp_path, PARAM_DUMP))
    assert values == {"backend": "torch", "checkpoint": "/models/rsfnet.safetensors", "frozen_timeout": 3,
                      "slop": 0.08, "thermal_homography": [1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]}
    assert read_params_file(_write(tmp_path, PARAM_DUMP), node="segmentation_node") == values
    assert read_params_file(_write(tmp_path, PARAM_DUMP), node="/robot/segmentation_node") == values


def test_foreign_parameters_are_listed_once() -> None:
    assert FOREIGN_PARAMETERS == ("use_sim_time", "start_type_description_service", "qos_overrides.*")
    assert is_foreign("qos_overrides./tf.publisher.depth") and is_foreign("use_sim_time")
    assert not is_foreign("qos_overrides") and not is_foreign("use_sim_time_x") and not is_foreign("slop")


def test_the_wildcard_applies_under_the_nodes_own_entry(tmp_path: Path) -> None:
    text = ("/**:\n  ros__parameters:\n    slop: 0.1\n    queue_size: 5\n"
            "robot:\n  segmentation_node:\n    ros__parameters:\n      slop: 0.2\n"
            "/other_node:\n  ros__parameters:\n    queue_size: 7\n")
    path = _write(tmp_path, text)
    assert read_params_file(path) == {"slop": 0.2, "queue_size": 5}  # segmentation_node picked by its name
    assert read_params_file(path, node="other_node") == {"slop": 0.1, "queue_size": 7}
    assert read_params_file(path, node="elsewhere") == {"slop": 0.1, "queue_size": 5}  # only /** matches it


def test_several_nodes_without_ours_need_node(tmp_path: Path) -> None:
    path = _write(tmp_path, "/a:\n  ros__parameters: {slop: 0.1}\n/b:\n  ros__parameters: {slop: 0.2}\n")
    with pytest.raises(SettingsError, match=rf"^{path}: parameters for several nodes \(/a, /b\); pick one with "
                       "--node$"):
        read_params_file(path)
    assert read_params_file(path, node="b") == {"slop": 0.2}
    with pytest.raises(SettingsError, match=rf"^{path}: no parameters for node c \(it holds /a, /b\)$"):
        read_params_file(path, node="c")


@pytest.mark.parametrize("text, why", [
    ("/**:\n  ros__parameters:\n    slop: [0.1\n", "not YAML"),
    ("- slop\n- 0.1\n", "expected a mapping of node names to ros__parameters, got list"),
    ("", "expected a mapping of node names to ros__parameters, got NoneType"),
    ("/**:\n  ros__parameters: 3\n", r"/\*\*: ros__parameters is not a mapping"),
    ("/**: 3\n", "holds no ros__parameters"),
    ("/**:\n  ros__parameters: {slop: 1}\n  extra: 2\n", "unexpected key 'extra' beside ros__parameters"),
    ("/**:\n  ros__parameters:\n    1: 2\n", "parameter name 1 is not text"),
    ("slop: 0.1\n", "'slop' holds no ros__parameters"),
])
def test_damaged_files_are_refused_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SettingsError, match=rf"^{path}: .*{why}"):
        read_params_file(path)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=rf"^{tmp_path / 'nope.yaml'}: cannot read the parameter file"):
        read_params_file(tmp_path / "nope.yaml")


def test_an_alias_bomb_or_a_huge_file_is_refused_quickly(tmp_path: Path) -> None:
    # 30 levels of two aliases each: a few hundred bytes that would flatten to 2**30 parameters
    lines = ["l0: &l0 {a: 1, b: 2}"] + [f"l{i}: &l{i} {{x: *l{i - 1}, y: *l{i - 1}}}" for i in range(1, 31)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("/**:\n  ros__parameters:\n    " + "\n    ".join(lines) + "\n")
    with pytest.raises(SettingsError, match=r"bomb\.yaml: .*more than 10000 parameters"):
        read_params_file(bomb)
    huge = tmp_path / "huge.yaml"
    huge.write_text("/**:\n  ros__parameters:\n    slop: 0.05\n" + "# padding\n" * 200_000)
    with pytest.raises(SettingsError, match=r"huge\.yaml: over 1048576 bytes"):
        read_params_file(huge)
