"""rgbt_seg_core: RGB-thermal semantic segmentation models, data, training and evaluation (no ROS imports)."""

from .deps.versions import check_dependencies

check_dependencies()  # before anything imports torch: an old one stops here with one line saying what to install

from .models import RSFNet, RSFNetConfig, SegmentationOutput, TrainOutput, build_model, list_models

__version__ = "0.1.0"

__all__ = [
    "build_model",
    "list_models",
    "RSFNet",
    "RSFNetConfig",
    "SegmentationOutput",
    "TrainOutput",
    "__version__",
]
