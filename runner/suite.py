"""Suite: run loaded scenarios on the chosen targets and compare, in one pass.

The orchestration of the pipeline (spec -> IR -> targets -> outcomes -> compare), kept
free of printing: callers get verdicts through ``on_verdict`` as soon as each scenario's
outcomes are all in, in file order, and the timings of each stage.

The targets run concurrently: every request to a worker process (Node, or a CPython
under ``--python``) is written first, and the worker starts on them at once, in its own
process; then, scenario by scenario, the Python target runs in-process and the worker's
outcomes for that scenario are collected. So the first verdict comes after the first
scenario, not after the whole in-process run, and a run stopped early (Ctrl-C) has
given every verdict it finished. The scenarios are taken in rounds, the first small,
so that a lazily loaded folder of thousands of files gives its first verdict after
reading a few.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
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


FIRST_CHUNK = 8
"""Scenarios loaded and sent to the workers in the first round; each round after it takes
twice as many, up to :data:`LARGEST_CHUNK`. Small first, so that the first verdict of a
large folder comes after a few files are read, not all of them (issue 11); growing, so
that the workers still get long runs of requests to work through while the in-process
Python target runs."""
LARGEST_CHUNK = 1024


def run_suite(
    results: Iterable[LoadResult],
    targets: tuple[str, ...],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
    on_verdict: Callable[[Verdict], None] = lambda verdict: None,
    timings: Timings | None = None,
    stop: Callable[[Verdict], bool] = lambda verdict: False,
) -> list[Verdict]:
    """Run every loaded scenario on ``targets`` and return the verdicts in input order.

    ``results`` may be a lazy iterable (:func:`~asyncparity.load.load_files`): it is
    read a round at a time, the workers sent each round's requests before the in-process
    target runs it. ``python`` / ``node`` may be ``None`` only when no target of theirs
    is selected. Files that did not load get an ``error`` verdict carrying their
    diagnostics. When ``stop`` says so of a verdict (``-x``), no later scenario is run;
    a worker may then still be busy with the rest of its round, and is to be aborted,
    not closed.
    """
    timings = timings if timings is not None else Timings()
    targets = tuple(target for target in TARGETS if target in targets)
    js_targets = [target for target in targets if target in JS_TARGETS]
    py_targets = [target for target in targets if target in PYTHON_TARGETS]
    if js_targets:
        assert node is not None, "a JavaScript target needs the Node testee"
    if py_targets:
        assert python is not None, "a Python target needs a Python testee"

    verdicts: list[Verdict] = []
    pending = iter(results)
    size = FIRST_CHUNK
    while chunk := list(itertools.islice(pending, size)):
        size = min(2 * size, LARGEST_CHUNK)
        if _run_chunk(chunk, targets, py_targets, js_targets, python, node, on_verdict, timings, stop, verdicts):
            break
    return verdicts


def _run_chunk(
    chunk: list[LoadResult],
    targets: tuple[str, ...],
    py_targets: list[str],
    js_targets: list[str],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
    on_verdict: Callable[[Verdict], None],
    timings: Timings,
    stop: Callable[[Verdict], bool],
    verdicts: list[Verdict],
) -> bool:
    """One round of :func:`run_suite`; True when ``stop`` ended the run."""
    scenarios = [result.scenario for result in chunk if result.scenario is not None]
    # Worker processes first: they start working at once, in their own processes.
    pipelined: dict[str, Iterator[dict]] = {}
    if js_targets and node is not None:
        pipelined["js"] = node.run_many([(scenario.ir, target) for scenario in scenarios for target in js_targets])
    if py_targets and isinstance(python, PythonWorkerTestee):
        pipelined["python"] = python.run_many([(scenario.ir, target) for scenario in scenarios for target in py_targets])

    for result in chunk:
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
        if stop(verdict):
            return True
    return False
