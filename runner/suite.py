"""Suite: run loaded scenarios on the chosen targets and compare, in one pass.

The orchestration of the pipeline (spec -> IR -> targets -> outcomes -> compare), kept
free of printing: callers get verdicts through ``on_verdict`` as soon as each scenario's
outcomes are all in, in file order, and the timings of each stage.

The targets run concurrently: every JavaScript request is written to the Node worker
first (it starts working at once, in its own process), then the Python target runs
in-process, then the JavaScript outcomes are collected in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .compare import Verdict, compare, load_error_verdict
from .load import TARGETS, LoadResult, Scenario
from .testees import JS_TARGETS, PYTHON_TARGETS, NodeTestee, PythonTestee


@dataclass
class Timings:
    """Seconds spent in each stage (wall clock), for the benchmark's breakdown."""

    python: float = 0.0
    javascript_wait: float = 0.0
    compare: float = 0.0


def run_suite(
    results: list[LoadResult],
    targets: tuple[str, ...],
    python: PythonTestee | None,
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

    js_outcomes: Iterator[dict] = iter(())
    if js_targets:
        assert node is not None, "a JavaScript target needs the Node testee"
        js_outcomes = node.run_many([(scenario.ir, target) for scenario in scenarios for target in js_targets])

    started = time.perf_counter()
    python_outcomes: dict[tuple[str, str], dict] = {}
    for target in (target for target in targets if target in PYTHON_TARGETS):
        assert python is not None, f"the {target} target needs the Python testee"
        for scenario in scenarios:
            python_outcomes[scenario.id, target] = python.run(scenario.ir, target)
    timings.python += time.perf_counter() - started

    verdicts = []
    for result in results:
        if result.scenario is None:
            verdict = load_error_verdict(result.path, result.diagnostics)
        else:
            verdict = _verdict(result.scenario, targets, python_outcomes, js_targets, js_outcomes, timings)
        verdicts.append(verdict)
        on_verdict(verdict)
    return verdicts


def _verdict(
    scenario: Scenario,
    targets: tuple[str, ...],
    python_outcomes: dict[tuple[str, str], dict],
    js_targets: list[str],
    js_outcomes: Iterator[dict],
    timings: Timings,
) -> Verdict:
    started = time.perf_counter()
    collected = {target: next(js_outcomes) for target in js_targets}
    timings.javascript_wait += time.perf_counter() - started
    outcomes = {}
    for target in targets:
        outcomes[target] = collected[target] if target in JS_TARGETS else python_outcomes[scenario.id, target]
    started = time.perf_counter()
    verdict = compare(scenario, outcomes)
    timings.compare += time.perf_counter() - started
    return verdict
