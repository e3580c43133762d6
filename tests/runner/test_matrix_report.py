"""Tests for runner/matrix_report.py: the table, the Markdown summary and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from asyncparity.matrix_report import junit, markdown, table

REPORT = {
    "matrix": 1,
    "cells": [{"name": "py3.11/node20", "python": "3.11.7", "node": "20.20.2"}],
    "scenarios": [
        {"id": "good", "path": "g.yaml", "line": 2, "cells": {"py3.11/node20": {"status": "agree"}}},
        {
            "id": "bad",
            "path": "b.yaml",
            "line": 3,
            "cells": {
                "py3.11/node20": {
                    "status": "mismatch",
                    "rerun": "asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2",
                    "targets": {
                        "js-async": {
                            "status": "mismatch",
                            "message": "js-async disagrees with expect: trace: first difference at event 2",
                        }
                    },
                }
            },
        },
    ],
    "broken": [],
}


def test_table_has_a_row_per_scenario_and_a_summary_per_cell() -> None:
    assert table(REPORT).splitlines() == [
        "scenario  py3.11/node20",
        "good      ✓",
        "bad       ✗",
        "",
        "py3.11/node20: 1✓ 1✗",
        "✓ agree · ◇ declared divergence · ✗ mismatch · ! error · – skipped",
    ]


def test_markdown_carries_each_failing_cell_with_its_first_difference_and_rerun_command() -> None:
    text = markdown(REPORT, ["new: bad on py3.11/node20 is mismatch, and no known outcome lists it"])

    assert "| bad | ✗ |" in text
    assert "| **summary** | 1✓ 1✗ |" in text
    assert (
        "- `bad` on py3.11/node20: js-async disagrees with expect: trace: first difference at event 2  \n"
        "  rerun: `asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2`"
    ) in text
    assert "- new: bad on py3.11/node20 is mismatch, and no known outcome lists it" in text


def test_junit_has_a_suite_per_cell_and_a_failure_per_mismatch() -> None:
    root = ET.fromstring(junit(REPORT).split("\n", 1)[1])

    suite = root.find("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("py3.11/node20", "2", "1")
    failure = suite.find("testcase[@name='bad']/failure")
    assert failure.get("message") == "js-async: js-async disagrees with expect: trace: first difference at event 2"
    assert failure.text.endswith("rerun: asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2")
