"""Model library: both families, their shared layers and encoders, the builder registry and the checkpoint format.

Importing this package registers every family's builders, so :func:`build_model` knows all of them.
"""

from rgbt_seg_core.models.cimnet import builders as _cimnet_builders  # noqa: F401  (registers on import)
from rgbt_seg_core.models.contract import GatedOutput, SegmentationModel
from rgbt_seg_core.models.registry import build_model, get_builder, list_models, model_family, register_model
from rgbt_seg_core.models.rsfnet import builders as _rsfnet_builders  # noqa: F401  (registers on import)
from rgbt_seg_core.models.rsfnet.model import RSFNet, RSFNetConfig, TrainOutput

__all__ = [
    "build_model",
    "get_builder",
    "list_models",
    "model_family",
    "register_model",
    "GatedOutput",
    "SegmentationModel",
    "RSFNet",
    "RSFNetConfig",
    "TrainOutput",
]
