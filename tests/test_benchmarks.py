"""The benchmark scripts of benchmarks/ run as their docstrings say (on a few scenarios:
their figures are printed for people, never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_first_verdict_prints_the_two_times_and_their_ratio() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "first_verdict.py"), "-n", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "asyncparity run on 20 synthetic scenarios (exit 0)"
    assert re.fullmatch(r"  first verdict line after: +\d+\.\d\d s", lines[1])
    assert re.fullmatch(r"  whole run: +\d+\.\d\d s", lines[2])
    assert re.fullmatch(r"  ratio: the first verdict comes at \d+\.\d% of the run", lines[3])
