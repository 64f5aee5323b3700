"""What one setting is: the row of the schema that the node's parameter declaration, ``config/segment.yaml``, the
engine's and runtime's defaults and every tool's command-line flag are made from (:mod:`.schema` holds the rows)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Setting", "SettingsError", "GROUPS", "TYPE_NAMES", "setting_field"]

# inference: the engine's (InferenceConfig); runtime: pairing, checks and health (RuntimeConfig); camera: how the
# node subscribes; node: what only the running node uses (its start-up warm-up, its diagnostics timer)
GROUPS = ("inference", "runtime", "camera", "node")
TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list of float"}


class SettingsError(ValueError):
    """A value, file or flag refused; the message names the setting and, where there is one, the file."""


@dataclass(frozen=True)
class Setting:
    """One setting. ``type`` is bool, int, float, str or list, and ``item`` a list's item type (float unless
    given; str for a list of names); ``range`` is inclusive; a ``dynamic`` setting may change while the node runs
    (every other one is read-only after start); ``check``, where given, refuses a value's form that type, range and
    choices cannot express (it raises :class:`SettingsError`). A ``per_pair`` setting belongs to a camera pair, so
    each pair of a node serving several may set its own (``front.thermal_homography``,
    :mod:`rgbt_seg_core.settings.pairs`); every other one is the node's, shared by all its pairs."""

    name: str
    type: type
    default: Any
    description: str
    group: str
    unit: str = ""
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    dynamic: bool = False
    check: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    per_pair: bool = False
    item: builtins.type | None = None  # the field `type` hides the builtin here

    def __post_init__(self) -> None:
        if self.type is list and self.item is None:
            object.__setattr__(self, "item", float)  # the lists of numbers came first: a list is of floats
        if (self.type is list) != (self.item is not None) or self.item not in (None, float, str):
            raise TypeError(f"setting {self.name}: a list's items are float or str, and only a list has items")

    @property
    def read_only(self) -> bool:
        """The node's ParameterDescriptor.read_only."""
        return not self.dynamic

    @property
    def type_name(self) -> str:
        return f"list of {TYPE_NAMES[self.item]}" if self.item is not None else TYPE_NAMES[self.type]

    @property
    def flag(self) -> str:
        """The command-line flag every tool gives it."""
        return "--" + self.name.replace("_", "-")


def setting_field(default: Any, description: str, *, group: str, unit: str = "",
                  range: tuple[float, float] | None = None, choices: tuple[str, ...] | None = None,
                  dynamic: bool = False, check: Callable[[Any], Any] | None = None, per_pair: bool = False) -> Any:
    """A field of :class:`~rgbt_seg_core.settings.schema.Settings` whose metadata is its row of the schema. The field
    has no dataclass default, so a settings value is only ever made with every value given (and validated)."""
    if group not in GROUPS:
        raise ValueError(f"setting group {group!r}: expected one of {', '.join(GROUPS)}")
    row = dict(default=default, description=description, group=group, unit=unit, range=range, choices=choices,
               dynamic=dynamic, check=check, per_pair=per_pair)
    return field(metadata={"setting": row})
