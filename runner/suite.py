"""Suite: run loaded scenarios on the chosen targets and compare, in one pass.

The orchestration of the pipeline (spec -> IR -> targets -> outcomes -> compare), kept
free of printing: callers get verdicts through ``on_verdict`` as soon as each scenario's
outcomes are all in, in file order, and the timings of each stage.

The targets run concurrently: every request to a worker process (Node, or a CPython
under ``--python``) is written first, and the worker starts on them at once, in its own
process; then, scenario by scenario, the Python target runs in-process and the worker's
outcomes for that scenario are collected. So the first verdict comes after the first
scenario, not after the whole in-process run, and a run stopped early (Ctrl-C) has
given every verdict it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .compare import Verdict, compare, load_error_verdict
from .model import JS_TARGETS, PYTHON_TARGETS, TARGETS, LoadResult
from .testees import NodeTestee, PythonTestee, PythonWorkerTestee


@dataclass
class Timings:
    """Seconds spent in each stage (wall clock), for the benchmark's breakdown."""

    python: float = 0.0
    javascript_wait: float = 0.0  # waiting on worker processes after the in-process work
    compare: float = 0.0


def run_suite(
    results: list[LoadResult],
    targets: tuple[str, ...],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
    on_verdict: Callable[[Verdict], None] = lambda verdict: None,
    timings: Timings | None = None,
) -> list[Verdict]:
    """Run every loaded scenario on ``targets`` and return the verdicts in input order.

    ``python`` / ``node`` may be ``None`` only when no target of theirs is selected.
    Files that did not load get an ``error`` verdict carrying their diagnostics.
    """
    timings = timings if timings is not None else Timings()
    targets = tuple(target for target in TARGETS if target in targets)
    scenarios = [result.scenario for result in results if result.scenario is not None]
    js_targets = [target for target in targets if target in JS_TARGETS]
    py_targets = [target for target in targets if target in PYTHON_TARGETS]

    # Worker processes first: they start working at once, in their own processes.
    pipelined: dict[str, Iterator[dict]] = {}
    if js_targets:
        assert node is not None, "a JavaScript target needs the Node testee"
        pipelined["js"] = node.run_many([(scenario.ir, target) for scenario in scenarios for target in js_targets])
    if py_targets:
        assert python is not None, "a Python target needs a Python testee"
    if py_targets and isinstance(python, PythonWorkerTestee):
        pipelined["python"] = python.run_many([(scenario.ir, target) for scenario in scenarios for target in py_targets])

    verdicts = []
    for result in results:
        if result.scenario is None:
            verdict = load_error_verdict(result.path, result.diagnostics)
        else:
            outcomes = {}
            started = time.perf_counter()
            if py_targets and isinstance(python, PythonTestee):
                for target in py_targets:
                    outcomes[target] = python.run(result.scenario.ir, target)
            timings.python += time.perf_counter() - started
            started = time.perf_counter()
            for group, group_targets in (("python", py_targets), ("js", js_targets)):
                if group in pipelined:
                    for target in group_targets:
                        outcomes[target] = next(pipelined[group])
            timings.javascript_wait += time.perf_counter() - started
            started = time.perf_counter()
            verdict = compare(result.scenario, {target: outcomes[target] for target in targets})
            timings.compare += time.perf_counter() - started
        verdicts.append(verdict)
        on_verdict(verdict)
    return verdicts
