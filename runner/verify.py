"""Verify: the proof that the virtual clocks fake time and nothing else.

A verdict of the kit is a claim about the real runtimes, so the kit checks its clocks
against them, scenario by scenario. For each scenario and target it takes the program
the target generated and the outcome of its virtual run, then runs that program as a
standalone program on the stock runtime with real timers: ``python3 program.py`` (the
genuine ``asyncio.run``, real ``asyncio.sleep``) or ``node program.mjs`` (real
``setTimeout``), with ``ASYNCPARITY_REAL_TIME=S`` in the environment so that the runtime
module slows the program's clock by S: a virtual millisecond takes S real ones (spec/
RUNTIME.md, "Real time"). The program prints its trace in virtual milliseconds; it must
be the virtual run's, line for line (``(any order)`` groups as groups), and end the same
way (``settled``, or ``uncaught`` where Node ended the program at an unhandled rejection).

A program whose virtual run ends in a deadlock that its divergence declares is run too.
A real asyncio loop with nothing to run and ``main`` pending waits in ``select`` for
ever, so the real Python program must still be running :data:`HANG_SECONDS` after its
virtual time has passed (it is then stopped; its trace, which it prints only at its end,
is not compared). A real Node process ends when its event loop is empty, and the
JavaScript program then prints its trace and ``deadlock: ...``: the trace is compared,
and the status line as ``deadlock``. Any other run that did not settle is not run.

A real machine is late now and then: a timer that fires more than half a scaled
millisecond late records the wrong time, and one late by more than a scaled millisecond
can come after a later timer. So a program whose real run differs is run again, once the
others are done, alone and at twice the scale each time, up to ``attempts`` runs in all;
it differs only if every run does. Programs run many at once (``jobs``), since they
mostly sleep. A scenario whose virtual duration would take
longer than ``max_seconds`` of real time is not run: it is listed as too long.

Data flows one way: loaded scenarios -> (virtual outcomes, program texts) from the
testees -> real runs -> :class:`Verification` per scenario -> the report lines below.

A Ctrl-C stops it at once: the programs run in sessions of their own (the terminal's
SIGINT reaches the runner only), and :meth:`RealRunner.abort` kills those running and
starts no more.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import difflib
import hashlib
import json
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .compare import first_difference, same_events
from .defaults import DEFAULT_ATTEMPTS, DEFAULT_MAX_SECONDS, DEFAULT_SCALE
from .kit import JAVASCRIPT_DIR, PYTHON_DIR
from .model import JS_TARGETS, PYTHON_TARGETS, Scenario
from .trace import trace_lines

REAL_TIME_VARIABLE = "ASYNCPARITY_REAL_TIME"
HANG_SECONDS = 2.0
"""Real seconds past its virtual time that a program whose virtual run deadlocked must
still be running: a real asyncio.run in a deadlock never returns."""
STILL_RUNNING = "(still running: the real run does not end)"
"""What a program that does not end is said to print, in place of its output."""
RUNTIME_FILES = {"python": PYTHON_DIR / "asyncparity_runtime.py", "javascript": JAVASCRIPT_DIR / "asyncparity-runtime.mjs"}


@dataclass
class Check:
    """How one target's real run compared with its virtual run.

    ``status``: ``verified``, ``differ``, ``too long`` (not run: see the module doc) or
    ``not run`` (the virtual run did not settle, or the target was skipped: ``message``
    says why). ``attempts`` counts the real runs; ``diff`` is the last one's against the
    virtual trace.
    """

    target: str
    status: str
    message: str = ""
    attempts: int = 0
    diff: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """One scenario's checks, target by target; ``runs``: for each target verified, what
    it held for (:func:`run_digest` of the program and its virtual outcome)."""

    path: str
    scenario_id: str
    checks: list[Check]
    runs: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``differ`` if any target differs, else ``too long`` if any is, else ``verified``
        (``not run`` when no target ran)."""
        statuses = [check.status for check in self.checks]
        for status in ("differ", "too long"):
            if status in statuses:
                return status
        return "verified" if "verified" in statuses else "not run"

    def rerun_command(self, scale: float) -> str:
        return f"asyncparity verify {shlex.quote(self.path)} -k {shlex.quote(self.scenario_id)} --scale {scale:g}"


@dataclass(frozen=True)
class Program:
    """A program to run on real time, and what its virtual run printed."""

    scenario: Scenario
    target: str
    source: str
    expected: list[str]
    virtual_ms: int
    ends: bool = True
    """False for a program whose virtual run deadlocked as declared: it must not end."""


def expected_lines(outcome: dict) -> list[str]:
    """What a standalone program prints for this outcome: its trace, then its status line
    (a deadlock's, whose message is the runtime's, as ``deadlock``)."""
    result = outcome.get("result") or {}
    status = "deadlock" if outcome.get("status") == "deadlock" else "uncaught" if "uncaught" in result else "settled"
    return [*trace_lines(outcome.get("trace", [])), status]


def plan(scenario: Scenario, target: str, outcome: dict, source: str, scale: float, max_seconds: float) -> Program | Check:
    """The program to run for one target, or the check that says why it is not run."""
    status = outcome.get("status")
    if status == "skipped":
        return Check(target, "not run", f"skipped: {outcome.get('message')}")
    declared = status == "deadlock" and _declares_deadlock(scenario, target)
    hangs = declared and target in PYTHON_TARGETS
    if status != "settled" and not declared:
        reason = outcome.get("message") or status
        return Check(target, "not run", f"the virtual run did not settle: {reason}")
    virtual_ms = int((outcome.get("stats") or {}).get("virtual_time", 0))
    if virtual_ms * scale / 1000 > max_seconds:
        return Check(
            target,
            "too long",
            f"{virtual_ms} virtual ms would take {virtual_ms * scale / 1000:g} s at scale {scale:g} "
            f"(the bound is {max_seconds:g} s)",
        )
    if hangs:
        return Program(scenario, target, source, [STILL_RUNNING], virtual_ms, ends=False)
    return Program(scenario, target, source, expected_lines(outcome), virtual_ms)


def _declares_deadlock(scenario: Scenario, target: str) -> bool:
    _, divergence = scenario.expected_for(target)
    return divergence is not None and divergence.stops == "deadlock"


class RealRunner:
    """Runs programs as standalone processes on real time, in one temporary folder that
    holds the two runtime modules (a program imports its runtime from beside it)."""

    def __init__(self, python: str, node: str, scale: float, folder: Path) -> None:
        self.python, self.node, self.scale, self.folder = python, node, scale, folder
        for runtime in RUNTIME_FILES.values():
            (folder / runtime.name).write_bytes(runtime.read_bytes())
        self._running: set[subprocess.Popen[bytes]] = set()
        self._aborted = False
        self._lock = threading.Lock()  # run() is called from the pool's threads, abort() from the main one

    def abort(self) -> None:
        """Kill every program running now, and run no other (the run was interrupted)."""
        with self._lock:
            self._aborted = True
            running = list(self._running)
        for process in running:
            with contextlib.suppress(OSError):
                process.kill()

    def run(self, program: Program, number: int, scale: float | None = None) -> tuple[list[str], str]:
        """Run ``program`` (at ``scale``, by default the runner's); its output lines, and
        what went wrong if it did not end well."""
        scale = scale or self.scale
        javascript = program.target in JS_TARGETS
        name = f"p{number}-{program.scenario.id}.{program.target}.{'mjs' if javascript else 'py'}"
        path = self.folder / name
        path.write_text(program.source, encoding="utf-8")
        command = [self.node if javascript else self.python, str(path)]
        env = {**os.environ, REAL_TIME_VARIABLE: f"{scale:g}", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
        env.pop("PYTHONPATH", None)
        bound = program.virtual_ms * scale / 1000 * 3 + 30 if program.ends else program.virtual_ms * scale / 1000 + HANG_SECONDS
        with self._lock:
            if self._aborted:
                return [], "not run: the run was interrupted"
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.folder,
                env=env,
                start_new_session=True,  # the terminal's Ctrl-C is the runner's to handle (abort)
            )
            self._running.add(process)
        try:
            stdout, stderr_bytes = process.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            if not program.ends:
                return [STILL_RUNNING], ""
            return [], f"the real run did not end within {bound:g} s"
        finally:
            if process.poll() is None:  # timed out, or interrupted in this thread
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.communicate(timeout=5)
            with self._lock:
                self._running.discard(process)
        if self._aborted:
            return [], "not run: the run was interrupted"
        # Split at newlines only: canonical text keeps U+2028 and friends raw, and
        # str.splitlines() would cut a trace line at them.
        lines = stdout.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not program.ends:
            return lines, f"the real run ended (exit code {process.returncode}) where the virtual run deadlocked"
        if lines and lines[-1].startswith("deadlock: "):
            lines[-1] = "deadlock"  # the message is the runtime's, never compared (spec/RUNTIME.md)
        status = lines[-1] if lines else ""
        expected_code = 0 if status == "settled" else 1
        if process.returncode != expected_code or status not in ("settled", "uncaught", "deadlock"):
            stderr = stderr_bytes.decode("utf-8", "replace").strip().splitlines()
            tail = stderr[-1] if stderr else f"exit code {process.returncode}"
            return lines, f"the real run ended with exit code {process.returncode}: {tail}"
        return lines, ""


def check_program(program: Program, lines: list[str], problem: str, attempts: int) -> Check:
    """Compare a real run's output with the virtual run's."""
    same = not problem and same_events(program.expected, lines)[0]
    if same:
        note = "" if attempts == 1 else f"the same on run {attempts} of {attempts}; the earlier runs were late"
        return Check(program.target, "verified", note, attempts)
    diff = list(difflib.unified_diff(program.expected, lines, "virtual run", "real run", lineterm=""))
    message = problem or _first_difference(program.expected, lines)
    return Check(program.target, "differ", message, attempts, diff)


def _first_difference(expected: list[str], actual: list[str]) -> str:
    index, want, got = first_difference(expected, actual, "(end of output)")
    return f"first difference at line {index + 1}: virtual `{want}`, real `{got}`"


def verify_programs(
    scenarios: list[Scenario],
    targets: tuple[str, ...],
    outcomes: dict[tuple[str, str], dict],
    sources: dict[tuple[str, str], str],
    runner: RealRunner,
    *,
    jobs: int,
    attempts: int = DEFAULT_ATTEMPTS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    on_verification: Callable[[Verification], None] = lambda verification: None,
) -> list[Verification]:
    """Run every program on real time, ``jobs`` at once, and check each against its outcome.

    ``outcomes`` and ``sources`` are keyed by (scenario id, target). A scenario's
    verification goes to ``on_verification`` once all its targets are checked: in
    scenario order, except that one with a program to run again comes after the first
    runs of all the others, since the runs again are made alone. The list returned is in
    scenario order.
    """
    planned: dict[tuple[str, str], Program | Check] = {}
    for scenario in scenarios:
        for target in targets:
            key = (scenario.id, target)
            planned[key] = plan(scenario, target, outcomes[key], sources.get(key, ""), runner.scale, max_seconds)
    programs = [(key, item) for key, item in planned.items() if isinstance(item, Program)]
    # The longest first, so that the pool does not end waiting on one long program.
    programs.sort(key=lambda entry: -entry[1].virtual_ms)
    program_of = dict(programs)
    numbers = iter(range(1, 1_000_000_000))
    checks: dict[tuple[str, str], Check] = {key: item for key, item in planned.items() if isinstance(item, Check)}
    done: dict[str, Verification] = {}
    waiting: list[Scenario] = []

    def finish(scenario: Scenario) -> None:
        verified = [target for target in targets if checks[scenario.id, target].status == "verified"]
        runs = {target: run_digest(sources.get((scenario.id, target), ""), outcomes[scenario.id, target]) for target in verified}
        done[scenario.id] = Verification(scenario.path, scenario.id, [checks[scenario.id, target] for target in targets], runs)
        on_verification(done[scenario.id])

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {key: pool.submit(runner.run, program, next(numbers)) for key, program in programs}
        for scenario in scenarios:
            for target in targets:
                key = (scenario.id, target)
                if key not in checks:
                    checks[key] = check_program(program_of[key], *futures[key].result(), 1)
            if any(checks[scenario.id, target].status == "differ" for target in targets):
                waiting.append(scenario)
            else:
                finish(scenario)
    except BaseException:
        # Ctrl-C (or a failure): the programs running are killed, the queued never start,
        # so that the pool's threads end at once.
        runner.abort()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for scenario in waiting:
        for target in targets:
            key = (scenario.id, target)
            runs = 1
            while checks[key].status == "differ" and runs < attempts:
                # Only a run differs: what plan() answered with a Check is "not run" or "too long".
                program = program_of[key]
                runs += 1
                # Twice the scale each time, as long as the run stays within the bound.
                scale = runner.scale * 2 ** (runs - 1)
                while scale > runner.scale and program.virtual_ms * scale / 1000 > max_seconds:
                    scale /= 2
                checks[key] = check_program(program, *runner.run(program, next(numbers), scale), runs)
        finish(scenario)
    return [done[scenario.id] for scenario in scenarios]


STATUS_WORD = {"verified": "VERIFIED", "differ": "DIFFER", "too long": "TOO LONG", "not run": "NOT RUN"}


def verification_line(verification: Verification, id_width: int = 32) -> str:
    """``VERIFIED  id  python, js-promise, js-async``: one scenario, one line."""
    cells = []
    for check in verification.checks:
        cells.append(check.target if check.status == "verified" else f"{check.target} {check.status}")
    return f"{STATUS_WORD[verification.status]:<9} {verification.scenario_id:<{id_width}}  {', '.join(cells)}"


def verification_details(verification: Verification, scale: float) -> list[str]:
    """What differs, target by target, and the command that verifies just this scenario again."""
    shown = [check for check in verification.checks if check.status in ("differ", "not run", "too long") or check.message]
    if verification.status == "verified" and all(check.status == "verified" for check in shown):
        return [f"  {verification.scenario_id} {check.target}: {check.message}" for check in shown]
    lines = [f"--- {verification.scenario_id} ({verification.path})"]
    for check in shown:
        lines.append(
            f"  {check.target}: {check.status}: {check.message}" if check.message else f"  {check.target}: {check.status}"
        )
        lines.extend(f"    {line}" for line in check.diff)
    if verification.status == "differ":
        lines.append(f"  rerun: {verification.rerun_command(scale)}")
    return lines


def summary_line(verifications: list[Verification]) -> str:
    """``79 verified, 1 differ`` (and ``, N too long for real time``, ``, N not run``)."""
    count = {status: sum(1 for item in verifications if item.status == status) for status in STATUS_WORD}
    text = f"{count['verified']} verified, {count['differ']} differ"
    if count["too long"]:
        text += f", {count['too long']} too long for real time"
    if count["not run"]:
        text += f", {count['not run']} not run"
    return text


def scenario_digest(path: str) -> str:
    """The digest of a scenario file's bytes: a verification holds for this text only."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def short_digest(value: object) -> str:
    """A short, stable digest of a text or a JSON value (tests/digests.json's)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def run_digest(program: str, outcome: dict) -> str:
    """What one target's verification holds for: ``PROGRAM OUTCOME``, the
    :func:`short_digest` of its program text and of its virtual run's outcome. A change
    of a compiler or a runtime module that changes either is a claim not verified yet;
    tests/digests.json keeps the same two digests of every program and outcome the kit
    makes now, so a test can tell a record that no longer holds."""
    return f"{short_digest(program)} {short_digest(outcome)}"


def record(path: Path, verifications: list[Verification], runtimes: dict[str, str]) -> dict:
    """Add what this run verified to the record at ``path`` (JSON) and return the record.

    The record says, per scenario, the digest of the file that was verified; per
    runtime family (``python``: CPython versions; ``node``: Node versions), the versions
    on which every target of that family that ran was verified; and in ``runs``, for
    each of those (``node 20.20.2``), the :func:`run_digest` of each target verified
    there. A scenario whose file changed starts over. ``runtimes`` maps ``python`` and
    ``node`` to this run's versions.
    """
    data = read_record(path)
    scenarios = data.setdefault("scenarios", {})
    for verification in verifications:
        digest = scenario_digest(verification.path)
        entry = scenarios.get(verification.scenario_id)
        if entry is None or entry.get("digest") != digest:
            entry = scenarios[verification.scenario_id] = {"digest": digest, "python": [], "node": [], "runs": {}}
        for family, family_targets in (("python", PYTHON_TARGETS), ("node", JS_TARGETS)):
            ran = [check for check in verification.checks if check.target in family_targets and check.status != "not run"]
            if ran and all(check.status == "verified" for check in ran) and family in runtimes:
                entry[family] = sorted(set(entry[family]) | {runtimes[family]}, key=_version_key)
                runs = entry.setdefault("runs", {})
                runs[f"{family} {runtimes[family]}"] = {
                    target: run for target, run in sorted(verification.runs.items()) if target in family_targets
                }
                entry["runs"] = dict(sorted(runs.items(), key=lambda item: _runtime_key(item[0])))
    data["scenarios"] = dict(sorted(scenarios.items()))
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def read_record(path: Path) -> dict:
    """The record at ``path`` (empty when there is none); ValueError says, in one line, why
    it cannot be read."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read it: {error.strerror or error}") from None
    except ValueError as error:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
        raise ValueError(f"not a JSON record: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios", {}), dict):
        raise ValueError("not a record of verified scenarios (an object with 'scenarios')")
    return data


def _runtime_key(runtime: str) -> tuple[str, tuple[int, ...]]:
    """``node 20.20.2`` -> ("node", (20, 20, 2)): a record's runs, by family and version."""
    family, _, version = runtime.partition(" ")
    return family, _version_key(version)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def default_folder() -> tempfile.TemporaryDirectory:
    """A temporary folder for the programs and their runtime modules."""
    return tempfile.TemporaryDirectory(prefix="asyncparity-verify-")


__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_SCALE",
    "HANG_SECONDS",
    "PYTHON_TARGETS",
    "STILL_RUNNING",
    "Check",
    "Program",
    "RealRunner",
    "Verification",
    "check_program",
    "expected_lines",
    "plan",
    "read_record",
    "record",
    "run_digest",
    "scenario_digest",
    "short_digest",
    "summary_line",
    "verification_details",
    "verification_line",
    "verify_programs",
]
