"""Type check (mypy, with pyproject.toml's [tool.mypy] settings) over rgbt_seg_core and rgbt_seg_ros: a wrong
argument type, a None that is not ruled out or a stale ``# type: ignore`` fails the suite like any other regression.

Each interpreter keeps its own mypy cache (.venv and .venv310 run the suite side by side in CI, with different
packages installed); a cold run analyses torch and numpy and takes a minute or more, a warm one seconds.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["rgbt_seg_core", "rgbt_seg_ros"]
MAX_IGNORES = 10
# `# type: ignore[code]  # reason`: the code says which check is silenced, the reason why it cannot be fixed
IGNORE_RE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[a-z0-9-]+(?:,\s*[a-z0-9-]+)*\])?(?P<rest>.*)")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.mark.slow
def test_mypy_finds_nothing() -> None:
    if importlib.util.find_spec("mypy") is None:
        message = f"mypy is not installed for {sys.executable} (pip install '.[test]')"
        if _in_ci():
            pytest.fail(message + "; CI must run the type check")
        pytest.skip(message)
    assert "[tool.mypy]" in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    cache = REPO / ".mypy_cache" / Path(sys.prefix).name
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", str(cache)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "Success: no issues found" in out.stdout, (
        f"mypy (config pyproject.toml) exited with {out.returncode}:\n{out.stdout}{out.stderr}")


def _ignores(path: Path) -> list[tuple[int, str]]:
    """(line, comment) of every ``type: ignore`` comment: comments only, a string that mentions one is no ignore."""
    with open(path, "rb") as f:
        tokens = list(tokenize.tokenize(f.readline))
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT and IGNORE_RE.search(t.string)]


def _explained(comment: str) -> bool:
    match = IGNORE_RE.search(comment)
    return match is not None and bool(match["codes"]) and bool(match["rest"].strip().lstrip("#").strip())


def test_type_ignores_are_few_and_explained() -> None:
    found = [(path, line, comment) for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             for line, comment in _ignores(path)]
    where = "\n".join(f"{p.relative_to(REPO)}:{line}: {c}" for p, line, c in found)
    assert len(found) <= MAX_IGNORES, f"{len(found)} type: ignore comments, at most {MAX_IGNORES} allowed:\n{where}"
    unexplained = [f"{p.relative_to(REPO)}:{line}: {c}" for p, line, c in found if not _explained(c)]
    assert not unexplained, ("each type: ignore needs its error code and a reason, as in "
                             "`# type: ignore[attr-defined]  # tensorrt has no stubs`:\n" + "\n".join(unexplained))


@pytest.mark.parametrize(("comment", "explained"), [
    ("# type: ignore[attr-defined]  # tensorrt has no stubs", True),
    ("# type: ignore[arg-type, union-attr]  # two codes, one reason", True),
    ("# type: ignore[attr-defined]", False),
    ("# type: ignore[attr-defined]  #", False),
    ("# type: ignore  # no code", False),
    ("# type: ignore", False),
])
def test_ignore_rule(tmp_path: Path, comment: str, explained: bool) -> None:
    """The rule above on a small file: it finds the comment, not the string that mentions one, and tells an
    explained ignore from a bare one."""
    path = tmp_path / "m.py"
    path.write_text(f"x = 1  {comment}\ny = '# type: ignore[misc]  # in a string'\n")
    assert _ignores(path) == [(1, comment)]
    assert _explained(comment) is explained
