"""How soon `asyncparity run` prints its first verdict on a large folder (issue 11).

Writes N synthetic scenarios the way `asyncparity bench` does, runs `asyncparity run`
on them as a user would (a subprocess, stdout a pipe), and prints the seconds to the
first verdict line and to the end of the run, and their ratio. Only the ratio, measured
in the same run, is a claim; the absolute figures depend on the machine.

    .venv/bin/python benchmarks/first_verdict.py -n 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from asyncparity.bench import write_scenarios
from asyncparity.bench_goals import timed_run


def measure(n: int) -> tuple[float, float, int]:
    """Seconds to the first verdict line, seconds to the end, and the exit code."""
    with tempfile.TemporaryDirectory(prefix="asyncparity-first-verdict-") as tmp:
        (Path(tmp) / "spec").mkdir()
        write_scenarios(Path(tmp) / "spec", n)
        # Run in the temporary folder: the run's cache (.asyncparity_cache) goes with it.
        run = timed_run(Path(tmp), ["run", "spec"])
    first = run["first_verdict"]
    return (run["seconds"] if first is None else first), run["seconds"], run["exit"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="synthetic scenarios (default 5000)")
    args = parser.parse_args()
    first, total, code = measure(args.n)
    print(f"asyncparity run on {args.n} synthetic scenarios (exit {code})")
    print(f"  first verdict line after: {first:7.2f} s")
    print(f"  whole run:                {total:7.2f} s")
    print(f"  ratio: the first verdict comes at {100 * first / total:.1f}% of the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
