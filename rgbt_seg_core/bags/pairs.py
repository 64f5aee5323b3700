"""Which camera pairs of a bag a tool replays, and on which topics.

A bag of a robot with several camera pairs holds each pair's cameras under the pair's name, as the node serving
them subscribes (``/front/rgb/image``, ``/front/thermal/image``) and its ground truth beside them
(``/front/labels/ground_truth``): :func:`~rgbt_seg_core.bags.from_dataset.bag_topics`, the one naming rule.
:func:`plan_pairs` chooses the pairs (those asked for, else the parameter file's, else every pair the bag has),
refuses a pair the bag lacks naming the pair and the topic, and accounts for every topic of the bag: each is one
pair's or listed as ignored, so no recorded camera is left out without the report saying so.
:func:`replay_configs` gives each pair the configs the node would give it (one engine, each pair's runtime and
preprocessing from its ``<pair>.<setting>`` values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from rgbt_seg_core.bags.from_dataset import BagTopics, bag_topics
from rgbt_seg_core.bags.io import BagError
from rgbt_seg_core.inference.engine import InferenceConfig, Preprocessing
from rgbt_seg_core.runtime import RuntimeConfig
from rgbt_seg_core.runtime.node_settings import node_configs, pair_configs
from rgbt_seg_core.settings.pairs import SINGLE, PairSettings, check_pair
from rgbt_seg_core.settings.spec import SettingsError

__all__ = ["PairPlan", "bag_pairs", "plan_pairs", "replay_configs"]

_SUFFIX = "/" + bag_topics(SINGLE).rgb.lstrip("/")  # /rgb/image: a pair's colour camera ends so


@dataclass(frozen=True)
class PairPlan:
    """The pairs to replay (pair -> its topics, in order; :data:`SINGLE` alone for a single-pair bag), the bag's
    topics no pair uses (``ignored``, with their message counts) and each pair's label topic where the bag has
    it."""

    pairs: Mapping[str, BagTopics]
    ignored: Mapping[str, int] = field(default_factory=dict)
    labelled: frozenset[str] = frozenset()
    present: frozenset[str] = frozenset()  # the bag's topics

    @property
    def several(self) -> bool:
        """Whether the pairs are named (a multi-pair bag), as opposed to a single pair on its own topics."""
        return SINGLE not in self.pairs

    def used(self, pair: str) -> list[str]:
        """The topics of the bag ``pair`` reads: its cameras, and its labels where the bag has them."""
        t = self.pairs[pair]
        return [topic for topic in (t.rgb, t.thermal, t.labels) if topic in self.present]


def _is_pair_name(name: str) -> bool:
    try:
        check_pair(name)
    except SettingsError:
        return False
    return True


def bag_pairs(topics: Sequence[str]) -> list[str]:
    """The named pairs whose two cameras are both among ``topics`` (``/front/rgb/image`` with
    ``/front/thermal/image``), sorted by name."""
    have = set(topics)
    names = {t[1:-len(_SUFFIX)] for t in have if t.startswith("/") and t.endswith(_SUFFIX) and t != _SUFFIX}
    return sorted(n for n in names if _is_pair_name(n) and bag_topics(n).thermal in have)


def plan_pairs(bag: str | Path, found: Mapping[str, int], *, requested: Sequence[str] = (),
               configured: Sequence[str] = (), single: BagTopics = BagTopics(), find: bool = True) -> PairPlan:
    """The pairs of ``bag`` (whose topics and message counts are ``found``) to replay: ``requested`` (``--pair``,
    each among ``configured`` where a parameter file names pairs), else ``configured``, else every named pair the
    bag has (:func:`bag_pairs`; not with ``find`` off, where a single pair's topics were given), else one pair on
    ``single``'s topics. Raises :class:`BagError` naming the pair
    and the topic it lacks, ValueError for a pair the parameter file does not serve."""
    names = list(requested or configured)
    for name in requested:
        check_pair(name)
        if configured and name not in configured:
            raise ValueError(f"--pair {name}: not one of the parameter file's pairs ({', '.join(configured)})")
    if len(set(names)) != len(names):
        raise ValueError(f"--pair {', '.join(names)}: a pair is named twice")
    if not names:
        names = (bag_pairs(list(found)) if find else []) or [SINGLE]
    pairs = {n: (bag_topics(n) if n != SINGLE else single) for n in names}
    for name, t in pairs.items():  # a single pair's topics are checked by the replay, as before pairs
        missing = [topic for topic in (t.rgb, t.thermal) if topic not in found and name != SINGLE]
        if missing:
            listing = ", ".join(sorted(found)) or "none"
            raise BagError(f"{bag}: pair {name}: topic(s) {', '.join(missing)} not in the bag; topics found: "
                           f"{listing}")
    labelled = frozenset(n for n, t in pairs.items() if t.labels in found)
    used = {topic for n, t in pairs.items() for topic in (t.rgb, t.thermal, t.labels) if topic in found}
    ignored = {t: found[t] for t in sorted(found) if t not in used}
    return PairPlan(pairs, ignored, labelled, frozenset(found))


def replay_configs(ps: PairSettings, plan: PairPlan, **inference: object
                   ) -> tuple[InferenceConfig, dict[str, tuple[RuntimeConfig, Preprocessing | None]]]:
    """The one engine's config (the node's settings) and each planned pair's runtime config and preprocessing,
    offline (every pair kept), as the node makes them: a pair the parameter file does not name (it names none)
    runs with the node's settings."""
    _, engine = node_configs(ps.node, realtime=False, **inference)
    configs = pair_configs(ps, realtime=False, **inference)
    out: dict[str, tuple[RuntimeConfig, Preprocessing | None]] = {}
    for pair in plan.pairs:
        runtime, inf = configs.get(pair) or configs[SINGLE]
        out[pair] = (runtime, inf.preprocessing() if pair in configs and pair != SINGLE else None)
    return engine, out
