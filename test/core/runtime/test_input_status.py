"""Why a camera's frames do not arrive: each cause gives its own sentence and names the parameter to set."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.runtime import (
    ERROR,
    OK,
    RGB,
    THERMAL,
    WARN,
    Endpoint,
    FakeClock,
    RuntimeConfig,
    SegmentationRuntime,
    TopicView,
    input_status,
    transport_topic,
)

from .test_runtime import FakeEngine, rgb_msg, thermal_msg

IMAGE, COMPRESSED = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
BASE = "/cam/color/image_raw"


def view(transport: str = "raw", reliable: bool = False, *pubs: Endpoint, qos_event: str | None = None,
         camera: str = "rgb") -> TopicView:
    return TopicView(camera, BASE, transport, reliable, tuple(pubs), qos_event)


@pytest.mark.parametrize("v, level, text", [
    (view("raw"), WARN, f"no publisher on {BASE}"),
    (view("compressed"), WARN, f"no publisher on {BASE}/compressed"),
    (view("raw", False, Endpoint(BASE, IMAGE, True)), OK, f"waiting for frames from 1 publisher(s) on {BASE}"),
    (view("raw", False, Endpoint(f"{BASE}/compressed", COMPRESSED, True)), ERROR,
     f"published as {COMPRESSED} on {BASE}/compressed: set rgb_transport:=compressed"),
    (view("compressed", False, Endpoint(BASE, IMAGE, False), camera="thermal"), ERROR,
     f"published as {IMAGE} on {BASE}: set thermal_transport:=raw"),
    (view("raw", False, Endpoint(f"{BASE}/compressedDepth", COMPRESSED, True), camera="thermal"), ERROR,
     f"published as {COMPRESSED} on {BASE}/compressedDepth: set thermal_transport:=compressedDepth"),
    (view("raw", True, Endpoint(BASE, IMAGE, False)), ERROR,
     f"QoS incompatible (RELIABILITY) with the publisher(s) on {BASE}: set qos_reliability:=best_effort"),
    (view("raw", True, Endpoint(BASE, IMAGE, False), Endpoint(BASE, IMAGE, True)), OK,
     f"waiting for frames from 2 publisher(s) on {BASE}"),  # one of them can serve a reliable subscription
    (view("raw", False, Endpoint(BASE, IMAGE, True), qos_event="DURABILITY"), ERROR,
     f"QoS incompatible (DURABILITY) with the publisher(s) on {BASE}"),
    (view("raw", False, Endpoint(BASE, COMPRESSED, True)), ERROR,
     f"published as {COMPRESSED} on {BASE}, but rgb_transport:=raw expects {IMAGE}"),
])
def test_each_cause_has_its_sentence(v: TopicView, level: int, text: str) -> None:
    s = input_status(v, good=0, refused=0, last_refusal=None)
    assert (s.level, s.text) == (level, text)
    assert s.fix == (":=" in text)


def test_frames_decide_before_the_graph() -> None:
    broken = view("raw", True)  # no publisher at all in the graph (it may lag behind the first frames)
    assert input_status(broken, good=3, refused=5, last_refusal="x").text == "receiving"
    s = input_status(broken, good=0, refused=2, last_refusal="RGB: encoding 'foo' not supported")
    assert (s.level, s.text) == (WARN, "frames refused (RGB: encoding 'foo' not supported)")
    assert input_status(None, 0, 0, None) == input_status(None, 0, 0, "ignored")  # offline: no graph


def test_transport_topics_follow_image_transport() -> None:
    assert transport_topic("/a/image", "raw") == "/a/image"
    assert transport_topic("/a/image", "compressed") == "/a/image/compressed"
    assert transport_topic("/a/image/", "compressedDepth") == "/a/image/compressedDepth"
    with pytest.raises(ValueError, match="theora"):
        transport_topic("/a", "theora")


topics = st.sampled_from([BASE, f"{BASE}/compressed", f"{BASE}/compressedDepth", "/other"])
endpoints = st.builds(Endpoint, topics, st.sampled_from([IMAGE, COMPRESSED, "std_msgs/msg/String"]), st.booleans())


@settings(max_examples=400, deadline=None)
@given(transport=st.sampled_from(["raw", "compressed", "compressedDepth"]), reliable=st.booleans(),
       pubs=st.lists(endpoints, max_size=5), event=st.sampled_from([None, "RELIABILITY", "DEADLINE"]),
       camera=st.sampled_from(["rgb", "thermal"]))
def test_any_graph_gives_one_status_whose_fix_would_work(transport, reliable, pubs, event, camera) -> None:
    v = TopicView(camera, BASE, transport, reliable, tuple(pubs), event)
    s = input_status(v, 0, 0, None)
    assert s.level in (OK, WARN, ERROR) and s.text
    usable = [p for p in pubs if p.topic == v.topic and p.type == (IMAGE if transport == "raw" else COMPRESSED)]
    if s.level == OK:
        assert usable and event is None and (not reliable or any(p.reliable for p in usable))
    if f"set {camera}_transport:=" in s.text:  # following the fix finds the publisher
        fixed = input_status(TopicView(camera, BASE, s.text.split(":=")[1], reliable, tuple(pubs), None), 0, 0, None)
        assert fixed.text.startswith(("waiting for frames", "QoS incompatible")), (s.text, fixed.text)
    if "qos_reliability:=best_effort" in s.text:
        assert reliable and usable


def test_runtime_reports_inputs_in_diagnostics_and_logs_each_change_once() -> None:
    clock = FakeClock(0.0)
    lines: list[tuple[int, str]] = []
    rt = SegmentationRuntime(FakeEngine(), RuntimeConfig(stats_window=1.0, realtime=False), clock=clock,
                             logger=lambda level, text: lines.append((level, text)))
    views = (view("raw", False, Endpoint(f"{BASE}/compressed", COMPRESSED, True)),
             TopicView("thermal", "/thermal/image", "raw", False, (Endpoint("/thermal/image", IMAGE, False),)))
    for _ in range(3):
        h = rt.diagnostics(views)
    assert h.level == ERROR and h.message.startswith(f"rgb input: published as {COMPRESSED}"), h.message
    assert h.values["input_rgb"].endswith("set rgb_transport:=compressed")
    assert h.values["input_thermal"] == "waiting for frames from 1 publisher(s) on /thermal/image"
    assert lines == [(logging.ERROR, f"rgb camera input: {h.values['input_rgb']}")]  # once, not per call
    lines.clear()
    rt.add(RGB, rgb_msg(10**9))
    rt.add(THERMAL, thermal_msg(10**9))
    h = rt.diagnostics(views)
    assert h.values["input_rgb"] == h.values["input_thermal"] == "receiving" and h.level == OK, h.message
    clock.advance(5.0)  # the window forgets the frames; the graph still says why nothing comes
    bad = rgb_msg(6 * 10**9)
    bad.encoding = "bogus"
    rt.add(RGB, bad)
    h = rt.diagnostics(views)
    assert h.values["input_rgb"].startswith("frames refused (RGB: encoding 'bogus'") and h.level >= WARN
    said = [text for _, text in lines if text.startswith("rgb camera input:")]
    assert len(said) == 1 and "frames refused" in said[0]
