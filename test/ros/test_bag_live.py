"""Live replay: a bag played to a running node scores like the offline evaluation; drops are reported."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from _support.ros_harness import RunningNode  # noqa: E402
from rgbt_seg_core.bags.evaluate import evaluate_bag  # noqa: E402
from rgbt_seg_core.bags.from_dataset import dataset_to_bag  # noqa: E402
from rgbt_seg_core.data import build_dataset  # noqa: E402
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset  # noqa: E402
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_ros import bag_tools  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("live")
    write_synthetic_dataset(d / "data", 40, SynthConfig(height=64, width=80, seed=5))
    # 5 fps: a 200 ms frame period leaves the tiny CPU model headroom even on a busy 2-core CI machine
    dataset_to_bag(build_dataset("synthetic", d / "data", "test"), d / "bag", fps=5, thermal_delay_ms=10,
                   jitter_ms=2)
    return d / "bag"


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def _live(bag: Path, rate: float, lockstep: bool = False):
    return bag_tools.run_live(str(bag), rgb_topic="/rgb/image", thermal_topic="/thermal/image",
                              label_topic="/labels/ground_truth", node_labels_topic="/segmentation_node/labels",
                              num_classes=9, rate=rate, lockstep=lockstep)


@pytest.mark.slow
def test_live_replay_matches_offline(bag: Path, tiny_checkpoint: Path) -> None:
    node = RunningNode(tiny_checkpoint)
    try:
        live = _live(bag, 1.0, lockstep=True)  # at most one pair in flight: no drops however busy the machine
    finally:
        node.close()
    engine = InferenceEngine(tiny_checkpoint, InferenceConfig(device="cpu", warmup=0))
    offline, _ = evaluate_bag(bag, engine)
    assert live.frames == 10 and live.dropped == 0
    assert offline.confusion is not None
    off, on = offline.confusion.scores().miou, live.confusion.scores().miou
    assert abs(100 * off - 100 * on) <= 0.5
    assert len(live.latencies) == 10 and all(0 < t < 5 for t in live.latencies)


def test_dropped_frames_are_reported(bag: Path, tiny_checkpoint: Path) -> None:
    node = RunningNode(tiny_checkpoint)
    engine = node.node.engine
    real = engine.predict
    all_in = threading.Event()

    def slow_predict(*args, **kwargs):
        # the model is busy with the first pair until every frame has arrived: the newest-pair slot must then
        # replace all but the last, whatever the machine's speed
        if not all_in.is_set():
            all_in.wait(timeout=20.0)
        return real(*args, **kwargs)

    engine.predict = slow_predict
    watcher = threading.Thread(target=lambda: (_wait_for(lambda: node.node.runtime.counts["received_thermal"] >= 10),
                                               all_in.set()), daemon=True)
    watcher.start()
    try:
        live = _live(bag, 400.0)
    finally:
        all_in.set()
        node.close()
    assert live.frames == 10 and live.labelled <= 2 and live.dropped >= 8
    assert live.labelled + live.dropped == live.frames


def test_no_node_is_a_clear_error(bag: Path) -> None:
    with pytest.raises(RuntimeError, match="no running node found"):
        bag_tools.run_live(str(bag), rgb_topic="/rgb/image", thermal_topic="/thermal/image",
                           label_topic="/labels/ground_truth", node_labels_topic="/nobody/labels", num_classes=9,
                           discovery_timeout=1.0)


@pytest.mark.slow
def test_cli_live_writes_summary(bag: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    import json

    from rgbt_seg_core.cli.main import main

    node = RunningNode(tiny_checkpoint)
    try:
        assert main(["bag-eval", str(bag), "--live", "--lockstep", "--checkpoint", str(tiny_checkpoint), "--json",
                     str(tmp_path / "live.json")]) == 0
    finally:
        node.close()
    s = json.loads((tmp_path / "live.json").read_text())
    assert s["mode"] == "live" and s["frames"] == 10 and s["dropped"] == 0
    assert 0 <= s["mIoU"] <= 1 and s["end_to_end_ms_p50"] > 0


@pytest.mark.slow
def test_bag_play_publishes_with_recorded_timing(bag: Path) -> None:
    import time

    from sensor_msgs.msg import Image

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    sink = rclpy.create_node("sink", context=ctx)
    got: list[float] = []
    sink.create_subscription(Image, "/rgb/image", lambda m: got.append(time.monotonic()), 20)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(sink)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    player = rclpy.create_node("player", context=ctx)
    sent: list[tuple[int, float]] = []
    try:
        stats = bag_tools.play(player, bag, ["/rgb/image", "/thermal/image"], rate=2.0, wait_for_subscribers=10.0,
                               on_publish=lambda item, t: sent.append((item.bag_time_ns, t)))
        assert _wait_for(lambda: len(got) == 10)
    finally:
        ex.shutdown()
        sink.destroy_node()
        player.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert stats.published == {"/rgb/image": 10, "/thermal/image": 10} and stats.error is None
    # never early: each message goes out no sooner than its recorded offset / rate after the first
    (b0, t0) = sent[0]
    assert all(t - t0 >= (b - b0) * 1e-9 / 2.0 - 1e-3 for b, t in sent)
    span = sent[-1][1] - t0
    assert span < 1.8, "rate 2 ignored: 1.8 s is the recorded timing at rate 1"
