"""Matrix report: a matrix JSON report rendered as a console table, Markdown and JUnit XML.

Everything here reads the plain JSON of :func:`asyncparity.matrix.to_report` (or of
``asyncparity merge``), so shards merged later render exactly like one run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from .matrix import LEGEND, SYMBOL

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
            first_target: dict[str, Any] = next(iter(cell.get("targets", {}).values()), {})
            first = first_target.get("message", "")
            lines.append(f"- `{scenario['id']}` on {name}: {first}  \n  rerun: `{cell.get('rerun', '')}`")
    if problems:
        lines += ["", "### Known outcomes", ""] + [f"- {problem}" for problem in problems]
    for broken in report["broken"]:
        lines += ["", f"**{broken['path']} did not load:**"] + [f"- {d}" for d in broken["diagnostics"]]
    return "\n".join(lines) + "\n"


def junit(report: dict) -> str:
    """JUnit XML: a test suite per cell, a test case per scenario (classname = the cell)."""
    root = ET.Element("testsuites", name="asyncparity matrix")
    for cell in report["cells"]:
        name = cell["name"]
        cases = [(scenario, scenario["cells"][name]) for scenario in report["scenarios"]]
        failures = sum(1 for _, c in cases if c["status"] == "mismatch")
        errors = sum(1 for _, c in cases if c["status"] == "error")
        skipped = sum(1 for _, c in cases if c["status"] == "skipped")
        suite = ET.SubElement(
            root, "testsuite", name=name, tests=str(len(cases)), failures=str(failures), errors=str(errors), skipped=str(skipped)
        )
        for scenario, result in cases:
            case = ET.SubElement(
                suite, "testcase", classname=name, name=scenario["id"], file=scenario["path"], line=str(scenario["line"])
            )
            messages = "\n".join(f"{target}: {item['message']}" for target, item in result.get("targets", {}).items())
            if result["status"] in ("mismatch", "error"):
                tag = "failure" if result["status"] == "mismatch" else "error"
                element = ET.SubElement(case, tag, message=messages.splitlines()[0] if messages else result["status"])
                element.text = f"{messages}\nrerun: {result.get('rerun', '')}"
            elif result["status"] == "skipped":
                ET.SubElement(case, "skipped", message=messages.splitlines()[0] if messages else "skipped")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
