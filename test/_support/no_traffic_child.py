"""Child of test_no_traffic.py, run under strace: import every core module, then run one ONNX Runtime and one
OpenVINO inference through the project's backends on a tiny checkpoint. It must finish without any socket
traffic off the machine (the parent reads strace's log)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # test/: _support.varied_model


def import_every_core_module() -> int:
    """Import-time side effects (telemetry, update checks) are the ones nobody calls on purpose."""
    import rgbt_seg_core

    names = [m.name for m in pkgutil.walk_packages(rgbt_seg_core.__path__, "rgbt_seg_core.")]
    for name in names:
        importlib.import_module(name)
    return len(names)


def run_backends(workdir: Path) -> list[str]:
    import numpy as np

    from _support.varied_model import save_varied_checkpoint
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine

    ckpt = save_varied_checkpoint(workdir / "v.safetensors")
    rng = np.random.default_rng(0)
    rgb, thermal = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8), rng.integers(0, 256, (64, 80), dtype=np.uint8)
    ran = []
    for backend in sys.argv[2:]:
        engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", backend=backend, precision="fp32", warmup=0))
        assert engine.predict(rgb, thermal).labels.shape == (64, 80)
        ran.append(backend)
    return ran


if __name__ == "__main__":
    count = import_every_core_module()
    ran = run_backends(Path(sys.argv[1]))
    print(f"imported {count} modules; ran {', '.join(ran) or 'no backend'}")
