"""The segmentation node's work, shared by the plain node and the managed (lifecycle) one.

The ROS side of :class:`rgbt_seg_core.runtime.SegmentationRuntime`: camera subscriptions (raw or compressed,
following image_transport's topic naming) hand each message to the runtime, a worker thread takes the newest
pair, has the runtime segment it and publishes the result, and a timer publishes the runtime's health on
``/diagnostics`` together with what the ROS graph says about each camera (no publisher, another type or
transport, incompatible QoS). ``rgbt-seg bag-eval`` runs the same runtime, and its behaviour is tested there
without DDS.

Several camera pairs, one model (issue 26). With ``pairs`` set (``[front, rear]``) each pair is a
:class:`~.camera_pair.CameraPair`: its own topics, settings (``front.thermal_homography``), runtime and diagnostics
status. Every pair's ready frames wait in one :class:`~rgbt_seg_core.runtime.batching.BatchScheduler` (a
newest-frame slot per pair, fair batches of one input size), and the one worker runs each batch through the one
engine in one call (:func:`~rgbt_seg_core.runtime.process_batch`); each pair's runtime then finishes and publishes
its own output. With ``pairs`` empty the node has one pair on today's topic names and status, through the same
path in batches of one.

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
import gc
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, ParameterUninitializedException
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.parameter import Parameter

from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.runtime import OK, PairSlot, SegmentationRuntime, Work, process_batch
from rgbt_seg_core.runtime.batching import Batch, BatchScheduler
from rgbt_seg_core.runtime.node_settings import pair_configs
from rgbt_seg_core.settings import retyped
from rgbt_seg_core.settings.check import check_value
from rgbt_seg_core.settings.files import is_foreign
from rgbt_seg_core.settings.pairs import PER_PAIR, SINGLE, PairSettings, pair_key, resolve_pairs

from .camera_pair import CameraPair, level_field
from .label_info import STATUS_KEY, LabelInfoTopics
from .params import PARAM_SPECS, NodeParams

__all__ = ["SegmentationPipeline", "PipelineViews", "declare_parameters", "NODE_NAME"]

NODE_NAME = "segmentation_node"
MODEL_STATUS = f"rgbt_seg: {NODE_NAME}: model"  # the shared model's status, beside one per pair

SPECS = {spec.name: spec for spec in PARAM_SPECS}
_PER_PAIR = {spec.name: spec for spec in PER_PAIR}
# rclpy's hook that may change a value before its type is checked: Iron and later. Humble's rclpy lacks it; there an
# integer sent for a float setting while the node runs (`ros2 param set ... frozen_timeout 0`) is refused, naming the
# setting and asking for 0.0 (_type_refusal), while values given at start (params file, -p) are still converted
# (_declare).
CONVERTS_ON_SET = hasattr(Node, "add_pre_set_parameters_callback")
_TYPE_WORDS = {bool: "a boolean", int: "an integer", str: "a string", list: "a list of numbers",
               float: "a float (an integer is taken too)" if CONVERTS_ON_SET else "a float"}
_STATIC_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
                 str: Parameter.Type.STRING}


def _param_type(spec: Any) -> Parameter.Type:
    """The parameter type a setting is declared with: from its type and, for a list, its items (an empty default
    list would read to rclpy as a byte array)."""
    if spec.type is list:
        return Parameter.Type.STRING_ARRAY if spec.item is str else Parameter.Type.DOUBLE_ARRAY
    return _STATIC_TYPES[spec.type]


def _type_word(spec: Any) -> str:
    if spec.type is list and spec.item is str:
        return "a list of names"
    return _TYPE_WORDS.get(spec.type, spec.type.__name__)


def _spec(name: str) -> Any:
    """The setting a parameter name stands for: the node's own, or a pair's ``<pair>.<setting>``; None for
    another name (rclpy's own parameters)."""
    if name in SPECS:
        return SPECS[name]
    pair, dot, setting = name.partition(".")
    return _PER_PAIR.get(setting) if dot and pair else None


def declare_parameters(node: Node) -> dict[str, Any]:
    """Declare every parameter of :data:`PARAM_SPECS`, statically typed as its default, with a descriptor that
    says what ``ros2 param describe`` should show; then, for each camera pair of ``pairs``, its own
    ``<pair>.<setting>`` of every setting a pair may set, not set unless given (the node's value then applies).
    Returns the values as given (an integer given for a float setting is declared as that float; a pair's
    setting only where it was given). Raises ValueError naming a setting given a value of a type it cannot take,
    a bad or repeated pair name, or a ``<pair>.<setting>`` given at start that no pair may set."""
    values = {spec.name: _declare(node, spec) for spec in PARAM_SPECS}
    values["pairs"] = pairs = check_value(SPECS["pairs"], values["pairs"] or [])
    for pair in pairs:
        for spec in PER_PAIR:
            name = f"{pair}.{spec.name}"
            value = _declare_typed(node, spec, name, _descriptor(spec, pair))
            if value is not None:
                values[name] = value
    _refuse_unknown_pair_keys(node, pairs)
    return values


def _refuse_unknown_pair_keys(node: Node, pairs: list[str]) -> None:
    """A ``<pair>.<setting>`` given at start (a params file's nested key, ``-p front.slop:=0.1``) that was not
    declared would be ignored by rclpy without a word; refuse it, naming it. rclpy keeps the start's overrides
    only in a private attribute: read where present, as no public accessor exists (Humble to Rolling)."""
    overrides: Mapping[str, Any] = getattr(node, "_parameter_overrides", None) or {}
    for key in sorted(overrides):
        if "." in key and not is_foreign(key):
            pair_key(key, pairs)  # raises SettingsError naming the key, the pair or the setting


def _descriptor(spec: Any, pair: str | None = None) -> ParameterDescriptor:
    """The description; the unit, the choices and a list's shape as constraints in words; the range and
    read-only in their own fields. For ``pair``'s own value of a setting, the description says so."""
    text = spec.description if pair is None else (
        f"camera pair {pair}'s own {spec.name}, over the node's (not set: the node's {spec.name}): "
        f"{spec.description}")
    desc = ParameterDescriptor(description=text, read_only=spec.read_only)
    notes = []
    unit = getattr(spec, "unit", "")  # the settings schema gives one; the older parameter table did not
    if unit:
        notes.append(f"unit: {unit}")
    if spec.choices:
        notes.append("one of: " + ", ".join(spec.choices))
    if isinstance(spec.default, list) and getattr(spec, "item", float) is str:
        notes.append("a list of names")
    elif isinstance(spec.default, list):
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
    if spec.type is list and spec.item is str:  # its default, an empty list, cannot say the type: say it
        return _declare_names(node, spec)
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


def _declare_names(node: Node, spec: Any) -> list[str]:
    """A list of names (``pairs``), declared as a string array; not given, it holds its default, the empty list.
    rclpy declares a default only from a value, and an empty list reads to it as a byte array: so the parameter is
    declared by type, writable, given the empty list, then made read-only as its setting says. Left unset instead,
    rclpy's GetParameters would answer a request naming it with no values at all (``ros2 param dump`` empty)."""
    final = _descriptor(spec)
    final.type = _param_type(spec).value
    writable = _descriptor(spec)
    writable.read_only = False
    value = _declare_typed(node, spec, spec.name, writable)
    if value is None:
        value = []
        result = Node.set_parameters(node, [Parameter(spec.name, _param_type(spec), value)])[0]
        if not result.successful:
            raise ValueError(f"parameter {spec.name}: cannot hold its default []: {result.reason}")
    node.set_descriptor(spec.name, final)
    return list(value)


def _declare_typed(node: Node, spec: Any, name: str, descriptor: ParameterDescriptor) -> Any:
    """Declare ``name`` statically typed as ``spec`` says with no value unless one is given at start (None then):
    a pair's own setting, which follows the node's while not set, and ``pairs``, whose empty default says no type.
    A value given in another type is taken as :func:`_declare` takes it; an empty list (YAML ``[]``, which rcl
    types as it likes, or not at all) as not set."""
    try:
        return node.declare_parameter(name, _param_type(spec), descriptor).value
    except InvalidParameterTypeException:
        pass
    given = node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True)).value
    node.undeclare_parameter(name)
    if isinstance(given, (list, tuple, array.array)) and len(given) == 0:
        return node.declare_parameter(name, _param_type(spec), descriptor, ignore_override=True).value
    value = retyped(spec, given)
    if value is None:
        raise ValueError(_wrong_type(spec, given, Parameter.Type.from_parameter_value(given), name))
    return node.declare_parameter(name, value, descriptor, ignore_override=True).value


def _wrong_type(spec: Any, value: Any, got: Parameter.Type, name: str | None = None) -> str:
    shown = list(value) if isinstance(value, array.array) else value
    text = f"parameter {name or spec.name}: expected {_type_word(spec)}, got {shown!r} ({got.name.lower()})"
    if retyped(spec, value) is not None:  # only where CONVERTS_ON_SET is False
        text += "; this rclpy (before Iron) cannot convert it: write it with a decimal point (2.0, not 2)"
    return text


def _integers_as_floats(params: list[Parameter]) -> list[Parameter]:
    """rclpy's pre-set hook: an integer sent for a float setting (``ros2 param set``, ``ros2 param load`` of a
    YAML ``2``) becomes that float before rclpy checks the type, so the parameter stays a double."""
    out = []
    for p in params:
        spec = _spec(p.name)
        value = retyped(spec, p.value) if spec is not None else None
        out.append(p if value is None else Parameter(p.name, value=value))
    return out


def _type_refusal(params: list[Parameter]) -> SetParametersResult | None:
    """A refusal naming the first setting given a value of a type it cannot take; None when every type fits."""
    for p in params:
        spec = _spec(p.name)
        if spec is None or p.type_ == Parameter.Type.NOT_SET:  # rclpy's own checks answer these
            continue
        if p.type_ != _param_type(spec) and not (CONVERTS_ON_SET and retyped(spec, p.value) is not None):
            return SetParametersResult(successful=False, reason=_wrong_type(spec, p.value, p.type_, p.name))
    return None


# The node classes put PipelineViews before their rclpy base; to the type checker it is a Node.
if TYPE_CHECKING:
    _NodeBase = Node
else:
    _NodeBase = object


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
        self.values = dict(values)  # flat parameters: the node's, and <pair>.<setting> where a pair sets its own
        self.pair_settings: PairSettings | None = None
        self.engine: InferenceEngine | None = None
        self.pairs: dict[str, CameraPair] = {}  # in the order of the pairs parameter; SINGLE alone where empty
        self.scheduler: BatchScheduler[Work] | None = None
        self.active = False
        self._output_lock = threading.Lock()  # held from "active?" to the last publish, and to stop being active
        self.publishers: dict[str, Any] = {}  # by topic name below ~/ (labels, front/labels), and "diagnostics"
        self.diagnostics_timer: Any = None
        self.label_info: LabelInfoTopics | None = None  # each pair's ~/label_info (vision_msgs)
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()  # the current worker's own: a worker that outlives cleanup keeps its own
        self._activated = 0.0
        # per output: (pair complete -> every output published, the model's part of it) seconds, the last 200
        self.published: collections.deque[tuple[float, float]] = collections.deque(maxlen=200)
        self._batch_seconds: collections.deque[float] = collections.deque(maxlen=200)  # per model call
        node.add_on_set_parameters_callback(self._on_set_parameters)
        if CONVERTS_ON_SET:
            node.add_pre_set_parameters_callback(_integers_as_floats)

    @property
    def params(self) -> NodeParams | None:
        """The node-wide settings (each pair's own are on its :class:`CameraPair`)."""
        return None if self.pair_settings is None else _node_params(self.pair_settings)

    @property
    def runtime(self) -> SegmentationRuntime | None:
        """The runtime of the one pair of a node whose ``pairs`` is empty (None for a node serving several:
        see :attr:`pairs`)."""
        pair = self.pairs.get(SINGLE)
        return None if pair is None else pair.runtime

    @property
    def counts(self) -> dict[str, int]:
        """The runtime's counters, summed over the pairs of a node serving several."""
        total: collections.Counter[str] = collections.Counter()
        for pair in self.pairs.values():
            total.update(pair.runtime.counts)
        return dict(total)

    # ------------------------------------------------------------------ stages
    def configure(self) -> None:
        """Validate the parameters (each pair's too), load and warm up the one model, make each pair's runtime and
        publishers. Raises ValueError (a parameter, named) or the checkpoint's error, with nothing left
        allocated."""
        ps = resolve_pairs(self.values, settings_type=NodeParams)
        configs = pair_configs(ps)
        params = _node_params(ps)
        engine = InferenceEngine(params.checkpoint, params.inference_config())
        engine.warmup(params.warmup_height, params.warmup_width, batch_sizes=_warmup_batches(engine, ps.batch_size))
        scheduler: BatchScheduler[Work] = BatchScheduler(list(ps.pairs), max_batch=ps.batch_size,
                                                         batch_timeout=params.batch_timeout)
        self.pair_settings, self.engine, self.scheduler = ps, engine, scheduler
        for name, settings in ps.pairs.items():
            runtime_config, inference_config = configs[name]
            runtime = SegmentationRuntime(engine, runtime_config, clock=self._runtime_clock(),
                                          logger=self._logger_for(name), debug=self._debug_enabled,
                                          handover=PairSlot(scheduler, name),
                                          preprocessing=None if name == SINGLE else inference_config.preprocessing())
            self.pairs[name] = pair = CameraPair(self.node, name, settings, runtime)
            pair.create_publishers()
            self.publishers.update({pair.topics.outputs[k].removeprefix("~/"): pub
                                    for k, pub in pair.publishers.items()})
        self.publishers["diagnostics"] = self.node.create_publisher(DiagnosticArray, "/diagnostics", 5)
        self.label_info = LabelInfoTopics(self.node, {n: p.topics.outputs["label_info"] for n, p in self.pairs.items()},
                                          engine.class_names, params.min_confidence)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(scheduler, self._stop), name="rgbt_seg_inference",
                                        daemon=True)
        self._worker.start()
        self.node.get_logger().info(
            f"{NODE_NAME} configured: {engine.meta.model} ({len(engine.class_names)} classes) on {engine.device} "
            f"{engine.precision}; " + "; ".join(
                f"{name + ': ' if name else ''}rgb {p.settings.rgb_transport}, thermal {p.settings.thermal_transport}"
                for name, p in self.pairs.items())
            + (f"; batches of up to {ps.batch_size}" if ps.batch_size > 1 else ""))

    def activate(self) -> None:
        """Subscribe to every pair's cameras and start publishing, judging the cameras afresh (an inactive spell
        is not a camera failure)."""
        assert self.pair_settings is not None
        self.deactivate()  # whatever a failed activation left behind
        for pair in self.pairs.values():
            pair.runtime.reset_inputs()
            pair.subscribe(self._on_image)
        self.active, self._activated = True, time.monotonic()
        if self.label_info is not None:
            self.label_info.publish_all()  # the model's class map, latched for whoever subscribes later
        params = _node_params(self.pair_settings)
        self.diagnostics_timer = self.node.create_timer(params.diagnostics_period, self._publish_diagnostics)
        self._publish_diagnostics()  # at once, then every diagnostics_period

    def deactivate(self) -> None:
        """Unsubscribe every pair and stop publishing; the model stays loaded. Safe to call in any state."""
        with self._output_lock:  # an output being published finishes first; none follows
            self.active = False
        for pair in self.pairs.values():
            pair.unsubscribe()
        if self.diagnostics_timer is not None:
            self.node.destroy_timer(self.diagnostics_timer)
        self.diagnostics_timer = None
        if self.scheduler is not None:
            self.scheduler.drop_waiting()  # a pair waiting for the worker is dropped

    def cleanup(self) -> None:
        """Stop the worker, destroy the publishers and free the one model. Safe to call in any state."""
        self.deactivate()
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=10.0)
            if self._worker.is_alive():  # inside the model still: it ends after that batch, publishing nothing
                self.node.get_logger().warning("inference worker still busy after 10 s; it stops after this frame")
        for pair in self.pairs.values():
            pair.destroy_publishers()
            # rclpy may hold a destroyed subscription's callback, and so its pair and runtime, a while longer: the
            # model must not be held with them
            pair.runtime.engine = None
        if "diagnostics" in self.publishers:
            self.node.destroy_publisher(self.publishers["diagnostics"])
        if self.label_info is not None:
            self.label_info.destroy()
            self.label_info = None
        self.publishers, self._worker, self.pairs = {}, None, {}
        self.scheduler = self.engine = self.pair_settings = None
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
    def _on_image(self, pair: CameraPair, modality: int, msg: Any) -> None:
        pair.qos_event[modality] = None  # something arrives: whatever QoS event came before is resolved
        if self.active:
            pair.runtime.add(modality, msg)

    def _logger_for(self, pair: str) -> Callable[[int, str], None]:
        """A pair's runtime's lines on the node's logger, each naming the pair (the one pair of a node without
        ``pairs`` as before)."""
        if pair == SINGLE:
            return self._log
        return lambda level, text: self._log(level, f"pair {pair}: {text}")

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
        """New values, checked as a whole with every pair's; a pair's own (``front.thermal_offset_x``) reaches
        that pair alone, a node-wide one every pair that does not set its own."""
        values = dict(self.values)
        for p in params:
            if p.value is None:  # a pair's own value no longer set: the node's applies again
                values.pop(p.name, None)
            else:
                values[p.name] = p.value
        if self.pair_settings is None:  # not configured: checked as far as can be before configure needs the file
            try:
                pair_configs(resolve_pairs({**values, "checkpoint": values.get("checkpoint") or "unset.safetensors"},
                                           settings_type=NodeParams))
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self.values = values
            return SetParametersResult(successful=True)
        try:
            ps = resolve_pairs(values, settings_type=NodeParams)
            configs = pair_configs(ps)
            inference_config = _node_params(ps).inference_config()
            if self.engine is not None:  # what only the model can refuse (min_confidence where 255 is a class)
                self.engine.check_reconfigure(inference_config)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        old, self.pair_settings, self.values = _node_params(self.pair_settings), ps, values
        new = _node_params(ps)
        if self._debug_enabled():
            self.node.get_logger().debug("parameters set: " + ", ".join(
                f"{p.name}={getattr(new, p.name, p.value)!r} (was {getattr(old, p.name, None)!r})" for p in params))
        if self.engine is not None:
            self.engine.reconfigure(inference_config)
        for name, pair in self.pairs.items():
            runtime_config, pair_inference = configs[name]
            pair.settings = ps.pairs[name]
            pair.runtime.reconfigure(runtime_config)
            if name != SINGLE:
                pair.runtime.preprocessing = pair_inference.preprocessing()
        if self.label_info is not None:
            self.label_info.set_threshold(new.min_confidence)  # republished where it changed
        if new.diagnostics_period != old.diagnostics_period and self.diagnostics_timer is not None:
            self.node.destroy_timer(self.diagnostics_timer)
            self.diagnostics_timer = self.node.create_timer(new.diagnostics_period, self._publish_diagnostics)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ work
    def _work(self, scheduler: BatchScheduler[Work], stop: threading.Event) -> None:
        while not stop.is_set():
            batch = scheduler.take(timeout=0.5)
            if batch is None or stop.is_set() or not self.active:
                continue
            try:
                with self._output_lock:
                    if not self.active or stop.is_set():
                        continue
                    self._run(batch)
            except Exception as exc:  # publishing on a context that SIGINT/SIGTERM already shut down
                if not self.node.context.ok():
                    return
                self.node.get_logger().error(f"publishing failed: {exc}", throttle_duration_sec=5.0)

    def _run(self, batch: Batch[Work]) -> None:
        """One model call for the batch's frames, then each pair publishes its own output (output lock held)."""
        assert self.engine is not None
        pairs = [self.pairs[name] for name in batch.pairs]
        jobs = [(pair.runtime, work, pair.wanted()) for pair, (_, work) in zip(pairs, batch)]
        start = time.perf_counter()
        results = process_batch(self.engine, jobs)
        if any(out is not None for out in results):
            self._batch_seconds.append(time.perf_counter() - start)
        for pair, out in zip(pairs, results):
            if out is not None:
                pair.publish(out)
                if self.label_info is not None:
                    self.label_info.labels_published(pair.name, out.header)
                self.published.append((pair.runtime.clock() - out.arrival, out.model_seconds))

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        engine, scheduler = self.engine, self.scheduler
        if engine is None or scheduler is None or not self.active or not self.pairs:
            return
        extra = {"device": f"{engine.device} {engine.precision}", "model": engine.meta.model}
        if self.label_info is not None:
            extra[STATUS_KEY] = self.label_info.status()
        statuses = [pair.status(NODE_NAME, self._activated, str(engine.device), extra)
                    for pair in self.pairs.values()]
        if SINGLE not in self.pairs:  # a node serving several pairs: the shared model's status too
            statuses.append(self._model_status(scheduler, str(engine.device), extra))
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        arr.status = statuses
        self.publishers["diagnostics"].publish(arr)

    def _model_status(self, scheduler: BatchScheduler[Work], hardware_id: str,
                      extra: dict[str, str]) -> DiagnosticStatus:
        """The one model's side: how full its batches run, how long frames wait for them, how long a call takes."""
        stats = scheduler.stats()
        seconds = np.array(self._batch_seconds) if self._batch_seconds else None

        def ms(q: float) -> str:
            return f"{1e3 * np.percentile(seconds, q):.1f}" if seconds is not None else "n/a"

        values = {
            "pairs": ", ".join(scheduler.pairs),
            "max_batch": str(scheduler.max_batch),
            "batches": str(stats.batches),
            "mean_batch_size": f"{stats.mean_batch_size:.2f}",
            "batch_sizes": ", ".join(f"{n}: {count}" for n, count in sorted(stats.batch_sizes.items())),
            "queue_wait_mean_ms": f"{1e3 * stats.wait_mean:.1f}",
            "queue_wait_max_ms": f"{1e3 * stats.wait_max:.1f}",
            **{f"queue_wait_mean_ms.{pair}": f"{1e3 * c.wait_mean:.1f}" for pair, c in stats.pairs.items()},
            "model_time_p50_ms": ms(50),
            "model_time_p95_ms": ms(95),
            **extra,
        }
        status = DiagnosticStatus(name=MODEL_STATUS, hardware_id=hardware_id, level=level_field(OK),
                                  message=f"{len(scheduler.pairs)} camera pairs, mean batch "
                                          f"{stats.mean_batch_size:.2f} of at most {scheduler.max_batch}")
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status


def _warmup_batches(engine: InferenceEngine, batch_size: int) -> list[int]:
    """The batch sizes to warm up: on CUDA every size the node may meet, as each is a CUDA graph of its own to
    capture before the first frame; elsewhere the smallest and the largest (the kernels' first-call costs), as
    each size would cost the CPU a warm-up round of its own for little."""
    if str(engine.device).startswith("cuda"):
        return list(range(1, batch_size + 1))
    return sorted({1, batch_size})


def _node_params(ps: PairSettings) -> NodeParams:
    """The node-wide settings of ``ps``, which :func:`resolve_pairs` made as :class:`NodeParams`."""
    assert isinstance(ps.node, NodeParams)
    return ps.node


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

    def get_parameter(self, name: str) -> Parameter:
        """A camera pair's own setting that is not set (it follows the node's) reads as not set, as rclcpp answers
        it, rather than raising: rclpy's GetParameters service would otherwise answer a request that names one
        with no values at all, so ``ros2 param get`` of several, and ``ros2 param dump``, would show nothing."""
        try:
            return super().get_parameter(name)
        except ParameterUninitializedException:
            if name in SPECS or _spec(name) is None:
                raise
            return Parameter(name, Parameter.Type.NOT_SET, None)

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
