"""Run by test/core/training/test_distributed_train.py under torchrun: ``rgbt-seg train`` with two observation
points, both set through the environment. Not collected by pytest.

* ``RGBT_TEST_EVENTS``: a folder; each checkpoint this process renames into place is appended to
  ``writes.<rank>`` there (every checkpoint write goes through ``rgbt_seg_core.utils.atomic``).
* ``RGBT_TEST_STALL``: ``RANK:ITERATION``; that rank, once it has done that many optimizer steps, writes
  ``stalled.<rank>`` (its pid) into the events folder and waits there for the test to kill its node. The test
  waits for that file, so the kill lands mid-run whatever the machine's speed.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from rgbt_seg_core.cli.main import main
from rgbt_seg_core.training import trainer
from rgbt_seg_core.utils import atomic

events = Path(os.environ["RGBT_TEST_EVENTS"])
rank = os.environ.get("RANK", "0")
real_replace = os.replace


def replace(src, dst):
    real_replace(src, dst)
    if os.path.basename(dst) in ("last.safetensors", "best.safetensors"):
        with open(events / f"writes.{rank}", "a") as f:
            f.write(os.path.basename(dst) + "\n")


atomic.os.replace = replace

if os.environ.get("RGBT_TEST_STALL"):
    stall_rank, stall_at = os.environ["RGBT_TEST_STALL"].split(":")
    real_step = trainer.Trainer._step

    def step(self, run, batch, iteration):
        out = real_step(self, run, batch, iteration)
        if rank == stall_rank and iteration + 1 == int(stall_at):
            partial = events / f".stalled.{rank}.tmp"
            partial.write_text(str(os.getpid()))
            partial.rename(events / f"stalled.{rank}")  # whole, or not there
            while True:
                signal.pause()  # until the test kills this node
        return out

    trainer.Trainer._step = step

sys.exit(main(sys.argv[1:]))
