"""Precision: `auto` follows the CPU's flags (mocked here), explicit choices are checked against the device, and
every precision this machine has agrees with fp32 on a model whose labels vary across the frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _support.varied_model import assert_varied
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
from rgbt_seg_core.inference.precision import check_int8, cpu_flags, cpu_has_native_bf16, resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("flags, expect", [
    ({"avx2", "avx512f", "avx512_bf16"}, torch.bfloat16),  # e.g. AMD Zen 4, Intel Cooper Lake
    ({"avx512f", "amx_tile", "amx_bf16"}, torch.bfloat16),  # Intel Sapphire Rapids and later
    ({"avx2", "avx512f", "avx512_vnni"}, torch.float32),  # AVX-512 without bf16
    ({"fp", "asimd"}, torch.float32),  # an ARM core
    (set(), torch.float32),
])
def test_auto_follows_the_cpu_flags(flags: set[str], expect: torch.dtype) -> None:
    assert resolve_precision("auto", CPU, frozenset(flags)) == expect
    assert resolve_precision("auto", CUDA, frozenset(flags)) == torch.float16


def test_explicit_precisions_and_errors() -> None:
    assert resolve_precision("fp32", CPU) == torch.float32
    assert resolve_precision("bf16", CPU, frozenset()) == torch.bfloat16  # allowed, emulated without native bf16
    with pytest.raises(ValueError, match="fp16 runs on CUDA only"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4", CPU)
    with pytest.raises(ValueError, match="precision int8 runs a quantised model file with backend onnxruntime, "
                       "openvino, tensorrt, not torch"):
        resolve_precision("int8", CPU)


def test_int8_needs_a_backend_that_runs_a_quantised_file_and_the_file() -> None:
    from rgbt_seg_core.inference.engine import InferenceConfig

    check_int8("fp32", "torch", "")  # nothing to check for float precisions
    check_int8("int8", "openvino", "m.xml")
    with pytest.raises(ValueError, match="with backend onnxruntime, openvino, tensorrt, not torch"):
        InferenceConfig(precision="int8")
    with pytest.raises(ValueError, match=r"needs the quantised model file .*export --format openvino --int8"):
        InferenceConfig(precision="int8", backend="openvino")
    with pytest.raises(ValueError, match=r"export --format onnx --int8 --calibration-data DIR --dataset NAME"):
        InferenceConfig(precision="int8", backend="onnxruntime")
    assert InferenceConfig(precision="int8", backend="onnxruntime", model_file="q.onnx").precision == "int8"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(x86) == frozenset({"fpu", "sse", "avx512f", "avx512_bf16"}) and cpu_has_native_bf16(cpu_flags(x86))
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(arm) == frozenset({"fp", "asimd", "bf16"}) and not cpu_has_native_bf16(cpu_flags(arm))
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.fixture(scope="module")
def varied(varied_checkpoint: Path) -> Path:
    return varied_checkpoint


def _frame(h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8)


def _available() -> list[tuple[str, str]]:
    out = [("cpu", "bf16")]
    if torch.cuda.is_available():
        out.append(("cuda", "fp16"))
        if torch.cuda.is_bf16_supported():
            out.append(("cuda", "bf16"))
    return out


@pytest.mark.parametrize("device, precision", _available())
def test_every_available_precision_agrees_with_fp32(varied: Path, device: str, precision: str) -> None:
    """Stated tolerance: at least 97 % of labels equal to fp32's. Only pixels near a decision boundary move; this
    untrained model (random features, zeroed biases) has far more near-ties than a trained one, whose mIoU change
    the latency benchmark measures on the demo's test split (docs/benchmarks.md)."""
    rgb, thermal = _frame()
    ref = InferenceEngine(varied, InferenceConfig(device="cpu", precision="fp32", warmup=0)).predict(rgb, thermal)
    assert_varied(ref.labels)
    engine = InferenceEngine(varied, InferenceConfig(device=device, precision=precision, warmup=0))
    assert engine.precision == precision and engine.channels_last
    got = engine.predict(rgb, thermal, want_gates=True)
    assert (got.labels == ref.labels).mean() >= 0.97
    assert got.gates is not None and got.gates.dtype == np.float32 and np.isfinite(got.gates).all()
    # the batch call is the same computation
    assert np.array_equal(engine.predict_batch([rgb], [thermal])[0].cpu().numpy(), got.labels)
