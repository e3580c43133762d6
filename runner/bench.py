"""Bench: how fast the kit runs a suite, as a ratio against running each program as a process.

``asyncparity bench -n 500`` writes N synthetic scenario files to a temporary folder and
measures, in one run, alternating pairs (kit first, then baseline first, and so on, so
that a change in the machine's load falls on both sides; issue 13):

- the kit end to end: loading the YAML files, running every scenario on the three
  targets (Python in-process, one Node worker for both JavaScript targets), comparing;
- the baseline: each scenario's generated programs, saved beforehand, run as a process
  each (``python3 program.py``, ``node program.mjs`` twice) and their printed timelines
  compared, on a sample of ``--baseline-sample`` scenarios spread over the N;
- their ratio per pair, then the median and the spread (lowest, highest) over the pairs;
- where the kit's time goes (load, compile, transport, run, compare), from one more pass
  that times each stage alone.

:func:`measure` returns plain data (what ``--json`` writes); :func:`render` turns it
into the text the command prints. Only ratios measured in the same run are claims;
absolute figures depend on the machine.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .compare import compare
from .kit import JAVASCRIPT_DIR, PYTHON_DIR
from .load import load_paths
from .model import DEFAULT_TARGETS, JS_TARGETS, PYTHON_TARGETS, LoadResult
from .node import NodeBinary
from .suite import run_suite
from .testees import NodeTestee, PythonTestee

PAIRS = 5
"""Alternating pairs by default: the issue's goal is a median of at least five."""
PROGRAM_BOUND = 60.0
"""Seconds one baseline program may run before it is killed (one takes about 0.1 s here)."""
GOAL = {"ratio": 50.0, "scenarios": 500, "pairs": 5}
"""Issue 13's goal: the kit at least 50x the baseline at N = 500, as the median of at
least 5 alternating pairs; judged only on a run of that size."""
BREAKDOWN_REPEATS = 3
"""Passes of the breakdown; each stage reports its least time over them."""
EXTENSIONS = {"python": ".py", "js-promise": ".mjs", "js-async": ".mjs"}

SCENARIO_TEMPLATE = """\
# yaml-language-server: $schema=../scenario.schema.json
id: bench-{index}
summary: Synthetic scenario {index} for the benchmark.
operations:
  fetch:
    latency: {latency}
    returns: {{item: {index}}}
  flaky:
    latency: 5
    outcomes:
      - fails: {{kind: IOError, message: "try again {index}"}}
      - returns: "ok"
functions:
  fetch_with_retry:
    params: [key]
    steps:
      - repeat: 3
        as: attempt
        steps:
          - try:
              - await: flaky
                args: [$key]
                as: status
              - return: $status
            catch:
              kind: IOError
              steps:
                - sleep: 10
      - return: "gave up"
main:
  - all:
      - call: fetch
        args: ["a"]
      - call: fetch
        args: ["b"]
    as: items
  - await: fetch_with_retry
    args: ["k{index}"]
    as: status
  - log: {{format: "status {{status}}"}}
  - return: [$items, $status]
expect:
  returns: [[{{item: {index}}}, {{item: {index}}}], "ok"]
"""


def write_scenarios(folder: Path, n: int) -> list[Path]:
    """Write ``n`` synthetic scenario files into ``folder``; return their paths."""
    paths = []
    for index in range(n):
        path = folder / f"bench-{index:04d}.yaml"
        path.write_text(SCENARIO_TEMPLATE.format(index=index, latency=10 + index % 7), encoding="utf-8")
        paths.append(path)
    return paths


def measure(
    n: int,
    node: NodeBinary,
    pairs: int = PAIRS,
    baseline_sample: int = 50,
    progress: Callable[[str], None] = lambda line: None,
) -> dict:
    """Run the benchmark; its figures as plain data (the ``--json`` document).

    Keys: ``scenarios``, ``targets``, ``pairs``, ``baseline_sample``, ``python`` and
    ``node`` (versions); ``runs``, one a pair in the order run (``first``: which side
    ran first, ``kit_seconds``, ``kit_rate``, ``baseline_seconds``, ``baseline_rate``
    in scenarios a second, ``ratio``); ``kit_rate``, ``baseline_rate`` and ``ratio``
    over the pairs as ``median``, ``min``, ``max``; ``breakdown``, seconds by stage;
    ``goal`` (:data:`GOAL` and whether it was ``met``); ``problems``, lines that say
    what did not pass (empty when all did).

    ``progress`` is told what is being timed (one line each), for a terminal to show.
    """
    baseline_sample = max(1, min(baseline_sample, n))
    pairs = max(1, pairs)
    with NodeTestee(node) as worker:  # a Node only located gets its version from the hello
        node = worker.node
    with tempfile.TemporaryDirectory(prefix="asyncparity-bench-") as tmp:
        folder = Path(tmp) / "spec"
        folder.mkdir()
        paths = write_scenarios(folder, n)
        step = n / baseline_sample
        sample = [paths[int(index * step)] for index in range(baseline_sample)]
        progress(f"saving the programs of {baseline_sample} scenarios for the baseline")
        programs = save_programs(sample, Path(tmp) / "programs", node)

        runs: list[dict[str, Any]] = []
        problems: list[str] = []
        for pair in range(pairs):
            first = "kit" if pair % 2 == 0 else "baseline"
            seconds: dict[str, float] = {}
            for side in (first, "baseline" if first == "kit" else "kit"):
                progress(f"pair {pair + 1} of {pairs}: {side}")
                if side == "kit":
                    seconds["kit"], failed = _time_kit(folder, node)
                else:
                    seconds["baseline"], failed = time_baseline(programs, node)
                problems.extend(problem for problem in failed if problem not in problems)
            kit_rate = n / seconds["kit"]
            baseline_rate = baseline_sample / seconds["baseline"]
            runs.append(
                {
                    "first": first,
                    "kit_seconds": seconds["kit"],
                    "kit_rate": kit_rate,
                    "baseline_seconds": seconds["baseline"],
                    "baseline_rate": baseline_rate,
                    "ratio": kit_rate / baseline_rate,
                }
            )
        progress("the breakdown: each stage alone")
        breakdown = _breakdown(folder, node)
    return {
        "scenarios": n,
        "targets": list(DEFAULT_TARGETS),
        "pairs": pairs,
        "baseline_sample": baseline_sample,
        "python": platform.python_version(),
        "node": node.version,
        "runs": runs,
        "kit_rate": _spread([run["kit_rate"] for run in runs]),
        "baseline_rate": _spread([run["baseline_rate"] for run in runs]),
        "ratio": _spread([run["ratio"] for run in runs]),
        "breakdown": breakdown,
        "goal": {**GOAL, "met": goal_met(n, pairs, statistics.median(run["ratio"] for run in runs))},
        "problems": problems,
    }


def goal_met(n: int, pairs: int, ratio: float) -> bool | None:
    """Whether a run met :data:`GOAL`; None for a run too small to say (fewer scenarios
    or pairs than the goal is stated for)."""
    if n < GOAL["scenarios"] or pairs < GOAL["pairs"]:
        return None
    return ratio >= GOAL["ratio"]


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def save_programs(sample: list[Path], folder: Path, node: NodeBinary) -> list[dict[str, Path]]:
    """Generate the three programs of each sampled scenario and save them into ``folder``
    beside the two runtime modules (as ``asyncparity show`` says to run them); for each
    scenario, its programs by target."""
    folder.mkdir()
    shutil.copy(PYTHON_DIR / "asyncparity_runtime.py", folder)
    shutil.copy(JAVASCRIPT_DIR / "asyncparity-runtime.mjs", folder)
    scenarios = [result.scenario for result in load_paths(sample) if result.scenario is not None]
    python = PythonTestee()
    with NodeTestee(node) as worker:
        sources = iter(worker.compile_many([(scenario.ir, target) for scenario in scenarios for target in JS_TARGETS]))
        saved = []
        for scenario in scenarios:
            programs = {}
            for target in DEFAULT_TARGETS:
                source = python.compile(scenario.ir, target) if target in PYTHON_TARGETS else next(sources)
                path = folder / f"{scenario.id}.{target}{EXTENSIONS[target]}"
                path.write_text(source, encoding="utf-8")
                programs[target] = path
            saved.append(programs)
    return saved


def _time_kit(folder: Path, node: NodeBinary) -> tuple[float, list[str]]:
    """Seconds for the kit end to end on ``folder``, and the scenarios that did not pass."""
    started = time.perf_counter()
    python = PythonTestee()
    with NodeTestee(node) as worker:
        verdicts = run_suite(load_paths([folder]), DEFAULT_TARGETS, python, worker)
    seconds = time.perf_counter() - started
    return seconds, [
        f"{verdict.scenario_id or verdict.path} did not pass in the kit" for verdict in verdicts if not verdict.passed
    ]


def time_baseline(programs: list[dict[str, Path]], node: NodeBinary) -> tuple[float, list[str]]:
    """Seconds to run every saved program as a process of its own and compare each
    scenario's printed timelines; and what went wrong (a program that failed or
    printed another timeline than the others)."""
    problems = []
    started = time.perf_counter()
    for scenario in programs:
        printed = {}
        for target, path in scenario.items():
            command = [sys.executable if target in PYTHON_TARGETS else node.path, str(path)]
            try:
                completed = subprocess.run(command, capture_output=True, text=True, timeout=PROGRAM_BOUND, check=False)
            except subprocess.TimeoutExpired:
                problems.append(f"{path.name} ran longer than {PROGRAM_BOUND:g} s in the baseline")
                continue
            if completed.returncode != 0:
                problems.append(f"{path.name} exited {completed.returncode} in the baseline")
            printed[target] = completed.stdout
        if len(set(printed.values())) > 1:
            scenario_id = next(iter(scenario.values())).name.split(".")[0]
            problems.append(f"{scenario_id}'s programs printed different timelines in the baseline")
    return time.perf_counter() - started, problems


def _breakdown(folder: Path, node: NodeBinary) -> dict[str, float]:
    """Where the kit's time goes: each stage timed alone, the least of
    :data:`BREAKDOWN_REPEATS` passes (the least is the one the machine's load disturbed
    least), in seconds.

    In a run the Python target and the Node worker work at once, so these add up to more
    than the kit's wall time. The worker's side is known only from outside it: its
    transport is the time for a request carrying each scenario's IR to be answered with
    no work done (an unknown request type, answered with an error); its compile is the
    compile requests less that transport; its run is the run requests (which compile,
    then run) less the compile requests.
    """
    timer = _Stopwatch()
    python = PythonTestee()
    python_targets = [target for target in DEFAULT_TARGETS if target in PYTHON_TARGETS]
    with NodeTestee(node) as worker:
        for _ in range(BREAKDOWN_REPEATS):
            with timer("load"):
                results: list[LoadResult] = load_paths([folder])
            scenarios = [result.scenario for result in results if result.scenario is not None]
            js_jobs = [(scenario.ir, target) for scenario in scenarios for target in JS_TARGETS]
            with timer("python_compile"):
                for scenario in scenarios:
                    for target in python_targets:
                        python.compile(scenario.ir, target)
            with timer("python_run"):
                outcomes = [{target: python.run(scenario.ir, target) for target in python_targets} for scenario in scenarios]
            # Warmed up first: the worker loads its compilers on the first request, which
            # would otherwise count as the first stage's time.
            worker.compile_many(js_jobs[:1])
            list(worker.run_many(js_jobs[:1]))
            with timer("transport"):
                # Bench is the runner's own: it may time the protocol's exchange directly.
                list(worker._exchange([{"type": "bench-echo", "scenario": ir} for ir, _ in js_jobs]))
            with timer("js_compile"):
                worker.compile_many(js_jobs)
            with timer("js_run"):
                js_outcomes = iter(list(worker.run_many(js_jobs)))
            for outcome in outcomes:
                outcome.update({target: next(js_outcomes) for target in JS_TARGETS})
            with timer("compare"):
                for scenario, outcome in zip(scenarios, outcomes, strict=True):
                    compare(scenario, outcome)
    took = timer.seconds
    return {
        "load": took["load"],
        "python_compile": took["python_compile"],
        "javascript_compile": max(0.0, took["js_compile"] - took["transport"]),
        "transport": took["transport"],
        "python_run": max(0.0, took["python_run"] - took["python_compile"]),
        "javascript_run": max(0.0, took["js_run"] - took["js_compile"]),
        "compare": took["compare"],
    }


class _Stopwatch:
    """``with timer("stage"):`` keeps in ``timer.seconds["stage"]`` the least wall time
    the block took over its passes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - started
            self.seconds[stage] = min(took, self.seconds.get(stage, took))


def _goal_line(goal: dict) -> str:
    met = {True: "met", False: "not met", None: "not judged on a run this small"}[goal["met"]]
    return f"  goal: {goal['ratio']:g}x or more at N = {goal['scenarios']}, median of {goal['pairs']} pairs or more: {met}"


def render(figures: dict) -> str:
    """The command's report of :func:`measure`'s figures, as text."""
    pairs, sample = figures["pairs"], figures["baseline_sample"]
    kit, baseline, ratio = figures["kit_rate"], figures["baseline_rate"], figures["ratio"]
    stage = figures["breakdown"]
    lines = [
        f"asyncparity bench: {figures['scenarios']} synthetic scenarios x {len(figures['targets'])} targets, "
        f"CPython {figures['python']}, Node {figures['node']}, {pairs} alternating pairs",
        f"  kit end to end (one Node worker):  {kit['median']:8.1f} scenarios/s  "
        f"(median; spread {kit['min']:.1f} to {kit['max']:.1f})",
        f"  baseline (a process per program):  {baseline['median']:8.1f} scenarios/s  "
        f"(median; spread {baseline['min']:.1f} to {baseline['max']:.1f}; a sample of {sample})",
        f"  ratio: the kit is {ratio['median']:.1f}x the baseline "
        f"(median of {pairs} pairs; spread {ratio['min']:.1f}x to {ratio['max']:.1f}x)",
        _goal_line(figures["goal"]),
        "  pairs, in the order run:",
    ]
    for number, run in enumerate(figures["runs"], start=1):
        times = {"kit": f"kit {run['kit_seconds']:.2f} s", "baseline": f"baseline {run['baseline_seconds']:.2f} s"}
        second = "baseline" if run["first"] == "kit" else "kit"
        lines.append(f"    {number}. {times[run['first']]}, then {times[second]}: {run['ratio']:.1f}x")
    lines += [
        f"  where the kit's time goes (each stage alone, the least of {BREAKDOWN_REPEATS} passes):",
        f"    loading YAML + validation:  {stage['load']:6.2f} s",
        f"    compiling:                  {stage['python_compile'] + stage['javascript_compile']:6.2f} s "
        f"(python {stage['python_compile']:.2f} s, javascript {stage['javascript_compile']:.2f} s)",
        f"    transport to the worker:    {stage['transport']:6.2f} s "
        f"({len(JS_TARGETS) * figures['scenarios']} requests carrying the IR, answered with no work)",
        f"    running:                    {stage['python_run'] + stage['javascript_run']:6.2f} s "
        f"(python {stage['python_run']:.2f} s, javascript {stage['javascript_run']:.2f} s; "
        "in a run the two overlap)",
        f"    comparing:                  {stage['compare']:6.2f} s",
    ]
    for problem in figures["problems"]:
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)
