"""The managed node in its own process, driven through every transition by a real lifecycle service client:
no labels while inactive, labels while active, resident memory freed on cleanup, active again after a second
configure, and shutdown ends the process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("lifecycle_msgs")

import rclpy  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from _support.ros_harness import make_image, spin_until  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
H, W = 48, 64


@pytest.fixture(scope="module")
def full_checkpoint(tmp_path_factory) -> tuple[Path, int]:
    """A full-width RSFNet (deploy form), so that its memory stands out from the process's."""
    import torch

    from rgbt_seg_core import build_model
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    torch.manual_seed(0)
    model = build_model("rsfnet50_18").eval().reparameterize()
    path = tmp_path_factory.mktemp("lifecycle") / "full.safetensors"
    save_checkpoint(path, model)
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return path, size


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Manager:
    """A lifecycle manager's side: the change_state and get_state services, camera publishers and a labels
    subscriber, spinning in the test process."""

    def __init__(self) -> None:
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("lifecycle_manager", context=self.ctx)
        self.change = self.node.create_client(ChangeState, "/segmentation_node/change_state")
        self.get = self.node.create_client(GetState, "/segmentation_node/get_state")
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_rgb = self.node.create_publisher(Image, "rgb/image", qos)
        self.pub_thermal = self.node.create_publisher(Image, "thermal/image", qos)
        self.labels: list[Image] = []
        self.node.create_subscription(Image, "/segmentation_node/labels", self.labels.append, 10)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()
        self.rng = np.random.default_rng(0)

    def call(self, client, request, timeout: float = 120.0):
        future = client.call_async(request)
        assert spin_until(future.done, timeout), f"no answer from {client.srv_name}"
        return future.result()

    def transition(self, transition_id: int) -> bool:
        return self.call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def state(self, timeout: float = 120.0) -> int:
        """Asked again every 15 s: a request sent just as the service is discovered can lose its answer (the
        server's reply writer may not have matched this client's reader yet, seen on a loaded machine), and asking
        for the state changes nothing."""
        deadline = time.monotonic() + timeout
        while True:
            future = self.get.call_async(GetState.Request())
            if spin_until(future.done, min(15.0, max(0.1, deadline - time.monotonic()))):
                return future.result().current_state.id
            self.get.remove_pending_request(future)
            assert time.monotonic() < deadline, f"no answer from {self.get.srv_name}"

    def publish(self, stamp: float) -> None:
        self.pub_rgb.publish(make_image(self.rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "rgb8", stamp, "rgb"))
        self.pub_thermal.publish(make_image(self.rng.integers(0, 256, (H, W), dtype=np.uint8), "mono8", stamp, "t"))

    def labelled(self) -> set[int]:
        return {m.header.stamp.sec for m in list(self.labels)}

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def test_every_transition(full_checkpoint) -> None:
    ckpt, model_bytes = full_checkpoint
    cmd = [sys.executable, "-m", "rgbt_seg_ros.segmentation_lifecycle_node", "--ros-args", "-p",
           f"checkpoint:={ckpt}", "-p", "device:=cpu", "-p", "warmup:=1", "-p", f"warmup_height:={H}", "-p",
           f"warmup_width:={W}", "-p", "qos_reliability:=reliable", "-p", "modality_timeout:=600.0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    m = Manager()
    try:
        assert m.change.wait_for_service(timeout_sec=120.0) and m.get.wait_for_service(timeout_sec=30.0)
        assert m.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert spin_until(lambda: not m.pub_rgb.get_subscription_count(), 1.0)  # nothing subscribed yet
        unconfigured = _rss(proc.pid)

        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.state() == State.PRIMARY_STATE_INACTIVE
        configured = _rss(proc.pid)
        for sec in range(10, 15):  # inactive: never segmented
            m.publish(float(sec))

        assert m.transition(Transition.TRANSITION_ACTIVATE) and m.state() == State.PRIMARY_STATE_ACTIVE
        assert spin_until(lambda: m.pub_rgb.get_subscription_count() and m.pub_thermal.get_subscription_count(),
                          30.0)
        sec = 20
        while not spin_until(m.labelled, 0.5) and sec < 200:
            sec += 1  # publish until the node segments, however slow the machine
            m.publish(float(sec))
        assert m.labelled() and not m.labelled() & set(range(10, 15))

        assert m.transition(Transition.TRANSITION_DEACTIVATE) and m.state() == State.PRIMARY_STATE_INACTIVE
        assert spin_until(lambda: not m.pub_rgb.get_subscription_count(), 30.0)  # unsubscribed
        before = len(m.labels)
        for sec in range(300, 305):
            m.publish(float(sec))

        assert m.transition(Transition.TRANSITION_CLEANUP) and m.state() == State.PRIMARY_STATE_UNCONFIGURED
        cleaned = _rss(proc.pid)
        print(f"RSS MB: unconfigured {unconfigured / 1e6:.0f}, configured {configured / 1e6:.0f}, cleaned up "
              f"{cleaned / 1e6:.0f}; model {model_bytes / 1e6:.0f}")
        assert configured - unconfigured > 0.8 * model_bytes, (unconfigured, configured, model_bytes)
        assert configured - cleaned > 0.8 * model_bytes, (configured, cleaned, model_bytes)

        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.transition(Transition.TRANSITION_ACTIVATE)
        assert spin_until(lambda: m.pub_rgb.get_subscription_count() and m.pub_thermal.get_subscription_count(),
                          30.0)
        sec = 400
        while not spin_until(lambda: m.labelled() & set(range(400, 601)), 0.5) and sec < 600:
            sec += 1
            m.publish(float(sec))
        assert m.labelled() & set(range(400, 601))
        assert not m.labelled() & set(range(300, 305)) and len(m.labels) > before

        assert m.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert proc.wait(timeout=60) == 0
    finally:
        m.close()
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate(timeout=30)[0]
        print(out)
    assert "Traceback" not in out, out


def test_unconfigured_parameters_are_checked_and_a_failed_configure_leaves_it_unconfigured(tmp_path) -> None:
    from rclpy.parameter import Parameter

    from rgbt_seg_ros.segmentation_lifecycle_node import SegmentationLifecycleNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    try:
        node = SegmentationLifecycleNode(context=ctx, parameter_overrides=[Parameter("checkpoint", value=str(bad))])
        try:
            assert not node.set_parameters([Parameter("thermal_norm", value="bogus")])[0].successful
            assert node.set_parameters([Parameter("overlay_alpha", value=0.7)])[0].successful
            assert node.pipeline.values["overlay_alpha"] == 0.7 and node.engine is None
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE  # a bad checkpoint: say why
            assert node.engine is None and node.pipeline.publishers == {}
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
