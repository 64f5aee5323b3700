"""What travels between the fleet's planner and its workers: a :class:`ShardTask` (small and picklable: paths, the
pair's topics, the window, the settings as JSON text, digests) and the :class:`ShardResult` it comes back as (also
the shard cache's entry, through :meth:`ShardResult.to_json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.evaluation.metrics import scores_from_confusion

__all__ = ["Window", "ShardTask", "ShardResult", "settings_json", "NS_PER_S"]

Window = tuple[int | None, int | None]  # [start, stop) in bag-time ns; None: the bag's own start or end
NS_PER_S = 1_000_000_000


def settings_json(values: dict[str, Any]) -> str:
    """The node's flat parameter values as canonical JSON: what a task carries and what its digest is made of.
    Raises ValueError naming the setting whose value JSON cannot hold."""
    for key, value in values.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"setting {key}: {value!r} cannot be sent to a worker ({exc})") from exc
    return json.dumps(values, sort_keys=True)


@dataclass(frozen=True)
class ShardTask:
    """One shard to evaluate. ``settings`` is :func:`settings_json` of the node's flat parameters (``--params``
    and the flags), ``checkpoint`` the path the worker opens, ``bag_start_ns`` the bag's first message (to know
    whether a window's warm-up reaches back to the bag's start). Digests: the bag's content, the checkpoint's and
    the settings' (:mod:`rgbt_seg_core.fleet.digests`)."""

    bag: str
    pair: str
    topics: BagTopics
    window: Window
    checkpoint: str
    settings: str
    checkpoint_digest: str
    bag_digest: str = ""
    settings_digest: str = ""
    bag_start_ns: int | None = None

    @property
    def settings_values(self) -> dict[str, Any]:
        return json.loads(self.settings)

    def describe(self) -> str:
        """The bag, pair and window, for messages."""
        pair = f" pair {self.pair}" if self.pair else ""
        start, stop = self.window
        if start is None and stop is None:
            return f"{self.bag}{pair}"
        base = self.bag_start_ns or 0
        lo = "start" if start is None else f"{(start - base) / NS_PER_S:.3f} s"
        hi = "end" if stop is None else f"{(stop - base) / NS_PER_S:.3f} s"
        return f"{self.bag}{pair} [{lo}, {hi})"


@dataclass
class ShardResult:
    """What one shard counted, every count over its own window only, so that a bag's shards sum to the bag.

    ``frames``: camera messages received; ``pairs``: outputs segmented (pairs and frames segmented alone);
    ``rgb_only``/``thermal_only``: outputs made from one camera while the other had failed; ``unpaired``: camera
    frames that left the pairing without a partner; ``stamps``: each output's stamp (the lead frame's), in order."""

    bag: str
    pair: str
    window: Window
    class_names: list[str]
    palette: list[list[int]]
    confusion: np.ndarray | None = None
    misses: np.ndarray | None = None  # per true class: pixels predicted as no class (below min_confidence)
    frames: int = 0
    received: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    evaluated: int = 0
    unlabelled: int = 0
    unpaired: int = 0
    bad_frames: int = 0
    rgb_only: int = 0
    thermal_only: int = 0
    runtime: dict[str, int] = field(default_factory=dict)
    model_seconds: float = 0.0
    seconds: float = 0.0
    stamps: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def drops(self) -> int:
        """Camera frames and pairs that made no output: unpaired, bad, frozen, out of order, inference errors."""
        r = self.runtime
        return (self.unpaired + self.bad_frames + r.get("frozen_rgb", 0) + r.get("frozen_thermal", 0)
                + r.get("out_of_order", 0) + r.get("inference_errors", 0) + r.get("dropped", 0))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["confusion"] = None if self.confusion is None else self.confusion.tolist()
        out["misses"] = None if self.misses is None else self.misses.tolist()
        out["window"] = list(self.window)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ShardResult":
        """The inverse of :meth:`to_json`; KeyError or ValueError for anything else."""
        data = dict(data)
        confusion, misses = data.pop("confusion"), data.pop("misses")
        start, stop = data.pop("window")
        res = cls(**data, window=(start, stop))
        n = len(res.class_names)
        if confusion is not None:
            res.confusion = _counts(confusion, (n, n), "confusion matrix")
        if misses is not None:
            res.misses = _counts(misses, (n,), "misses")
        return res

    def miou(self) -> float | None:
        if self.confusion is None or not self.evaluated:
            return None
        return scores_from_confusion(self.confusion, self.class_names, self.misses).miou


def _counts(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    out = np.asarray(values, dtype=np.int64)
    if out.shape != shape:
        raise ValueError(f"{what} {out.shape}, expected {shape}")
    return out
