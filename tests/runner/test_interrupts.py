"""Fault tests: Ctrl-C during ``asyncparity run``, ``verify`` and ``matrix`` (runner/cli.py).

Each starts the installed command as a real process in a session of its own, waits for
it to be busy (a verdict printed, its children started), and sends SIGINT: to the
process alone (``kill -INT``) and to its whole process group (what Ctrl-C at a terminal
does). It asserts the time taken to exit (a bound, not a speed claim), the output (the
verdicts so far and a closing line that says the run was interrupted), the partial JSON
report, exit code 130, and that no child process is left: the children are found in
/proc while the command runs, and looked for again once it has exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asyncparity.node import find_node

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "spec" / "seed" / "download-fallback.yaml"
ASYNCPARITY = Path(sys.executable).parent / "asyncparity"
EXIT_BOUND = 5.0  # seconds from SIGINT to exit; it takes well under one

# Seconds of work on Node and minutes on the in-process Python target: the run is busy
# with it when the signal comes.
BUSY = """\
id: busy
summary: A count long for Python and for Node, with no trace.
main:
  - set: n
    value: 0
  - repeat: 10000
    steps:
      - repeat: 10000
        steps:
          - repeat: 100
            steps:
              - set: n
                value: {calc: [$n, "+", 1]}
  - return: $n
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``asyncparity ARGV...`` in a process group of its own (killpg reaches it and
    its children only); whatever of the group is left when the test ends is killed. It
    starts in the test's folder, so that a run's cache is not written into the checkout."""
    started: list[subprocess.Popen[str]] = []

    def start(*argv: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [str(ASYNCPARITY), *argv],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def read_until(process: subprocess.Popen[str], prefix: str, bound: float = 30.0) -> list[str]:
    """The lines ``process`` prints up to and including the first that starts with ``prefix``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + bound
    while not lines or not lines[-1].startswith(prefix):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stdout.readline() if ready else ""
        assert line, f"no line starting {prefix!r} within {bound} s; got {lines}"
        lines.append(line.rstrip("\n"))
    return lines


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def wait_for_children(pid: int, count: int, bound: float = 30.0) -> list[int]:
    deadline = time.monotonic() + bound
    while len(found := children(pid)) < count:
        assert time.monotonic() < deadline, f"{pid} has {found}, not {count} children"
        time.sleep(0.05)
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def interrupt(process: subprocess.Popen[str], to: str) -> tuple[float, str, str]:
    """SIGINT to the process or its group; the seconds it took to exit, and the rest of its output."""
    sent = time.monotonic()
    if to == "group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)  # the fixture kills what is left after a timeout
    return time.monotonic() - sent, out, err


@pytest.mark.parametrize("to", ["process", "group"])
def test_ctrl_c_during_run_keeps_the_verdicts_so_far_and_writes_the_partial_report(
    tmp_path: Path, to: str, start: Callable[..., subprocess.Popen[str]]
) -> None:
    shutil.copy(SEED, tmp_path / "a-seed.yaml")
    (tmp_path / "b-busy.yaml").write_text(BUSY)
    for name in "cde":
        text = SEED.read_text().replace("id: seed-download-fallback", f"id: seed-{name}")
        (tmp_path / f"{name}-seed.yaml").write_text(text)
    report = tmp_path / "report.json"
    process = start("run", str(tmp_path), "--json", str(report))

    before = read_until(process, "PASS  ")
    workers = wait_for_children(process.pid, 1)
    took, out, err = interrupt(process, to)

    assert before == ["PASS  seed-download-fallback  python agree, js-promise agree, js-async agree"]
    assert (process.returncode, out, err) == (130, "interrupted: 1 passed, 0 failed; 4 of 5 not run\n", "")
    assert took < EXIT_BOUND
    assert [pid for pid in workers if alive(pid)] == []
    data = json.loads(report.read_text())
    assert (data["interrupted"], data["not_run"], data["summary"]["passed"]) == (True, 4, 1)
    assert [scenario["id"] for scenario in data["scenarios"]] == ["seed-download-fallback"]


def test_ctrl_c_during_verify_kills_the_programs_it_runs(tmp_path: Path, start: Callable[..., subprocess.Popen[str]]) -> None:
    # 3 s of virtual time at scale 1: the programs sleep in real time when the signal comes.
    path = tmp_path / "sleepy.yaml"
    path.write_text("id: sleepy\nsummary: s\nmain:\n  - sleep: 3000\n  - return: 1\n")
    process = start("verify", str(path), "--scale", "1")

    read_until(process, "verifying 1 scenario(s)")
    programs = wait_for_children(process.pid, 3)  # python, js-promise, js-async
    took, out, err = interrupt(process, "group")

    assert (process.returncode, out, err) == (130, "interrupted: 0 verified, 0 differ; 1 of 1 not verified\n", "")
    assert took < EXIT_BOUND
    assert [pid for pid in programs if alive(pid)] == []


def test_ctrl_c_during_matrix_stops_every_worker(tmp_path: Path, start: Callable[..., subprocess.Popen[str]]) -> None:
    (tmp_path / "busy.yaml").write_text(BUSY)
    process = start("matrix", str(tmp_path), "--python", sys.executable, "--node", find_node().path, "--timeout", "60")

    workers = wait_for_children(process.pid, 2)  # a Python worker and a Node worker
    time.sleep(0.3)  # past their hello: busy with the count
    took, out, err = interrupt(process, "group")

    assert (process.returncode, out, err) == (130, "interrupted: the matrix is incomplete; no table and no report written\n", "")
    assert took < EXIT_BOUND
    assert [pid for pid in workers if alive(pid)] == []
