"""Tests for runner/matrix.py: runtimes run once each, compared cell by cell; shards merge back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from asyncparity.load import load_paths
from asyncparity.matrix import Cell, merge_reports, run_matrix, shard, to_report
from asyncparity.model import TARGETS
from asyncparity.node import find_node
from asyncparity.pythons import find_python

ROOT = Path(__file__).resolve().parents[2]
PATHS = [ROOT / "spec" / "seed", ROOT / "spec" / "divergences" / "eager-start.yaml", ROOT / "spec" / "timeouts"]


def rerun(scenario, cell: Cell) -> str:
    return f"asyncparity run {scenario.path} -k {scenario.id} --python {cell.python} --node {cell.node}"


@pytest.fixture(scope="module")
def report() -> dict:
    result = run_matrix(load_paths(PATHS), [find_python(sys.executable)], [find_node()], TARGETS, timeout=30)
    return to_report(result, rerun)


def test_each_cell_has_every_scenario(report: dict) -> None:
    python = ".".join(map(str, sys.version_info[:2]))
    node = find_node().version.split(".")[0]

    assert [cell["name"] for cell in report["cells"]] == [f"py{python}/node{node}"]
    statuses = {scenario["id"]: scenario["cells"][f"py{python}/node{node}"]["status"] for scenario in report["scenarios"]}
    assert statuses["seed-download-fallback"] == "agree"
    assert statuses["eager-start"] == "diverge"
    assert statuses["timeout-by-race"] == "diverge"  # on 3.10 too: the timeout is asyncio.wait_for there
    assert statuses["timeout-fallback"] == "agree"
    # Every cell, a passing one too, carries the command that reruns it (the HTML grid links it).
    seed = next(s for s in report["scenarios"] if s["id"] == "seed-download-fallback")
    cell = report["cells"][0]
    assert seed["cells"][cell["name"]]["rerun"] == (
        f"asyncparity run {seed['path']} -k seed-download-fallback --python {cell['python']} --node {cell['node']}"
    )


def test_shards_split_stably_and_merge_into_the_unsharded_report(report: dict) -> None:
    results = load_paths(PATHS)
    python, node = find_python(sys.executable), find_node()
    first, second = shard(results, 1, 2), shard(results, 2, 2)

    assert sorted(r.path for r in first + second) == sorted(r.path for r in results)
    assert not {r.path for r in first} & {r.path for r in second}
    assert shard(results, 1, 2) == first  # the same split every time
    reports = [to_report(run_matrix(part, [python], [node], TARGETS, timeout=30), rerun) for part in (first, second)]

    merged = merge_reports(reports)

    ordered = sorted(report["scenarios"], key=lambda s: (s["path"], s["id"]))
    assert untimed(merged) == untimed({**report, "scenarios": ordered})  # each run takes its own time


def untimed(report: dict) -> dict:
    """The report without the seconds each cell took."""
    scenarios = [
        {**s, "cells": {name: {k: v for k, v in cell.items() if k != "time"} for name, cell in s["cells"].items()}}
        for s in report["scenarios"]
    ]
    return {**report, "scenarios": scenarios}


def test_each_cell_has_the_seconds_its_runs_took_and_a_mismatch_its_diff(tmp_path: Path) -> None:
    changed = tmp_path / "seed.yaml"
    changed.write_text((ROOT / "spec" / "seed" / "download-fallback.yaml").read_text().replace("    60 log", "    61 log"))
    result = run_matrix(load_paths([changed]), [find_python(sys.executable)], [find_node()], ("python", "js-async"), timeout=30)

    cell = to_report(result, rerun)["scenarios"][0]["cells"][result.cells[0].name]

    assert cell["status"] == "mismatch"
    assert isinstance(cell["time"], float) and cell["time"] > 0
    assert cell["targets"]["js-async"]["diff"].splitlines()[-3:] == [
        '-61 log "got processed"',
        '+60 log "got processed"',
        ' 60 return "processed"',
    ]


def test_shards_are_balanced_by_count_and_split_by_id_whatever_the_file_order() -> None:
    results = load_paths(PATHS)[:13]  # issue 11: 13 scenarios were split 1/3/9

    def ids(part: list) -> list[str]:
        return sorted(result.scenario.id for result in part)

    parts = [shard(results, index, 3) for index in (1, 2, 3)]

    assert [len(part) for part in parts] == [5, 4, 4]
    assert sorted(i for part in parts for i in ids(part)) == ids(results)
    assert [ids(shard(results[::-1], index, 3)) for index in (1, 2, 3)] == [ids(part) for part in parts]
    assert [part == [result for result in results if result in part] for part in parts] == [True] * 3  # input order kept
    for count in (2, 4, 13, 14):
        sizes = [len(shard(results, index, count)) for index in range(1, count + 1)]
        assert (sum(sizes), max(sizes) - min(sizes)) == (13, 1 if 13 % count else 0)


def test_merge_refuses_reports_of_different_runtimes(report: dict) -> None:
    other = {**report, "cells": [{"name": "py3.99/node99", "python": "3.99.0", "node": "99.0.0"}]}

    with pytest.raises(ValueError, match="different runtimes"):
        merge_reports([report, other])
    with pytest.raises(ValueError, match="more than one report"):
        merge_reports([report, report])
