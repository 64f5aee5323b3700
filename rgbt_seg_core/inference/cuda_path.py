"""What makes the single-frame path fast on a GPU: pinned host staging and CUDA graphs.

* :class:`PinnedStaging`: each camera array is copied into a page-locked host buffer kept per shape and type, and
  from there to the GPU with a non-blocking copy; labels come back the same way. Page-locked memory is what lets
  a copy run by DMA without a bounce buffer.
* :class:`GraphCache`: for a fixed input size, the model's forward pass and argmax are captured once as a CUDA
  graph and replayed: one launch instead of hundreds, which is most of a small model's GPU time at batch 1.
  Sizes are captured as they are met (at most ``capacity``; the least recently used one is dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, TypeVar

import numpy as np
import torch

__all__ = ["PinnedStaging", "GraphCache"]

Out = TypeVar("Out")  # what the captured function returns: a tensor, or a tuple of them


class PinnedStaging:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._host: dict[tuple[tuple[int, ...], torch.dtype], torch.Tensor] = {}

    def _buffer(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        key = (shape, dtype)
        buf = self._host.get(key)
        if buf is None:
            if len(self._host) >= 8:  # sizes change rarely; do not grow without bound when they do
                self._host.clear()
            buf = self._host[key] = torch.empty(shape, dtype=dtype, pin_memory=True)
        return buf

    def upload(self, array: np.ndarray) -> torch.Tensor:
        """``array`` on the device. The host buffer is reused by the next upload of this shape, which is safe because
        :meth:`download` synchronises the stream before a frame's labels are returned."""
        src = torch.from_numpy(np.ascontiguousarray(array))
        buf = self._buffer(tuple(src.shape), src.dtype)
        buf.copy_(src)
        return buf.to(self.device, non_blocking=True)

    def download(self, t: torch.Tensor) -> np.ndarray:
        buf = self._buffer(tuple(t.shape), t.dtype)
        buf.copy_(t, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return buf.numpy().copy()


class GraphCache(Generic[Out]):
    """CUDA graphs of ``fn(rgb, thermal) -> tensor`` (or a tuple of tensors) per input shape and memory layout."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], Out], device: torch.device,
                 capacity: int = 2, warmup: int = 2) -> None:
        self.fn, self.device, self.capacity, self.warmup = fn, device, capacity, warmup
        self._graphs: OrderedDict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, Out]] = \
            OrderedDict()
        self.captures = 0

    def __call__(self, rgb: torch.Tensor, thermal: torch.Tensor) -> Out:
        key = (tuple(rgb.shape), tuple(thermal.shape), rgb.is_contiguous(memory_format=torch.channels_last))
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._capture(rgb, thermal)
            self._graphs[key] = entry
            while len(self._graphs) > self.capacity:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        graph, static_rgb, static_thermal, out = entry
        static_rgb.copy_(rgb)
        static_thermal.copy_(thermal)
        graph.replay()
        return out

    def _capture(self, rgb: torch.Tensor, thermal: torch.Tensor):
        static_rgb, static_thermal = rgb.clone(), thermal.clone()  # clone keeps the memory format
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # kernels pick their algorithms and workspaces before capture
            for _ in range(self.warmup):
                self.fn(static_rgb, static_thermal)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.fn(static_rgb, static_thermal)
        self.captures += 1
        return graph, static_rgb, static_thermal, out
