"""How soon `asyncparity run` prints its first verdict on a large folder (issue 11).

Writes N synthetic scenarios the way `asyncparity bench` does, runs `asyncparity run`
on them as a user would (a subprocess, stdout a pipe), and prints the seconds to the
first verdict line and to the end of the run, and their ratio. Only the ratio, measured
in the same run, is a claim; the absolute figures depend on the machine.

    .venv/bin/python benchmarks/first_verdict.py -n 5000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from asyncparity.bench import write_scenarios

VERDICT_WORDS = ("PASS  ", "FAIL  ")
RUN_BOUND = 1800.0
"""Seconds the measured run may take before it is killed (5,000 scenarios take about a minute here)."""


def measure(n: int) -> tuple[float, float, int]:
    """Seconds to the first verdict line, seconds to the end, and the exit code."""
    with tempfile.TemporaryDirectory(prefix="asyncparity-first-verdict-") as tmp:
        folder = Path(tmp) / "spec"
        folder.mkdir()
        write_scenarios(folder, n)
        command = [sys.executable, "-m", "asyncparity.cli", "run", str(folder)]
        started = time.perf_counter()
        first: list[float] = []
        # Started in the temporary folder: the run's cache (.asyncparity_cache) goes with it.
        with subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, text=True) as process:

            def read() -> None:
                assert process.stdout is not None
                for line in process.stdout:
                    if not first and line.startswith(VERDICT_WORDS):
                        first.append(time.perf_counter() - started)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                code = process.wait(timeout=RUN_BOUND)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait(timeout=60)
            reader.join(timeout=60)
        total = time.perf_counter() - started
    return (first[0] if first else total), total, code


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
