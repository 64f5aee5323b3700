"""vision_msgs/LabelInfo in output bags (issue 28): the project's message definitions are upstream's fields, the type
hash is upstream's, and ``bag-eval --out-bag`` records one LabelInfo that decodes against upstream's definition
with the checkpoint's class names and the min_confidence threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from _support.label_info import (
    UPSTREAM_DEFINITIONS,
    UPSTREAM_LABEL_INFO_HASH,
    VISION_MSGS_DIR,
    renamed_checkpoint,
)
from rgbt_seg_core.bags.evaluate import LABEL_INFO_TOPIC, OUTPUT_TOPICS
from rgbt_seg_core.bags.io import LABEL_INFO, TYPESTORE, VISION_MSGS, ImageBagWriter, read_images
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.settings.vocab import UNLABELLED
from rgbt_seg_core.utils.classes import UNLABELLED_NAME, label_map

NAMES = ["asphalt", "person", "bicycle", "car", "curb", "cone", "wall", "sky", "dog"]  # 9, as the model's head


def _upstream_store():
    """A type store that knows vision_msgs only from upstream's definitions."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    store.register({k: v for name, text in UPSTREAM_DEFINITIONS.items()
                    for k, v in get_types_from_msg(text, name).items()})
    return store


def _fields(text: str, name: str) -> object:
    return get_types_from_msg(text, name)[name]


@pytest.mark.parametrize("name", sorted(UPSTREAM_DEFINITIONS))
def test_the_projects_definitions_have_upstreams_fields(name: str) -> None:
    msg_file = VISION_MSGS_DIR / "msg" / f"{name.rsplit('/', 1)[1]}.msg"
    upstream = _fields(UPSTREAM_DEFINITIONS[name], name)
    assert _fields(msg_file.read_text(), name) == upstream  # what the build compiles
    assert _fields(VISION_MSGS[name], name) == upstream  # what the bags register


def test_the_type_hash_is_upstreams() -> None:
    assert _upstream_store().hash_rihs01(LABEL_INFO) == UPSTREAM_LABEL_INFO_HASH
    assert TYPESTORE.hash_rihs01(LABEL_INFO) == UPSTREAM_LABEL_INFO_HASH


@pytest.fixture(scope="module")
def named_checkpoint(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return renamed_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("named") / "named.safetensors", NAMES)


def test_bag_eval_records_label_info_that_decodes_against_upstream(named_checkpoint: Path, tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "data", 8, SynthConfig(height=64, width=80, seed=5))
    bag, out = tmp_path / "in", tmp_path / "out"
    assert main(["bag-from-dataset", "--dataset", "synthetic", "--data-root", str(tmp_path / "data"), "--split",
                 "test", "--out", str(bag), "--fps", "10"]) == 0
    assert main(["bag-eval", str(bag), "--checkpoint", str(named_checkpoint), "--device", "cpu", "--min-confidence",
                 "0.25", "--out-bag", str(out)]) == 0
    labels = list(read_images(out, [OUTPUT_TOPICS["labels"]]))
    assert len(labels) >= 2
    store = _upstream_store()
    with Reader(out) as reader:
        conns = [c for c in reader.connections if c.topic == LABEL_INFO_TOPIC]
        assert [c.msgtype for c in conns] == [LABEL_INFO]
        assert conns[0].digest == UPSTREAM_LABEL_INFO_HASH  # the hash the bag's metadata records
        recorded = [(t, store.deserialize_cdr(raw, LABEL_INFO)) for _, t, raw in reader.messages(connections=conns)]
    assert len(recorded) == 1  # at the start; nothing changed after
    bag_time, info = recorded[0]
    assert [(c.class_id, c.class_name) for c in info.class_map] == [*enumerate(NAMES), (255, UNLABELLED_NAME)]
    assert info.threshold == np.float32(0.25)
    first = labels[0]
    assert bag_time == first.bag_time_ns and info.header.frame_id == first.frame_id
    assert info.header.stamp.sec * 10**9 + info.header.stamp.nanosec == first.stamp_ns


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=12),
       threshold=st.floats(0.0, 1.0, width=32), frame=st.text(max_size=8))
def test_any_class_names_round_trip_and_only_changes_are_written(tmp_path_factory: pytest.TempPathFactory,
                                                                 names: list[str], threshold: float,
                                                                 frame: str) -> None:
    path = tmp_path_factory.mktemp("li") / "bag"
    class_map = label_map(names, UNLABELLED)
    with ImageBagWriter(path) as writer:
        assert writer.write_label_info("/li", class_map, threshold, 1.5, frame, 10)
        assert not writer.write_label_info("/li", class_map, threshold, 2.5, frame, 20)  # said already
        assert writer.write_label_info("/li", class_map, threshold, 3.5, frame + "x", 30)  # another frame
    store = _upstream_store()
    with Reader(path) as reader:
        got = [store.deserialize_cdr(raw, LABEL_INFO) for _, _, raw in reader.messages()]
    assert len(got) == 2 and [g.header.frame_id for g in got] == [frame, frame + "x"]
    assert [(c.class_id, c.class_name) for c in got[0].class_map] == class_map
    assert got[0].threshold == np.float32(threshold) and got[0].header.stamp.sec == 1
