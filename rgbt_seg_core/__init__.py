"""rgbt_seg_core: RGB-thermal semantic segmentation models, data, training, evaluation and deployment (no ROS).

The public API is what this module exports; everything else is reached through its subpackage
(docs/architecture.md shows the layers). The exports load on first use, so that importing a light module
(``rgbt_seg_core.utils.booleans`` from a launch file, say) does not load torch.
"""

from importlib import import_module
from typing import Any

from rgbt_seg_core.utils.versions import check_dependencies as _check_dependencies

_check_dependencies()  # before anything imports torch: an old one stops here with one line saying what to install

__version__ = "0.1.0"

_EXPORTS = {
    "build_model": "rgbt_seg_core.models",
    "list_models": "rgbt_seg_core.models",
    "load_checkpoint": "rgbt_seg_core.models.checkpoint",
    "save_checkpoint": "rgbt_seg_core.models.checkpoint_file",
    "InferenceEngine": "rgbt_seg_core.inference.engine",
    "InferenceConfig": "rgbt_seg_core.inference.engine",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rgbt_seg_core' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
