"""The segmentation node's runtime without ROS: frame checks, pairing, camera health, clock jumps, hand-over
to inference and diagnostics, each taking an injected clock (see :mod:`.runtime`)."""

from .camera_monitor import CameraMonitor
from .clock import Clock, FakeClock, monotonic
from .frames import RGB, THERMAL, THERMAL_ABS_LIMIT, Frame, FrameError, decode_frame, stamp_ns_of
from .frozen import FrozenDetector, frame_digest
from .input_status import Endpoint, InputStatus, TopicView, input_status, transport_topic
from .levels import ERROR, OK, WARN
from .queues import FifoQueue, NewestSlot
from .runtime import Health, Outputs, RuntimeConfig, SegmentationOutput, SegmentationRuntime, Work
from .stamps import OrderGuard, StampJump, StampJumpDetector
from .window import EventWindow

__all__ = ["CameraMonitor", "Clock", "FakeClock", "monotonic", "RGB", "THERMAL", "THERMAL_ABS_LIMIT", "Frame",
           "FrameError", "decode_frame", "stamp_ns_of", "FifoQueue", "NewestSlot", "ERROR", "OK", "WARN", "Health",
           "Outputs", "RuntimeConfig", "SegmentationOutput", "SegmentationRuntime", "Work", "OrderGuard",
           "StampJump", "StampJumpDetector", "EventWindow", "FrozenDetector", "frame_digest", "Endpoint",
           "InputStatus", "TopicView", "input_status", "transport_topic"]
