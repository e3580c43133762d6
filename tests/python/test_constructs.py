"""The constructs added to the Python target: all_settled, any, timeout, group, calc,
sleep with an expression, the ``cancel`` event, and the two targets.

Each construct is checked twice: the exact program text for a small fixture (what a
reader sees in ``asyncparity show``) and the exact canonical trace and result of running
it. The fixtures in tests/python/fixtures/ are the IR that runner/load.py produces from
the YAML quoted in each test; the traces were worked out by hand from the latencies and
then checked against the runs, never copied from them.

The in-process runs need CPython 3.11 (``TaskGroup``, ``asyncio.timeout``,
``ExceptionGroup``). Every fixture also runs under 3.10, 3.12 and 3.13 through the
worker, with ``python-eager`` on 3.12+, and saved as a standalone program: those checks
live once, for all fixtures, in tests/python/test_target.py.
"""

from __future__ import annotations

import platform
import sys

import pytest

from asyncparity_python import target
from asyncparity_python.compile import compile_program, compile_target, needs
from asyncparity_runtime import format_trace
from helpers import body, call, lit, load, operations_a_and_b, ref, run, scenario

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup, asyncio.timeout, ExceptionGroup: 3.11+")


def minimal(main: list, **extra) -> dict:
    """A scenario with the operations a and b, each 1 ms, returning 1."""
    return scenario(main, **{"operations": operations_a_and_b(), **extra})


def calc(left: dict, op: str, right: dict) -> dict:
    return {"calc": [left, op, right]}


# -- all_settled ------------------------------------------------------------------------
#   all_settled: [{call: fetch_a, args: ["x"]}, {call: fetch_b}]   as: results
#   fetch_a 30 ms returns "a"; fetch_b 10 ms fails IOError("boom"); then log, return.


def test_all_settled_program():
    assert (
        body(compile_program(load("all-settled-one-fails")))
        == """\
async def main():
    results = world.settled(
        await asyncio.gather(fetch_a("x"), fetch_b(), return_exceptions=True)
    )
    log("settled")
    return results
"""
    )


def test_all_settled_with_one_failure_gives_settled_records_and_no_unhandled_event():
    # gather(return_exceptions=True) reads fetch_b's error only when fetch_a is done too
    # (30 ms); until then it is not "unhandled" (Promise.allSettled handles it at once).
    result, trace = run("all-settled-one-fails")
    assert result == {
        "returns": [
            {"status": "fulfilled", "value": "a"},
            {"status": "rejected", "reason": {"kind": "IOError", "message": "boom"}},
        ]
    }
    assert (
        trace
        == """\
0 start fetch_a("x")
0 start fetch_b()
10 fail fetch_b IOError("boom")
30 end fetch_a -> "a"
30 log "settled"
30 return [{"status":"fulfilled","value":"a"},{"status":"rejected","reason":{"kind":"IOError","message":"boom"}}]
"""
    )


def test_all_settled_without_a_name_is_a_plain_gather():
    ir = minimal([{"step": "all_settled", "line": 1, "calls": [call("a"), call("b")], "bind": None}])
    assert body(compile_program(ir)) == "async def main():\n    await asyncio.gather(a(), b(), return_exceptions=True)\n"


# -- any --------------------------------------------------------------------------------
#   any: [{call: slow}, {call: fast_fail}, {call: medium}]   as: winner
#   slow 40 ms "slow"; fast_fail 10 ms IOError("fast down"); medium 20 ms "medium".

ANY_PROGRAM = """\
async def main():
    tasks = [
        asyncio.create_task(slow()),
        asyncio.create_task(fast_fail()),
        asyncio.create_task(medium()),
    ]
    for finished in asyncio.as_completed(tasks):
        try:
            winner = await finished
            break
        except Exception:
            pass
    else:
        raise ExceptionGroup(
            "All promises were rejected",
            [task.exception() for task in tasks],
        )
    log(f"winner {winner}")
    return winner
"""


def test_any_program():
    assert body(compile_program(load("any-first-success"))) == ANY_PROGRAM


@needs_311
def test_any_passes_over_a_faster_failure_and_the_loser_runs_until_main_returns():
    # as_completed leaves the slow task running; asyncio.run cancels it when main returns.
    result, trace = run("any-first-success")
    assert result == {"returns": "medium"}
    assert (
        trace
        == """\
0 start slow()
0 start fast_fail()
0 start medium()
10 fail fast_fail IOError("fast down")
20 end medium -> "medium"
20 log "winner medium"
20 return "medium"
20 cancel slow
"""
    )


@needs_311
def test_any_when_all_fail_throws_a_group_with_the_errors_in_call_order():
    # slow_fail (30 ms, IOError) is called first, fast_fail (10 ms, ValueError) fails first.
    result, trace = run("any-all-fail")
    error = {
        "kind": "ExceptionGroup",
        "message": "All promises were rejected",
        "errors": [{"kind": "IOError", "message": "slow down"}, {"kind": "ValueError", "message": "fast down"}],
    }
    assert result == {"throws": error}
    assert (
        trace
        == """\
0 start slow_fail()
0 start fast_fail()
10 fail fast_fail ValueError("fast down")
30 fail slow_fail IOError("slow down")
30 throw ExceptionGroup("All promises were rejected", [IOError("slow down"), ValueError("fast down")])
"""
    )


def test_any_without_a_name_still_breaks_and_temp_names_stay_fresh():
    ir = minimal(
        [
            {"step": "await", "line": 1, "call": call("a"), "bind": "finished"},
            {"step": "await", "line": 2, "call": call("a"), "bind": "tasks"},
            {"step": "any", "line": 3, "calls": [call("a"), call("b")], "bind": None},
        ]
    )
    assert body(compile_program(ir)).splitlines()[3:] == [
        "    tasks_2 = [asyncio.create_task(a()), asyncio.create_task(b())]",
        "    for finished_2 in asyncio.as_completed(tasks_2):",
        "        try:",
        "            await finished_2",
        "            break",
        "        except Exception:",
        "            pass",
        "    else:",
        "        raise ExceptionGroup(",  # 96 characters on one line: one argument a line
        '            "All promises were rejected",',
        "            [task.exception() for task in tasks_2],",
        "        )",
    ]


# -- timeout ----------------------------------------------------------------------------
#   try: [timeout: 50, steps: [await slow as data, log "not reached"]]
#   catch: {kind: TimeoutError, as: error, steps: [log "timed out: {error.kind} '{error.message}'"]}
#   return "gave up"; slow takes 100 ms.


def test_timeout_program_uses_the_builtin_timeout_error():
    program = compile_program(load("timeout-expires"))
    assert "TimeoutError = " not in program  # never shadowed: asyncio raises the builtin
    assert "Needs CPython 3.11 or later (asyncio.timeout).\n" in program
    assert (
        body(program)
        == """\
async def main():
    try:
        async with asyncio.timeout(0.05):
            await slow()
            log("not reached")
    except TimeoutError as error:
        log(f"timed out: {type(error).__name__} '{error}'")
    return "gave up"
"""
    )


@needs_311
def test_timeout_expiry_cancels_the_operation_and_throws_timeout_error():
    result, trace = run("timeout-expires")
    assert result == {"returns": "gave up"}
    assert (
        trace
        == """\
0 start slow()
50 cancel slow
50 log "timed out: TimeoutError ''"
50 return "gave up"
"""
    )


@needs_311
def test_an_uncaught_timeout_is_a_timeout_error_with_an_empty_message():
    result, trace = run("timeout-uncaught")
    assert result == {"throws": {"kind": "TimeoutError", "message": ""}}
    assert trace == '0 start slow()\n50 cancel slow\n50 throw TimeoutError("")\n'


@needs_311
def test_a_timeout_not_reached_lets_the_block_finish():
    # quick 20 ms, then sleep 10: done at 30, within 50; the 50 ms timer never fires.
    outcome = target.run(load("timeout-not-reached"))
    assert outcome["result"] == {"returns": "quick"}
    assert (
        format_trace(outcome["trace"])
        == """\
0 start quick()
20 end quick -> "quick"
30 log "got quick"
30 return "quick"
"""
    )
    assert outcome["stats"]["virtual_time"] == 30
    assert outcome["stats"]["timer_firings"] == 2


@needs_311
def test_except_timeout_error_catches_an_operation_failing_with_that_kind():
    # The kind's class derives from ScenarioError and the builtin TimeoutError; only
    # scenario errors can reach this catch, so .kind and .message are safe.
    ir = minimal(
        [
            {
                "step": "try",
                "line": 1,
                "body": [{"step": "await", "line": 2, "call": call("a"), "bind": None}],
                "catch": {
                    "kinds": ["TimeoutError"],
                    "bind": "error",
                    "body": [
                        {"step": "log", "line": 3, "message": {"format": [ref("error", "kind"), ": ", ref("error", "message")]}},
                        {"step": "throw", "line": 4, "kind": "TimeoutError", "message": ref("error", "message")},
                    ],
                },
                "finally": None,
            }
        ],
        errors=["TimeoutError"],
    )
    ir["operations"][0]["outcomes"] = [{"fails": {"kind": "TimeoutError", "message": "gateway"}}]
    program = compile_program(ir)
    assert body(program).splitlines()[3:] == [
        "    except TimeoutError as error:",
        '        log(f"{error.kind}: {error.message}")',
        "        raise TimeoutError(error.message)",
    ]
    outcome = target.run(ir)
    assert outcome["result"] == {"throws": {"kind": "TimeoutError", "message": "gateway"}}
    assert format_trace(outcome["trace"]) == (
        '0 start a()\n1 fail a TimeoutError("gateway")\n1 log "TimeoutError: gateway"\n1 throw TimeoutError("gateway")\n'
    )


def _catching(body_steps: list, kinds: list) -> dict:
    return {
        "step": "try",
        "line": 10,
        "body": body_steps,
        "finally": None,
        "catch": {
            "kinds": kinds,
            "bind": "error",
            "body": [
                {"step": "log", "line": 11, "message": ref("error", "kind")},
                {"step": "log", "line": 12, "message": {"format": ["<", ref("error", "message"), ">"]}},
            ],
        },
    }


def _fn_call(name: str) -> dict:
    return {"step": "await", "line": 9, "call": {"callee": name, "callee_kind": "function", "args": []}, "bind": None}


@needs_311
def test_where_a_builtin_error_can_reach_a_catch_kind_and_message_are_read_from_any_exception():
    # bounded() holds a timeout; outer() calls bounded(): the timeout's builtin
    # TimeoutError (no .kind, no .message) reaches main's catches through two calls.
    functions = [
        {"name": "outer", "params": [], "body": [_fn_call("bounded")]},
        {
            "name": "bounded",
            "params": [],
            "body": [{"step": "timeout", "line": 1, "ms": 5, "body": [{"step": "sleep", "line": 2, "ms": 10}]}],
        },
        {"name": "first", "params": [], "body": [{"step": "any", "line": 3, "calls": [call("a"), call("b")], "bind": None}]},
    ]
    ir = minimal(
        [
            _catching([_fn_call("outer")], ["TimeoutError"]),
            _catching([{"step": "throw", "line": 4, "kind": "TimeoutError", "message": lit("thrown")}], ["TimeoutError"]),
            _catching([_fn_call("outer")], ["IOError"]),  # cannot catch the builtin
            _catching([_fn_call("first")], []),  # a group can arrive
        ],
        functions=functions,
        errors=["TimeoutError", "IOError"],
    )
    for step in ir["operations"]:
        step["outcomes"] = [{"fails": {"kind": "IOError", "message": step["name"]}}]
    ir["main"][2]["body"] = [{"step": "await", "line": 5, "call": call("a"), "bind": None}]
    main = body(compile_program(ir)).partition("async def main():")[2]
    catches = [lines.split("\n")[1:3] for lines in main.split("    except ")[1:]]
    assert catches == [
        ["        log(type(error).__name__)", '        log(f"<{error}>")'],
        ["        log(type(error).__name__)", '        log(f"<{error}>")'],
        ["        log(error.kind)", '        log(f"<{error.message}>")'],
        ["        log(type(error).__name__)", """        log(f"<{getattr(error, 'message', str(error))}>")"""],
    ]
    outcome = target.run(ir)
    assert [event["message"] for event in outcome["trace"] if event["event"] == "log"] == [
        "TimeoutError",
        "<>",
        "TimeoutError",
        "<thrown>",
        "IOError",
        "<a>",
        "ExceptionGroup",
        "<All promises were rejected>",
    ]


# -- group ------------------------------------------------------------------------------
#   group: [{call: slow_a}, {call: fast_fail}, {call: slow_c}]   as: results
#   slow_a 30 ms "a"; fast_fail 10 ms IOError("boom"); slow_c 50 ms "c".


def test_group_program():
    assert (
        body(compile_program(load("group-failure")))
        == """\
async def main():
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(slow_a()),
            group.create_task(fast_fail()),
            group.create_task(slow_c()),
        ]
    results = [task.result() for task in tasks]
    return results
"""
    )


@needs_311
def test_group_success_gives_the_values_in_call_order():
    result, trace = run("group-success")
    assert result == {"returns": ["a", "b"]}
    assert trace == '0 start fetch_a()\n0 start fetch_b()\n10 end fetch_b -> "b"\n30 end fetch_a -> "a"\n30 return ["a","b"]\n'


@needs_311
def test_group_failure_cancels_the_siblings_at_once_in_any_order():
    result, trace = run("group-failure")
    assert result == {
        "throws": {
            "kind": "ExceptionGroup",
            "message": "unhandled errors in a TaskGroup",
            "errors": [{"kind": "IOError", "message": "boom"}],
        }
    }
    assert (
        trace
        == """\
0 start slow_a()
0 start fast_fail()
0 start slow_c()
10 fail fast_fail IOError("boom")
10 cancel slow_a (any order)
10 cancel slow_c (any order)
10 throw ExceptionGroup("unhandled errors in a TaskGroup", [IOError("boom")])
"""
    )


@needs_311
def test_group_cancellations_are_one_unordered_group_whatever_the_memory_addresses():
    # asyncio keeps a group's tasks in a set, whose order follows memory addresses: the
    # runtime lets CPython cancel them in that order and marks the events as a group,
    # sorted, so the trace is the same whatever order the set gave.
    ir = load("group-failure")
    names = [f"extra_{i}" for i in range(6)]
    ir["operations"] += [{"name": name, "latency": 40, "outcomes": [{"returns": 1}]} for name in names]
    ir["main"][0]["calls"] += [call(name) for name in names]
    garbage = []
    traces = set()
    for size in (1, 300, 7, 1000, 50):
        garbage.append([object() for _ in range(size)])  # move the allocator around
        trace = target.run(ir)["trace"]
        cancelled = [event for event in trace if event["event"] == "cancel"]
        assert [event["op"] for event in cancelled] == sorted(["slow_a", "slow_c", *names])
        assert all(event["unordered"] is True for event in cancelled)
        traces.add(format_trace(trace))
    assert len(traces) == 1


def test_group_without_a_name_reads_no_results_and_temp_names_stay_fresh():
    ir = minimal(
        [
            {"step": "await", "line": 1, "call": call("a"), "bind": "group"},
            {"step": "group", "line": 2, "calls": [call("a"), call("b")], "bind": None},
        ]
    )
    assert body(compile_program(ir)).splitlines()[2:] == [
        "    async with asyncio.TaskGroup() as group_2:",
        "        tasks = [group_2.create_task(a()), group_2.create_task(b())]",
    ]


# -- calc and sleep with an expression -------------------------------------------------
#   fetch_with_backoff(delay): try flaky; catch IOError: log "waiting {delay} ms",
#   sleep $delay, return fetch_with_backoff(calc [$delay, "*", 2]).  main: ...(100)
#   flaky: 10 ms, fails three times, then "ok".


def test_backoff_program():
    assert (
        body(compile_program(load("backoff-calc")))
        == """\
async def fetch_with_backoff(delay):
    try:
        data = await flaky()
        return data
    except IOError:
        log(f"waiting {delay} ms")
        await asyncio.sleep(delay / 1000)
        data = await fetch_with_backoff(delay * 2)
        return data


async def main():
    result = await fetch_with_backoff(100)
    return result
"""
    )


def test_exponential_backoff_waits_100_200_400():
    # attempts at 0, 10+100, 120+200, 330+400; each takes 10 ms.
    result, trace = run("backoff-calc")
    assert result == {"returns": "ok"}
    assert (
        trace
        == """\
0 start flaky()
10 fail flaky IOError("try again")
10 log "waiting 100 ms"
110 start flaky()
120 fail flaky IOError("try again")
120 log "waiting 200 ms"
320 start flaky()
330 fail flaky IOError("try again")
330 log "waiting 400 ms"
730 start flaky()
740 end flaky -> "ok"
740 return "ok"
"""
    )


def test_calc_parenthesises_only_where_the_tree_needs_it():
    a, b, c = ref("x"), ref("y"), lit(3)
    cases = [
        (calc(a, "+", b), "x + y"),
        (calc(calc(a, "+", b), "*", c), "(x + y) * 3"),
        (calc(a, "*", calc(b, "+", c)), "x * (y + 3)"),
        (calc(calc(a, "*", b), "+", c), "x * y + 3"),
        (calc(a, "+", calc(b, "*", c)), "x + y * 3"),
        (calc(calc(a, "-", b), "-", c), "x - y - 3"),
        (calc(a, "-", calc(b, "-", c)), "x - (y - 3)"),
        (calc(a, "-", calc(b, "+", c)), "x - (y + 3)"),
        (calc(a, "*", lit(-2)), "x * -2"),
    ]
    main = [
        {"step": "await", "line": 1, "call": call("a"), "bind": "x"},
        {"step": "await", "line": 2, "call": call("b"), "bind": "y"},
    ]
    main += [{"step": "log", "line": 3 + i, "message": expr} for i, (expr, _) in enumerate(cases)]
    main += [
        {"step": "sleep", "line": 20, "ms": calc(a, "+", lit(100))},
        {"step": "sleep", "line": 21, "ms": calc(a, "*", lit(2))},
        {"step": "sleep", "line": 22, "ms": a},
    ]
    lines = body(compile_program(minimal(main))).splitlines()[3:]
    assert lines == [f"    log({text})" for _, text in cases] + [
        "    await asyncio.sleep((x + 100) / 1000)",
        "    await asyncio.sleep(x * 2 / 1000)",
        "    await asyncio.sleep(x / 1000)",
    ]
    # Each rendering evaluates to what the tree means.
    for expr, text in cases:
        assert eval(text, {"x": 5, "y": 7}) == _evaluate(expr, {"x": 5, "y": 7})


def _evaluate(expr: dict, names: dict) -> int:
    if "calc" in expr:
        left, op, right = expr["calc"]
        left, right = _evaluate(left, names), _evaluate(right, names)
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    return names[expr["ref"]] if "ref" in expr else expr["literal"]


def test_an_unknown_calc_operator_is_a_value_error():
    ir = minimal([{"step": "log", "line": 1, "message": calc(lit(1), "/", lit(2))}])
    with pytest.raises(ValueError, match="unknown calc operator '/'"):
        compile_program(ir)


# -- a caught error's kind and message ---------------------------------------------------


@needs_311
def test_catch_all_reads_a_group_message_and_kind_exactly():
    # `except Exception` may catch anything: type(error).__name__ is every error's kind,
    # and a group's message is .message (its str() adds "(2 sub-exceptions)").
    ir = load("any-all-fail")
    ir["main"] = [
        {
            "step": "try",
            "line": 1,
            "body": ir["main"][:1],
            "finally": None,
            "catch": {
                "kinds": [],
                "bind": "error",
                "body": [
                    {"step": "log", "line": 2, "message": ref("error", "message")},
                    {"step": "log", "line": 3, "message": {"format": [ref("error", "kind"), ": ", ref("error", "message")]}},
                ],
            },
        },
        {"step": "return", "line": 4, "value": lit(None)},
    ]
    program = compile_program(ir)
    assert '        log(getattr(error, "message", str(error)))\n' in program
    assert """        log(f"{type(error).__name__}: {getattr(error, 'message', str(error))}")\n""" in program
    outcome = target.run(ir)
    assert [event["message"] for event in outcome["trace"] if event["event"] == "log"] == [
        "All promises were rejected",
        "ExceptionGroup: All promises were rejected",
    ]


def test_a_catch_of_scenario_kinds_keeps_kind_and_message_attributes():
    ir = minimal(
        [
            {
                "step": "try",
                "line": 1,
                "body": [],
                "finally": None,
                "catch": {
                    "kinds": ["IOError"],
                    "bind": "error",
                    "body": [{"step": "log", "line": 2, "message": {"format": [ref("error", "kind"), ref("error", "message")]}}],
                },
            }
        ],
        errors=["IOError"],
    )
    assert '        log(f"{error.kind}{error.message}")' in compile_program(ir)


# -- targets and versions ---------------------------------------------------------------


def test_python_eager_differs_only_in_the_world_line_and_the_docstring():
    ir = load("start-log-await")
    plain, eager = compile_program(ir), compile_program(ir, "python-eager")
    assert [line for line in eager.splitlines() if line not in plain.splitlines()] == [
        "Generated by asyncparity from tests/python/fixtures/start-log-await.json (target python-eager).",
        "Needs CPython 3.12 or later (asyncio.eager_task_factory).",
        "    eager_tasks=True,",
    ]
    assert (
        eager[eager.index("world = World(") : eager.index("log = world.log")]
        == """\
world = World(
    "start-log-await",
    limits={"virtual_time": 3600000, "timer_firings": 10000, "turns_per_instant": 1000},
    eager_tasks=True,
)
"""
    )
    assert target.compile(ir, "python-eager") == eager


def test_the_compiler_reports_what_each_program_needs():
    assert compile_target(load("seed-download-fallback")).features == {}
    assert compile_target(load("timeout-expires")).features == {"asyncio.timeout": (3, 11)}
    assert compile_target(load("group-failure")).features == {"asyncio.TaskGroup": (3, 11)}
    assert compile_target(load("any-all-fail"), "python-eager").features == {
        "asyncio.eager_task_factory": (3, 12),
        "ExceptionGroup": (3, 11),
    }
    assert needs({"asyncio.eager_task_factory": (3, 12), "ExceptionGroup": (3, 11)}, (3, 10, 13)) == (
        "needs CPython 3.12 or later (asyncio.eager_task_factory)"
    )
    assert needs({"asyncio.eager_task_factory": (3, 12), "ExceptionGroup": (3, 11)}, (3, 11, 7)) == (
        "needs CPython 3.12 or later (asyncio.eager_task_factory)"
    )
    assert needs({"asyncio.timeout": (3, 11), "asyncio.TaskGroup": (3, 11)}, (3, 10)) == (
        "needs CPython 3.11 or later (asyncio.timeout, asyncio.TaskGroup)"
    )
    assert needs({"asyncio.timeout": (3, 11)}, (3, 13, 0)) is None


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="python-eager runs on 3.12+ (test_worker.py checks it)")
def test_python_eager_is_skipped_before_3_12_with_the_reason():
    assert target.run(load("start-log-await"), "python-eager") == {
        "target": "python-eager",
        "status": "skipped",
        "result": None,
        "trace": [],
        "message": "python-eager needs CPython 3.12 or later (asyncio.eager_task_factory); "
        f"this is CPython {platform.python_version()}",
    }


def test_an_unknown_target_is_a_value_error():
    with pytest.raises(ValueError, match="unknown target 'js-async'; this compiler writes: python, python-eager"):
        target.run(load("start-log-await"), "js-async")


# -- task_group and rethrow ---------------------------------------------------------------


def _start(name: str, handle: str) -> dict:
    return {"step": "start", "call": call(name), "bind": handle}


def test_task_group_starts_its_tasks_in_the_innermost_group_named_only_where_read():
    # A start in a nested task_group is that group's; after it, the outer group's again;
    # outside every group, asyncio.create_task.
    inner = {"step": "task_group", "body": [_start("b", "second")]}
    main = [
        {"step": "task_group", "body": [_start("a", "first"), inner, _start("b", "third")]},
        _start("a", "fourth"),
        {"step": "await", "handle": "fourth", "bind": None},
        {"step": "await", "handle": "first", "bind": None},
        {"step": "return", "value": lit(None)},
    ]
    assert (
        body(compile_program(minimal(main)))
        == """\
async def main():
    async with asyncio.TaskGroup() as tg:
        first = tg.create_task(a())
        async with asyncio.TaskGroup() as tg_2:
            tg_2.create_task(b())
        tg.create_task(b())
    fourth = asyncio.create_task(a())
    await fourth
    await first
    return None
"""
    )


def test_task_group_needs_cpython_3_11_and_its_group_can_reach_a_catch():
    main = [
        {
            "step": "try",
            "body": [{"step": "task_group", "body": [_start("a", "first")]}],
            "catch": {"kinds": [], "bind": "error", "body": [{"step": "log", "message": ref("error", "kind")}]},
            "finally": None,
        }
    ]
    compiled = compile_target(minimal(main))
    assert compiled.features == {"asyncio.TaskGroup": (3, 11)}
    assert "        log(type(error).__name__)\n" in compiled.source  # an ExceptionGroup may arrive


def _catch(bind: str, steps: list) -> dict:
    return {"kinds": [], "bind": bind, "body": steps}


def test_rethrow_is_a_bare_raise_in_its_own_except_block_and_raise_name_elsewhere():
    inner_try = {
        "step": "try",
        "body": [{"step": "await", "call": call("b"), "bind": None}],
        "catch": _catch("second", [{"step": "rethrow", "error": "first"}]),
        "finally": None,
    }
    main = [
        {
            "step": "try",
            "body": [{"step": "await", "call": call("a"), "bind": None}],
            "catch": _catch("first", [inner_try, {"step": "rethrow", "error": "first"}]),
            "finally": None,
        }
    ]
    assert (
        body(compile_program(minimal(main)))
        == """\
async def main():
    try:
        await a()
    except Exception as first:
        try:
            await b()
        except Exception as second:
            raise first
        raise
"""
    )


def test_rethrow_in_a_timeout_block_on_cpython_3_10_names_the_error():
    # On 3.10 the block is a coroutine of its own run by wait_for, where no exception is
    # being handled: a bare raise there would be "RuntimeError: No active exception".
    timeout = {"step": "timeout", "ms": 50, "body": [{"step": "rethrow", "error": "first"}]}
    main = [
        {
            "step": "try",
            "body": [{"step": "await", "call": call("a"), "bind": None}],
            "catch": _catch("first", [timeout]),
            "finally": None,
        }
    ]
    assert "            raise first\n" in compile_target(minimal(main), version=(3, 10)).source
    assert "            raise\n" in compile_target(minimal(main), version=(3, 11)).source


@needs_311
def test_rethrow_throws_the_caught_error_itself_on_to_the_outer_catch():
    ops = [
        {"name": "fetch_a", "latency": 5, "outcomes": [{"fails": {"kind": "IOError", "message": "boom"}}]},
    ]
    main = [
        {
            "step": "try",
            "body": [
                {
                    "step": "try",
                    "body": [{"step": "await", "call": call("fetch_a"), "bind": None}],
                    "catch": _catch(
                        "first", [{"step": "log", "message": lit("cleaning up")}, {"step": "rethrow", "error": "first"}]
                    ),
                    "finally": None,
                }
            ],
            "catch": {"kinds": ["IOError"], "bind": "again", "body": [{"step": "return", "value": ref("again", "message")}]},
            "finally": None,
        }
    ]
    result, trace = run(scenario(main, operations=ops, errors=["IOError"]))
    assert result == {"returns": "boom"}
    assert trace == '0 start fetch_a()\n5 fail fetch_a IOError("boom")\n5 log "cleaning up"\n5 return "boom"\n'


# -- catch from_group (except*) -------------------------------------------------------------


def _from_group(body_steps: list, bind: str | None, steps: list) -> dict:
    catch = {"kinds": ["IOError"], "bind": bind, "body": steps, "from_group": True}
    return {"step": "try", "body": body_steps, "catch": catch, "finally": None}


def test_a_catch_from_group_is_except_star_binding_the_first_error_and_plain_except_on_3_10():
    group = {"step": "group", "calls": [call("a"), call("b")], "bind": None}
    main = [_from_group([group], "error", [{"step": "log", "message": ref("error", "message")}])]
    ir = minimal(main, errors=["IOError"])
    modern = compile_target(ir, version=(3, 11))
    assert "    except* IOError as errors:\n        error = errors.exceptions[0]\n        log(error.message)\n" in modern.source
    assert modern.features == {"asyncio.TaskGroup": (3, 11), "except*": (3, 11)}
    old = compile_target(ir, version=(3, 10))
    assert "    except IOError as error:\n        log(error.message)\n" in old.source
    assert "except*" not in old.source


def test_a_catch_from_group_without_a_name_binds_nothing():
    main = [_from_group([{"step": "await", "call": call("a"), "bind": None}], None, [{"step": "log", "message": lit("x")}])]
    assert '    except* IOError:\n        log("x")\n' in compile_program(minimal(main, errors=["IOError"]))


def test_where_a_group_can_hold_a_group_the_first_error_is_read_as_any_exception():
    # A function whose own group fails raises an ExceptionGroup: as a task of another
    # group it nests, and errors.exceptions[0] is that inner group.
    inner = {"name": "both", "params": [], "body": [{"step": "group", "calls": [call("a"), call("b")], "bind": None}]}
    outer = {"step": "group", "calls": [{"callee": "both", "callee_kind": "function", "args": []}, call("a")], "bind": None}
    main = [_from_group([outer], "error", [{"step": "log", "message": ref("error", "kind")}])]
    source = compile_program(minimal(main, errors=["IOError"], functions=[inner]))
    assert "        log(type(error).__name__)\n" in source


@needs_311
def test_a_catch_from_group_takes_the_error_out_of_a_task_group_and_lets_other_kinds_go_on():
    ops = [
        {"name": "a", "latency": 5, "outcomes": [{"fails": {"kind": "IOError", "message": "boom"}}]},
        {"name": "b", "latency": 10, "outcomes": [{"fails": {"kind": "DbError", "message": "locked"}}]},
    ]
    group = {"step": "group", "calls": [call("a"), call("b")], "bind": None}
    caught = [_from_group([group], "error", [{"step": "log", "message": ref("error", "message")}])]
    result, trace = run(
        scenario([*caught, {"step": "return", "value": lit("ok")}], operations=ops, errors=["IOError", "DbError"])
    )
    assert result == {"returns": "ok"}
    assert trace == '0 start a()\n0 start b()\n5 fail a IOError("boom")\n5 cancel b\n5 log "boom"\n5 return "ok"\n'
    only_b = [_from_group([{"step": "await", "call": call("b"), "bind": None}], "error", [])]
    result, _ = run(scenario(only_b, operations=ops, errors=["IOError", "DbError"]))
    assert result == {"throws": {"kind": "DbError", "message": "locked"}}  # no group: the error itself goes on


# -- shield -------------------------------------------------------------------------------


def test_shield_wraps_a_call_or_a_started_task_in_asyncio_shield():
    main = [
        {"step": "start", "call": call("a"), "bind": "task"},
        {"step": "shield", "handle": "task", "bind": "first"},
        {"step": "shield", "call": call("b"), "bind": None},
        {"step": "return", "value": ref("first")},
    ]
    assert (
        body(compile_program(minimal(main)))
        == """\
async def main():
    task = asyncio.create_task(a())
    first = await asyncio.shield(task)
    await asyncio.shield(b())
    return first
"""
    )


def test_a_shielded_call_under_a_timeout_runs_on_after_the_deadline():
    ops = [{"name": "a", "latency": 80, "outcomes": [{"returns": "saved"}]}]
    timed = {"step": "timeout", "ms": 50, "body": [{"step": "shield", "call": call("a"), "bind": None}]}
    caught = {
        "step": "try",
        "body": [timed],
        "catch": {"kinds": ["TimeoutError"], "bind": None, "body": [{"step": "log", "message": lit("gave up")}]},
        "finally": None,
    }
    main = [caught, {"step": "sleep", "ms": 50}, {"step": "return", "value": lit("done")}]
    result, trace = run(scenario(main, operations=ops, errors=["TimeoutError"]))
    assert result == {"returns": "done"}
    assert trace == '0 start a()\n50 log "gave up"\n80 end a -> "saved"\n100 return "done"\n'


# -- as_completed -------------------------------------------------------------------------


def test_as_completed_makes_the_tasks_in_call_order_then_awaits_each_as_it_finishes():
    step = {
        "step": "as_completed",
        "calls": [call("a"), call("b")],
        "bind": "value",
        "body": [{"step": "log", "message": ref("value")}],
    }
    assert (
        body(compile_program(minimal([step, {"step": "return", "value": lit(None)}])))
        == """\
async def main():
    tasks = [asyncio.create_task(a()), asyncio.create_task(b())]
    for finished in asyncio.as_completed(tasks):
        value = await finished
        log(value)
    return None
"""
    )


def test_as_completed_runs_the_block_in_finish_order_and_a_failure_ends_the_loop():
    ops = [
        {"name": "a", "latency": 30, "outcomes": [{"returns": "a"}]},
        {"name": "b", "latency": 10, "outcomes": [{"returns": "b"}]},
        {"name": "c", "latency": 20, "outcomes": [{"fails": {"kind": "IOError", "message": "c down"}}]},
    ]
    loop = {
        "step": "as_completed",
        "calls": [call("a"), call("b"), call("c")],
        "bind": "v",
        "body": [{"step": "log", "message": ref("v")}],
    }
    caught = {
        "step": "try",
        "body": [loop],
        "catch": {"kinds": ["IOError"], "bind": "e", "body": [{"step": "log", "message": ref("e", "message")}]},
        "finally": None,
    }
    main = [caught, {"step": "sleep", "ms": 20}, {"step": "return", "value": lit("done")}]
    result, trace = run(scenario(main, operations=ops, errors=["IOError"]))
    assert result == {"returns": "done"}
    assert trace == (
        '0 start a()\n0 start b()\n0 start c()\n10 end b -> "b"\n10 log "b"\n20 fail c IOError("c down")\n'
        '20 log "c down"\n30 end a -> "a"\n40 return "done"\n'
    )


def test_rethrow_in_a_finally_inside_the_catch_names_the_error():
    # CPython 3.10-3.13: a bare raise in a finally that an error B passes through raises
    # B, not the error A the except around it handles.
    nested = {
        "step": "try",
        "body": [{"step": "await", "call": call("b"), "bind": None}],
        "catch": None,
        "finally": [{"step": "rethrow", "error": "first"}],
    }
    main = [
        {
            "step": "try",
            "body": [{"step": "await", "call": call("a"), "bind": None}],
            "catch": _catch("first", [nested]),
            "finally": None,
        }
    ]
    assert "        finally:\n            raise first\n" in compile_program(minimal(main))


# -- wait -----------------------------------------------------------------------------------


def test_wait_makes_the_tasks_then_asyncio_wait_with_its_options_and_the_records_in_call_order():
    step = {"step": "wait", "calls": [call("a"), call("b")], "until": "first_exception", "timeout": 50, "bind": "batch"}
    assert (
        body(compile_program(minimal([step, {"step": "return", "value": ref("batch")}])))
        == """\
async def main():
    tasks = [asyncio.create_task(a()), asyncio.create_task(b())]
    done, pending = await asyncio.wait(
        tasks,
        timeout=0.05,
        return_when=asyncio.FIRST_EXCEPTION,
    )
    batch = {
        "done": world.settled([task.exception() or task.result() for task in tasks if task in done]),
        "pending": len(pending),
    }
    return batch
"""
    )


def test_wait_without_a_name_or_options_is_a_plain_asyncio_wait():
    step = {"step": "wait", "calls": [call("a"), call("b")], "bind": None}
    assert (
        body(compile_program(minimal([step, {"step": "return", "value": lit(None)}])))
        == """\
async def main():
    tasks = [asyncio.create_task(a()), asyncio.create_task(b())]
    await asyncio.wait(tasks)
    return None
"""
    )


def test_wait_until_the_first_exception_keeps_the_failure_as_a_record_and_the_rest_running():
    ops = [
        {"name": "a", "latency": 5, "outcomes": [{"returns": "a"}]},
        {"name": "b", "latency": 10, "outcomes": [{"fails": {"kind": "IOError", "message": "b down"}}]},
        {"name": "c", "latency": 30, "outcomes": [{"returns": "c"}]},
    ]
    step = {"step": "wait", "calls": [call("c"), call("b"), call("a")], "until": "first_exception", "bind": "batch"}
    main = [step, {"step": "log", "message": ref("batch")}, {"step": "sleep", "ms": 30}, {"step": "return", "value": lit("done")}]
    result, trace = run(scenario(main, operations=ops, errors=["IOError"]))
    assert result == {"returns": "done"}
    assert trace == (
        '0 start c()\n0 start b()\n0 start a()\n5 end a -> "a"\n10 fail b IOError("b down")\n'
        '10 log {"done":[{"status":"rejected","reason":{"kind":"IOError","message":"b down"}},'
        '{"status":"fulfilled","value":"a"}],"pending":1}\n30 end c -> "c"\n40 return "done"\n'
    )


def test_wait_with_a_timeout_returns_what_finished_and_cancels_nothing():
    ops = [
        {"name": "a", "latency": 20, "outcomes": [{"returns": "a"}]},
        {"name": "b", "latency": 80, "outcomes": [{"returns": "b"}]},
    ]
    step = {"step": "wait", "calls": [call("b"), call("a")], "timeout": 50, "bind": "batch"}
    main = [step, {"step": "log", "message": ref("batch")}, {"step": "sleep", "ms": 40}, {"step": "return", "value": lit("done")}]
    result, trace = run(scenario(main, operations=ops))
    assert result == {"returns": "done"}
    assert trace == (
        '0 start b()\n0 start a()\n20 end a -> "a"\n50 log {"done":[{"status":"fulfilled","value":"a"}],"pending":1}\n'
        '80 end b -> "b"\n90 return "done"\n'
    )
