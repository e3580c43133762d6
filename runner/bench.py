"""Bench: how fast the kit runs a suite, as a ratio against a process-per-scenario baseline.

``asyncparity bench -n 500`` writes N synthetic scenario files to a temporary folder and
measures, in one run:

- the kit end to end: loading the YAML files, running every scenario on the three
  targets (Python in-process, one Node worker for both JavaScript targets), comparing;
- a baseline doing the same work but starting a fresh Node process for every scenario
  (what a naive runner does), timed on a sample of ``--baseline-sample`` scenarios;
- their ratio, and where the kit's own time goes: loading, compiling, running,
  comparing (compiling is timed in a separate pass with ``compile`` requests).

Only ratios measured in the same run are claims; absolute figures depend on the machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .load import load_paths
from .model import DEFAULT_TARGETS, JS_TARGETS
from .node import NodeBinary
from .suite import Timings, run_suite
from .testees import NodeTestee, PythonTestee

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


def run_benchmark(n: int, baseline_sample: int, node: NodeBinary) -> int:
    """Run the benchmark and print its report; returns an exit code (1 if a scenario failed)."""
    baseline_sample = max(1, min(baseline_sample, n))
    with tempfile.TemporaryDirectory(prefix="asyncparity-bench-") as tmp:
        folder = Path(tmp) / "bench"
        folder.mkdir()
        write_scenarios(folder, n)
        python = PythonTestee()

        # The kit, end to end: load + run on three targets + compare.
        timings = Timings()
        started = time.perf_counter()
        with NodeTestee(node) as worker:
            load_started = time.perf_counter()
            results = load_paths([folder])
            load_seconds = time.perf_counter() - load_started
            verdicts = run_suite(results, DEFAULT_TARGETS, python, worker, timings=timings)
        kit_seconds = time.perf_counter() - started
        failed = [verdict for verdict in verdicts if not verdict.passed]

        # Compiling alone, for the breakdown.
        scenarios = [result.scenario for result in results if result.scenario is not None]
        compile_started = time.perf_counter()
        for scenario in scenarios:
            python.compile(scenario.ir)
        python_compile = time.perf_counter() - compile_started
        with NodeTestee(node) as worker:
            compile_started = time.perf_counter()
            worker.compile_many([(scenario.ir, target) for scenario in scenarios for target in JS_TARGETS])
            js_compile = time.perf_counter() - compile_started

        # The baseline: the same pipeline, a fresh Node process per scenario.
        sample = sorted(folder.glob("*.yaml"))[:baseline_sample]
        started = time.perf_counter()
        for path in sample:
            with NodeTestee(node) as worker:
                run_suite(load_paths([path]), DEFAULT_TARGETS, python, worker)
        baseline_seconds = time.perf_counter() - started

    kit_rate = n / kit_seconds
    baseline_rate = baseline_sample / baseline_seconds
    print(f"asyncparity bench: {n} synthetic scenarios x 3 targets, Node {node.version}")
    print(f"  kit end to end (one Node worker):   {kit_rate:8.1f} scenarios/s  ({kit_seconds:.2f} s)")
    print(
        f"  baseline (a Node process each):     {baseline_rate:8.1f} scenarios/s  "
        f"({baseline_seconds:.2f} s for a sample of {baseline_sample})"
    )
    print(f"  ratio: the kit is {kit_rate / baseline_rate:.1f}x the baseline")
    print("  where the kit's time goes:")
    print(f"    loading YAML + validation:        {load_seconds:6.2f} s")
    print(
        f"    compiling (separate pass):        {python_compile + js_compile:6.2f} s "
        f"(python {python_compile:.2f} s, javascript {js_compile:.2f} s over the protocol)"
    )
    print(f"    running python in-process:        {timings.python:6.2f} s (compile included)")
    print(f"    waiting for javascript after it:  {timings.javascript_wait:6.2f} s (runs concurrently with python)")
    print(f"    comparing:                        {timings.compare:6.2f} s")
    if failed:
        print(f"  {len(failed)} synthetic scenario(s) did not pass; first: {failed[0].scenario_id or failed[0].path}")
        return 1
    return 0
