"""The fleet's inputs: paths, globs (expanded by us), folders of bags and @lists, in any mix and order, give every bag
once in the order first named, and every input that names none as a bad input with its reason, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rgbt_seg_core.fleet.inputs import expand_inputs, is_bag


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fleet/ holds a bag folder with metadata, one with only its sqlite3 file, a single .mcap file, a note and an
    empty folder; more/ one bag; lists/ a list file. The bags' contents do not matter here: nothing opens them."""
    root = tmp_path_factory.mktemp("fleet_inputs")
    for d in ("fleet/a", "fleet/b", "fleet/empty", "more/d", "lists"):
        (root / d).mkdir(parents=True)
    (root / "fleet/a/metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (root / "fleet/b/b_0.db3").write_bytes(b"")
    (root / "fleet/c.mcap").write_bytes(b"")
    (root / "fleet/notes.txt").write_text("not a bag\n")
    (root / "more/d/metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (root / "lists/fixed.txt").write_text("# the day's bags\n../fleet/a\n\n   ../more/*  \n#../fleet/b\n")
    return root


# each input with the bags it names (relative to the tree) or None where it names none
INPUTS: dict[str, list[str] | None] = {
    "fleet/a": ["fleet/a"],
    "fleet/b": ["fleet/b"],
    "fleet/c.mcap": ["fleet/c.mcap"],
    "fleet": ["fleet/a", "fleet/b", "fleet/c.mcap"],  # a folder of bags: the bags one level down, sorted
    "fleet/*": ["fleet/a", "fleet/b", "fleet/c.mcap"],  # the note and the empty folder are passed over
    "fleet/*.mcap": ["fleet/c.mcap"],
    "*/d": ["more/d"],
    "more/./d": ["more/d"],  # the same bag under another spelling is still one bag
    "@lists/fixed.txt": ["fleet/a", "more/d"],  # relative to the list; comments and blank lines skipped
    "missing": None,
    "nope/*": None,
    "fleet/notes.txt": None,
    "fleet/empty": None,
    "@lists/missing.txt": None,
}


def _expected(inputs: list[str]) -> tuple[list[str], list[str]]:
    bags: list[str] = []
    bad: list[str] = []
    for text in inputs:
        named = INPUTS[text]
        if named is None:
            bad.append(text)
        else:
            bags += [b for b in named if b not in bags]
    return bags, bad


@settings(max_examples=60, deadline=None)
@given(inputs=st.lists(st.sampled_from(sorted(INPUTS)), max_size=8), absolute=st.booleans())
def test_any_mix_of_inputs(tree: Path, inputs: list[str], absolute: bool) -> None:
    given_inputs = [f"@{tree / t[1:]}" if t.startswith("@") else str(tree / t) for t in inputs] if absolute else inputs
    got = expand_inputs(given_inputs, cwd=tree)
    bags, bad = _expected(inputs)
    assert [b.resolve() for b in got.bags] == [(tree / b).resolve() for b in bags]
    assert [b.input for b in got.bad] == [g for g, t in zip(given_inputs, inputs) if INPUTS[t] is None]
    assert all(b.reason for b in got.bad)


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.one_of(st.sampled_from(sorted(k for k in INPUTS if not k.startswith("@"))),
                                st.sampled_from(["", "   ", "# a comment", "  # indented comment"])), max_size=10))
def test_list_files_read_as_their_lines(tree: Path, lines: list[str]) -> None:
    listing = tree / "lists" / "drawn.txt"
    listing.write_text("\n".join(f"../{line}" if line.strip() and not line.strip().startswith("#") else line
                                 for line in lines) + "\n")
    got = expand_inputs([f"@{listing}"], cwd="/")
    paths = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    bags, bad = _expected(paths)
    assert [b.resolve() for b in got.bags] == [(tree / b).resolve() for b in bags]
    assert len(got.bad) == len(bad)


def test_what_is_a_bag(tree: Path) -> None:
    assert is_bag(tree / "fleet/a") and is_bag(tree / "fleet/b") and is_bag(tree / "fleet/c.mcap")
    assert not is_bag(tree / "fleet") and not is_bag(tree / "fleet/notes.txt") and not is_bag(tree / "missing")
    reasons = {b.input: b.reason for b in expand_inputs(["missing", "fleet/empty", "nope/*", "@x.txt"], cwd=tree).bad}
    assert "no such file" in reasons["missing"] and "no bag" in reasons["fleet/empty"]
    assert "matches no bag" in reasons["nope/*"] and "list file" in reasons["@x.txt"]
