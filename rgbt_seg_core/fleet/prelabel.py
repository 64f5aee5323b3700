"""Prelabel a fleet: ``bag-extract --prelabel CKPT BAG [BAG ...]`` writes ONE training folder that the MFNet
loader reads as one data set, with every bag's pairs.

The folder (``OUT``)::

    OUT/images/<bag>/<index>_<stamp>.png       each bag's frames in a subfolder of its own (labels/,
    OUT/labels/<bag>/...                        labels_color/ and thermal16/ likewise), so a pair's name,
    OUT/labels_color/<bag>/...                  ``<bag>/<index>_<stamp>``, is unique across bags
    OUT/bags/<bag>/extract.json, train.txt ...  the bag's own record (names relative to its subfolder) and
    OUT/bags/<bag>/done.json                    its done marker, written atomically last
    OUT/train.txt val.txt test.txt              every finished bag's names, in the order the bags were given
    OUT/extract.json                            the combined record: classes, frame size, settings, every bag's
                                                counts, the bad bags with their reasons
    OUT/.fleet/                                 file digests remembered between runs (bags are not hashed twice)

A task is a whole bag (one camera pair of it, where a bag holds several): the keep rules (every N-th pair, at most
F per second, near-duplicates) depend on the pair kept before, so a bag cannot be cut in time as ``bag-eval``'s
shards are. A worker extracts the bag with ``bag-extract``'s own :func:`~rgbt_seg_core.bags.extract.extract_bag`
into ``bags/<bag>/``, moves its frame folders into place and writes the done marker last. The marker holds the
bag's content digest, the checkpoint's and the settings' (:mod:`rgbt_seg_core.fleet.digests`): a rerun skips a bag
whose marker matches, and redoes one whose checkpoint or settings changed, or that a killed run left without a
marker (its subfolders are removed first, so nothing of the old attempt mixes in). A bad bag (unreadable, a topic
missing, broken off) is listed with its reason and leaves nothing behind; the other bags stand.

Subfolder names come from the bags' names (:func:`unique_subfolders`): only ``A-Z a-z 0-9 . -``, because the
MFNet loader reads a name's text before its first ``_`` as the day/night mark (MFNet's ``...N`` names), and a
``_`` in the bag's part would move that mark into the bag's name.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rgbt_seg_core.bags.extract import extract_bag, extract_config, prelabel_inference
from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.bags.io import list_topics
from rgbt_seg_core.bags.pairs import PairPlan
from rgbt_seg_core.fleet.digests import bag_digest, file_sha256, settings_digest
from rgbt_seg_core.fleet.executor import Executor
from rgbt_seg_core.fleet.records import settings_json
from rgbt_seg_core.inference.engine import InferenceEngine
from rgbt_seg_core.runtime.node_settings import checked_pairs, pair_configs
from rgbt_seg_core.settings.pairs import SINGLE
from rgbt_seg_core.utils.atomic import atomic_write_bytes

__all__ = ["PrelabelTask", "PrelabelResult", "PrelabelPlan", "PrelabelFleet", "unique_subfolders", "safe_name",
           "plan_prelabel", "run_prelabel", "prelabel_fleet", "start_fleet_folder", "FRAME_FOLDERS"]

log = logging.getLogger(__name__)

PRELABEL_VERSION = 1  # bump when what a bag's extraction writes changes, so that old done markers miss
FRAME_FOLDERS = ("images", "labels", "labels_color", "thermal16")
SPLITS = ("train", "val", "test")
RECORDS = "bags"  # OUT/bags/<bag>/: each bag's own record and done marker
INTERNAL = ".fleet"  # OUT/.fleet/: what a rerun needs and training does not (file digests)
DONE = "done.json"
GENERATOR = "rgbt-seg bag-extract (many bags)"
MAX_NAME = 80  # of a subfolder's name from the bag's: far below any file system's limit on one path component
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def safe_name(text: str) -> str:
    """``text`` as a subfolder name: runs of anything but ``A-Z a-z 0-9 . -`` as one ``-`` (see the module's
    docstring for why not ``_``), no leading ``.`` or ``-`` (hidden files, options), at most :data:`MAX_NAME`
    characters; ``bag`` where nothing is left."""
    name = _UNSAFE.sub("-", text).lstrip(".-")[:MAX_NAME].rstrip(".-")
    return name or "bag"


def bag_name(bag: str | Path) -> str:
    """A bag's own name: its folder's, or a single ``.mcap`` file's without the suffix."""
    path = Path(bag)
    return path.stem if path.suffix == ".mcap" else path.name


def unique_subfolders(items: Sequence[tuple[str, str]]) -> list[str]:
    """One subfolder name per ``(wanted name, identity)``, unique even where the file system ignores case.

    A name that only one item wants is kept as :func:`safe_name` makes it, so most bags keep their own name. Names
    that several items want get a suffix from their identity (the bag's absolute path and pair), so a bag keeps
    its subfolder when other bags are added, removed or reordered, and a rerun finds its done marker; a counter
    settles what is left (identities that collide even so).
    """
    bases = [safe_name(name) for name, _ in items]
    wanted: dict[str, int] = {}
    for base in bases:
        wanted[base.lower()] = wanted.get(base.lower(), 0) + 1
    out: list[str] = []
    taken: set[str] = set()
    for base, (_, identity) in zip(bases, items):
        name = base
        if wanted[base.lower()] > 1:
            tag = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            name = f"{base[:MAX_NAME - 9]}-{tag}"
        candidate, n = name, 1
        while candidate.lower() in taken or (candidate != base and candidate.lower() in wanted):
            n += 1
            candidate = f"{name[:MAX_NAME - 1 - len(str(n))]}-{n}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


@dataclass(frozen=True)
class PrelabelTask:
    """One bag (one camera pair of it) to extract into ``out``'s subfolder ``subfolder``; small and picklable.

    ``settings`` is :func:`~rgbt_seg_core.fleet.records.settings_json` of the node's flat parameters, ``keep`` the
    keep rules' JSON (every, fps, dedup, keep_16bit), ``messages`` what the bag holds on the pair's topics (for the
    progress bar). The digests key the done marker."""

    bag: str
    pair: str
    topics: BagTopics
    subfolder: str
    out: str
    settings: str
    keep: str
    checkpoint: str | None
    checkpoint_digest: str
    bag_digest: str
    settings_digest: str
    messages: int = 0

    @property
    def key(self) -> str:
        parts = [PRELABEL_VERSION, self.bag_digest, self.checkpoint_digest, self.settings_digest, self.subfolder]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def describe(self) -> str:
        return f"{self.bag} pair {self.pair}" if self.pair else self.bag


@dataclass
class PrelabelResult:
    """A finished bag: its counts (``extract_bag``'s result), its record (``extract.json``) and each split's
    names relative to its subfolder; ``skipped`` when an earlier run's done marker stood."""

    bag: str
    pair: str
    subfolder: str
    result: dict[str, Any]
    info: dict[str, Any]
    splits: dict[str, list[str]]
    skipped: bool = False


@dataclass
class PrelabelPlan:
    """The tasks in the order the bags were given, what each bag holds (for the progress bar) and the bags refused
    before running (bag -> reason); ``tasks``, ``frames`` and ``bad`` as
    :class:`~rgbt_seg_core.fleet.evaluate.FleetPlan` has them, so that its progress counter serves both."""

    out: Path
    tasks: list[PrelabelTask] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)


@dataclass
class PrelabelFleet:
    """The finished bags (in the plan's order), the bad ones (bag and pair -> reason) and how many were computed
    now or skipped as done before."""

    done: list[PrelabelResult] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)
    computed: int = 0
    skipped: int = 0


def start_fleet_folder(out: str | Path) -> Path:
    """Make ``out`` a fleet folder, or accept one an earlier run made (to resume); refuse anything else, naming
    the folder, as single-bag ``bag-extract`` refuses to write into a folder it did not make."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / INTERNAL).is_dir():
        what = "holds a single bag's extraction" if (out / "extract.json").is_file() else "was not written by " \
            "bag-extract over many bags"
        raise ValueError(f"--out {out} {what}; refusing to write into it (choose another --out)")
    (out / INTERNAL).mkdir(parents=True, exist_ok=True)
    return out


def _task_settings(values: dict[str, Any], keep: dict[str, Any], pair: str, topics: BagTopics) -> str:
    parts = [PRELABEL_VERSION, settings_digest(values), keep, pair, asdict(topics)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def plan_prelabel(bags: Sequence[Path], plan_of: Callable[[Path], PairPlan], values: dict[str, Any],
                  checkpoint: str | None, keep: dict[str, Any], out: str | Path) -> PrelabelPlan:
    """A task per bag (per camera pair of a bag that holds several), each with its subfolder.

    Args:
        bags: the bags, in order (:func:`~rgbt_seg_core.fleet.inputs.expand_inputs`).
        plan_of: a bag's camera pairs and topics, as single-bag ``bag-extract`` plans them; what it raises makes
            the bag a bad one, with the message as its reason.
        values: the node's flat parameter values (``--params`` and the flags).
        checkpoint: ``--prelabel``'s checkpoint, or None (only the bags' own labels).
        keep: the keep rules (``every``, ``fps``, ``dedup``, ``keep_16bit``).
        out: the fleet folder (:func:`start_fleet_folder`); its ``.fleet/`` remembers the bags' file digests.
    """
    out = Path(out)
    text, keep_text = settings_json(values), json.dumps(keep, sort_keys=True)
    ck_digest = file_sha256(checkpoint) if checkpoint else ""
    units: list[tuple[Path, str, BagTopics, int, str]] = []
    plan = PrelabelPlan(out)
    for bag in bags:
        try:
            pairs = plan_of(bag)
            counts = {t: n for t, (_, n) in list_topics(bag).items()}
            digest = bag_digest(bag, out / INTERNAL)
        except (OSError, RuntimeError, ValueError) as exc:  # BagError is a RuntimeError; SettingsError a ValueError
            plan.bad[str(bag)] = _reason(str(bag), str(exc)) or type(exc).__name__
            continue
        for pair, topics in pairs.pairs.items():
            messages = sum(counts.get(t, 0) for t in (topics.rgb, topics.thermal, topics.labels))
            units.append((bag, pair, topics, messages, digest))
            plan.frames[str(bag)] = plan.frames.get(str(bag), 0) + messages
    names = unique_subfolders([(bag_name(bag) + (f"-{pair}" if pair != SINGLE else ""),
                                f"{os.path.abspath(bag)}\0{pair}") for bag, pair, *_ in units])
    for (bag, pair, topics, messages, digest), sub in zip(units, names):
        plan.tasks.append(PrelabelTask(
            bag=str(bag), pair=pair, topics=topics, subfolder=sub, out=str(out), settings=text, keep=keep_text,
            checkpoint=str(checkpoint) if checkpoint else None, checkpoint_digest=ck_digest, bag_digest=digest,
            settings_digest=_task_settings(values, keep, pair, topics), messages=messages))
    return plan


def _reason(bag: str, text: str) -> str:
    """A message without the bag's name in front (the listing names the bag beside it)."""
    while text.startswith(f"{bag}: "):
        text = text[len(bag) + 2:]
    return text


@functools.lru_cache(maxsize=2)
def _engine(checkpoint: str, checkpoint_digest: str, settings: str, pair: str) -> InferenceEngine:
    """The prelabel engine, built once per worker process for a checkpoint (by content) and a pair's settings."""
    configs = pair_configs(checked_pairs(json.loads(settings), source="prelabel settings"), realtime=False, warmup=0)
    _, inference = configs.get(pair) or configs[SINGLE]
    return InferenceEngine(checkpoint, prelabel_inference(inference))


def clear_subfolder(out: str | Path, subfolder: str) -> None:
    """Remove whatever a bag's earlier attempt left: its frame folders and its record (done marker first, so an
    interruption here still leaves the bag to be redone)."""
    out = Path(out)
    (out / RECORDS / subfolder / DONE).unlink(missing_ok=True)
    for kind in FRAME_FOLDERS:
        shutil.rmtree(out / kind / subfolder, ignore_errors=True)
    shutil.rmtree(out / RECORDS / subfolder, ignore_errors=True)


def _read_splits(record: Path) -> dict[str, list[str]]:
    return {s: [n for n in (record / f"{s}.txt").read_text(encoding="utf-8").splitlines() if n] for s in SPLITS}


def run_prelabel(task: PrelabelTask) -> PrelabelResult:
    """On a worker: the bag extracted as single-bag ``bag-extract`` extracts it, into its subfolder; the done
    marker last. Raises for a bad bag (after removing what it wrote), so that the fleet lists it."""
    out, sub = Path(task.out), task.subfolder
    record = out / RECORDS / sub
    clear_subfolder(out, sub)
    ps = checked_pairs(json.loads(task.settings), source="prelabel settings")
    configs = pair_configs(ps, realtime=False, warmup=0)
    runtime, inference = configs.get(task.pair) or configs[SINGLE]
    keep = json.loads(task.keep)
    engine = (_engine(task.checkpoint, task.checkpoint_digest, task.settings, task.pair)
              if task.checkpoint else None)
    try:
        res = extract_bag(task.bag, record, topics=task.topics, config=extract_config(inference, **keep),
                          runtime_config=runtime, prelabel=engine)
        if res.error:
            raise RuntimeError(f"the bag broke off: {res.error}")
        for kind in FRAME_FOLDERS:  # into place: OUT/<kind>/<subfolder>/
            if (record / kind).is_dir():
                (out / kind).mkdir(exist_ok=True)
                os.replace(record / kind, out / kind / sub)
    except BaseException:
        clear_subfolder(out, sub)
        raise
    info = json.loads((record / "extract.json").read_text(encoding="utf-8"))
    done = PrelabelResult(task.bag, task.pair, sub, info.get("result", {}), info, _read_splits(record))
    atomic_write_bytes(record / DONE, json.dumps({"key": task.key, "bag": task.bag, "pair": task.pair,
                                                  "bag_digest": task.bag_digest,
                                                  "checkpoint_digest": task.checkpoint_digest,
                                                  "settings_digest": task.settings_digest}, indent=2).encode())
    return done


def finished(task: PrelabelTask) -> PrelabelResult | None:
    """The bag's result from an earlier run whose done marker has this task's key, else None (to be redone)."""
    record = Path(task.out) / RECORDS / task.subfolder
    try:
        marker = json.loads((record / DONE).read_text(encoding="utf-8"))
        if marker.get("key") != task.key:
            return None
        info = json.loads((record / "extract.json").read_text(encoding="utf-8"))
        return PrelabelResult(task.bag, task.pair, task.subfolder, info.get("result", {}), info,
                              _read_splits(record), skipped=True)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("%s: unreadable (%s); extracting %s again", record, exc, task.describe())
        return None


def prelabel_fleet(plan: PrelabelPlan, executor: Executor,
                   on_result: Callable[[PrelabelTask, PrelabelResult | Exception], object] | None = None
                   ) -> PrelabelFleet:
    """Every bag of ``plan`` not done before, on ``executor``; then the combined split lists and ``extract.json``.
    ``on_result`` sees each bag's outcome as it comes (skipped bags first). KeyboardInterrupt propagates: the bags
    finished before it keep their done markers, and the combined files are written by the next run."""
    fleet = PrelabelFleet(bad=dict(plan.bad))
    by_task: dict[PrelabelTask, PrelabelResult] = {}
    todo = []
    for task in plan.tasks:
        hit = finished(task)
        if hit is None:
            todo.append(task)
            continue
        fleet.skipped += 1
        by_task[task] = hit
        if on_result is not None:
            on_result(task, hit)
    for task, outcome in executor.map(todo, run_prelabel):
        fleet.computed += 1
        if isinstance(outcome, PrelabelResult):
            by_task[task] = outcome
        else:  # the worker cleared up after itself, unless it died: clear here too
            clear_subfolder(task.out, task.subfolder)
            fleet.bad[task.describe()] = _reason(task.bag, str(outcome)) or type(outcome).__name__
        if on_result is not None:
            on_result(task, outcome)
    fleet.done = [by_task[t] for t in plan.tasks if t in by_task]
    write_combined(plan.out, fleet)
    return fleet


def write_combined(out: Path, fleet: PrelabelFleet) -> None:
    """The split lists (each bag's names under its subfolder) and ``extract.json`` over the finished bags, written
    atomically; the loader reads the frame size and the classes from it, so bags that disagree are refused."""
    stale = sorted(p.name for p in (out / RECORDS).glob("*") if p.name not in {d.subfolder for d in fleet.done}
                   ) if (out / RECORDS).is_dir() else []
    if stale:  # kept (they may be wanted again), but not in this run's lists
        log.warning("%s/%s: %s from an earlier run, not among this run's bags: left out of the split lists", out,
                    RECORDS, ", ".join(stale))
    if not fleet.done:  # no list may name frames a failed bag's clean-up removed
        for name in [f"{s}.txt" for s in SPLITS] + ["extract.json"]:
            (out / name).unlink(missing_ok=True)
        return
    classes = {json.dumps([d.info.get("class_names"), d.info.get("palette")]) for d in fleet.done}
    if len(classes) > 1:
        raise ValueError(f"{out}: the bags' labels name different classes ({' / '.join(sorted(classes))}); "
                         "extract them into separate folders")
    sizes = {tuple(d.info["image_size"]) for d in fleet.done if d.info.get("image_size")}
    if len(sizes) > 1:
        log.warning("%s: the bags' frames differ in size (%s); the folder records none, and training must resize",
                    out, ", ".join(f"{h}x{w}" for h, w in sorted(sizes)))
    for split in SPLITS:
        names = [f"{d.subfolder}/{n}" for d in fleet.done for n in d.splits[split]]
        atomic_write_bytes(out / f"{split}.txt", "".join(f"{n}\n" for n in names).encode())
    first = fleet.done[0].info
    totals: dict[str, int] = {}
    for d in fleet.done:
        for k, v in d.result.items():
            if isinstance(v, int) and not isinstance(v, bool):
                totals[k] = totals.get(k, 0) + v
    info = {"generator": GENERATOR, "class_names": first.get("class_names"), "palette": first.get("palette"),
            "image_size": list(sizes.pop()) if len(sizes) == 1 else None, "settings": first.get("settings"),
            "result": totals, "splits": {s: sum(len(d.splits[s]) for d in fleet.done) for s in SPLITS},
            "bags": [{"bag": d.bag, "pair": d.pair, "subfolder": d.subfolder, "topics": d.info.get("topics"),
                      "result": d.result} for d in fleet.done],
            "bad_bags": [{"bag": b, "reason": r} for b, r in fleet.bad.items()]}
    atomic_write_bytes(out / "extract.json", json.dumps(info, indent=2).encode())
