"""A recorded bag -> a training folder in the MFNet layout, paired exactly as the node pairs.

Messages go in bag order through :class:`~rgbt_seg_core.runtime.SegmentationRuntime` (the node's frame checks,
approximate-time pairing and clock-jump handling, offline: every pair kept, no single-camera frames), with the
bag's receive time as its clock. Of the pairs, ``every`` keeps each N-th, ``fps`` at most F per second of RGB
stamps, and otherwise near-duplicates of the last kept pair (a robot standing still) are skipped. Each kept pair
is written as

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.runtime.imageconv import ImageFormatError, decode_image
from rgbt_seg_core.inference.preprocess import ThermalNorm, normalize_thermal
from rgbt_seg_core.inference.render import colorize
from rgbt_seg_core.runtime import RGB, THERMAL, FakeClock, RuntimeConfig, SegmentationRuntime
from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import BagError, list_topics, read_images, require_topics

__all__ = ["ExtractConfig", "ExtractResult", "extract_bag"]

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
    thermal_offset: tuple[int, int] = (0, 0)

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


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _register(thermal: np.ndarray, size: tuple[int, int], cfg: ExtractConfig, normalise: bool) -> np.ndarray:
    """Thermal in the RGB frame: normalised to [0, 1] (or raw values), then resized or warped, then offset."""
    import torch

    from rgbt_seg_core.inference.preprocess import _shift
    from rgbt_seg_core.inference.registration import warp_thermal

    x = normalize_thermal(thermal, cfg.thermal_norm) if normalise else thermal.astype(np.float32)
    if cfg.homography is not None:
        return warp_thermal(torch.from_numpy(np.ascontiguousarray(x))[None, None], cfg.homography, size,
                            cfg.thermal_offset)[0, 0].numpy()
    if x.shape != size:
        x = cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return _shift(x, *cfg.thermal_offset)


def extract_bag(bag: str | Path, out: str | Path, *, topics: BagTopics = BagTopics(),
                config: ExtractConfig = ExtractConfig(), runtime_config: RuntimeConfig = RuntimeConfig(),
                prelabel: Any = None, class_names: list[str] | None = None,
                palette: list[list[int]] | None = None,
                progress: Callable[[int], None] | None = None) -> ExtractResult:
    """``prelabel``: an :class:`~rgbt_seg_core.inference.engine.InferenceEngine` labelling pairs the bag has no labels for
    (as a start for annotation; its classes name the folder's). Refuses a non-empty ``out`` that it did not write."""
    bag, out = Path(bag), Path(out)
    found = list_topics(bag)
    kinds = {t: m for t, (m, _) in found.items()}
    require_topics(bag, [topics.rgb, topics.thermal], kinds)
    has_labels = topics.labels in found
    if out.exists() and any(out.iterdir()) and not (out / "extract.json").is_file():
        raise ValueError(f"{out} exists and was not written by bag-extract; refusing to write into it")
    if (out / "extract.json").is_file():
        raise ValueError(f"{out} already holds an extraction; choose another --out (frames would mix)")
    if prelabel is not None:
        class_names, palette = list(prelabel.class_names), [list(c) for c in prelabel.palette]
    if class_names is None or palette is None:
        from rgbt_seg_core.utils.classes import default_classes

        names, pal = default_classes(9)
        class_names, palette = class_names or list(names), palette or [list(c) for c in pal]
    for sub in ("images", "labels", "labels_color") + (("thermal16",) if config.keep_16bit else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    want = [topics.rgb, topics.thermal] + ([topics.labels] if has_labels else [])
    res = ExtractResult(str(out), received={t: 0 for t in want})
    clock = FakeClock()
    runtime = SegmentationRuntime(None, RuntimeConfig(**{**asdict(runtime_config), "realtime": False,  # type: ignore
                                                         "blank_missing_modality": False}), clock=clock,
                                  logger=lambda level, text: log.log(level, text))
    labels_by_stamp: dict[int, np.ndarray] = {}
    pending: list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray | None]] = []  # waiting for a late label
    splits: dict[str, list[str]] = {s: [] for s in ("train", "val", "test")}
    last_thumb: np.ndarray | None = None
    last_kept_ns: int | None = None
    first_size: tuple[int, int] | None = None
    n_pair = 0

    def write(name: str, stamp_ns: int, rgb: np.ndarray, t8: np.ndarray, t16: np.ndarray | None,
              label: np.ndarray | None, source: str) -> None:
        atomic_write_bytes(out / "images" / f"{name}.png", _png(np.dstack([rgb[:, :, ::-1], t8])))
        if t16 is not None:
            atomic_write_bytes(out / "thermal16" / f"{name}.png", _png(t16))
        if label is None and prelabel is not None:
            label = prelabel.predict(rgb, t8).labels  # the registered thermal: the model sees what is written
            source = "prelabel"
        if label is not None:
            atomic_write_bytes(out / "labels" / f"{name}.png", _png(label))
            atomic_write_bytes(out / "labels_color" / f"{name}.png", _png(colorize(label, palette)[:, :, ::-1]))
        res.labelled_from_bag += source == "bag"
        res.prelabelled += source == "prelabel"
        res.unlabelled += label is None
        split = SPLITS[res.written % len(SPLITS)]
        splits[split].append(name)
        res.written += 1

    def flush(final: bool) -> None:
        """Write the kept pairs whose label had its chance to arrive (labels are recorded on the RGB stamp)."""
        while pending and (final or len(pending) > 8):
            name, stamp_ns, rgb, t8, t16 = pending.pop(0)
            label = labels_by_stamp.pop(stamp_ns, None)
            if label is not None and label.shape != rgb.shape[:2]:
                log.error("label at %d ns is %s, RGB %s: not used", stamp_ns, label.shape, rgb.shape[:2])
                res.bad_labels += 1
                label = None
            write(name, stamp_ns, rgb, t8, t16, label, "bag" if label is not None else "")
        while len(labels_by_stamp) > 64:  # labels of dropped or unpaired frames: forget the oldest
            labels_by_stamp.pop(next(iter(labels_by_stamp)))

    def keep(work: Any) -> None:
        nonlocal n_pair, last_thumb, last_kept_ns, first_size
        n_pair += 1
        rgb, stamp_ns = work.rgb.image, work.rgb.stamp_ns
        if config.every is not None and (n_pair - 1) % config.every:
            res.skipped_every += 1
            return
        if config.fps is not None and last_kept_ns is not None and stamp_ns - last_kept_ns < 1e9 / config.fps:
            res.skipped_fps += 1
            return
        size = rgb.shape[:2]
        t8 = (np.clip(_register(work.thermal.image, size, config, True), 0, 1) * 255 + 0.5).astype(np.uint8)
        if config.every is None and config.fps is None and config.dedup > 0:
            thumb = _thumb(rgb, t8)
            if last_thumb is not None and float(np.abs(thumb - last_thumb).mean()) < config.dedup:
                res.duplicates += 1
                return
            last_thumb = thumb
        t16 = None
        if config.keep_16bit:
            raw = work.thermal.image
            if raw.dtype != np.uint16:
                raise ValueError(f"--keep-16bit: thermal on {topics.thermal} is {raw.dtype}, not 16-bit")
            t16 = np.clip(_register(raw, size, config, False) + 0.5, 0, 65535).astype(np.uint16)
        last_kept_ns = stamp_ns
        first_size = first_size or size
        pending.append((f"{res.written + len(pending):06d}_{stamp_ns}", stamp_ns, rgb, t8, t16))
        flush(False)

    try:
        for item in read_images(bag, want):
            res.received[item.topic] += 1
            if progress:
                progress(1)
            if item.topic == topics.labels:
                try:
                    label, _ = decode_image(item.msg, runtime_config.max_pixels)
                except ImageFormatError as exc:
                    res.bad_labels += 1
                    log.error("bad label image at %.3f s: %s", item.stamp, exc)
                    continue
                if label.ndim != 2 or label.dtype != np.uint8:
                    res.bad_labels += 1
                    log.error("label at %.3f s is %s %s, expected mono8 class ids", item.stamp, label.dtype,
                              label.shape)
                    continue
                labels_by_stamp[item.stamp_ns] = label
                continue
            clock.set(item.bag_time_ns * 1e-9)
            runtime.add(RGB if item.topic == topics.rgb else THERMAL, item.msg)
            while (work := runtime.take(0)) is not None:
                if work.rgb is not None and work.thermal is not None:
                    keep(work)
    except BagError as exc:
        res.error = str(exc)  # what was read before the damage is kept
    finally:
        flush(True)
        c = runtime.counts
        res.runtime = dict(c)
        res.pairs = n_pair
        res.unpaired = runtime.pairer.stats.unpaired + sum(runtime.pairer.pending())
        res.splits = {k: len(v) for k, v in splits.items()}
        for split, names in splits.items():
            atomic_write_bytes(out / f"{split}.txt", ("\n".join(names) + ("\n" if names else "")).encode())
        info = {"generator": "rgbt-seg bag-extract", "bag": str(bag), "topics": asdict(topics),
                "image_size": list(first_size) if first_size else None,
                "class_names": class_names, "palette": palette,
                "settings": {"every": config.every, "fps": config.fps, "dedup": config.dedup,
                             "keep_16bit": config.keep_16bit,
                             "thermal_homography": None if config.homography is None
                             else [float(v) for v in config.homography.reshape(-1)],
                             "thermal_offset": list(config.thermal_offset)},
                "result": {k: v for k, v in asdict(res).items() if k != "out"}}
        atomic_write_bytes(out / "extract.json", json.dumps(info, indent=2).encode())
    return res
