"""One parameter file, two replays: the node run live (``bag-eval --live --lockstep --clock`` against a node with
``use_sim_time``) and ``bag-eval --params`` offline decide every frame alike and label it alike.

The bag has every decision the node makes in it: fused pairs, a frozen thermal driver (bit-identical frames, so
RGB-only after ``frozen_timeout``), a thermal gap (RGB-only after ``modality_timeout``), an RGB gap (thermal-only,
with the thermal camera's header) and unpaired frames, all under a registration offset that only the file sets. The
live node counts its timeouts in the bag's time (``/clock``), so a busy machine cannot move a decision.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from _support.varied_model import assert_varied, save_varied_checkpoint  # noqa: E402
from rgbt_seg_core.bags.evaluate import OUTPUT_TOPICS  # noqa: E402
from rgbt_seg_core.bags.io import ImageBagWriter, read_images  # noqa: E402
from rgbt_seg_core.cli.main import main  # noqa: E402
from rgbt_seg_core.runtime import SegmentationRuntime  # noqa: E402
from rgbt_seg_core.runtime.imageconv import decode_image  # noqa: E402
from rgbt_seg_ros import bag_tools  # noqa: E402
from rgbt_seg_ros.segmentation_node import SegmentationNode  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PERIOD = 0.2  # seconds between RGB frames; every timeout below lies mid-way between two frames
FRAMES = 40
FROZEN = range(8, 15)  # thermal repeats frame 7's image
THERMAL_GAP = range(19, 25)  # no thermal frames
RGB_GAP = range(29, 34)  # no RGB frames
PARAMS = """\
/**:
  ros__parameters:
    device: cpu
    frozen_timeout: 0.5
    modality_timeout: 0.5
    thermal_offset_x: 5
    thermal_offset_y: -3
    qos_reliability: reliable
    qos_depth: 10
    warmup: 0
"""


def _image(rng: np.random.Generator, channels: int) -> np.ndarray:
    """Smooth random content (blurred noise, upsampled): the varied model labels it in patches."""
    small = rng.integers(0, 256, size=(8, 10, channels), dtype=np.uint8)
    big = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)
    return big[:, :, 0].copy() if channels == 1 else big


def _write_bag(path: Path) -> None:
    rng = np.random.default_rng(7)
    with ImageBagWriter(path) as w:
        frozen = None
        for k in range(FRAMES):
            t = 100.0 + k * PERIOD
            rgb, thermal = _image(rng, 3), _image(rng, 1)
            if k == FROZEN.start - 1:
                frozen = thermal
            if k in FROZEN:
                thermal = frozen
            if k not in RGB_GAP:
                w.write_image("/rgb/image", rgb, "rgb8", t, "rgb_camera", int(round(t * 1e9)))
                w.write_image("/labels/ground_truth", rng.integers(0, 9, (64, 80), dtype=np.uint8), "mono8", t,
                              "rgb_camera", int(round(t * 1e9)))
            if k not in THERMAL_GAP:
                tt = t + 0.01
                w.write_image("/thermal/image", thermal, "mono8", tt, "thermal_camera", int(round(tt * 1e9)))


class _Decisions:
    """Every frame the runtime segments, as (stamp, what it fused), from whichever runtime runs in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[int, str]] = []
        real = SegmentationRuntime.process

        def process(runtime, work, *args, **kwargs):
            out = real(runtime, work, *args, **kwargs)
            if out is not None:
                mode = "fused" if work.rgb is not None and work.thermal is not None else (
                    "rgb" if work.rgb is not None else "thermal")
                self.seen.append((work.lead.stamp_ns, mode))
            return out

        monkeypatch.setattr(SegmentationRuntime, "process", process)

    def take(self) -> list[tuple[int, str]]:
        out, self.seen = self.seen, []
        return out


def _live(bag: Path, params: Path, checkpoint: Path) -> bag_tools.LiveResult:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = SegmentationNode(context=ctx, cli_args=["--ros-args", "--params-file", str(params), "-p",
                                                   f"checkpoint:={checkpoint}", "-p", "use_sim_time:=true"])
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        assert node.get_parameter("frozen_timeout").value == 0.5  # the file reached the node
        return bag_tools.run_live(str(bag), rgb_topic="/rgb/image", thermal_topic="/thermal/image",
                                  label_topic="/labels/ground_truth", node_labels_topic="/segmentation_node/labels",
                                  num_classes=9, lockstep=True, lockstep_timeout=2.0, clock=True)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def _offline(bag: Path, checkpoint: Path, out: Path, *extra: str) -> dict[int, tuple[str, np.ndarray]]:
    assert main(["bag-eval", str(bag), "--checkpoint", str(checkpoint), "--out-bag", str(out), *extra]) == 0
    return {item.stamp_ns: (item.frame_id, decode_image(item.msg)[0])
            for item in read_images(out, [OUTPUT_TOPICS["labels"]])}


def test_live_node_and_offline_replay_decide_and_label_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag, params = tmp_path / "bag", tmp_path / "segment.yaml"
    _write_bag(bag)
    params.write_text(PARAMS)
    checkpoint = save_varied_checkpoint(tmp_path / "varied.safetensors")
    decisions = _Decisions(monkeypatch)

    offline = _offline(bag, checkpoint, tmp_path / "offline", "--params", str(params))
    offline_decisions = decisions.take()
    live = _live(bag, params, checkpoint)
    live_decisions = decisions.take()

    modes = [m for _, m in offline_decisions]
    # the bag exercised every decision: fused, both fallbacks, and RGB frames left unpaired in the gap's first
    # modality_timeout (labelled by neither)
    assert {"fused", "rgb", "thermal"} <= set(modes), modes
    # frozen: RGB-only from the first frame past 0.5 s of identical thermal; gaps: from the first past 0.5 s of
    # silence
    assert modes.count("rgb") >= len(FROZEN) - 3 + len(THERMAL_GAP) - 3 and modes.count("thermal") >= len(RGB_GAP) - 2
    unlabelled_rgb = FRAMES - len(RGB_GAP) - sum(m != "thermal" for m in modes)
    assert unlabelled_rgb >= 2
    assert live_decisions == offline_decisions

    assert sorted(live.outputs) == sorted(offline)
    for stamp, (frame_id, labels) in offline.items():
        live_frame, live_labels = live.outputs[stamp]
        assert live_frame == frame_id, stamp
        np.testing.assert_array_equal(live_labels, labels, err_msg=f"labels differ at {stamp} ns")
    assert {f for f, _ in offline.values()} == {"rgb_camera", "thermal_camera"}
    assert_varied(next(labels for _, labels in offline.values()))

    # the file's registration offset reached the offline replay: without it the labels differ
    plain = _offline(bag, checkpoint, tmp_path / "plain", "--params", str(params), "--thermal-offset-x", "0",
                     "--thermal-offset-y", "0")
    fused = [s for s, m in offline_decisions if m == "fused"]
    assert any(not np.array_equal(plain[s][1], offline[s][1]) for s in fused)
