"""Tests for runner/matrix_report.py: the table, the Markdown summary and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from asyncparity.known import Known
from asyncparity.matrix_report import junit, markdown, table

ROOT = Path(__file__).resolve().parents[2]

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


CELLS = ["py3.11/node20", "py3.13/node24"]
DIFF = "--- expected (expect)\n+++ js-async\n@@ -1,2 +1,2 @@\n 0 start f()\n-10 end f -> 1\n+11 end f -> 1"
CI_REPORT = {
    "matrix": 1,
    "cells": [
        {"name": "py3.11/node20", "python": "3.11.7", "node": "20.20.2"},
        {"name": "py3.13/node24", "python": "3.13.0", "node": "24.1.0"},
    ],
    "scenarios": [
        {"id": "good", "path": "spec/g.yaml", "line": 2, "cells": {cell: {"status": "agree", "time": 0.012} for cell in CELLS}},
        {
            "id": "bad",
            "path": "spec/b.yaml",
            "line": 3,
            "cells": {
                cell: {
                    "status": "mismatch",
                    "time": 0.5,
                    "rerun": f"asyncparity run spec/b.yaml -k bad --targets all --python {python} --node {node}",
                    "targets": {
                        "js-async": {
                            "status": "mismatch",
                            "message": "js-async disagrees with expect: trace: first difference at event 2: expected `10 end f -> 1`, got `11 end f -> 1`",
                            "diff": DIFF,
                        }
                    },
                }
                for cell, python, node in (("py3.11/node20", "3.11.7", "20.20.2"), ("py3.13/node24", "3.13.0", "24.1.0"))
            },
        },
        {
            "id": "shut",
            "path": "spec/s.yaml",
            "line": 2,
            "cells": {
                "py3.11/node20": {
                    "status": "skipped",
                    "time": 0.25,
                    "rerun": "asyncparity run spec/s.yaml -k shut --targets all --python 3.11.7 --node 20.20.2",
                    "targets": {
                        "python": {
                            "status": "skipped",
                            "message": "python needs CPython 3.13 or later (asyncio.Queue.shutdown); this is CPython 3.11.7",
                        }
                    },
                },
                "py3.13/node24": {"status": "agree", "time": 0.25},
            },
        },
        {
            "id": "crash",
            "path": "spec/c.yaml",
            "line": 2,
            "cells": {
                "py3.11/node20": {"status": "agree", "time": 0.125},
                "py3.13/node24": {
                    "status": "error",
                    "time": 0.125,
                    "rerun": "asyncparity run spec/c.yaml -k crash --targets all --python 3.13.0 --node 24.1.0",
                    "targets": {"js-promise": {"status": "error", "message": "the node worker exited (code 1)"}},
                },
            },
        },
    ],
    "broken": [{"path": "spec/x.yaml", "diagnostics": ["spec/x.yaml:3:1: unknown key 'mian'; did you mean 'main'?"]}],
}
"""Two cells; a scenario that agrees, one that mismatches with a diff, one skipped on one
cell, one that errs on one cell; and a file that did not load."""


def test_junit_is_valid_against_the_xsd_jenkins_reads() -> None:
    schema = xmlschema.XMLSchema(ROOT / "tests" / "jenkins-junit.xsd")

    text = junit(CI_REPORT)

    assert [error.reason for error in schema.iter_errors(text)] == []
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites ")


def test_junit_has_a_suite_per_cell_with_counts_and_times() -> None:
    root = ET.fromstring(junit(CI_REPORT).split("\n", 1)[1])

    suites = [dict(suite.attrib) for suite in root.findall("testsuite")]

    assert suites == [
        {"name": "py3.11/node20", "tests": "5", "failures": "1", "errors": "1", "skipped": "1", "time": "0.887"},
        {"name": "py3.13/node24", "tests": "5", "failures": "1", "errors": "2", "skipped": "0", "time": "0.887"},
    ]
    assert dict(root.attrib) == {"name": "asyncparity matrix", "tests": "10", "failures": "2", "errors": "3", "time": "1.774"}
    assert [case.get("time") for case in root.iter("testcase")] == ["0.012", "0.500", "0.250", "0.125", "0.000"] * 2
    # Jenkins reads dots in a class name as packages: py3.11/node20 would be a package py3.
    assert {case.get("classname") for case in root.iter("testcase")} == {"py3_11/node20", "py3_13/node24"}


def test_junit_failure_body_has_the_place_the_first_difference_the_diff_and_the_rerun() -> None:
    root = ET.fromstring(junit(CI_REPORT).split("\n", 1)[1])

    failure = root.find("testsuite[@name='py3.11/node20']/testcase[@name='bad']/failure")
    error = root.find("testsuite[@name='py3.13/node24']/testcase[@name='crash']/error")
    broken = root.find("testsuite[@name='py3.13/node24']/testcase[@name='spec/x.yaml']/error")

    assert failure.get("message") == (
        "js-async: js-async disagrees with expect: trace: first difference at event 2: expected `10 end f -> 1`, got `11 end f -> 1`"
    )
    assert failure.text.splitlines() == [
        "spec/b.yaml:3: bad on py3.11/node20",
        "js-async: js-async disagrees with expect: trace: first difference at event 2: expected `10 end f -> 1`, got `11 end f -> 1`",
        "    --- expected (expect)",
        "    +++ js-async",
        "    @@ -1,2 +1,2 @@",
        "     0 start f()",
        "    -10 end f -> 1",
        "    +11 end f -> 1",
        "rerun: asyncparity run spec/b.yaml -k bad --targets all --python 3.11.7 --node 20.20.2",
    ]
    assert (error.get("message"), error.text.splitlines()[1]) == (
        "js-promise: the node worker exited (code 1)",
        "js-promise: the node worker exited (code 1)",
    )
    assert (broken.get("message"), broken.text) == (
        "spec/x.yaml:3:1: unknown key 'mian'; did you mean 'main'?",
        "spec/x.yaml:3:1: unknown key 'mian'; did you mean 'main'?\n",
    )


def test_junit_skipped_carries_its_reason() -> None:
    root = ET.fromstring(junit(CI_REPORT).split("\n", 1)[1])

    skipped = root.find("testsuite[@name='py3.11/node20']/testcase[@name='shut']/skipped")

    assert skipped.text == "python: python needs CPython 3.13 or later (asyncio.Queue.shutdown); this is CPython 3.11.7"
    assert root.find("testsuite[@name='py3.13/node24']/testcase[@name='shut']/skipped") is None


def test_junit_skips_a_failure_the_known_outcomes_list_for_its_cell() -> None:
    # The matrix passes on a listed outcome; a failure in its JUnit report turned the
    # test view of a passing CI run red. It is a skipped case, as pytest writes an xfail.
    known = [Known("bad", "mismatch", python=("3.11",), reason="a known bug"), Known("crash", "mismatch")]
    text = junit(CI_REPORT, known)
    root = ET.fromstring(text.split("\n", 1)[1])

    assert [error.reason for error in xmlschema.XMLSchema(ROOT / "tests" / "jenkins-junit.xsd").iter_errors(text)] == []
    suites = [(suite.get("failures"), suite.get("errors"), suite.get("skipped")) for suite in root.findall("testsuite")]
    assert suites == [("0", "1", "2"), ("1", "2", "0")]  # crash is an error, not the mismatch listed
    skipped = root.find("testsuite[@name='py3.11/node20']/testcase[@name='bad']/skipped")
    assert skipped.text.splitlines()[:2] == ["a known outcome (mismatch): a known bug", "spec/b.yaml:3: bad on py3.11/node20"]
    assert root.find("testsuite[@name='py3.13/node24']/testcase[@name='bad']/failure") is not None


def gitlab_test_cases(text: str) -> list[dict]:
    """The test cases as GitLab reads a JUnit report (lib/gitlab/ci/parsers/test/junit.rb):
    Rails' Hash.from_xml, where an element with text becomes that text (its attributes
    dropped) and one without becomes its attributes; each test case of each suite under
    the top-level testsuites; the status from the first of failure, error, skipped."""

    def from_xml(element: ET.Element) -> object:
        return element.text if element.text and element.text.strip() else dict(element.attrib)

    cases = []
    for suite in ET.fromstring(text.split("\n", 1)[1]).iter("testsuite"):
        for case in suite.findall("testcase"):
            data = {child.tag: from_xml(child) for child in case}
            status, output = next(
                (
                    (status, data[tag])
                    for tag, status in (("failure", "failed"), ("error", "error"), ("skipped", "skipped"))
                    if tag in data
                ),
                ("success", None),
            )
            cases.append(
                {
                    "suite_name": suite.get("name"),
                    "classname": case.get("classname"),
                    "name": case.get("name"),
                    "file": case.get("file"),
                    "execution_time": float(case.get("time", "0")),
                    "status": status,
                    "system_output": output,
                }
            )
    return cases


def test_gitlab_reads_each_case_with_its_status_time_and_details() -> None:
    cases = {(case["suite_name"], case["name"]): case for case in gitlab_test_cases(junit(CI_REPORT))}

    assert len(cases) == 10
    bad = cases["py3.11/node20", "bad"]
    assert (bad["classname"], bad["status"], bad["execution_time"]) == ("py3_11/node20", "failed", 0.5)
    assert "    +11 end f -> 1" in bad["system_output"].splitlines()  # the diff is in what GitLab shows
    assert bad["system_output"].startswith("spec/b.yaml:3: bad on py3.11/node20\n")
    assert cases["py3.11/node20", "shut"]["status"] == "skipped"
    assert cases["py3.11/node20", "shut"]["system_output"].startswith("python: python needs CPython 3.13")
    assert cases["py3.13/node24", "crash"]["status"] == "error"
    assert (cases["py3.13/node24", "spec/x.yaml"]["status"], cases["py3.11/node20", "good"]["status"]) == ("error", "success")


def github_annotations(text: str) -> tuple[dict, list[dict]]:
    """The counts and annotations the GitHub action most used for JUnit reports
    (mikepenz/action-junit-report, src/testParser.ts) makes of a report: xml-js's compact
    form; a case is skipped with a skipped element, failed with a failure or an error; the
    annotation's message is the failure's message attribute, its details the body."""
    total, skipped, annotations = 0, 0, []
    for suite in ET.fromstring(text.split("\n", 1)[1]).iter("testsuite"):
        for case in suite.findall("testcase"):
            total += 1
            failure = case.find("failure") if case.find("failure") is not None else case.find("error")
            skip = case.find("skipped") is not None
            skipped += skip
            details = (failure.text or "").strip() if failure is not None else ""
            message = (
                (failure.get("message") if failure is not None else None)
                or "\n".join(details.split("\n")[:2])
                or case.get("name")
            )
            time = f" ({case.get('time')}s)" if case.get("time") is not None else ""
            annotations.append(
                {
                    "title": f"{suite.get('name')}/{case.get('name')}",
                    "level": "failure" if failure is not None and not skip else "notice",
                    "message": message + time,
                    "raw_details": details,
                }
            )
    failed = sum(1 for annotation in annotations if annotation["level"] == "failure")
    return {"total": total, "skipped": skipped, "failed": failed, "passed": total - failed - skipped}, annotations


def test_github_action_counts_the_cases_and_annotates_each_failure_with_its_first_difference() -> None:
    counts, annotations = github_annotations(junit(CI_REPORT))

    assert counts == {"total": 10, "skipped": 1, "failed": 5, "passed": 4}
    bad = next(annotation for annotation in annotations if annotation["title"] == "py3.13/node24/bad")
    assert bad["message"] == (
        "js-async: js-async disagrees with expect: trace: first difference at event 2: "
        "expected `10 end f -> 1`, got `11 end f -> 1` (0.500s)"
    )
    assert bad["raw_details"].endswith("rerun: asyncparity run spec/b.yaml -k bad --targets all --python 3.13.0 --node 24.1.0")


def test_markdown_names_the_target_that_failed_not_one_skipped_beside_it() -> None:
    cell = {
        "status": "mismatch",
        "rerun": "asyncparity run spec/q.yaml -k q --targets all --python 3.11.7 --node 20.20.2",
        "targets": {
            "python-eager": {"status": "skipped", "message": "python-eager needs CPython 3.12 or later"},
            "js-async": {"status": "mismatch", "message": "js-async disagrees with expect: result: expected 1, got 2"},
        },
    }
    report = {**REPORT, "scenarios": [{"id": "q", "path": "spec/q.yaml", "line": 2, "cells": {"py3.11/node20": cell}}]}

    text = markdown(report)

    assert "- `q` on py3.11/node20: js-async disagrees with expect: result: expected 1, got 2  \n" in text
