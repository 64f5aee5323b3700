"""The segmentation node's logic without ROS: messages in, outputs and a health report out.

The ROS node is a thin adapter around :class:`SegmentationRuntime` (subscription callbacks call :meth:`add`, a
worker thread loops :meth:`take` -> :meth:`process` -> publish, a timer publishes :meth:`diagnostics`), and
``rgbt-seg bag-eval`` drives the same object with the bag's clock. So the node's behaviour under any stamp order
or bad input is tested here, deterministically, with a fake clock and no DDS.

Per message, in :meth:`add`: decode and check it (every bad frame is counted, see :mod:`.frames`), note the
camera as alive, check for a stamp jump (which drops the old time base from the pairer), then pair it. A pair
goes to the hand-over queue: in real time a newest-only slot (a pair replaced unprocessed counts as dropped),
offline a FIFO; in a node serving several camera pairs, the pair's slot in the one
:class:`~rgbt_seg_core.runtime.batching.BatchScheduler` (:class:`PairSlot`), whose batches
:func:`process_batch` segments in one model call, each runtime admitting and finishing its own pair's frames.
While one camera has failed, each frame of the other is queued alone with the failed one blanked (if
``blank_missing_modality``).

Every output carries the RGB frame's header; a thermal-only output (RGB camera failed) carries the thermal
frame's header, as it is the only one there is.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from rgbt_seg_core.inference.engine import BatchFrame, Preprocessing
from rgbt_seg_core.inference.render import Renders
from rgbt_seg_core.runtime.batching import BatchScheduler
from rgbt_seg_core.runtime.camera_monitor import MODALITY_NAMES, CameraMonitor
from rgbt_seg_core.runtime.clock import Clock, monotonic
from rgbt_seg_core.runtime.compressed_outputs import GATE_OUTPUTS, CompressedOutput, check_jpeg_quality, encode_outputs
from rgbt_seg_core.runtime.frames import RGB, THERMAL, Frame, FrameError, decode_frame
from rgbt_seg_core.runtime.frozen import FrozenDetector, frame_digest
from rgbt_seg_core.runtime.input_status import InputStatus, TopicView, input_status
from rgbt_seg_core.runtime.levels import ERROR, OK, WARN
from rgbt_seg_core.runtime.log_throttle import LogThrottle
from rgbt_seg_core.runtime.pairing import ApproxTimePairer, slop_to_ns
from rgbt_seg_core.runtime.queues import FifoQueue, NewestSlot
from rgbt_seg_core.runtime.stamps import OrderGuard, StampJump, StampJumpDetector
from rgbt_seg_core.runtime.window import EventWindow
from rgbt_seg_core.settings.schema import Settings, default
from rgbt_seg_core.settings.vocab import CONFIDENCE_ENCODINGS

__all__ = ["RuntimeConfig", "SegmentationRuntime", "Outputs", "FrameResult", "Health", "Work", "HandOver",
           "PairSlot", "BatchPredictor", "process_batch", "OK", "WARN", "ERROR"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeConfig:
    """The runtime's settings. Those that are node parameters take their defaults from the settings schema
    (:mod:`rgbt_seg_core.settings.schema`, where each is described, with its unit); :meth:`from_settings` makes the
    config the node makes, for every tool that runs as the node runs."""

    queue_size: int = default("queue_size")
    slop: float = default("slop")
    max_pixels: int = default("max_pixels")
    modality_timeout: float = default("modality_timeout")
    blank_missing_modality: bool = default("blank_missing_modality")
    jump_threshold: float = default("jump_threshold")  # see stamps.StampJumpDetector
    stats_window: float = default("stats_window")
    overlay_alpha: float = default("overlay_alpha")
    confidence_encoding: str = default("confidence_encoding")  # ~/label_confidence's: 32FC1 or mono8
    realtime: bool = True  # newest-pair slot (live) instead of a FIFO of every pair (offline)
    frozen_timeout: float = default("frozen_timeout")  # 0: off
    jpeg_quality: int = default("jpeg_quality")  # color/compressed and overlay/compressed

    @classmethod
    def from_settings(cls, s: Settings, *, realtime: bool) -> "RuntimeConfig":
        """The runtime's config from the node's settings: the node's (``realtime=True``) or an offline tool's
        (``realtime=False``: every pair is kept). Raises ValueError as the config's own checks do."""
        return cls(queue_size=s.queue_size, slop=s.slop, max_pixels=s.max_pixels,
                   modality_timeout=s.modality_timeout, blank_missing_modality=s.blank_missing_modality,
                   jump_threshold=s.jump_threshold, stats_window=s.stats_window, overlay_alpha=s.overlay_alpha,
                   frozen_timeout=s.frozen_timeout, jpeg_quality=s.jpeg_quality,
                   confidence_encoding=s.confidence_encoding, realtime=realtime)

    def __post_init__(self) -> None:
        if not isinstance(self.queue_size, int) or self.queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {self.queue_size!r}")
        if slop_to_ns(self.slop) <= 0:
            raise ValueError(f"slop must be > 0 seconds (at least 1 ns), got {self.slop!r}")
        if not self.stats_window > 0 or not self.modality_timeout >= 0:
            raise ValueError("stats_window must be > 0 and modality_timeout >= 0 seconds")
        if not 0.0 <= self.overlay_alpha <= 1.0:
            raise ValueError(f"overlay_alpha must lie in [0, 1], got {self.overlay_alpha!r}")
        if not self.jump_threshold > self.slop:
            raise ValueError(f"jump_threshold ({self.jump_threshold} s) must exceed slop ({self.slop} s)")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1, got {self.max_pixels}")
        if not self.frozen_timeout >= 0:
            raise ValueError(f"frozen_timeout must be >= 0 seconds (0: off), got {self.frozen_timeout!r}")
        check_jpeg_quality(self.jpeg_quality)
        if self.confidence_encoding not in CONFIDENCE_ENCODINGS:
            raise ValueError(f"confidence_encoding must be one of {', '.join(CONFIDENCE_ENCODINGS)}, got "
                             f"{self.confidence_encoding!r}")


@dataclass(frozen=True)
class Outputs:
    """Which outputs someone wants; nothing is computed for the others."""

    labels: bool = True
    color: bool = False
    overlay: bool = False
    gates: bool = False
    confidence: bool = False  # the two modality confidences
    label_confidence: bool = False  # each pixel's: the winning class's softmax probability
    # outputs wanted in image_transport's compressed form (labels, color, overlay, gate/rgb, gate/thermal:
    # compressed_outputs.COMPRESSIBLE), each whether or not its raw form is wanted too
    compressed: frozenset[str] = frozenset()

    @property
    def gated(self) -> bool:
        """Whether the model's gated pass must run: for the gates, raw or compressed, or the confidences."""
        return self.gates or self.confidence or not self.compressed.isdisjoint(GATE_OUTPUTS)

    def any(self) -> bool:
        return (self.labels or self.color or self.overlay or self.gates or self.confidence or self.label_confidence
                or bool(self.compressed))

    def renders(self, alpha: float) -> Renders:
        """The pictures the engine must draw: a picture wanted raw or compressed."""
        return Renders(color=self.color or "color" in self.compressed,
                       overlay=self.overlay or "overlay" in self.compressed, alpha=alpha)


@dataclass(frozen=True)
class Work:
    rgb: Frame | None
    thermal: Frame | None
    queued: float  # runtime clock when it was handed over

    @property
    def lead(self) -> Frame:
        """The frame whose header the outputs carry: RGB when there is one."""
        frame = self.rgb if self.rgb is not None else self.thermal
        assert frame is not None
        return frame

    @property
    def arrival(self) -> float:
        """When the last of its frames arrived."""
        return max(f.arrival for f in (self.rgb, self.thermal) if f is not None)


@dataclass
class FrameResult:
    header: Any
    stamp_ns: int
    labels: np.ndarray
    rgb: np.ndarray | None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None
    gates: np.ndarray | None = None  # 2 x H x W
    confidence: np.ndarray | None = None  # (rgb, thermal)
    label_confidence: np.ndarray | None = None  # H x W, in RuntimeConfig.confidence_encoding (float32 or uint8)
    compressed: dict[str, CompressedOutput] = field(default_factory=dict)  # by output name, those wanted
    model_seconds: float = 0.0
    arrival: float = 0.0  # runtime clock seconds when the pair was complete (its later frame arrived)


@dataclass
class Health:
    level: int
    message: str
    values: dict[str, str]


class Predictor(Protocol):
    """What the runtime needs of :class:`~rgbt_seg_core.inference.engine.InferenceEngine`."""

    @property
    def palette(self) -> list[list[int]]: ...  # read-only, as InferenceEngine's

    def predict(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, want_gates: bool = False,
                thermal_checked: bool = False, render: Renders | None = None,
                preprocessing: Preprocessing | None = None) -> Any: ...


class BatchPredictor(Predictor, Protocol):
    """What :func:`process_batch` needs of the engine: :meth:`InferenceEngine.predict_frames`."""

    def predict_frames(self, frames: Sequence[BatchFrame]) -> list[Any]: ...


class HandOver(Protocol):
    """Where a runtime puts its ready pairs for the worker: its own newest-only slot or FIFO, or, in a node
    serving several camera pairs, its pair's slot in the one :class:`~.batching.BatchScheduler` (:class:`PairSlot`)."""

    def put(self, item: Work) -> Work | None: ...

    def take(self, timeout: float | None = None) -> Work | None: ...

    def close(self) -> None: ...

    def __len__(self) -> int: ...


class PairSlot:
    """One camera pair's newest-frame slot in a scheduler shared by every pair of a node. The worker takes batches
    from the scheduler itself, so :meth:`take` hands nothing out; :meth:`put` returns the pair's frame that will
    not be served (replaced), for the runtime to count as dropped."""

    def __init__(self, scheduler: BatchScheduler[Work], pair: str) -> None:
        self.scheduler, self.pair = scheduler, pair

    def put(self, item: Work) -> Work | None:
        # frames of one size share a batch: the engine takes the RGB image's size, else the thermal image's
        return self.scheduler.put(self.pair, item, item.lead.image.shape[:2])

    def take(self, timeout: float | None = None) -> Work | None:
        return None

    def close(self) -> None:
        """The scheduler is the node's, closed once for every pair."""

    def __len__(self) -> int:
        counts = self.scheduler.stats().pairs.get(self.pair)
        return int(counts is not None and counts.waiting)


class SegmentationRuntime:
    COUNTERS = ("received_rgb", "received_thermal", "bad_rgb", "bad_thermal", "frozen_rgb", "frozen_thermal",
                "nonfinite_thermal", "pairs",
                "single_modality", "dropped", "out_of_order", "processed", "skipped_no_subscribers",
                "inference_errors", "clock_jumps")

    def __init__(self, engine: Predictor | None, config: RuntimeConfig = RuntimeConfig(), clock: Clock = monotonic,
                 logger: Callable[[int, str], None] | None = None, log_period: float = 5.0,
                 debug: Callable[[], bool] | None = None, handover: HandOver | None = None,
                 preprocessing: Preprocessing | None = None) -> None:
        """``logger(level, text)`` receives :mod:`logging` levels; each kind of problem is throttled to one line
        per ``log_period`` seconds of ``clock``. ``debug()`` says whether the debug lines that explain each
        decision (a pair dropped and why, a fallback entered or left, a stale frame) are wanted now: it is asked
        before a line is formatted, so they cost one call while debug is off (default: this module's
        :mod:`logging` level). ``handover``: where ready pairs go (default: a newest-only slot in real time, a FIFO
        offline); a node serving several camera pairs passes its pair's :class:`PairSlot`. ``preprocessing``: this
        camera pair's registration and thermal normalisation (None: the engine's config's)."""
        self.engine = engine
        self.config = config
        self.clock = clock
        self._logger = logger or (lambda level, text: log.log(level, text))
        self._throttle = LogThrottle(log_period, clock)
        self._debug_on = debug or (lambda: log.isEnabledFor(logging.DEBUG))
        self._debug_throttle = LogThrottle(log_period, clock)  # debug lines do not use up the warnings' turns
        self._fallback = [False, False]  # per camera: failed, the other's frames segmented alone
        self._lock = threading.RLock()
        self.counts = {k: 0 for k in self.COUNTERS}
        self.pairer: ApproxTimePairer[Frame] = ApproxTimePairer(config.queue_size, config.slop, self._on_pair)
        threshold_ns = int(config.jump_threshold * 1e9)
        self.jumps = StampJumpDetector(threshold_ns)
        self.order = OrderGuard(threshold_ns)
        self.monitor = CameraMonitor(config.modality_timeout, clock)
        self.frozen = FrozenDetector(config.frozen_timeout, clock)
        self.queue: HandOver = handover if handover is not None else NewestSlot() if config.realtime else FifoQueue()
        self.preprocessing = preprocessing
        self.last_jump: StampJump | None = None
        self.last_error: str | None = None
        self.last_refusal: list[str | None] = [None, None]  # per camera
        self._input_logged: list[str | None] = [None, None]  # the input status last reported, per camera
        self._make_windows()
        self._latency: deque[float] = deque(maxlen=200)
        self._model_latency: deque[float] = deque(maxlen=200)
        self._busy = False  # the worker is inside the model (a slow frame is not "pairs but none segmented")

    def _log(self, level: int, key: str, text: str) -> None:
        line = self._throttle.admit(key, text)
        if line is not None:
            self._logger(level, line)

    def _debug(self, key: str, fmt: str, *args: Any) -> None:
        """A decision explained at debug level, throttled per ``key``; ``fmt % args`` only while debug is on."""
        if not self._debug_on():
            return
        line = self._debug_throttle.admit(key, fmt % args if args else fmt)
        if line is not None:
            self._logger(logging.DEBUG, line)

    def _make_windows(self) -> None:
        w = self.config.stats_window
        # one window per kind of event, so that no event is counted in two rates: "handed" is every pair (or lone
        # frame) put in the hand-over queue; each then ends "segmented", "skipped" (no subscriber), dropped,
        # out of order or an error
        self.window = {k: EventWindow(w, self.clock) for k in ("received_rgb", "received_thermal", "good_rgb",
                                                               "good_thermal", "bad", "bad_rgb", "bad_thermal",
                                                               "pairs", "handed", "segmented", "skipped", "jumps",
                                                               "errors")}

    def reset_inputs(self) -> None:
        """Forget what was seen of the cameras (liveness, frozen runs, stamps, queued frames, recent windows) but
        keep the counters: a node that resumes after an inactive spell must judge its cameras afresh, not call
        them failed and segment the first frame alone."""
        with self._lock:
            self.monitor = CameraMonitor(self.config.modality_timeout, self.clock)
            self.frozen = FrozenDetector(self.config.frozen_timeout, self.clock)
            threshold_ns = int(self.config.jump_threshold * 1e9)
            self.jumps = StampJumpDetector(threshold_ns)
            self.order = OrderGuard(threshold_ns)
            self.pairer.reset()
            while self.queue.take(timeout=0) is not None:  # a pair nobody will segment now
                self.counts["dropped"] += 1
            self.last_refusal = [None, None]
            self._input_logged = [None, None]
            self._fallback = [False, False]
            self._make_windows()

    def reconfigure(self, config: RuntimeConfig) -> None:
        """Apply the settings that may change while running (window, timeouts, alpha, fallback); the pairing
        and size settings are fixed at start."""
        with self._lock:
            window_changed = config.stats_window != self.config.stats_window
            self.config = config
            self.monitor.timeout = config.modality_timeout
            self.frozen.timeout = config.frozen_timeout
            if window_changed:
                self._make_windows()

    # ------------------------------------------------------------------ input side
    def add(self, modality: int, msg: Any) -> None:
        """One message from a camera. Never raises: whatever is wrong with it is counted and logged."""
        now = self.clock()
        error: FrameError | None = None
        digest = None
        try:  # outside the lock: decoding copies pixels, the digest reads them
            frame = decode_frame(modality, msg, now, self.config.max_pixels)
            digest = frame_digest(frame.image) if self.config.frozen_timeout > 0 else None
        except FrameError as exc:
            error = exc
        with self._lock:
            received = "received_rgb" if modality == RGB else "received_thermal"
            self.counts[received] += 1
            self.window[received].add()
            if error is not None:
                self.counts["bad_rgb" if modality == RGB else "bad_thermal"] += 1
                self.window["bad"].add()
                self.window["bad_rgb" if modality == RGB else "bad_thermal"].add()
                self.last_error = self.last_refusal[modality] = str(error)
                self._log(logging.ERROR, f"bad_{modality}", f"bad {MODALITY_NAMES[modality]} frame: {error}")
                return
            if frame.nonfinite:
                self.counts["nonfinite_thermal"] += 1
                self._log(logging.WARNING, "nonfinite", "thermal frame has NaN/inf pixels; they are treated as 0")
            self.monitor.seen(modality)
            self.window["good_rgb" if modality == RGB else "good_thermal"].add()
            if self.frozen.check(modality, digest):
                self.counts[f"frozen_{MODALITY_NAMES[modality]}"] += 1
                self._log(logging.WARNING, f"frozen_{modality}",
                          f"{MODALITY_NAMES[modality]} camera frozen: identical frames for "
                          f"{self.frozen.frozen_for(modality):.1f} s "
                          f"(frozen_timeout={self.config.frozen_timeout:g} s); "
                          f"its frames are not used until it changes")
                return
            jump = self.jumps.check(modality, frame.stamp_ns, now)
            if jump is not None:
                self._on_jump(jump)
            other = 1 - modality
            alone = self.config.blank_missing_modality and self.failed(other)
            self._note_fallback(modality, False)  # a usable frame of its own: it is not failed
            self._note_fallback(other, alone)
            if alone:
                self.counts["single_modality"] += 1
                self._hand_over(Work(frame, None, now) if modality == RGB else Work(None, frame, now))
                return
            self._pair(modality, frame)

    def _pair(self, modality: int, frame: Frame) -> None:
        """Hand the frame to the pairer; at debug level, say which frames it let go unpaired, and why."""
        st = self.pairer.stats
        before = (st.stepped_back[modality], st.evicted[modality], st.replaced[modality])
        self.pairer.add(modality, frame.stamp_ns, frame)
        stale, evicted, replaced = (a - b for a, b in zip((st.stepped_back[modality], st.evicted[modality],
                                                           st.replaced[modality]), before))
        name, other = MODALITY_NAMES[modality], MODALITY_NAMES[1 - modality]
        if stale:
            self._debug(f"stale_{modality}", "stale %s frame: stamp %.3f s is older than one already received; it "
                        "pairs only with a %s frame within slop=%g s", name, frame.stamp_ns * 1e-9, other,
                        self.config.slop)
        if evicted:
            self._debug(f"unpaired_{modality}", "%s frame dropped unpaired: the %s pairing queue (queue_size=%d) "
                        "was full and its oldest frame had no %s frame within slop=%g s", name, name,
                        self.config.queue_size, other, self.config.slop)
        if replaced:
            self._debug(f"same_stamp_{modality}", "%s frame dropped unpaired: another %s frame came with the same "
                        "stamp %.3f s before it paired", name, name, frame.stamp_ns * 1e-9)

    def _note_fallback(self, camera: int, failed: bool) -> None:
        """Note whether the other camera's frames are now segmented alone because ``camera`` failed; a change is
        explained at debug level."""
        if failed == self._fallback[camera]:
            return
        self._fallback[camera] = failed
        name, other = MODALITY_NAMES[camera], MODALITY_NAMES[1 - camera]
        if not failed:
            self._debug(f"recovered_{camera}", "%s camera usable again: pairing rgb and thermal again", name)
        elif self.frozen.frozen(camera):
            self._debug(f"fallback_{camera}", "%s camera frozen (identical frames for %.1f s, frozen_timeout=%g s): "
                        "segmenting %s alone, %s blanked", name, self.frozen.frozen_for(camera),
                        self.config.frozen_timeout, other, name)
        else:
            self._debug(f"fallback_{camera}", "%s camera silent for %.1f s (modality_timeout=%g s): segmenting %s "
                        "alone, %s blanked", name, self.monitor.silence(camera) or 0.0,
                        self.config.modality_timeout, other, name)

    def failed(self, modality: int) -> bool:
        """Silent for longer than ``modality_timeout``, or frozen."""
        return self.monitor.failed(modality) or self.frozen.frozen(modality)

    def _on_jump(self, jump: StampJump) -> None:
        self.counts["clock_jumps"] += 1
        self.window["jumps"].add()
        self.last_jump = jump
        threshold = self.jumps.threshold_ns
        dropped = self.pairer.reset(keep=lambda s: abs(s - jump.to_ns) <= threshold)
        self._log(logging.WARNING, f"jump_{jump.stream}",
                  f"{jump.describe(MODALITY_NAMES)} ({dropped} queued frame(s) of the old time base dropped)")

    def _on_pair(self, rgb: Frame, thermal: Frame) -> None:  # called by the pairer, lock held
        self.counts["pairs"] += 1
        self.window["pairs"].add()
        self._hand_over(Work(rgb, thermal, self.clock()))

    def _hand_over(self, work: Work) -> None:
        self.window["handed"].add()
        replaced = self.queue.put(work)
        if replaced is not None:
            self.counts["dropped"] += 1
            self._debug("replaced", "pair at %.3f s dropped unsegmented: the pair at %.3f s replaced it in the "
                        "newest-only slot (segmenting is slower than the cameras)", replaced.lead.stamp_ns * 1e-9,
                        work.lead.stamp_ns * 1e-9)

    # ------------------------------------------------------------------ worker side
    def take(self, timeout: float | None = None) -> Work | None:
        return self.queue.take(timeout)

    def process(self, work: Work, want: Outputs = Outputs()) -> FrameResult | None:
        """Segment one hand-over. None when it is out of order, unwanted or failed (each counted)."""
        if not self.admit(work, want):
            return None
        rgb = work.rgb.image if work.rgb is not None else None
        thermal = work.thermal.image if work.thermal is not None else None
        try:
            out = self._segment(rgb, thermal, want)
        except Exception as exc:  # a frame must never take the worker down
            self.failed_segmenting(exc)
            return None
        return self.segmented(work, out)

    def admit(self, work: Work, want: Outputs) -> bool:
        """Whether ``work`` is to be segmented now: not when it is out of order or nobody wants an output (each
        counted). When it is, the runtime counts as busy until :meth:`segmented` or :meth:`failed_segmenting`."""
        lead = work.lead
        with self._lock:
            if not self.order.accepts(lead.stamp_ns):
                self.counts["out_of_order"] += 1
                self._log(logging.WARNING, "order", "dropping a frame older than the last one segmented")
                self._debug("order_detail", "pair at %.3f s dropped: out of order, older than the last output "
                            "(%.3f s) by less than jump_threshold=%g s (not a new time base)", lead.stamp_ns * 1e-9,
                            (self.order.last_ns or 0) * 1e-9, self.config.jump_threshold)
                return False
            if not want.any():
                self._debug("no_subscribers", "pair at %.3f s not segmented: no output has a subscriber",
                            lead.stamp_ns * 1e-9)
                self.counts["skipped_no_subscribers"] += 1
                self.window["skipped"].add()
                self.order.commit(lead.stamp_ns)
                return False
            self._busy = True
            return True

    def failed_segmenting(self, exc: Exception) -> None:
        """An admitted hand-over whose inference raised: counted and logged, never raised further."""
        with self._lock:
            self._busy = False
            self.counts["inference_errors"] += 1
            self.window["errors"].add()
            self.last_error = f"inference failed: {exc}"
        self._log(logging.ERROR, "inference", f"inference failed: {exc}")

    def batch_frame(self, work: Work, want: Outputs) -> BatchFrame:
        """An admitted hand-over as a frame of a batch, with this pair's preprocessing and wanted outputs."""
        return BatchFrame(work.rgb.image if work.rgb is not None else None,
                          work.thermal.image if work.thermal is not None else None, self.preprocessing,
                          want_gates=want.gated,
                          render=self._renders(want), thermal_checked=True)

    def _renders(self, want: Outputs) -> Renders:
        """What the engine makes beside the labels, where the labels are: the pictures and the labels' confidence."""
        render = want.renders(self.config.overlay_alpha)
        return render._replace(confidence=self.config.confidence_encoding) if want.label_confidence else render

    def result(self, work: Work, want: Outputs, pred: Any) -> FrameResult:
        """The engine's prediction for an admitted hand-over, as this runtime's output (only what is wanted)."""
        rgb = work.rgb.image if work.rgb is not None else None
        return self.segmented(work, _frame_result(pred, rgb, want, self.config.jpeg_quality))

    def segmented(self, work: Work, out: FrameResult) -> FrameResult:
        """Finish an admitted hand-over: its header, stamp and arrival on ``out``; counted, timed."""
        lead = work.lead
        out.header, out.stamp_ns, out.arrival = lead.header, lead.stamp_ns, work.arrival
        done = self.clock()
        with self._lock:
            self._busy = False
            self.order.commit(lead.stamp_ns)
            self.counts["processed"] += 1
            self.window["segmented"].add()
            self._latency.append(done - work.arrival)
            self._model_latency.append(out.model_seconds)
        return out

    def _segment(self, rgb: np.ndarray | None, thermal: np.ndarray | None, want: Outputs) -> FrameResult:
        # decode_frame applied the NaN rule on arrival; the engine need not scan the frame again
        # the pictures are made by the engine where the labels are (on the GPU when inference runs there)
        render = self._renders(want)
        if self.engine is None:  # a bag replay that only pairs frames (bag-extract) has no engine
            raise RuntimeError("SegmentationRuntime: asked to segment, but it was made without an engine")
        own = {} if self.preprocessing is None else {"preprocessing": self.preprocessing}
        pred = self.engine.predict(rgb, thermal, want_gates=want.gated, thermal_checked=True,
                                   render=render, **own)
        return _frame_result(pred, rgb, want, self.config.jpeg_quality)

    def close(self) -> None:
        self.queue.close()

    # ------------------------------------------------------------------ health
    def input_statuses(self, views: Sequence[TopicView | None] = (None, None)) -> list[InputStatus]:
        """Per camera, why its frames do (not) arrive: the recent frames first, then the graph ``views`` (one per
        camera, from the node; None offline). A status that changes to a problem is logged once, with its fix."""
        with self._lock:
            w = self.window
            out = []
            for m, name in enumerate(MODALITY_NAMES):
                status = input_status(views[m], w[f"good_{name}"].count(), w[f"bad_{name}"].count(),
                                      self.last_refusal[m])
                if status.text != self._input_logged[m]:
                    self._input_logged[m] = status.text
                    if status.level > OK:
                        self._logger(logging.ERROR if status.level == ERROR else logging.WARNING,
                                     f"{name} camera input: {status.text}")
                out.append(status)
            return out

    # long: one health verdict from every cause, judged together under one lock
    def diagnostics(self, views: Sequence[TopicView | None] = (None, None)) -> Health:
        """The current level, a one-line reason and every counter. Each WARN cause is judged over the last
        ``stats_window`` seconds, so the status returns to OK once the cause stops. ``views``: see
        :meth:`input_statuses`."""
        inputs = self.input_statuses(views)
        with self._lock:
            cfg, w = self.config, self.window
            modal = self.monitor.status()
            problems: list[tuple[int, str]] = [(s.level, f"{MODALITY_NAMES[m]} input: {s.text}")
                                               for m, s in enumerate(inputs) if s.level > OK]
            for m, name in enumerate(MODALITY_NAMES):
                if self.frozen.frozen(m):
                    modal[name] = f"frozen for {self.frozen.frozen_for(m):.1f} s"
            failed = [MODALITY_NAMES[m] for m in (RGB, THERMAL) if self.failed(m)]
            if self.monitor.no_input():
                problems.append((ERROR, "no camera input"))
            elif len(failed) == 2:  # silent or frozen, both: nothing is segmented
                problems.append((ERROR, "no usable camera input: " + ", ".join(
                    f"{name} {modal[name]}" for name in MODALITY_NAMES)))
            elif failed:
                how = ("frozen (identical frames for "
                       f"{self.frozen.frozen_for(MODALITY_NAMES.index(failed[0])):.1f} s)"
                       if self.frozen.frozen(MODALITY_NAMES.index(failed[0])) else "failed")
                problems.append((WARN, f"{failed[0]} camera {how}: " + (
                    "segmenting from the other with it blanked" if cfg.blank_missing_modality else "waiting")))
            window = f"in the last {cfg.stats_window:g} s"
            if w["bad"].count():
                problems.append((WARN, f"{w['bad'].count()} bad frame(s) {window}"))
            if w["jumps"].count() and self.last_jump is not None:
                problems.append((WARN, self.last_jump.describe(MODALITY_NAMES)))
            if w["errors"].count():
                problems.append((WARN, f"{w['errors'].count()} inference error(s) {window}"))
            good = (w["good_rgb"].count(), w["good_thermal"].count())
            if not failed and all(good) and not w["pairs"].count():
                problems.append((WARN, f"{sum(good)} good frame(s) {window} but none paired: do the stamps differ "
                                       f"by more than slop={cfg.slop:g} s?"))
            elif (w["pairs"].count() and not w["segmented"].count() and not w["skipped"].count()
                  and not len(self.queue) and not self._busy):
                problems.append((WARN, f"{w['pairs'].count()} pair(s) {window} but none segmented"))
            if not problems:
                waiting = [n for n in MODALITY_NAMES if modal[n] == "waiting"]
                if self.monitor.first_any is None:
                    problems.append((OK, "waiting for camera input"))
                elif waiting:
                    problems.append((OK, f"waiting for the {waiting[0]} camera"))
            level = max((p[0] for p in problems), default=OK)
            message = "; ".join(p[1] for p in problems) or "running"
            lat = np.array(self._latency) if self._latency else None
            mlat = np.array(self._model_latency) if self._model_latency else None
            stats = self.pairer.stats
            values = {
                # each rate counts one kind of event (see _make_windows); docs/ros.md says what each one is
                "rate_hz": f"{w['segmented'].rate():.2f}",
                "skipped_rate_hz": f"{w['skipped'].rate():.2f}",
                "input_rate_hz": f"{w['handed'].rate():.2f}",
                "rgb_input_rate_hz": f"{w['received_rgb'].rate():.2f}",
                "thermal_input_rate_hz": f"{w['received_thermal'].rate():.2f}",
                "latency_p50_ms": f"{1e3 * np.percentile(lat, 50):.1f}" if lat is not None else "n/a",
                "latency_p95_ms": f"{1e3 * np.percentile(lat, 95):.1f}" if lat is not None else "n/a",
                "model_latency_p50_ms": f"{1e3 * np.percentile(mlat, 50):.1f}" if mlat is not None else "n/a",
                "modality_rgb": modal["rgb"],
                "modality_thermal": modal["thermal"],
                "input_rgb": inputs[RGB].text,
                "input_thermal": inputs[THERMAL].text,
                **{k: str(v) for k, v in self.counts.items()},
                "unpaired": str(stats.unpaired),
                "stepped_back": str(sum(stats.stepped_back)),
                "last_error": self.last_error or "",
                "last_clock_jump": (f"{MODALITY_NAMES[self.last_jump.stream]}: {self.last_jump.seconds:+.3f} s"
                                    if self.last_jump else ""),
            }
            return Health(level, message, values)


def process_batch(engine: BatchPredictor,
                  jobs: Sequence[tuple[SegmentationRuntime, Work, Outputs]]) -> list[FrameResult | None]:
    """Segment one batch of hand-overs from several camera pairs, each job's runtime its pair's (issue 26): each
    runtime admits its own (out of order, unwanted: counted there), the admitted frames go through the model in
    one call, and each runtime finishes its own output. One result per job, None where a runtime did not admit it
    or its inference failed (counted by that runtime). A batch of one goes through its runtime's own ``process``,
    the path of a node serving one pair."""
    if len(jobs) == 1:
        runtime, work, want = jobs[0]
        return [runtime.process(work, want)]
    results: list[FrameResult | None] = [None] * len(jobs)
    admitted = [i for i, (runtime, work, want) in enumerate(jobs) if runtime.admit(work, want)]
    if not admitted:
        return results
    frames = [jobs[i][0].batch_frame(jobs[i][1], jobs[i][2]) for i in admitted]
    for i, pred in zip(admitted, _predict_frames(engine, frames)):
        runtime, work, want = jobs[i]
        if isinstance(pred, Exception):
            runtime.failed_segmenting(pred)
        else:
            results[i] = runtime.result(work, want, pred)
    return results


def _predict_frames(engine: BatchPredictor, frames: list[BatchFrame]) -> list[Any]:
    """The one model call of a batch, each frame's prediction or the exception that stopped it. Where the batch
    raises, its frames run again one at a time, so that one pair's unusable frame costs that pair alone its output
    and never the other pairs theirs. A frame alone goes through ``predict``, the batch of one, whose errors are
    worded as a single-pair node's always were."""
    if len(frames) > 1:
        try:
            return list(engine.predict_frames(frames))
        except Exception:  # noqa: BLE001  (each frame again, alone: the failing one is named by its own error)
            pass
    out: list[Any] = []
    for f in frames:
        try:
            out.append(engine.predict(f.rgb, f.thermal, want_gates=f.want_gates, thermal_checked=f.thermal_checked,
                                      render=f.render, preprocessing=f.preprocessing))
        except Exception as exc:
            out.append(exc)
    return out


def _frame_result(pred: Any, rgb: np.ndarray | None, want: Outputs, jpeg_quality: int) -> FrameResult:
    """A prediction as a runtime's output, before its header: only what was asked for (a picture rendered for its
    compressed form alone is not handed on raw), and the compressed forms wanted, encoded here on the worker."""
    out = FrameResult(header=None, stamp_ns=0, labels=pred.labels, rgb=rgb, model_seconds=pred.seconds,
                      color=pred.color if want.color else None, overlay=pred.overlay if want.overlay else None)
    if want.compressed:
        out.compressed = encode_outputs(want.compressed, jpeg_quality, labels=pred.labels, color=pred.color,
                                        overlay=pred.overlay, gates=pred.gates)
    if want.gates:
        out.gates = pred.gates
    if want.confidence:
        out.confidence = pred.confidence
    if want.label_confidence:
        out.label_confidence = pred.label_confidence
    return out
