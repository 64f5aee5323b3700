"""The segmentation node's work, shared by the plain node and the managed (lifecycle) one.

The ROS side of :class:`rgbt_seg_core.runtime.SegmentationRuntime`: camera subscriptions (raw or compressed,
following image_transport's topic naming) hand each message to the runtime, a worker thread takes the newest
pair, has the runtime segment it and publishes the result, and a timer publishes the runtime's health on
``/diagnostics`` together with what the ROS graph says about each camera (no publisher, another type or
transport, incompatible QoS). ``rgbt-seg bag-eval`` runs the same runtime, and its behaviour is tested there
without DDS.

The stages map onto a managed node's transitions: :meth:`SegmentationPipeline.configure` loads and warms up the
model and creates the publishers; :meth:`activate` subscribes to the cameras and starts publishing;
:meth:`deactivate` unsubscribes and stops publishing; :meth:`cleanup` frees the model. The plain node runs the
first two in its constructor.

Every output carries the RGB image's header, and ``~/camera_info`` republishes the colour camera's
``rgb/camera_info`` with it, so downstream projection gets intrinsics that match the labels. While the RGB
camera has failed (and ``blank_missing_modality`` is on) outputs are computed from thermal alone and carry the
thermal image's header, the only one there is; no camera_info is published for them.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import logging
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.runtime import RGB, THERMAL, FrameResult, Outputs, SegmentationRuntime, transport_topic
from rgbt_seg_core.runtime.imageconv import array_to_image_fields

from .graph import incompatible_qos_callbacks, topic_view
from .params import PARAM_SPECS, NodeParams

__all__ = ["SegmentationPipeline", "PipelineViews", "declare_parameters", "NODE_NAME"]

NODE_NAME = "segmentation_node"
CAMERAS = ((RGB, "rgb", "rgb/image"), (THERMAL, "thermal", "thermal/image"))


def declare_parameters(node: Node) -> dict[str, Any]:
    """Declare every parameter of :data:`PARAM_SPECS` with its description and range; the values as given."""
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
        values[spec.name] = node.declare_parameter(spec.name, spec.default, desc).value
    return values


def _image(header: Any, arr: np.ndarray, encoding: str) -> Image:
    msg = Image(**array_to_image_fields(arr, encoding))
    msg.header = header
    return msg


def _release_memory() -> None:
    """Hand freed memory back to the system, so that RSS falls once the model is gone (glibc keeps freed heap
    pages otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class SegmentationPipeline:
    """Everything the node does, in the stages of a managed node (see the module docstring)."""

    def __init__(self, node: Node, values: dict[str, Any]) -> None:
        self.node = node
        self.values = dict(values)
        self.params: NodeParams | None = None
        self.engine: InferenceEngine | None = None
        self.runtime: SegmentationRuntime | None = None
        self.active = False
        self._output_lock = threading.Lock()  # held from "active?" to the last publish, and to stop being active
        self.publishers: dict[str, Any] = {}  # by topic name below ~/, and "diagnostics"
        self._subs: list[Any] = []
        self.diagnostics_timer: Any = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()  # the current worker's own: a worker that outlives cleanup keeps its own
        self._camera_info: CameraInfo | None = None
        self._qos_event: list[str | None] = [None, None]
        self._base_topics = ["", ""]
        self._activated = 0.0
        # per output: (pair complete -> every output published, the model's part of it) seconds, the last 200
        self.published: collections.deque[tuple[float, float]] = collections.deque(maxlen=200)
        node.add_on_set_parameters_callback(self._on_set_parameters)

    @property
    def counts(self) -> dict[str, int]:
        return self.runtime.counts if self.runtime is not None else {}

    # ------------------------------------------------------------------ stages
    def configure(self) -> None:
        """Validate the parameters, load and warm up the model, create the publishers. Raises ValueError (a
        parameter) or the checkpoint's error, with nothing left allocated."""
        params = NodeParams.from_values(self.values)
        engine = InferenceEngine(params.checkpoint, params.inference_config())
        engine.warmup(params.warmup_height, params.warmup_width)
        self.params, self.engine = params, engine
        self.runtime = SegmentationRuntime(engine, params.runtime_config(), clock=time.monotonic, logger=self._log)
        create = self.node.create_publisher
        self.publishers = {
            "labels": create(Image, "~/labels", 5),
            "color": create(Image, "~/color", 5),
            "overlay": create(Image, "~/overlay", 5),
            "gate/rgb": create(Image, "~/gate/rgb", 5),
            "gate/thermal": create(Image, "~/gate/thermal", 5),
            "confidence": create(Float32MultiArray, "~/confidence", 5),
            "camera_info": create(CameraInfo, "~/camera_info", 5),
            "diagnostics": create(DiagnosticArray, "/diagnostics", 5),
        }
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(self.runtime, self._stop), name="rgbt_seg_inference",
                                        daemon=True)
        self._worker.start()
        self.node.get_logger().info(
            f"{NODE_NAME} configured: {engine.meta.model} ({len(engine.class_names)} classes) on {engine.device} "
            f"{engine.precision}; rgb {params.rgb_transport}, thermal {params.thermal_transport}")

    def activate(self) -> None:
        """Subscribe to the cameras and start publishing, judging the cameras afresh (an inactive spell is not a
        camera failure)."""
        assert self.params is not None and self.runtime is not None
        self.deactivate()  # whatever a failed activation left behind
        self.runtime.reset_inputs()
        self._qos_event = [None, None]
        p = self.params
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=p.qos_depth,
                         reliability=ReliabilityPolicy.BEST_EFFORT if p.qos_reliability == "best_effort"
                         else ReliabilityPolicy.RELIABLE)
        for modality, name, relative in CAMERAS:
            transport = p.rgb_transport if modality == RGB else p.thermal_transport
            # image_transport's rule: remappings apply to the base topic, the transport's suffix comes after
            base = self.node.resolve_topic_name(relative)
            self._base_topics[modality] = base
            self._subs.append(self.node.create_subscription(
                Image if transport == "raw" else CompressedImage, transport_topic(base, transport),
                lambda msg, m=modality: self._on_image(m, msg), qos,
                event_callbacks=incompatible_qos_callbacks(lambda policy, m=modality: self._on_qos(m, policy))))
        self._subs.append(self.node.create_subscription(CameraInfo, "rgb/camera_info", self._on_camera_info, qos))
        self.active, self._activated = True, time.monotonic()
        self.diagnostics_timer = self.node.create_timer(p.diagnostics_period, self._publish_diagnostics)
        self._publish_diagnostics()  # at once, then every diagnostics_period

    def deactivate(self) -> None:
        """Unsubscribe and stop publishing; the model stays loaded. Safe to call in any state."""
        with self._output_lock:  # an output being published finishes first; none follows
            self.active = False
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        if self.diagnostics_timer is not None:
            self.node.destroy_timer(self.diagnostics_timer)
        self._subs, self.diagnostics_timer = [], None
        self._camera_info = None
        if self.runtime is not None:
            while self.runtime.take(timeout=0) is not None:  # a pair waiting for the worker is dropped
                pass

    def cleanup(self) -> None:
        """Stop the worker, destroy the publishers and free the model. Safe to call in any state."""
        self.deactivate()
        self._stop.set()
        if self.runtime is not None:
            self.runtime.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=10.0)
            if self._worker.is_alive():  # inside the model still: it ends after that frame, publishing nothing
                self.node.get_logger().warning("inference worker still busy after 10 s; it stops after this frame")
        for pub in self.publishers.values():
            self.node.destroy_publisher(pub)
        self.publishers, self._worker = {}, None
        self.runtime = self.engine = self.params = None
        _release_memory()

    # ------------------------------------------------------------------ input
    def _on_image(self, modality: int, msg: Any) -> None:
        self._qos_event[modality] = None  # something arrives: whatever QoS event came before is resolved
        if self.active and self.runtime is not None:
            self.runtime.add(modality, msg)

    def _on_qos(self, modality: int, policy: str) -> None:
        self._qos_event[modality] = policy

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _log(self, level: int, text: str) -> None:
        logger = self.node.get_logger()
        if level >= logging.ERROR:
            logger.error(text)
        elif level >= logging.WARNING:
            logger.warning(text)
        else:
            logger.info(text)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        values = {**self.values, **{p.name: p.value for p in params}}
        if self.params is None:  # not configured: checked as far as can be before configure needs the checkpoint
            try:
                NodeParams.from_values({**values, "checkpoint": values.get("checkpoint") or "unset.safetensors"})
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self.values = values
            return SetParametersResult(successful=True)
        try:
            new = NodeParams.from_values(values)
            runtime_config = new.runtime_config()
            inference_config = new.inference_config()
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        old, self.params, self.values = self.params, new, values
        if self.engine is not None:
            self.engine.reconfigure(inference_config)
        if self.runtime is not None:
            self.runtime.reconfigure(runtime_config)
        if new.diagnostics_period != old.diagnostics_period and self.diagnostics_timer is not None:
            self.node.destroy_timer(self.diagnostics_timer)
            self.diagnostics_timer = self.node.create_timer(new.diagnostics_period, self._publish_diagnostics)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ work
    def _wanted(self) -> Outputs:
        count = {name: pub.get_subscription_count() for name, pub in self.publishers.items()}
        return Outputs(labels=count["labels"] > 0, color=count["color"] > 0, overlay=count["overlay"] > 0,
                       gates=count["gate/rgb"] + count["gate/thermal"] > 0, confidence=count["confidence"] > 0)

    def _work(self, runtime: SegmentationRuntime, stop: threading.Event) -> None:
        while not stop.is_set():
            work = runtime.take(timeout=0.5)
            if work is None or stop.is_set() or not self.active:
                continue
            try:
                with self._output_lock:
                    if not self.active or stop.is_set():
                        continue
                    out = runtime.process(work, self._wanted())
                    if out is not None:
                        self._publish(out)
                        self.published.append((runtime.clock() - out.arrival, out.model_seconds))
            except Exception as exc:  # publishing on a context that SIGINT/SIGTERM already shut down
                if not self.node.context.ok():
                    return
                self.node.get_logger().error(f"publishing failed: {exc}", throttle_duration_sec=5.0)

    def _publish(self, out: FrameResult) -> None:
        header, pubs = out.header, self.publishers
        pubs["labels"].publish(_image(header, out.labels, "mono8"))
        info = self._camera_info
        if info is not None and out.rgb is not None:  # thermal-only outputs have no colour camera_info
            info.header = header
            pubs["camera_info"].publish(info)
        if out.color is not None:
            pubs["color"].publish(_image(header, out.color, "rgb8"))
        if out.overlay is not None:
            pubs["overlay"].publish(_image(header, out.overlay, "rgb8"))
        if out.gates is not None:
            pubs["gate/rgb"].publish(_image(header, out.gates[0], "32FC1"))
            pubs["gate/thermal"].publish(_image(header, out.gates[1], "32FC1"))
        if out.confidence is not None:
            msg = Float32MultiArray()
            msg.layout.dim = [MultiArrayDimension(label="modality:rgb,thermal", size=2, stride=2)]
            msg.data = [float(v) for v in out.confidence]
            pubs["confidence"].publish(msg)

    # ------------------------------------------------------------------ diagnostics
    def _views(self) -> list[Any]:
        """The graph's view of each camera; none during the first ``modality_timeout`` after activation, while
        discovery may not have found the drivers yet (a start must not log "no publisher" for a camera that is
        there)."""
        p = self.params
        assert p is not None
        if time.monotonic() - self._activated < p.modality_timeout:
            return [None, None]
        reliable = p.qos_reliability == "reliable"
        return [topic_view(self.node, name, self._base_topics[m], p.rgb_transport if m == RGB else
                           p.thermal_transport, reliable, self._qos_event[m]) for m, name, _ in CAMERAS]

    def _publish_diagnostics(self) -> None:
        runtime, engine = self.runtime, self.engine
        if runtime is None or engine is None or not self.active:
            return
        health = runtime.diagnostics(self._views())
        status = DiagnosticStatus()
        status.name = f"rgbt_seg: {NODE_NAME}"
        status.hardware_id = str(engine.device)
        status.level = bytes([health.level]) if isinstance(DiagnosticStatus.OK, bytes) else health.level
        status.message = health.message
        values = {**health.values, "device": f"{engine.device} {engine.precision}", "model": engine.meta.model}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        arr.status = [status]
        self.publishers["diagnostics"].publish(arr)


class PipelineViews:
    """What both node classes show of their pipeline (tools and tests read the engine, runtime and counters)."""

    pipeline: SegmentationPipeline

    @property
    def engine(self) -> InferenceEngine | None:
        return self.pipeline.engine

    @property
    def runtime(self) -> SegmentationRuntime | None:
        return self.pipeline.runtime

    @property
    def params(self) -> NodeParams | None:
        return self.pipeline.params

    @property
    def counts(self) -> dict[str, int]:
        return self.pipeline.counts
