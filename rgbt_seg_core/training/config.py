"""Training configuration: one dataclass whose fields are the YAML keys and the ``--set key=value`` names.

Precedence, lowest first: dataclass defaults < ``rgbt_seg_core/training/presets/<dataset>.yaml`` (its top level, then
each ``by_model`` section whose model name or pattern, e.g. ``cimnet*``, matches: the paper's Table I) <
``--config FILE`` (same format) < ``--set key=value`` < explicit command-line flags. Unknown keys are errors that
name the key and the file.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import yaml

__all__ = ["TrainConfig", "resolve_train_config", "train_config_dir", "preset_path", "list_presets"]


@dataclass
class TrainConfig:
    dataset: str = "synthetic"
    data_root: str = ""
    model: str = "rsfnet50_18"
    out: str = "runs/exp"
    model_options: dict[str, Any] = field(default_factory=dict)
    pretrained: Any = False  # False | "imagenet" | folder of torchvision weights | rgbt-seg checkpoint
    epochs: int = 300
    max_iters: int | None = None  # caps the schedule length (poly decay runs over it)
    stop_after_iters: int | None = None  # stop early with a resumable checkpoint; the schedule is unchanged
    batch_size: int = 8
    crop: list[int] | None = field(default_factory=lambda: [256, 512])
    flip: bool = True
    max_rotation: float = 10.0
    optimizer: str = "sgd"  # "sgd" (RSFNet §IV-B) or "adamw" (CIMNet §V-A)
    lr: float = 0.01
    momentum: float = 0.9  # sgd only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw only
    weight_decay: float = 5e-4
    schedule: str = "poly"  # "poly": lr (1 - it/total)^poly_power; "step": x lr_gamma at each epoch of lr_steps
    poly_power: float = 0.9
    lr_steps: list[int] = field(default_factory=list)  # "step": x lr_gamma once this many epochs are done
    lr_gamma: float = 0.1
    warmup_iters: int = 0  # linear warm-up from lr / warmup_iters to the schedule's lr over these iterations
    reg_weight: float = 0.3
    aux_weight: float = 1.0
    class_weight_c: float = 1.05
    # recipe options: the paper's method by default; rgbt_seg_core/training/presets/mfnet_authors.yaml sets the authors'
    # published code's choices (docs/training.md has the source of each)
    pseudo_labels: dict[str, Any] = field(default_factory=lambda: {"restrict_to_boxes": False})
    confidence_target: str = "confidence"  # "confidence": regress p^ (paper Eq. 10); "gate": the normalised gates
    encoder_lr_mult: float = 1.0  # encoders train at lr x this; new layers at lr
    blur_prob: float = 0.0  # probability of a Gaussian blur of both images (sigma 0.1..2 px)
    train_split: str = "train"
    val_split: str | None = "val"
    val_every: int = 1
    save_every: int = 1  # epochs between resumable checkpoints; the last epoch is always saved
    thermal: str = "8bit"  # pst900 only: "8bit" or "raw" (16-bit thermal_raw)
    dataset_options: dict[str, Any] = field(default_factory=dict)  # the loader's options (kust4k: folder names)
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 2
    device: str = "auto"
    # Mixed precision (autocast) for training and validation: auto is fp16 on CUDA (with loss scaling), bf16 on CPUs
    # with native bf16 (AMX or AVX512_BF16), fp32 elsewhere; as the engine's precision setting.
    precision: str = "auto"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    # under torchrun: seconds a rank waits for the others at a collective before it stops with "peer lost"; long
    # enough for rank 0's checkpoint writes and for the slowest rank's validation slice
    dist_timeout: float = 300.0
    cache_dir: str | None = None
    tensorboard: bool = True
    progress: bool = True

    def validate(self) -> None:
        def bad(key: str, why: str) -> ValueError:
            return ValueError(f"training option {key}={getattr(self, key)!r} is invalid: {why}")

        for key in ("epochs", "batch_size", "val_every", "save_every"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise bad(key, "must be a positive integer")
        for key in ("max_iters", "stop_after_iters"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise bad(key, "must be a positive integer or null")
        if self.crop is not None and (len(self.crop) != 2 or min(self.crop) < 32):
            raise bad("crop", "must be [height, width], each >= 32, or null for full frames")
        if self.lr <= 0 or self.momentum < 0 or self.weight_decay < 0 or self.poly_power < 0:
            raise ValueError("lr must be > 0 and momentum, weight_decay, poly_power >= 0")
        if not 0 <= self.max_rotation <= 180:
            raise bad("max_rotation", "must lie in [0, 180] degrees")
        if not isinstance(self.pseudo_labels, dict) or set(self.pseudo_labels) - {"restrict_to_boxes"} or \
                not isinstance(self.pseudo_labels.get("restrict_to_boxes", False), bool):
            raise bad("pseudo_labels", "takes only restrict_to_boxes: true|false")
        if self.confidence_target not in ("confidence", "gate"):
            raise bad("confidence_target", "must be 'confidence' (the paper) or 'gate' (the authors' code)")
        if not (isinstance(self.encoder_lr_mult, (int, float)) and 0 < self.encoder_lr_mult <= 10):
            raise bad("encoder_lr_mult", "must lie in (0, 10]")
        if self.optimizer not in ("sgd", "adamw"):
            raise bad("optimizer", "must be 'sgd' or 'adamw'")
        if self.schedule not in ("poly", "step"):
            raise bad("schedule", "must be 'poly' or 'step'")
        if not (isinstance(self.betas, (list, tuple)) and len(self.betas) == 2
                and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)):
            raise bad("betas", "must be two numbers in [0, 1)")
        if not (isinstance(self.lr_steps, (list, tuple)) and all(isinstance(e, int) and e >= 1 for e in self.lr_steps)):
            raise bad("lr_steps", "must be a list of epochs >= 1")
        if not (isinstance(self.lr_gamma, (int, float)) and 0 < self.lr_gamma <= 1):
            raise bad("lr_gamma", "must lie in (0, 1]")
        if not isinstance(self.warmup_iters, int) or self.warmup_iters < 0:
            raise bad("warmup_iters", "must be an integer >= 0")
        if not isinstance(self.dataset_options, dict):
            raise bad("dataset_options", "must be a mapping of loader options")
        if not (isinstance(self.blur_prob, (int, float)) and 0 <= self.blur_prob <= 1):
            raise bad("blur_prob", "must lie in [0, 1]")
        from rgbt_seg_core.inference.precision import TORCH_PRECISIONS

        if self.precision not in TORCH_PRECISIONS:
            raise bad("precision", f"must be one of {', '.join(TORCH_PRECISIONS)}")
        if self.thermal not in ("8bit", "raw"):
            raise bad("thermal", "must be '8bit' or 'raw'")
        if isinstance(self.dist_timeout, bool) or not isinstance(self.dist_timeout, (int, float)) \
                or not 0 < self.dist_timeout < 1e7:
            raise bad("dist_timeout", "must be a number of seconds, > 0 and < 1e7")
        if self.num_workers < 0 or self.threads < 0:
            raise ValueError("num_workers and threads must be >= 0")
        if not self.data_root:
            raise ValueError("training needs --data-root (the data set folder)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_config_dir() -> Path:
    """The training presets, shipped as package data of ``rgbt_seg_core`` so that every install (pip, colcon,
    editable, any prefix) finds them next to the code that reads them."""
    return Path(__file__).resolve().parent / "presets"


def preset_path(dataset: str) -> Path:
    """The preset of a known data set; a missing one means a broken install, never silent defaults."""
    from rgbt_seg_core.data import DATASETS

    path = train_config_dir() / f"{dataset}.yaml"
    if dataset in DATASETS and not path.is_file():
        raise FileNotFoundError(f"training preset for {dataset!r} missing: expected {path} (a broken install? "
                                "reinstall rgbt-seg)")
    return path


def _apply(cfg: TrainConfig, values: dict[str, Any], source: str) -> None:
    names = {f.name for f in fields(TrainConfig)}
    for key, value in values.items():
        if key == "by_model":
            continue
        if key not in names:
            raise ValueError(f"{source}: unknown training option {key!r}")
        if key in ("model_options", "pseudo_labels", "dataset_options"):
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{source}: {key} must be a mapping, got {value!r}")
            merged = dict(getattr(cfg, key))
            merged.update(value or {})
            value = merged
        setattr(cfg, key, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of training options")
    return data


def _layer(cfg: TrainConfig, data: dict[str, Any], source: str) -> None:
    _apply(cfg, data, source)
    by_model = data.get("by_model") or {}
    if not isinstance(by_model, dict):
        raise ValueError(f"{source}: by_model must map model names (or patterns such as rsfnet*) to options")
    for pattern, values in by_model.items():  # in file order: a family's pattern first, then exact names
        if fnmatch.fnmatchcase(cfg.model, str(pattern)):
            if not isinstance(values, dict):
                raise ValueError(f"{source}: by_model.{pattern} must be a mapping of training options")
            _apply(cfg, values, f"{source} (by_model.{pattern})")


def list_presets() -> list[str]:
    return sorted(p.stem for p in train_config_dir().glob("*.yaml"))


def resolve_train_config(
    *, dataset: str, model: str, config_file: str | None = None, sets: Sequence[str] = (), preset: str | None = None,
    **flags: Any
) -> TrainConfig:
    """``preset``: a preset name (default: the data set's own, e.g. ``mfnet``; ``mfnet_authors`` for the authors'
    published recipe); it must be written for ``dataset``."""
    cfg = TrainConfig(dataset=dataset, model=model)
    if preset is None:
        path = preset_path(dataset)
    else:
        path = train_config_dir() / f"{preset}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"--preset {preset!r} not found; presets: {', '.join(list_presets())}")
    if path.is_file():
        data = _read_yaml(path)
        for_dataset = data.pop("for_dataset", dataset)
        if for_dataset != dataset:
            raise ValueError(f"--preset {preset} is for the {for_dataset} data set, not {dataset}")
        _layer(cfg, data, str(path))
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"--config file not found: {path}")
        data = _read_yaml(path)
        cfg.model = data.get("model", cfg.model)
        _layer(cfg, data, str(path))
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else None
        if "." in key:  # model_options.kernel_size=3, pseudo_labels.restrict_to_boxes=true
            head, sub = key.split(".", 1)
            if head not in ("model_options", "pseudo_labels", "dataset_options"):
                raise ValueError(f"--set {key}: only model_options.<name>, pseudo_labels.<name> and "
                                 "dataset_options.<name> take a dotted key")
            _apply(cfg, {head: {sub: value}}, f"--set {item}")
        else:
            _apply(cfg, {key: value}, f"--set {item}")
    _apply(cfg, {k: v for k, v in flags.items() if v is not None}, "command line")
    cfg.validate()
    return cfg
