"""Run by test_kill_resume.py: trains with the given configuration in a child process and, optionally, kills
itself (os._exit) at the Nth checkpoint write, just before or just after the file is renamed into place. Not
collected by pytest."""

from __future__ import annotations

import json
import os
import sys

from rgbt_seg_core.training.config import TrainConfig
from rgbt_seg_core.training.trainer import Trainer
from rgbt_seg_core.utils import atomic

cfg = TrainConfig(**json.loads(sys.argv[1]))
index, phase = int(sys.argv[2]), sys.argv[3]  # phase: before | after
writes: list[str] = []
real_replace = os.replace


def replace(src, dst):
    name = os.path.basename(dst)
    if name in ("last.safetensors", "best.safetensors"):
        writes.append(name)
        if len(writes) - 1 == index:
            if phase == "before":
                os._exit(9)  # the temporary file is written and synced, the rename never happens
            real_replace(src, dst)
            os._exit(9)
    real_replace(src, dst)


atomic.os.replace = replace  # every checkpoint write renames through rgbt_seg_core.utils.atomic
Trainer(cfg).run()
sys.exit(f"kill_child: the run made {len(writes)} checkpoint writes, none numbered {index}")
