"""A recorded bag -> a training folder in the MFNet layout, paired exactly as the node pairs.

Messages go in bag order through :class:`~rgbt_seg_core.runtime.SegmentationRuntime` by the replay loop of
:mod:`rgbt_seg_core.bags.replay` (the node's frame checks, approximate-time pairing and clock-jump handling,
offline: every pair kept, no single-camera frames), with the bag's receive time as its clock. Of the pairs,
``every`` keeps each N-th, ``fps`` at most F per second of RGB stamps, and otherwise near-duplicates of the last
kept pair (a robot standing still) are skipped. Each kept pair is written as

    OUT/images/<name>.png        4-channel 8-bit R, G, B, thermal: thermal normalised as inference does it and,
                                 with a homography, registered onto the RGB frame
    OUT/thermal16/<name>.png     (keep_16bit) the raw 16-bit thermal, registered, for a later renormalisation
    OUT/labels/<name>.png        class ids: the bag's label topic on the RGB stamp, else the prelabel model's
    OUT/labels_color/<name>.png  the labels in the palette, for annotation tools
    OUT/train.txt val.txt test.txt   2:1:1 in turn, as ``rgbt-seg synth``
    OUT/extract.json             where it came from, the settings and the counts

Names are ``<index>_<RGB stamp in ns>``, so they sort in time and say where in the bag each frame is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import BagImage
from rgbt_seg_core.bags.replay import BagReplay, bag_has_labels
from rgbt_seg_core.data.png import png_bytes
from rgbt_seg_core.inference.engine import InferenceConfig
from rgbt_seg_core.inference.preprocess import ThermalNorm, prepare_inputs, register_thermal
from rgbt_seg_core.inference.render import colorize
from rgbt_seg_core.runtime import Frame, RuntimeConfig, Work
from rgbt_seg_core.settings import default
from rgbt_seg_core.utils.atomic import atomic_write_bytes

__all__ = ["ExtractConfig", "ExtractResult", "extract_bag", "extract_config", "prelabel_inference"]

log = logging.getLogger(__name__)
SPLITS = ("train", "train", "val", "test")


@dataclass(frozen=True)
class ExtractConfig:
    every: int | None = None  # keep every N-th pair
    fps: float | None = None  # keep at most this many pairs per second of stamps
    dedup: float = 1.5  # without every/fps: skip a pair whose thumbnails differ from the last kept by less (0..255)
    keep_16bit: bool = False
    thermal_norm: ThermalNorm = field(default_factory=ThermalNorm)
    homography: np.ndarray | None = None  # thermal pixel -> RGB pixel (rgbt_seg_core.inference.registration)
    thermal_offset: tuple[int, int] = (default("thermal_offset_x"), default("thermal_offset_y"))

    def __post_init__(self) -> None:
        if self.every is not None and (not isinstance(self.every, int) or self.every < 1):
            raise ValueError(f"--every must be a positive integer, got {self.every!r}")
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"--fps must be a positive number, got {self.fps!r}")
        if self.every is not None and self.fps is not None:
            raise ValueError("give --every or --fps, not both")
        if not (np.isfinite(self.dedup) and self.dedup >= 0):
            raise ValueError(f"--dedup must be >= 0 (0 keeps every pair), got {self.dedup!r}")


@dataclass
class ExtractResult:
    out: str
    received: dict[str, int]
    pairs: int = 0
    written: int = 0
    skipped_every: int = 0
    skipped_fps: int = 0
    duplicates: int = 0
    labelled_from_bag: int = 0
    prelabelled: int = 0
    unlabelled: int = 0
    bad_labels: int = 0
    unpaired: int = 0  # frames the pairing left alone (no partner within the slop)
    runtime: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _thumb(rgb: np.ndarray, thermal8: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    a = cv2.resize(grey, (40, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    b = cv2.resize(thermal8, (40, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.stack([a, b])


def _thermal8(rgb: np.ndarray, thermal: np.ndarray, cfg: ExtractConfig) -> np.ndarray:
    """Thermal in the RGB frame as the model sees it (the one preprocessing), in 8 bits."""
    t = prepare_inputs(rgb, thermal, cfg.thermal_norm, cfg.thermal_offset, cfg.homography)[1][0].numpy()
    return (np.clip(t, 0, 1) * 255 + 0.5).astype(np.uint8)


def _thermal16(raw: np.ndarray, size: tuple[int, int], cfg: ExtractConfig) -> np.ndarray:
    """The raw 16-bit values registered onto the RGB frame as the preprocessing registers them, not normalised."""
    t = torch.from_numpy(raw.astype(np.float32))[None, None]
    registered = register_thermal(t, size, cfg.thermal_offset, cfg.homography)[0, 0].numpy()
    return np.clip(registered + 0.5, 0, 65535).astype(np.uint16)


class _Folder:
    """The MFNet-layout folder being written: frames wait (at most 8) for a label recorded late on their stamp."""

    def __init__(self, out: Path, res: ExtractResult, prelabel: Any, palette: list[list[int]]) -> None:
        self.out, self.res, self.prelabel, self.palette = out, res, prelabel, palette
        self.labels_by_stamp: dict[int, np.ndarray] = {}
        self.pending: list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.splits: dict[str, list[str]] = {s: [] for s in ("train", "val", "test")}

    def add(self, stamp_ns: int, rgb: np.ndarray, t8: np.ndarray, t16: np.ndarray | None) -> None:
        self.pending.append((f"{self.res.written + len(self.pending):06d}_{stamp_ns}", stamp_ns, rgb, t8, t16))
        self.flush(False)

    def flush(self, final: bool) -> None:
        """Write the kept pairs whose label had its chance to arrive (labels are recorded on the RGB stamp)."""
        while self.pending and (final or len(self.pending) > 8):
            name, stamp_ns, rgb, t8, t16 = self.pending.pop(0)
            label = self.labels_by_stamp.pop(stamp_ns, None)
            if label is not None and label.shape != rgb.shape[:2]:
                log.error("label at %d ns is %s, RGB %s: not used", stamp_ns, label.shape, rgb.shape[:2])
                self.res.bad_labels += 1
                label = None
            self._write(name, rgb, t8, t16, label, "bag" if label is not None else "")
        while len(self.labels_by_stamp) > 64:  # labels of dropped or unpaired frames: forget the oldest
            self.labels_by_stamp.pop(next(iter(self.labels_by_stamp)))

    def _write(self, name: str, rgb: np.ndarray, t8: np.ndarray, t16: np.ndarray | None,
               label: np.ndarray | None, source: str) -> None:
        out, res = self.out, self.res
        atomic_write_bytes(out / "images" / f"{name}.png", png_bytes(np.dstack([rgb[:, :, ::-1], t8])))
        if t16 is not None:
            atomic_write_bytes(out / "thermal16" / f"{name}.png", png_bytes(t16))
        if label is None and self.prelabel is not None:
            label = self.prelabel.predict(rgb, t8).labels  # the registered thermal: the model sees what is written
            source = "prelabel"
        if label is not None:
            atomic_write_bytes(out / "labels" / f"{name}.png", png_bytes(label))
            atomic_write_bytes(out / "labels_color" / f"{name}.png",
                               png_bytes(colorize(label, self.palette)[:, :, ::-1]))
        res.labelled_from_bag += source == "bag"
        res.prelabelled += source == "prelabel"
        res.unlabelled += label is None
        self.splits[SPLITS[res.written % len(SPLITS)]].append(name)
        res.written += 1

    def finish(self, info: dict[str, Any]) -> None:
        self.flush(True)
        self.res.splits = {k: len(v) for k, v in self.splits.items()}
        for split, names in self.splits.items():
            atomic_write_bytes(self.out / f"{split}.txt", ("\n".join(names) + ("\n" if names else "")).encode())
        info["result"] = {k: v for k, v in asdict(self.res).items() if k != "out"}
        atomic_write_bytes(self.out / "extract.json", json.dumps(info, indent=2).encode())


class _Keep:
    """Which pairs are written: every N-th, at most F per second, or (by default) not a near-duplicate."""

    def __init__(self, config: ExtractConfig) -> None:
        self.config = config
        self.pairs = 0
        self.last_thumb: np.ndarray | None = None
        self.last_kept_ns: int | None = None
        self.first_size: tuple[int, int] | None = None

    def __call__(self, rgb_frame: Frame, thermal_frame: Frame, res: ExtractResult, folder: _Folder,
                 thermal_topic: str) -> None:
        cfg = self.config
        self.pairs += 1
        rgb, stamp_ns = rgb_frame.image, rgb_frame.stamp_ns
        if cfg.every is not None and (self.pairs - 1) % cfg.every:
            res.skipped_every += 1
            return
        if cfg.fps is not None and self.last_kept_ns is not None and stamp_ns - self.last_kept_ns < 1e9 / cfg.fps:
            res.skipped_fps += 1
            return
        raw = thermal_frame.image
        t8 = _thermal8(rgb, raw, cfg)
        if cfg.every is None and cfg.fps is None and cfg.dedup > 0:
            thumb = _thumb(rgb, t8)
            if self.last_thumb is not None and float(np.abs(thumb - self.last_thumb).mean()) < cfg.dedup:
                res.duplicates += 1
                return
            self.last_thumb = thumb
        t16 = None
        if cfg.keep_16bit:
            if raw.dtype != np.uint16:
                raise ValueError(f"--keep-16bit: thermal on {thermal_topic} is {raw.dtype}, not 16-bit")
            t16 = _thermal16(raw, rgb.shape[:2], cfg)
        self.last_kept_ns = stamp_ns
        self.first_size = self.first_size or rgb.shape[:2]
        folder.add(stamp_ns, rgb, t8, t16)


def _start_folder(out: Path, keep_16bit: bool) -> None:
    if out.exists() and any(out.iterdir()) and not (out / "extract.json").is_file():
        raise ValueError(f"{out} exists and was not written by bag-extract; refusing to write into it")
    if (out / "extract.json").is_file():
        raise ValueError(f"{out} already holds an extraction; choose another --out (frames would mix)")
    for sub in ("images", "labels", "labels_color") + (("thermal16",) if keep_16bit else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _classes(prelabel: Any, class_names: list[str] | None, palette: list[list[int]] | None
             ) -> tuple[list[str], list[list[int]]]:
    if prelabel is not None:
        return list(prelabel.class_names), [list(c) for c in prelabel.palette]
    if class_names is None or palette is None:
        from rgbt_seg_core.utils.classes import default_classes

        names, pal = default_classes(9)
        return class_names or list(names), palette or [list(c) for c in pal]
    return class_names, palette


def extract_bag(bag: str | Path, out: str | Path, *, topics: BagTopics = BagTopics(),
                config: ExtractConfig = ExtractConfig(), runtime_config: RuntimeConfig = RuntimeConfig(),
                prelabel: Any = None, class_names: list[str] | None = None,
                palette: list[list[int]] | None = None,
                progress: Callable[[int], object] | None = None) -> ExtractResult:
    """``prelabel``: an :class:`~rgbt_seg_core.inference.engine.InferenceEngine` labelling pairs the bag has no
    labels for (as a start for annotation; its classes name the folder's). Refuses a non-empty ``out`` that it did
    not write."""
    bag, out = Path(bag), Path(out)
    has_labels = bag_has_labels(bag, topics)
    _start_folder(out, config.keep_16bit)
    class_names, palette = _classes(prelabel, class_names, palette)
    replay = BagReplay(bag, topics, has_labels, None, replace(runtime_config, blank_missing_modality=False))
    res = ExtractResult(str(out), received=replay.received)
    folder, keep = _Folder(out, res, prelabel, palette), _Keep(config)

    def label(item: BagImage, label: np.ndarray | None) -> None:
        if label is not None and (label.ndim != 2 or label.dtype != np.uint8):
            log.error("label at %.3f s is %s %s, expected mono8 class ids", item.stamp, label.dtype, label.shape)
            label = None
        if label is None:
            res.bad_labels += 1
        else:
            folder.labels_by_stamp[item.stamp_ns] = label

    def pair(work: Work, _: int) -> None:
        if work.rgb is not None and work.thermal is not None:
            keep(work.rgb, work.thermal, res, folder, topics.thermal)

    try:
        replay.run(pair, label, (lambda: progress(1)) if progress else None)
    finally:
        res.error, res.runtime = replay.error, dict(replay.runtime.counts)
        res.pairs, res.unpaired = keep.pairs, replay.unpaired
        folder.finish({"generator": "rgbt-seg bag-extract", "bag": str(bag), "topics": asdict(topics),
                       "image_size": list(keep.first_size) if keep.first_size else None,
                       "class_names": class_names, "palette": palette, "settings": _settings(config)})
    return res


def extract_config(inference: InferenceConfig, *, every: int | None = None, fps: float | None = None,
                   dedup: float = ExtractConfig.dedup, keep_16bit: bool = False) -> ExtractConfig:
    """The keep rules with a pair's preprocessing settings, so that ``bag-extract`` and its fleet mode write the
    thermal exactly as the node's engine would see it."""
    return ExtractConfig(every=every, fps=fps, dedup=dedup, keep_16bit=keep_16bit,
                         thermal_norm=inference.thermal_norm, homography=inference.homography(),
                         thermal_offset=inference.thermal_offset)


def prelabel_inference(inference: InferenceConfig) -> InferenceConfig:
    """The prelabel engine's config: it labels the thermal as written (registered and in 8 bits already), so its
    own normalisation is a plain /255 and it registers nothing again."""
    return replace(inference, thermal_norm=ThermalNorm(), thermal_offset=(0, 0), thermal_homography=None)


def _settings(config: ExtractConfig) -> dict[str, Any]:
    return {"every": config.every, "fps": config.fps, "dedup": config.dedup, "keep_16bit": config.keep_16bit,
            "thermal_homography": None if config.homography is None
            else [float(v) for v in config.homography.reshape(-1)],
            "thermal_offset": list(config.thermal_offset)}
