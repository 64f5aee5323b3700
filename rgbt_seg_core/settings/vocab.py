"""The words settings are made of: the names a precision, a camera transport, a thermal normalisation or a QoS
reliability may take. They live below the engine and the runtime so that the settings schema, which both take
their defaults from, can offer them as choices; the modules that act on them import them from here."""

from __future__ import annotations

__all__ = ["TORCH_PRECISIONS", "PRECISIONS", "TRANSPORTS", "THERMAL_NORM_MODES", "QOS_RELIABILITIES",
           "CONFIDENCE_ENCODINGS", "UNLABELLED", "transport_topic"]

TORCH_PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # what torch computes in (inference and training)
PRECISIONS = TORCH_PRECISIONS + ("int8",)  # what inference may run in (int8: a quantised model file)
# image_transport's names: raw is the base topic, the others `<base>/compressed` and `<base>/compressedDepth`
TRANSPORTS = ("raw", "compressed", "compressedDepth")
# auto: 8-bit /255, else fixed where a range is set, else per-frame percentiles (inference.preprocess.ThermalNorm)
THERMAL_NORM_MODES = ("auto", "fixed", "percentile")
QOS_RELIABILITIES = ("best_effort", "reliable")  # reliable never connects to a best-effort camera driver
# ~/label_confidence: the winning class's softmax probability as float32, or round(255 * p) in a byte
CONFIDENCE_ENCODINGS = ("32FC1", "mono8")
# the class id of a pixel whose confidence is below min_confidence: 255, the unlabelled id vision_msgs documents for
# uint8 labels (LabelInfo names it), so no model with more than 255 classes can run with min_confidence on
UNLABELLED = 255


def transport_topic(base: str, transport: str) -> str:
    """The topic a transport's messages travel on, by image_transport's rule: remappings apply to the base topic and
    the transport's suffix comes after it."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport {transport!r}: expected one of {', '.join(TRANSPORTS)}")
    return base if transport == "raw" else f"{base.rstrip('/')}/{transport}"
