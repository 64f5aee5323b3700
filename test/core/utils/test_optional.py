"""The optional runtimes are imported only on demand, with their telemetry off before they load."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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


def test_an_onnxruntime_imported_too_early_is_reported(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """ONNX Runtime reads its switch only at its import, so one imported before rgbt-seg is already reporting."""
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    monkeypatch.setitem(sys.modules, "onnxruntime", ModuleType("onnxruntime"))
    with caplog.at_level(logging.WARNING, logger="rgbt_seg_core.utils.optional"):
        telemetry_off()
        telemetry_off()  # the variable is set now: said once
    assert [r.getMessage() for r in caplog.records if "ORT_DISABLE_TELEMETRY" in r.getMessage()] == [
        "onnxruntime was imported before rgbt-seg could set ORT_DISABLE_TELEMETRY=1, so it may report usage to "
        "Microsoft; set ORT_DISABLE_TELEMETRY=1 in the environment that starts this process"]


REPORTING = ("onnxruntime", "openvino")  # the runtimes whose import starts their telemetry (tensorrt has none)


def _imports_before_require(tree: ast.AST) -> list[tuple[int, str]]:
    """Imports of a reporting runtime not preceded, in the same function, by ``require`` of that runtime; one at a
    module's top level is never preceded by one."""
    bad = []
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
    for scope in scopes:
        nodes = list(ast.walk(scope)) if scope is not tree else _outside_functions(tree)
        required = {(n.args[0].value, n.lineno) for n in nodes if isinstance(n, ast.Call)
                    and getattr(n.func, "id", getattr(n.func, "attr", None)) == "require"
                    and n.args and isinstance(n.args[0], ast.Constant)}
        for node in nodes:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                root = name.split(".")[0]
                if root in REPORTING and not any(m == root and line < node.lineno for m, line in required):
                    bad.append((node.lineno, name))
    return bad


def _outside_functions(node: ast.AST) -> list[ast.AST]:
    found = []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            found += [child, *_outside_functions(child)]
    return found


def test_every_core_import_of_a_reporting_runtime_follows_require() -> None:
    """``require`` is the core's one place that switches the telemetry off; a runner or an export that imports
    onnxruntime or openvino by itself, even once after a helper already did, leaves that to luck."""
    bad = [f"{path.relative_to(ROOT)}:{line}: import {name}"
           for path in sorted((ROOT / "rgbt_seg_core").rglob("*.py"))
           for line, name in _imports_before_require(ast.parse(path.read_text(), str(path)))]
    assert not bad, "import these through rgbt_seg_core.utils.optional.require first:\n" + "\n".join(bad)


def test_the_import_check_catches_an_import_without_require() -> None:
    caught = _imports_before_require(ast.parse(
        "try:\n    import onnxruntime\nexcept ImportError:\n    pass\n"
        "def run():\n    import openvino.properties.hint as h\n    return require('openvino', 'openvino')\n"
        "def fine():\n    require('onnxruntime', 'onnx')\n    from onnxruntime.quantization import quantize_static\n"))
    assert caught == [(2, "onnxruntime"), (6, "openvino.properties.hint")]
