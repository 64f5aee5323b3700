"""Model library: encoders, fusion, decoder, heads, re-parameterisation and the builder registry."""

from .registry import build_model, get_builder, list_models, register_model
from .rsfnet import RSFNet, RSFNetConfig, SegmentationOutput, TrainOutput

__all__ = [
    "build_model",
    "get_builder",
    "list_models",
    "register_model",
    "RSFNet",
    "RSFNetConfig",
    "SegmentationOutput",
    "TrainOutput",
]
