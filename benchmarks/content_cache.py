"""How much faster a re-run of unchanged scenarios is than the first run (issue 13).

Writes N synthetic scenarios the way `asyncparity bench` does into a temporary project
folder and runs `asyncparity run -q` on them there as a user would (a subprocess), in
rounds: the cache cleared (`asyncparity cache clear`), the first run (which fills
.asyncparity_cache), the re-run (every file and program a hit), and a run with
`--no-cache`, taken before the first run in odd rounds and after the re-run in even
ones, so that a swing in the machine's load falls on each side; the runs have Python's
bytecode cache, as an installed kit has, filled by an untimed first run and re-run of one
scenario (``bench_goals.warmed``). It prints each kind's median and range, and the ratios
per round and their median. Only the ratios, measured in the same run, are claims; the
absolute figures depend on the machine.

    .venv/bin/python benchmarks/content_cache.py -n 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncparity.bench import write_scenarios
from asyncparity.bench_goals import warmed

RUN_BOUND = 600.0
"""Seconds one run may take before the benchmark gives up (1,000 scenarios take a few here)."""


def timed(project: Path, *argv: str, env: dict[str, str] | None = None) -> float:
    """Seconds `asyncparity ARGV` takes in ``project``; SystemExit if it fails."""
    command = [sys.executable, "-m", "asyncparity.cli", *argv]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=RUN_BOUND, check=False, env=env)
    took = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"`asyncparity {' '.join(argv)}` exited {completed.returncode}: {completed.stderr.strip()}")
    return took


def measure(n: int, rounds: int) -> dict[str, list[float]]:
    """Seconds of each kind of run, per round: ``uncached``, ``first``, ``rerun``."""
    times: dict[str, list[float]] = {"uncached": [], "first": [], "rerun": []}
    with tempfile.TemporaryDirectory(prefix="asyncparity-content-cache-") as tmp:
        env, problem = warmed(Path(tmp))  # not timed: Python compiles the kit's modules once
        if problem:
            raise SystemExit(problem)
        project = Path(tmp) / "project"
        (project / "spec").mkdir(parents=True)
        write_scenarios(project / "spec", n)
        for index in range(rounds):
            if index % 2 == 0:
                times["uncached"].append(timed(project, "run", "-q", "--no-cache", "spec", env=env))
            timed(project, "cache", "clear", env=env)
            times["first"].append(timed(project, "run", "-q", "spec", env=env))
            times["rerun"].append(timed(project, "run", "-q", "spec", env=env))
            if index % 2 == 1:
                times["uncached"].append(timed(project, "run", "-q", "--no-cache", "spec", env=env))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="synthetic scenarios (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of runs (default 3)")
    args = parser.parse_args()
    times = measure(args.n, args.rounds)
    print(f"asyncparity run -q on {args.n} synthetic scenarios, {args.rounds} round(s), seconds (median, range)")
    for kind, label in (
        ("uncached", "without the cache (--no-cache):"),
        ("first", "first run (fills the cache):"),
        ("rerun", "re-run (unchanged files):"),
    ):
        values = times[kind]
        print(f"  {label:34} {statistics.median(values):6.2f} s  ({min(values):.2f}-{max(values):.2f})")
    for kind, what in (("first", "the first run"), ("uncached", "a run without the cache")):
        ratios = [before / after for before, after in zip(times[kind], times["rerun"], strict=True)]
        each = ", ".join(f"{ratio:.1f}x" for ratio in ratios)
        print(f"  ratio: the re-run is {statistics.median(ratios):.1f}x faster than {what} (per round: {each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
