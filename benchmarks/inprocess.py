"""The kit's in-process work on N scenarios, stage by stage, against another checkout (issue 13).

Issue 13's slice of the kit's own process: loading N synthetic scenarios (written the
way `asyncparity bench` writes them; runner/load.py), running each on the in-process
``python`` target (``PythonTestee.run``, with ``validated=True`` where the checkout
takes it; where it has ``PythonTestee.program``, as the suite runs it: the programs of
a batch of ``LARGEST_BATCH`` made, then run), and comparing three outcomes a scenario
(runner/compare.py: the python outcome and two copies standing for the JavaScript
targets', made outside the timed part). Each stage's CPU seconds (``time.process_time``) are measured in a fresh
process, for this checkout and, with ``--baseline``, for another one (an unpacked
``git archive`` or a ``git worktree`` of the revision to compare with), in alternating
runs, ``--rounds`` of each. It prints each stage's least and median and, with a
baseline, the ratio of the least totals: the least of several runs is the figure the
machine's load disturbed least, and only the ratio, measured in the same run, is a
claim.

    .venv/bin/python benchmarks/inprocess.py -n 1000 --rounds 5 --baseline /tmp/asyncparity-main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from asyncparity.bench import write_scenarios

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("load", "python", "compare")
RUN_BOUND = 600.0
"""Seconds one measuring process may take before it is killed (1,000 scenarios take about 2 here)."""

MEASURE = """
import inspect, json, sys, time
from pathlib import Path
from asyncparity.compare import compare
from asyncparity.load import discover, load_files
from asyncparity.testees import PythonTestee

files = discover([Path(sys.argv[1])])
python = PythonTestee()
python.hello()  # asked once a run, before the first scenario
validated = {"validated": True} if "validated" in inspect.signature(python.run).parameters else {}
started = time.process_time()
results = list(load_files(files))
loaded = time.process_time()
outcomes = []
if hasattr(python, "program"):  # as the suite does it: a batch's programs made, then run
    from asyncparity.suite import LARGEST_BATCH
    for start in range(0, len(results), LARGEST_BATCH):
        irs = [result.scenario.ir for result in results[start : start + LARGEST_BATCH]]
        programs = [python.program(ir, "python", validated=True) for ir in irs]
        outcomes += [python.run(ir, "python", validated=True, program=program) for ir, program in zip(irs, programs)]
else:
    outcomes = [python.run(result.scenario.ir, "python", **validated) for result in results]
ran = time.process_time()
others = [{target: {**json.loads(json.dumps(outcome)), "target": target} for target in ("js-promise", "js-async")}
          for outcome in outcomes]
copied = time.process_time()
verdicts = [compare(result.scenario, {"python": outcome, **other}) for result, outcome, other in zip(results, outcomes, others)]
compared = time.process_time()
failed = [verdict.scenario_id for verdict in verdicts if not verdict.passed]
print(json.dumps({"load": loaded - started, "python": ran - loaded, "compare": compared - copied, "failed": failed}))
"""


def packages(checkout: Path, folder: Path) -> Path:
    """A folder that makes ``checkout``'s packages the ones imported (first on PYTHONPATH)."""
    links = {
        "asyncparity": checkout / "runner",
        "asyncparity_python": checkout / "python" / "asyncparity_python",
        "asyncparity_runtime.py": checkout / "python" / "asyncparity_runtime.py",
    }
    for name, target in links.items():
        if not target.exists():
            raise SystemExit(f"{checkout} is not a checkout of the kit: it has no {target.relative_to(checkout)}")
        (folder / name).symlink_to(target)
    return folder


def measure(path: Path, scenarios: Path) -> dict[str, float]:
    """One run of :data:`MEASURE` with the packages under ``path``: CPU seconds per stage."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, str(scenarios)], env=env, capture_output=True, text=True, timeout=RUN_BOUND, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"the measuring process exited {completed.returncode}: {completed.stderr.strip()}")
    figures = json.loads(completed.stdout)
    if figures["failed"]:
        raise SystemExit(f"scenarios did not pass: {', '.join(figures['failed'][:5])}")
    return {stage: figures[stage] for stage in STAGES}


def summary(runs: list[dict[str, float]]) -> str:
    """``load 0.41 (0.45)  python ...  total ...``: each stage's least and, in brackets, median."""
    parts = [*STAGES, "total"]
    values = {stage: [run[stage] for run in runs] for stage in STAGES}
    values["total"] = [sum(run.values()) for run in runs]
    return "  ".join(f"{stage} {min(values[stage]):.3f} ({statistics.median(values[stage]):.3f})" for stage in parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="synthetic scenarios (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each checkout (default 3)")
    parser.add_argument("--baseline", type=Path, help="another checkout of the kit to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncparity-inprocess-") as tmp:
        scenarios = Path(tmp) / "spec"
        scenarios.mkdir()
        write_scenarios(scenarios, args.n)
        checkouts = {"this checkout": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
        paths = {}
        for index, (name, checkout) in enumerate(checkouts.items()):
            (Path(tmp) / str(index)).mkdir()
            paths[name] = packages(checkout, Path(tmp) / str(index))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
        for index in range(args.rounds):
            # Alternating, each first in every other round: a swing of the machine's load falls on both.
            order = list(checkouts) if index % 2 == 0 else list(reversed(checkouts))
            for name in order:
                runs[name].append(measure(paths[name], scenarios))
    print(f"in-process work on {args.n} synthetic scenarios, {args.rounds} run(s) each, CPU seconds: least (median)")
    for name, checkout in checkouts.items():
        print(f"  {name} ({checkout}):")
        print(f"    {summary(runs[name])}")
    if args.baseline:
        least = {name: min(sum(run.values()) for run in runs[name]) for name in checkouts}
        print(f"  ratio: the baseline's least total is {least['baseline'] / least['this checkout']:.2f}x this checkout's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
