"""The shard cache (``--cache DIR``): each finished shard's result, so that a rerun skips what is done.

An entry is keyed by the bag's content digest, the checkpoint's, the settings' and the shard itself (pair, topics,
window), so a changed bag, checkpoint or setting misses and is computed afresh. Each entry is written atomically
the moment its shard finishes, so an interrupted run (Ctrl-C, a lost cluster) keeps every shard it finished. An
entry that cannot be read back (a damaged disk, a hand edit, an older format) is computed again, with a warning
naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from rgbt_seg_core.fleet.records import ShardResult, ShardTask
from rgbt_seg_core.utils.atomic import atomic_write_bytes

__all__ = ["ShardCache", "CACHE_VERSION"]

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when a shard's counting changes, so that old entries miss


class ShardCache:
    """Results by shard under ``root/shards/``; see the module's docstring."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"--cache {self.root}: not a folder")
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(task: ShardTask) -> str:
        if not (task.bag_digest and task.checkpoint_digest and task.settings_digest):
            raise ValueError(f"shard {task.describe()}: no digests to key the cache with")
        parts = [CACHE_VERSION, task.bag_digest, task.checkpoint_digest, task.settings_digest, task.pair,
                 dataclasses.astuple(task.topics), list(task.window)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def path(self, task: ShardTask) -> Path:
        key = self.key(task)
        return self.root / "shards" / key[:2] / f"{key}.json"

    def get(self, task: ShardTask) -> ShardResult | None:
        """The cached result, its bag path the task's (the same content may have moved); None when absent or
        unreadable (warned about, naming the file)."""
        path = self.path(task)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("shard cache entry %s cannot be read (%s); computing the shard again", path, exc)
            return None
        try:
            data = json.loads(text)
            if data.get("key") != path.stem:
                raise ValueError("its key is not its name")
            res = ShardResult.from_json(data["result"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("shard cache entry %s is damaged (%s: %s); computing the shard again", path,
                        type(exc).__name__, exc)
            return None
        res.bag = task.bag
        return res

    def put(self, task: ShardTask, result: ShardResult) -> Path:
        path = self.path(task)
        atomic_write_bytes(path, json.dumps({"key": path.stem, "shard": task.describe(),
                                             "result": result.to_json()}).encode("utf-8"))
        return path
