"""The optional runtimes are imported only on demand, with their telemetry off before they load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rgbt_seg_core.utils.optional import require, telemetry_off

ROOT = Path(__file__).resolve().parents[3]


def test_importing_every_core_module_loads_no_optional_runtime() -> None:
    code = ("import importlib, pkgutil, sys\n"
            "import rgbt_seg_core\n"
            "for m in pkgutil.walk_packages(rgbt_seg_core.__path__, 'rgbt_seg_core.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(m for m in ('onnxruntime', 'openvino', 'tensorrt', 'onnxscript') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_telemetry_is_off_before_a_runtime_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")  # restored when the test ends, as is sys.modules below
    saved = sys.modules.pop("openvino_telemetry", None)
    try:
        telemetry_off()
        assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
        assert sys.modules["openvino_telemetry"] is None  # OpenVINO then falls back to its no-op stub
        with pytest.raises(ImportError):
            import openvino_telemetry  # noqa: F401
    finally:
        sys.modules.pop("openvino_telemetry", None)
        if saved is not None:
            sys.modules["openvino_telemetry"] = saved


def test_a_missing_runtime_says_what_to_install() -> None:
    with pytest.raises(RuntimeError, match=r"optional package 'no_such_runtime': pip install '\.\[onnx\]'"):
        require("no_such_runtime", "onnx")


def test_onnxruntime_events_are_disabled_after_import() -> None:
    ort = pytest.importorskip("onnxruntime")
    calls = []
    original = ort.disable_telemetry_events
    try:
        ort.disable_telemetry_events = lambda: calls.append(1)
        assert require("onnxruntime", "onnx") is ort
    finally:
        ort.disable_telemetry_events = original
    assert calls == [1]


def test_the_onnx_export_is_refused_on_a_torch_too_old_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rgbt_seg_core.utils.optional import ONNX_EXPORT_TORCH

    monkeypatch.setattr(torch, "__version__", "2.5.0+cu124")
    need = ".".join(map(str, ONNX_EXPORT_TORCH))
    with pytest.raises(RuntimeError, match=rf"^the ONNX export needs torch >= {need}, found 2\.5\.0\+cu124"):
        require("onnxscript", "onnx")
    monkeypatch.setattr(torch, "__version__", f"{need}.0")
    pytest.importorskip("onnxscript")
    assert require("onnxscript", "onnx").__name__ == "onnxscript"
