"""How much CPU `asyncparity --help` takes, as a ratio against `python -c pass` (issue 13).

Runs both as processes, alternating, ``--repeat`` times each, and prints the median CPU
seconds (user + system, from getrusage on the finished child; Unix only) of each
and their ratio. The goal is under 0.1 s of CPU for `--help`: the absolute figure is for
reference on the machine where it was measured, the ratio is the claim.

    .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

RUN_BOUND = 60.0
"""Seconds one start-up may take before it is killed (it takes about 0.1 s here)."""


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU seconds of one run of ``command`` (which must exit 0)."""
    # getrusage counts in microseconds; os.times() in clock ticks (10 ms here), too coarse.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, stdout=subprocess.DEVNULL, timeout=RUN_BOUND, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (default 15)")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("asyncparity")
    kit = [sys.executable, str(script), "--help"] if script.exists() else [sys.executable, "-m", "asyncparity.cli", "--help"]
    baseline = [sys.executable, "-c", "pass"]
    kit_runs, baseline_runs = [], []
    for index in range(max(1, args.repeat)):
        # Alternating, each first half of the time, so that a change in load falls on both.
        order = [(kit, kit_runs), (baseline, baseline_runs)]
        for command, runs in order if index % 2 == 0 else reversed(order):
            runs.append(cpu_seconds(command))
    kit_cpu, baseline_cpu = statistics.median(kit_runs), statistics.median(baseline_runs)
    print(f"  start-up CPU, median of {len(kit_runs)} runs each, alternating")
    print(
        f"  {'asyncparity --help:':26}{kit_cpu * 1000:6.1f} ms  (spread {min(kit_runs) * 1000:.1f} to {max(kit_runs) * 1000:.1f})"
    )
    print(
        f"  {'baseline python -c pass:':26}{baseline_cpu * 1000:6.1f} ms  "
        f"(spread {min(baseline_runs) * 1000:.1f} to {max(baseline_runs) * 1000:.1f})"
    )
    print(f"  ratio: --help takes {kit_cpu / baseline_cpu:.1f}x the CPU of python -c pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
