"""The bags a fleet command is given: bag folders, single ``.mcap`` files, globs, folders of bags and ``@list.txt``.

Globs are expanded here, not by the shell, so a quoted ``'runs/*/bag'`` works the same on every shell and in a
cluster's job script; what a glob matches that is no bag is passed over. A folder that is not itself a bag is a
folder of bags: every bag one level down. A list file holds one input a line (a path, a glob or a folder of bags,
relative to the list file's own folder), with ``#`` comment lines. The result keeps the order given and names each
bag once. An input that matches nothing is not an error that stops the run: it is listed, with its reason, for the
report.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = ["Expansion", "BadInput", "expand_inputs", "is_bag", "has_glob"]

BAG_FILE_SUFFIXES = (".mcap",)  # what the bag reader opens without its folder
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class BadInput:
    """An input that gave no bag, and why."""

    input: str
    reason: str


@dataclass
class Expansion:
    bags: list[Path] = field(default_factory=list)
    bad: list[BadInput] = field(default_factory=list)


def has_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def is_bag(path: Path) -> bool:
    """A rosbag2 folder (its ``metadata.yaml``, or an sqlite3 file, which is no bag alone), or a single ``.mcap``
    file. A folder of ``.mcap`` files without metadata is a folder of bags, one a file."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(p.suffix == ".db3" and p.is_file() for p in path.iterdir())
    return path.is_file() and path.suffix in BAG_FILE_SUFFIXES


def _folder_of_bags(path: Path) -> list[Path]:
    return [p for p in sorted(path.iterdir()) if not p.name.startswith(".") and is_bag(p)]


def _expand_path(text: str, path: Path, out: Expansion) -> None:
    try:
        if is_bag(path):
            out.bags.append(path)
        elif path.is_dir():
            found = _folder_of_bags(path)
            out.bags.extend(found)
            if not found:
                out.bad.append(BadInput(text, "a folder with no bag in it (nor one level down)"))
        elif path.exists():
            out.bad.append(BadInput(text, "not a bag (a rosbag2 folder or an .mcap file)"))
        else:
            out.bad.append(BadInput(text, "no such file or folder"))
    except OSError as exc:
        out.bad.append(BadInput(text, f"cannot be read ({exc})"))


def _expand_one(text: str, base: Path, out: Expansion) -> None:
    """One input (not a list file): a glob, or a path, relative to ``base``."""
    rooted = text if os.path.isabs(text) else str(base / text)
    if has_glob(text):  # what matches and is no bag (a README beside the bags) is passed over
        found = []
        for m in sorted(glob.glob(rooted, recursive=True)):
            path = Path(m)
            try:
                found += [path] if is_bag(path) else _folder_of_bags(path) if path.is_dir() else []
            except OSError:
                continue
        out.bags.extend(found)
        if not found:
            out.bad.append(BadInput(text, "the pattern matches no bag"))
        return
    _expand_path(text, Path(rooted), out)


def _list_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def expand_inputs(inputs: Iterable[str], cwd: str | Path | None = None) -> Expansion:
    """Every bag the inputs name, each once, in the order given; the inputs that named none, with the reason.

    Args:
        inputs: the command's positional arguments: paths, globs, folders of bags, ``@list.txt``.
        cwd: the folder relative inputs start from (default: the current one).
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    out = Expansion()
    for text in inputs:
        if text.startswith("@"):
            listing = Path(text[1:]) if os.path.isabs(text[1:]) else base / text[1:]
            try:
                lines = _list_lines(listing)
            except (OSError, UnicodeDecodeError) as exc:
                out.bad.append(BadInput(text, f"{listing}: cannot read the list file ({exc})"))
                continue
            for line in lines:  # a list names bags, not further lists: no loops to follow
                _expand_one(line, listing.parent, out)
        else:
            _expand_one(text, base, out)
    seen: set[Path] = set()
    unique = []
    for bag in out.bags:
        key = bag.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(bag)
    out.bags = unique
    return out
