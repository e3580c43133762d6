"""Suite: run loaded scenarios on the chosen targets and compare, in one pass.

The orchestration of the pipeline (spec -> IR -> targets -> outcomes -> compare), kept
free of printing: :func:`stream_suite` yields each scenario's verdict as soon as its
outcomes are all in, in file order, and :func:`run_suite` collects them.

The targets run concurrently, in a bounded stream (issue 13). Scenarios are loaded a
batch at a time as the run reaches them, and each batch's run requests are written to
the worker processes (Node, or a CPython under ``--python``) at once: a request per
scenario, for all of the worker's targets. The workers start on them in their own
processes while the in-process Python target makes the batch's programs together
(:meth:`~asyncparity.testees.PythonTestee.program`) and then, scenario by scenario,
runs them, and the workers' outcomes for that scenario are taken. At most
:data:`WINDOW` scenarios are at the workers unanswered, so the memory a run holds does
not grow with the suite: a verdict is handed on, and the scenario, its requests and
its outcomes are let go (a caller that keeps verdicts keeps only those). The first
batch is small, so that the first verdict of a folder of thousands comes after reading
a few files; a run stopped early (Ctrl-C, ``-x``) has given every verdict it finished.
While a worker has not yet answered the scenario whose verdict is next, the in-process
target runs the scenarios after it rather than wait (:func:`stream_suite`).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .compare import Verdict, compare, load_error_verdict
from .model import JS_TARGETS, PYTHON_TARGETS, TARGETS, LoadResult
from .testees import NodeTestee, PythonTestee, PythonWorkerTestee


@dataclass
class Timings:
    """Seconds spent in each stage (wall clock), for the benchmark's breakdown."""

    python: float = 0.0
    javascript_wait: float = 0.0  # waiting on worker processes after the in-process work
    compare: float = 0.0


WINDOW = 64
"""Scenarios whose run requests may be at the workers unanswered at once: enough that a
worker always has work queued while the in-process target catches up (each scenario
takes a millisecond or so), few enough that what a run holds stays small."""
FIRST_BATCH = 8
"""Scenarios loaded and sent in the first batch; each batch after it takes twice as
many, up to :data:`LARGEST_BATCH`. Small first, so that the first verdict of a large
folder comes after a few files are read (issue 11); larger after, so that a worker gets
its requests in a few writes."""
LARGEST_BATCH = 16


@dataclass
class _Pending:
    """A loaded file on its way to a verdict, and its in-process outcomes once run."""

    result: LoadResult
    outcomes: dict[str, dict] | None = None
    programs: dict[str, tuple | None] = field(default_factory=dict)  # the in-process target's, by target


@dataclass
class _Batch:
    """Scenarios loaded and sent together, and the workers' outcomes still to take for them."""

    pending: collections.deque[_Pending]
    outcomes: dict[str, Iterator[dict[str, dict]]] = field(default_factory=dict)


def stream_suite(
    results: Iterable[LoadResult],
    targets: tuple[str, ...],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
    timings: Timings | None = None,
) -> Iterator[Verdict]:
    """Run every loaded scenario on ``targets``, yielding the verdicts in input order.

    ``results`` may be a lazy iterable (:func:`~asyncparity.load.load_files`): it is read
    a batch at a time, as the run reaches it. ``python`` / ``node`` may be ``None`` only
    when no target of theirs is selected. Files that did not load get an ``error``
    verdict carrying their diagnostics. A caller that stops taking verdicts leaves the
    workers busy with requests already sent: they are to be aborted, not closed.

    While a worker has not yet answered the scenario whose verdict is next, the
    in-process Python target runs the scenarios after it (loading the next batch when
    the window allows), instead of waiting: a worker's first answers wait for it to
    start its run thread, which was about 45 ms of a re-run of 1,000 (issue 13).
    """
    timings = timings if timings is not None else Timings()
    targets = tuple(target for target in TARGETS if target in targets)
    js_targets = tuple(target for target in targets if target in JS_TARGETS)
    py_targets = tuple(target for target in targets if target in PYTHON_TARGETS)
    if js_targets:
        assert node is not None, "a JavaScript target needs the Node testee"
    if py_targets:
        assert python is not None, "a Python target needs a Python testee"
    workers: list[tuple[NodeTestee | PythonWorkerTestee, tuple[str, ...]]] = []
    if js_targets and node is not None:
        workers.append((node, js_targets))
    if py_targets and isinstance(python, PythonWorkerTestee):
        workers.append((python, py_targets))
    in_process = python if py_targets and isinstance(python, PythonTestee) else None

    remaining = iter(results)
    batches: collections.deque[_Batch] = collections.deque()
    in_flight, size = 0, FIRST_BATCH

    def load_batch() -> bool:
        """Load the next batch and send its requests, if the window has room; whether it did."""
        nonlocal in_flight, size
        if in_flight + size > WINDOW:
            return False
        chunk = list(itertools.islice(remaining, size))
        if not chunk:
            return False
        scenarios = [result.scenario for result in chunk if result.scenario is not None]
        irs = [scenario.ir for scenario in scenarios]
        sources = [scenario.content_key for scenario in scenarios]
        batch = _Batch(collections.deque(_Pending(result) for result in chunk))
        for worker, worker_targets in workers:
            # The loader validated the IR: the worker's compiler need not check it again.
            batch.outcomes[worker.name] = worker.run_scenarios(irs, worker_targets, validated=True, sources=sources)
        if in_process is not None:
            # Made together, then run one by one: the compiler's code stays warm (PythonTestee.program).
            for pending, scenario in ((pending, pending.result.scenario) for pending in batch.pending):
                if scenario is not None:
                    pending.programs = {
                        target: in_process.program(scenario.ir, target, validated=True, source=scenario.content_key)
                        for target in py_targets
                    }
        batches.append(batch)
        in_flight += len(chunk)
        size = min(2 * size, LARGEST_BATCH)
        return True

    def run_in_process(pending: _Pending) -> None:
        scenario = pending.result.scenario
        if in_process is None or scenario is None or pending.outcomes is not None:
            return
        started = time.perf_counter()
        pending.outcomes = {
            target: in_process.run(
                scenario.ir, target, validated=True, source=scenario.content_key, program=pending.programs.get(target)
            )
            for target in py_targets
        }
        pending.programs = {}
        timings.python += time.perf_counter() - started

    def later() -> Iterator[_Pending]:
        """The loaded scenarios after the next verdict's, in order, loading more as the window allows."""
        index = 0
        while True:
            for number in range(len(batches)):
                if number >= index:
                    yield from list(batches[number].pending)
                    index = number + 1
            if not load_batch():
                return

    while True:
        # One batch at most per verdict here, so that the first verdict comes after the
        # first batch (the look-ahead below loads more only while a worker keeps it waiting).
        load_batch()
        if not batches:
            return
        batch = batches[0]
        pending = batch.pending.popleft()
        if not batch.pending:
            batches.popleft()
        result = pending.result
        if result.scenario is None:
            in_flight -= 1
            yield load_error_verdict(result.path, result.diagnostics)
            continue
        run_in_process(pending)
        if in_process is not None:
            for ahead in later():
                if all(worker.has_reply() for worker, _ in workers):
                    break
                run_in_process(ahead)
        outcomes: dict[str, dict] = dict(pending.outcomes or {})
        started = time.perf_counter()
        for worker, _ in workers:
            outcomes.update(next(batch.outcomes[worker.name]))
        in_flight -= 1  # answered: the window has room for one more
        timings.javascript_wait += time.perf_counter() - started
        started = time.perf_counter()
        verdict = compare(result.scenario, {target: outcomes[target] for target in targets})
        timings.compare += time.perf_counter() - started
        yield verdict


def run_suite(
    results: Iterable[LoadResult],
    targets: tuple[str, ...],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
    on_verdict: Callable[[Verdict], None] = lambda verdict: None,
    timings: Timings | None = None,
    stop: Callable[[Verdict], bool] = lambda verdict: False,
) -> list[Verdict]:
    """:func:`stream_suite`, its verdicts collected and returned in input order, each
    also handed to ``on_verdict`` as it comes. When ``stop`` says so of a verdict
    (``-x``), no later scenario is run; a worker may then still be busy with requests
    already sent, and is to be aborted, not closed.
    """
    verdicts = []
    for verdict in stream_suite(results, targets, python, node, timings):
        verdicts.append(verdict)
        on_verdict(verdict)
        if stop(verdict):
            break
    return verdicts
