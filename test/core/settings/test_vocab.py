"""The vocabularies live in settings and the modules that act on them use the same objects."""

from __future__ import annotations

import importlib

from rgbt_seg_core.inference import precision
from rgbt_seg_core.inference.preprocess import ThermalNorm
from rgbt_seg_core.settings import PRECISIONS, THERMAL_NORM_MODES, TORCH_PRECISIONS, TRANSPORTS, setting
from rgbt_seg_core.settings.vocab import transport_topic


def test_one_vocabulary_each() -> None:
    input_status = importlib.import_module("rgbt_seg_core.runtime.input_status")  # the package's name is a function
    assert precision.PRECISIONS is PRECISIONS and precision.TORCH_PRECISIONS is TORCH_PRECISIONS
    assert PRECISIONS == TORCH_PRECISIONS + ("int8",) and input_status.TRANSPORTS is TRANSPORTS
    assert input_status.transport_topic is transport_topic  # one rule for a transport's topic, the pairs' too
    assert setting("precision").choices is PRECISIONS and setting("rgb_transport").choices is TRANSPORTS
    assert setting("thermal_norm").choices is THERMAL_NORM_MODES
    for mode in THERMAL_NORM_MODES:
        ThermalNorm(mode=mode, range=(0.0, 1.0))
