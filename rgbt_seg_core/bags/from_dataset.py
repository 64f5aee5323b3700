"""A data set split as a rosbag2 bag, with the timing of a real two-camera rig.

Each camera has its own clock: RGB frames are stamped ``t0 + i / fps`` plus Gaussian jitter, thermal frames the
same instant plus a fixed ``thermal_delay`` (exposure/transport offset) plus their own jitter. A frame's bag
(receive) time is its stamp plus a small transport delay, so messages appear in the bag in arrival order as
``ros2 bag record`` would store them. Ground-truth labels carry the RGB stamp and frame (they were drawn on it).

With ``pairs`` (``front, rear``), each camera pair of a robot gets the same frames with the same timing on its own
topics (:func:`bag_topics`: the node's input names under the pair, ``/front/rgb/image``), so a bag of several pairs
tests a node serving them with frames whose every pair's result is known from the single-pair evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rgbt_seg_core.bags.io import ImageBagWriter
from rgbt_seg_core.data.base import RGBTDataset, Sample
from rgbt_seg_core.settings.pairs import pair_topics

__all__ = ["BagTopics", "LABELS", "bag_topics", "dataset_to_bag"]

LABELS = "labels/ground_truth"  # a pair's ground truth, beside its cameras' topics


@dataclass(frozen=True)
class BagTopics:
    rgb: str = "/rgb/image"
    thermal: str = "/thermal/image"
    labels: str = "/labels/ground_truth"


def bag_topics(pair: str) -> BagTopics:
    """A camera pair's topics in a bag: its cameras as the node subscribes to them
    (:func:`~rgbt_seg_core.settings.pairs.pair_topics`, from the root namespace) and its ground truth beside them;
    :data:`~rgbt_seg_core.settings.pairs.SINGLE` (``""``) gives a single-pair bag's, :class:`BagTopics`' defaults.
    The one rule, so the tools that write, replay, play and score a bag agree on every pair's names."""
    t = pair_topics(pair)
    prefix = f"/{pair}/" if pair else "/"
    return BagTopics(rgb=f"/{t.images['rgb']}", thermal=f"/{t.images['thermal']}", labels=f"{prefix}{LABELS}")


def dataset_to_bag(
    dataset: RGBTDataset,
    out: str | Path,
    *,
    storage: str = "mcap",
    fps: float = 10.0,
    thermal_delay_ms: float = 0.0,
    jitter_ms: float = 0.0,
    seed: int = 0,
    t0: float = 1_700_000_000.0,
    topics: BagTopics = BagTopics(),
    pairs: Sequence[str] = (),
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Writes the bag; returns the messages per topic. ``pairs``: the camera pairs, each on :func:`bag_topics`
    (``topics`` is then not used); empty: one pair on ``topics``."""
    if fps <= 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    if jitter_ms < 0:
        raise ValueError(f"--jitter-ms must be >= 0, got {jitter_ms}")
    period = 1.0 / fps
    if jitter_ms * 1e-3 * 3 >= period / 2:
        raise ValueError(f"--jitter-ms {jitter_ms} is too large for {fps} fps (frames would swap order)")
    rng = np.random.default_rng(seed)
    out = Path(out)
    layout = [bag_topics(p) for p in pairs] if pairs else [topics]
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"--pairs {','.join(pairs)}: a pair is named twice")
    with ImageBagWriter(out, storage) as bag:
        for i, name in enumerate(dataset.names):
            s = dataset.load(name)
            t_rgb = t0 + i * period + rng.normal(0.0, jitter_ms * 1e-3) if jitter_ms else t0 + i * period
            thm_jitter = rng.normal(0.0, jitter_ms * 1e-3) if jitter_ms else 0.0
            t_thm = t0 + i * period + thermal_delay_ms * 1e-3 + thm_jitter
            for tp in layout:
                _write_frame(bag, tp, s, t_rgb, t_thm)
            if progress:
                progress(i)
        return dict(bag.counts)


def _write_frame(bag: ImageBagWriter, topics: BagTopics, s: Sample, t_rgb: float, t_thm: float) -> None:
    transport = 0.004  # seconds from exposure to the recorder
    rgb, thermal, label = s.rgb, s.thermal, s.label
    bag.write_image(topics.rgb, rgb, "rgb8", t_rgb, "rgb_optical", int(round((t_rgb + transport) * 1e9)))
    t_enc = "mono16" if thermal.dtype == np.uint16 else "mono8"
    bag.write_image(topics.thermal, thermal, t_enc, t_thm, "thermal_optical", int(round((t_thm + transport) * 1e9)))
    bag.write_image(topics.labels, label, "mono8", t_rgb, "rgb_optical", int(round((t_rgb + transport) * 1e9)) + 1)
