"""The node with the cameras robots really have, over a real DDS graph: compressed transports, Bayer and YUV
colour, a driver on the wrong transport or with best-effort QoS (named in /diagnostics with the parameter to
set), frozen cameras, and camera_info republished with the labels' header."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")

from _support.ros_harness import Harness, make_compressed, make_image, spin_until, stamped  # noqa: E402
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_core.runtime.imageconv import image_to_array  # noqa: E402

pytestmark = pytest.mark.ros
H, W = 48, 64
COMPRESSED = "sensor_msgs/msg/CompressedImage"


@pytest.fixture(scope="module")
def varied(varied_checkpoint):
    return varied_checkpoint, InferenceEngine(varied_checkpoint, InferenceConfig(device="cpu", warmup=0))


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocky images (compressible, and jpeg-stable enough for the labels to vary)."""
    rng = np.random.default_rng(seed)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8), 8, 0), 8, 1)
    thermal = np.repeat(np.repeat(rng.integers(0, 65535, (H // 8, W // 8), dtype=np.uint16), 8, 0), 8, 1)
    return rgb, thermal


def _labels_at(h: Harness, stamp: float):
    sec, nsec = int(stamp), int(round((stamp - int(stamp)) * 1e9))
    for m in list(h.received["labels"]):
        if (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nsec):
            return m
    return None


def _png(arr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", arr[:, :, ::-1] if arr.ndim == 3 else arr)
    assert ok
    return data.tobytes()


@pytest.mark.slow
def test_compressed_png_colour_and_16bit_png_thermal_equal_the_raw_path(varied) -> None:
    from _support.varied_model import assert_varied

    ckpt, engine = varied
    h = Harness(ckpt, rgb_transport="compressed", thermal_transport="compressed")
    try:
        rgb, thermal = _scene(1)
        h.pub_rgb.publish(make_compressed(_png(rgb), "rgb8; png compressed bgr8", 10.0, "rgb_optical"))
        h.pub_thermal.publish(make_compressed(_png(thermal), "mono16; png compressed mono16", 10.0, "thermal"))
        assert spin_until(lambda: _labels_at(h, 10.0) is not None, 20.0), h.diag()
        expected = engine.predict(rgb, thermal).labels  # what the raw path gives (test_segmentation_node.py)
        assert_varied(expected)
        msg = _labels_at(h, 10.0)
        assert np.array_equal(image_to_array(msg), expected) and msg.header.frame_id == "rgb_optical"
        assert spin_until(lambda: h.diag().get("input_rgb") == "receiving" == h.diag().get("input_thermal"), 10.0)
    finally:
        h.close()


@pytest.mark.slow
def test_jpeg_colour_and_compressed_depth_thermal_give_fused_labels(varied) -> None:
    ckpt, engine = varied
    h = Harness(ckpt, rgb_transport="compressed", thermal_transport="compressedDepth")
    try:
        rgb, thermal = _scene(2)
        ok, jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        header = bytes(12)  # compressedDepth's ConfigHeader (format, two depth parameters) before the png
        h.pub_rgb.publish(make_compressed(jpeg.tobytes(), "rgb8; jpeg compressed bgr8", 20.0, "rgb_optical"))
        h.pub_thermal.publish(make_compressed(header + _png(thermal), "16UC1; compressedDepth png", 20.0, "thermal"))
        assert spin_until(lambda: _labels_at(h, 20.0) is not None, 20.0), h.diag()
        msg = _labels_at(h, 20.0)
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1]
        assert msg.header.frame_id == "rgb_optical"
        assert np.array_equal(image_to_array(msg), engine.predict(decoded, thermal).labels)
        assert spin_until(lambda: h.diag().get("pairs") == "1", 10.0)
        assert h.diag()["single_modality"] == "0" and h.diag()["bad_rgb"] == h.diag()["bad_thermal"] == "0"
    finally:
        h.close()


def _bayer_rggb(rgb: np.ndarray) -> np.ndarray:
    mosaic = np.empty(rgb.shape[:2], np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
    return mosaic


@pytest.mark.slow
def test_bayer_and_yuv_cameras_give_fused_labels(varied) -> None:
    from sensor_msgs.msg import Image

    ckpt, engine = varied
    h = Harness(ckpt)
    try:
        rgb, thermal = _scene(3)
        mosaic = _bayer_rggb(rgb)
        yuyv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUYV) if hasattr(cv2, "COLOR_RGB2YUV_YUYV") else None
        if yuyv is None:  # OpenCV has no RGB -> YUYV: pack it from YUV by hand
            yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
            yuyv = np.empty((H, W, 2), np.uint8)
            yuyv[:, :, 0] = yuv[:, :, 0]
            yuyv[:, 0::2, 1], yuyv[:, 1::2, 1] = yuv[:, 0::2, 1], yuv[:, 0::2, 2]
        frames = {
            "bayer_rggb8": (mosaic.tobytes(), W, cv2.cvtColor(mosaic, cv2.COLOR_BayerBG2RGB)),
            "yuv422_yuy2": (yuyv.tobytes(), 2 * W, cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_YUYV)),
        }
        for k, (encoding, (data, step, expected_rgb)) in enumerate(frames.items()):
            stamp = 30.0 + k
            msg = stamped(Image(height=H, width=W, encoding=encoding, is_bigendian=0, step=step, data=data), stamp,
                          "rgb_optical")
            h.pub_rgb.publish(msg)
            h.pub_thermal.publish(make_image(thermal, "mono16", stamp, "thermal"))
            assert spin_until(lambda: _labels_at(h, stamp) is not None, 20.0), (encoding, h.diag())
            got = _labels_at(h, stamp)
            assert got.header.frame_id == "rgb_optical", encoding
            assert np.array_equal(image_to_array(got), engine.predict(expected_rgb, thermal).labels), encoding
        assert spin_until(lambda: h.diag().get("pairs") == "2", 10.0)
        assert h.diag()["single_modality"] == "0" and h.diag()["bad_rgb"] == "0"
    finally:
        h.close()


def test_a_compressed_publisher_and_a_qos_mismatch_are_named_with_the_fix(tiny_checkpoint) -> None:
    """The RGB driver publishes only on image_transport's compressed topic; the thermal driver is best-effort
    while the node asks for reliable: /diagnostics names both, with the parameter that fixes each."""
    h = Harness(tiny_checkpoint, camera_transports=("compressed", "raw"), camera_reliable=False, wait=False,
                qos_reliability="reliable", modality_timeout=0.5)
    try:
        assert spin_until(lambda: h.diag().get("input_rgb", "").endswith("set rgb_transport:=compressed")
                          and "QoS incompatible" in h.diag().get("input_thermal", ""), 20.0), h.diag()
        d, status = h.diag(), h.received["diagnostics"][-1].status[0]
        assert d["input_rgb"] == f"published as {COMPRESSED} on /rgb/image/compressed: set rgb_transport:=compressed"
        assert d["input_thermal"] == ("QoS incompatible (RELIABILITY) with the publisher(s) on /thermal/image: "
                                      "set qos_reliability:=best_effort")
        assert status.level in (b"\x02", 2) and "rgb_transport:=compressed" in status.message
    finally:
        h.close()


@pytest.mark.slow
def test_a_frozen_camera_is_reported_then_recovers_and_camera_info_follows_the_labels(tiny_checkpoint) -> None:
    """Thermal repeats one frame: reported frozen and segmented from RGB alone; it changes: fused again. RGB
    repeats one frame: thermal-only outputs, which carry the thermal header and no camera_info."""
    from sensor_msgs.msg import CameraInfo

    h = Harness(tiny_checkpoint, frozen_timeout=0.5, stats_window=1.0)
    rng = np.random.default_rng(0)
    clock = {"t": 100.0}

    def publish(rgb_same: bool = False, thermal_same: bool = False) -> float:
        clock["t"] += 0.05
        t = clock["t"]
        rgb = np.full((H, W, 3), 90, np.uint8) if rgb_same else rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        thermal = np.full((H, W), 60, np.uint8) if thermal_same else rng.integers(0, 256, (H, W), dtype=np.uint8)
        h.publish_pair(rgb, thermal, t)
        return t

    def status():
        diagnostics = list(h.received["diagnostics"])
        return diagnostics[-1].status[0] if diagnostics else None

    def until(predicate, **kw) -> bool:  # keep the cameras running while waiting (no sleeps tuned to a machine)
        return spin_until(lambda: publish(**kw) and predicate(), 30.0)

    try:
        info = CameraInfo(width=W, height=H, distortion_model="plumb_bob", k=[50.0, 0, 32, 0, 50.0, 24, 0, 0, 1])
        h.pub_info.publish(stamped(info, 1.0, "rgb_optical"))
        assert until(lambda: h.received["camera_info"])
        got = h.received["camera_info"][-1]

        def label():  # the labels travel on their own topic and may arrive after the camera_info
            return next((m for m in list(h.received["labels"]) if m.header.stamp == got.header.stamp), None)

        assert spin_until(lambda: label() is not None, 30.0)
        assert label().header.frame_id == got.header.frame_id == "rgb_optical" and list(got.k)[0] == 50.0

        assert until(lambda: status() is not None and "thermal camera frozen" in status().message,
                     thermal_same=True), h.diag()
        assert h.diag()["modality_thermal"].startswith("frozen for") and int(h.diag()["frozen_thermal"]) > 0
        # RGB goes on alone from its next frame; the diagnostics that first said "frozen" may predate that frame
        assert until(lambda: int(h.diag()["single_modality"]) > 0 and h.diag()["modality_thermal"].startswith(
            "frozen for"), thermal_same=True), h.diag()
        assert until(lambda: status().level in (b"\x00", 0)), h.diag()
        assert h.diag()["modality_thermal"] == "ok"

        assert until(lambda: any(m.header.frame_id == "thermal_optical" for m in list(h.received["labels"])),
                     rgb_same=True), h.diag()
        h.received["camera_info"].clear()
        assert until(lambda: sum(m.header.frame_id == "thermal_optical" for m in list(h.received["labels"])) >= 5,
                     rgb_same=True)
        def stamps(msgs) -> set:
            return {(m.header.stamp.sec, m.header.stamp.nanosec) for m in list(msgs)}

        thermal_only = stamps(m for m in list(h.received["labels"]) if m.header.frame_id == "thermal_optical")
        assert thermal_only and not stamps(h.received["camera_info"]) & thermal_only
    finally:
        h.close()


def test_a_compressed_transport_follows_the_remapped_base_topic(tiny_checkpoint) -> None:
    """image_transport's rule: remap the base topic, and the transport's suffix follows it."""
    import rclpy
    from rclpy.parameter import Parameter

    from rgbt_seg_ros.segmentation_node import SegmentationNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = SegmentationNode(context=ctx, cli_args=["--ros-args", "-r", "rgb/image:=/cam/color/image_raw", "-r",
                                                       "rgb/camera_info:=/cam/color/camera_info"],
                                parameter_overrides=[Parameter("checkpoint", value=str(tiny_checkpoint)),
                                                     Parameter("device", value="cpu"), Parameter("warmup", value=0),
                                                     Parameter("rgb_transport", value="compressed"),
                                                     Parameter("thermal_transport", value="compressedDepth")])
        try:
            subscribed = {name: types for name, types in node.get_subscriber_names_and_types_by_node(
                "segmentation_node", "/")}
            assert subscribed["/cam/color/image_raw/compressed"] == ["sensor_msgs/msg/CompressedImage"]
            assert subscribed["/thermal/image/compressedDepth"] == ["sensor_msgs/msg/CompressedImage"]
            assert subscribed["/cam/color/camera_info"] == ["sensor_msgs/msg/CameraInfo"]
            assert "/cam/color/image_raw" not in subscribed and "/rgb/image" not in subscribed
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
