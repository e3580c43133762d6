"""Generator functions, for_each, break and using (with resources) on the Python target.

As in test_cancel_map_queue.py, each construct is checked twice: the exact program text
and the exact canonical trace and result of running it on the virtual loop. The
fixtures in tests/python/fixtures/ are the IR that runner/load.py produces from the YAML
quoted above each group of tests; the traces were worked out by hand from the latencies
and the rules below, then checked against the runs, never copied from them.

The rule that matters most here: ``async for`` never calls ``aclose()``. A ``break``
drops the generator object; CPython's reference counting calls the loop's
async-generator finalizer hook at once, and the hook schedules ``aclose()`` as a task.
So the code after the loop runs first, up to its next suspension, and the generator's
``finally`` runs a turn or two later at the same instant. (JavaScript's ``for await``
calls ``return()`` at the ``break`` and awaits it: there the ``finally`` runs first.
A scenario declares that as a divergence.)
"""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from asyncparity_python import target
from asyncparity_python.compile import compile_program
from asyncparity_runtime import World, format_trace
from helpers import body, lit, load, ref, run, scenario

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout: 3.11+")


def minimal(main: list, functions: list | None = None, **extra) -> dict:
    """A scenario with the resource connection (opens in 5 ms, closes in 3) and the
    operation a (1 ms, returns 1)."""
    fields = {
        "queues": [],
        "resources": [{"name": "connection", "open": 5, "close": 3}],
        "operations": [{"name": "a", "latency": 1, "outcomes": [{"returns": 1}]}],
        "functions": functions or [],
    }
    return scenario(main, **{**fields, **extra})


def fn_call(name: str, *args: dict) -> dict:
    return {"callee": name, "callee_kind": "function", "args": list(args)}


@pytest.fixture(autouse=True)
def _hooks_are_restored():
    """Every run leaves this thread's async-generator hooks as it found them."""
    before = sys.get_asyncgen_hooks()
    yield
    assert sys.get_asyncgen_hooks() == before


def test_while_it_runs_the_loop_s_own_asyncgen_hooks_are_installed():
    seen = []

    async def main():
        hooks = sys.get_asyncgen_hooks()
        loop = asyncio.get_running_loop()
        seen.append(
            (
                hooks.firstiter.__self__ is loop,
                hooks.finalizer.__self__ is loop,
                hooks.finalizer.__func__ is asyncio.BaseEventLoop._asyncgen_finalizer_hook,
            )
        )

    World("hooks").run(main)
    assert seen == [(True, True, True)]


# -- a generator consumed to its end -----------------------------------------------------
#   functions:
#     ticks:
#       params: [interval]
#       generator: true
#       steps:
#         - try:
#             - repeat: 3
#               as: n
#               steps: [{sleep: $interval}, {yield: $n}]
#           finally: [{log: "ticks closed"}]
#   main:
#     - for_each: ticks
#       args: [10]
#       as: tick
#       steps: [{log: {format: "tick {tick}"}}]
#     - log: "after loop"
#     - return: "done"

TICKS = """\
async def ticks(interval):
    try:
        for n in range(3):
            await asyncio.sleep(interval / 1000)
            yield n
    finally:
        log("ticks closed")
"""


def test_a_generator_function_is_an_async_def_that_yields_and_for_each_is_async_for():
    assert (
        body(compile_program(load("generator-consumed-fully")))
        == TICKS
        + """

async def main():
    async for tick in ticks(10):
        log(f"tick {tick}")
    log("after loop")
    return "done"
"""
    )


def test_a_generator_consumed_to_its_end_runs_its_finally_before_the_loop_ends():
    # Ticks at 10, 20, 30. At 30 the loop asks for a fourth value: the generator's for
    # ends, its finally logs, StopAsyncIteration ends the consumer's loop. Same in JS.
    result, trace = run("generator-consumed-fully")
    assert result == {"returns": "done"}
    assert (
        trace
        == """\
10 log "tick 0"
20 log "tick 1"
30 log "tick 2"
30 log "ticks closed"
30 log "after loop"
30 return "done"
"""
    )


# -- break: the generator is closed later, by the loop's finalizer hook -----------------
#   operations: {save: {latency: 5, returns: "saved"}}
#   functions: ticks, as above
#   main:
#     - for_each: ticks
#       args: [10]
#       as: tick
#       steps:
#         - log: {format: "tick {tick}"}
#         - if: [$tick, "==", 1]
#           then: [{break: true}]
#     - log: "after loop"
#     - await: save
#       as: saved
#     - return: $saved


def test_break_is_break_and_the_loop_has_no_aclosing():
    program = compile_program(load("generator-break"))
    assert "aclosing" not in program and "contextlib" not in program
    assert (
        body(program)
        == TICKS
        + """

async def main():
    async for tick in ticks(10):
        log(f"tick {tick}")
        if tick == 1:
            break
    log("after loop")
    saved = await save()
    return saved
"""
    )


def test_after_a_break_the_generator_finally_runs_after_the_code_that_follows_the_loop():
    # At 20 the consumer logs tick 1 and breaks. The loop statement drops the generator,
    # whose finalizer hook schedules aclose() (call_soon -> create_task -> first step):
    # meanwhile main logs "after loop" and starts save, which suspends on its timer.
    # Then aclose throws GeneratorExit in at the yield and the finally logs, still at 20.
    # (JavaScript: "ticks closed" comes before "after loop"; a declared divergence.)
    result, trace = run("generator-break")
    assert result == {"returns": "saved"}
    assert (
        trace
        == """\
10 log "tick 0"
20 log "tick 1"
20 log "after loop"
20 start save()
20 log "ticks closed"
25 end save -> "saved"
25 return "saved"
"""
    )


def test_when_main_returns_right_after_the_loop_the_close_comes_after_the_settle():
    world = World("break-then-return")
    log = world.log

    async def ticks():
        try:
            for n in range(3):
                await asyncio.sleep(0.01)
                yield n
        finally:
            log("ticks closed")

    async def main():
        async for tick in ticks():
            log(f"tick {tick}")
            break
        log("after loop")
        return "done"

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
10 log "tick 0"
10 log "after loop"
10 return "done"
10 log "ticks closed"
"""
    )


def test_an_error_in_the_loop_body_also_leaves_the_close_to_the_finalizer():
    # main's error goes out of the async for (and settles main) before the generator is
    # closed; in JavaScript the for-await runs return() first, so the finally logs first.
    world = World("body-raises")
    log = world.log
    bad_tick = world.error_kind("BadTick")

    async def ticks():
        try:
            for n in range(3):
                await asyncio.sleep(0.01)
                yield n
        finally:
            log("ticks closed")

    async def main():
        async for tick in ticks():
            raise bad_tick(f"tick {tick}")

    outcome = world.run(main)
    assert outcome["result"] == {"throws": {"kind": "BadTick", "message": "tick 0"}}
    assert format_trace(outcome["trace"]) == '10 throw BadTick("tick 0")\n10 log "ticks closed"\n'


def test_an_error_in_the_deferred_close_is_an_unhandled_task_exception():
    # Nobody awaits the finalizer's aclose() task: its error is found at the next
    # quiescence point, as "Task exception was never retrieved" would be at GC.
    world = World("close-raises")
    log = world.log
    boom = world.error_kind("Boom")

    async def values():
        try:
            yield 1
            yield 2
        finally:
            raise boom("in finally")

    async def main():
        async for value in values():
            log(value)
            break
        log("after loop")
        await asyncio.sleep(0.005)
        return "ok"

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
0 log 1
0 log "after loop"
0 unhandled Boom("in finally")
5 return "ok"
"""
    )


# -- a generator that raises mid-iteration -----------------------------------------------
#   functions:
#     ticks:
#       params: [interval]
#       generator: true
#       steps:
#         - try:
#             - repeat: 3
#               as: n
#               steps:
#                 - sleep: $interval
#                 - if: [$n, "==", 2]
#                   then: [{throw: {kind: IOError, message: "feed lost"}}]
#                 - yield: $n
#           finally: [{log: "ticks closed"}]
#   main:
#     - try:
#         - for_each: ticks
#           args: [10]
#           as: tick
#           steps: [{log: {format: "tick {tick}"}}]
#       catch: {kind: IOError, as: error, steps: [{log: {format: "caught {error.message}"}}]}
#     - return: "recovered"


def test_a_generator_that_raises_program():
    assert (
        body(compile_program(load("generator-raises")))
        == """\
async def ticks(interval):
    try:
        for n in range(3):
            await asyncio.sleep(interval / 1000)
            if n == 2:
                raise IOError("feed lost")
            yield n
    finally:
        log("ticks closed")


async def main():
    try:
        async for tick in ticks(10):
            log(f"tick {tick}")
    except IOError as error:
        log(f"caught {error.message}")
    return "recovered"
"""
    )


def test_a_generator_that_raises_runs_its_finally_then_the_error_reaches_the_consumer():
    # At 30 the generator raises inside __anext__: its finally runs on the way out, then
    # the error leaves the async for into main's except. Nothing is deferred: the
    # generator is finished (the finalizer's aclose() of it is a no-op task).
    result, trace = run("generator-raises")
    assert result == {"returns": "recovered"}
    assert (
        trace
        == """\
10 log "tick 0"
20 log "tick 1"
30 log "ticks closed"
30 log "caught feed lost"
30 return "recovered"
"""
    )


# -- a generator holding a resource, left by a break -------------------------------------
#   resources: {connection: {open: 5, close: 3}}
#   functions:
#     rows:
#       generator: true
#       steps:
#         - using: connection
#           args: ["feed"]
#           as: conn
#           steps:
#             - repeat: 3
#               as: n
#               steps: [{sleep: 10}, {yield: {format: "{conn} row {n}"}}]
#   main:
#     - for_each: rows
#       as: row
#       steps: [{log: $row}, {break: true}]
#     - log: "after loop"
#     - return: "done"


def test_a_generator_with_a_using_block_program():
    program = compile_program(load("generator-using-break"))
    assert '\nconnection = world.resource("connection", open=5, close=3)\n\n\nasync def rows():' in program
    assert (
        body(program)
        == """\
async def rows():
    async with connection("feed") as conn:
        for n in range(3):
            await asyncio.sleep(0.01)
            yield f"{conn} row {n}"


async def main():
    async for row in rows():
        log(row)
        break
    log("after loop")
    return "done"
"""
    )


def test_after_a_break_the_generator_never_closes_its_resource_when_main_returns_first():
    # Open 0..5, first row at 15; the break leaves the generator suspended inside the
    # async with. The finalizer hook hands its aclose() to a task, whose __aexit__ waits
    # 3 ms; main returns at 15 first, and asyncio.run cancels that task with the others:
    # the close never happens. (JavaScript: 18 close, then 18 "after loop" and 18 return.)
    result, trace = run("generator-using-break")
    assert result == {"returns": "done"}
    assert (
        trace
        == """\
5 open connection("feed")
15 log "connection#1 row 0"
15 log "after loop"
15 return "done"
"""
    )


# -- generators still open at the end, halts, odd shapes ---------------------------------


def test_a_generator_still_open_at_the_end_is_closed_like_shutdown_asyncgens():
    # main keeps the generators alive (a reference outside the run), so no finalizer
    # fires; when main has returned, asyncio.run's shutdown_asyncgens closes them
    # (recorded after the settle), in the order of a WeakSet: any order. Nothing is left
    # to warn at exit.
    world = World("left-open")
    log = world.log
    connection = world.resource("connection", open=5, close=3)
    held = []

    async def feed():
        async with connection("feed") as conn:
            try:
                while True:
                    await asyncio.sleep(0.01)
                    yield conn
            finally:
                log("feed closed")

    async def first():
        try:
            yield "first"
        finally:
            log("first closed")

    async def main():
        held.extend([first(), feed()])
        log(await held[0].__anext__())
        log(await held[1].__anext__())
        return "done"

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
0 log "first"
5 open connection("feed")
15 log "connection#1"
15 return "done"
15 log "feed closed" (any order)
15 log "first closed" (any order)
18 close connection
"""
    )
    assert [agen.ag_frame for agen in held] == [None, None]  # both finished


@pytest.mark.parametrize(
    ("limits", "status", "trace"),
    [
        (None, "deadlock", '10 log "tick 0"\n'),
        ({"virtual_time": 25}, "runaway", '10 log "tick 0"\n20 log "tick 1"\n'),
    ],
)
def test_after_a_halt_an_open_generator_is_closed_unrecorded_and_nothing_warns(limits, status, trace):
    world = World("halt", limits=limits)
    log = world.log
    closed = []

    async def ticks():
        try:
            for n in range(3):
                await asyncio.sleep(0.01)
                yield n
        finally:
            closed.append(True)
            log("ticks closed")  # after the halt: not recorded
            await asyncio.sleep(0.001)  # cancelled by the clean-up

    async def main():
        jobs = asyncio.Queue()
        async for tick in ticks():
            log(f"tick {tick}")
            if limits is None:
                await jobs.get()  # nothing ever puts: a deadlock

    outcome = world.run(main)
    assert (outcome["status"], format_trace(outcome["trace"])) == (status, trace)
    assert closed == [True]


def test_a_deadlock_inside_a_generator_names_the_generator():
    world = World("stuck-generator")

    async def waiting():
        jobs = asyncio.Queue()
        yield 1
        await jobs.get()
        yield 2

    async def main():
        async for _ in waiting():
            pass

    outcome = world.run(main)
    assert outcome["status"] == "deadlock"
    assert re.fullmatch(
        r"deadlock: scenario 'stuck-generator' has not settled at 0 ms and no timer is pending; "
        r"pending: main \(line \d+\) -> waiting \(line \d+\) -> Queue\.get awaits a Future",
        outcome["message"],
    ), outcome["message"]


def test_a_generator_without_a_yield_step_is_still_an_async_generator():
    ir = minimal(
        [
            {
                "step": "for_each",
                "line": 1,
                "call": fn_call("nothing"),
                "bind": None,
                "body": [{"step": "log", "line": 2, "message": lit("never")}],
            },
            {"step": "return", "line": 3, "value": lit("done")},
        ],
        functions=[
            {"name": "nothing", "params": [], "generator": True, "body": [{"step": "log", "line": 4, "message": lit("started")}]}
        ],
    )
    assert (
        body(compile_program(ir))
        == """\
async def nothing():
    log("started")
    return
    yield  # never reached: it makes this an async generator


async def main():
    async for _ in nothing():
        log("never")
    return "done"
"""
    )
    assert run(ir) == ({"returns": "done"}, '0 log "started"\n0 return "done"\n')


def test_a_generator_consumed_inside_a_generator_and_left_by_break():
    # outer takes one value from inner and breaks, then yields; the consumer takes that
    # and breaks too. Each break hands its generator to the finalizer hook, whose close
    # tasks run only after main has returned, among the tasks asyncio.run cancels (a
    # set): the two closes are compared in any order.
    inner_body = [
        {
            "step": "try",
            "line": 1,
            "catch": None,
            "body": [
                {
                    "step": "repeat",
                    "line": 2,
                    "times": 3,
                    "bind": "n",
                    "body": [{"step": "sleep", "line": 3, "ms": 10}, {"step": "yield", "line": 4, "value": ref("n")}],
                }
            ],
            "finally": [{"step": "log", "line": 5, "message": lit("inner closed")}],
        }
    ]
    outer_body = [
        {
            "step": "try",
            "line": 6,
            "catch": None,
            "body": [
                {
                    "step": "for_each",
                    "line": 7,
                    "call": fn_call("inner"),
                    "bind": "value",
                    "body": [{"step": "log", "line": 8, "message": lit("outer got one")}, {"step": "break", "line": 9}],
                },
                {"step": "yield", "line": 10, "value": lit("from outer")},
                {"step": "yield", "line": 11, "value": lit("never")},
            ],
            "finally": [{"step": "log", "line": 12, "message": lit("outer closed")}],
        }
    ]
    ir = minimal(
        [
            {
                "step": "for_each",
                "line": 13,
                "call": fn_call("outer"),
                "bind": "got",
                "body": [{"step": "log", "line": 14, "message": ref("got")}, {"step": "break", "line": 15}],
            },
            {"step": "return", "line": 16, "value": lit("done")},
        ],
        functions=[
            {"name": "inner", "params": [], "generator": True, "body": inner_body},
            {"name": "outer", "params": [], "generator": True, "body": outer_body},
        ],
    )
    assert run(ir) == (
        {"returns": "done"},
        """\
10 log "outer got one"
10 log "from outer"
10 return "done"
10 log "inner closed" (any order)
10 log "outer closed" (any order)
""",
    )


# -- using: nested resources close last opened, first closed ------------------------------
#   resources: {connection: {open: 5, close: 3}, lock: {open: 1, close: 2}}
#   operations: {query: {latency: 10, returns: "rows"}}
#   main:
#     - using: connection
#       args: ["db"]
#       as: conn
#       steps:
#         - using: lock
#           args: ["rows"]
#           as: guard
#           steps:
#             - log: {format: "{conn} {guard}"}
#             - await: query
#               args: [$conn]
#               as: result
#             - log: {format: "got {result}"}
#         - log: "lock released"
#     - using: connection
#       args: ["cache"]
#       as: cache
#       steps: [{log: $cache}]
#     - return: "done"


def test_using_is_async_with_and_resources_are_declared_after_the_operations():
    program = compile_program(load("using-nested"))
    assert (
        program[program.index("log = world.log\n") : program.index("async def")]
        == """\
log = world.log

query = world.operation("query", latency=10, outcomes=[{"returns": "rows"}])

connection = world.resource("connection", open=5, close=3)
lock = world.resource("lock", open=1, close=2)


"""
    )
    assert (
        body(program)
        == """\
async def main():
    async with connection("db") as conn:
        async with lock("rows") as guard:
            log(f"{conn} {guard}")
            result = await query(conn)
            log(f"got {result}")
        log("lock released")
    async with connection("cache") as cache:
        log(cache)
    return "done"
"""
    )


def test_nested_using_blocks_close_in_lifo_order_and_handles_count_per_resource():
    # connection opens 0..5, lock 5..6, query 6..16; the lock closes 16..18, the
    # connection 18..21; the second connection opens 21..26 as connection#2, closes 26..29.
    result, trace = run("using-nested")
    assert result == {"returns": "done"}
    assert (
        trace
        == """\
5 open connection("db")
6 open lock("rows")
6 log "connection#1 lock#1"
6 start query("connection#1")
16 end query -> "rows"
16 log "got rows"
18 close lock
18 log "lock released"
21 close connection
26 open connection("cache")
26 log "connection#2"
29 close connection
29 return "done"
"""
    )


# -- using: an error inside the block -----------------------------------------------------
#   resources: {connection: {open: 5, close: 3}}
#   operations: {query: {latency: 10, fails: {kind: IOError, message: "query failed"}}}
#   main:
#     - try:
#         - using: connection
#           args: ["db"]
#           as: conn
#           steps: [{await: query, args: [$conn]}, {log: "not reached"}]
#       catch: {kind: IOError, as: error, steps: [{log: {format: "caught {error.message}"}}]}
#     - using: connection
#       args: ["db", 2]
#       steps: [{await: query, args: ["again"]}]
#     - return: "unreachable"


def test_using_without_a_name_has_no_as():
    assert (
        body(compile_program(load("using-error")))
        == """\
async def main():
    try:
        async with connection("db") as conn:
            await query(conn)
            log("not reached")
    except IOError as error:
        log(f"caught {error.message}")
    async with connection("db", 2):
        await query("again")
    return "unreachable"
"""
    )


def test_an_error_inside_using_closes_the_resource_first_then_goes_on():
    # The query fails at 15; __aexit__ sees the error, takes 3 ms to close, and does not
    # suppress it: the catch logs at 18. The second block: open 18..23, fail at 33,
    # close 33..36, and the error settles main at 36, after the close.
    outcome = target.run(load("using-error"))
    assert outcome["result"] == {"throws": {"kind": "IOError", "message": "query failed"}}
    assert (
        format_trace(outcome["trace"])
        == """\
5 open connection("db")
5 start query("connection#1")
15 fail query IOError("query failed")
18 close connection
18 log "caught query failed"
23 open connection("db",2)
23 start query("again")
33 fail query IOError("query failed")
36 close connection
36 throw IOError("query failed")
"""
    )


@needs_311
def test_a_timeout_inside_using_still_closes_before_the_timeout_error():
    world = World("timeout-in-using")
    query = world.operation("query", latency=30)
    connection = world.resource("connection", open=5, close=3)

    async def main():
        async with asyncio.timeout(0.02), connection("db"):
            await query()

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
5 open connection("db")
5 start query()
20 cancel query
23 close connection
23 throw TimeoutError("")
"""
    )


def test_a_cancel_while_opening_records_nothing_and_goes_on():
    world = World("cancel-while-opening")
    log = world.log
    connection = world.resource("connection", open=5, close=3)

    async def use():
        async with connection("db"):
            log("never")

    async def main():
        task = asyncio.create_task(use())
        await asyncio.sleep(0.002)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            log("cancelled while opening")
        async with connection("db") as conn:
            return conn  # the first open never completed: still #1

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
2 log "cancelled while opening"
7 open connection("db")
10 close connection
10 return "connection#1"
"""
    )
    assert outcome["stats"]["timer_firings"] == 3  # the cancelled open's timer never fired


def test_resource_handles_start_again_from_1_on_each_run_and_zero_ms_still_takes_a_turn():
    world = World("rerun")
    log = world.log
    gate = world.resource("gate", open=0, close=0)

    async def other():
        log("other ran")

    async def main():
        task = asyncio.create_task(other())
        async with gate("a") as first:
            log(first)  # the zero-ms open waited on a timer: the task ran first
        async with gate() as second:
            pass
        await task
        return [first, second]

    first_run, second_run = world.run(main), world.run(main)
    assert first_run == second_run
    assert first_run["result"] == {"returns": ["gate#1", "gate#2"]}
    assert (
        format_trace(first_run["trace"])
        == """\
0 log "other ran"
0 open gate("a")
0 log "gate#1"
0 close gate
0 open gate()
0 close gate
0 return ["gate#1","gate#2"]
"""
    )


def test_resource_latencies_are_non_negative_integers():
    world = World("x")
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match=r"^resource 'connection': (open|close) must be a non-negative integer of ms"):
            world.resource("connection", open=bad, close=1)
        with pytest.raises(ValueError, match=r"^resource 'connection': close must be a non-negative integer of ms"):
            world.resource("connection", open=1, close=bad)


def test_a_resource_used_outside_a_run_says_so():
    connection = World("outside").resource("connection", open=1, close=1)
    with pytest.raises(RuntimeError, match=r"^connection\(\) belongs to scenario 'outside'"):
        asyncio.run(connection("db").__aenter__())


def test_format_trace_writes_open_and_close():
    assert (
        format_trace(
            [
                {"t": 5, "event": "open", "resource": "connection", "args": ["db", 1, {"a": None}]},
                {"t": 6, "event": "open", "resource": "lock", "args": []},
                {"t": 20, "event": "close", "resource": "connection"},
            ]
        )
        == '5 open connection("db",1,{"a":null})\n6 open lock()\n20 close connection\n'
    )


# -- IR the compiler cannot trust ----------------------------------------------------------

_GEN = {"name": "gen", "params": [], "generator": True, "body": [{"step": "yield", "line": 1, "value": lit(1)}]}
_PLAIN = {"name": "plain", "params": [], "body": [{"step": "return", "line": 1, "value": lit(1)}]}


@pytest.mark.parametrize(
    ("main", "extra", "message"),
    [
        (
            [{"step": "for_each", "line": 1, "call": fn_call("plain"), "bind": None, "body": []}],
            {},
            "main: 'plain' is not a generator function; for_each needs one",
        ),
        (
            [{"step": "await", "line": 1, "call": fn_call("gen"), "bind": None}],
            {},
            "main: 'gen' is a generator; for_each consumes its values",
        ),
        (
            [{"step": "map", "line": 1, "callee": "gen", "callee_kind": "function", "over": lit([1]), "limit": 1, "bind": None}],
            {},
            "main: 'gen' is a generator; for_each consumes its values",
        ),
        (
            [{"step": "using", "line": 1, "resource": "pool", "args": [], "bind": None, "body": []}],
            {},
            "main: 'pool' is not a resource of the scenario",
        ),
        (
            [{"step": "using", "line": 1, "resource": "connection", "args": [], "bind": "connection", "body": []}],
            {},
            "main: 'connection' would shadow the resource of that name",
        ),
        (
            [{"step": "for_each", "line": 1, "call": fn_call("gen"), "bind": "gen", "body": []}],
            {},
            "main: 'gen' would shadow the operation or function of that name",
        ),
        ([{"step": "yield", "line": 1, "value": lit(1)}], {}, "main: yield belongs in a function with generator: true"),
        ([], {"resources": [{"name": "a", "open": 1, "close": 1}]}, "'a' is a resource and an operation, function or queue"),
        (
            [],
            {"resources": [{"name": "connection", "open": -1, "close": 1}]},
            "resource 'connection': open is an integer of ms >= 0, not -1",
        ),
        (
            [],
            {"functions": [_GEN, _PLAIN, {**_GEN, "name": "bad", "body": [{"step": "return", "line": 1, "value": lit(1)}]}]},
            "bad: a generator function has no return step",
        ),
        (
            [],
            {"functions": [_GEN, _PLAIN, {**_PLAIN, "name": "bad", "body": [{"step": "yield", "line": 1, "value": lit(1)}]}]},
            "bad: yield belongs in a function with generator: true",
        ),
    ],
)
def test_ir_the_compiler_cannot_trust_is_a_value_error(main, extra, message):
    ir = minimal(main, functions=[_GEN, _PLAIN])
    ir.update(extra)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        compile_program(ir)
