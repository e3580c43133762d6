"""Matrix: the suite over several CPythons and Nodes, one verdict per scenario and cell.

A cell is one (CPython, Node) pair. The Python targets' outcomes depend only on the
CPython and the JavaScript targets' only on the Node, so each runtime runs the suite
once (as a worker process, two at a time on the two cores) and every cell compares the
outcomes of its pair: 4 CPythons and 3 Nodes cost 7 runs, not 12.

The result is plain data (:class:`MatrixResult`), written as a console table, Markdown
(for a CI job summary), JSON (which ``asyncparity merge`` joins across shards) and
JUnit XML. Known outcomes (runner/known.py) then say which cells may fail, and why.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .compare import TargetVerdict, Verdict, compare
from .model import JS_TARGETS, PYTHON_TARGETS, LoadResult, Scenario
from .node import NodeBinary
from .pythons import PythonBinary
from .testees import NodeTestee, PythonWorkerTestee, WorkerTestee

SYMBOL = {"agree": "✓", "diverge": "◇", "mismatch": "✗", "error": "!", "skipped": "–"}
"""How a cell's verdict is drawn in the tables; the legend says the same in words."""
LEGEND = "✓ agree · ◇ declared divergence · ✗ mismatch · ! error · – skipped"
EAGER_SINCE = (3, 12)


@dataclass(frozen=True)
class Cell:
    """One runtime pair: the name reads ``py3.12/node22``."""

    python: str
    node: str

    @property
    def name(self) -> str:
        minor = ".".join(self.python.split(".")[:2])
        return f"py{minor}/node{self.node.split('.')[0]}"


@dataclass
class MatrixResult:
    """Every scenario's verdict in every cell, plus the files that did not load."""

    cells: list[Cell]
    scenarios: list[Scenario]
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)  # (scenario id, cell name)
    broken: list[LoadResult] = field(default_factory=list)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    """(scenario id, cell name) -> wall-clock seconds the cell's two runtimes spent on
    the scenario's runs (each runtime's share measured as the time between its replies)."""

    def verdict(self, scenario_id: str, cell: Cell) -> Verdict:
        return self.verdicts[scenario_id, cell.name]


def shard(results: list[LoadResult], index: int, count: int) -> list[LoadResult]:
    """The results of shard ``index`` of ``count`` (1-based), in their given order.

    Balanced by count: the scenarios, ordered by id (a file that did not load, by its
    path), are dealt to the shards in turn, so that shard sizes differ by one at most
    (a split by hash put 13 scenarios into shards of 1, 3 and 9: issue 11). The split
    depends on the ids alone, so every machine makes the same one whatever order it
    finds the files in; a scenario added moves those after it by one shard.
    """

    def key(result: LoadResult) -> str:
        return result.scenario.id if result.scenario is not None else result.path

    ordered = sorted(range(len(results)), key=lambda position: key(results[position]))
    mine = {position for turn, position in enumerate(ordered) if turn % count == index - 1}
    return [result for position, result in enumerate(results) if position in mine]


def run_matrix(
    results: list[LoadResult],
    pythons: list[PythonBinary],
    nodes: list[NodeBinary],
    targets: tuple[str, ...],
    timeout: float,
    jobs: int = 2,
    progress: Callable[[str], None] = lambda line: None,
) -> MatrixResult:
    """Run the scenarios on every runtime once and compare them cell by cell."""
    scenarios = [result.scenario for result in results if result.scenario is not None]
    py_targets = [target for target in targets if target in PYTHON_TARGETS]
    js_targets = [target for target in targets if target in JS_TARGETS]

    def run_runtime(testee: WorkerTestee, runtime_targets: list[str]) -> list[tuple[dict, float]]:
        # A worker runs its requests one after another, always with the next ones sent: the
        # time from one reply to the next is what the worker spent on the next run.
        timed = []
        with testee:
            replies = testee.run_stream((scenario.ir, target) for scenario in scenarios for target in runtime_targets)
            last = time.perf_counter()
            for outcome in replies:
                now = time.perf_counter()
                timed.append((outcome, now - last))
                last = now
        runtime = testee.hello.get("runtime", {}) if testee.hello else {}
        progress(f"ran {len(scenarios)} scenario(s) on {runtime.get('name', testee.name)} {runtime.get('version', '')}".rstrip())
        return timed

    def python_targets(python: PythonBinary) -> list[str]:
        # python-eager exists from CPython 3.12 (asyncio.eager_task_factory): on an older
        # CPython it is not a skipped scenario but a target the runtime does not have.
        minor = tuple(int(part) for part in python.version.split(".")[:2])
        return [target for target in py_targets if target != "python-eager" or minor >= EAGER_SINCE]

    runs: dict[str, concurrent.futures.Future[list[tuple[dict, float]]]] = {}
    testees: list[WorkerTestee] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    try:
        if py_targets:
            for python in pythons:
                testees.append(PythonWorkerTestee(python, timeout))
                runs[f"py{python.version}"] = pool.submit(run_runtime, testees[-1], python_targets(python))
        if js_targets:
            for node in nodes:
                testees.append(NodeTestee(node, timeout))
                runs[f"node{node.version}"] = pool.submit(run_runtime, testees[-1], js_targets)
        finished = {name: future.result() for name, future in runs.items()}
    except BaseException:
        # Ctrl-C (or a failure): kill every worker, so that the pool's threads end at once
        # (a killed worker's requests fail, and an aborted one is not restarted).
        for testee in testees:
            testee.abort()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)

    def outcomes_of(runtime: str, runtime_targets: list[str], position: int) -> tuple[dict[str, dict], float]:
        if runtime not in finished:
            return {}, 0.0
        per_scenario = len(runtime_targets)
        chunk = finished[runtime][position * per_scenario : (position + 1) * per_scenario]
        return dict(zip(runtime_targets, (outcome for outcome, _ in chunk), strict=True)), sum(spent for _, spent in chunk)

    cells = [Cell(python.version, node.version) for python in pythons for node in nodes]
    result = MatrixResult(cells, scenarios, broken=[r for r in results if r.scenario is None])
    targets_of = {python.version: python_targets(python) for python in pythons}
    for position, scenario in enumerate(scenarios):
        for cell in cells:
            cell_py = targets_of[cell.python] if py_targets else []
            python_outcomes, python_seconds = outcomes_of(f"py{cell.python}", cell_py, position)
            node_outcomes, node_seconds = outcomes_of(f"node{cell.node}", js_targets, position)
            outcomes = {**python_outcomes, **node_outcomes}
            result.verdicts[scenario.id, cell.name] = compare(
                scenario, {target: outcomes[target] for target in targets if target in outcomes}
            )
            result.seconds[scenario.id, cell.name] = python_seconds + node_seconds
    return result


def to_report(result: MatrixResult, rerun: Callable[[Scenario, Cell], str]) -> dict:
    """The matrix as plain JSON: what ``--json`` writes and ``asyncparity merge`` reads.

    Each cell of each scenario carries its status, the seconds its runs took and, when
    it did not pass, each target's first difference and diff, and the command that
    reruns just that cell.
    """
    scenarios = []
    for scenario in result.scenarios:
        cells = {}
        for cell in result.cells:
            verdict = result.verdict(scenario.id, cell)
            # A cell shows a skipped target even when the others agree: which behaviour
            # holds where is what the matrix is for.
            skipped = any(item.status == "skipped" for item in verdict.targets)
            entry: dict = {"status": "skipped" if skipped and verdict.passed else verdict.status}
            entry["time"] = round(result.seconds.get((scenario.id, cell.name), 0.0), 3)
            bad = [item for item in verdict.targets if item.status in ("mismatch", "error", "skipped")]
            if bad:
                entry["targets"] = {item.target: _target_entry(item) for item in bad}
            # Every cell, passing ones too: the HTML grid links each cell to the command
            # that reruns it there (issue 11).
            entry["rerun"] = rerun(scenario, cell)
            cells[cell.name] = entry
        scenarios.append({"id": scenario.id, "path": scenario.path, "line": scenario.line, "cells": cells})
    return {
        "matrix": 1,
        "cells": [{"name": cell.name, "python": cell.python, "node": cell.node} for cell in result.cells],
        "scenarios": scenarios,
        "broken": [{"path": broken.path, "diagnostics": [str(d) for d in broken.diagnostics]} for broken in result.broken],
    }


def _target_entry(item: TargetVerdict) -> dict:
    """A target that did not pass, in the JSON report: its status and message, and the
    diff of canonical lines when there is one (the JUnit failure body carries it)."""
    entry = {"status": item.status, "message": item.message}
    if item.diff:
        entry["diff"] = "\n".join(item.diff)
    return entry


def merge_reports(reports: list[dict]) -> dict:
    """Join shard reports (the same cells, disjoint scenarios) into one, scenarios by id."""
    if not reports:
        raise ValueError("nothing to merge")
    cells = reports[0]["cells"]
    for report in reports[1:]:
        if report["cells"] != cells:
            raise ValueError("the reports were made on different runtimes; merge shards of one matrix")
    scenarios = sorted((s for report in reports for s in report["scenarios"]), key=lambda s: (s["path"], s["id"]))
    ids = [s["id"] for s in scenarios]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"scenario {repeated[0]} is in more than one report; merge disjoint shards")
    broken = [b for report in reports for b in report["broken"]]
    return {"matrix": 1, "cells": cells, "scenarios": scenarios, "broken": broken}
