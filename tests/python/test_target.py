"""The in-process Python target (python/asyncparity_python/target.py): IR in, outcome out.

Run-level expectations: each fixture scenario's exact canonical trace and result, the
same program saved beside the runtime module and run as ``python3 program.py``, the
same program run on real time under each CPython (the genuine ``asyncio.run``, real
timers: what ``asyncparity verify`` does) giving the virtual run's trace, and strings
that must survive byte for byte.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import asyncparity_runtime
import helpers
from asyncparity import verify
from asyncparity.load import load_file
from asyncparity.model import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH
from asyncparity_python import target
from asyncparity_python.compile import compile_program, compile_target, needs
from asyncparity_runtime import format_trace
from helpers import FULL, ROOT, call, find_cpython, fixture_names, full_only, lit, load, ref

RUNTIME = ROOT / "python" / "asyncparity_runtime.py"
SCALE = 10  # real ms per virtual ms in the real-time runs

SEED = yaml.safe_load((ROOT / "spec" / "seed" / "download-fallback.yaml").read_text(encoding="utf-8"))

EXPECTED = {
    "seed-download-fallback": ({"returns": SEED["expect"]["returns"]}, SEED["expect"]["trace"]),
    "sequential-three": (
        {"returns": ["a", "b", "c"]},
        """\
0 start fetch_a()
30 end fetch_a -> "a"
30 start fetch_b()
60 end fetch_b -> "b"
60 start fetch_c()
90 end fetch_c -> "c"
90 return ["a","b","c"]
""",
    ),
    "gather-three": (
        {"returns": ["a", "b", "c"]},
        """\
0 start fetch_a()
0 start fetch_b()
0 start fetch_c()
30 end fetch_a -> "a"
30 end fetch_b -> "b"
30 end fetch_c -> "c"
30 return ["a","b","c"]
""",
    ),
    "gather-one-fails": (
        {"throws": {"kind": "IOError", "message": "boom"}},
        """\
0 start slow_ok()
0 start fast_fail()
10 fail fast_fail IOError("boom")
10 throw IOError("boom")
10 cancel slow_ok
""",
    ),
    "race-fast-wins": (
        {"returns": "fast"},
        """\
0 start slow()
0 start fast()
10 end fast -> "fast"
10 log "winner fast"
10 return "fast"
10 cancel slow
""",
    ),
    "try-catch-finally-rethrow": (
        {"throws": {"kind": "FatalError", "message": "gave up: down"}},
        """\
0 start fetch()
10 fail fetch IOError("down")
10 log "caught down"
10 start cleanup()
15 end cleanup -> null
15 log "cleaned up"
15 throw FatalError("gave up: down")
""",
    ),
    "retry-then-succeed": (
        {"returns": "ok"},
        """\
0 start flaky()
10 fail flaky IOError("try again")
10 log "attempt 0 failed: try again"
110 start flaky()
120 fail flaky IOError("try again")
120 log "attempt 1 failed: try again"
220 start flaky()
230 end flaky -> "ok"
230 return "ok"
""",
    ),
    # A Python coroutine does nothing until the task's first step, on a later turn:
    # the log comes first (in JavaScript the operation starts first).
    "start-log-await": (
        {"returns": "data"},
        """\
0 log "started"
0 start download("u")
30 end download -> "data"
30 return "data"
""",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_run_gives_the_expected_result_and_trace(name):
    outcome = target.run(load(name))
    result, text = EXPECTED[name]
    assert outcome["target"] == "python"
    assert outcome["status"] == "settled"
    assert outcome["message"] is None
    assert outcome["result"] == result
    assert format_trace(outcome["trace"]) == text


def test_outcome_shape_and_stats():
    outcome = target.run(load("seed-download-fallback"))
    assert list(outcome) == ["target", "status", "result", "trace", "message", "stats"]
    assert outcome["trace"][0] == {"t": 0, "event": "start", "op": "download_data", "args": ["https://example.com/data"]}
    # Seven turns of the loop at 60 ms: the last steps of main, then asyncio.run's shutdown.
    assert outcome["stats"] == {"virtual_time": 60, "timer_firings": 3, "max_turns_per_instant": 7}
    json.dumps(outcome)  # plain JSON all the way down


def test_a_run_leaves_nothing_for_the_cycle_collector():
    # Issue 13: a suite runs a program every millisecond or so. What a run leaves in
    # reference cycles waits for the collector's next pass over the older generations;
    # each run of this scenario left about 50 objects there (its world, loop, watch,
    # frames, the program's globals). A program's own cycles (a caught exception and its
    # traceback, an error kind's class) are the program's, as they are under asyncio.run.
    ir = load("gather-three")
    program = target.program(ir)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # every object a collection finds, the run's own included
    try:
        outcomes = [target.run(ir, compiled=program) for _ in range(3)]
        gc.collect()
        left = sorted({type(item).__name__ for item in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert [outcome["status"] for outcome in outcomes] == ["settled"] * 3
    assert left == []


def test_sequential_takes_90_ms_and_gather_30():
    assert target.run(load("sequential-three"))["stats"]["virtual_time"] == 90
    assert target.run(load("gather-three"))["stats"]["virtual_time"] == 30


def test_every_construct_runs_to_its_result():
    outcome = target.run(load("every-construct"))
    assert outcome["status"] == "settled"
    assert outcome["result"] == {
        "returns": {
            "first": 1,
            "lower": [1, 2],
            "same": {"same": 2, "n": 1},
            "done": [3, 3],
            "next": {"n": 1, "xs": [1, 2.5, None, True, False], "s": "x"},
            "list": [1, [1, {"a": None}], -0.5, 1e300],
        }
    }


TRICKY = (
    "q\"uo'te \\ back\\slash\nnew line\r\n\ttab ${x} {x} {{y}} }{ </script><!-- nul\x00 bell\x07 "
    "é 中 😀 \u2028 \u2029 \ufeff \u202e \"\"\" ''' \\n \\u0041 \\x41 end\\"
)


def test_tricky_strings_come_out_byte_identical():
    ir = load("tricky-strings")
    assert ir["operations"][0]["outcomes"][0]["returns"] == TRICKY  # the fixture holds what we think
    outcome = target.run(ir)
    events = outcome["trace"]
    assert [event["event"] for event in events] == [
        "log",
        "start",
        "end",
        "log",
        "log",
        "log",
        "start",
        "fail",
        "log",
        "log",
        "throw",
    ]
    assert events[0]["message"] == TRICKY
    assert events[1]["args"] == [TRICKY, {'k"e{y}': TRICKY, "list": [TRICKY, 1.5, None, True]}]
    assert events[2]["value"] == TRICKY
    assert events[3]["message"] == TRICKY + TRICKY + TRICKY
    assert events[4]["message"] == "{" + TRICKY + "}"
    assert events[5]["message"] == {TRICKY: TRICKY}
    assert events[7]["error"] == {"kind": "WeirdError", "message": TRICKY}
    assert events[8]["message"] == f"<{TRICKY}>"
    assert events[9]["message"] == "WeirdError"
    assert outcome["result"] == {"throws": {"kind": "WeirdError", "message": TRICKY + TRICKY}}


ALL_FIXTURES = fixture_names()


def unmet(name: str, version: tuple[int, int], target_id: str = "python") -> str | None:
    """What a CPython of ``version`` lacks to run a fixture (the compiler knows what it used)."""
    _source, features = compile_target(load(name), target_id, version)
    return needs(features, version)


def platform_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    ).stdout.strip()


def in_worker(python: str, requests: list[tuple[str, dict]]) -> list[dict]:
    lines = "".join(
        json.dumps({"id": i, "type": "run", "target": target_id, "scenario": ir}) + "\n"
        for i, (target_id, ir) in enumerate(requests)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    result = subprocess.run(
        [python, "-W", "error", "-m", "asyncparity_python.worker"],
        input=lines.encode(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    return [json.loads(line)["outcome"] for line in result.stdout.decode("ascii").splitlines()]


def targets_for(version: tuple[int, int]) -> list[str]:
    return ["python", "python-eager"] if version >= (3, 12) else ["python"]


LONG_ON_REAL_TIME = ("backoff-calc", "retry-then-succeed", "set-backoff-loop")
"""The fixtures whose virtual run is longest (230 to 740 ms: seconds of real time at
``SCALE``): on real time only in the full tests (``helpers.FULL``)."""


def other_cpython(version: str, what: str) -> pytest.ParameterSet:
    """A parameter for a CPython other than this one: in the full tests only."""
    return pytest.param(version, marks=full_only(f"{what} on CPython {version}"), id=version)


@pytest.mark.parametrize(
    "version", [None, *(other_cpython(version, "every fixture on real time") for version in ("3.10", "3.12", "3.13"))]
)
def test_every_fixture_runs_on_real_time_as_on_the_virtual_clock(version, tmp_path):
    # The claim of the virtual clock: it fakes time and nothing else. Each fixture's
    # program, on each CPython (python-eager from 3.12), runs under the genuine
    # asyncio.run with real timers and must print the trace of its virtual run on that
    # CPython, which may differ from version to version (as CPython does). By default
    # on this CPython, without the longest fixtures; with ASYNCPARITY_FULL_TESTS=1 on
    # every CPython found, every fixture.
    python = sys.executable if version is None else find_cpython(version)
    if python is None:
        pytest.skip(f"no working CPython {version} on PATH or in pyenv")
    major_minor = sys.version_info[:2] if version is None else tuple(int(part) for part in version.split("."))
    names = ALL_FIXTURES if FULL else [name for name in ALL_FIXTURES if name not in LONG_ON_REAL_TIME]
    requests = [(target_id, load(name)) for name in names for target_id in targets_for(major_minor)]
    outcomes = [target.run(ir, target_id) for target_id, ir in requests] if version is None else in_worker(python, requests)
    runner = verify.RealRunner(python, "node", SCALE, tmp_path)
    scenarios, outcome_of, sources = {}, {}, {}
    for (target_id, ir), outcome in zip(requests, outcomes, strict=True):
        lacking = unmet(ir["id"], major_minor, target_id)
        if lacking:  # skipped with the reason, never failed
            assert outcome["status"] == "skipped", ir["id"]
            assert outcome["message"] == f"{target_id} {lacking}; this is CPython {platform_version(python)}", ir["id"]
            continue
        if outcome["status"] == "skipped":  # a path this CPython lacks, reached in the run (World.unsupported)
            assert "reached in this run" in outcome["message"], (ir["id"], outcome["message"])
            continue
        assert outcome["status"] == "settled", (ir["id"], outcome["message"])
        scenarios.setdefault(ir["id"], SimpleNamespace(id=ir["id"], path=ir["source"]))
        outcome_of[ir["id"], target_id] = outcome
        sources[ir["id"], target_id] = compile_target(ir, target_id, major_minor).source
    targets = tuple(targets_for(major_minor))
    assert len(outcome_of) >= 25 * len(targets) - 5
    for scenario in scenarios.values():  # a target skipped above is not run
        for target_id in targets:
            outcome_of.setdefault((scenario.id, target_id), {"status": "skipped", "message": "skipped above"})
    # verify's own way: four at once, and a late program again alone at twice the scale.
    verifications = verify.verify_programs(list(scenarios.values()), targets, outcome_of, sources, runner, jobs=4, max_seconds=60)
    for verification in verifications:
        for check in verification.checks:
            assert check.status in ("verified", "not run"), (verification.scenario_id, check.target, check.message, check.diff)
    assert sum(check.status == "verified" for item in verifications for check in item.checks) >= 25 * len(targets) - 5


def test_a_difference_between_cpython_versions_is_reproduced_not_hidden():
    # CPython 3.13 runs a generator's close (handed to a task by the finalizer hook when
    # `break` drops the generator) before asyncio.run cancels what is left; 3.11 and 3.12
    # cancel that task first, so the close never happens. Both are what the real
    # asyncio.run does (the test above runs both on real time).
    pythons = {version: find_cpython(version) for version in ("3.12", "3.13")}
    if None in pythons.values():
        pytest.skip("needs CPython 3.12 and 3.13")
    ir = load("generator-using-break")
    traces = {version: format_trace(in_worker(python, [("python", ir)])[0]["trace"]) for version, python in pythons.items()}
    assert traces["3.12"].splitlines()[-1] == '15 return "done"'
    assert traces["3.13"].splitlines()[-2:] == ['15 return "done"', "18 close connection"]


@pytest.mark.parametrize("version", [None, *(other_cpython(version, "the saved programs") for version in ("3.10", "3.13"))])
def test_every_saved_program_runs_standalone_with_the_same_trace_and_no_warning(version, tmp_path):
    python = sys.executable if version is None else find_cpython(version)
    if python is None:
        pytest.skip(f"no working CPython {version} on PATH or in pyenv")
    major_minor = sys.version_info[:2] if version is None else tuple(int(part) for part in version.split("."))
    shutil.copy(RUNTIME, tmp_path / "asyncparity_runtime.py")
    runnable = [name for name in ALL_FIXTURES if unmet(name, major_minor) is None]
    assert len(runnable) >= 20
    outcomes = in_worker(python, [("python", load(name)) for name in runnable])

    def run_saved(name: str) -> subprocess.CompletedProcess:
        (tmp_path / f"{name}.py").write_text(compile_target(load(name), "python", major_minor).source, encoding="utf-8")
        return subprocess.run(
            [python, "-W", "error", "-X", "dev", f"{name}.py"],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "ascii"},
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # on the virtual clock: no timing
        results = list(pool.map(run_saved, runnable))

    for name, outcome, result in zip(runnable, outcomes, results, strict=True):
        status = outcome["message"]
        if outcome["status"] == "settled":
            status = "settled"
        elif outcome["status"] == "skipped":  # the program says why, in its own words
            status = "skipped: " + status.removeprefix("python ")
        assert result.stderr == b"", (name, result.stderr.decode())
        assert result.stdout.decode("utf-8") == format_trace(outcome["trace"]) + status + "\n", name
        assert result.returncode == (0 if outcome["status"] == "settled" else 1), name


def _run_saved(program: str, tmp_path: Path, python: str) -> subprocess.CompletedProcess:
    (tmp_path / "program.py").write_text(program, encoding="utf-8")
    shutil.copy(RUNTIME, tmp_path / "asyncparity_runtime.py")
    return subprocess.run(
        [python, "-W", "error", "program.py"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "ascii"},
    )


def test_a_saved_program_that_runs_away_exits_non_zero(tmp_path):
    ir = load("sequential-three")
    ir["limits"]["timer_firings"] = 2
    result = _run_saved(compile_program(ir), tmp_path, sys.executable)
    assert result.returncode == 1
    assert result.stdout.decode("utf-8") == (
        '0 start fetch_a()\n30 end fetch_a -> "a"\n30 start fetch_b()\n60 end fetch_b -> "b"\n'
        "60 start fetch_c()\nrunaway: scenario 'sequential-three' passed 2 timer firings\n"
    )
    assert target.run(ir)["status"] == "runaway"


def nested_repeats(leaf: dict, depth: int) -> dict:
    """A scenario whose main repeats ``leaf`` 10,000 ** ``depth`` times, never waiting."""
    body = [leaf]
    for _ in range(depth):
        body = [{"step": "repeat", "times": 10_000, "bind": None, "body": body, "line": 1}]
    ir = helpers.scenario(
        [{"step": "set", "bind": "n", "value": lit(0), "line": 1}, *body, {"step": "return", "value": ref("n"), "line": 1}]
    )
    ir["id"] = "never-waits"
    return ir


COUNT = {"step": "set", "bind": "n", "value": {"calc": [ref("n"), "+", lit(1)]}, "line": 1}


def test_nested_repeats_of_log_steps_are_a_runaway_at_the_event_bound():
    # 10**8 log steps hung the in-process target past 60 s (10**7: 11.5 s and 2 GB).
    started = time.monotonic()
    outcome = target.run(nested_repeats({"step": "log", "message": lit("x"), "line": 1}, 2))
    assert time.monotonic() - started < 10  # seconds, not minutes
    assert outcome["status"] == "runaway"
    assert outcome["message"] == "runaway: scenario 'never-waits' passed 100000 trace events at 0 ms"
    assert len(outcome["trace"]) == 100_000


def test_nested_repeats_of_set_steps_are_a_runaway_at_the_wall_clock_bound(monkeypatch):
    # 10**12 set steps: nothing is recorded and the loop never turns; the watchdog
    # stops it (the bound lowered from 5 s for the test: the full tests use the real one).
    monkeypatch.setattr(asyncparity_runtime.World, "wall_clock_seconds", 0.3)
    started = time.monotonic()
    outcome = target.run(nested_repeats(COUNT, 3))
    assert time.monotonic() - started < 10  # seconds, not minutes
    assert outcome["status"] == "runaway"
    assert outcome["message"] == "runaway: scenario 'never-waits' passed 0.3 s of wall-clock time at 0 ms"


@full_only("5 s a run")
@pytest.mark.parametrize("version", ["3.10", "3.13"])
def test_a_loop_that_never_waits_stops_at_5_s_in_a_worker_and_standalone(version, tmp_path):
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no working CPython {version} on PATH or in pyenv")
    ir = nested_repeats(COUNT, 3)
    message = "runaway: scenario 'never-waits' passed 5 s of wall-clock time at 0 ms"
    started = time.monotonic()
    (outcome,) = in_worker(python, [("python", ir)])
    assert outcome["message"] == message
    result = _run_saved(compile_target(ir, "python", (3, int(version.split(".")[1]))).source, tmp_path, python)
    assert result.stdout.decode() == message + "\n"
    assert result.returncode == 1
    assert time.monotonic() - started < 20


# -- nesting at the limits (issue 9, defect 1): what every target compiles ----------------

BLOCK_DEPTH = MAX_BLOCK_DEPTH
"""Steps that hold steps, nested in one function body: the loader's bound (5), which every
target must compile whatever the steps are. CPython compiles at most 20 statically
nested blocks (CO_MAXBLOCKS, 3.10 to 3.13). The costliest place is the catch of a try
that also has a finally: three blocks deep (the finally, the handler, the clean-up of
its name); the costliest step without steps is ``any``, whose ``except`` is three deep
(its ``for``, ``try`` and handler). So 5 levels take 18 blocks at most and 6 take 21:
the first that CPython refuses (the last test of this section). Every other kind costs
one block or none (``if``; ``timeout`` on 3.10, a nested ``async def``)."""

VALUE_DEPTH = MAX_VALUE_DEPTH
"""Lists and maps nested in one value (32); CPython's tokenizer allows 200 nested brackets."""


def _function_call(name: str, *args: dict) -> dict:
    return {"callee": name, "callee_kind": "function", "args": list(args)}


def _log(text: str) -> dict:
    return {"step": "log", "message": lit(text), "line": 1}


_FAIL = {"step": "await", "call": call("boom"), "bind": None, "line": 1}


def _catch(kinds: list[str], bind: str | None, body: list[dict]) -> dict:
    return {"kinds": kinds, "bind": bind, "body": body}


def _try(body, catch=None, final=None) -> dict:
    return {"step": "try", "body": body, "catch": catch, "finally": final, "line": 1}


NESTING = {
    # Each puts `inner` at one more level; `depth` keeps the names it binds apart.
    "try/catch": lambda inner, d: _try(inner, _catch(["IOError"], f"e{d}", [_log("c")])),
    "try/catch every error": lambda inner, d: _try(inner, _catch([], None, [_log("c")])),
    "catch": lambda inner, d: _try([_FAIL], _catch(["IOError", "CancelledError"], f"e{d}", inner)),
    "try/finally": lambda inner, d: _try(inner, final=[_log("f")]),
    "finally": lambda inner, d: _try([_log("b")], final=inner),
    "try/catch/finally": lambda inner, d: _try(inner, _catch(["IOError"], f"e{d}", [_log("c")]), [_log("f")]),
    "catch of try/catch/finally": lambda inner, d: _try([_FAIL], _catch(["IOError"], f"e{d}", inner), [_log("f")]),
    "finally of try/catch/finally": lambda inner, d: _try([_log("b")], _catch(["IOError"], f"e{d}", [_log("c")]), inner),
    "repeat": lambda inner, d: {"step": "repeat", "times": 2, "bind": f"i{d}", "body": inner, "line": 1},
    "timeout": lambda inner, d: {"step": "timeout", "ms": 100_000, "body": inner, "line": 1},
    "using": lambda inner, d: {"step": "using", "resource": "conn", "args": [], "bind": f"c{d}", "body": inner, "line": 1},
    "for_each": lambda inner, d: {"step": "for_each", "call": _function_call("ticks"), "bind": f"v{d}", "body": inner, "line": 1},
    "if": lambda inner, d: {"step": "if", "condition": {"compare": [lit(1), "==", lit(1)]}, "then": inner, "else": [], "line": 1},
    "else": lambda inner, d: {
        "step": "if",
        "condition": {"compare": [lit(1), "!=", lit(1)]},
        "then": [],
        "else": inner,
        "line": 1,
    },
}

MIXES = {
    "try in repeat in timeout in using in for_each": ["for_each", "using", "timeout", "repeat", "try/catch"],
    "catch of try/catch/finally in finally in if in for_each in timeout": [
        "timeout",
        "for_each",
        "if",
        "finally",
        "catch of try/catch/finally",
    ],
    "using in else in catch in try/finally in repeat": ["repeat", "try/finally", "catch", "else", "using"],
}


def _leaves(group: bool) -> list[dict]:
    """Every step that holds no steps (but return, throw and cancel, which end the block
    or diverge), two of them with ``any``'s and ``group``'s own blocks."""
    two = [call("fetch"), _function_call("work", lit(1))]
    steps = [
        {"step": "all", "calls": two, "bind": "a", "line": 1},
        {"step": "race", "calls": [call("fetch"), call("fetch")], "bind": "r", "line": 1},
        {"step": "any", "calls": [call("fetch"), call("boom")], "bind": "y", "line": 1},
        {"step": "all_settled", "calls": [call("fetch"), call("boom")], "bind": "s", "line": 1},
        {"step": "group", "calls": two, "bind": "g", "line": 1},
        {"step": "map", "callee": "work", "callee_kind": "function", "over": lit([1, 2, 3]), "limit": 2, "bind": "m", "line": 1},
        {"step": "start", "call": call("fetch"), "bind": "h", "line": 1},
        {"step": "await", "handle": "h", "bind": None, "line": 1},
        {"step": "put", "queue": "q", "value": lit(1), "line": 1},
        {"step": "get", "queue": "q", "bind": "got", "line": 1},
        {"step": "sleep", "ms": 1, "line": 1},
        {"step": "now", "bind": "t", "line": 1},
        {"step": "set", "bind": "n", "value": {"calc": [lit(1), "+", lit(1)]}, "line": 1},
    ]
    return [step for step in steps if group or step["step"] != "group"]


def _nested(name: str, kinds: list[str], leaves: list[dict], result: dict | None = None) -> dict:
    steps = leaves
    for depth, kind in enumerate(reversed(kinds)):
        steps = [NESTING[kind](steps, depth)]
    ir = helpers.scenario(
        [*steps, {"step": "return", "value": result or lit("done"), "line": 1}],
        id=name,
        errors=["TimeoutError", "IOError"],
        operations=[
            {"name": "fetch", "latency": 5, "outcomes": [{"returns": 1}]},
            {"name": "boom", "latency": 1, "outcomes": [{"fails": {"kind": "IOError", "message": "x"}}]},
        ],
        functions=[
            {"name": "work", "params": ["x"], "body": [{"step": "return", "value": ref("x"), "line": 1}]},
            {
                "name": "ticks",
                "params": [],
                "generator": True,
                "body": [{"step": "yield", "value": lit(n), "line": 1} for n in (1, 2)],
            },
        ],
        resources=[{"name": "conn", "open": 1, "close": 1}],
        queues=[{"name": "q", "size": 1}],
    )
    return ir


def _deep_value(kind: str) -> dict:
    value: dict = lit(1)
    for level in range(VALUE_DEPTH if kind != "calc" else VALUE_DEPTH // 2):  # a calc is a map holding a list
        if kind == "list":
            value = {"list": [value, lit("x")]}
        elif kind == "map":
            value = {"object": [["k", value]]}
        else:
            value = {"calc": [lit(level), "-", value]}  # the right side: parenthesised at every level
    return value


def _nested_at_the_limits(depth: int = BLOCK_DEPTH) -> list[dict]:
    scenarios = []
    for group in (True, False):  # group needs TaskGroup (3.11): without it the rest still runs on 3.10
        suffix = "" if group else ", no group"
        for kind in NESTING:
            scenarios.append(_nested(f"{kind} x{depth}{suffix}", [kind] * depth, _leaves(group)))
        for name, kinds in MIXES.items():
            scenarios.append(_nested(f"{name}{suffix}", kinds[-depth:], _leaves(group)))
    nested_literal: object = 1
    for _ in range(VALUE_DEPTH // 2):
        nested_literal = {"k": [nested_literal, "x"]}
    for kind in ("list", "map", "calc", "literal"):
        value = _deep_value(kind) if kind != "literal" else lit(nested_literal)
        leaves = [
            {"step": "set", "bind": "deep", "value": value, "line": 1},
            {"step": "log", "message": ref("deep"), "line": 1},
            {"step": "await", "call": _function_call("work", value), "bind": "back", "line": 1},
        ]
        scenarios.append(_nested(f"a {kind} value {VALUE_DEPTH} deep", ["catch of try/catch/finally"] * depth, leaves, value))
    return scenarios


def _uses_task_group(ir: dict) -> bool:
    """Whether a scenario of :func:`_nested_at_the_limits` has a ``group`` step (CPython 3.11+)."""
    return '"step": "group"' in json.dumps(ir["main"])


def _check_nested_outcomes(scenarios: list[dict], outcomes: list[dict], version: tuple[int, int]) -> None:
    for ir, outcome in zip(scenarios, outcomes, strict=True):
        if version < (3, 11) and _uses_task_group(ir):
            assert outcome["status"] == "skipped", (ir["id"], outcome["message"])
            assert "needs CPython 3.11 or later (asyncio.TaskGroup)" in outcome["message"]
            continue
        assert outcome["status"] == "settled", (ir["id"], outcome["message"])
        if not ir["id"].startswith("a "):  # the values return the value
            assert outcome["result"] == {"returns": "done"}, ir["id"]


@pytest.mark.parametrize(
    "version", [None, *(other_cpython(version, "nesting at the limits") for version in ("3.10", "3.12", "3.13"))]
)
def test_programs_nested_at_the_limits_compile_and_run(version):
    # Each kind of block 5 deep around every step that holds none, mixes of kinds, and
    # values 32 deep: valid scenarios that CPython's limits must not turn into a crash.
    python = sys.executable if version is None else find_cpython(version)
    if python is None:
        pytest.skip(f"no working CPython {version} on PATH or in pyenv")
    major_minor = sys.version_info[:2] if version is None else tuple(int(part) for part in version.split("."))
    scenarios = _nested_at_the_limits()
    assert len(scenarios) == 2 * (len(NESTING) + len(MIXES)) + 4
    for target_id in targets_for(major_minor):
        if version is None:
            outcomes = [target.run(ir, target_id) for ir in scenarios]
        else:
            outcomes = in_worker(python, [(target_id, ir) for ir in scenarios])
        _check_nested_outcomes(scenarios, outcomes, major_minor)
    values = {ir["id"]: outcome for ir, outcome in zip(scenarios, outcomes, strict=True) if ir["id"].startswith("a ")}
    deep_list = values[f"a list value {VALUE_DEPTH} deep"]["result"]["returns"]
    for _ in range(VALUE_DEPTH):
        deep_list, tail = deep_list
        assert tail == "x"
    assert deep_list == 1


@full_only("the saved programs nested at the limits")
@pytest.mark.parametrize("version", ["3.10", "3.13"])
def test_saved_programs_nested_at_the_limits_run_standalone(version, tmp_path):
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no working CPython {version} on PATH or in pyenv")
    major_minor = tuple(int(part) for part in version.split("."))
    for ir in _nested_at_the_limits():
        if major_minor < (3, 11) and _uses_task_group(ir):
            continue  # skipped on 3.10, as the test above shows
        result = _run_saved(compile_target(ir, "python", major_minor).source, tmp_path, python)
        assert result.stderr == b"", (ir["id"], result.stderr.decode())
        assert result.stdout.decode("utf-8").endswith("\nsettled\n"), ir["id"]
        assert result.returncode == 0, ir["id"]


def test_one_level_past_the_limit_is_the_first_that_cpython_refuses():
    # The reason for BLOCK_DEPTH: 6 catch bodies of a try with a finally around an `any`
    # are 21 static blocks. If this now compiles, the renderings got cheaper and the
    # loader's bound on nesting may grow.
    ir = _nested("six", ["catch of try/catch/finally"] * (BLOCK_DEPTH + 1), _leaves(True))
    outcome = target.run(ir)
    assert outcome["status"] == "crash"
    assert outcome["message"].startswith(
        "crash: scenario 'six': the generated program did not load: SyntaxError: too many statically nested blocks"
    )
    assert target.run(_nested("five", ["catch of try/catch/finally"] * BLOCK_DEPTH, _leaves(True)))["status"] == "settled"


def test_every_fixture_runs_the_same_every_time():
    garbage = []
    gc.freeze()  # what the test session holds stays out of the collections below: they take ms, not tens of ms
    try:
        for name in ALL_FIXTURES:
            ir = load(name)
            first = target.run(ir)
            for size in (1, 300, 7, 1000):
                garbage.append([object() for _ in range(size)])  # move the allocator around
                gc.collect()
                assert target.run(ir) == first, name
    finally:
        gc.unfreeze()


def test_compile_is_the_compiler_and_the_program_does_not_run_itself(capsys):
    ir = load("seed-download-fallback")
    assert target.compile(ir) == compile_program(ir)
    target.run(ir)
    assert capsys.readouterr() == ("", "")  # __name__ is not "__main__": no run_and_print


def test_ir_that_cannot_be_compiled_raises_value_error():
    with pytest.raises(ValueError, match="version 1"):
        target.run({"ir": 7, "id": "x"})


@pytest.mark.asyncio
async def test_run_from_async_code_leaves_the_running_loop_alone():
    outer = asyncio.get_running_loop()
    outcome = target.run(load("retry-then-succeed"))
    assert outcome["result"] == {"returns": "ok"}
    assert asyncio.get_running_loop() is outer
    await asyncio.sleep(0)


def run_bound(
    monkeypatch, tmp_path, name: str, module: str, functions: tuple[str, ...] = ("get_json",), keep: bool = False
) -> dict:
    """The outcome of scenario ``name``, whose functions are bound to a Python module of
    the text ``module`` (named ``NAME_client``), awaiting get_json("x") and returning it;
    run in-process here (the runner runs it in a worker). The module is dropped from
    ``sys.modules`` after, unless ``keep`` (to see whether the runtime dropped it)."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # World.user_module puts the file's folder on it
    (tmp_path / f"{name}_client.py").write_text(module)
    (tmp_path / f"{name}_client.mjs").write_text("")
    declared = "".join(f"  {function}:\n    params: [url]\n" for function in functions)
    (tmp_path / f"{name}.yaml").write_text(
        f"id: {name}\nsummary: s.\nbind:\n  python: {name}_client.py\n  javascript: {name}_client.mjs\n"
        f"  functions: [{', '.join(functions)}]\nfunctions:\n{declared}"
        "main:\n  - await: get_json\n    args: [x]\n    as: body\n  - return: $body\n"
    )
    try:
        return target.run(load_file(tmp_path / f"{name}.yaml").scenario.ir)
    finally:
        if not keep:
            sys.modules.pop(f"{name}_client", None)


def test_user_code_that_spins_is_a_runaway_that_says_where(monkeypatch, tmp_path):
    # Issue 12: the watchdog stops a bound function that never comes back, and names the
    # line of the user's file it was in.
    monkeypatch.setattr(asyncparity_runtime.World, "wall_clock_seconds", 0.3)
    outcome = run_bound(monkeypatch, tmp_path, "spins", "async def get_json(api, url):\n    while True: url += ''\n")

    assert outcome["status"] == "runaway"
    assert (
        outcome["message"] == "runaway: scenario 'spins' passed 0.3 s of wall-clock time at 0 ms, in spins_client.py:2 (get_json)"
    )


def test_a_bound_function_the_users_module_does_not_define_is_the_modules_crash(monkeypatch, tmp_path):
    # As the Node worker says a module "exports no function": before, the first call's
    # AttributeError was the scenario's result, and the JavaScript targets were said to disagree.
    module = "async def get_jsno(api, url):\n    return url\n\nget_text = 'not a function'\n"
    outcome = run_bound(monkeypatch, tmp_path, "typo", module, functions=("get_json", "get_text"), keep=True)

    assert "typo_client" not in sys.modules

    assert (outcome["status"], outcome["message"]) == (
        "crash",
        "crash: scenario 'typo': typo_client.py defines no function get_json, get_text",
    )


def test_a_users_module_that_spins_while_it_loads_is_stopped_at_the_runs_bound(monkeypatch, tmp_path):
    # As the Node worker imports a module under the run's wall-clock bound; a loop at its
    # top level was stopped only by the runner's bound on the worker's reply (10 s).
    monkeypatch.setattr(asyncparity_runtime.World, "wall_clock_seconds", 0.3)
    started = time.monotonic()
    outcome = run_bound(monkeypatch, tmp_path, "loads", "n = 0\nwhile True: n += 1\n", keep=True)

    assert time.monotonic() - started < 5  # the bound and a look or two of the watchdog; not the reply bound
    assert "loads_client" not in sys.modules  # a module that did not load is not left half-made
    assert (outcome["status"], outcome["message"]) == (
        "crash",
        "crash: scenario 'loads': loads_client.py did not finish loading: "
        "passed 0.3 s of wall-clock time at 0 ms, in loads_client.py:2 (<module>)",
    )


def test_what_the_users_code_prints_is_the_outcomes_output(monkeypatch, tmp_path):
    # It went to the worker's stderr, which the runner does not show: a user's debugging lines were lost.
    module = (
        "import sys\nprint('loading')\n\nasync def get_json(api, url):\n"
        "    print('fetching', url)\n    sys.stderr.write('x' * 70000)\n    return url\n"
    )
    outcome = run_bound(monkeypatch, tmp_path, "prints", module)

    assert outcome["status"] == "settled"
    head = "loading\nfetching x\n"
    kept = target.OUTPUT_LIMIT - len(head)
    assert outcome["output"] == f"{head}{'x' * kept}\n[{70000 - kept} more characters not kept]"
    assert "output" not in target.run(load("retry-then-succeed"))  # the kit's own programs print nothing
