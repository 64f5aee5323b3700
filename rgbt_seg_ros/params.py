"""The node's parameters: the core's settings (:mod:`rgbt_seg_core.settings.schema`, ROS-free, shared with the
engine, the runtime and the tools), declared one by one from :data:`PARAM_SPECS`. ``config/segment.yaml`` is
rendered from the same table (``python -m rgbt_seg_ros.params > config/segment.yaml``; a test keeps the file
equal). This module adds only what the running node needs beyond the core: a checkpoint is required, and the
configs it runs with are made, and so checked, when the parameters are."""

from __future__ import annotations

from typing import Any, Mapping

from rgbt_seg_core.inference.engine import InferenceConfig
from rgbt_seg_core.runtime.node_settings import check_configs, node_configs
from rgbt_seg_core.runtime.runtime import RuntimeConfig
from rgbt_seg_core.settings import SETTINGS, Setting, Settings, SettingsError, render_yaml

__all__ = ["NodeParams", "PARAM_SPECS", "ParamSpec", "render_yaml"]

ParamSpec = Setting  # each has .name .default .description .unit .range .choices .dynamic .read_only .group
PARAM_SPECS: tuple[Setting, ...] = SETTINGS


class NodeParams(Settings):
    """Every node parameter (the core's :class:`~rgbt_seg_core.settings.schema.Settings`), validated by
    :meth:`from_values` as the node starts or takes new values."""

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, source: str = "") -> "NodeParams":
        """Build and validate; raises :class:`SettingsError` (a ValueError) naming the parameter and the allowed
        values."""
        p = super().from_values(values, source=source)
        if not p.checkpoint:
            raise SettingsError("parameter checkpoint is required (path to an rgbt-seg .safetensors file)")
        check_configs(p, source=source)
        assert isinstance(p, NodeParams)
        return p

    def runtime_config(self) -> RuntimeConfig:
        return node_configs(self, realtime=True)[0]

    def inference_config(self) -> InferenceConfig:
        return node_configs(self, realtime=True)[1]


if __name__ == "__main__":
    print(render_yaml(), end="")
