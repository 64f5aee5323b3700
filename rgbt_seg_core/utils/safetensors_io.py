"""Reading and writing the safetensors format ourselves, with every field checked before it is trusted.

Why not the ``safetensors`` package: a checkpoint is outside input. Here the header is parsed with hard limits
(size, nesting, tensor count), every tensor's dtype, shape and byte range are checked against each other and
against the file before a byte of tensor data is read, and tensors are read one at a time, so a hostile file
costs at most its own size. The format is small and documented (an 8-byte little-endian header length, a JSON
header mapping names to ``{"dtype", "shape", "data_offsets"}`` plus an optional ``"__metadata__"`` of strings,
then the tensor bytes); files written here open with the ``safetensors`` package and vice versa (tested).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import torch

from rgbt_seg_core.utils.atomic import atomic_write

__all__ = ["SafetensorsError", "TensorInfo", "Header", "read_header", "read_tensor", "iter_bytes", "write_file",
           "DTYPES", "MAX_HEADER_BYTES"]

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a header this size describes ~100k tensors; ours have ~2k
MAX_TENSORS = 100_000
MAX_DIMS = 8
MAX_JSON_DEPTH = 64


class SafetensorsError(ValueError):
    """The file is not a well-formed safetensors file; the message says what is wrong (not where: the caller
    names the file)."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute byte offsets in the file
    end: int


@dataclass(frozen=True)
class Header:
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int


def _depth_ok(raw: bytes) -> bool:
    """Bracket nesting of the JSON text stays within MAX_JSON_DEPTH (checked before json.loads recurses)."""
    depth = 0
    in_string = escaped = False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif b in (0x5D, 0x7D):
            depth -= 1
    return True


def parse_json(raw: bytes | str, what: str) -> object:
    """json.loads with a nesting limit; every failure is a SafetensorsError naming ``what``."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if not _depth_ok(data):
        raise SafetensorsError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise SafetensorsError(f"{what} is not valid JSON ({exc})") from exc


def read_header(f: io.BufferedIOBase, file_size: int) -> Header:
    if file_size < 8:
        raise SafetensorsError(f"file of {file_size} bytes is shorter than the 8-byte header length")
    f.seek(0)
    n = int.from_bytes(f.read(8), "little")
    if n < 2 or n > min(MAX_HEADER_BYTES, file_size - 8):
        raise SafetensorsError(f"header length {n} is impossible for a file of {file_size} bytes "
                               f"(at most {min(MAX_HEADER_BYTES, file_size - 8)})")
    raw = f.read(n)
    data = parse_json(raw, "the safetensors header")
    if not isinstance(data, dict):
        raise SafetensorsError(f"the safetensors header is a JSON {type(data).__name__}, not an object")
    if len(data) > MAX_TENSORS + 1:
        raise SafetensorsError(f"the header lists {len(data)} entries (at most {MAX_TENSORS})")
    meta_raw = data.pop("__metadata__", None) or {}
    if not isinstance(meta_raw, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in meta_raw.items()):
        raise SafetensorsError("__metadata__ must map strings to strings")
    base = 8 + n
    tensors: dict[str, TensorInfo] = {}
    spans = []
    for name, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"tensor {name!r}: expected exactly dtype, shape and data_offsets")
        dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
            raise SafetensorsError(f"tensor {name!r}: dtype {dtype_name!r} not supported ({', '.join(DTYPES)})")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)):
            raise SafetensorsError(f"tensor {name!r}: shape {shape!r} is not a list of at most {MAX_DIMS} sizes")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise SafetensorsError(f"tensor {name!r}: data_offsets {offsets!r} are not [begin, end]")
        dtype = DTYPES[dtype_name]
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise SafetensorsError(f"tensor {name!r}: {dtype_name} {shape} needs {nbytes} bytes, "
                                   f"data_offsets span {offsets[1] - offsets[0]}")
        start, end = base + offsets[0], base + offsets[1]
        if end > file_size:
            raise SafetensorsError(f"tensor {name!r} ends at byte {end}, past the end of the file ({file_size}); "
                                   "truncated?")
        tensors[name] = TensorInfo(name, dtype, tuple(shape), start, end)
        spans.append((start, end, name))
    spans.sort()
    for (s0, e0, a), (s1, e1, b) in zip(spans, spans[1:]):
        if s1 < e0:
            raise SafetensorsError(f"tensors {a!r} and {b!r} overlap in the file")
    return Header(tensors, dict(meta_raw), file_size)


def iter_bytes(f: io.BufferedIOBase, info: TensorInfo, chunk: int = 1 << 22) -> Iterator[bytes]:
    f.seek(info.start)
    left = info.end - info.start
    while left > 0:
        block = f.read(min(chunk, left))
        if not block:
            raise SafetensorsError(f"tensor {info.name!r}: file ended early")
        left -= len(block)
        yield block


def read_tensor(f: io.BufferedIOBase, info: TensorInfo) -> torch.Tensor:
    out = torch.empty(info.shape, dtype=info.dtype)
    if out.numel():
        buf = out.view(-1).view(torch.uint8).numpy()
        f.seek(info.start)
        if f.readinto(buf.data) != info.end - info.start:
            raise SafetensorsError(f"tensor {info.name!r}: file ended early")
    return out


def write_file(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write atomically (temporary file in the same folder, fsync, rename): readers see the old file or the
    whole new one, never a part."""
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))  # larger items first keeps alignment
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    offset = 0
    for name in order:
        t = tensors[name]
        if t.dtype not in NAMES:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} cannot be stored")
        n = t.numel() * t.element_size()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    def fill(f: BinaryIO) -> None:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for name in order:
            t = tensors[name].detach().contiguous().cpu()
            if t.numel():
                f.write(t.reshape(-1).view(torch.uint8).numpy().data)

    atomic_write(path, fill)
