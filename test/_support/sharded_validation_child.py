"""Run by test/core/training/test_distributed.py as one rank of a gloo group on loopback (RANK and WORLD_SIZE from
the test): validates a checkpoint on the synthetic val split with this rank's slice and writes the all-reduced
result, and the slice it scored, to a JSON file. Not collected by pytest.

The ranks meet through a file store, not torch's TCP store: that one asks the DNS resolver for the name of
127.0.0.1 (c10d's socket formatting calls getnameinfo on the IPv4-mapped address), and nothing may leave the
machine. gloo's own connections bind to ``lo`` (GLOO_SOCKET_IFNAME).

Arguments: CHECKPOINT DATA_ROOT OUT_JSON THREADS STORE_FILE."""

from __future__ import annotations

import json
import sys

import torch

from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.training.distributed import (
    close_process_group,
    dist_info,
    init_process_group,
    shard_indices,
    validate_sharded,
)

checkpoint, data_root, out, threads, store = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)  # as the test's own process, so both compute each frame alike
info = dist_info()
init_process_group("cpu", 60.0, init_method=f"file://{store}")
dataset = build_dataset("synthetic", data_root, "val")
result = validate_sharded(InferenceEngine(checkpoint), dataset, info, torch.device("cpu"))
with open(out, "w") as f:
    json.dump({"confusion": result.confusion.matrix.tolist(), "unlabelled": result.confusion.unlabelled.tolist(),
               "images": result.images,
               "subsets": {k: v.matrix.tolist() for k, v in result.subsets.items()},
               "slice": list(shard_indices(len(dataset), info.rank, info.world))}, f)
close_process_group()  # as the trainer does: no rank aborts at exit as the other leaves
