"""Where a backend's model file comes from: the one the user gave, or one made from the checkpoint into the cache.

Cached files are named by the checkpoint's checksum, so a retrained checkpoint never meets a stale export; given
files are checked for the checksum they were stamped with at export time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from torch import nn

from rgbt_seg_core.models.checkpoint import LoadedCheckpoint
from rgbt_seg_core.utils.cache_dir import default_cache_dir

__all__ = ["model_file", "onnx_for", "check_owner", "is_int8_file"]

log = logging.getLogger(__name__)


def model_file(given: str, loaded: LoadedCheckpoint, kind: str, name: str,
               make: Callable[[Path], object]) -> Path:
    """``given`` if set (it must exist), else ``<cache>/<kind>/<name>``, made by ``make(path)`` when absent."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(f"{kind} model file not found: {path}")
        return path
    path = default_cache_dir() / kind / name
    if not path.is_file():
        log.info("making the %s model of %s at %s (once)", kind, loaded.path, path)
        make(path)
    return path


def onnx_for(loaded: LoadedCheckpoint, model: nn.Module, *, half: bool = False, given: str = "") -> Path:
    """``given``, or the cached ONNX export of this checkpoint (float16 inside the graph when ``half``)."""
    from rgbt_seg_core.deploy.onnx.export import GRAPH_FORM, OPSET, checkpoint_metadata, export_onnx

    def make(path: Path) -> None:
        export_onnx(model.cpu(), path, half=half, metadata=checkpoint_metadata(loaded.meta, loaded.sha256))

    suffix = "_fp16" if half else ""
    return model_file(given, loaded, "onnx", f"{loaded.sha256[:24]}_opset{OPSET}_form{GRAPH_FORM}{suffix}.onnx", make)


def check_owner(path: Path, owner: str | None, loaded: LoadedCheckpoint) -> None:
    if owner is None:
        raise ValueError(f"{path} carries no rgbt-seg checkpoint checksum (export it with `rgbt-seg export`)")
    if owner != loaded.sha256:
        raise ValueError(f"{path} was exported from another checkpoint than {loaded.path} (re-export it)")


def is_int8_file(path: Path, metadata: dict[str, str], precision: str) -> bool:
    """Whether ``path`` is an INT8 file (``rgbt-seg export --int8``), checked against the precision asked for: int8
    needs one, and an explicit float precision cannot be run from one (``auto`` runs what the file holds)."""
    from rgbt_seg_core.deploy.onnx.quantize import quantization_record

    int8 = quantization_record(metadata) is not None
    if precision == "int8" and not int8:
        raise ValueError(f"{path} is a float model file; precision int8 needs the quantised export "
                         "(`rgbt-seg export --int8 --calibration-data DIR --dataset NAME`)")
    if int8 and precision not in ("int8", "auto"):
        raise ValueError(f"{path} is an INT8 model file; precision {precision} needs a float export "
                         "(or precision int8)")
    return int8
