"""Adding a backend is one module and its test (docs/architecture.md, "Adding a backend"): this test is that module.
A "float64" backend, registered here alone, exports its own file from ``rgbt-seg export``, is made into the cache on
demand, runs the engine end to end, gets bench rows, and is gone again once the test ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from _support.varied_model import assert_varied, save_varied_checkpoint
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.deploy.base import RunnerOptions
from rgbt_seg_core.deploy.model_files import check_owner, model_file
from rgbt_seg_core.deploy.registry import Backend, ExportRequest, get_backend, registered
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint

SUFFIX = ".f64.json"


def _export(src: LoadedCheckpoint, model: nn.Module, out: Path, request: ExportRequest) -> str:
    """The "file": the checkpoint's checksum, which the runner checks like every backend checks its file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"checkpoint_sha256": src.sha256, "size": [request.height, request.width]}))
    return f"float64 record written to {out}"


class Float64Runner:
    """The deploy form in float64 on the CPU: a reference backend, and one that needs nothing installed."""

    def __init__(self, loaded: LoadedCheckpoint, model: nn.Module, options: RunnerOptions,
                 device: torch.device) -> None:
        path = model_file(options.model_file, loaded, "float64", f"{loaded.sha256[:24]}{SUFFIX}",
                          lambda p: _export(loaded, model, p, ExportRequest()))
        check_owner(path, json.loads(path.read_text()).get("checkpoint_sha256"), loaded)
        self._model = model.double().eval()
        self.device = torch.device("cpu")
        self.precision = "fp32"  # the engine names precisions it knows; float64 is at least fp32's
        self.path = path

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._model(rgb.double(), thermal.double()).float()


FLOAT64 = Backend(name="float64", summary="float64 (a reference on the CPU)", precisions=("fp32",), auto="fp32",
                  runner=lambda loaded, model, options, device: Float64Runner(loaded, model, options, device),
                  export=_export, format="float64", suffixes=(SUFFIX,),
                  timed=lambda device, native_bf16: [("fp32", "cpu")])


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_varied_checkpoint(tmp_path_factory.mktemp("float64") / "v.safetensors")


def _frame(h: int = 72, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8)


def test_a_registered_backend_exports_and_runs_the_engine_end_to_end(ckpt: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"v{SUFFIX}"
    rgb, thermal = _frame()
    reference = InferenceEngine(ckpt, InferenceConfig(device="cpu", precision="fp32", warmup=0)).predict(rgb, thermal)
    with registered(FLOAT64):
        assert main(["export", "--checkpoint", str(ckpt), "--format", "float64", "--out", str(out)]) == 0
        assert f"float64 record written to {out}" in capsys.readouterr().out
        assert main(["export", "--checkpoint", str(ckpt), "--format", "float64", "--out", str(tmp_path / "v.onnx")]) \
            == 2
        assert f"--format float64 writes a {SUFFIX} file" in capsys.readouterr().err
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="float64", model_file=str(out), warmup=0))
        got = engine.predict(rgb, thermal)
        assert engine.precision == "fp32" and engine._runner is not None and engine._runner.path == out
        with pytest.raises(ValueError, match="backend float64 runs fp32; precision bf16 needs backend torch"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="float64", precision="bf16"))
    assert_varied(reference.labels)
    assert (got.labels == reference.labels).mean() >= 0.999
    with pytest.raises(ValueError, match="must be one of torch, onnxruntime, openvino, tensorrt, got 'float64'"):
        InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="float64", model_file=str(out)))
    with pytest.raises(ValueError, match="got 'float64'"):
        get_backend("float64")


def test_its_file_is_made_into_the_cache_and_checked_against_the_checkpoint(ckpt: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    other = tmp_path / f"other{SUFFIX}"
    other.write_text(json.dumps({"checkpoint_sha256": "0" * 64}))
    with registered(FLOAT64):
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="float64", warmup=0))
        assert engine._runner is not None and engine._runner.path.parent == tmp_path / "cache" / "rgbt_seg" / "float64"
        assert engine.predict(*_frame(40, 56)).labels.shape == (40, 56)
        with pytest.raises(ValueError, match="exported from another checkpoint"):
            InferenceEngine(ckpt, InferenceConfig(device="cpu", backend="float64", model_file=str(other)))


def test_it_gets_bench_rows_while_registered() -> None:
    from rgbt_seg_core.benchmarks.latency import available_variants

    with registered(FLOAT64):
        rows: dict[str, Any] = dict(available_variants("cpu", ["torch", "float64"]))
        assert rows["float64 fp32"].backend == "float64" and rows["float64 fp32"].device == "cpu"
        assert list(rows)[0] == "torch fp32"
    assert "float64 fp32" not in dict(available_variants("cpu", ["torch", "float64"]))
