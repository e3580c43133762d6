"""Bench goals: issue 13's goals for speed and memory, each measured as the figure it names.

``asyncparity bench`` prints these after its ratio against a process per program
(runner/bench.py). Every figure comes from ``asyncparity run`` run as a user runs it: a
subprocess of this Python, in a temporary project folder of synthetic scenarios
(:func:`~asyncparity.bench.write_scenarios`), its standard output a pipe. For each run
it takes:

- the wall time, and the CPU time of the run and every process it waited for (the Node
  worker), from :func:`resource.getrusage` of the children;
- when the first verdict line came;
- the peak resident memory (``VmHWM`` in ``/proc/PID/status``, Linux) of the kit's
  process and of its Node worker, read every few milliseconds while they run (the peak
  is a high-water mark: a late reading still holds it).

The goals, and how each is judged (:data:`GOALS`):

- ``end_to_end``: a first run of 1,000 scenarios x 3 targets, YAML included (an empty
  cache): at most 1.0 s wall and 1.5 s of CPU, the least of the rounds (the goal is
  stated for a quiet machine; the least is the round the machine's load disturbed least);
- ``rerun``: a re-run of the same unchanged files, through the content cache, at least
  2x faster than the first run, the median of the rounds' ratios;
- ``memory``: the peak of each process at 10,000 scenarios at most 10% over its peak at
  1,000 (requests in flight bounded, outcomes let go once reported), without the
  content cache (:func:`measure_memory` says why);
- ``first_verdict``: the first verdict line of a 5,000-scenario folder within 1 s;
- ``probes``: the matrix's runtimes probed as ``matrix`` probes them, each once and at
  once: its CPythons (runner/pythons.py's ``find_pythons``, each probe timed: judged met
  when each was probed once and two or more at the same time). Its Nodes
  (runner/node.py's ``resolve_nodes``) are timed against asking them one after another,
  as ``matrix`` did before (the Node on PATH once for each version), where every Node
  is here without a download, and printed, not judged: a probe takes a few
  milliseconds, and the machine's load swings such figures either way
  (tests/runner/test_node.py holds each Node to one probe, at once).

The runs have Python's bytecode cache, as a kit installed by pip has
(:func:`with_bytecode`), filled by one untimed run of one scenario before the others.

Absolute figures depend on the machine; they are printed with the goal they are held to.
"""

from __future__ import annotations

import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bench import write_scenarios

GOALS: dict[str, dict[str, Any]] = {
    "end_to_end": {"scenarios": 1000, "wall": 1.0, "cpu": 1.5},
    "rerun": {"scenarios": 1000, "ratio": 2.0},
    "memory": {"small": 1000, "large": 10000, "growth": 0.10},
    "first_verdict": {"scenarios": 5000, "seconds": 1.0},
    "probes": {"pythons": ("3.10", "3.11", "3.12", "3.13"), "nodes": ("20", "22", "24")},
}
"""Issue 13's goals, as numbers."""
ROUNDS = 5
"""Rounds of the first run and the re-run."""
RUN_BOUND = 900.0
"""Seconds one measured run may take before it is killed (10,000 scenarios take tens of seconds here)."""
POLL = 0.005
"""Seconds between readings of the processes' peak memory."""
VERDICT = re.compile(r"(?:\x1b\[[0-9;]*m)?(PASS|FAIL|SKIP) ")


def timed_run(project: Path, argv: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``asyncparity ARGV`` in ``project`` as a user would; what it took.

    Keys: ``exit`` (its exit code), ``seconds`` (wall), ``cpu`` (user and system
    seconds of it and the processes it waited for), ``first_verdict`` (seconds to the
    first verdict line; None if none came), ``kit_mib`` and ``worker_mib`` (the peak
    resident memory of the kit's process and of the largest process it started; None
    where ``/proc`` cannot say), ``last_line`` (its closing line)."""
    command = [sys.executable, "-m", "asyncparity.cli", *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    first: list[float] = []
    lines: list[str] = []
    peaks: dict[str, float | None] = {"kit": None, "worker": None}
    started = time.perf_counter()
    with subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, text=True, env=env) as process:

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if not first and VERDICT.match(line):
                    first.append(time.perf_counter() - started)
                if line.strip():
                    lines[:] = [line.rstrip("\n")]

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = started + RUN_BOUND
        while process.poll() is None and time.perf_counter() < deadline:
            _read_peaks(process.pid, peaks)
            time.sleep(POLL)
        if process.poll() is None:
            process.kill()
        code = process.wait(timeout=60)
        reader.join(timeout=60)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "exit": code,
        "seconds": seconds,
        "cpu": cpu,
        "first_verdict": first[0] if first else None,
        "kit_mib": peaks["kit"],
        "worker_mib": peaks["worker"],
        "last_line": lines[0] if lines else "",
    }


def peak_kib(pid: int) -> int | None:
    """The peak resident KiB of process ``pid`` since its exec (``VmHWM``), or None where
    ``/proc`` cannot say. Not ``ru_maxrss``: for a child it counts the forked copy of its
    parent too, before the exec."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _peak_mib(pid: int) -> float | None:
    kib = peak_kib(pid)
    return None if kib is None else kib / 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                found += [int(child) for child in children.read().split()]
    except (OSError, ValueError):
        pass
    return found


def _read_peaks(pid: int, peaks: dict[str, float | None]) -> None:
    kit = _peak_mib(pid)
    if kit is not None:
        peaks["kit"] = max(kit, peaks["kit"] or 0.0)
    for child in _children(pid):
        worker = _peak_mib(child)
        if worker is not None:
            peaks["worker"] = max(worker, peaks["worker"] or 0.0)


def _project(tmp: Path, n: int) -> Path:
    """A project folder of ``n`` synthetic scenarios under ``tmp`` (written once)."""
    project = tmp / f"project-{n}"
    if not project.is_dir():
        (project / "spec").mkdir(parents=True)
        write_scenarios(project / "spec", n)
    return project


def with_bytecode(environ: dict[str, str], folder: Path) -> dict[str, str]:
    """``environ`` for the measured runs: Python's bytecode cache on, in ``folder``.

    A kit installed by pip has its modules compiled at install, and a default CPython
    writes the bytecode of the others at their first import; an environment with
    ``PYTHONDONTWRITEBYTECODE`` set (some CI and containers) compiles every changed
    module of an editable checkout again in every run, about 40 ms of each here, which
    is the interpreter's work, not the kit's. The cache is written under ``folder``
    (``PYTHONPYCACHEPREFIX``), never into the checkout."""
    runs = {name: value for name, value in environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    runs["PYTHONPYCACHEPREFIX"] = str(folder)
    return runs


def warmed(tmp: Path, environ: dict[str, str] | None = None) -> tuple[dict[str, str], str | None]:
    """The environment for measured runs in ``tmp`` (:func:`with_bytecode`, over
    ``environ`` or this process's), its bytecode cache filled by a first run and a re-run
    of one scenario (each way through the content cache), and what went wrong in them."""
    environ = with_bytecode(environ if environ is not None else dict(os.environ), tmp / "pycache")
    warm = _project(tmp, 1)
    for _ in range(2):
        problem = _problem(timed_run(warm, ["run", "-q", "spec"], environ), "a run of 1 scenario")
        if problem:
            return environ, problem
    return environ, None


def _problem(run: dict, what: str) -> str | None:
    if run["exit"] != 0:
        return f"{what} exited {run['exit']}: {run['last_line']}"
    return None


def measure_goals(
    sizes: dict[str, int] | None = None,
    rounds: int = ROUNDS,
    progress: Callable[[str], None] = lambda line: None,
    find_python: Callable[[str], object] | None = None,
    environ: dict[str, str] | None = None,
) -> dict:
    """Measure every goal of :data:`GOALS`; their figures as plain data.

    ``sizes`` overrides the goals' sizes (``end_to_end``, ``small``, ``large``,
    ``first_verdict``), for a test on a few scenarios: a goal is judged (``met``) only on
    a run of the size it is stated for, and is None otherwise. ``find_python`` is how a
    CPython is probed (runner/pythons.py's ``find_python``); the probes goal is None when
    one of its CPythons is not found. ``environ``: the runs' environment (this
    process's by default), with Python's bytecode cache on, filled first (:func:`warmed`).
    """
    sizes = {
        "end_to_end": GOALS["end_to_end"]["scenarios"],
        "small": GOALS["memory"]["small"],
        "large": GOALS["memory"]["large"],
        "first_verdict": GOALS["first_verdict"]["scenarios"],
        **(sizes or {}),
    }
    problems: list[str] = []
    figures: dict = {"sizes": sizes, "rounds": rounds, "problems": problems}
    with tempfile.TemporaryDirectory(prefix="asyncparity-goals-") as tmp:
        progress("a run of one scenario, not timed: Python compiles the kit's modules once")
        environ, problem = warmed(Path(tmp), environ)
        if problem:
            problems.append(problem)
        project = _project(Path(tmp), sizes["end_to_end"])
        first_runs, reruns = [], []
        for index in range(rounds):
            progress(f"round {index + 1} of {rounds}: a first run and a re-run of {sizes['end_to_end']} scenarios")
            subprocess.run(
                [sys.executable, "-m", "asyncparity.cli", "cache", "clear"],
                cwd=project,
                capture_output=True,
                check=False,
                timeout=60,
                env=environ,
            )
            first_runs.append(timed_run(project, ["run", "-q", "spec"], environ))
            reruns.append(timed_run(project, ["run", "-q", "spec"], environ))
        for run in first_runs + reruns:
            problem = _problem(run, f"a run of {sizes['end_to_end']} scenarios")
            if problem and problem not in problems:
                problems.append(problem)
        full = sizes["end_to_end"] >= GOALS["end_to_end"]["scenarios"]
        wall, cpu = min(run["seconds"] for run in first_runs), min(run["cpu"] for run in first_runs)
        figures["end_to_end"] = {
            "scenarios": sizes["end_to_end"],
            "wall": wall,
            "cpu": cpu,
            "wall_median": statistics.median(run["seconds"] for run in first_runs),
            "cpu_median": statistics.median(run["cpu"] for run in first_runs),
            "met": (wall <= GOALS["end_to_end"]["wall"] and cpu <= GOALS["end_to_end"]["cpu"]) if full else None,
        }
        ratios = [first["seconds"] / rerun["seconds"] for first, rerun in zip(first_runs, reruns, strict=True)]
        figures["rerun"] = {
            "scenarios": sizes["end_to_end"],
            "first": statistics.median(run["seconds"] for run in first_runs),
            "rerun": statistics.median(run["seconds"] for run in reruns),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "met": statistics.median(ratios) >= GOALS["rerun"]["ratio"] if full else None,
        }

        figures["memory"] = measure_memory(sizes["small"], sizes["large"], Path(tmp), environ, progress)
        problems += figures["memory"].pop("problems")

        progress(f"the first verdict of {sizes['first_verdict']} scenarios")
        folder = _project(Path(tmp), sizes["first_verdict"])
        run = timed_run(folder, ["run", "spec"], environ)
        problem = _problem(run, f"a run of {sizes['first_verdict']} scenarios")
        if problem:
            problems.append(problem)
        first_full = sizes["first_verdict"] >= GOALS["first_verdict"]["scenarios"]
        figures["first_verdict"] = {
            "scenarios": sizes["first_verdict"],
            "seconds": run["first_verdict"],
            "whole_run": run["seconds"],
            "met": (run["first_verdict"] is not None and run["first_verdict"] <= GOALS["first_verdict"]["seconds"])
            if first_full
            else None,
        }
    figures["probes"] = _probes(find_python, progress)
    return figures


def measure_memory(
    small: int,
    large: int,
    tmp: Path,
    environ: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> dict:
    """The peak memory of the kit's process and of its Node worker on a run of ``small``
    and of ``large`` synthetic scenarios (``asyncparity run -q --no-cache`` in folders
    under ``tmp``), and each one's growth from the one to the other.

    Without the content cache: its index holds every entry of the cache folder, so it
    grows with the cache, which is not what this goal is about (the pipeline's requests
    in flight and the outcomes it keeps). Keys: ``small`` and ``large`` (``scenarios``,
    ``kit_mib``, ``worker_mib``, ``seconds``), ``growth`` (by process, a fraction; None
    where a figure is missing), ``met`` (None unless the sizes are the goal's) and
    ``problems``."""
    figures: dict = {"problems": []}
    for which, n in (("small", small), ("large", large)):
        progress(f"memory: a run of {n} scenarios")
        run = timed_run(_project(tmp, n), ["run", "-q", "--no-cache", "spec"], environ)
        problem = _problem(run, f"a run of {n} scenarios")
        if problem:
            figures["problems"].append(problem)
        figures[which] = {"scenarios": n, "kit_mib": run["kit_mib"], "worker_mib": run["worker_mib"], "seconds": run["seconds"]}
    growth = {}
    for process in ("kit_mib", "worker_mib"):
        before, after = figures["small"][process], figures["large"][process]
        growth[process] = None if not before or after is None else after / before - 1
    figures["growth"] = growth
    known = [value for value in growth.values() if value is not None]
    full = small >= GOALS["memory"]["small"] and large >= GOALS["memory"]["large"]
    figures["met"] = (len(known) == 2 and max(known) <= GOALS["memory"]["growth"]) if full else None
    return figures


def _probes(find_python: Callable[[str], object] | None, progress: Callable[[str], None]) -> dict:
    """The matrix's runtimes probed as ``matrix`` probes them (the module docstring)."""
    from .pythons import find_pythons

    if find_python is None:
        from .pythons import find_python as found

        find_python = found
    specs = GOALS["probes"]["pythons"]
    progress(f"probing CPython {', '.join(specs)}, together and one at a time")
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def timed(spec: str) -> Any:
        started = time.perf_counter()
        try:
            return find_python(spec)
        finally:
            with lock:
                spans.append((spec, started, time.perf_counter()))

    figures: dict = {"pythons": list(specs), "together": None, "sum": None, "at_once": None, "nodes": _node_probes(progress)}
    try:
        alone = 0.0
        for spec in specs:
            started = time.perf_counter()
            find_python(spec)
            alone += time.perf_counter() - started
        started = time.perf_counter()
        find_pythons(list(specs), timed)
        figures["together"] = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - a CPython not found: the goal cannot be judged here
        return {**figures, "met": None, "why": str(error)}
    figures["sum"] = alone
    figures["once"] = sorted(spec for spec, _, _ in spans) == sorted(specs)
    figures["at_once"] = _most_at_once(spans)
    figures["met"] = figures["once"] and figures["at_once"] >= min(2, len(specs))
    figures["why"] = ""
    return figures


def _most_at_once(spans: list[tuple[str, float, float]]) -> int:
    """The most of ``spans`` (name, start, end) running at the same time."""
    edges = sorted([(start, 1) for _, start, _ in spans] + [(end, -1) for _, _, end in spans])
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _node_probes(progress: Callable[[str], None]) -> dict:
    """The matrix's Nodes resolved as it resolves them, and one after another as it did
    before: seconds each way (the least of three), or None with the reason when a Node is
    not here without a download (the bench downloads nothing)."""
    from .node import NodeNotFound, ProvisionError, resolve_node, resolve_nodes

    specs = list(GOALS["probes"]["nodes"])
    progress(f"resolving Node {', '.join(specs)}, together and one at a time")
    figures: dict = {"versions": specs, "together": None, "one_by_one": None, "why": ""}
    try:
        together, one_by_one = [], []
        for _ in range(3):
            started = time.perf_counter()
            resolve_nodes(specs, download=False)
            together.append(time.perf_counter() - started)
            started = time.perf_counter()
            for spec in specs:
                resolve_node(spec, download=False)
            one_by_one.append(time.perf_counter() - started)
    except (NodeNotFound, ProvisionError) as error:
        figures["why"] = str(error).removeprefix("asyncparity: ")
        return figures
    figures["together"], figures["one_by_one"] = min(together), min(one_by_one)
    return figures


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "not judged (a run smaller than the goal's)"}[met]


def at_least(ratio: float) -> str:
    """A ratio held to a floor, rounded down to two decimals: a ratio short of its goal
    never reads as the goal (1.997 is ``1.99x``, where ``:.1f`` wrote ``2.0x``)."""
    return f"{math.floor(round(ratio * 100, 6)) / 100:.2f}x"  # round first: 1.15 * 100 is 114.999...


def at_most(growth: float) -> str:
    """A growth held to a ceiling, in percent rounded up to one decimal: a growth past its
    bound never reads as the bound (0.1004 is ``+10.1%``, where ``:+.1f`` wrote ``+10.0%``)."""
    return f"{math.ceil(round(growth * 1000, 6)) / 10:+.1f}%"  # round first: 0.05 * 1000 is 50.000...1


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} MiB"


def render_goals(figures: dict) -> str:
    """The command's report of :func:`measure_goals`'s figures, as text."""
    end, rerun, memory, first, probes = (figures[key] for key in ("end_to_end", "rerun", "memory", "first_verdict", "probes"))
    goal = GOALS
    lines = [
        f"issue 13's goals (asyncparity run as a user runs it, Python's bytecode cached; "
        f"{figures['rounds']} round(s) where it says):",
        f"  {end['scenarios']} scenarios x 3 targets, a first run: {end['wall']:.2f} s wall, {end['cpu']:.2f} s CPU "
        f"(the least of {figures['rounds']}; median {end['wall_median']:.2f} s, {end['cpu_median']:.2f} s CPU); "
        f"goal <= {goal['end_to_end']['wall']:g} s, <= {goal['end_to_end']['cpu']:g} s CPU: {_verdict(end['met'])}",
        f"  re-run through the cache: {rerun['rerun']:.2f} s against {rerun['first']:.2f} s, {at_least(rerun['ratio'])} "
        f"(median of {', '.join(map(at_least, rerun['ratios']))}); "
        f"goal >= {goal['rerun']['ratio']:g}x: {_verdict(rerun['met'])}",
    ]
    for process, name in (("kit_mib", "the kit's process"), ("worker_mib", "the Node worker")):
        growth = memory["growth"][process]
        shown = "?" if growth is None else at_most(growth)
        lines.append(
            f"  memory of {name}: {_mib(memory['small'][process])} at {memory['small']['scenarios']} scenarios, "
            f"{_mib(memory['large'][process])} at {memory['large']['scenarios']}: {shown}"
        )
    lines.append(f"    goal: at most +{100 * goal['memory']['growth']:g}% each (--no-cache): {_verdict(memory['met'])}")
    seconds = "none came" if first["seconds"] is None else f"{first['seconds']:.2f} s"
    lines.append(
        f"  first verdict of {first['scenarios']} scenarios: {seconds} (the whole run {first['whole_run']:.1f} s); "
        f"goal <= {goal['first_verdict']['seconds']:g} s: {_verdict(first['met'])}"
    )
    if probes["together"] is None:
        lines.append(f"  matrix probes: not measured ({probes['why']})")
    else:
        lines.append(
            f"  matrix probes of CPython {', '.join(probes['pythons'])}: {'each once' if probes['once'] else 'NOT each once'}, "
            f"{probes['at_once']} at once; {probes['together']:.3f} s together, {probes['sum']:.3f} s one after another"
        )
        nodes = probes["nodes"]
        if nodes["together"] is None:
            lines.append(f"  matrix probes of Node {', '.join(nodes['versions'])}: not measured ({nodes['why']})")
        else:
            lines.append(
                f"  matrix probes of Node {', '.join(nodes['versions'])}: {nodes['together']:.3f} s together, "
                f"{nodes['one_by_one']:.3f} s one after another, the Node on PATH asked for each (the least of 3; not judged)"
            )
        lines.append(f"    goal: each runtime probed once, at once: {_verdict(probes['met'])}")
    for problem in figures["problems"]:
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)
