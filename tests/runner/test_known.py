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


def test_update_writes_a_file_that_matches_and_keeps_reasons(tmp_path: Path) -> None:
    path = tmp_path / "known-outcomes.yaml"
    link = "https://docs.python.org/3/library/asyncio-task.html#asyncio.timeout"
    path.write_text(
        updated(
            REPORT, [Known("timeout-fallback", "skipped", python=("3.10",), reason="asyncio.timeout is new in 3.11", link=link)]
        )
    )

    known = load_known(path)

    assert known == [
        Known("timeout-fallback", "skipped", python=("3.10",), node=("20",), reason="asyncio.timeout is new in 3.11", link=link)
    ]
    assert check(REPORT, known) == []


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
