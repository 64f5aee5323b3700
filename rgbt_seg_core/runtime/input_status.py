"""Why a camera's frames do not arrive, in one line that names the parameter to change.

A node that gets nothing from a camera usually cannot tell why: the driver is not running, it publishes
another message type (image_transport's ``<topic>/compressed`` instead of the raw topic), its QoS cannot match
ours (a best-effort driver and a reliable subscription never connect), or its frames arrive and are refused.
The ROS graph knows the first three. The node collects what the graph says about a camera's topics into a
:class:`TopicView`, the runtime adds what it saw of the frames, and :func:`input_status` turns both into a
level and a sentence. No ROS here: the node fills the view from rclpy, and tests fill it by hand.

Topic names and transports follow image_transport: the ``raw`` transport is the base topic itself, ``compressed``
and ``compressedDepth`` are ``<base>/compressed`` and ``<base>/compressedDepth``, carrying
``sensor_msgs/msg/CompressedImage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rgbt_seg_core.runtime.levels import ERROR, OK, WARN
from rgbt_seg_core.settings.vocab import TRANSPORTS, transport_topic

__all__ = ["TRANSPORTS", "IMAGE_TYPE", "COMPRESSED_TYPE", "Endpoint", "TopicView", "InputStatus", "input_status",
           "transport_topic", "message_type"]

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"


def message_type(transport: str) -> str:
    return IMAGE_TYPE if transport == "raw" else COMPRESSED_TYPE


@dataclass(frozen=True)
class Endpoint:
    """One publisher as the graph reports it."""

    topic: str
    type: str
    reliable: bool  # its reliability policy is RELIABLE (a best-effort one cannot serve a reliable subscription)


@dataclass(frozen=True)
class TopicView:
    """What the graph says about one camera: the base topic, our transport, and every publisher on the base topic
    or one of its transport topics. ``qos_event`` is the policy named by the last incompatible-QoS event the
    middleware reported for our subscription (None if none since the last good frame)."""

    camera: str  # "rgb" or "thermal": names the parameter in the fix
    base_topic: str
    transport: str
    reliable: bool  # our subscription asks for RELIABLE
    publishers: tuple[Endpoint, ...] = ()
    qos_event: str | None = None

    @property
    def topic(self) -> str:
        return transport_topic(self.base_topic, self.transport)


@dataclass(frozen=True)
class InputStatus:
    level: int
    text: str

    @property
    def fix(self) -> bool:
        """The text names a parameter to set."""
        return ":=" in self.text


def _transport_of(view: TopicView, endpoint: Endpoint) -> str | None:
    for t in TRANSPORTS:
        if endpoint.topic == transport_topic(view.base_topic, t) and endpoint.type == message_type(t):
            return t
    return None


def _graph_status(view: TopicView) -> InputStatus:
    ours = [p for p in view.publishers if p.topic == view.topic]
    matching = [p for p in ours if p.type == message_type(view.transport)]
    if matching:
        if view.qos_event is not None or (view.reliable and not any(p.reliable for p in matching)):
            policy = view.qos_event or "RELIABILITY"
            fix = ": set qos_reliability:=best_effort" if policy == "RELIABILITY" and view.reliable else ""
            return InputStatus(ERROR, f"QoS incompatible ({policy}) with the publisher(s) on {view.topic}{fix}")
        return InputStatus(OK, f"waiting for frames from {len(matching)} publisher(s) on {view.topic}")
    for p in view.publishers:  # a transport we could use instead
        t = _transport_of(view, p)
        if t is not None and t != view.transport:
            return InputStatus(ERROR, f"published as {p.type} on {p.topic}: set {view.camera}_transport:={t}")
    if ours:
        return InputStatus(ERROR, f"published as {ours[0].type} on {view.topic}, but {view.camera}_transport:="
                                  f"{view.transport} expects {message_type(view.transport)}")
    return InputStatus(WARN, f"no publisher on {view.topic}")


def input_status(view: TopicView | None, good: int, refused: int, last_refusal: str | None) -> InputStatus:
    """One camera's input, from its recent good and refused frames and, when there is one, its graph view.

    Frames decide first: good ones mean the input works, whatever the graph says; refused ones name the reason
    (WARN, as a silent camera is: the node goes on with the other camera). Only when no frame came does the graph
    say why; a publisher that can never reach us (another type or transport, incompatible QoS) is an ERROR, as
    nothing will flow until a parameter changes."""
    if good:
        return InputStatus(OK, "receiving")
    if refused:
        return InputStatus(WARN, f"frames refused ({last_refusal or 'no reason recorded'})")
    if view is None:
        return InputStatus(OK, "no frames")
    return _graph_status(view)
