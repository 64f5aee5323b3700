"""Camera pairs: one node serving several RGB-thermal pairs (``pairs: [front, rear]``), each on topics under its
name and with its own values of the settings that belong to a camera.

A pair's own value is the ROS 2 parameter ``<pair>.<setting>`` (``front.thermal_homography``), written in a
parameter file as a nested key under ``ros__parameters`` (``front: {thermal_homography: [...]}``), which
:func:`~rgbt_seg_core.settings.files.read_params_file` flattens to the dotted name as rcl does. Only settings marked
``per_pair`` in the schema may be set so; the others (model, device, precision, backend, batching, warm-up,
diagnostics) are the node's. :func:`resolve_pairs` turns the flat parameters into each pair's settings, every
key either applied or refused naming it, each value checked as the node-wide one is. :func:`pair_topics` is the
one place a pair's topic names are made; with ``pairs`` empty the node has one pair, :data:`SINGLE`, on the topic
names of a single-pair node (``rgb/image`` in, ``~/labels`` out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from rgbt_seg_core.settings.check import MAX_PAIRS, check_pair_names, check_value
from rgbt_seg_core.settings.schema import SETTINGS, Settings, setting
from rgbt_seg_core.settings.spec import Setting, SettingsError
from rgbt_seg_core.settings.vocab import transport_topic

__all__ = ["SINGLE", "CAMERAS", "OUTPUTS", "MAX_PAIRS", "PER_PAIR", "PairTopics", "PairSettings", "pair_topics",
           "pair_key", "pair_parameters", "resolve_pairs", "pairs_from_text", "check_pair", "check_pair_names"]

SINGLE = ""  # the one pair of a node whose pairs parameter is empty
CAMERAS = ("rgb", "thermal")
# the node's outputs, by the key its publishers go by; each is ~/<key> for SINGLE and ~/<pair>/<key> for a pair
# (<key>/compressed: image_transport's compressed transport of the picture <key>; label_info: vision_msgs/LabelInfo)
OUTPUTS = ("labels", "color", "overlay", "gate/rgb", "gate/thermal", "confidence", "label_confidence", "camera_info",
           "labels/compressed", "color/compressed", "overlay/compressed", "gate/rgb/compressed",
           "gate/thermal/compressed", "label_info")
PER_PAIR: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.per_pair)
_PER_PAIR = {s.name: s for s in PER_PAIR}


@dataclass(frozen=True)
class PairTopics:
    """A pair's topic names. Inputs are relative, so the node's namespace and remappings apply to them as to a
    single-pair node's; outputs are under the node's private namespace (``~``)."""

    pair: str
    images: Mapping[str, str]  # camera (rgb, thermal) -> base image topic: the raw transport's
    camera_info: str  # the colour camera's, which the labels republish as their own
    outputs: Mapping[str, str]  # OUTPUTS key -> topic

    def image(self, camera: str, transport: str) -> str:
        """The topic a camera's frames arrive on with ``transport`` (``front/rgb/image/compressed``)."""
        if camera not in self.images:
            raise ValueError(f"camera {camera!r}: expected one of {', '.join(CAMERAS)}")
        return transport_topic(self.images[camera], transport)

    def subscriptions(self, s: Settings) -> dict[str, str]:
        """Camera -> the topic to subscribe to, with the transports of ``s`` (the pair's settings)."""
        return {"rgb": self.image("rgb", s.rgb_transport), "thermal": self.image("thermal", s.thermal_transport)}


def check_pair(name: str) -> str:
    """One pair's name, checked as the ``pairs`` parameter checks its names (the error names it)."""
    check_value(setting("pairs"), [name])
    return name


def pair_topics(pair: str) -> PairTopics:
    """The topic names of ``pair``; :data:`SINGLE` gives a single-pair node's. The name is checked as ``pairs``
    checks it, so no topic is made from a name the node would refuse."""
    if pair != SINGLE:
        check_pair(pair)
    prefix = f"{pair}/" if pair else ""
    return PairTopics(pair=pair, images={c: f"{prefix}{c}/image" for c in CAMERAS},
                      camera_info=f"{prefix}rgb/camera_info", outputs={k: f"~/{prefix}{k}" for k in OUTPUTS})


def pair_parameters(pairs: Sequence[str]) -> dict[str, Setting]:
    """Every parameter a pair may set, by its dotted name (``front.thermal_homography``), with its schema row: what
    the node declares or describes for its pairs."""
    return {f"{p}.{s.name}": s for p in pairs for s in PER_PAIR}


def pair_key(key: str, pairs: Sequence[str]) -> tuple[str, Setting]:
    """``<pair>.<setting>`` -> the pair and the setting's row. Refused, naming the key: a pair not in ``pairs``, a
    setting the schema does not have, or one that is the node's rather than a pair's."""
    pair, dot, name = key.partition(".")
    if not dot:
        raise SettingsError(f"parameter {key}: not a pair's parameter (<pair>.<setting>)")
    if pair not in pairs:
        have = f"pairs is {', '.join(pairs)}" if pairs else "pairs is empty"
        raise SettingsError(f"parameter {key}: no camera pair {pair!r} ({have})")
    if name in _PER_PAIR:
        return pair, _PER_PAIR[name]
    try:
        setting(name)
    except KeyError:
        raise SettingsError(f"parameter {key}: no setting {name!r} (a pair sets those marked per pair in "
                            "config/segment.yaml)") from None
    raise SettingsError(f"parameter {key}: {name} is the node's, shared by every pair, and cannot be set per pair")


def _checked(key: str, row: Setting, value: Any) -> Any:
    """The value checked as the node-wide setting's, the error naming the dotted key."""
    try:
        return check_value(row, value)
    except SettingsError as exc:
        text, plain = str(exc), f"parameter {row.name}"
        raise SettingsError(f"parameter {key}{text[len(plain):]}" if text.startswith(plain)
                            else f"parameter {key}: {text}") from None


@dataclass(frozen=True)
class PairSettings:
    """The settings of a node and of each of its pairs. ``node``: the node-wide values; ``own``: what each pair
    sets itself (checked, in the setting's own type); ``pairs``: each pair's settings, the node's with its own over
    them, in the order of the ``pairs`` parameter (only :data:`SINGLE`, the node's own, where it is empty)."""

    node: Settings
    own: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pairs: Mapping[str, Settings] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.pairs)

    @property
    def batch_size(self) -> int:
        """The most frames one model call takes: ``max_batch`` (0: every pair), never more than there are pairs,
        as each pair has at most one frame waiting."""
        return min(self.node.max_batch or len(self.pairs), len(self.pairs))

    def parameters(self) -> dict[str, Any]:
        """Every value as flat ROS parameters: the node's, then ``<pair>.<setting>`` for each pair's own."""
        flat = self.node.values()
        flat.update({f"{p}.{name}": value for p, values in self.own.items() for name, value in values.items()})
        return flat

    def changed(self, changes: Mapping[str, Any], *, source: str = "") -> "PairSettings":
        """These settings with ``changes`` (plain names for the node's value, dotted for one pair's) over them,
        resolved again: a node-wide change reaches every pair that does not set its own, a pair's reaches that
        pair alone (``ros2 param set front.thermal_offset_x 4``)."""
        return resolve_pairs({**self.parameters(), **changes}, source=source, settings_type=type(self.node))


def resolve_pairs(values: Mapping[str, Any], *, source: str = "",
                  settings_type: type[Settings] = Settings) -> PairSettings:
    """Each pair's settings from flat parameters (a parameter file read by
    :func:`~rgbt_seg_core.settings.files.read_params_file`, or the node's): plain names are the node's settings,
    validated by ``settings_type.from_values`` (the node passes its own class); ``<pair>.<setting>`` are a pair's
    own, checked by :func:`pair_key` and as the node-wide value is, then with the pair's other settings (the
    checks across settings, the error naming the pair). Raises :class:`SettingsError` naming ``source`` and the
    key or pair at fault."""
    where = f"{source}: " if source else ""
    node = settings_type.from_values({k: v for k, v in values.items() if "." not in k}, source=source)
    own: dict[str, dict[str, Any]] = {p: {} for p in node.pairs}
    try:
        for key in sorted(k for k in values if "." in k):
            pair, row = pair_key(key, node.pairs)
            own[pair][row.name] = _checked(key, row, values[key])
    except SettingsError as exc:
        raise SettingsError(f"{where}{exc}") from None
    resolved: dict[str, Settings] = {}
    for pair in node.pairs:
        try:
            resolved[pair] = node.replace(own[pair]) if own[pair] else node
        except SettingsError as exc:
            raise SettingsError(f"{where}pair {pair}: {exc}") from None
    return PairSettings(node=node, own={p: v for p, v in own.items() if v}, pairs=resolved or {SINGLE: node})


def pairs_from_text(text: str) -> list[str]:
    """The ``pairs`` value from one word, as a launch argument or a flag gives it: ``front,rear`` or the YAML list
    ``[front, rear]``; empty or ``[]``: no pairs. Unchecked: the names are checked with the settings."""
    import yaml

    text = text.strip()
    if text.startswith("["):
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"parameter pairs: {text!r} is not a YAML list: {exc}") from None
        if not isinstance(parsed, list):
            raise SettingsError(f"parameter pairs: {text!r} is not a YAML list")
        return parsed
    return [name.strip() for name in text.split(",")] if text else []
