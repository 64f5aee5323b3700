"""The one replay loop of a recorded bag through the node's runtime, shared by ``bag-eval`` and ``bag-extract``.

Messages go in bag order to :class:`~rgbt_seg_core.runtime.SegmentationRuntime`, the object the ROS node wraps,
with the bag's receive time as its clock and every pair kept (offline: a FIFO, no real-time dropping). So frame
checks, pairing, camera-failure fallback and clock-jump handling are exactly the node's. Label images (recorded on
the RGB stamp) are decoded here and handed to the caller, which matches them to its own outputs.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import BagError, BagImage, list_topics, read_images, require_topics
from rgbt_seg_core.inference.engine import Preprocessing
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, RuntimeConfig, SegmentationRuntime, Work
from rgbt_seg_core.runtime.imageconv import ImageFormatError, decode_image
from rgbt_seg_core.runtime.runtime import Predictor

__all__ = ["BagReplay", "bag_has_labels"]

log = logging.getLogger(__name__)


def bag_has_labels(bag: Path, topics: BagTopics, require_labels: bool = False) -> bool:
    """Whether ``bag`` has the label topic, after checking that it has both camera topics (and, with
    ``require_labels``, the label topic): a missing topic is a :class:`~rgbt_seg_core.bags.io.BagError` listing
    what the bag has."""
    found = {t: m for t, (m, _) in list_topics(bag).items()}
    require_topics(bag, [topics.rgb, topics.thermal] + ([topics.labels] if require_labels else []), found)
    return topics.labels in found


class BagReplay:
    """One pass over ``bag``'s camera topics (and its label topic, with ``labels``) through a runtime around
    ``engine`` (None where nothing is segmented); counts what it received and keeps the error a damaged bag broke
    off with (what was read before it stands). ``preprocessing``: the camera pair's own registration and thermal
    normalisation, as the node gives each of its pairs (None: the engine's). ``span``: read only the messages
    whose bag time lies in [start, stop) ns (None: unbounded), for a time shard of a long bag."""

    def __init__(self, bag: Path, topics: BagTopics, labels: bool, engine: Predictor | None,
                 config: RuntimeConfig, preprocessing: Preprocessing | None = None,
                 span: tuple[int | None, int | None] = (None, None)) -> None:
        self.bag, self.topics, self.span = bag, topics, span
        self.want = [topics.rgb, topics.thermal] + ([topics.labels] if labels else [])
        self.received = {t: 0 for t in self.want}
        self.error: str | None = None
        self.clock = FakeClock()
        self.runtime = SegmentationRuntime(engine, replace(config, realtime=False), clock=self.clock,
                                           logger=lambda level, text: log.log(level, text),
                                           preprocessing=preprocessing)

    def run(self, on_work: Callable[[Work, int], None],
            on_label: Callable[[BagImage, np.ndarray | None], None] | None = None,
            on_message: Callable[[], object] | None = None,
            on_item: Callable[[BagImage], object] | None = None) -> None:
        """``on_work(work, bag_time_ns)`` for each hand-over of the runtime; ``on_label(item, label)`` for each
        label message, ``label`` None where it could not be decoded (logged here); ``on_message()`` for every
        message read; ``on_item(item)`` for every message, before the runtime sees it (a time shard notes where
        its own window begins and ends)."""
        try:
            for item in read_images(self.bag, self.want, *self.span):
                if on_item is not None:
                    on_item(item)
                self.received[item.topic] += 1
                if on_message is not None:
                    on_message()
                if len(self.want) > 2 and item.topic == self.topics.labels:
                    if on_label is not None:
                        on_label(item, self._label(item))
                    continue
                self.clock.set(item.bag_time_ns * 1e-9)
                self.runtime.add(RGB if item.topic == self.topics.rgb else THERMAL, item.msg)
                while (work := self.runtime.take(0)) is not None:
                    on_work(work, item.bag_time_ns)
        except BagError as exc:
            self.error = str(exc)

    def _label(self, item: BagImage) -> np.ndarray | None:
        try:
            return decode_image(item.msg, self.runtime.config.max_pixels)[0]
        except ImageFormatError as exc:
            log.error("bad label image at %.3f s: %s", item.stamp, exc)
            return None

    @property
    def unpaired(self) -> int:
        """Frames the pairing left alone: no partner within the slop, or still waiting for one at the end."""
        return self.runtime.pairer.stats.unpaired + sum(self.runtime.pairer.pending())
