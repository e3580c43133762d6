"""The benchmark scripts of benchmarks/ run as their docstrings say (on a few scenarios:
their figures are printed for people, never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """One script of benchmarks/ under this Python, its output captured (bounded: 300 s)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_first_verdict_prints_the_two_times_and_their_ratio() -> None:
    completed = run_script("first_verdict.py", "-n", "20", cwd=ROOT)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "asyncparity run on 20 synthetic scenarios (exit 0)"
    assert re.fullmatch(r"  first verdict line after: +\d+\.\d\d s", lines[1])
    assert re.fullmatch(r"  whole run: +\d+\.\d\d s", lines[2])
    assert re.fullmatch(r"  ratio: the first verdict comes at \d+\.\d% of the run", lines[3])


def test_content_cache_prints_the_three_runs_and_the_ratios(tmp_path: Path) -> None:
    completed = run_script("content_cache.py", "-n", "10", "--rounds", "2", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "asyncparity run -q on 10 synthetic scenarios, 2 round(s), seconds (median, range)"
    assert re.fullmatch(r"  without the cache \(--no-cache\): +\d+\.\d\d s  \(\d+\.\d\d-\d+\.\d\d\)", lines[1])
    assert re.fullmatch(r"  first run \(fills the cache\): +\d+\.\d\d s  \(\d+\.\d\d-\d+\.\d\d\)", lines[2])
    assert re.fullmatch(r"  re-run \(unchanged files\): +\d+\.\d\d s  \(\d+\.\d\d-\d+\.\d\d\)", lines[3])
    assert re.fullmatch(r"  ratio: the re-run is \d+\.\dx faster than the first run \(per round: \d+\.\dx, \d+\.\dx\)", lines[4])
    assert re.fullmatch(
        r"  ratio: the re-run is \d+\.\dx faster than a run without the cache \(per round: \d+\.\dx, \d+\.\dx\)", lines[5]
    )
    assert list(tmp_path.iterdir()) == []  # the runs were in a folder of their own


def test_inprocess_prints_each_stage_for_each_checkout_and_the_ratio(tmp_path: Path) -> None:
    # This checkout as its own baseline: the script's every path, on a few scenarios.
    completed = run_script("inprocess.py", "-n", "5", "--rounds", "2", "--baseline", str(ROOT), cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    stages = r"    load \d+\.\d{3} \(\d+\.\d{3}\)  python \d+\.\d{3} \(\d+\.\d{3}\)  compare \d+\.\d{3} \(\d+\.\d{3}\)  total \d+\.\d{3} \(\d+\.\d{3}\)"
    assert lines[0] == "in-process work on 5 synthetic scenarios, 2 run(s) each, CPU seconds: least (median)"
    assert lines[1] == f"  this checkout ({ROOT}):"
    assert re.fullmatch(stages, lines[2])
    assert lines[3] == f"  baseline ({ROOT}):"
    assert re.fullmatch(stages, lines[4])
    assert re.fullmatch(r"  ratio: the baseline's least total is \d+\.\d\dx this checkout's", lines[5])
    assert list(tmp_path.iterdir()) == []


def test_inprocess_refuses_a_baseline_that_is_no_checkout_of_the_kit(tmp_path: Path) -> None:
    completed = run_script("inprocess.py", "-n", "2", "--rounds", "1", "--baseline", str(tmp_path), cwd=tmp_path)

    assert completed.returncode == 1
    assert completed.stderr == f"{tmp_path} is not a checkout of the kit: it has no runner\n"


def test_node_worker_prints_both_forms_the_ratios_and_the_memory_growth(tmp_path: Path) -> None:
    completed = run_script("node_worker.py", "-n", "5", "--rounds", "2", "--memory", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "5 scenarios x 2 targets, least of 2 rounds"
    figures = r" +CPU +\d+\.\d{3} s  wall +\d+\.\d{3} s  peak RSS +\d+\.\d MiB"
    assert re.fullmatch(r"  one request per target" + figures, lines[1])
    assert re.fullmatch(r"  one request per scenario, validated" + figures, lines[2])
    assert re.fullmatch(r"  ratio old/new: CPU \d+\.\d\dx, wall \d+\.\d\dx", lines[3])
    assert re.fullmatch(r"  peak RSS: 5 scenarios \d+\.\d MiB, 50 scenarios \d+\.\d MiB \([+-]\d+\.\d%\)", lines[4])
    assert len(lines) == 5
    assert list(tmp_path.iterdir()) == []  # the requests were written in a folder of their own
