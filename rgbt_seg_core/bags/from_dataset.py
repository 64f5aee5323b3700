"""A data set split as a rosbag2 bag, with the timing of a real two-camera rig.

Each camera has its own clock: RGB frames are stamped ``t0 + i / fps`` plus Gaussian jitter, thermal frames the
same instant plus a fixed ``thermal_delay`` (exposure/transport offset) plus their own jitter. A frame's bag
(receive) time is its stamp plus a small transport delay, so messages appear in the bag in arrival order as
``ros2 bag record`` would store them. Ground-truth labels carry the RGB stamp and frame (they were drawn on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rgbt_seg_core.bags.io import ImageBagWriter
from rgbt_seg_core.data.base import RGBTDataset

__all__ = ["BagTopics", "dataset_to_bag"]


@dataclass(frozen=True)
class BagTopics:
    rgb: str = "/rgb/image"
    thermal: str = "/thermal/image"
    labels: str = "/labels/ground_truth"


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
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    if fps <= 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    if jitter_ms < 0:
        raise ValueError(f"--jitter-ms must be >= 0, got {jitter_ms}")
    period = 1.0 / fps
    if jitter_ms * 1e-3 * 3 >= period / 2:
        raise ValueError(f"--jitter-ms {jitter_ms} is too large for {fps} fps (frames would swap order)")
    rng = np.random.default_rng(seed)
    out = Path(out)
    with ImageBagWriter(out, storage) as bag:
        for i, name in enumerate(dataset.names):
            s = dataset.load(name)
            t_rgb = t0 + i * period + rng.normal(0.0, jitter_ms * 1e-3) if jitter_ms else t0 + i * period
            thm_jitter = rng.normal(0.0, jitter_ms * 1e-3) if jitter_ms else 0.0
            t_thm = t0 + i * period + thermal_delay_ms * 1e-3 + thm_jitter
            transport = 0.004  # seconds from exposure to the recorder
            bag.write_image(topics.rgb, s.rgb, "rgb8", t_rgb, "rgb_optical", int(round((t_rgb + transport) * 1e9)))
            t_enc = "mono16" if s.thermal.dtype == np.uint16 else "mono8"
            bag.write_image(topics.thermal, s.thermal, t_enc, t_thm, "thermal_optical",
                            int(round((t_thm + transport) * 1e9)))
            bag.write_image(topics.labels, s.label, "mono8", t_rgb, "rgb_optical",
                            int(round((t_rgb + transport) * 1e9)) + 1)
            if progress:
                progress(i)
        return dict(bag.counts)
