"""Inference backends other than eager torch, behind one small interface.

Each backend runs the deploy form exported to ONNX (:mod:`rgbt_seg_core.deploy.onnx.export`), so all of them take the
same preprocessed tensors as the torch path and return the same logits:

* ``onnxruntime``: the fp32 ONNX file, on the CPU (or CUDA with onnxruntime-gpu); extra ``[onnx]``.
* ``openvino``: OpenVINO IR (or the ONNX file) for Intel CPUs and iGPUs; extra ``[openvino]``. OpenVINO picks
  its own inference precision (bf16 on CPUs with AMX or AVX512_BF16) unless one is asked for.
* ``tensorrt``: an fp16 engine built from a float16 ONNX graph on the GPU it runs on; extra ``[tensorrt]``.

A backend's model file is either given (node parameter ``model_file``) or made once from the checkpoint into the
cache, keyed by the checkpoint's checksum; a given file must carry that checksum, so a model file can never be
paired with the wrong checkpoint's class names and palette.

Which backends there are, and what each takes, makes and runs, is one table (:mod:`rgbt_seg_core.deploy.registry`),
filled by the backends' own modules imported below; :func:`open_runner` and every tool read it.
"""

from __future__ import annotations

import torch

from rgbt_seg_core.deploy.base import Runner, RunnerOptions, host_feeds, runner_max_batch
from rgbt_seg_core.deploy.registry import Backend, backend_names, backends_taking, get_backend, list_backends
from rgbt_seg_core.models.checkpoint import LoadedCheckpoint

# Each backend registers itself in a module of its own; the order of these imports is the order tools list the
# backends in (torch first: the default, and the baseline of every comparison). A new backend adds its line here.
# isort: off
from rgbt_seg_core.deploy import torch_backend  # noqa: F401
from rgbt_seg_core.deploy.onnx import backend as _onnxruntime  # noqa: F401
from rgbt_seg_core.deploy.openvino import backend as _openvino  # noqa: F401
from rgbt_seg_core.deploy.tensorrt import backend as _tensorrt  # noqa: F401
# isort: on

__all__ = ["BACKENDS", "Backend", "Runner", "RunnerOptions", "open_runner", "host_feeds", "runner_max_batch",
           "get_backend", "list_backends"]

# the backends this package registers, for argument and parameter choices (a backend registered later, by a test,
# is in list_backends() but not here)
BACKENDS = backend_names()


def open_runner(loaded: LoadedCheckpoint, model: torch.nn.Module, config: RunnerOptions,
                device: torch.device) -> Runner:
    """The runner of ``config.backend`` (one with a runner: not ``torch``), after the checks every backend shares:
    it takes the precision and the device. ``model`` is the deploy form, exported when needed."""
    backend = get_backend(config.backend)
    if backend.runner is None:
        raise ValueError(f"backend {backend.name} runs in the engine itself, not through a runner")
    if not backend.takes(config.precision):
        takers = backends_taking(config.precision)
        raise ValueError(f"backend {backend.name} runs {', '.join(backend.precisions)}; precision {config.precision} "
                         + (f"needs backend {' or '.join(takers)}" if takers else "is no backend's"))
    if backend.cuda_only and device.type != "cuda":
        raise ValueError(f"backend {backend.name} runs on a CUDA GPU; device is {device}")
    return backend.runner(loaded, model, config, device)
