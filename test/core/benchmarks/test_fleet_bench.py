"""``rgbt-seg bench fleet`` on a fleet of two tiny bags: what it prints and writes, not its timings."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from rgbt_seg_core.benchmarks.fleet import make_fleet
from rgbt_seg_core.cli.main import main

ROW = re.compile(r"^  (in-process|1 worker|2 workers)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x  ([\d, ]+)$",
                 re.MULTILINE)


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask distributed is not installed (pip install 'rgbt-seg[fleet]')")
def test_bench_fleet_prints_a_row_per_run_and_identical_reports(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet.json"
    assert main(["bench", "fleet", "--out", str(tmp_path / "fleet"), "--bags", "2", "--frames", "2", "--size", "64",
                 "64", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 bags x 2 frames at 64x64, random rsfnet50_18: 2 shards, 4 scored pairs" in printed
    rows = {m[0]: m[1:] for m in ROW.findall(printed)}
    assert list(rows) == ["in-process", "1 worker", "2 workers"], printed
    threads, _, _, _, ratio, rss = rows["2 workers"]
    assert threads == "1" and rows["1 worker"][0] == "1"  # one thread per worker
    assert rows["1 worker"][4] == "1.00" and float(ratio) > 0  # one worker: the baseline of the ratios
    assert len(rss.split(", ")) == 2 and all(float(m) > 0 for m in rss.split(", "))  # a peak per worker
    assert "reports identical: yes" in printed
    assert re.search(r"2 workers vs 1 worker: [\d.]+x \(target >= 1.7x: (met|missed)\)", printed)
    r = json.loads(out.read_text())
    assert r["identical"] and [row["run"] for row in r["rows"]] == ["in-process", "1 worker", "2 workers"]
    assert all(row["shards"] == 2 and row["command_s"] >= row["wall_s"] > 0 for row in r["rows"])


def test_the_fleet_is_made_once_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    bags, checkpoint = make_fleet(tmp_path, bags=2, frames=1, size=(64, 64))
    stamps = [p.stat().st_mtime_ns for p in (*bags, checkpoint)]
    assert make_fleet(tmp_path, bags=2, frames=1, size=(64, 64)) == (bags, checkpoint)
    assert [p.stat().st_mtime_ns for p in (*bags, checkpoint)] == stamps  # reused, not written again
    with pytest.raises(ValueError, match="--bags and --frames must be >= 1"):
        make_fleet(tmp_path, bags=0)
