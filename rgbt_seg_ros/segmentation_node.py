"""``segmentation_node``: synchronised RGB + thermal in, labels, colour, overlay, gate maps and diagnostics out.

The node only adapts messages; all computation is :class:`rgbt_seg_core.inference.InferenceEngine`, the same
path ``rgbt-seg bag-eval`` uses. Design points:
  * Pairs come from an approximate-time synchroniser (message_filters when importable, else the core's pairer
    with the same semantics). Inference runs in a worker thread on the newest pair only: a pair that arrives
    while another waits replaces it (counted as dropped), so a slow model never builds a backlog.
  * Outputs nobody subscribes to are not computed (the gate maps need an extra pass through the head).
  * A camera silent for ``modality_timeout`` seconds is reported and, unless disabled, blanked so the node
    keeps segmenting from the other one; it recovers when the camera returns.
  * Bad messages (encodings, sizes, steps, empty data, non-finite thermal) are logged (throttled), counted in
    diagnostics and skipped; a bad checkpoint or parameter fails at start with the reason.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from rgbt_seg_core.imageconv import ImageFormatError, array_to_image_fields, rgb_from_image, thermal_from_image
from rgbt_seg_core.inference import InferenceConfig, InferenceEngine
from rgbt_seg_core.pairing import ApproxTimePairer
from rgbt_seg_core.preprocess import colorize, overlay

from .params import PARAM_SPECS, NodeParams

__all__ = ["SegmentationNode", "main"]

RGB, THERMAL = 0, 1


def _stamp_seconds(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def _image(header: Any, arr: np.ndarray, encoding: str) -> Image:
    msg = Image(**array_to_image_fields(arr, encoding))
    msg.header = header
    return msg


class SegmentationNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("segmentation_node", **kwargs)
        self.params = self._declare_parameters()
        norm = self.params.thermal_norm_config()
        self.engine = InferenceEngine(
            self.params.checkpoint,
            InferenceConfig(device=self.params.device, fp16=self.params.fp16, thermal_norm=norm,
                            thermal_offset=(self.params.thermal_offset_x, self.params.thermal_offset_y),
                            warmup=self.params.warmup),
        )
        self.engine.warmup(self.params.warmup_height, self.params.warmup_width)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.pub_labels = self.create_publisher(Image, "~/labels", 5)
        self.pub_color = self.create_publisher(Image, "~/color", 5)
        self.pub_overlay = self.create_publisher(Image, "~/overlay", 5)
        self.pub_gate_rgb = self.create_publisher(Image, "~/gate/rgb", 5)
        self.pub_gate_thermal = self.create_publisher(Image, "~/gate/thermal", 5)
        self.pub_confidence = self.create_publisher(Float32MultiArray, "~/confidence", 5)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 5)

        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self.params.qos_depth,
            reliability=ReliabilityPolicy.BEST_EFFORT if self.params.qos_reliability == "best_effort"
            else ReliabilityPolicy.RELIABLE,
        )
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._slot: tuple[Any, Any, float] | None = None  # (rgb msg | None, thermal msg | None, arrival time)
        self._stop = False
        now = time.monotonic()
        self._last_seen = [now, now]  # start counts as "seen" so a camera gets modality_timeout to appear
        self._ever_seen = [False, False]
        self.counts = {"received_rgb": 0, "received_thermal": 0, "pairs": 0, "processed": 0, "dropped": 0,
                       "bad_rgb": 0, "bad_thermal": 0, "nonfinite_thermal": 0, "out_of_order": 0,
                       "single_modality": 0, "inference_errors": 0, "skipped_no_subscribers": 0}
        self._latency = deque(maxlen=200)  # end to end: last message of the pair received -> outputs published
        self._model_latency = deque(maxlen=200)
        self._done_times = deque(maxlen=200)
        self._last_stamp = -float("inf")

        mf: Any = None
        if self.params.use_message_filters:
            try:
                import message_filters as mf
            except ImportError:  # not on PyPI: the built-in pairer has the same semantics
                mf = None
        self._use_mf = mf is not None
        if mf is not None:
            message_filters = mf
            self._mf_rgb = message_filters.Subscriber(self, Image, "rgb/image", qos_profile=qos)
            self._mf_thermal = message_filters.Subscriber(self, Image, "thermal/image", qos_profile=qos)
            self._mf_rgb.registerCallback(lambda m: self._seen(RGB, m))
            self._mf_thermal.registerCallback(lambda m: self._seen(THERMAL, m))
            self._sync = message_filters.ApproximateTimeSynchronizer(
                [self._mf_rgb, self._mf_thermal], self.params.queue_size, self.params.slop
            )
            self._sync.registerCallback(self._on_pair)
            self.pairer = None
        else:
            self.pairer = ApproxTimePairer(self.params.queue_size, self.params.slop, self._on_pair)
            self.sub_rgb = self.create_subscription(Image, "rgb/image", lambda m: self._on_image(RGB, m), qos)
            self.sub_thermal = self.create_subscription(
                Image, "thermal/image", lambda m: self._on_image(THERMAL, m), qos
            )
        self._worker = threading.Thread(target=self._work, name="rgbt_seg_inference", daemon=True)
        self._worker.start()
        self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"segmentation_node ready: {self.engine.meta.model} ({len(self.engine.class_names)} classes) on "
            f"{self.engine.device}{' fp16' if self.engine.half else ''}; pairing with "
            f"{'message_filters' if self._use_mf else 'the built-in approximate-time pairer'}"
        )

    # ------------------------------------------------------------------ parameters
    def _declare_parameters(self) -> NodeParams:
        values = {}
        for spec in PARAM_SPECS:
            desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
            if spec.choices:
                desc.additional_constraints = "one of: " + ", ".join(spec.choices)
            if spec.range is not None:
                lo, hi = spec.range
                if isinstance(spec.default, int) and not isinstance(spec.default, bool):
                    desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
                else:
                    desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
            values[spec.name] = self.declare_parameter(spec.name, spec.default, desc).value
        return NodeParams.from_values(values)  # raises ValueError naming the bad parameter

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        values = {f: getattr(self.params, f) for f in self.params.__dataclass_fields__}
        values.update({p.name: p.value for p in params})
        try:
            new = NodeParams.from_values(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.params = new
        cfg = self.engine.config
        self.engine.config = InferenceConfig(device=cfg.device, fp16=cfg.fp16, thermal_norm=new.thermal_norm_config(),
                                             thermal_offset=(new.thermal_offset_x, new.thermal_offset_y),
                                             warmup=cfg.warmup)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ input
    def _seen(self, modality: int, msg: Any) -> None:
        self.counts["received_rgb" if modality == RGB else "received_thermal"] += 1
        now = time.monotonic()
        other = 1 - modality
        other_failed = now - self._last_seen[other] > self.params.modality_timeout
        self._last_seen[modality] = now
        self._ever_seen[modality] = True
        if other_failed and self.params.blank_missing_modality:
            with self._lock:
                self.counts["single_modality"] += 1
                self._put((msg, None) if modality == RGB else (None, msg), now)

    def _on_image(self, modality: int, msg: Any) -> None:
        self._seen(modality, msg)
        assert self.pairer is not None
        self.pairer.add(modality, _stamp_seconds(msg), msg)

    def _on_pair(self, rgb_msg: Any, thermal_msg: Any) -> None:
        with self._lock:
            self.counts["pairs"] += 1
            self._put((rgb_msg, thermal_msg), time.monotonic())

    def _put(self, pair: tuple[Any, Any], arrival: float) -> None:
        """Called with the lock held: keep only the newest pair."""
        if self._slot is not None:
            self.counts["dropped"] += 1
        self._slot = (pair[0], pair[1], arrival)
        self._wake.notify()

    # ------------------------------------------------------------------ work
    def _wanted(self) -> dict[str, bool]:
        return {
            "labels": self.pub_labels.get_subscription_count() > 0,
            "color": self.pub_color.get_subscription_count() > 0,
            "overlay": self.pub_overlay.get_subscription_count() > 0,
            "gates": self.pub_gate_rgb.get_subscription_count() + self.pub_gate_thermal.get_subscription_count() > 0,
            "confidence": self.pub_confidence.get_subscription_count() > 0,
        }

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._slot is None and not self._stop:
                    self._wake.wait(timeout=0.5)
                if self._stop:
                    return
                assert self._slot is not None
                rgb_msg, thermal_msg, arrival = self._slot
                self._slot = None
            try:
                self._process(rgb_msg, thermal_msg, arrival)
            except Exception as exc:  # the worker must survive anything a frame can cause
                self.counts["inference_errors"] += 1
                self.get_logger().error(f"inference failed: {exc}", throttle_duration_sec=5.0)

    def _convert(self, rgb_msg: Any, thermal_msg: Any) -> tuple[np.ndarray | None, np.ndarray | None] | None:
        rgb = thermal = None
        if rgb_msg is not None:
            try:
                rgb = rgb_from_image(rgb_msg)
            except ImageFormatError as exc:
                self.counts["bad_rgb"] += 1
                self.get_logger().error(f"bad RGB image: {exc}", throttle_duration_sec=5.0)
                return None
        if thermal_msg is not None:
            try:
                thermal = thermal_from_image(thermal_msg)
            except ImageFormatError as exc:
                self.counts["bad_thermal"] += 1
                self.get_logger().error(f"bad thermal image: {exc}", throttle_duration_sec=5.0)
                return None
            if thermal.dtype == np.float32 and not np.isfinite(thermal).all():
                if not np.isfinite(thermal).any():
                    self.counts["bad_thermal"] += 1
                    self.get_logger().error("bad thermal image: no finite pixel", throttle_duration_sec=5.0)
                    return None
                self.counts["nonfinite_thermal"] += 1
                self.get_logger().warning("thermal image has NaN/inf pixels; treated as 0", throttle_duration_sec=5.0)
        return rgb, thermal

    def _process(self, rgb_msg: Any, thermal_msg: Any, arrival: float) -> None:
        header_msg = rgb_msg if rgb_msg is not None else thermal_msg
        stamp = _stamp_seconds(header_msg)
        if stamp < self._last_stamp:
            self.counts["out_of_order"] += 1
            self.get_logger().warning("dropping a pair older than the last one processed", throttle_duration_sec=5.0)
            return
        wanted = self._wanted()
        if not any(wanted.values()):
            self.counts["skipped_no_subscribers"] += 1
            return
        converted = self._convert(rgb_msg, thermal_msg)
        if converted is None:
            return
        rgb, thermal = converted
        pred = self.engine.predict(rgb, thermal, want_gates=wanted["gates"] or wanted["confidence"])
        header = header_msg.header
        labels = pred.labels
        if wanted["labels"]:
            self.pub_labels.publish(_image(header, labels, "mono8"))
        palette = self.engine.palette
        if wanted["color"]:
            self.pub_color.publish(_image(header, colorize(labels, palette), "rgb8"))
        if wanted["overlay"]:
            base = rgb if rgb is not None else np.repeat(
                (self.engine.tensors(None, thermal)[1][0, 0].float().cpu().numpy() * 255).astype(np.uint8)[:, :, None],
                3, axis=2)
            self.pub_overlay.publish(_image(header, overlay(base, labels, palette, self.params.overlay_alpha), "rgb8"))
        if wanted["gates"] and pred.gates is not None:
            self.pub_gate_rgb.publish(_image(header, pred.gates[0], "32FC1"))
            self.pub_gate_thermal.publish(_image(header, pred.gates[1], "32FC1"))
        if wanted["confidence"] and pred.confidence is not None:
            msg = Float32MultiArray()
            msg.layout.dim = [MultiArrayDimension(label="modality:rgb,thermal", size=2, stride=2)]
            msg.data = [float(v) for v in pred.confidence]
            self.pub_confidence.publish(msg)
        done = time.monotonic()
        self._last_stamp = stamp
        self.counts["processed"] += 1
        self._latency.append(done - arrival)
        self._model_latency.append(pred.seconds)
        self._done_times.append(done)

    # ------------------------------------------------------------------ diagnostics
    def modality_status(self) -> dict[str, str]:
        now = time.monotonic()
        out = {}
        for m, name in ((RGB, "rgb"), (THERMAL, "thermal")):
            silent = now - self._last_seen[m]
            if silent <= self.params.modality_timeout:
                out[name] = "ok"
            else:
                out[name] = f"silent for {silent:.1f} s" if self._ever_seen[m] else "never received"
        return out

    def _publish_diagnostics(self) -> None:
        lat = np.array(self._latency) if self._latency else None
        mlat = np.array(self._model_latency) if self._model_latency else None
        times = list(self._done_times)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        modal = self.modality_status()
        unpaired = 0
        if self.pairer is not None:
            unpaired = self.pairer.stats.unpaired
            self.counts["out_of_order_input"] = sum(self.pairer.stats.out_of_order or [0, 0])
        status = DiagnosticStatus()
        status.name = "rgbt_seg: segmentation_node"
        status.hardware_id = str(self.engine.device)
        failing = [k for k, v in modal.items() if v != "ok"]
        if len(failing) == 2:
            status.level, status.message = DiagnosticStatus.ERROR, "no camera input"
        elif failing:
            status.level = DiagnosticStatus.WARN
            status.message = f"{failing[0]} camera failed: " + (
                "segmenting from the other with it blanked" if self.params.blank_missing_modality else "waiting"
            )
        elif self.counts["bad_rgb"] + self.counts["bad_thermal"] + self.counts["inference_errors"]:
            status.level, status.message = DiagnosticStatus.WARN, "some frames were rejected"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        values = {
            "rate_hz": f"{rate:.2f}",
            "latency_p50_ms": f"{1e3 * np.percentile(lat, 50):.1f}" if lat is not None else "n/a",
            "latency_p95_ms": f"{1e3 * np.percentile(lat, 95):.1f}" if lat is not None else "n/a",
            "model_latency_p50_ms": f"{1e3 * np.percentile(mlat, 50):.1f}" if mlat is not None else "n/a",
            "unpaired": str(unpaired),
            "device": str(self.engine.device) + (" fp16" if self.engine.half else ""),
            "model": self.engine.meta.model,
            "modality_rgb": modal["rgb"],
            "modality_thermal": modal["thermal"],
            **{k: str(v) for k, v in self.counts.items()},
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)

    def destroy_node(self) -> None:
        # rclpy's shutdown also destroys a node whose constructor failed half-way (bad checkpoint): only stop
        # the worker if it was started
        worker = getattr(self, "_worker", None)
        if worker is not None:
            with self._lock:
                self._stop = True
                self._wake.notify_all()
            if worker.is_alive():
                worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    try:
        node = SegmentationNode()
    except Exception as exc:  # bad checkpoint or parameter: one clear fatal line, non-zero exit
        rclpy.logging.get_logger("segmentation_node").fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
