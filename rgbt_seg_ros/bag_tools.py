"""Playing bags through rclpy, and scoring a running node live (``rgbt-seg bag-play``, ``bag-eval --live``).

A stand-in for ``ros2 bag play`` where rosbag2 is not installed: image topics are read with rosbags and
published with their recorded inter-arrival timing (scaled by ``rate``). Live evaluation plays the RGB and thermal
topics to a running segmentation_node, keeps the bag's ground-truth labels to itself, collects the node's
``~/labels`` and matches them by stamp: metrics, dropped frames (a ground-truth frame the node never labelled)
and end-to-end latency (RGB frame published -> its labels received). A node serving several camera pairs is
played every pair's cameras at once and scored pair by pair on its ``~/<pair>/labels`` (:func:`run_live_pairs`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

SETTLE_SECONDS = 0.5


def _to_ros(item: Any) -> Any:
    """A rosbags Image/CompressedImage -> the rclpy message of the same type."""
    from sensor_msgs.msg import CompressedImage, Image

    m = item.msg
    if hasattr(m, "encoding"):
        out = Image(height=int(m.height), width=int(m.width), encoding=str(m.encoding),
                    is_bigendian=int(m.is_bigendian), step=int(m.step), data=np.asarray(m.data).tobytes())
    else:
        out = CompressedImage(format=str(m.format), data=np.asarray(m.data).tobytes())
    out.header.stamp.sec = int(m.header.stamp.sec)
    out.header.stamp.nanosec = int(m.header.stamp.nanosec)
    out.header.frame_id = str(m.header.frame_id)
    return out


@dataclass
class PlayStats:
    published: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def play(node: Any, bag: str | Path, topics: list[str], *, rate: float = 1.0, loop: bool = False,
         on_publish: Callable[[Any, float], None] | None = None, stop: threading.Event | None = None,
         progress: Callable[[int], None] | None = None, wait_for_subscribers: float = 0.0,
         before_publish: Callable[[Any], None] | None = None, clock: bool = False) -> PlayStats:
    """Publish ``topics`` of ``bag`` from ``node`` with the recorded timing. Returns when done (or on ``stop``).

    ``clock``: also publish each message's receive time on ``/clock`` just before it (``ros2 bag play --clock``): a
    node with ``use_sim_time`` then times silence, frozen frames and stamp jumps in bag time, as the offline replay.

    ``wait_for_subscribers`` > 0: first wait up to that many seconds until every publisher has matched a
    subscription, so no frame is lost to discovery (live evaluation needs every frame to reach the node).
    ``before_publish(item)`` may block (lockstep); the recorded timing then resumes from where it is.
    """
    from rosgraph_msgs.msg import Clock

    from rgbt_seg_core.bags.io import BagError, read_images

    if rate <= 0:
        raise ValueError(f"--rate must be positive, got {rate}")
    pubs, clock_pub = _publishers(node, bag, topics, clock)
    _wait_for_subscribers(list(pubs.values()) + ([clock_pub] if clock_pub is not None else []), wait_for_subscribers)
    stats = PlayStats(published={t: 0 for t in topics})
    t_start = time.monotonic()
    count = 0
    while True:
        first_bag_time = None
        wall0 = time.monotonic()
        try:
            for item in read_images(bag, topics):
                if stop is not None and stop.is_set():
                    break
                if before_publish is not None:
                    waited = time.monotonic()
                    before_publish(item)
                    wall0 += time.monotonic() - waited
                msg = _to_ros(item)  # converted before its due time, so the publish itself is on time
                if first_bag_time is None:  # the schedule starts at the first publish, not before the bag opened
                    first_bag_time, wall0 = item.bag_time_ns, time.monotonic()
                due = wall0 + (item.bag_time_ns - first_bag_time) * 1e-9 / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if clock_pub is not None:  # first: the node's clock reads this message's time when it arrives
                    clock_pub.publish(Clock(clock=_time_msg(item.bag_time_ns)))
                sent = time.monotonic()
                pubs[item.topic].publish(msg)
                stats.published[item.topic] += 1
                count += 1
                if on_publish is not None:
                    on_publish(item, sent)
                if progress:
                    progress(count)
        except BagError as exc:
            stats.error = str(exc)
            break
        if not loop or (stop is not None and stop.is_set()):
            break
    stats.seconds = time.monotonic() - t_start
    return stats


def _publishers(node: Any, bag: str | Path, topics: list[str], clock: bool) -> tuple[dict[str, Any], Any]:
    """One publisher per topic, of the topic's type in the bag (an error naming what the bag lacks), and the
    ``/clock`` publisher when asked for."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CompressedImage, Image

    from rgbt_seg_core.bags.io import COMPRESSED, list_topics, require_topics

    found = list_topics(bag)
    require_topics(bag, topics, {t: m for t, (m, _) in found.items()})
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {t: node.create_publisher(CompressedImage if found[t][0] == COMPRESSED else Image, t, qos) for t in topics}
    return pubs, node.create_publisher(Clock, "/clock", qos) if clock else None


def _time_msg(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _wait_for_subscribers(publishers: list[Any], seconds: float) -> None:
    end_wait = time.monotonic() + seconds
    while seconds > 0 and time.monotonic() < end_wait:
        if all(p.get_subscription_count() > 0 for p in publishers):
            # DDS matches each side on its own: our publisher seeing the node's subscription does not mean the
            # node's reader (or our labels reader) has matched yet; a first frame sent now could be lost
            time.sleep(SETTLE_SECONDS)
            return
        time.sleep(0.05)


def run_bag_play(bag: str, topics: list[str] | None, rate: float, loop: bool, clock: bool = False) -> PlayStats:
    use_local_ros_env()
    import rclpy

    from rgbt_seg_core.bags.io import COMPRESSED, IMAGE, list_topics

    if topics is None:
        topics = [t for t, (m, _) in list_topics(bag).items() if m in (IMAGE, COMPRESSED)]
        if not topics:
            raise ValueError(f"{bag}: no Image or CompressedImage topics to play")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("rgbt_seg_bag_play", context=ctx)
    stop = threading.Event()
    try:
        return play(node, bag, topics, rate=rate, loop=loop, stop=stop, clock=clock)
    except KeyboardInterrupt:
        stop.set()
        return PlayStats(error="interrupted")
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


@dataclass
class LiveResult:
    frames: int = 0  # ground-truth frames played
    labelled: int = 0  # of those, labelled by the node
    latencies: list[float] = field(default_factory=list)
    confusion: Any = None
    play: PlayStats | None = None
    labels: dict[int, np.ndarray] = field(default_factory=dict)  # the node's labels by RGB stamp (ns)
    # every ~/labels message the node sent, by stamp (ns): its header's frame_id (the RGB camera's, or the thermal
    # camera's for a thermal-only output) and the labels
    outputs: dict[int, tuple[str, np.ndarray]] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.frames - self.labelled


def node_labels_topic(labels_topic: str, pair: str) -> str:
    """The node's labels topic for ``pair``, from a single-pair node's (``/segmentation_node/labels`` ->
    ``/segmentation_node/front/labels``): the node's namespace and name, then the pair's output name
    (:func:`~rgbt_seg_core.settings.pairs.pair_topics`)."""
    from rgbt_seg_core.settings.pairs import SINGLE, pair_topics

    if pair == SINGLE:
        return labels_topic
    base, sep, _ = labels_topic.rpartition("/")
    if not sep:
        raise ValueError(f"--node-labels-topic {labels_topic!r}: expected the node's labels, /<node>/labels")
    return f"{base}/{pair_topics(pair).outputs['labels'].removeprefix('~/')}"


def run_live(bag: str, *, rgb_topic: str, thermal_topic: str, label_topic: str, node_labels_topic: str,
             num_classes: int, rate: float = 1.0, discovery_timeout: float = 15.0, tail_seconds: float = 3.0,
             progress: Callable[[int], None] | None = None, lockstep: bool = False,
             lockstep_timeout: float = 10.0, clock: bool = False) -> LiveResult:
    """Play the bag to a running node and score what it publishes (see module docstring).

    ``lockstep``: an RGB frame is published only once the node has labelled every RGB frame sent before it (or
    ``lockstep_timeout`` seconds passed). The node then never has two pairs waiting, so nothing is dropped for
    lack of speed on a slow or busy machine, while its pairing and inference are exercised as in real time.
    ``clock``: publish the bag's time on ``/clock`` (see :func:`play`); with a node run with ``use_sim_time``, its
    timeouts then count bag time, so its decisions are the offline replay's however long lockstep waits.
    """
    pair = LivePair(rgb_topic, thermal_topic, label_topic, node_labels_topic)
    return run_live_pairs(bag, {"": pair}, num_classes=num_classes, rate=rate, discovery_timeout=discovery_timeout,
                          tail_seconds=tail_seconds, progress=progress, lockstep=lockstep,
                          lockstep_timeout=lockstep_timeout, clock=clock)[""]


@dataclass(frozen=True)
class LivePair:
    """One camera pair of a live replay: its cameras and ground truth in the bag, and the node's labels of it."""

    rgb: str
    thermal: str
    labels: str
    node_labels: str


def run_live_pairs(bag: str, pairs: Mapping[str, LivePair], *, num_classes: int, rate: float = 1.0,
                   discovery_timeout: float = 15.0, tail_seconds: float = 3.0,
                   progress: Callable[[int], None] | None = None, lockstep: bool = False,
                   lockstep_timeout: float = 10.0, clock: bool = False) -> dict[str, LiveResult]:
    """:func:`run_live` for a node serving several camera pairs: every pair's cameras played in one pass, in bag
    order, each pair's labels topic collected and scored on its own (by pair). ``lockstep`` holds each pair's next
    RGB frame until that pair's previous ones are labelled; the pairs do not wait for each other."""
    use_local_ros_env()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    gt = {p: _ground_truth(bag, [t.rgb, t.thermal, t.labels], t.labels) for p, t in pairs.items()}
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("rgbt_seg_bag_eval", context=ctx)
    labels = {p: _NodeLabels(t.rgb, lockstep_timeout) for p, t in pairs.items()}
    by_rgb = {t.rgb: labels[p] for p, t in pairs.items()}
    for p, t in pairs.items():
        node.create_subscription(Image, t.node_labels, labels[p].on_labels,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def on_publish(item: Any, sent: float) -> None:
        if item.topic in by_rgb:
            by_rgb[item.topic].on_publish(item, sent)

    def before_publish(item: Any) -> None:
        if item.topic in by_rgb:
            by_rgb[item.topic].wait_for_previous(item)

    try:
        for t in pairs.values():
            _wait_for_node(node, t.rgb, t.thermal, t.node_labels, discovery_timeout)
        stats = play(node, bag, [c for t in pairs.values() for c in (t.rgb, t.thermal)], rate=rate,
                     on_publish=on_publish, progress=progress, wait_for_subscribers=discovery_timeout,
                     before_publish=before_publish if lockstep else None, clock=clock)
        for waiting in labels.values():
            waiting.wait_for_all(lockstep_timeout if lockstep else tail_seconds)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    return {p: _score(gt[p], labels[p], num_classes, stats) for p in pairs}


def _ground_truth(bag: str, topics: list[str], label_topic: str) -> dict[int, np.ndarray]:
    """The bag's ground-truth labels by stamp (ns), read before playing so the node never sees them."""
    from rgbt_seg_core.bags.io import list_topics, read_images, require_topics
    from rgbt_seg_core.runtime.imageconv import decode_image

    found = list_topics(bag)
    require_topics(bag, topics, {t: m for t, (m, _) in found.items()})
    return {item.stamp_ns: decode_image(item.msg)[0] for item in read_images(bag, [label_topic])}


class _NodeLabels:
    """The RGB frames sent (stamp -> publish time) and the node's labels received (stamp -> labels, time)."""

    def __init__(self, rgb_topic: str, lockstep_timeout: float) -> None:
        self.rgb_topic, self.lockstep_timeout = rgb_topic, lockstep_timeout
        self.sent: dict[int, float] = {}
        self.received: dict[int, tuple[np.ndarray, float]] = {}
        self.frame_ids: dict[int, str] = {}
        self.latest = -1  # the newest output's stamp: the node publishes in stamp order, so it is past older frames
        self.lock = threading.Condition()

    def on_labels(self, msg: Any) -> None:
        from rgbt_seg_core.runtime.imageconv import image_to_array, stamp_ns

        ns = stamp_ns(msg)
        arr = image_to_array(msg)
        with self.lock:
            self.received[ns] = (arr, time.monotonic())
            self.frame_ids[ns] = str(msg.header.frame_id)
            self.latest = max(self.latest, ns)
            self.lock.notify_all()

    def on_publish(self, item: Any, t: float) -> None:
        if item.topic == self.rgb_topic:
            with self.lock:
                self.sent[item.stamp_ns] = t

    def wait_for_previous(self, item: Any) -> None:
        if item.topic == self.rgb_topic:
            self.wait_for_all(self.lockstep_timeout)

    def wait_for_all(self, timeout: float) -> None:
        """Until every RGB frame sent so far is labelled or settled (the node published an output of the same or a
        later stamp: it will not label an older one now), or ``timeout`` seconds. A frame the node never labels (no
        thermal partner) so costs one timeout, not one for every frame after it."""
        with self.lock:
            self.lock.wait_for(lambda: all(s in self.received or s <= self.latest for s in self.sent), timeout)


def _wait_for_node(node: Any, rgb_topic: str, thermal_topic: str, node_labels_topic: str, timeout: float) -> None:
    """Until something subscribes to both camera topics and publishes the labels topic; an error after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subs_rgb = node.count_subscribers(rgb_topic)
        subs_thm = node.count_subscribers(thermal_topic)
        pubs_lab = node.count_publishers(node_labels_topic)
        if subs_rgb and subs_thm and pubs_lab:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"no running node found: nothing subscribes to {rgb_topic} and {thermal_topic} and publishes "
        f"{node_labels_topic} (start segmentation_node first; same ROS_DOMAIN_ID?)"
    )


def combined_live(results: list[LiveResult], num_classes: int) -> LiveResult:
    """Several pairs' live results as one: frames, labels and latencies together, the confusion matrices
    summed."""
    from rgbt_seg_core.evaluation.metrics import ConfusionMatrix

    out = LiveResult(confusion=ConfusionMatrix(num_classes), play=results[0].play if results else None)
    for r in results:
        out.frames += r.frames
        out.labelled += r.labelled
        out.latencies += r.latencies
        out.confusion.merge(r.confusion)
    return out


def _score(gt: dict[int, np.ndarray], labels: _NodeLabels, num_classes: int, stats: PlayStats) -> LiveResult:
    """Metrics, drops and latency of the played ground-truth frames."""
    from rgbt_seg_core.evaluation.metrics import ConfusionMatrix

    with labels.lock:
        got = dict(labels.received)
        sent = dict(labels.sent)
        frame_ids = dict(labels.frame_ids)
    result = LiveResult(confusion=ConfusionMatrix(num_classes), play=stats)
    result.labels = {s: arr for s, (arr, _) in got.items() if s in sent}
    result.outputs = {s: (frame_ids[s], arr) for s, (arr, _) in got.items()}
    for stamp, label in gt.items():
        if stamp not in sent:
            continue  # frame not played (bag broke off)
        result.frames += 1
        if stamp in got:
            pred, t_recv = got[stamp]
            if pred.shape == label.shape:
                result.confusion.update(label, pred)
                result.labelled += 1
                result.latencies.append(t_recv - sent[stamp])
    return result
