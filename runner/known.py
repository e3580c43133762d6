"""Known outcomes: which matrix cells may fail or be skipped, and why.

A team pins the async behaviour it relies on with a file of known outcomes (by default
spec/known-outcomes.yaml), keyed by stable scenario id and conditioned on the runtime::

    - scenario: timeout-fallback
      status: skipped
      python: ["3.10"]        # CPython minor versions; leave out for any
      reason: asyncio.timeout is new in CPython 3.11
      link: https://docs.python.org/3/library/asyncio-task.html#asyncio.timeout

A matrix run fails on a cell that did not pass and is not listed (a new failure), and
on a listed cell whose status is now different (a stale entry, such as a listed
mismatch that now passes), so the file stays true. Prior art: protobuf's conformance
failure lists (unexpected passes fail too) and WPT's conditional expectations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .matrix import Cell

PASSING = ("agree", "diverge")


@dataclass(frozen=True)
class Known:
    """One entry: this scenario ends with this status on these runtimes."""

    scenario: str
    status: str
    python: tuple[str, ...] = ()
    node: tuple[str, ...] = ()
    reason: str = ""
    link: str = ""

    def matches(self, scenario_id: str, cell: Cell) -> bool:
        python_minor = ".".join(cell.python.split(".")[:2])
        node_major = cell.node.split(".")[0]
        return (
            self.scenario == scenario_id
            and (not self.python or python_minor in self.python)
            and (not self.node or node_major in self.node)
        )


def load_known(path: Path) -> list[Known]:
    """The entries of a known-outcomes file; an absent file has none. ValueError says what
    is wrong, with the file (and the line and column of a YAML syntax error)."""
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ValueError(f"{where}: YAML syntax error: {error.problem or error}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot be read: {error}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: a list of entries (scenario, status, python, node, reason)")
    entries = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not {"scenario", "status"} <= set(item):
            raise ValueError(f"{path}: entry {number} needs scenario and status")
        unknown = set(item) - {"scenario", "status", "python", "node", "reason", "link"}
        if unknown:
            raise ValueError(f"{path}: entry {number} has unknown key {sorted(unknown)[0]!r}")
        entries.append(
            Known(
                str(item["scenario"]),
                str(item["status"]),
                tuple(str(v) for v in item.get("python", [])),
                tuple(str(v) for v in item.get("node", [])),
                str(item.get("reason", "")),
                str(item.get("link", "")),
            )
        )
    return entries


def check(report: dict, known: list[Known]) -> list[str]:
    """Problems with the report against the known outcomes; empty when it matches them."""
    cells = [Cell(cell["python"], cell["node"]) for cell in report["cells"]]
    problems = []
    for scenario in report["scenarios"]:
        for cell in cells:
            status = scenario["cells"][cell.name]["status"]
            entry = next((item for item in known if item.matches(scenario["id"], cell)), None)
            if entry is None and status not in PASSING:
                problems.append(f"new: {scenario['id']} on {cell.name} is {status}, and no known outcome lists it")
            elif entry is not None and status != entry.status:
                problems.append(f"stale: {scenario['id']} on {cell.name} is {status}, but the known outcomes say {entry.status}")
    return problems


def updated(report: dict, known: list[Known]) -> str:
    """The known-outcomes file that matches ``report``, keeping reasons already written."""
    cells = [Cell(cell["python"], cell["node"]) for cell in report["cells"]]
    groups: dict[tuple[str, str, str], list[str]] = {}
    reasons: dict[tuple[str, str, str], str] = {}
    links: dict[tuple[str, str, str], str] = {}
    for scenario in report["scenarios"]:
        for cell in cells:
            result = scenario["cells"][cell.name]
            if result["status"] in PASSING:
                continue
            minor = ".".join(cell.python.split(".")[:2])
            key = (scenario["id"], result["status"], minor)
            groups.setdefault(key, []).append(cell.node.split(".")[0])
            old = next((item.reason for item in known if item.matches(scenario["id"], cell) and item.reason), "")
            link = next((item.link for item in known if item.matches(scenario["id"], cell) and item.link), "")
            if link:
                links.setdefault(key, link)
            first_target: dict[str, Any] = next(iter(result.get("targets", {}).values()), {})
            first = first_target.get("message", "")
            reasons.setdefault(key, old or first)
    lines = [
        "# Known outcomes per runtime: see runner/known.py. Regenerate with the command",
        "# `asyncparity matrix` prints when this file and a run disagree.",
        "",
    ]
    all_nodes = sorted({cell.node.split(".")[0] for cell in cells}, key=int)
    for (scenario_id, status, minor), nodes in sorted(groups.items()):
        lines.append(f"- scenario: {scenario_id}")
        lines.append(f"  status: {status}")
        lines.append(f'  python: ["{minor}"]')
        if sorted(set(nodes), key=int) != all_nodes:
            lines.append("  node: [" + ", ".join(f'"{node}"' for node in sorted(set(nodes), key=int)) + "]")
        if reasons[(scenario_id, status, minor)]:
            lines.append(f"  reason: {json.dumps(reasons[(scenario_id, status, minor)], ensure_ascii=False)}")
        if (scenario_id, status, minor) in links:
            lines.append(f"  link: {links[(scenario_id, status, minor)]}")
    return "\n".join(lines) + "\n"
