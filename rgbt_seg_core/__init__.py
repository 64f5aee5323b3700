"""rgbt_seg_core: RGB-thermal semantic segmentation models, data, training, evaluation and deployment (no ROS).

The public API is what this module exports; everything else is reached through its subpackage
(docs/architecture.md shows the layers).
"""

from rgbt_seg_core.utils.versions import check_dependencies

check_dependencies()  # before anything imports torch: an old one stops here with one line saying what to install

from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine  # noqa: E402
from rgbt_seg_core.models import build_model, list_models  # noqa: E402
from rgbt_seg_core.models.checkpoint import load_checkpoint  # noqa: E402
from rgbt_seg_core.models.checkpoint_file import save_checkpoint  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "build_model",
    "list_models",
    "load_checkpoint",
    "save_checkpoint",
    "InferenceEngine",
    "InferenceConfig",
    "__version__",
]
