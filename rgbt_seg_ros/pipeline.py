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

import array
import collections
import ctypes
import functools
import gc
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.runtime import RGB, THERMAL, FrameResult, Outputs, SegmentationRuntime, transport_topic
from rgbt_seg_core.runtime.imageconv import array_to_image_fields
from rgbt_seg_core.settings import retyped

from .graph import incompatible_qos_callbacks, topic_view
from .params import PARAM_SPECS, NodeParams

__all__ = ["SegmentationPipeline", "PipelineViews", "declare_parameters", "NODE_NAME"]

NODE_NAME = "segmentation_node"
CAMERAS = ((RGB, "rgb", "rgb/image"), (THERMAL, "thermal", "thermal/image"))


SPECS = {spec.name: spec for spec in PARAM_SPECS}
# rclpy's hook that may change a value before its type is checked: Iron and later. Humble's rclpy lacks it; there an
# integer sent for a float setting while the node runs (`ros2 param set ... frozen_timeout 0`) is refused, naming the
# setting and asking for 0.0 (_type_refusal), while values given at start (params file, -p) are still converted
# (_declare).
CONVERTS_ON_SET = hasattr(Node, "add_pre_set_parameters_callback")
_TYPE_WORDS = {bool: "a boolean", int: "an integer", str: "a string", list: "a list of numbers",
               float: "a float (an integer is taken too)" if CONVERTS_ON_SET else "a float"}


def declare_parameters(node: Node) -> dict[str, Any]:
    """Declare every parameter of :data:`PARAM_SPECS`, statically typed as its default, with a descriptor that
    says what ``ros2 param describe`` should show; the values as given (an integer given for a float setting is
    declared as that float). Raises ValueError naming a setting given a value of a type it cannot take."""
    return {spec.name: _declare(node, spec) for spec in PARAM_SPECS}


def _descriptor(spec: Any) -> ParameterDescriptor:
    """The description; the unit, the choices and a list's shape as constraints in words; the range and
    read-only in their own fields."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    notes = []
    unit = getattr(spec, "unit", "")  # the settings schema gives one; the older parameter table did not
    if unit:
        notes.append(f"unit: {unit}")
    if spec.choices:
        notes.append("one of: " + ", ".join(spec.choices))
    if isinstance(spec.default, list):
        n = len(spec.default)
        notes.append("9 numbers: a 3x3 matrix in row-major order (h11, h12, h13, h21, ..., h33)" if n == 9
                     else f"{n} numbers")
    if type(spec.default) is float and CONVERTS_ON_SET:
        notes.append("an integer is taken as a float")
    if spec.range is not None:
        lo, hi = spec.range
        if type(spec.default) is int:
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    desc.additional_constraints = "; ".join(notes)
    return desc


def _declare(node: Node, spec: Any) -> Any:
    try:
        return node.declare_parameter(spec.name, spec.default, _descriptor(spec)).value
    except InvalidParameterTypeException:
        pass
    # The value given at start (params file, `-p name:=2`, parameter_overrides) is typed as it was written, and
    # rclpy refuses a type other than the default's before any callback runs (a declaration skips the pre-set
    # hook). So read it through a dynamically typed declaration, then declare the parameter again, statically
    # typed, with the value in the setting's own type and the override ignored: public API only, Humble's too.
    given = node.declare_parameter(spec.name, spec.default, ParameterDescriptor(dynamic_typing=True)).value
    node.undeclare_parameter(spec.name)
    value = retyped(spec, given)
    if value is None:
        raise ValueError(_wrong_type(spec, given, Parameter.Type.from_parameter_value(given)))
    return node.declare_parameter(spec.name, value, _descriptor(spec), ignore_override=True).value


def _wrong_type(spec: Any, value: Any, got: Parameter.Type) -> str:
    shown = list(value) if isinstance(value, array.array) else value
    want = _TYPE_WORDS.get(type(spec.default), type(spec.default).__name__)
    text = f"parameter {spec.name}: expected {want}, got {shown!r} ({got.name.lower()})"
    if retyped(spec, value) is not None:  # only where CONVERTS_ON_SET is False
        text += "; this rclpy (before Iron) cannot convert it: write it with a decimal point (2.0, not 2)"
    return text


def _integers_as_floats(params: list[Parameter]) -> list[Parameter]:
    """rclpy's pre-set hook: an integer sent for a float setting (``ros2 param set``, ``ros2 param load`` of a
    YAML ``2``) becomes that float before rclpy checks the type, so the parameter stays a double."""
    out = []
    for p in params:
        spec = SPECS.get(p.name)
        value = retyped(spec, p.value) if spec is not None else None
        out.append(p if value is None else Parameter(p.name, value=value))
    return out


def _type_refusal(params: list[Parameter]) -> SetParametersResult | None:
    """A refusal naming the first setting given a value of a type it cannot take; None when every type fits."""
    for p in params:
        spec = SPECS.get(p.name)
        if spec is None or p.type_ == Parameter.Type.NOT_SET:  # rclpy's own checks answer these
            continue
        if p.type_ != Parameter.Type.from_parameter_value(spec.default) and not (
                CONVERTS_ON_SET and retyped(spec, p.value) is not None):
            return SetParametersResult(successful=False, reason=_wrong_type(spec, p.value, p.type_))
    return None


# The node classes put PipelineViews before their rclpy base; to the type checker it is a Node.
if TYPE_CHECKING:
    _NodeBase = Node
else:
    _NodeBase = object


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
        if CONVERTS_ON_SET:
            node.add_pre_set_parameters_callback(_integers_as_floats)

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
        self.runtime = SegmentationRuntime(engine, params.runtime_config(), clock=self._runtime_clock(),
                                           logger=self._log, debug=self._debug_enabled)
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
                event_callbacks=incompatible_qos_callbacks(functools.partial(self._on_qos, modality))))
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

    def _runtime_clock(self) -> Callable[[], float]:
        """The clock of camera timeouts, frozen frames and stamp jumps: the steady clock, or ROS time under
        ``use_sim_time``, so that a bag played with its ``/clock`` (``bag-eval --live --clock``) is judged in the bag's
        time, as the offline replay judges it, however long the player or a busy machine stalls. (Latencies then
        read in bag time too: near zero.)"""
        if self.node.get_parameter("use_sim_time").value:
            ros_clock = self.node.get_clock()
            return lambda: ros_clock.now().nanoseconds * 1e-9
        return time.monotonic

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
        """The runtime's lines, :mod:`logging` levels, on the node's logger (and so on /rosout)."""
        logger = self.node.get_logger()
        if level >= logging.ERROR:
            logger.error(text)
        elif level >= logging.WARNING:
            logger.warning(text)
        elif level >= logging.INFO:
            logger.info(text)
        else:
            logger.debug(text)

    def _debug_enabled(self) -> bool:
        """Whether the node logs at debug level now (``--ros-args --log-level segmentation_node:=debug``): asked
        before each debug line is formatted, as the level may be changed while it runs."""
        return self.node.get_logger().is_enabled_for(LoggingSeverity.DEBUG)

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
        if self._debug_enabled():
            self.node.get_logger().debug("parameters set: " + ", ".join(
                f"{p.name}={getattr(new, p.name, p.value)!r} (was {getattr(old, p.name, None)!r})" for p in params))
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


class PipelineViews(_NodeBase):
    """What both node classes show of their pipeline (tools and tests read the engine, runtime and counters), and
    their parameter services' entry."""

    pipeline: SegmentationPipeline

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """Where the SetParameters and SetParametersAtomically services (``ros2 param set``, ``ros2 param load``)
        enter rclpy: a value of a type its setting cannot take is refused here, naming the setting and the type it
        takes (rclpy's own refusal, "Wrong parameter type", names no setting: useless for a file of them). Every
        other check is rclpy's and the pipeline's."""
        refusal = _type_refusal(parameter_list)
        return refusal if refusal is not None else super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        """One at a time, as rclpy does, through :meth:`set_parameters_atomically`'s check."""
        return [self.set_parameters_atomically([p]) for p in parameter_list]

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
