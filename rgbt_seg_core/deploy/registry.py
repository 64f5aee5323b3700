"""The one table of inference backends: every tool that offers, checks, exports for or times a backend reads it.

Why a registry: a backend used to be written down in about seven places (the engine's check, the runner chain, the
export's formats, suffixes and INT8 targets, the precision rules, the benchmarks' rows), so adding one meant finding
them all. Now each backend states what it is in one :class:`Backend` record, registered from one module of its own
(``deploy/torch_backend.py``, ``deploy/onnx/backend.py``, ``deploy/openvino/backend.py``,
``deploy/tensorrt/backend.py``), which :mod:`rgbt_seg_core.deploy` imports in the order tools list them.

A record holds no imported runtime: its runner and export functions import ONNX Runtime, OpenVINO or TensorRT when
they are called, so reading the table costs nothing and starts no runtime's telemetry, and
:meth:`Backend.installed` asks ``importlib.util.find_spec``, which finds a package without importing it.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

__all__ = ["Backend", "ExportRequest", "register_backend", "unregister_backend", "registered", "get_backend",
           "list_backends", "backend_names", "backend_for_format", "backend_for_file", "backends_taking", "NATIVE"]

# ``Backend.auto`` for a backend whose ``auto`` computes in what the hardware does natively: fp16 on CUDA, bf16 on
# CPUs with AMX or AVX512_BF16, fp32 on other CPUs (:func:`rgbt_seg_core.inference.precision.resolve_precision`)
NATIVE = "native"
_FLOAT_PRECISIONS = ("fp32", "bf16", "fp16")
_ALL_PRECISIONS = _FLOAT_PRECISIONS + ("int8",)


@dataclass(frozen=True)
class ExportRequest:
    """What ``rgbt-seg export`` asks of a backend's export function, besides the checkpoint and the output file."""

    height: int = 480  # the example input's size: with ``dynamic`` False, the only size the file takes
    width: int = 640
    dynamic: bool = True  # H and W dynamic within the format's limits
    precision: str = "fp16"  # a backend that builds for one precision (TensorRT): fp16 or fp32
    int8_feeds: Sequence[dict[str, Any]] | None = None  # calibration inputs: quantise to INT8 when given
    int8_source: str = ""  # where the calibration frames came from, for the file's quantisation record
    keep_float: tuple[str, ...] = ()  # ONNX op types the INT8 file keeps in float32
    # the largest batch, for a format that fixes it when it builds (TensorRT's optimisation profile: 1..max_batch);
    # ONNX and OpenVINO files take any batch up to the export's own bound (deploy.onnx.export.MAX_BATCH)
    max_batch: int = 1


# (loaded checkpoint, deploy-form model, RunnerOptions, torch device) -> a Runner (rgbt_seg_core.deploy.base)
RunnerFactory = Callable[[Any, Any, Any, Any], Any]
# (loaded checkpoint, deploy-form model, output file, ExportRequest) -> one line saying what was written
Exporter = Callable[[Any, Any, Path, ExportRequest], str]
# (torch device of the tool, whether the CPU has native bf16) -> (precision, device) pairs `bench latency` times
Timed = Callable[[str, bool], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class Backend:
    """One backend, as every tool needs to know it.

    Args:
        name: the engine's ``backend`` (node parameter, ``--backend``).
        summary: one line for help texts: what it runs on and in.
        precisions: the precisions it takes besides ``auto`` (``int8``: it runs a quantised model file).
        auto: what ``auto`` computes in from a float model file: one of ``precisions``, or :data:`NATIVE` (an INT8
            file runs in int8 under ``auto``).
        module: the package whose presence says it is installed ("" for one that needs nothing beyond torch).
        extra: the setup.py extra that installs ``module``.
        runner: makes the runner from the checkpoint and its deploy form; None where the engine runs the torch
            model itself.
        export: writes the backend's model file from the checkpoint (``rgbt-seg export``); None where it needs none.
        format: ``rgbt-seg export --format`` for ``export``.
        suffixes: the files the export writes, the model file's first (``--out`` must end in it).
        int8_target: what :func:`~rgbt_seg_core.deploy.onnx.quantize.quantize_onnx` quantises for (``cpu`` or
            ``tensorrt``) where ``int8`` is among ``precisions``.
        cuda_only: it runs on a CUDA device only (the engine's ``device`` must be one).
        verify_tolerance: ``export --verify``: the largest logit difference from torch fp32, relative to the
            largest logit, that a float file may show.
        timed: the (precision, device) rows ``rgbt-seg bench latency`` times for a tool's device.
        cuda_ready: whether it can run on this machine's CUDA GPU, for the GPU check (it may import the runtime);
            None where it never runs on CUDA.
    """

    name: str
    summary: str
    precisions: tuple[str, ...]
    auto: str
    module: str = ""
    extra: str = ""
    runner: RunnerFactory | None = None
    export: Exporter | None = None
    format: str = ""
    suffixes: tuple[str, ...] = ()
    int8_target: str = ""
    cuda_only: bool = False
    verify_tolerance: float = 1e-3
    timed: Timed | None = None
    cuda_ready: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"backend name must be letters, digits and underscores, got {self.name!r}")
        unknown = [p for p in self.precisions if p not in _ALL_PRECISIONS]
        if unknown or not self.precisions:
            raise ValueError(f"backend {self.name}: precisions must be some of {', '.join(_ALL_PRECISIONS)}, got "
                             f"{', '.join(self.precisions) or 'none'}")
        if self.auto != NATIVE and self.auto not in self.precisions:
            raise ValueError(f"backend {self.name}: auto must be one of its precisions or {NATIVE!r}, got "
                             f"{self.auto!r}")
        if (self.export is None) != (not self.format) or (self.export is not None and not self.suffixes):
            raise ValueError(f"backend {self.name}: an export needs a format and suffixes, and a format an export")
        if any(not s.startswith(".") for s in self.suffixes):
            raise ValueError(f"backend {self.name}: suffixes start with a dot, got {', '.join(self.suffixes)}")
        if ("int8" in self.precisions) != bool(self.int8_target):
            raise ValueError(f"backend {self.name}: precision int8 and an int8_target go together")

    @property
    def model_suffix(self) -> str:
        """The suffix of the file the engine's ``model_file`` names ("" where there is none)."""
        return self.suffixes[0] if self.suffixes else ""

    def installed(self) -> bool:
        """Whether its package is importable here, found without importing it (importing is what starts some
        runtimes' telemetry, and takes seconds)."""
        if not self.module:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # a broken or half-removed installation
            return False

    def takes(self, precision: str) -> bool:
        return precision == "auto" or precision in self.precisions


_REGISTRY: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to the table; a name, export format or model suffix another backend has is refused."""
    if backend.name in _REGISTRY:
        raise ValueError(f"backend {backend.name!r} is already registered")
    for other in _REGISTRY.values():
        if backend.format and backend.format == other.format:
            raise ValueError(f"backend {backend.name}: export format {backend.format!r} is backend {other.name}'s")
        if backend.model_suffix and backend.model_suffix == other.model_suffix:
            raise ValueError(f"backend {backend.name}: model files ending in {backend.model_suffix} are backend "
                             f"{other.name}'s")
    _REGISTRY[backend.name] = backend
    return backend


def unregister_backend(name: str) -> Backend:
    """Take ``name`` out of the table (tests that register a backend of their own)."""
    get_backend(name)
    return _REGISTRY.pop(name)


@contextlib.contextmanager
def registered(backend: Backend) -> Iterator[Backend]:
    """``backend`` in the table for the ``with`` block only, taken out again even when the block raises."""
    register_backend(backend)
    try:
        yield backend
    finally:
        _REGISTRY.pop(backend.name, None)


def get_backend(name: str) -> Backend:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"backend must be one of {', '.join(_REGISTRY)}, got {name!r}") from None


def list_backends() -> tuple[Backend, ...]:
    """Every registered backend, in registration order (torch, onnxruntime, openvino, tensorrt, then any other)."""
    return tuple(_REGISTRY.values())


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def backend_for_format(fmt: str) -> Backend:
    """The backend whose export writes ``rgbt-seg export --format fmt``."""
    for backend in _REGISTRY.values():
        if backend.format and backend.format == fmt:
            return backend
    formats = [b.format for b in _REGISTRY.values() if b.format]
    raise ValueError(f"export format must be one of {', '.join(formats)}, got {fmt!r}")


def backend_for_file(path: str | Path) -> Backend:
    """The backend that runs the model file ``path``, from its suffix."""
    name = Path(path).name
    for backend in _REGISTRY.values():
        if backend.model_suffix and name.endswith(backend.model_suffix) and len(name) > len(backend.model_suffix):
            return backend
    known = ", ".join(f"{b.model_suffix} ({b.name})" for b in _REGISTRY.values() if b.model_suffix)
    raise ValueError(f"{path}: no backend runs this file; model files end in {known}")


def backends_taking(precision: str) -> tuple[str, ...]:
    """The names of the backends that take ``precision``."""
    return tuple(b.name for b in _REGISTRY.values() if b.takes(precision))
