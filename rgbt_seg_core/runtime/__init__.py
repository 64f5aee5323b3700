"""The segmentation node's runtime without ROS: frame checks, pairing, camera health, clock jumps, hand-over
to inference (one camera pair's slot, or every pair's fair batches through one model: :mod:`.batching`) and
diagnostics, each taking an injected clock (see :mod:`.runtime`)."""

from rgbt_seg_core.runtime.camera_monitor import CameraMonitor
from rgbt_seg_core.runtime.clock import Clock, FakeClock, monotonic
from rgbt_seg_core.runtime.frames import RGB, THERMAL, THERMAL_ABS_LIMIT, Frame, FrameError, decode_frame, stamp_ns_of
from rgbt_seg_core.runtime.frozen import FrozenDetector, frame_digest
from rgbt_seg_core.runtime.input_status import Endpoint, InputStatus, TopicView, input_status, transport_topic
from rgbt_seg_core.runtime.levels import ERROR, OK, WARN
from rgbt_seg_core.runtime.queues import FifoQueue, NewestSlot
from rgbt_seg_core.runtime.runtime import (
    FrameResult,
    HandOver,
    Health,
    Outputs,
    PairSlot,
    RuntimeConfig,
    SegmentationRuntime,
    Work,
    process_batch,
)
from rgbt_seg_core.runtime.stamps import OrderGuard, StampJump, StampJumpDetector
from rgbt_seg_core.runtime.window import EventWindow

__all__ = ["CameraMonitor", "Clock", "FakeClock", "monotonic", "RGB", "THERMAL", "THERMAL_ABS_LIMIT", "Frame",
           "FrameError", "decode_frame", "stamp_ns_of", "FifoQueue", "NewestSlot", "ERROR", "OK", "WARN", "Health",
           "Outputs", "RuntimeConfig", "FrameResult", "SegmentationRuntime", "Work", "HandOver", "PairSlot",
           "process_batch", "OrderGuard",
           "StampJump", "StampJumpDetector", "EventWindow", "FrozenDetector", "frame_digest", "Endpoint",
           "InputStatus", "TopicView", "input_status", "transport_topic"]
