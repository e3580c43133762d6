"""Tests for runner/known.py: new failures and stale entries both fail; the update command fixes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncparity.known import Known, check, load_known, updated

REPORT = {
    "matrix": 1,
    "cells": [
        {"name": "py3.10/node20", "python": "3.10.13", "node": "20.20.2"},
        {"name": "py3.12/node22", "python": "3.12.1", "node": "22.20.0"},
    ],
    "scenarios": [
        {
            "id": "timeout-fallback",
            "path": "t.yaml",
            "line": 2,
            "cells": {
                "py3.10/node20": {"status": "skipped", "targets": {"python": {"status": "skipped", "message": "needs 3.11"}}},
                "py3.12/node22": {"status": "diverge"},
            },
        },
        {
            "id": "seed",
            "path": "s.yaml",
            "line": 2,
            "cells": {"py3.10/node20": {"status": "agree"}, "py3.12/node22": {"status": "agree"}},
        },
    ],
    "broken": [],
}


def test_a_listed_outcome_is_accepted() -> None:
    assert check(REPORT, [Known("timeout-fallback", "skipped", python=("3.10",))]) == []


def test_deleting_an_entry_fails_as_a_new_failure() -> None:
    assert check(REPORT, []) == ["new: timeout-fallback on py3.10/node20 is skipped, and no known outcome lists it"]


def test_a_stale_entry_fails_too() -> None:
    known = [Known("timeout-fallback", "skipped", python=("3.10",)), Known("seed", "mismatch", node=("22",))]

    assert check(REPORT, known) == ["stale: seed on py3.12/node22 is agree, but the known outcomes say mismatch"]


def written(report: dict, known: list[Known], tmp_path: Path) -> list[Known]:
    """The entries of the file ``updated`` writes, read back; it matches the report."""
    path = tmp_path / "known-outcomes.yaml"
    path.write_text(updated(report, known))
    entries = load_known(path)
    assert check(report, entries) == []
    return entries


LINK = "https://docs.python.org/3/library/asyncio-task.html#asyncio.timeout"


def test_update_writes_the_new_outcomes_and_keeps_an_entry_that_holds_as_written(tmp_path: Path) -> None:
    holds = Known("timeout-fallback", "skipped", python=("3.10",), reason="asyncio.timeout is new in 3.11", link=LINK)

    assert written(REPORT, [holds], tmp_path) == [holds]  # any Node, as written
    assert written(REPORT, [], tmp_path) == [Known("timeout-fallback", "skipped", ("3.10",), ("20",), "needs 3.11")]
    # An entry the report contradicts lends its reason to what replaces it.
    stale = Known("timeout-fallback", "mismatch", python=("3.10",), node=("20",), reason="asyncio.timeout is new in 3.11")
    assert written(REPORT, [stale], tmp_path) == [
        Known("timeout-fallback", "skipped", ("3.10",), ("20",), "asyncio.timeout is new in 3.11")
    ]


def one_cell(python: str, node: str, status: str) -> dict:
    """A report of one cell (a CI job's), where timeout-fallback has ``status``."""
    name = f"py{python}/node{node}"
    return {
        "matrix": 1,
        "cells": [{"name": name, "python": f"{python}.1", "node": f"{node}.1.0"}],
        "scenarios": [{"id": "timeout-fallback", "path": "t.yaml", "line": 2, "cells": {name: {"status": status}}}],
        "broken": [],
    }


def test_an_update_from_one_cell_keeps_the_entries_of_the_cells_it_did_not_run(tmp_path: Path) -> None:
    # Each CI job runs one cell and prints `matrix ... --update-known` for it: that
    # command rewrote the whole file from one cell, and dropped every other cell's entries.
    known = [  # in the file's order: by scenario, status, CPython
        Known("timeout-fallback", "mismatch", python=("3.11",), node=("22",), reason="a Node 22 quirk"),
        Known("timeout-fallback", "skipped", python=("3.10",), reason="new in 3.11"),
    ]

    assert written(one_cell("3.11", "20", "agree"), known, tmp_path) == known
    assert written(one_cell("3.11", "22", "mismatch"), known, tmp_path) == known
    assert written(one_cell("3.12", "20", "error"), known, tmp_path) == [Known("timeout-fallback", "error", ("3.12",)), *known]
    # Fixed on 3.11 and Node 22: that entry goes, the 3.10 one stays.
    assert written(one_cell("3.11", "22", "agree"), known, tmp_path) == known[1:]


def test_an_entry_a_cell_contradicts_is_kept_for_the_other_runtimes_it_lists(tmp_path: Path) -> None:
    known = [Known("timeout-fallback", "skipped", python=("3.10", "3.11"), node=("20", "22"), reason="r")]

    assert written(one_cell("3.10", "20", "agree"), known, tmp_path) == [
        Known("timeout-fallback", "skipped", ("3.10",), ("22",), "r"),
        Known("timeout-fallback", "skipped", ("3.11",), ("20", "22"), "r"),
    ]
    # An entry for any CPython: kept for the CPythons the file and the report name.
    anywhere = [Known("timeout-fallback", "skipped", node=("20",), reason="r"), Known("other", "skipped", python=("3.13",))]
    assert written(one_cell("3.10", "20", "agree"), anywhere, tmp_path) == [
        Known("other", "skipped", ("3.13",)),
        Known("timeout-fallback", "skipped", ("3.13",), ("20",), "r"),
    ]


def test_an_update_from_one_shard_keeps_the_scenarios_of_the_others(tmp_path: Path) -> None:
    other_shard = Known("in-another-shard", "mismatch", python=("3.10",), reason="r")

    assert written(REPORT, [other_shard], tmp_path) == [
        other_shard,
        Known("timeout-fallback", "skipped", ("3.10",), ("20",), "needs 3.11"),
    ]


def test_bad_files_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("- scenario: x\n")

    with pytest.raises(ValueError, match=r"entry 1 needs scenario and status$"):
        load_known(path)
    assert load_known(tmp_path / "absent.yaml") == []


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("- scenario: x\n  status: [agree\n")

    with pytest.raises(ValueError, match="YAML syntax error") as error:
        load_known(path)
    assert str(error.value) == f"{path}:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>'"
    with pytest.raises(ValueError, match=r": cannot be read: \[Errno 21\] Is a directory"):
        load_known(tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  python: 3.10", 'entry 1: python is a list of quoted versions such as ["3.11"], not 3.1'),
        ("  node: 20", 'entry 1: node is a list of quoted versions such as ["22"], not 20'),
        ("  python: [3.11]", 'entry 1: python is a list of quoted versions such as ["3.11"], not [3.11]'),
        ("  python: null", 'entry 1: python is a list of quoted versions such as ["3.11"], not None'),
    ],
)
def test_versions_that_are_not_a_list_of_strings_are_refused(entry: str, message: str, tmp_path: Path) -> None:
    # `node: 20` was a TypeError's traceback; `python: "3.10"` matched no cell, silently.
    path = tmp_path / "k.yaml"
    path.write_text(f"- scenario: x\n  status: skipped\n{entry}\n")

    with pytest.raises(ValueError, match="entry 1") as error:
        load_known(path)
    assert str(error.value) == f"{path}: {message}"


def test_a_status_no_cell_has_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("- scenario: x\n  status: mismatc\n")

    with pytest.raises(ValueError, match="entry 1") as error:
        load_known(path)
    assert str(error.value) == f"{path}: entry 1: status is one of agree, diverge, skipped, mismatch, error, not 'mismatc'"
