"""Atomic writes: the old file or the whole new one, never a part; an interrupted write leaves only a temporary
that remove_stale_temporaries clears (test_kill_resume does this with a killed training run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgbt_seg_core.utils.atomic import atomic_write, atomic_write_bytes, remove_stale_temporaries


def test_writes_the_whole_file_and_makes_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.bin"
    atomic_write_bytes(target, b"hello")
    assert target.read_bytes() == b"hello"
    atomic_write_bytes(target, b"replaced")
    assert target.read_bytes() == b"replaced"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.bin"]  # no temporary left behind


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def half(f) -> None:
        f.write(b"new but ")
        raise KeyboardInterrupt  # BaseException too: Ctrl-C must not leave a part-written file

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_the_temporary_sits_beside_the_target_until_complete(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    seen: list[list[str]] = []

    def write(f) -> None:
        f.write(b"data")
        seen.append(sorted(p.name for p in tmp_path.iterdir()))

    atomic_write(str(target), write)
    assert len(seen[0]) == 1 and seen[0][0].startswith(".x.bin.") and seen[0][0].endswith(".tmp")
    assert target.read_bytes() == b"data"


def test_remove_stale_temporaries_removes_only_that_files_leftovers(tmp_path: Path) -> None:
    stale = [tmp_path / ".x.bin.abc.tmp", tmp_path / ".x.bin.def.tmp"]
    keep = [tmp_path / "x.bin", tmp_path / ".y.bin.abc.tmp", tmp_path / ".x.bin.abc.txt"]
    for p in stale + keep:
        p.write_bytes(b"1")
    assert sorted(remove_stale_temporaries(tmp_path, "x.bin")) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert remove_stale_temporaries(tmp_path / "missing", "x.bin") == []
