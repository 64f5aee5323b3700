"""Small bags for the fleet tests, with the events that make sharding subtle: camera delay and jitter, a silent
thermal camera (RGB-only fallback), a frozen RGB camera (thermal-only fallback), and labels on the RGB stamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import ImageBagWriter

# the runtime settings the events are sized for: the gap and the frozen run outlast their timeouts
EVENT_SETTINGS = {"modality_timeout": 0.1, "frozen_timeout": 0.12, "slop": 0.02}


def write_event_bag(path: Path, *, frames: int = 48, fps: float = 20.0, seed: int = 0, size: tuple[int, int] = (48, 64),
                    thermal_gap: tuple[int, int] | None = (12, 18), frozen_rgb: tuple[int, int] | None = (26, 33),
                    pause: tuple[int, int] | None = None, topics: BagTopics = BagTopics(), classes: int = 9,
                    t0: float = 1_700_000_000.0) -> Path:
    """A bag of ``frames`` RGB/thermal/label triples at ``fps``: thermal 12 ms late with 2 ms jitter, no thermal
    for the frames in ``thermal_gap``, RGB repeating one image bit for bit over ``frozen_rgb``, nothing at all over
    ``pause`` (the recorder paused)."""
    rng = np.random.default_rng(seed)
    h, w = size
    period = 1.0 / fps
    frozen = None
    with ImageBagWriter(path, "mcap") as bag:
        for i in range(frames):
            t_rgb = t0 + i * period + rng.normal(0, 0.002)
            t_thm = t0 + i * period + 0.012 + rng.normal(0, 0.002)
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if frozen_rgb is not None and frozen_rgb[0] <= i < frozen_rgb[1]:
                frozen = rgb if frozen is None else frozen
                rgb = frozen
            rgb_ns = int(round((t_rgb + 0.004) * 1e9))
            thermal = rng.integers(0, 256, (h, w), dtype=np.uint8)
            label = rng.integers(0, classes, (h, w), dtype=np.uint8)
            if pause is not None and pause[0] <= i < pause[1]:
                continue
            bag.write_image(topics.rgb, rgb, "rgb8", t_rgb, "rgb_optical", rgb_ns)
            if thermal_gap is None or not thermal_gap[0] <= i < thermal_gap[1]:
                bag.write_image(topics.thermal, thermal, "mono8", t_thm, "thermal_optical",
                                int(round((t_thm + 0.004) * 1e9)))
            bag.write_image(topics.labels, label, "mono8", t_rgb, "rgb_optical", rgb_ns + 1)
    return path
