"""Per-split statistics computed once and cached: pseudo-labels (RSFNet §III-C) and class pixel frequencies.

Both need a full pass over the training split (saliency is the slow part), so they are stored in a JSON file
keyed by a fingerprint of the split: data set name, absolute root, split, every file's size and modification
time, and the pseudo-label options. Editing, adding or removing an image changes the key and the cache is
rebuilt. The default location is ``$XDG_CACHE_HOME/rgbt_seg`` (``~/.cache/rgbt_seg``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from rgbt_seg_core.data.base import RGBTDataset
from rgbt_seg_core.inference.preprocess import normalize_thermal
from rgbt_seg_core.training.pseudo_labels import pseudo_labels
from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.utils.cache_dir import default_cache_dir

__all__ = ["split_statistics", "SplitStatistics"]

log = logging.getLogger(__name__)


def _fingerprint(ds: RGBTDataset, restrict_to_boxes: bool) -> str:
    h = hashlib.sha256()
    h.update(f"{ds.dataset_name}|{ds.root.resolve()}|{ds.split}|{restrict_to_boxes}|v1".encode())
    for path in sorted(p for p in ds.root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        st = path.stat()
        h.update(f"{path.relative_to(ds.root)}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update("|".join(ds.names).encode())
    return h.hexdigest()[:24]


class SplitStatistics(dict):
    """``{"pseudo": {name: [p_rgb, p_thm]}, "class_frequencies": [...]}`` loaded from or written to the cache."""

    @property
    def pseudo(self) -> dict[str, tuple[float, float]]:
        return {k: (float(v[0]), float(v[1])) for k, v in self["pseudo"].items()}

    @property
    def class_frequencies(self) -> np.ndarray:
        return np.asarray(self["class_frequencies"], dtype=np.float64)


def split_statistics(
    ds: RGBTDataset,
    *,
    cache_dir: Path | None = None,
    restrict_to_boxes: bool = False,
    progress: Callable[[int], object] | None = None,
) -> SplitStatistics:
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"{ds.dataset_name}_{ds.split}_{_fingerprint(ds, restrict_to_boxes)}.json"
    if path.is_file():
        try:
            stats = SplitStatistics(json.loads(path.read_text()))
            if set(stats["pseudo"]) == set(ds.names) and len(stats["class_frequencies"]) == ds.num_classes:
                log.info("pseudo-labels and class frequencies from cache %s", path)
                return stats
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring unreadable cache file %s", path)
    counts = np.zeros(ds.num_classes, np.int64)
    pseudo: dict[str, list[float]] = {}
    for i, name in enumerate(ds.names):
        s = ds.load(name)
        thermal8 = s.thermal if s.thermal.dtype == np.uint8 else (normalize_thermal(s.thermal) * 255).astype(np.uint8)
        pseudo[name] = list(pseudo_labels(s.rgb, thermal8, s.label, restrict_to_boxes=restrict_to_boxes))
        valid = s.label[s.label < ds.num_classes]
        counts += np.bincount(valid.reshape(-1), minlength=ds.num_classes)[: ds.num_classes]
        if progress:
            progress(i)
    total = counts.sum()
    stats = SplitStatistics({"pseudo": pseudo, "class_frequencies": (counts / max(1, total)).tolist()})
    try:
        atomic_write_bytes(path, json.dumps(stats).encode())
    except OSError as exc:  # a read-only home must not stop training
        log.warning("could not write cache %s: %s", path, exc)
    return stats
