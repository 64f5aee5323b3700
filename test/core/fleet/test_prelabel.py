"""``bag-extract --prelabel CKPT BAG [BAG ...]``: one training folder that the MFNet loader reads as one data set
(each bag in its own subfolder, the pairs' names unique, the lists and extract.json combined), each bag's frames
exactly as single-bag bag-extract writes them; a rerun skips the bags done with the same bag, checkpoint and
settings and redoes the rest cleanly; bad bags listed; Dask workers equal the in-process run."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _support.fleet_bags import write_event_bag
from rgbt_seg_core.bags.from_dataset import BagTopics
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.fleet import prelabel
from rgbt_seg_core.fleet.executor import FLEET_EXTRA_HINT
from rgbt_seg_core.fleet.prelabel import MAX_NAME, safe_name, unique_subfolders

UNLABELLED = BagTopics(labels="/elsewhere")  # the labels lie off the label topic: every pair is prelabelled
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("prelabel")
    out = {"a": write_event_bag(d / "site_a" / "run", frames=5, seed=1, thermal_gap=None, frozen_rgb=None,
                                topics=UNLABELLED),
           "b": write_event_bag(d / "site_b" / "run", frames=4, seed=2, thermal_gap=None, frozen_rgb=None,
                                topics=UNLABELLED)}  # the same name: their subfolders must differ
    garbage = d / "garbage.mcap"
    garbage.write_bytes(b"not an mcap file at all" * 10)
    out["garbage"] = garbage
    return out


def _extract(*argv: str) -> int:
    return main(["bag-extract", *argv, "--dedup", "0", "--device", "cpu"])


def _names(out: Path) -> dict[str, list[str]]:
    return {s: (out / f"{s}.txt").read_text().split() for s in SPLITS}


def _files(out: Path) -> dict[str, bytes]:
    """Every file of the training folder but the run's own bookkeeping (digest memos, done markers)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".fleet" not in p.parts and p.name != "done.json"}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bags extracted in this process (in-process executor), to count the work a rerun does."""
    calls: list[str] = []
    real = prelabel.extract_bag

    def counting(bag, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(str(bag))
        return real(bag, *args, **kw)

    monkeypatch.setattr(prelabel, "extract_bag", counting)
    return calls


def test_two_bags_make_one_folder_that_loads_as_one_data_set(bags: dict[str, Path], varied_checkpoint: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    assert _extract("--prelabel", str(varied_checkpoint), str(bags["a"]), str(bags["b"]), "--out", str(out)) == 0
    info = json.loads((out / "extract.json").read_text())
    subs = [b["subfolder"] for b in info["bags"]]
    assert [b["bag"] for b in info["bags"]] == [str(bags["a"]), str(bags["b"])] and len(set(subs)) == 2
    assert all(s.startswith("run-") for s in subs)  # the bag's name, made unique
    lists = _names(out)
    everything = [n for names in lists.values() for n in names]
    assert len(everything) == len(set(everything)) == 9 == info["result"]["written"] == info["result"]["prelabelled"]
    loaded = {s: build_dataset("mfnet", out, s) for s in SPLITS}
    for s, ds in loaded.items():
        ds.validate()  # every image and label there, in the size extract.json gives
        assert ds.names == lists[s] and not any(ds.is_night(n) for n in ds.names)
        assert ds.class_names == tuple(info["class_names"]) and ds.image_size == (48, 64)
    for bag, sub in zip((bags["a"], bags["b"]), subs):  # each bag's frames exactly as bag-extract writes them alone
        alone = tmp_path / f"alone_{sub}"
        assert _extract("--prelabel", str(varied_checkpoint), str(bag), "--out", str(alone)) == 0
        assert not (alone / ".fleet").exists() and not (alone / "bags").exists()  # one bag: today's layout
        own = _names(alone)
        assert {s: [f"{sub}/{n}" for n in own[s]] for s in SPLITS} == {
            s: [n for n in lists[s] if n.startswith(f"{sub}/")] for s in SPLITS}
        for kind in ("images", "labels", "labels_color"):
            for name in (n for names in own.values() for n in names):
                assert (out / kind / sub / f"{name}.png").read_bytes() == (alone / kind / f"{name}.png").read_bytes()
    assert sum(len(loaded[s]) for s in SPLITS) == 9


def test_rerun_skips_done_bags_and_a_changed_setting_redoes_them(bags: dict[str, Path], varied_checkpoint: Path,
                                                                 tmp_path: Path, counted: list[str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    argv = ["--prelabel", str(varied_checkpoint), str(bags["a"]), str(bags["b"]), "--out", str(out)]
    assert _extract(*argv) == 0 and len(counted) == 2
    first = _files(out)
    assert _extract(*argv) == 0 and len(counted) == 2  # nothing done again
    assert "0 extracted now, 2 done before" in capsys.readouterr().out and _files(out) == first
    assert _extract(*argv, "--every", "2") == 0 and len(counted) == 4  # a changed keep rule: both redone
    assert len([n for names in _names(out).values() for n in names]) == 3 + 2
    assert _extract(*argv, "--every", "2", "--slop", "0.03") == 0 and len(counted) == 6  # a node setting too


def test_a_partial_subfolder_is_redone_cleanly(bags: dict[str, Path], varied_checkpoint: Path, tmp_path: Path,
                                               counted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    argv = ["--prelabel", str(varied_checkpoint), str(bags["a"]), str(bags["b"]), "--out", str(out)]
    assert _extract(*argv) == 0
    whole = _files(out)
    sub = json.loads((out / "extract.json").read_text())["bags"][0]["subfolder"]
    # as a run killed mid-bag leaves it: no done marker, frames missing, a stray file, stale combined lists
    (out / "bags" / sub / "done.json").unlink()
    next((out / "images" / sub).iterdir()).unlink()
    (out / "labels" / sub / "stray.png").write_bytes(b"half")
    (out / "train.txt").write_text("nonsense\n")
    capsys.readouterr()
    assert _extract(*argv) == 0 and counted[2:] == [str(bags["a"])]
    assert "1 extracted now, 1 done before" in capsys.readouterr().out
    assert _files(out) == whole


def test_a_bad_bag_is_listed_and_the_others_stand(bags: dict[str, Path], varied_checkpoint: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    argv = ["--prelabel", str(varied_checkpoint), str(bags["a"]), str(bags["garbage"]), str(tmp_path / "nothing"),
            "--out", str(out)]
    assert _extract(*argv) == 0
    text = capsys.readouterr().out
    assert f"bad bag {bags['garbage']}: " in text and f"bad input {tmp_path / 'nothing'}: no such file" in text
    info = json.loads((out / "extract.json").read_text())
    assert [b["bag"] for b in info["bad_bags"]] == [str(bags["garbage"])] and info["bad_bags"][0]["reason"]
    assert [b["bag"] for b in info["bags"]] == [str(bags["a"])] and len(build_dataset("mfnet", out, "train")) == 3
    assert _extract(*argv, "--strict") == 3  # as bag-eval: non-zero with --strict, or when nothing could be done
    assert _extract("--prelabel", str(varied_checkpoint), str(bags["garbage"]), str(tmp_path / "nothing"), "--out",
                    str(tmp_path / "none")) == 3
    assert "nothing could be extracted" in capsys.readouterr().out


def test_a_folder_that_is_no_fleet_folder_is_refused(bags: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "single"
    assert _extract(str(bags["a"]), "--out", str(single)) == 0  # the bag's own labels are elsewhere: unlabelled
    assert _extract(str(bags["a"]), str(bags["b"]), "--out", str(single)) == 2
    assert f"--out {single} holds a single bag's extraction; refusing" in capsys.readouterr().err


def test_without_dask_two_workers_say_what_to_install(bags: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    assert _extract(str(bags["a"]), "--workers", "2", "--out", str(tmp_path / "out")) == 2
    assert f"--workers 2 needs Dask distributed: {FLEET_EXTRA_HINT}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs the [fleet] extra (Dask)")
def test_two_dask_workers_write_what_the_in_process_run_writes(bags: dict[str, Path], varied_checkpoint: Path,
                                                               tmp_path: Path) -> None:
    argv = ["--prelabel", str(varied_checkpoint), str(bags["a"]), str(bags["b"])]
    assert _extract(*argv, "--out", str(tmp_path / "here")) == 0
    assert _extract(*argv, "--workers", "2", "--out", str(tmp_path / "dask")) == 0
    assert _files(tmp_path / "dask") == _files(tmp_path / "here")


SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.text(max_size=120), st.sampled_from(["run", "RUN", "run-2", ".", "..", "",
                                                                           "a_b", "bag-1a2b3c4d"])),
                          st.text(max_size=20)), max_size=12))
def test_subfolder_names_are_safe_unique_and_keep_a_name_only_one_bag_wants(items: list[tuple[str, str]]) -> None:
    names = unique_subfolders(items)
    assert len(names) == len(items)
    assert len({n.lower() for n in names}) == len(names)  # unique on a case-blind file system too
    assert all(SAFE.match(n) and len(n) <= MAX_NAME and "_" not in n for n in names)
    bases = [safe_name(name) for name, _ in items]
    for base, got in zip(bases, names):
        if [b.lower() for b in bases].count(base.lower()) == 1:
            assert got == base
