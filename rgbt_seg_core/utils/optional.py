"""The optional inference runtimes (ONNX Runtime, OpenVINO, TensorRT) and the ONNX exporter's packages, imported
only when a backend or an export asks for them, with their telemetry switched off first.

Why here and not at the top of each module: a robot's segmentation node must send nothing off the machine, and
importing these packages is what starts their reporting (strace showed it; test/test_no_traffic.py checks it):

* ONNX Runtime (1.29+ on Linux) starts its 1DS uploader at ``import onnxruntime``: it writes a device id under
  ``~/.cache/Microsoft/DeveloperTools`` at once, and about ten seconds later a native thread resolves
  mobile.events.data.microsoft.com, so a process that lives longer than that (a node, a test run) reports.
  ``onnxruntime.disable_telemetry_events()`` after the import does not stop the uploader (strace, ORT 1.32); the
  native code reads ``ORT_DISABLE_TELEMETRY`` (or ``CI``) at the import, so the variable is set before it.
* OpenVINO's model conversion reports to Google Analytics through the ``openvino_telemetry`` package, already
  at ``import openvino``. That package has no environment switch: it honours a consent file (``~/intel/
  openvino_telemetry`` containing 0, written by ``opt_in_out --opt_out``) and, for OpenVINO's converter, the CI
  variables (``CI=true``, ``TF_BUILD``, ``JENKINS_URL``). Rather than write into the user's home or pretend to be
  CI, the package is made unimportable in this process before ``import openvino``: OpenVINO then uses its own
  no-op ``telemetry_stub``, and no client-id file is written either.
* TensorRT (the runtime and its ONNX parser) has no telemetry to switch off.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from types import ModuleType
from typing import cast

__all__ = ["ONNX_EXPORT_TORCH", "require", "telemetry_off"]

log = logging.getLogger(__name__)

# The core runs on torch >= 2.5 (deps.versions), but its ONNX export (torch.onnx.export(dynamo=True), dynamic H and
# W) does not: 2.5.0 and 2.6.0 fail on F.interpolate with symbolic sizes, 2.7.0 writes a graph fixed to the export
# size; see docs/install.md. onnxscript is the exporter's package, so requiring it is where the export is refused.
ONNX_EXPORT_TORCH = (2, 8)



def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency with telemetry off, or say exactly what to install.

    Args:
        module: the import name (``onnxruntime``, ``openvino``, ``tensorrt``, ``onnx``, ``onnxscript``).
        extra: the setup.py extra that installs it.

    Returns:
        The imported module.
    """
    if module == "onnxscript":
        _check_torch_for_onnx_export()
    telemetry_off()
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeError(f"this needs the optional package {module!r}: pip install '.[{extra}]' (or pip install "
                           f"{module})") from exc
    _disable_onnxruntime_events()
    return imported


def telemetry_off() -> None:
    """Switch off every optional runtime's reporting before any of them is imported (idempotent)."""
    if "onnxruntime" in sys.modules and os.environ.get("ORT_DISABLE_TELEMETRY") != "1":
        log.warning("onnxruntime was imported before rgbt-seg could set ORT_DISABLE_TELEMETRY=1, so it may report "
                    "usage to Microsoft; set ORT_DISABLE_TELEMETRY=1 in the environment that starts this process")
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    # a None entry is the import system's documented way to make a module unimportable; typeshed's
    # sys.modules admits only modules, so the cast widens it to what the import system accepts
    modules = cast("dict[str, ModuleType | None]", sys.modules)
    if modules.setdefault("openvino_telemetry", None) is not None:
        log.warning("openvino_telemetry was imported before rgbt-seg could block it, so OpenVINO's converter may "
                    "report usage; opt out for good with: opt_in_out --opt_out")


def _check_torch_for_onnx_export() -> None:
    """Refuse the export in one line on a torch whose exporter is known to fail or write a wrong graph."""
    import torch

    from rgbt_seg_core.utils.versions import parse_version

    if parse_version(torch.__version__) < ONNX_EXPORT_TORCH:
        need = ".".join(map(str, ONNX_EXPORT_TORCH))
        raise RuntimeError(f"the ONNX export needs torch >= {need}, found {torch.__version__} (the rest of rgbt-seg "
                           f"runs on it): pip install 'torch>={need}', or export on another machine and pass the "
                           "file (model_file / --model-file)")


def _disable_onnxruntime_events() -> None:
    """The documented switch as well, for an onnxruntime imported (by anyone) before the variable was set."""
    ort = sys.modules.get("onnxruntime")
    if ort is not None and hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
