"""``segmentation_node``: synchronised RGB + thermal in, labels, colour, overlay, gate maps and diagnostics out.

A thin adapter: subscription callbacks hand each message to :class:`rgbt_seg_core.runtime.SegmentationRuntime`
(frame checks, pairing with message_filters' ApproximateTimeSynchronizer semantics, camera monitor, clock-jump
handling), a worker thread takes the newest pair, has the runtime segment it and publishes the result, and a
timer publishes the runtime's health on ``/diagnostics``. ``rgbt-seg bag-eval`` runs the same runtime, and its
behaviour is tested there without DDS.

Every output carries the RGB image's header. While the RGB camera has failed (and ``blank_missing_modality`` is
on) outputs are computed from thermal alone and carry the thermal image's header, the only one there is.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from rgbt_seg_core.imageconv import array_to_image_fields
from rgbt_seg_core.inference import InferenceEngine
from rgbt_seg_core.runtime import RGB, THERMAL, Outputs, SegmentationOutput, SegmentationRuntime

from .params import PARAM_SPECS, NodeParams

__all__ = ["SegmentationNode", "main"]


def _image(header: Any, arr: np.ndarray, encoding: str) -> Image:
    msg = Image(**array_to_image_fields(arr, encoding))
    msg.header = header
    return msg


class SegmentationNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("segmentation_node", **kwargs)
        self.params = self._declare_parameters()
        self.engine = InferenceEngine(self.params.checkpoint, self.params.inference_config())
        self.engine.warmup(self.params.warmup_height, self.params.warmup_width)
        self.runtime = SegmentationRuntime(self.engine, self.params.runtime_config(), clock=time.monotonic,
                                           logger=self._log)
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
        self.sub_rgb = self.create_subscription(Image, "rgb/image", lambda m: self.runtime.add(RGB, m), qos)
        self.sub_thermal = self.create_subscription(Image, "thermal/image", lambda m: self.runtime.add(THERMAL, m),
                                                    qos)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="rgbt_seg_inference", daemon=True)
        self._worker.start()
        self._diag_timer = self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"segmentation_node ready: {self.engine.meta.model} ({len(self.engine.class_names)} classes) on "
            f"{self.engine.device} {self.engine.precision}"
        )

    @property
    def counts(self) -> dict[str, int]:
        return self.runtime.counts

    def _log(self, level: int, text: str) -> None:
        logger = self.get_logger()
        if level >= logging.ERROR:
            logger.error(text)
        elif level >= logging.WARNING:
            logger.warning(text)
        else:
            logger.info(text)

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
            runtime_config = new.runtime_config()
            inference_config = new.inference_config()
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        old, self.params = self.params, new
        self.engine.config = inference_config
        self.runtime.reconfigure(runtime_config)
        if new.diagnostics_period != old.diagnostics_period:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(new.diagnostics_period, self._publish_diagnostics)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ work
    def _wanted(self) -> Outputs:
        return Outputs(
            labels=self.pub_labels.get_subscription_count() > 0,
            color=self.pub_color.get_subscription_count() > 0,
            overlay=self.pub_overlay.get_subscription_count() > 0,
            gates=self.pub_gate_rgb.get_subscription_count() + self.pub_gate_thermal.get_subscription_count() > 0,
            confidence=self.pub_confidence.get_subscription_count() > 0,
        )

    def _work(self) -> None:
        while not self._stop.is_set():
            work = self.runtime.take(timeout=0.5)
            if work is None or self._stop.is_set():
                continue
            try:
                out = self.runtime.process(work, self._wanted())
                if out is not None:
                    self._publish(out)
            except Exception as exc:  # publishing on a context that SIGINT/SIGTERM already shut down
                if not self.context.ok():
                    return
                self.get_logger().error(f"publishing failed: {exc}", throttle_duration_sec=5.0)

    def _publish(self, out: SegmentationOutput) -> None:
        header = out.header
        self.pub_labels.publish(_image(header, out.labels, "mono8"))
        if out.color is not None:
            self.pub_color.publish(_image(header, out.color, "rgb8"))
        if out.overlay is not None:
            self.pub_overlay.publish(_image(header, out.overlay, "rgb8"))
        if out.gates is not None:
            self.pub_gate_rgb.publish(_image(header, out.gates[0], "32FC1"))
            self.pub_gate_thermal.publish(_image(header, out.gates[1], "32FC1"))
        if out.confidence is not None:
            msg = Float32MultiArray()
            msg.layout.dim = [MultiArrayDimension(label="modality:rgb,thermal", size=2, stride=2)]
            msg.data = [float(v) for v in out.confidence]
            self.pub_confidence.publish(msg)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        health = self.runtime.diagnostics()
        status = DiagnosticStatus()
        status.name = "rgbt_seg: segmentation_node"
        status.hardware_id = str(self.engine.device)
        status.level = bytes([health.level]) if isinstance(DiagnosticStatus.OK, bytes) else health.level
        status.message = health.message
        values = {**health.values, "device": f"{self.engine.device} {self.engine.precision}",
                  "model": self.engine.meta.model}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)

    def destroy_node(self) -> None:
        # rclpy also destroys a node whose constructor failed half-way (bad checkpoint): stop what was started
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
            self.runtime.close()
            if self._worker.is_alive():
                self._worker.join(timeout=10.0)
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
    except Exception:
        # SIGTERM's handler shuts the context down; if that lands while spin builds its wait set, rclpy raises
        # RCLError ("context is not valid") instead of ExternalShutdownException. That is a clean stop too.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
