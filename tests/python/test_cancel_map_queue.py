"""set, cancel (with an operation's on_cancel), map with a limit, and queues on the Python target.

As in test_constructs.py, each construct is checked twice: the exact program text (what
``asyncparity show`` prints) and the exact canonical trace and result of running it on
the virtual loop. The fixtures in tests/python/fixtures/ are the IR that runner/load.py
produces from the YAML quoted above each group of tests; the traces were worked out by
hand from the latencies, then checked against the runs, never copied from them.

None of these programs needs more than CPython 3.10, so every run here is in process;
the runs under other CPythons, with ``python-eager``, and as saved standalone programs
are checked once, for all fixtures, in tests/python/test_target.py.
"""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from asyncparity_python import target
from asyncparity_python.compile import compile_program
from asyncparity_runtime import World, format_trace
from helpers import body, call, lit, load, operations_a_and_b, ref, run, scenario

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup, asyncio.timeout: 3.11+")


def minimal(main: list, **extra) -> dict:
    """A scenario with no queues and the operations a and b, each 1 ms, returning 1."""
    return scenario(main, **{"queues": [], "operations": operations_a_and_b(), **extra})


# -- set --------------------------------------------------------------------------------
#   main:
#     - set: delay
#       value: 100
#     - repeat: 4
#       as: attempt
#       steps:
#         - try: [{await: flaky, args: [$attempt], as: data}, {return: $data}]
#           catch:
#             kind: IOError
#             steps:
#               - log: {format: "attempt {attempt} failed, waiting {delay} ms"}
#               - sleep: $delay
#               - set: delay
#                 value: {calc: [$delay, "*", 2]}
#     - throw: {kind: GaveUp, message: "4 attempts failed"}
#   flaky: 10 ms, fails IOError("try again") three times, then returns "ok".


def test_set_program_is_a_plain_assignment():
    assert (
        body(compile_program(load("set-backoff-loop")))
        == """\
async def main():
    delay = 100
    for attempt in range(4):
        try:
            data = await flaky(attempt)
            return data
        except IOError:
            log(f"attempt {attempt} failed, waiting {delay} ms")
            await asyncio.sleep(delay / 1000)
            delay = delay * 2
    raise GaveUp("4 attempts failed")
"""
    )


def test_set_doubles_the_delay_of_a_backoff_loop():
    # Attempts at 0, 10 + 100, 120 + 200, 330 + 400; each takes 10 ms.
    result, trace = run("set-backoff-loop")
    assert result == {"returns": "ok"}
    assert (
        trace
        == """\
0 start flaky(0)
10 fail flaky IOError("try again")
10 log "attempt 0 failed, waiting 100 ms"
110 start flaky(1)
120 fail flaky IOError("try again")
120 log "attempt 1 failed, waiting 200 ms"
320 start flaky(2)
330 fail flaky IOError("try again")
330 log "attempt 2 failed, waiting 400 ms"
730 start flaky(3)
740 end flaky -> "ok"
740 return "ok"
"""
    )


# -- cancel -----------------------------------------------------------------------------
#   main:
#     - start: download
#       args: ["u"]
#       as: task
#     - sleep: 10
#     - cancel: $task
#     - try: [{await: $task, as: data}, {return: $data}]
#       catch: {kind: CancelledError, as: error, steps: [log: {format: "{error.kind} '{error.message}'"}]}
#     - return: "gave up"
#   download: 30 ms, returns "data".  (cancel-uncaught: the catch is `catch: [log ...]`,
#   a catch of every error.)


def test_cancel_program():
    assert (
        body(compile_program(load("cancel-caught")))
        == """\
async def main():
    task = asyncio.create_task(download("u"))
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        data = await task
        return data
    except asyncio.CancelledError as error:
        log(f"{type(error).__name__} '{error}'")
    return "gave up"
"""
    )


def test_cancel_interrupts_the_operation_and_awaiting_it_raises_cancelled_error():
    # The download starts on the loop's next turn at 0 and would end at 30; at 10 the
    # cancel interrupts its wait, and awaiting the task raises CancelledError("").
    result, trace = run("cancel-caught")
    assert result == {"returns": "gave up"}
    assert (
        trace
        == """\
0 start download("u")
10 cancel download
10 log "CancelledError ''"
10 return "gave up"
"""
    )


def test_a_catch_of_every_error_does_not_catch_cancelled_error():
    # except Exception: CancelledError is a BaseException (3.8+), so it goes on to main's
    # caller. (In JavaScript the AbortError is an ordinary error that catch takes.)
    program = compile_program(load("cancel-uncaught"))
    assert "    except Exception:\n" in program
    result, trace = run("cancel-uncaught")
    assert result == {"throws": {"kind": "CancelledError", "message": ""}}
    assert trace == '0 start download("u")\n10 cancel download\n10 throw CancelledError("")\n'


def test_cancelled_error_with_scenario_kinds_is_a_tuple_and_reads_like_any_exception():
    ir = minimal(
        [
            {"step": "start", "line": 1, "call": call("a"), "bind": "task"},
            {"step": "cancel", "line": 2, "handle": "task"},
            {
                "step": "try",
                "line": 3,
                "body": [{"step": "await", "line": 4, "handle": "task", "bind": None}],
                "finally": None,
                "catch": {
                    "kinds": ["IOError", "CancelledError"],
                    "bind": "error",
                    "body": [
                        {
                            "step": "log",
                            "line": 5,
                            "message": {"format": [ref("error", "kind"), ": <", ref("error", "message"), ">"]},
                        }
                    ],
                },
            },
            {"step": "return", "line": 6, "value": lit("done")},
        ],
        errors=["IOError"],
    )
    program = compile_program(ir)
    assert "CancelledError = " not in program  # asyncio's own class, never shadowed
    assert body(program).splitlines()[1:] == [
        "    task = asyncio.create_task(a())",
        "    task.cancel()",
        "    try:",
        "        await task",
        "    except (IOError, asyncio.CancelledError) as error:",
        '        log(f"{type(error).__name__}: <{error}>")',
        '    return "done"',
    ]
    # Cancelled before its first step, the operation never ran: no start, no cancel.
    result, trace = run(ir)
    assert result == {"returns": "done"}
    assert trace == '0 log "CancelledError: <>"\n0 return "done"\n'


# -- on_cancel: ignore ------------------------------------------------------------------
#   operations: {upload: {latency: 30, returns: "uploaded", on_cancel: ignore}}
#   main: start upload("u") as task; sleep 10; cancel $task; await $task as receipt;
#         log "got {receipt}"; return $receipt


def test_on_cancel_ignore_is_an_argument_of_the_operation():
    program = compile_program(load("cancel-ignored"))
    assert (
        program[program.index("upload = ") : program.index("\n\n\nasync def")]
        == """\
upload = world.operation(
    "upload",
    latency=30,
    outcomes=[{"returns": "uploaded"}],
    on_cancel="ignore",
)"""
    )
    assert "on_cancel" not in compile_program(load("cancel-caught"))  # "stop" is the default


def test_an_operation_that_ignores_cancel_runs_to_its_end_and_the_task_returns_its_value():
    outcome = target.run(load("cancel-ignored"))
    assert outcome["result"] == {"returns": "uploaded"}
    assert (
        format_trace(outcome["trace"])
        == """\
0 start upload("u")
30 end upload -> "uploaded"
30 log "got uploaded"
30 return "uploaded"
"""
    )
    # The original timer: the sleep and the upload, no second timer for the upload.
    assert (outcome["stats"]["virtual_time"], outcome["stats"]["timer_firings"]) == (30, 2)


def test_an_ignored_cancel_is_taken_back_every_time_and_the_latency_is_unchanged():
    world = World("ignored-twice")
    upload = world.operation("upload", latency=30, outcomes=[{"returns": "up"}], on_cancel="ignore")
    seen = {}

    async def main():
        task = asyncio.create_task(upload())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.005)
        task.cancel()
        value = await task
        seen["cancelled"] = task.cancelled()
        seen["cancelling"] = task.cancelling() if sys.version_info >= (3, 11) else 0
        return value

    outcome = world.run(main)
    assert format_trace(outcome["trace"]) == '0 start upload()\n30 end upload -> "up"\n30 return "up"\n'
    assert outcome["stats"]["timer_firings"] == 3
    assert seen == {"cancelled": False, "cancelling": 0}


def test_an_ignoring_operation_can_still_fail_at_its_end():
    world = World("ignored-fail")
    world.error_kind("IOError")
    upload = world.operation(
        "upload", latency=20, outcomes=[{"fails": {"kind": "IOError", "message": "late"}}], on_cancel="ignore"
    )

    async def main():
        task = asyncio.create_task(upload())
        await asyncio.sleep(0.005)
        task.cancel()
        return await task

    outcome = world.run(main)
    assert format_trace(outcome["trace"]) == '0 start upload()\n20 fail upload IOError("late")\n20 throw IOError("late")\n'


@needs_311
def test_an_ignoring_operation_makes_a_timeout_wait_and_not_raise():
    # asyncio.timeout cancels the block at 10; the operation swallows that and uncancels,
    # so the block ends at 30 with its value and no TimeoutError (JavaScript's timeout
    # rejects at 10 whatever the operation does: a difference a scenario must declare).
    world = World("ignored-in-timeout")
    upload = world.operation("upload", latency=30, outcomes=[{"returns": "up"}], on_cancel="ignore")

    async def main():
        async with asyncio.timeout(0.01):
            return await upload()

    outcome = world.run(main)
    assert format_trace(outcome["trace"]) == '0 start upload()\n30 end upload -> "up"\n30 return "up"\n'


@needs_311
def test_a_task_group_waits_for_a_sibling_that_ignores_cancel():
    world = World("ignored-in-group")
    world.error_kind("IOError")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "boom"}}])
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "s"}], on_cancel="ignore")

    async def main():
        async with asyncio.TaskGroup() as group:
            group.create_task(boom())
            group.create_task(slow())

    outcome = world.run(main)
    assert (
        format_trace(outcome["trace"])
        == """\
0 start boom()
0 start slow()
10 fail boom IOError("boom")
30 end slow -> "s"
30 throw ExceptionGroup("unhandled errors in a TaskGroup", [IOError("boom")])
"""
    )


def test_after_a_halt_even_an_ignoring_operation_is_stopped():
    # The upload's timer (30 ms) is past the virtual time bound (10 ms): a runaway. The
    # clean-up then cancels the upload, which must not swallow that, or it would be left
    # pending; nothing is recorded after the halt.
    world = World("ignored-halt", limits={"virtual_time": 10})
    upload = world.operation("upload", latency=30, outcomes=[{"returns": "up"}], on_cancel="ignore")
    tasks = []

    async def main():
        tasks.append(asyncio.create_task(upload()))
        return await tasks[0]

    outcome = world.run(main)
    assert (outcome["status"], format_trace(outcome["trace"])) == ("runaway", "0 start upload()\n")
    assert tasks[0].cancelled()


def test_on_cancel_is_stop_or_ignore():
    with pytest.raises(ValueError, match="on_cancel is 'stop' or 'ignore', not 'later'"):
        World("x").operation("op", latency=1, on_cancel="later")
    ir = minimal([])
    ir["operations"][0]["on_cancel"] = "later"
    with pytest.raises(ValueError, match="operation 'a': on_cancel is 'stop' or 'ignore', not 'later'"):
        compile_program(ir)


# -- map with a limit -------------------------------------------------------------------
#   functions:
#     fetch_page: {params: [ms], steps: [log "begin {ms}", sleep $ms, log "end {ms}", return $ms]}
#   main: [{map: fetch_page, over: [30, 10, 20, 10, 10], limit: 2, as: pages}, {return: $pages}]


def test_map_program_is_a_semaphore_a_nested_function_and_gather():
    assert (
        body(compile_program(load("map-limit"))).partition("async def main():\n")[2]
        == """\
    semaphore = asyncio.Semaphore(2)

    async def limited(item):
        async with semaphore:
            return await fetch_page(item)

    pages = await asyncio.gather(*(limited(item) for item in [30, 10, 20, 10, 10]))
    return pages
"""
    )


def test_map_with_a_limit_starts_each_call_when_a_slot_frees_and_keeps_item_order():
    # Slots: 30 and 10 start at 0. The 10 ends at 10 and the 20 takes its slot (to 30).
    # At 30 both sleeps end: asyncio makes both timers ready in one batch, so both
    # workers log their end before either freed slot is taken; the semaphore then wakes
    # its waiters in order and the fourth and fifth items begin; both end at 40.
    # Finishing order is 10, 30, 20, 10, 10; the result is in item order.
    result, trace = run("map-limit")
    assert result == {"returns": [30, 10, 20, 10, 10]}
    assert (
        trace
        == """\
0 log "begin 30"
0 log "begin 10"
10 log "end 10"
10 log "begin 20"
30 log "end 30"
30 log "end 20"
30 log "begin 10"
30 log "begin 10"
40 log "end 10"
40 log "end 10"
40 return [30,10,20,10,10]
"""
    )


def test_map_over_an_operation_and_a_name_with_fresh_temp_names():
    # a takes 1 ms and returns "a1", "a2", "a3" in call order.
    ir = minimal(
        [
            {"step": "await", "line": 1, "call": call("b"), "bind": "item"},
            {"step": "set", "line": 2, "bind": "items", "value": {"list": [lit(1), ref("item"), lit(3)]}},
            {"step": "map", "line": 3, "callee": "a", "callee_kind": "operation", "over": ref("items"), "limit": 2, "bind": None},
            {"step": "map", "line": 4, "callee": "a", "callee_kind": "operation", "over": lit([]), "limit": 1, "bind": "none"},
            {"step": "return", "line": 5, "value": ref("none")},
        ]
    )
    ir["operations"][0]["outcomes"] = [{"returns": "a1"}, {"returns": "a2"}, {"returns": "a3"}]
    ir["operations"][1]["latency"] = 0
    ir["operations"][1]["outcomes"] = [{"returns": 2}]
    assert body(compile_program(ir)).splitlines()[1:] == [
        "    item = await b()",
        "    items = [1, item, 3]",
        "    semaphore = asyncio.Semaphore(2)",
        "",
        "    async def limited(item_2):",
        "        async with semaphore:",
        "            return await a(item_2)",
        "",
        "    await asyncio.gather(*(limited(item_2) for item_2 in items))",
        "    semaphore = asyncio.Semaphore(1)",
        "",
        "    async def limited(item_2):",
        "        async with semaphore:",
        "            return await a(item_2)",
        "",
        "    none = await asyncio.gather(*(limited(item_2) for item_2 in []))",
        "    return none",
    ]
    result, trace = run(ir)
    assert result == {"returns": []}
    # a(3) waits for a slot; a(1) and a(2) end in one batch at 1 ms, then a(3) starts.
    assert (
        trace
        == """\
0 start b()
0 end b -> 2
0 start a(1)
0 start a(2)
1 end a -> "a1"
1 end a -> "a2"
1 start a(3)
2 end a -> "a3"
2 return []
"""
    )


# -- queues -----------------------------------------------------------------------------
#   queues: {jobs: {size: 1}}
#   producer: repeat 4 as n: [put: jobs, value: $n], log "put {n}"; return "produced"
#   consumer: repeat 4: [get: jobs, as: job], log "got {job}", sleep 10; return "consumed"
#   main: all [producer, consumer] as results; return $results


def test_queue_program():
    program = compile_program(load("queue-backpressure"))
    operations_end = program.index("log = world.log\n") + len("log = world.log\n")
    assert program[operations_end : program.index("async def")] == "\njobs = asyncio.Queue(maxsize=1)\n\n\n"
    assert (
        body(program)
        == """\
async def producer():
    for n in range(4):
        await jobs.put(n)
        log(f"put {n}")
    return "produced"


async def consumer():
    for _ in range(4):
        job = await jobs.get()
        log(f"got {job}")
        await asyncio.sleep(0.01)
    return "consumed"


async def main():
    results = await asyncio.gather(producer(), consumer())
    return results
"""
    )


def test_a_full_queue_holds_the_producer_until_the_consumer_takes():
    # 0: the producer puts 0 (the queue has room) and waits to put 1; the consumer takes
    # 0, which wakes the producer, and sleeps; the producer puts 1 and waits to put 2.
    # Each later get (10, 20, 30) frees the slot for the next put at the same instant.
    result, trace = run("queue-backpressure")
    assert result == {"returns": ["produced", "consumed"]}
    assert (
        trace
        == """\
0 log "put 0"
0 log "got 0"
0 log "put 1"
10 log "got 1"
10 log "put 2"
20 log "got 2"
20 log "put 3"
30 log "got 3"
40 return ["produced","consumed"]
"""
    )


def test_an_unbounded_queue_and_a_get_without_a_name():
    ir = minimal(
        [
            {"step": "put", "line": 1, "queue": "inbox", "value": lit("hi")},
            {"step": "get", "line": 2, "queue": "inbox", "bind": None},
            {"step": "put", "line": 3, "queue": "jobs", "value": lit(1)},
            {"step": "get", "line": 4, "queue": "jobs", "bind": "job"},
            {"step": "return", "line": 5, "value": ref("job")},
        ],
        queues=[{"name": "inbox", "size": None}, {"name": "jobs", "size": 2}],
    )
    program = compile_program(ir)
    assert "\ninbox = asyncio.Queue(maxsize=0)  # unbounded\njobs = asyncio.Queue(maxsize=2)\n" in program
    assert body(program).splitlines()[1:] == [
        '    await inbox.put("hi")',
        "    await inbox.get()",
        "    await jobs.put(1)",
        "    job = await jobs.get()",
        "    return job",
    ]
    assert run(ir) == ({"returns": 1}, "0 return 1\n")


def test_a_get_from_an_empty_queue_with_nothing_else_to_run_is_a_deadlock():
    ir = minimal([{"step": "get", "line": 1, "queue": "jobs", "bind": "job"}], queues=[{"name": "jobs", "size": 1}])
    outcome = target.run(ir)
    assert outcome["status"] == "deadlock"
    assert outcome["message"].startswith(
        "deadlock: scenario 't' has not settled at 0 ms and no timer is pending; pending: main (line "
    )


# -- the rest of asyncio.Queue (issue 10) --------------------------------------------------


def _nowait_ir() -> dict:
    catch_empty = {
        "kinds": ["QueueEmpty"],
        "bind": "error",
        "body": [{"step": "log", "line": 5, "message": ref("error", "kind")}],
    }
    return minimal(
        [
            {"step": "put_nowait", "line": 1, "queue": "jobs", "value": lit("a")},
            {
                "step": "try",
                "line": 2,
                "body": [{"step": "put_nowait", "line": 3, "queue": "jobs", "value": lit("b")}],
                "catch": {"kinds": ["QueueFull"], "bind": None, "body": [{"step": "log", "line": 3, "message": lit("full")}]},
                "finally": None,
            },
            {"step": "get_nowait", "line": 4, "queue": "jobs", "bind": "job"},
            {"step": "task_done", "line": 4, "queue": "jobs"},
            {"step": "join", "line": 4, "queue": "jobs"},
            {
                "step": "try",
                "line": 5,
                "body": [{"step": "get_nowait", "line": 5, "queue": "jobs", "bind": None}],
                "catch": catch_empty,
                "finally": None,
            },
            {"step": "return", "line": 6, "value": ref("job")},
        ],
        queues=[{"name": "jobs", "size": 1}],
        errors=["QueueFull", "QueueEmpty"],
    )


def test_nowait_steps_are_asyncio_queue_methods_and_its_errors_are_asyncios_classes():
    program = compile_program(_nowait_ir())
    assert "world.error_kind" not in program  # asyncio.QueueFull and QueueEmpty, not scenario classes
    assert body(program).splitlines()[1:] == [
        '    jobs.put_nowait("a")',
        "    try:",
        '        jobs.put_nowait("b")',
        "    except asyncio.QueueFull:",
        '        log("full")',
        "    job = jobs.get_nowait()",
        "    jobs.task_done()",
        "    await jobs.join()",
        "    try:",
        "        jobs.get_nowait()",
        "    except asyncio.QueueEmpty as error:",
        "        log(type(error).__name__)",  # asyncio's class has no .kind
        "    return job",
    ]
    assert run(_nowait_ir()) == ({"returns": "a"}, '0 log "full"\n0 log "QueueEmpty"\n0 return "a"\n')


def test_task_done_too_often_ends_the_run_with_asyncios_value_error():
    ir = minimal([{"step": "task_done", "line": 1, "queue": "jobs"}], queues=[{"name": "jobs", "size": None}])
    outcome = target.run(ir)
    assert outcome["result"] == {"throws": {"kind": "ValueError", "message": "task_done() called too many times"}}


def test_shutdown_and_a_catch_of_queue_shut_down_need_cpython_3_13():
    shut = minimal([{"step": "shutdown", "line": 1, "queue": "jobs"}], queues=[{"name": "jobs", "size": None}])
    program = compile_program(shut)
    assert body(program).splitlines()[1:] == ["    jobs.shutdown()"]
    assert target.compile_target(shut, "python").features == {"asyncio.Queue.shutdown": (3, 13)}
    caught = minimal(
        [
            {
                "step": "try",
                "line": 1,
                "body": [{"step": "get", "line": 1, "queue": "jobs", "bind": None}],
                "catch": {"kinds": ["QueueShutDown"], "bind": None, "body": [{"step": "log", "line": 1, "message": lit("x")}]},
                "finally": None,
            }
        ],
        queues=[{"name": "jobs", "size": None}],
        errors=["QueueShutDown"],
    )
    assert "    except asyncio.QueueShutDown:" in compile_program(caught)
    assert target.compile_target(caught, "python").features == {"asyncio.Queue.shutdown": (3, 13)}
    outcome = target.run(shut)
    if sys.version_info >= (3, 13):
        assert outcome["status"] == "settled"
    else:
        assert outcome["status"] == "skipped"
        assert outcome["message"].startswith("python needs CPython 3.13 or later (asyncio.Queue.shutdown)")


def test_an_operation_failing_with_a_queue_kind_is_caught_as_asyncios_class():
    world = World("queue-kind")
    kind = world.error_kind("QueueEmpty")
    assert issubclass(kind, asyncio.QueueEmpty)
    empty = world.operation("empty", latency=5, outcomes=[{"fails": {"kind": "QueueEmpty", "message": "none"}}])

    async def main():
        try:
            await empty()
        except asyncio.QueueEmpty as caught:
            return str(caught)

    assert format_trace(world.run(main)["trace"]) == '0 start empty()\n5 fail empty QueueEmpty("none")\n5 return "none"\n'


# -- events (issue 10) --------------------------------------------------------------------


def test_events_are_module_level_asyncio_events_and_wake_their_waiters_in_order():
    waiter = [
        {"step": "log", "line": 1, "message": lit("waits")},
        {"step": "wait_event", "line": 2, "event": "ready"},
        {"step": "log", "line": 3, "message": ref("name")},
    ]
    ir = minimal(
        [
            {"step": "start", "line": 4, "call": call("waiter", lit("a")), "bind": "first"},
            {"step": "start", "line": 5, "call": call("waiter", lit("b")), "bind": "second"},
            {"step": "sleep", "line": 6, "ms": 5},
            {"step": "is_set", "line": 7, "event": "ready", "bind": "before"},
            {"step": "set_event", "line": 8, "event": "ready"},
            {"step": "await", "line": 9, "handle": "first", "bind": None},
            {"step": "await", "line": 10, "handle": "second", "bind": None},
            {"step": "clear_event", "line": 11, "event": "ready"},
            {"step": "return", "line": 12, "value": ref("before")},
        ],
        events=[{"name": "ready"}],
        functions=[{"name": "waiter", "params": ["name"], "body": waiter}],
    )
    program = compile_program(ir)
    assert "\nready = asyncio.Event()\n" in program
    assert body(program).splitlines()[-7:] == [
        "    await asyncio.sleep(0.005)",
        "    before = ready.is_set()",
        "    ready.set()",
        "    await first",
        "    await second",
        "    ready.clear()",
        "    return before",
    ]
    assert '    log("waits")\n    await ready.wait()\n    log(name)\n' in program
    assert run(ir) == ({"returns": False}, '0 log "waits"\n0 log "waits"\n5 log "a"\n5 log "b"\n5 return false\n')


# -- for_each in the aclosing idiom (issue 10) ----------------------------------------------


def test_a_for_each_in_the_aclosing_idiom_closes_its_generator_at_the_break():
    gen_body = [
        {
            "step": "try",
            "line": 1,
            "body": [{"step": "yield", "line": 2, "value": lit(1)}, {"step": "yield", "line": 3, "value": lit(2)}],
            "catch": None,
            "finally": [{"step": "log", "line": 4, "message": lit("closed")}],
        }
    ]
    loop = {
        "step": "for_each",
        "line": 5,
        "call": call("numbers"),
        "bind": "n",
        "body": [{"step": "break", "line": 6}],
    }

    def scenario_with(idiom: str | None) -> dict:
        step = dict(loop, idiom=idiom) if idiom else dict(loop)
        return minimal(
            [step, {"step": "log", "line": 7, "message": lit("after")}, {"step": "return", "line": 8, "value": lit(0)}],
            functions=[{"name": "numbers", "params": [], "body": gen_body, "generator": True}],
        )

    program = compile_program(scenario_with("aclosing"))
    assert "\nimport contextlib\n" in program
    main = body(program)[body(program).index("async def main():") :]
    assert main.splitlines()[1:4] == [
        "    async with contextlib.aclosing(numbers()) as values:",
        "        async for n in values:",
        "            break",
    ]
    assert run(scenario_with("aclosing"))[1] == '0 log "closed"\n0 log "after"\n0 return 0\n'
    plain = compile_program(scenario_with(None))
    assert "contextlib" not in plain
    assert run(scenario_with(None))[1] == '0 log "after"\n0 return 0\n0 log "closed"\n'  # closed by the finalizer, later


# -- locks (issue 10) ---------------------------------------------------------------------


def test_locks_are_module_level_asyncio_locks_held_with_async_with_first_come_first_served():
    writer = [
        {
            "step": "hold",
            "line": 1,
            "sync": "guard",
            "body": [
                {"step": "log", "line": 2, "message": ref("name")},
                {"step": "await", "line": 3, "call": call("a"), "bind": None},
            ],
        },
    ]
    ir = minimal(
        [
            {"step": "start", "line": 4, "call": call("writer", lit("x")), "bind": "first"},
            {"step": "start", "line": 5, "call": call("writer", lit("y")), "bind": "second"},
            {"step": "await", "line": 6, "handle": "first", "bind": None},
            {"step": "await", "line": 7, "handle": "second", "bind": None},
            {"step": "return", "line": 8, "value": lit("done")},
        ],
        locks=[{"name": "guard"}],
        functions=[{"name": "writer", "params": ["name"], "body": writer}],
    )
    program = compile_program(ir)
    assert "\nguard = asyncio.Lock()\n" in program
    assert "async def writer(name):\n    async with guard:\n        log(name)\n        await a()\n" in program
    # One at a time, in the order they asked: y writes once x's call has ended.
    assert run(ir) == (
        {"returns": "done"},
        '0 log "x"\n0 start a()\n1 end a -> 1\n1 log "y"\n1 start a()\n2 end a -> 1\n2 return "done"\n',
    )


def test_semaphores_are_module_level_asyncio_semaphores_held_with_async_with():
    call_one = [
        {
            "step": "hold",
            "line": 1,
            "sync": "slots",
            "body": [
                {"step": "log", "line": 2, "message": ref("name")},
                {"step": "await", "line": 3, "call": call("a"), "bind": None},
            ],
        },
    ]
    ir = minimal(
        [
            {"step": "start", "line": 4, "call": call("one", lit("x")), "bind": "first"},
            {"step": "start", "line": 5, "call": call("one", lit("y")), "bind": "second"},
            {"step": "start", "line": 6, "call": call("one", lit("z")), "bind": "third"},
            {"step": "await", "line": 7, "handle": "first", "bind": None},
            {"step": "await", "line": 8, "handle": "second", "bind": None},
            {"step": "await", "line": 9, "handle": "third", "bind": None},
            {"step": "return", "line": 10, "value": lit("done")},
        ],
        semaphores=[{"name": "slots", "value": 2}],
        functions=[{"name": "one", "params": ["name"], "body": call_one}],
    )
    program = compile_program(ir)
    assert "\nslots = asyncio.Semaphore(2)\n" in program
    assert "async def one(name):\n    async with slots:\n" in program
    # Two at once; the third when a slot is free.
    assert (
        run(ir)[1]
        == '0 log "x"\n0 start a()\n0 log "y"\n0 start a()\n1 end a -> 1\n1 end a -> 1\n1 log "z"\n1 start a()\n2 end a -> 1\n2 return "done"\n'
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda ir: ir["main"].append({"step": "put", "line": 1, "queue": "nope", "value": lit(1)}),
            "main: 'nope' is not a queue of the scenario",
        ),
        (
            lambda ir: ir["main"].append({"step": "get", "line": 1, "queue": "jobs", "bind": "jobs"}),
            "main: 'jobs' would shadow the queue of that name",
        ),
        (lambda ir: ir["queues"].append({"name": "a", "size": 1}), "'a' is a queue and an operation or function"),
        (lambda ir: ir["queues"].append({"name": "q", "size": 0}), "queue 'q': size is an integer >= 1 or null, not 0"),
        (
            lambda ir: ir["main"].append(
                {"step": "map", "line": 7, "callee": "a", "callee_kind": "operation", "over": lit([1]), "limit": 0, "bind": None}
            ),
            "main: line 7: a map limit is an integer >= 1, not 0",
        ),
        (
            lambda ir: ir["main"].append(
                {
                    "step": "map",
                    "line": 7,
                    "callee": "zzz",
                    "callee_kind": "operation",
                    "over": lit([1]),
                    "limit": 1,
                    "bind": None,
                }
            ),
            "main: 'zzz' is neither an operation nor a function",
        ),
        (
            lambda ir: ir["main"].append({"step": "set", "line": 1, "bind": "a", "value": lit(1)}),
            "main: 'a' would shadow the operation or function of that name",
        ),
        (
            lambda ir: ir["main"].append({"step": "hold", "line": 1, "sync": "nope", "body": []}),
            "main: 'nope' is not a lock or semaphore of the scenario",
        ),
        (lambda ir: ir.update(locks=[{"name": "jobs"}]), "'jobs' is a lock and an operation, function, queue, resource or event"),
        (
            lambda ir: ir.update(locks=[{"name": "guard"}], semaphores=[{"name": "guard", "value": 2}]),
            "'guard' is a semaphore and an operation, function, queue, resource, event or lock",
        ),
        (lambda ir: ir.update(semaphores=[{"name": "slots", "value": 0}]), "semaphore 'slots': value is an integer >= 1, not 0"),
        (
            lambda ir: (
                ir.update(locks=[{"name": "guard"}]),
                ir["main"].append({"step": "set", "line": 1, "bind": "guard", "value": lit(1)}),
            ),
            "main: 'guard' would shadow the lock of that name",
        ),
    ],
)
def test_ir_the_compiler_cannot_trust_is_a_value_error(change, message):
    ir = minimal([], queues=[{"name": "jobs", "size": 1}])
    change(ir)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        compile_program(ir)
