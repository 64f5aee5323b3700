"""Offline evaluation of a recorded bag with the node's own runtime and inference path.

Messages are fed in bag order to :class:`~rgbt_seg_core.runtime.SegmentationRuntime`, the object the ROS node
wraps, by the replay loop of :mod:`rgbt_seg_core.bags.replay` (the bag's receive time as the clock, every pair
kept). So frame checks, pairing, camera-failure fallback, clock-jump handling and output ordering are exactly the
node's; each output
comes from :class:`~rgbt_seg_core.inference.engine.InferenceEngine`, and where the bag carries ground-truth labels
(matched to the output's stamp, the RGB stamp) a confusion matrix is accumulated. Optionally writes an output bag
(RGB, labels with their LabelInfo, overlay, both gate maps) for RViz playback, its pictures raw or, as a
viewer over a network asks for them, in image_transport's compressed transport (the node's own encoders), and an
MP4 (or PNG sequence) of overlays.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import BagImage, ImageBagWriter
from rgbt_seg_core.bags.pairs import PairPlan
from rgbt_seg_core.bags.replay import BagReplay, bag_has_labels
from rgbt_seg_core.evaluation.metrics import ConfusionMatrix
from rgbt_seg_core.inference.engine import InferenceEngine, Preprocessing
from rgbt_seg_core.runtime import FrameResult, Outputs, RuntimeConfig, Work
from rgbt_seg_core.runtime.compressed_outputs import encode_jpeg
from rgbt_seg_core.settings.vocab import UNLABELLED
from rgbt_seg_core.utils.classes import label_map

__all__ = ["BagEvalResult", "PairsEvalResult", "evaluate_bag", "evaluate_pairs", "combine_results", "OUTPUT_TOPICS",
           "COMPRESSED_TOPICS", "LABEL_INFO_TOPIC"]

log = logging.getLogger(__name__)

OUTPUT_TOPICS = {"rgb": "/rgbt_seg/rgb", "labels": "/rgbt_seg/labels", "overlay": "/rgbt_seg/overlay",
                 "gate_rgb": "/rgbt_seg/gate/rgb", "gate_thermal": "/rgbt_seg/gate/thermal"}
# --out-compressed: the pictures in image_transport's compressed transport instead (labels PNG, lossless; RGB and
# overlay JPEG at jpeg_quality; the 32FC1 gate maps 16-bit PNG of round(gate * 65535), compressed_outputs.encode_gate:
# raw, they were most of a compressed bag), as the node publishes them
COMPRESSED_TOPICS = {"rgb": "/rgbt_seg/rgb/compressed", "labels": "/rgbt_seg/labels/compressed",
                     "overlay": "/rgbt_seg/overlay/compressed", "gate_rgb": "/rgbt_seg/gate/rgb/compressed",
                     "gate_thermal": "/rgbt_seg/gate/thermal/compressed"}
# the runtime encodes these (compressed_outputs' names: gate/rgb is COMPRESSED_TOPICS' gate_rgb); the RGB frame is
# encoded here
_COMPRESSED = frozenset({"labels", "overlay", "gate/rgb", "gate/thermal"})
# what the label ids mean (vision_msgs/LabelInfo: the checkpoint's classes and min_confidence), beside the labels,
# at the start and on each change, so that an output bag describes itself
LABEL_INFO_TOPIC = "/rgbt_seg/label_info"


@dataclass
class BagEvalResult:
    bag: str
    received: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    evaluated: int = 0  # outputs scored against a label
    unpaired: int = 0
    unlabelled_pairs: int = 0
    bad_frames: int = 0
    runtime: dict[str, int] = field(default_factory=dict)  # the node runtime's counters
    model_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    confusion: ConfusionMatrix | None = None
    error: str | None = None  # set when the bag broke off; everything above covers what was read before

    def summary(self, class_names: list[str]) -> dict[str, Any]:
        m = np.array(self.model_seconds) if self.model_seconds else None
        out: dict[str, Any] = {
            "bag": self.bag, "received": self.received, "pairs": self.pairs, "unpaired": self.unpaired,
            "evaluated": self.evaluated, "unlabelled_pairs": self.unlabelled_pairs, "bad_frames": self.bad_frames,
            "out_of_order": self.runtime.get("out_of_order", 0), "clock_jumps": self.runtime.get("clock_jumps", 0),
            "single_modality": self.runtime.get("single_modality", 0), "runtime": self.runtime,
            "throughput_fps": self.pairs / self.wall_seconds if self.wall_seconds > 0 else None,
            "model_ms_p50": float(1e3 * np.percentile(m, 50)) if m is not None else None,
            "model_ms_p95": float(1e3 * np.percentile(m, 95)) if m is not None else None,
            "error": self.error,
        }
        if self.confusion is not None and self.evaluated:
            out.update(self.confusion.scores(class_names).to_dict())
            out["confusion_matrix"] = self.confusion.matrix.tolist()
            # per true class, pixels predicted unlabelled (below min_confidence): misses, outside the matrix
            out["unlabelled_predictions"] = self.confusion.unlabelled.tolist()
        return out


class _VideoSink:
    """MP4 through OpenCV when its writer opens, else a PNG sequence in a folder of the same name."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.writer: cv2.VideoWriter | None = None
        self.png_dir: Path | None = None
        self.frames = 0

    def add(self, rgb: np.ndarray) -> None:
        if self.writer is None and self.png_dir is None:
            h, w = rgb.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h))
            if writer.isOpened():
                self.writer = writer
            else:
                self.png_dir = self.path.with_suffix("")
                self.png_dir.mkdir(parents=True, exist_ok=True)
                log.warning("no MP4 encoder available; writing PNG frames to %s", self.png_dir)
        if self.writer is not None:
            self.writer.write(rgb[:, :, ::-1])
        else:
            assert self.png_dir is not None
            cv2.imwrite(str(self.png_dir / f"{self.frames:06d}.png"), rgb[:, :, ::-1])
        self.frames += 1

    def close(self) -> str | None:
        if self.writer is not None:
            self.writer.release()
            return str(self.path)
        return str(self.png_dir) if self.png_dir is not None else None


class _Scorer:
    """Outputs and ground-truth labels meet on the RGB stamp, whichever comes first; each match is scored."""

    def __init__(self, res: BagEvalResult) -> None:
        self.res = res
        self.pred: dict[int, np.ndarray] = {}
        self.gt: dict[int, np.ndarray] = {}

    def add(self, which: dict[int, np.ndarray], stamp_ns: int, labels: np.ndarray) -> None:
        which[stamp_ns] = labels
        if stamp_ns in self.pred and stamp_ns in self.gt:
            gt, pred = self.gt.pop(stamp_ns), self.pred.pop(stamp_ns)
            if gt.shape != pred.shape:
                self.res.bad_frames += 1
                log.error("label at %d ns is %s, prediction %s; not scored", stamp_ns, gt.shape, pred.shape)
                return
            assert self.res.confusion is not None
            self.res.confusion.update(gt, pred)
            self.res.evaluated += 1

    def truth(self, item: BagImage, gt: np.ndarray | None) -> None:
        """A ground-truth label from the bag (None: it could not be read, a bad frame)."""
        if gt is None:
            self.res.bad_frames += 1
        else:
            self.add(self.gt, item.stamp_ns, gt)


def _write_label_info(writer: ImageBagWriter, engine: InferenceEngine, out: FrameResult, bag_time_ns: int) -> None:
    """LabelInfo with the labels' header, where it says something new (the first output, another frame id)."""
    class_map = label_map(engine.class_names, UNLABELLED)
    writer.write_label_info(LABEL_INFO_TOPIC, class_map, engine.config.min_confidence, out.stamp_ns * 1e-9,
                            str(out.header.frame_id), bag_time_ns)


def _write_outputs(writer: ImageBagWriter, out: FrameResult, bag_time_ns: int, jpeg_quality: int) -> None:
    stamp, frame = out.stamp_ns * 1e-9, str(out.header.frame_id)
    if out.compressed:  # --out-compressed
        encoded = {name.replace("/", "_"): c for name, c in out.compressed.items()}
        if out.rgb is not None:
            encoded["rgb"] = encode_jpeg(out.rgb, jpeg_quality, "rgb")
        for key, c in encoded.items():
            writer.write_encoded(COMPRESSED_TOPICS[key], c.data, c.format, stamp, frame, bag_time_ns)
        return
    images = [("rgb", out.rgb, "rgb8"), ("labels", out.labels, "mono8"), ("overlay", out.overlay, "rgb8")]
    if out.gates is not None:
        images += [("gate_rgb", out.gates[0], "32FC1"), ("gate_thermal", out.gates[1], "32FC1")]
    for key, image, encoding in images:
        if image is not None:
            writer.write_image(OUTPUT_TOPICS[key], image, encoding, stamp, frame, bag_time_ns)


def _wanted(writing: bool, compressed: bool, video: bool) -> Outputs:
    """What the replay asks the runtime for: the labels; for an output bag the gates and the overlay, raw or in
    their compressed forms with the labels' (``--out-compressed``); the overlay for a video."""
    encoded = _COMPRESSED if writing and compressed else frozenset()
    return Outputs(labels=True, overlay=(writing and not encoded) or video, gates=writing and not encoded,
                   compressed=encoded)


def evaluate_bag(
    bag: str | Path,
    engine: InferenceEngine,
    *,
    topics: BagTopics = BagTopics(),
    use_labels: bool | None = None,
    config: RuntimeConfig = RuntimeConfig(realtime=False),
    out_bag: Path | None = None,
    out_storage: str = "mcap",
    video: Path | None = None,
    video_fps: float = 10.0,
    progress: Callable[[int], object] | None = None,
    preprocessing: Preprocessing | None = None,
    out_compressed: bool = False,
) -> tuple[BagEvalResult, str | None]:
    """Returns the result and the path of the video written (or None).

    ``use_labels=None`` scores against ``topics.labels`` when the bag has it; True requires it; False ignores it.
    ``config`` is the node's runtime configuration; ``realtime`` is forced off so that every pair is segmented.
    ``preprocessing``: a camera pair's own registration and normalisation (None: the engine's).
    ``out_compressed``: ``out_bag`` holds the pictures compressed (:data:`COMPRESSED_TOPICS`) instead of raw."""
    bag = Path(bag)
    has_labels = bag_has_labels(bag, topics, require_labels=bool(use_labels))
    score = has_labels if use_labels is None else (use_labels and has_labels)
    replay = BagReplay(bag, topics, score, engine, config, preprocessing)
    res = BagEvalResult(str(bag), confusion=ConfusionMatrix(len(engine.class_names)) if score else None)
    scorer = _Scorer(res)
    sink = _VideoSink(video, video_fps) if video is not None else None
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(ImageBagWriter(out_bag, out_storage)) if out_bag is not None else None
        wanted = _wanted(writer is not None, out_compressed, sink is not None)

        def segment(work: Work, bag_time_ns: int) -> None:
            out = replay.runtime.process(work, wanted)
            if out is None:
                return
            res.model_seconds.append(out.model_seconds)
            if score:
                scorer.add(scorer.pred, out.stamp_ns, out.labels)
            else:
                res.unlabelled_pairs += 1
            if writer is not None:
                _write_label_info(writer, engine, out, bag_time_ns)
                _write_outputs(writer, out, bag_time_ns, config.jpeg_quality)
            if sink is not None and out.overlay is not None:
                sink.add(out.overlay)
            if progress:
                progress(replay.runtime.counts["processed"])

        t0 = time.perf_counter()
        try:
            replay.run(segment, scorer.truth)
        finally:
            res.wall_seconds = time.perf_counter() - t0
            _account(res, replay, len(scorer.pred) if score else 0)
            video_path = sink.close() if sink is not None else None
    return res, video_path


def _account(res: BagEvalResult, replay: BagReplay, unscored: int) -> None:
    """The runtime's counters into the result: what was read, paired, refused, left unpaired or unscored."""
    c = replay.runtime.counts
    res.received, res.error, res.runtime = replay.received, replay.error, dict(c)
    res.pairs = c["processed"]
    res.bad_frames += c["bad_rgb"] + c["bad_thermal"]
    res.unpaired = replay.unpaired
    res.unlabelled_pairs += unscored


@dataclass
class PairsEvalResult:
    """A bag of several camera pairs: each pair's result (its own replay, as if the bag held it alone), the topics
    no pair used, and the pairs taken together (:func:`combine_results`)."""

    bag: str
    pairs: dict[str, BagEvalResult]
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def combined(self) -> BagEvalResult:
        return combine_results(self.bag, list(self.pairs.values()))

    @property
    def error(self) -> str | None:
        return next((f"pair {p}: {r.error}" for p, r in self.pairs.items() if r.error), None)

    def summary(self, class_names: list[str]) -> dict[str, Any]:
        """The combined summary (the keys of a single pair's, its metrics from the summed confusion matrix), with
        ``camera_pairs``: each pair's own summary, and ``ignored_topics``."""
        out = self.combined.summary(class_names)
        out["error"] = self.error
        out["camera_pairs"] = {p: r.summary(class_names) for p, r in self.pairs.items()}
        out["ignored_topics"] = dict(self.ignored)
        return out


def combine_results(bag: str, results: list[BagEvalResult]) -> BagEvalResult:
    """Several pairs' results as one: counts summed, the confusion matrices summed (so the metrics are those of
    every scored frame together, not a mean of the pairs' metrics), the wall time of all the replays."""
    out = BagEvalResult(bag)
    for r in results:
        out.received.update(r.received)
        out.pairs += r.pairs
        out.evaluated += r.evaluated
        out.unpaired += r.unpaired
        out.unlabelled_pairs += r.unlabelled_pairs
        out.bad_frames += r.bad_frames
        for k, v in r.runtime.items():
            out.runtime[k] = out.runtime.get(k, 0) + v
        out.model_seconds += r.model_seconds
        out.wall_seconds += r.wall_seconds
        if r.confusion is not None:
            if out.confusion is None:
                out.confusion = ConfusionMatrix(r.confusion.num_classes)
            out.confusion.merge(r.confusion)
        out.error = out.error or r.error
    return out


def _per_pair(path: Path | None, pair: str, several: bool, folder: bool) -> Path | None:
    """A pair's own output: ``OUT/<pair>`` for a bag folder, ``NAME_<pair>.mp4`` for a video; unchanged for a
    single pair."""
    if path is None or not several:
        return path
    return path / pair if folder else path.with_name(f"{path.stem}_{pair}{path.suffix}")


def evaluate_pairs(
    bag: str | Path,
    engine: InferenceEngine,
    plan: PairPlan,
    configs: Mapping[str, tuple[RuntimeConfig, Preprocessing | None]],
    *,
    use_labels: bool | None = None,
    out_bag: Path | None = None,
    out_storage: str = "mcap",
    video: Path | None = None,
    progress: Callable[[int], object] | None = None,
    out_compressed: bool = False,
) -> tuple[PairsEvalResult, dict[str, str]]:
    """Each pair of ``plan`` replayed on its own through its own runtime (``configs``: the pair's runtime config
    and preprocessing, as the node gives them) and the one ``engine``; returns the results and the videos written,
    by pair. A pair's outputs go to ``out_bag/<pair>`` and ``<video stem>_<pair>.mp4`` where there are several."""
    results: dict[str, BagEvalResult] = {}
    videos: dict[str, str] = {}
    if out_bag is not None and plan.several:
        if out_bag.exists():
            raise FileExistsError(f"--out-bag {out_bag} already exists; choose another")
        out_bag.mkdir(parents=True)
    for pair, topics in plan.pairs.items():
        config, prep = configs[pair]
        res, written = evaluate_bag(bag, engine, topics=topics, use_labels=use_labels, config=config,
                                    out_bag=_per_pair(out_bag, pair, plan.several, True), out_storage=out_storage,
                                    video=_per_pair(video, pair, plan.several, False), progress=progress,
                                    preprocessing=prep, out_compressed=out_compressed)
        results[pair] = res
        if written:
            videos[pair] = written
        if res.error:
            break  # the bag broke off: the next pair would break at the same place
    return PairsEvalResult(str(bag), results, dict(plan.ignored)), videos
