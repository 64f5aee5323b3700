"""Run by test_checkpoint_fuzz.py in a child process whose data segment is capped (RLIMIT_DATA): fuzzes the
checkpoint loader and fails if any mutated file raises anything but a CheckpointError naming the file, or needs
memory beyond the cap. Not collected by pytest (no test_ prefix)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgbt_seg_core import build_model
from rgbt_seg_core.models import checkpoint_file as ck
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.utils.safetensors_io import read_header, write_file

OUT = Path(sys.argv[1])
CAP = int(sys.argv[2])  # bytes the child may add to its data segment beyond what it holds after set-up

torch.manual_seed(0)
model = build_model("rsfnet50_18", num_classes=5, fusion_channels=[16, 16, 32, 32], reduced_dim=16).eval()
full = OUT / "full.safetensors"
ck.save_checkpoint(full, model)
with open(full, "rb") as f:
    META = json.loads(read_header(f, full.stat().st_size).metadata["rgbt_seg"])  # the header as written
state = model.state_dict()
FEW = {k: state[k] for k in list(state)[:4]}  # a quick base: the real header, a handful of tensors


def write(meta_json: str, tensors: dict, resign: bool, path: Path) -> None:
    digest = ck._digest(meta_json, [(k, t.dtype, tuple(t.shape), ck._tensor_blocks(t)) for k, t in tensors.items()])
    write_file(path, tensors, {"rgbt_seg": meta_json, "rgbt_seg_sha256": digest if resign else "0" * 64})


def load_expecting_checkpoint_error_or_success(path: Path) -> None:
    try:
        load_checkpoint(path)
    except ck.CheckpointError as exc:
        assert path.name in str(exc), exc
        assert "allocate" not in str(exc), exc  # an out-of-memory must never pass as a bad file


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20)
option_values = st.one_of(json_values, st.integers(0, 100_000), st.lists(st.integers(0, 100_000), max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(key=st.sampled_from(["model", "options", "class_names", "palette", "training", "deploy", "format", "version",
                            "extra"]), value=json_values, resign=st.booleans())
def fuzz_header_fields(key: str, value, resign: bool) -> None:
    meta = dict(META)
    meta[key] = value
    path = OUT / "field.safetensors"
    write(json.dumps(meta), FEW, resign, path)
    load_expecting_checkpoint_error_or_success(path)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(key=st.sampled_from(["kernel_size", "reduced_dim", "fusion_channels", "gate", "fusion", "modalities",
                            "gate_mode", "multi_branch", "confidence_heads", "pretrained", "rgb_encoder", "bogus"]),
       value=option_values, full_tensors=st.booleans())
def fuzz_options(key: str, value, full_tensors: bool) -> None:
    meta = json.loads(json.dumps(META))
    meta["options"][key] = value
    path = OUT / "options.safetensors"
    write(json.dumps(meta), state if full_tensors else FEW, True, path)
    load_expecting_checkpoint_error_or_success(path)


RAW = (OUT / "few.safetensors")
write(json.dumps(META), FEW, True, RAW)
RAW_BYTES = RAW.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(edits=st.lists(st.tuples(st.integers(0, len(RAW_BYTES) - 1), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, len(RAW_BYTES))), insert=st.binary(max_size=16))
def fuzz_bytes(edits, cut, insert: bytes) -> None:
    data = bytearray(RAW_BYTES)
    for i, b in edits:
        data[i] = b
    if cut is not None:
        data = data[:cut] + insert + data[cut:]
    path = OUT / "bytes.safetensors"
    path.write_bytes(bytes(data))
    load_expecting_checkpoint_error_or_success(path)


# the finding: a tiny header asking for reduced_dim 4096, with a valid checksum, drove RSS past 6 GB
meta = json.loads(json.dumps(META))
meta["options"].update(reduced_dim=4096, fusion_channels=[4096] * 4)
write(json.dumps(meta), FEW, True, OUT / "huge.safetensors")

soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
resource.setrlimit(resource.RLIMIT_DATA, (used + CAP, hard))
try:
    load_checkpoint(OUT / "huge.safetensors")
    raise SystemExit("huge: loaded")
except ck.CheckpointError as exc:
    assert "weights do not fit" in str(exc), exc
for fuzz in (fuzz_header_fields, fuzz_options, fuzz_bytes):
    fuzz()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(f"ok: peak RSS grew by {(peak - used) / 2**20:.0f} MiB over set-up")
