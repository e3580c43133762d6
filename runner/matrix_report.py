"""Matrix report: a matrix JSON report rendered as a console table, Markdown and JUnit XML.

Everything here reads the plain JSON of :func:`asyncparity.matrix.to_report` (or of
``asyncparity merge``), so shards merged later render exactly like one run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from .known import Known, entry_for
from .matrix import LEGEND, SYMBOL, Cell

MARKDOWN_ROWS = 500
"""A job summary is cut off past 1 MiB (GitHub's limit): larger tables link to the JSON."""


def _summary(report: dict, cell: str) -> str:
    counts: dict[str, int] = {}
    for scenario in report["scenarios"]:
        status = scenario["cells"][cell]["status"]
        counts[status] = counts.get(status, 0) + 1
    return " ".join(f"{counts[status]}{SYMBOL[status]}" for status in SYMBOL if counts.get(status))


def table(report: dict) -> str:
    """The console table: scenario by cell, then a summary row, then the legend."""
    names = [cell["name"] for cell in report["cells"]]
    width = max([len(s["id"]) for s in report["scenarios"]] + [8])
    columns = [max(len(name), 3) for name in names]
    lines = ["scenario".ljust(width) + "  " + "  ".join(name.ljust(size) for name, size in zip(names, columns, strict=True))]
    for scenario in report["scenarios"]:
        cells = [SYMBOL[scenario["cells"][name]["status"]].ljust(size) for name, size in zip(names, columns, strict=True)]
        lines.append(scenario["id"].ljust(width) + "  " + "  ".join(cells).rstrip())
    lines.append("")
    for name in names:
        lines.append(f"{name}: {_summary(report, name)}")
    lines.append(LEGEND)
    return "\n".join(lines) + "\n"


def markdown(report: dict, problems: Sequence[str] = ()) -> str:
    """Markdown for a CI job summary: the table, a summary row, each failing cell's details."""
    names = [cell["name"] for cell in report["cells"]]
    lines = ["## asyncparity matrix", "", LEGEND, "", "| scenario | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for scenario in report["scenarios"][:MARKDOWN_ROWS]:
        lines.append(f"| {scenario['id']} | " + " | ".join(SYMBOL[scenario["cells"][name]["status"]] for name in names) + " |")
    if len(report["scenarios"]) > MARKDOWN_ROWS:
        lines.append(
            f"| … {len(report['scenarios']) - MARKDOWN_ROWS} more in the JSON report | " + " | ".join("" for _ in names) + " |"
        )
    lines.append("| **summary** | " + " | ".join(_summary(report, name) for name in names) + " |")
    failing = [
        (scenario, name, scenario["cells"][name])
        for scenario in report["scenarios"]
        for name in names
        if scenario["cells"][name]["status"] in ("mismatch", "error")
    ]
    if failing:
        lines += ["", "### Cells that did not pass", ""]
        for scenario, name, cell in failing:
            # The target that failed, not one skipped beside it.
            failed = [item for item in cell.get("targets", {}).values() if item["status"] in ("mismatch", "error")]
            first_target: dict[str, Any] = failed[0] if failed else {}
            first = first_target.get("message", "")
            lines.append(f"- `{scenario['id']}` on {name}: {first}  \n  rerun: `{cell.get('rerun', '')}`")
    if problems:
        lines += ["", "### Known outcomes", ""] + [f"- {problem}" for problem in problems]
    for broken in report["broken"]:
        lines += ["", f"**{broken['path']} did not load:**"] + [f"- {d}" for d in broken["diagnostics"]]
    return "\n".join(lines) + "\n"


def junit(report: dict, known: Sequence[Known] = ()) -> str:
    """JUnit XML as Jenkins, GitLab and GitHub's reporters read it: a test suite per cell,
    a test case per scenario (and one per file that did not load, as an error).

    A mismatch or error that ``known`` lists for its cell is a ``skipped`` case, as
    pytest writes an expected failure (xfail): the matrix passes on it, and a report
    with a failure there turned a passing CI run's test view red. Its text says so and
    holds the failure's body.

    Valid against the JUnit XSD Jenkins reads (tests/jenkins-junit.xsd names its
    source): every test case and suite has a ``time`` (seconds, from the JSON report);
    a failure's body has the scenario's file and line (the XSD has no ``file`` on a test
    case: pytest's xunit2 family dropped it for the same reason), each target's first
    difference and diff, and the rerun command; ``skipped`` holds its reason as text
    (the XSD gives it no attributes); the class name is the cell's name without dots,
    which Jenkins reads as packages (``py3.11/node20`` would be a package ``py3``).
    """
    root = ET.Element("testsuites", name="asyncparity matrix")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for cell in report["cells"]:
        name = cell["name"]
        classname = name.replace(".", "_")
        runtimes = Cell(cell["python"], cell["node"])
        cases = [(scenario, scenario["cells"][name]) for scenario in report["scenarios"]]
        listed = {
            scenario["id"]: entry
            for scenario, result in cases
            for entry in [entry_for(known, scenario["id"], runtimes)]
            if entry is not None and entry.status == result["status"] and result["status"] in ("mismatch", "error")
        }
        counts = {
            "tests": len(cases) + len(report["broken"]),
            "failures": sum(1 for s, c in cases if c["status"] == "mismatch" and s["id"] not in listed),
            "errors": sum(1 for s, c in cases if c["status"] == "error" and s["id"] not in listed) + len(report["broken"]),
            "time": sum(c.get("time", 0.0) for _, c in cases),
        }
        skipped = sum(1 for _, c in cases if c["status"] == "skipped") + len(listed)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(counts["tests"]),
            failures=str(counts["failures"]),
            errors=str(counts["errors"]),
            skipped=str(skipped),
            time=_seconds(counts["time"]),
        )
        for key in totals:
            totals[key] += counts[key]
        for scenario, result in cases:
            case = ET.SubElement(
                suite, "testcase", name=scenario["id"], classname=classname, time=_seconds(result.get("time", 0.0))
            )
            targets = result.get("targets", {})
            if scenario["id"] in listed:
                failing = {target: item for target, item in targets.items() if item["status"] in ("mismatch", "error")}
                entry = listed[scenario["id"]]
                why = f": {entry.reason}" if entry.reason else ""
                body = _failure_body(scenario, name, failing, result.get("rerun", ""))
                ET.SubElement(case, "skipped").text = f"a known outcome ({result['status']}){why}\n{body}"
            elif result["status"] in ("mismatch", "error"):
                failing = {target: item for target, item in targets.items() if item["status"] in ("mismatch", "error")}
                first = next(iter(failing.items()), None)
                element = ET.SubElement(
                    case,
                    "failure" if result["status"] == "mismatch" else "error",
                    message=f"{first[0]}: {first[1]['message']}" if first else result["status"],
                )
                element.text = _failure_body(scenario, name, failing, result.get("rerun", ""))
            elif result["status"] == "skipped":
                reasons = [f"{target}: {item['message']}" for target, item in targets.items() if item["status"] == "skipped"]
                ET.SubElement(case, "skipped").text = "\n".join(reasons) or "skipped"
        for broken in report["broken"]:
            case = ET.SubElement(suite, "testcase", name=broken["path"], classname=classname, time=_seconds(0.0))
            first_diagnostic = broken["diagnostics"][0] if broken["diagnostics"] else f"{broken['path']} did not load"
            ET.SubElement(case, "error", message=first_diagnostic).text = "\n".join(broken["diagnostics"]) + "\n"
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals[key]))
    root.set("time", _seconds(totals["time"]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _seconds(value: float) -> str:
    # Three decimals at most: the pattern of Surefire's schema (junit-10.xsd) for a time.
    return f"{value:.3f}"


def _failure_body(scenario: dict, cell: str, failing: dict, rerun: str) -> str:
    """Where the scenario is, each failing target's first difference and its diff, and
    the command that reruns the cell."""
    lines = [f"{scenario['path']}:{scenario['line']}: {scenario['id']} on {cell}"]
    for target, item in failing.items():
        lines.append(f"{target}: {item['message']}")
        lines += [f"    {line}" for line in item.get("diff", "").splitlines()]
    lines.append(f"rerun: {rerun}")
    return "\n".join(lines) + "\n"
