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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .matrix import Cell

PASSING = ("agree", "diverge")
STATUSES = ("agree", "diverge", "skipped", "mismatch", "error")
"""A cell's statuses (runner/compare.py's STATUS_ORDER)."""


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
        if item["status"] not in STATUSES:
            raise ValueError(f"{path}: entry {number}: status is one of {', '.join(STATUSES)}, not {item['status']!r}")
        for key, example in (("python", '["3.11"]'), ("node", '["22"]')):
            versions = item.get(key, [])
            # `python: 3.10` is the number 3.1 to YAML; a list of strings is what matches.
            if not isinstance(versions, list) or not all(isinstance(version, str) for version in versions):
                raise ValueError(
                    f"{path}: entry {number}: {key} is a list of quoted versions such as {example}, not {versions!r}"
                )
        entries.append(
            Known(
                str(item["scenario"]),
                item["status"],
                tuple(item.get("python", [])),
                tuple(item.get("node", [])),
                str(item.get("reason", "")),
                str(item.get("link", "")),
            )
        )
    return entries


def entry_for(known: Sequence[Known], scenario_id: str, cell: Cell) -> Known | None:
    """The entry that decides ``scenario_id`` on ``cell``: the first that matches, or None."""
    return next((item for item in known if item.matches(scenario_id, cell)), None)


def check(report: dict, known: list[Known]) -> list[str]:
    """Problems with the report against the known outcomes; empty when it matches them."""
    cells = [Cell(cell["python"], cell["node"]) for cell in report["cells"]]
    problems = []
    for scenario in report["scenarios"]:
        for cell in cells:
            status = scenario["cells"][cell.name]["status"]
            entry = entry_for(known, scenario["id"], cell)
            if entry is None and status not in PASSING:
                problems.append(f"new: {scenario['id']} on {cell.name} is {status}, and no known outcome lists it")
            elif entry is not None and status != entry.status:
                problems.append(f"stale: {scenario['id']} on {cell.name} is {status}, but the known outcomes say {entry.status}")
    return problems


def updated(report: dict, known: list[Known]) -> str:
    """The known-outcomes file that matches ``report``, keeping reasons already written.

    Only the cells the report ran are rewritten: an entry for runtimes it did not run
    (another cell of a CI matrix, one job a cell) or for a scenario it did not run
    (another shard) is kept as written, and so is an entry that still holds on every
    cell of the report it concerns. An entry the report contradicts on some of its
    cells is kept for its others, a CPython minor at a time; one written for any
    CPython or any Node is then kept for the versions the file and the report name.
    """
    cells = [Cell(cell["python"], cell["node"]) for cell in report["cells"]]
    statuses = {
        (scenario["id"], cell.name): scenario["cells"][cell.name]["status"] for scenario in report["scenarios"] for cell in cells
    }
    ran = {(_minor(cell.python), _major(cell.node)) for cell in cells}
    pythons = sorted({python for python, _ in ran} | {python for entry in known for python in entry.python}, key=_version)
    nodes = sorted({node for _, node in ran} | {node for entry in known for node in entry.node}, key=_version)
    kept: list[Known] = []
    covered: set[tuple[str, str]] = set()  # (scenario, cell) that a kept entry lists as the report has it
    for entry in known:
        touched = [cell.name for cell in cells if (entry.scenario, cell.name) in statuses and entry.matches(entry.scenario, cell)]
        if all(statuses[(entry.scenario, name)] == entry.status for name in touched):
            kept.append(entry)
            covered.update((entry.scenario, name) for name in touched)
        else:
            kept.extend(_without(entry, ran, pythons, nodes))
    groups: dict[tuple[str, str, str], list[str]] = {}
    reasons: dict[tuple[str, str, str], str] = {}
    links: dict[tuple[str, str, str], str] = {}
    for scenario in report["scenarios"]:
        for cell in cells:
            result = scenario["cells"][cell.name]
            if result["status"] in PASSING or (scenario["id"], cell.name) in covered:
                continue
            key = (scenario["id"], result["status"], _minor(cell.python))
            groups.setdefault(key, []).append(_major(cell.node))
            old = next((item.reason for item in known if item.matches(scenario["id"], cell) and item.reason), "")
            link = next((item.link for item in known if item.matches(scenario["id"], cell) and item.link), "")
            if link:
                links.setdefault(key, link)
            first_target: dict[str, Any] = next(iter(result.get("targets", {}).values()), {})
            first = first_target.get("message", "")
            reasons.setdefault(key, old or first)
    all_nodes = sorted({_major(cell.node) for cell in cells}, key=int)
    for (scenario_id, status, minor), group in groups.items():
        # A failure on every Node of the report is written for any Node.
        written = () if sorted(set(group), key=int) == all_nodes else tuple(sorted(set(group), key=int))
        key = (scenario_id, status, minor)
        kept.append(Known(scenario_id, status, (minor,), written, reasons[key], links.get(key, "")))
    lines = [
        "# Known outcomes per runtime: see runner/known.py. Regenerate with the command",
        "# `asyncparity matrix` prints when this file and a run disagree.",
        "",
    ]
    for entry in sorted(kept, key=lambda item: (item.scenario, item.status, item.python, item.node)):
        lines.append(f"- scenario: {entry.scenario}")
        lines.append(f"  status: {entry.status}")
        # Versions as JSON strings (a JSON string is a YAML one): an entry kept as written may hold any text.
        if entry.python:
            lines.append("  python: [" + ", ".join(map(json.dumps, entry.python)) + "]")
        if entry.node:
            lines.append("  node: [" + ", ".join(map(json.dumps, entry.node)) + "]")
        if entry.reason:
            lines.append(f"  reason: {json.dumps(entry.reason, ensure_ascii=False)}")
        if entry.link:
            lines.append(f"  link: {entry.link}")
    return "\n".join(lines) + "\n"


def _without(entry: Known, ran: set[tuple[str, str]], pythons: list[str], nodes: list[str]) -> list[Known]:
    """``entry`` for the runtimes it lists that are not among ``ran`` ((CPython minor, Node
    major) pairs), a CPython minor at a time; "any" is read as ``pythons`` or ``nodes``."""
    left = []
    for python in entry.python or tuple(pythons):
        ran_nodes = {node for ran_python, node in ran if ran_python == python}
        if not ran_nodes:
            left.append(Known(entry.scenario, entry.status, (python,), entry.node, entry.reason, entry.link))
            continue
        others = tuple(node for node in entry.node or tuple(nodes) if node not in ran_nodes)
        if others:
            left.append(Known(entry.scenario, entry.status, (python,), others, entry.reason, entry.link))
    return left


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _major(version: str) -> str:
    return version.split(".")[0]


def _version(text: str) -> tuple[int, ...]:
    """A version's sort key (3.9 before 3.10); a text that is not one sorts first."""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()
