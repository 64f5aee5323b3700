"""The one inference path: the ROS node, ``bag-eval``, ``eval`` and ``predict`` all segment through here.

:class:`InferenceEngine` is configured from a checkpoint (model, class names, palette; re-parameterised into
the deploy form) plus an :class:`InferenceConfig` (device, precision, thermal normalisation, registration). It
owns the preprocessing (:mod:`rgbt_seg_core.inference.preprocess`, torch on the device where the model runs) and
the thermal NaN rule (:func:`~rgbt_seg_core.inference.preprocess.thermal_problem`) for its single-frame call
(:meth:`~InferenceEngine.predict`) and its batch calls (:meth:`~InferenceEngine.predict_frames`, and
:meth:`~InferenceEngine.predict_batch` for labels alone) alike: all take raw camera arrays, so no caller builds
model inputs of its own. ``predict`` is the batch of one of ``predict_frames``, one code path, so a frame gets the
same prediction alone or in a batch of other camera pairs' frames (issue 26), each frame preprocessed with its own
pair's registration and thermal normalisation (:class:`~rgbt_seg_core.inference.preprocess.Preprocessing`).
Reduced precision (:mod:`rgbt_seg_core.inference.precision`: ``auto`` is fp16 on CUDA, bf16 on CPUs with native
bf16, else fp32) runs under autocast, the one mechanism everywhere, with channels-last memory layout where precision
is reduced (oneDNN and tensor cores are fastest in it). So the same frame gives the same labels in every tool, bit
for bit on the same device and precision.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rgbt_seg_core.deploy import BACKENDS, Runner, RunnerOptions, get_backend, open_runner, runner_max_batch
from rgbt_seg_core.inference.cuda_path import GraphCache, PinnedStaging
from rgbt_seg_core.inference.precision import autocast, check_int8, precision_name, resolve_precision
from rgbt_seg_core.inference.preprocess import Preprocessing, ThermalNorm, prepare_on_device, thermal_problem
from rgbt_seg_core.inference.registration import check_homography
from rgbt_seg_core.inference.render import (
    Renders,
    colorize,
    colorize_tensor,
    encode_confidence,
    grey_to_rgb,
    overlay,
    overlay_tensor,
    palette_lut,
)
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint, load_checkpoint
from rgbt_seg_core.models.checkpoint_file import CheckpointMeta
from rgbt_seg_core.models.contract import SegmentationModel
from rgbt_seg_core.settings.schema import Settings, default
from rgbt_seg_core.settings.spec import SettingsError
from rgbt_seg_core.settings.vocab import UNLABELLED
from rgbt_seg_core.utils.device import resolve_device

__all__ = ["InferenceConfig", "InferenceEngine", "BatchFrame", "Preprocessing", "Prediction", "Renders",
           "UnusableFrame", "BACKENDS", "class_ids", "top_confidence", "apply_min_confidence", "UNLABELLED",
           "download_packed", "pack_bytes", "unpack_bytes"]

log = logging.getLogger(__name__)

# CUDA graphs kept (least recently used dropped): one per (batch size, input size) met, and a node serving four camera
# pairs of two sizes meets up to eight
GRAPHS_KEPT = 8


class UnusableFrame(ValueError):
    """An input the engine refuses (the NaN rule); the message says why."""


@dataclass(frozen=True)
class InferenceConfig:
    """The engine's settings. Those that are node parameters take their defaults from the settings schema
    (:mod:`rgbt_seg_core.settings.schema`, where each is described); :meth:`from_settings` makes the config the
    node makes, for every tool that runs as the node runs."""

    device: str = default("device")
    precision: str = default("precision")  # see rgbt_seg_core.inference.precision
    backend: str = default("backend")  # one of BACKENDS (rgbt_seg_core.deploy)
    model_file: str = default("model_file")  # empty: made once into the cache
    openvino_device: str = default("openvino_device")
    channels_last: bool | None = None  # None: where precision is reduced
    cuda_graphs: bool = default("cuda_graphs")
    thermal_norm: ThermalNorm = field(default_factory=ThermalNorm)
    # (dx, dy) pixels that move thermal onto RGB
    thermal_offset: tuple[int, int] = (default("thermal_offset_x"), default("thermal_offset_y"))
    # 9 numbers, row-major: thermal pixel -> RGB pixel (rgbt_seg_core.inference.registration); None or all zeros
    # (the setting's default): not set
    thermal_homography: tuple[float, ...] | None = None
    warmup: int = default("warmup")
    # the largest batch, for a backend that fixes it when it builds (TensorRT's optimisation profile, made for
    # 1..max_batch); 0, as the setting's default: one frame per call of such a backend. Other backends take any
    # batch (their files' own bound; a larger batch runs in parts).
    max_batch: int = default("max_batch")
    # pixels whose winning class's softmax probability is below this get the id UNLABELLED (255); 0: off
    min_confidence: float = default("min_confidence")

    # what a running engine can take from reconfigure(); the rest chose its model, device and buffers at the start
    CHANGEABLE = ("thermal_norm", "thermal_offset", "thermal_homography", "warmup", "min_confidence")

    def __post_init__(self) -> None:
        if isinstance(self.min_confidence, bool) or not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1] (0: off), got {self.min_confidence!r}")
        check_int8(self.precision, self.backend, self.model_file)  # a quantised file is needed, not made on demand
        # parsed and checked once, when the config is made: a bad matrix fails here, naming why, not at a frame;
        # shared, read-only, by every frame and every engine given this config
        prep = Preprocessing(self.thermal_norm, self.thermal_offset, self.thermal_homography)
        object.__setattr__(self, "_preprocessing", prep)

    def homography(self) -> np.ndarray | None:
        """The 3x3 thermal -> RGB matrix, or None where none is set."""
        return self.preprocessing().homography()

    def preprocessing(self) -> Preprocessing:
        """The engine's default preprocessing: what a frame without its own gets."""
        return self._preprocessing  # type: ignore[attr-defined]  # set by __post_init__ (frozen), not a field

    @classmethod
    def from_settings(cls, s: Settings, **overrides: Any) -> "InferenceConfig":
        """The engine's config from the node's settings (the node's own path: ``rgbt_seg_ros.params``); a tool
        overrides what it does differently (``warmup=0`` offline). Raises ValueError as the config's checks do; a
        homography that maps no camera onto another as :class:`SettingsError` naming the parameter."""
        try:
            check_homography(s.thermal_homography)
        except ValueError as exc:
            raise SettingsError(f"parameter thermal_homography: {exc}") from None
        norm = ThermalNorm(mode=s.thermal_norm, range=s.thermal_range(),
                           percentiles=(s.thermal_percentile_low, s.thermal_percentile_high))
        values = dict(device=s.device, precision=s.precision, backend=s.backend, model_file=s.model_file,
                      openvino_device=s.openvino_device, cuda_graphs=s.cuda_graphs, thermal_norm=norm,
                      thermal_offset=(s.thermal_offset_x, s.thermal_offset_y),
                      thermal_homography=tuple(s.thermal_homography), warmup=s.warmup,
                      max_batch=s.max_batch or len(s.pairs),  # the setting's 0: one per camera pair
                      min_confidence=s.min_confidence)
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class BatchFrame:
    """One frame of a batch (:meth:`InferenceEngine.predict_frames`), with what its camera pair asks for: its own
    preprocessing (None: the engine's), gates and confidence (``want_gates``), pictures (``render``), and whether
    the caller applied the NaN rule already (``thermal_checked``), each as :meth:`InferenceEngine.predict` takes it."""

    rgb: np.ndarray | None
    thermal: np.ndarray | None
    preprocessing: Preprocessing | None = None
    want_gates: bool = False
    render: Renders | None = None
    thermal_checked: bool = False


class Prediction(NamedTuple):
    labels: np.ndarray  # H x W uint8 class ids
    confidence: np.ndarray | None  # (2,) raw confidences (rgb, thermal)
    gates: np.ndarray | None  # 2 x H x W float32: stride-4 spatial gate maps x gate, resized to the input
    # model time: preprocessing to labels on the host (on a GPU, to every output on the host); in a batch, the
    # batch's time, which each of its frames waited
    seconds: float
    color: np.ndarray | None = None  # H x W x 3 uint8, with render=Renders(color=True)
    overlay: np.ndarray | None = None  # H x W x 3 uint8 (over the thermal view in grey where there is no RGB)
    # H x W, the winning class's softmax probability (Renders(confidence=...)'s encoding: float32, or uint8 0..255)
    label_confidence: np.ndarray | None = None


class InferenceEngine:
    def __init__(self, checkpoint: str | Path | LoadedCheckpoint, config: InferenceConfig = InferenceConfig()) -> None:
        backend = get_backend(config.backend)  # any registered backend; an unknown name lists the known ones
        loaded = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_checkpoint(checkpoint)
        model = loaded.model
        if not loaded.meta.deploy:
            model.reparameterize()
        if backend.runner is not None:  # the backend's model is made from the deploy form (on the CPU)
            device = resolve_device(config.device)
            options = RunnerOptions(config.backend, config.precision, config.model_file, config.openvino_device,
                                    max(1, config.max_batch))
            runner = open_runner(loaded, model.eval(), options, device)
            self._setup(model, loaded.meta, config, runner)
        else:
            self._setup(model, loaded.meta, config)

    @classmethod
    def from_model(cls, model: SegmentationModel, meta: CheckpointMeta, config: InferenceConfig = InferenceConfig()
                   ) -> "InferenceEngine":
        """An engine around a model in memory, as it is (validation during training scores the training form)."""
        if get_backend(config.backend).runner is not None:
            raise ValueError("an engine around a model in memory runs torch; other backends start from a checkpoint")
        engine = cls.__new__(cls)
        engine._setup(model, meta, config)
        return engine

    def _setup(self, model: SegmentationModel, meta: CheckpointMeta, config: InferenceConfig,
               runner: Runner | None = None) -> None:
        self.meta = meta
        self._set_config(config)
        self._runner = runner
        self.device = resolve_device(config.device)
        if runner is not None:  # the backend computes in its own precision, from plain NCHW float32 inputs
            self._precision_name, self.channels_last = runner.precision, False
            self.dtype = torch.float32
            self._input_device = runner.device
            self.model = model.cpu().eval()  # not run (labels and logits come from the backend); for inspection
        else:
            self.dtype = resolve_precision(config.precision, self.device)
            self._precision_name = precision_name(self.dtype)
            self.channels_last = config.channels_last if config.channels_last is not None else \
                self.dtype != torch.float32
            self._input_device = self.device
            self.model = model.to(self.device).eval()
            if self.channels_last:
                self.model = self.model.to(memory_format=torch.channels_last)
        cuda = self._input_device.type == "cuda"
        self._lut = palette_lut(meta.palette)
        # pictures are made where the labels are: on the GPU when the labels are there (torch or TensorRT)
        self._lut_device = torch.from_numpy(self._lut).to(self._input_device) if cuda else None
        self._staging = PinnedStaging(self._input_device) if cuda else None
        # one graph per (batch size, input size) met: a node's camera pairs give a few of each; the labels with
        # their confidence (~/label_confidence, min_confidence) are graphs of their own, so labels alone cost no more
        graphed = cuda and runner is None and config.cuda_graphs
        self._graphs = GraphCache(self._labels_eager, self.device, capacity=GRAPHS_KEPT) if graphed else None
        self._scored_graphs = GraphCache(self._scored_eager, self.device, capacity=GRAPHS_KEPT) if graphed else None
        self._max_batch = runner_max_batch(runner) if runner is not None else None

    def _check_classes(self, config: InferenceConfig) -> None:
        n = len(self.meta.class_names)
        if config.min_confidence > 0 and n > UNLABELLED:  # id 255 would be a class, not "unlabelled"
            raise ValueError(f"min_confidence {config.min_confidence:g}: model {self.meta.model} has {n} classes, so "
                             f"id {UNLABELLED} (the unlabelled id of pixels below min_confidence) is one of them; "
                             "run it with min_confidence 0")

    def _set_config(self, config: InferenceConfig) -> None:
        self._check_classes(config)
        # one object, read once per batch: a reconfigure from another thread never mixes two configs in one batch
        self._preprocessing = config.preprocessing()
        self.config = config

    def reconfigure(self, config: InferenceConfig) -> None:
        """Apply new preprocessing settings (thermal normalisation, offset, homography) and ``min_confidence`` to a
        running engine. The model, device, precision and backend were fixed when it was made: a config that changes
        them is refused (:meth:`check_reconfigure`)."""
        self.check_reconfigure(config)
        self._set_config(config)

    def check_reconfigure(self, config: InferenceConfig) -> None:
        """Raise ValueError, saying why, where :meth:`reconfigure` would refuse ``config``; change nothing (the node
        asks before it takes new parameters, so that a refused value is refused with its reason)."""
        fixed = [f.name for f in fields(InferenceConfig) if f.name not in InferenceConfig.CHANGEABLE
                 and getattr(config, f.name) != getattr(self.config, f.name)]
        if fixed:
            raise ValueError(f"inference settings {', '.join(fixed)} are fixed once the engine is made; make a new one")
        self._check_classes(config)

    @property
    def precision(self) -> str:
        """The precision actually used (``auto`` resolved; a backend's own choice where it makes one)."""
        return self._precision_name

    @property
    def backend(self) -> str:
        return self.config.backend

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    @property
    def palette(self) -> list[list[int]]:
        return self.meta.palette

    def _precision(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.dtype)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def warmup(self, height: int = default("warmup_height"), width: int = default("warmup_width"),
               batch_sizes: Sequence[int] = (1,)) -> None:
        """Run ``config.warmup`` rounds of blank frames at each of ``batch_sizes`` (a node serving several camera
        pairs passes the batch sizes it will meet, so each one's CUDA graph is captured before the first frame)."""
        rgb = np.zeros((height, width, 3), np.uint8)
        thermal = np.zeros((height, width), np.uint8)
        scored = Renders(confidence="32FC1")
        for _ in range(max(0, self.config.warmup)):  # each pass: labels only (captures the CUDA graph), gates
            for b in batch_sizes:
                self.predict_frames([BatchFrame(rgb, thermal)] * b)
                self.predict_frames([BatchFrame(rgb, thermal, want_gates=True)] * b)
                if self._scored_graphs is not None:  # ~/label_confidence's graph, before its first subscriber
                    self.predict_frames([BatchFrame(rgb, thermal, render=scored)] * b)

    def tensors(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, thermal_checked: bool = False,
                staged: bool = True, preprocessing: Preprocessing | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """1 x 3 x H x W and 1 x 1 x H x W float32 input tensors where the model runs, preprocessed with
        ``preprocessing`` (default: the engine's config's).

        Applies the NaN rule unless ``thermal_checked`` (the caller applied it already, as the runtime does on
        arrival). On CUDA with ``staged`` the raw arrays go up through the pinned buffers, which one frame at a time
        may reuse; a batch (whose frames of one size would share a buffer in flight) uploads plainly."""
        if thermal is not None and not thermal_checked:
            problem, _ = thermal_problem(thermal)
            if problem is not None:
                raise UnusableFrame(f"thermal: {problem}")
        prep = preprocessing if preprocessing is not None else self._preprocessing
        # the homography maps into the RGB frame: a thermal-only frame stays in its own
        hom = prep.homography() if rgb is not None else None
        upload = self._staging.upload if self._staging is not None and staged else None
        r, t = prepare_on_device(rgb, thermal, prep.thermal_norm, prep.thermal_offset, self._input_device, upload,
                                 hom, self.channels_last)
        return self._layout(r), self._layout(t)

    def batch_tensors(self, frames: Sequence[BatchFrame], places: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """B x 3 x H x W and B x 1 x H x W inputs where the model runs, each frame preprocessed with its own
        settings (what :meth:`predict_frames` feeds the model; the GPU check times the model from them). ``places``:
        an error names the frame's place in the batch (a batch of one, :meth:`predict`, says it as it always has)."""
        if not frames:
            raise ValueError("a batch needs at least one frame; got none")
        default_prep = self._preprocessing  # read once: one reconfigure applies to the whole batch or none of it
        staged = len(frames) == 1
        inputs = []
        for i, f in enumerate(frames):
            try:
                inputs.append(self.tensors(f.rgb, f.thermal, thermal_checked=f.thermal_checked, staged=staged,
                                           preprocessing=f.preprocessing or default_prep))
            except UnusableFrame as exc:
                raise UnusableFrame(f"batch frame {i}: {exc}" if places else str(exc)) from None
            except ValueError as exc:
                if not places:
                    raise
                raise ValueError(f"batch frame {i}: {exc}") from None
            if inputs[i][0].shape[2:] != inputs[0][0].shape[2:]:
                size, first = tuple(inputs[i][0].shape[2:]), tuple(inputs[0][0].shape[2:])
                raise ValueError(f"batch frame {i} is {size[0]}x{size[1]}, frame 0 {first[0]}x{first[1]}: a batch's "
                                 "frames must have one size (frames of other sizes go in batches of their own)")
        if len(inputs) == 1:
            return inputs[0]
        rs, ts = torch.cat([x for x, _ in inputs]), torch.cat([y for _, y in inputs])
        return self._layout(rs), self._layout(ts)

    def thermal_view(self, thermal: np.ndarray) -> np.ndarray:
        """H x W float32 in [0, 1] on the host: a thermal-only frame as the model sees it (normalised, offset), to
        show where there is no RGB image."""
        with torch.inference_mode():
            t = self.tensors(None, thermal, thermal_checked=True, staged=False)[1]
        return t[0, 0].float().cpu().numpy()

    def _labels_eager(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        with self._precision():
            logits = self.model(rgb, thermal)
        return class_ids(logits)

    def _scored_eager(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._precision():
            logits = self.model(rgb, thermal)
        return top_confidence(logits)  # in float32, outside autocast

    def _labels(self, rgb: torch.Tensor, thermal: torch.Tensor, scored: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """B x H x W uint8 class ids where the model ran, with their confidence (:func:`top_confidence`) where
        ``scored``, else None: the backend's logits give both, so every backend gives it. A runner whose file takes
        fewer frames at once than the batch holds (a file made before the batch axis takes one) runs it in parts of
        what it takes."""
        if self._runner is not None:
            if scored:
                return self._runner_in_parts(rgb, thermal, top_confidence)
            return self._runner_in_parts(rgb, thermal, class_ids), None
        if scored and self._scored_graphs is not None:
            return self._scored_graphs(rgb, thermal)
        if not scored and self._graphs is not None:
            return self._graphs(rgb, thermal), None
        return self._scored_eager(rgb, thermal) if scored else (self._labels_eager(rgb, thermal), None)

    def _runner_in_parts(self, rgb: torch.Tensor, thermal: torch.Tensor, each: Callable[[torch.Tensor], Any]) -> Any:
        """``each`` of the runner's logits over the batch, run in parts of what its file takes at once (a file made
        before the batch axis takes one frame), joined in order (a tuple of tensors item by item)."""
        assert self._runner is not None
        step = self._max_batch or 1
        if rgb.shape[0] <= step:
            return each(self._runner(rgb, thermal))
        parts = [each(self._runner(rgb[i:i + step], thermal[i:i + step])) for i in range(0, rgb.shape[0], step)]
        if isinstance(parts[0], tuple):
            return tuple(torch.cat(items) for items in zip(*parts))
        return torch.cat(parts)

    @torch.inference_mode()
    def predict(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, want_gates: bool = False,
                thermal_checked: bool = False, render: Renders | None = None,
                preprocessing: Preprocessing | None = None) -> Prediction:
        """One frame from raw camera arrays (uint8 H x W x 3 RGB; uint8, uint16 or float H x W thermal; either
        may be None, and is then blanked). Raises :class:`UnusableFrame` for thermal the NaN rule refuses, unless
        ``thermal_checked`` says the caller applied the rule already.

        Gates (``want_gates``) come from the torch model's eager pass; other backends compute labels only.
        ``render`` asks for the colour image and the overlay too, made where the labels are
        (:mod:`rgbt_seg_core.inference.render`); on a GPU, every output comes back in one download.
        ``preprocessing``: this frame's own (another camera pair's), instead of the engine's config's.
        The batch of one of :meth:`predict_frames`: the same code, so the two cannot drift apart."""
        frame = BatchFrame(rgb, thermal, preprocessing, want_gates, render, thermal_checked)
        return self._predict([frame], places=False)[0]

    @torch.inference_mode()
    def predict_frames(self, frames: Sequence[BatchFrame]) -> list[Prediction]:
        """One :class:`Prediction` per frame, each what :meth:`predict` gives for that frame alone, from one
        forward pass over all of them. The frames must have one size (the RGB image's, else thermal's); each is
        preprocessed with its own :class:`Preprocessing` (None: the engine's) and gets the outputs it asks for.
        Errors name the frame's place in the batch (``batch frame 2: ...``); :class:`UnusableFrame` for the NaN
        rule. Every prediction's ``seconds`` is the batch's time."""
        return self._predict(list(frames), places=True)

    def _predict(self, frames: list[BatchFrame], places: bool) -> list[Prediction]:
        for i, f in enumerate(frames):
            if not isinstance(f, BatchFrame):
                raise TypeError(f"batch frame {i}: expected a BatchFrame, got {type(f).__name__}")
        t0 = time.perf_counter()
        threshold = self.config.min_confidence  # read once, as the preprocessing is: one config per batch
        r, t = self.batch_tensors(frames, places)
        h, w = r.shape[2:]
        # the labels' confidence only where a frame asks for it or min_confidence needs it: else not computed
        scored = threshold > 0 or any(f.render is not None and f.render.confidence for f in frames)
        gates = confidence = None
        if not any(f.want_gates for f in frames) or self._runner is not None:
            labels, score = self._labels(r, t, scored)
        else:  # one gated pass serves the batch; a frame that did not ask gets none of its gates
            with self._precision():
                out = self.model.forward_with_gates(r, t)
            if out.gates:
                gates = F.interpolate(out.gates[0].float(), size=(h, w), mode="bilinear", align_corners=False)
            labels, score = top_confidence(out.logits) if scored else (class_ids(out.logits), None)
            confidence = out.confidence.float() if out.confidence is not None else None
        labels = apply_min_confidence(labels, score, threshold)
        per_frame = []
        for i, f in enumerate(frames):
            wanted, render = f.want_gates, f.render or Renders()
            per_frame.append((labels[i], gates[i] if wanted and gates is not None else None,
                              confidence[i] if wanted and confidence is not None else None, render,
                              encode_confidence(score[i], render.confidence)
                              if render.confidence and score is not None else None))
        if labels.device.type == "cuda":  # the model's time includes the pictures' kernels and the one download
            outs = self._outputs_on_device(per_frame, frames, r, t)
            seconds = time.perf_counter() - t0
        else:  # the labels are done (CPU ops are synchronous); the pictures are the node's work, not the model's
            seconds = time.perf_counter() - t0
            outs = [self._outputs_on_host(*parts, f.rgb, t[i:i + 1])
                    for i, (parts, f) in enumerate(zip(per_frame, frames))]
        return [Prediction(lab, conf, gat, seconds, color, over, score)
                for lab, gat, conf, color, over, score in outs]

    @torch.inference_mode()
    def logits(self, frames: Sequence[BatchFrame]) -> torch.Tensor:
        """B x C x H x W float32 logits on the host for a batch, preprocessed as :meth:`predict_frames` does, from
        the backend the labels come from: for comparing backends, and a batch with its frames one at a time, where
        labels alone could hide a drift (``export --verify`` compares logits the same way)."""
        r, t = self.batch_tensors(list(frames), places=True)
        if self._runner is not None:
            out = self._runner_in_parts(r, t, lambda logits: logits.float().cpu())
        else:
            with self._precision():
                out = self.model(r, t).float().cpu()
        return out.contiguous()

    def _outputs_on_host(self, labels: torch.Tensor, gates: torch.Tensor | None, confidence: torch.Tensor | None,
                         render: Renders, score: torch.Tensor | None, rgb: np.ndarray | None, t: torch.Tensor
                         ) -> tuple:
        lab = labels.numpy()
        color = colorize(lab, self._lut) if render.color or render.overlay else None
        over = None
        if render.overlay:
            base = rgb if rgb is not None else grey_to_rgb(self._thermal_grey(t).numpy())
            over = overlay(base, lab, self._lut, render.alpha, color=color)
        return (lab, None if gates is None else gates.numpy(), None if confidence is None else confidence.numpy(),
                color if render.color else None, over, None if score is None else score.numpy())

    def _outputs_on_device(self, per_frame: list[tuple], frames: Sequence[BatchFrame], r: torch.Tensor,
                           t: torch.Tensor) -> list[tuple]:
        """Every frame's outputs made on the GPU, brought back in one copy for the whole batch
        (:func:`download_packed`), then cut into each frame's six (labels, gates, confidence, colour, overlay, the
        labels' confidence)."""
        assert self._lut_device is not None
        parts: list[torch.Tensor | None] = []
        for i, ((labels, gates, confidence, render, score), f) in enumerate(zip(per_frame, frames)):
            color = colorize_tensor(labels, self._lut_device) if render.color or render.overlay else None
            over = None
            if render.overlay:
                assert color is not None
                if f.rgb is None:
                    base = self._thermal_grey(t[i:i + 1]).unsqueeze(-1).expand(-1, -1, 3)
                else:  # the uploaded image, back to its bytes: x / 255 * 255 rounds back to x exactly
                    base = (r[i].permute(1, 2, 0).float() * 255.0).round_().to(torch.uint8)
                over = overlay_tensor(base, labels, color, render.alpha)
            parts += [labels, gates, confidence, color if render.color else None, over, score]
        host = download_packed(parts, self._staging)
        return [tuple(host[k:k + 6]) for k in range(0, len(host), 6)]

    @staticmethod
    def _thermal_grey(t: torch.Tensor) -> torch.Tensor:
        """H x W uint8: the thermal input as the model saw it, in grey (what a thermal-only overlay is drawn on)."""
        return (t[0, 0].float() * 255.0 + 0.5).to(torch.uint8)

    @torch.inference_mode()
    def predict_batch(self, rgb: Sequence[np.ndarray | None], thermal: Sequence[np.ndarray | None]) -> torch.Tensor:
        """Class ids B x H x W (uint8, on the device) for B frames of one size, raw camera arrays as :meth:`predict`
        takes them, with the engine's preprocessing: labels alone, for the evaluator, which scores them where they
        are. The same pass as :meth:`predict_frames` (whose frames can each have their own preprocessing).
        :class:`UnusableFrame` names the refused frame's place in the batch."""
        if len(rgb) != len(thermal) or not len(rgb):
            raise ValueError(f"a batch needs as many RGB as thermal frames, at least one; got {len(rgb)} and "
                             f"{len(thermal)}")
        threshold = self.config.min_confidence
        r, t = self.batch_tensors([BatchFrame(a, b) for a, b in zip(rgb, thermal)], places=True)
        labels, score = self._labels(r, t, scored=threshold > 0)
        if threshold > 0:  # a new tensor, not the graph's output
            return apply_min_confidence(labels, score, threshold)
        return labels.clone() if self._graphs is not None else labels  # a graph's output is its next replay's too


def class_ids(logits: torch.Tensor) -> torch.Tensor:
    """B x C x H x W logits -> B x H x W uint8 labels, the first class of the highest logit (as argmax).

    ``max(dim=1).indices`` rather than ``argmax(dim=1)``: the same indices, but on the CPU torch's argmax over a
    non-innermost dimension took 51 ms for 9 x 480 x 640 logits, max 3.6 ms (2 threads), and that was a third of
    the INT8 model's whole frame time."""
    return logits.max(dim=1).indices.to(torch.uint8)


@torch.no_grad()  # a published measure, never a loss: the class-by-class accumulation writes into its buffers
def top_confidence(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B x C x H x W logits -> :func:`class_ids`' labels and B x H x W float32 confidence: the winning class's
    softmax probability, computed where the logits are.

    With m the highest logit, softmax's largest entry is exp(m - m) / sum_c exp(l_c - m) = 1 / sum_c exp(l_c - m).
    The sum is accumulated a class at a time into one B x H x W buffer, so no C-fold softmax (or exp) copy of the
    logits is made, and subtracting m first keeps every exp within (0, 1], whatever the logits' precision (fp16 and
    bf16 logits are widened to float32 class by class)."""
    top = logits.max(dim=1)
    peak = top.values.float()
    total = torch.zeros_like(peak)
    term = torch.empty_like(peak)
    for c in range(logits.shape[1]):
        torch.sub(logits[:, c], peak, out=term)
        total += term.exp_()
    return top.indices.to(torch.uint8), total.reciprocal_()


def apply_min_confidence(labels: torch.Tensor, confidence: torch.Tensor | None, threshold: float) -> torch.Tensor:
    """``labels`` with every pixel whose ``confidence`` is below ``threshold`` (compared in the confidence's float32,
    as it is published) set to :data:`UNLABELLED`; ``labels`` themselves where ``threshold`` is 0 (off)."""
    if threshold <= 0:
        return labels
    if confidence is None:
        raise ValueError(f"min_confidence {threshold:g} needs the labels' confidence, and none was computed")
    return labels.masked_fill(confidence < threshold, UNLABELLED)


def download_packed(parts: Sequence[torch.Tensor | None], staging: PinnedStaging | None = None
                    ) -> list[np.ndarray | None]:
    """Tensors on one device as host arrays, in one device-to-host copy: their bytes are laid end to end in one
    buffer (:func:`pack_bytes`), which comes back whole (through ``staging``'s pinned memory where given) and is
    cut into views (:func:`unpack_bytes`). Host tensors come back as they are, without a copy."""
    present = [p for p in parts if p is not None]
    if not present or present[0].device.type == "cpu":
        return [None if p is None else p.numpy() for p in parts]
    flat = pack_bytes(parts)
    return unpack_bytes(staging.download(flat) if staging is not None else flat.cpu().numpy(), parts)


def _packing_order(parts: Sequence[torch.Tensor | None]) -> list[tuple[int, torch.Tensor]]:
    """The parts with their places, widest element type first, so that every part starts aligned to its own type."""
    present = [(i, p) for i, p in enumerate(parts) if p is not None]
    return sorted(present, key=lambda item: -item[1].element_size())


def pack_bytes(parts: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """The tensors' bytes end to end (widest types first; None skipped), as one flat uint8 tensor on their device."""
    return torch.cat([p.contiguous().reshape(-1).view(torch.uint8) for _, p in _packing_order(parts)])


def unpack_bytes(host: np.ndarray, parts: Sequence[torch.Tensor | None]) -> list[np.ndarray | None]:
    """:func:`pack_bytes`' buffer, back on the host, as one array per part (views, no copies); None stays None."""
    out: list[np.ndarray | None] = [None] * len(parts)
    offset = 0
    for i, p in _packing_order(parts):
        n = p.numel() * p.element_size()
        dtype = np.dtype(str(p.dtype).removeprefix("torch."))
        out[i] = host[offset:offset + n].view(dtype).reshape(tuple(p.shape))
        offset += n
    if offset != host.size:
        raise ValueError(f"packed buffer holds {host.size} bytes, its parts {offset}")
    return out
