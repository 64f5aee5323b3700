"""The settings of the segmentation node, its engine and runtime, and the tools that replay what it runs: one
schema (:mod:`.schema`), the vocabularies it chooses from (:mod:`.vocab`), value checks (:mod:`.check`), ROS 2
parameter files (:mod:`.files`), camera pairs and their own settings (:mod:`.pairs`) and ``config/segment.yaml``
(:mod:`.render`). No ROS here: the node declares its
parameters from :data:`SETTINGS`."""

from rgbt_seg_core.settings.check import DEVICE_FORMS, check_device, check_value, retyped
from rgbt_seg_core.settings.files import FOREIGN_PARAMETERS, is_foreign, read_params_file
from rgbt_seg_core.settings.pairs import PER_PAIR, SINGLE, PairSettings, PairTopics, pair_topics, resolve_pairs
from rgbt_seg_core.settings.render import render_yaml
from rgbt_seg_core.settings.schema import SETTING_NAMES, SETTINGS, Settings, default, defaults, setting, settings_in
from rgbt_seg_core.settings.spec import GROUPS, Setting, SettingsError
from rgbt_seg_core.settings.vocab import (
    PRECISIONS,
    QOS_RELIABILITIES,
    THERMAL_NORM_MODES,
    TORCH_PRECISIONS,
    TRANSPORTS,
)

__all__ = ["Settings", "Setting", "SettingsError", "SETTINGS", "SETTING_NAMES", "GROUPS", "setting", "default",
           "defaults", "settings_in", "check_value", "check_device", "retyped", "DEVICE_FORMS", "read_params_file",
           "FOREIGN_PARAMETERS", "is_foreign", "render_yaml", "PRECISIONS", "TORCH_PRECISIONS", "TRANSPORTS",
           "THERMAL_NORM_MODES", "QOS_RELIABILITIES", "PairSettings", "PairTopics", "PER_PAIR", "SINGLE",
           "pair_topics", "resolve_pairs"]
