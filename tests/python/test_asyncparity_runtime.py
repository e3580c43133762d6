"""The virtual-time runtime (python/asyncparity_runtime.py), driven from plain sync tests.

Each test builds a World, writes a small ``main`` by hand and checks the exact outcome:
the canonical trace text, the status, the message. The virtual loop is never run on
pytest-asyncio's loop; the one async test checks that ``World.run`` leaves a running
loop as it found it.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
import sys
import time
import warnings
from asyncio import events

import pytest

from asyncparity_runtime import DEFAULT_LIMITS, ScenarioError, VirtualTimeLoop, World, format_trace


def trace(outcome: dict) -> str:
    return format_trace(outcome["trace"])


def run_source(source: str, scenario_id: str, limits: dict | None = None) -> dict:
    """Run ``main`` from a small program text (its own file name, so deadlock lines are exact)."""
    world = World(scenario_id, limits=limits)
    namespace = {"asyncio": asyncio, "world": world, "log": world.log}
    exec(compile(source, f"<{scenario_id}>", "exec"), namespace)
    return world.run(namespace["main"])


# -- timers: ties, zero delays, quiescence ------------------------------------------------


def test_eight_timers_at_one_instant_fire_first_scheduled_first():
    world = World("ties")
    log = world.log

    async def sleeper(i):
        await asyncio.sleep(0.005)
        log(f"sleeper {i}")

    async def main():
        loop = asyncio.get_running_loop()
        for i in range(8):
            loop.call_at(0.005, log, i)
        await asyncio.gather(*(sleeper(i) for i in range(8)))

    outcome = world.run(main)
    assert trace(outcome) == (
        "".join(f"5 log {i}\n" for i in range(8))
        + "".join(f'5 log "sleeper {i}"\n' for i in range(8))
        + "5 return null\n"
    )


def test_asyncio_own_timer_heap_orders_ties_arbitrarily():
    # Why the loop keeps its own heap: TimerHandles compare by `when` alone, so heapq
    # returns eight equal deadlines in this order (the same on CPython 3.9 to 3.13).
    loop = VirtualTimeLoop()
    try:
        heap: list = []
        for i in range(8):
            heapq.heappush(heap, events.TimerHandle(1.0, print, (i,), loop))
        assert [heapq.heappop(heap)._args[0] for _ in range(8)] == [0, 2, 6, 5, 7, 4, 1, 3]
    finally:
        loop.close()


def test_zero_ms_timer_fires_before_a_one_ms_timer_scheduled_first():
    # Node clamps setTimeout(f, 0) to 1 ms, so there f would run after a 1 ms timer
    # scheduled before it; on the kit's clock 0 means now.
    world = World("zero-vs-one")

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.001, world.log, "1 ms")
        loop.call_later(0, world.log, "0 ms")
        await asyncio.sleep(0.002)

    assert trace(world.run(main)) == '0 log "0 ms"\n1 log "1 ms"\n2 return null\n'


def test_time_advances_only_at_quiescence():
    # A timer due now waits until nothing else is ready (stock asyncio would run it
    # after the callbacks of the current iteration, between the sleep(0) turns).
    world = World("quiescence")
    log = world.log

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0, log, "timer due at 0 ms")
        for i in range(3):
            await asyncio.sleep(0)  # a bare yield: one turn, no timer
            log(f"turn {i}")
        await asyncio.sleep(0.03)
        log(loop.time())

    outcome = world.run(main)
    assert trace(outcome) == (
        '0 log "turn 0"\n0 log "turn 1"\n0 log "turn 2"\n0 log "timer due at 0 ms"\n'
        "30 log 0.03\n30 return null\n"
    )
    assert outcome["stats"] == {"virtual_time": 30, "timer_firings": 2, "max_turns_per_instant": 5}


def test_an_operation_of_latency_zero_is_a_timer_at_now():
    world = World("latency-zero")
    log = world.log
    instant = world.operation("instant", latency=0, outcomes=[{"returns": "now"}])

    async def spin():
        for i in range(3):
            await asyncio.sleep(0)
            log(f"spin {i}")

    async def main():
        return await asyncio.gather(instant(), spin())

    assert trace(world.run(main)) == (
        '0 start instant()\n0 log "spin 0"\n0 log "spin 1"\n0 log "spin 2"\n'
        '0 end instant -> "now"\n0 return ["now",null]\n'
    )


def test_sleep_deadlines_are_whole_milliseconds_without_float_drift():
    world = World("drift")

    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(3):
            await asyncio.sleep(0.03)  # 0.06 + 0.03 == 0.09000000000000001 in floats
        handle = loop.call_later(0.1, print)
        handle.cancel()
        return [loop.time(), handle.when()]

    outcome = world.run(main)
    assert outcome["result"] == {"returns": [0.09, 0.19]}
    assert outcome["stats"]["virtual_time"] == 90


# -- deadlock and runaway -------------------------------------------------------------------


def test_deadlock_is_reported_at_once_with_what_each_task_awaits():
    source = (
        "async def stuck(future):\n"
        "    await future\n"
        "\n"
        "async def main():\n"
        "    future = asyncio.get_running_loop().create_future()\n"
        "    await asyncio.sleep(0.02)\n"
        "    await asyncio.create_task(stuck(future))\n"
    )
    started = time.monotonic()
    outcome = run_source(source, "stuck")
    assert time.monotonic() - started < 5
    assert outcome == {
        "status": "deadlock",
        "result": None,
        "trace": [],
        "message": "deadlock: scenario 'stuck' has not settled at 20 ms and no timer is pending; "
                   "pending: main (line 7) awaits the task of stuck, stuck (line 2) awaits a Future",
        "stats": {"virtual_time": 20, "timer_firings": 1, "max_turns_per_instant": 3},
    }


def test_deadlock_message_names_kit_coroutines_without_lines():
    world = World("never")

    async def main():
        await asyncio.wait([asyncio.get_running_loop().create_future()])

    outcome = world.run(main)
    assert outcome["message"] == (
        "deadlock: scenario 'never' has not settled at 0 ms and no timer is pending; "
        f"pending: main (line {main.__code__.co_firstlineno + 1}) -> wait -> _wait awaits a Future"
    )


def test_runaway_timer_firings():
    world = World("ticker", limits={"timer_firings": 5})

    async def main():
        while True:
            await asyncio.sleep(0.001)

    outcome = world.run(main)
    assert outcome["status"] == "runaway"
    assert outcome["result"] is None
    assert outcome["message"] == "runaway: scenario 'ticker' passed 5 timer firings"
    assert outcome["stats"] == {"virtual_time": 5, "timer_firings": 5, "max_turns_per_instant": 2}


def test_default_limits():
    assert DEFAULT_LIMITS == {"virtual_time": 3600000, "timer_firings": 10000, "turns_per_instant": 1000}
    world = World("ticker")

    async def main():
        while True:
            await asyncio.sleep(0.001)

    outcome = world.run(main)
    assert outcome["message"] == "runaway: scenario 'ticker' passed 10000 timer firings"
    assert outcome["stats"]["virtual_time"] == 10000


def test_runaway_virtual_time():
    world = World("late")
    log = world.log

    async def main():
        await asyncio.sleep(3600)  # exactly the bound: allowed
        log("an hour")
        await asyncio.sleep(0.001)

    outcome = world.run(main)
    assert trace(outcome) == '3600000 log "an hour"\n'
    assert outcome["status"] == "runaway"
    assert outcome["message"] == "runaway: scenario 'late' passed virtual time 3600000 ms"
    assert outcome["stats"]["virtual_time"] == 3600000


def test_runaway_turns_per_instant():
    world = World("busy")

    async def main():
        await asyncio.sleep(0.03)
        while True:
            await asyncio.sleep(0)

    outcome = world.run(main)
    assert outcome["status"] == "runaway"
    assert outcome["message"] == "runaway: scenario 'busy' passed 1000 turns at 30 ms"
    assert outcome["stats"] == {"virtual_time": 30, "timer_firings": 1, "max_turns_per_instant": 1000}


def test_limits_are_checked():
    with pytest.raises(ValueError, match="unknown limit 'virtual_tim'"):
        World("x", limits={"virtual_tim": 5})
    with pytest.raises(ValueError, match="non-negative integer"):
        World("x", limits={"timer_firings": -1})


# -- the settle, and what happens after it --------------------------------------------------


def test_gather_failure_settles_at_once_and_the_sibling_ends_after_the_throw():
    world = World("gather-fails")
    IOError = world.error_kind("IOError")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "boom"}}])

    async def main():
        return await asyncio.gather(slow(), boom())

    outcome = world.run(main)
    assert trace(outcome) == (
        '0 start slow()\n0 start boom()\n10 fail boom IOError("boom")\n10 throw IOError("boom")\n'
        '30 end slow -> "slow"\n'
    )
    assert outcome["status"] == "settled"
    assert outcome["result"] == {"throws": {"kind": "IOError", "message": "boom"}}
    assert issubclass(IOError, ScenarioError)


def test_race_loser_ends_after_the_return():
    world = World("race")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])
    fast = world.operation("fast", latency=10, outcomes=[{"returns": "fast"}])

    async def main():
        tasks = [asyncio.create_task(slow()), asyncio.create_task(fast())]
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done.pop().result()

    outcome = world.run(main)
    assert trace(outcome) == (
        '0 start slow()\n0 start fast()\n10 end fast -> "fast"\n10 return "fast"\n30 end slow -> "slow"\n'
    )
    assert outcome["stats"]["virtual_time"] == 30


def test_a_race_loser_failing_after_the_settle_is_unhandled_but_a_gather_sibling_is_not():
    # asyncio.wait never retrieves the losers' exceptions (Promise.race does handle
    # them: a declared divergence); gather marks later child failures retrieved, as
    # Promise.all handles later rejections.
    world = World("late-failures")
    world.error_kind("IOError")
    fast = world.operation("fast", latency=10, outcomes=[{"returns": "fast"}])
    slow_fail = world.operation("slow_fail", latency=30, outcomes=[{"fails": {"kind": "IOError", "message": "late"}}])
    fast_fail = world.operation("fast_fail", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "first"}}])

    async def main():
        tasks = [asyncio.create_task(fast()), asyncio.create_task(slow_fail())]
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        try:
            await asyncio.gather(fast_fail(), slow_fail())
        except ScenarioError as error:
            return [done.pop().result(), error.message]

    assert trace(world.run(main)) == (
        "0 start fast()\n0 start slow_fail()\n10 end fast -> \"fast\"\n"
        "10 start fast_fail()\n10 start slow_fail()\n20 fail fast_fail IOError(\"first\")\n"
        '20 return ["fast","first"]\n'
        '30 fail slow_fail IOError("late")\n30 unhandled IOError("late")\n'
        '40 fail slow_fail IOError("late")\n'
    )


def test_never_retrieved_task_exception_is_recorded_as_unhandled_at_quiescence(caplog):
    world = World("orphan")
    world.error_kind("IOError")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        asyncio.create_task(boom())  # fire and forget: nobody retrieves its exception
        await asyncio.sleep(0.05)
        return "done"

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        outcome = world.run(main)
        gc.collect()
    assert trace(outcome) == (
        '0 start boom()\n10 fail boom IOError("x")\n10 unhandled IOError("x")\n50 return "done"\n'
    )
    assert caplog.records == []  # marked retrieved: asyncio logs nothing at GC


def test_unhandled_after_the_settle_follows_the_return():
    world = World("orphan-late")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "late"}}])

    async def main():
        asyncio.create_task(boom())
        return None

    assert trace(world.run(main)) == (
        '0 return null\n0 start boom()\n10 fail boom IOError("late")\n10 unhandled IOError("late")\n'
    )


def test_a_failure_retrieved_after_quiescence_is_still_reported_unhandled_first():
    # Like a JS promise rejected with no handler yet: reported at the quiescence point
    # after the failure; awaiting the task later still raises.
    world = World("late-await")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        task = asyncio.create_task(boom())
        await asyncio.sleep(0.02)
        await task

    assert trace(world.run(main)) == (
        '0 start boom()\n10 fail boom IOError("x")\n10 unhandled IOError("x")\n20 throw IOError("x")\n'
    )


def test_the_same_run_twice_gives_the_same_outcome():
    world = World("twice")
    log = world.log
    flaky = world.operation("flaky", latency=5, outcomes=[
        {"fails": {"kind": "IOError", "message": "no"}}, {"returns": 1}])
    IOError = world.error_kind("IOError")

    async def worker(n):
        await asyncio.sleep(0.001 * n)
        log(n)

    async def main():
        for _ in range(2):
            try:
                return await flaky()
            except IOError as error:
                await asyncio.gather(*(worker(n) for n in range(5, 0, -1)))
                log(error.message)

    first, second = world.run(main), world.run(main)
    assert first == second
    assert trace(first) == (
        '0 start flaky()\n5 fail flaky IOError("no")\n6 log 1\n7 log 2\n8 log 3\n9 log 4\n10 log 5\n'
        '10 log "no"\n10 start flaky()\n15 end flaky -> 1\n15 return 1\n'
    )


# -- operations, errors, results -------------------------------------------------------------


def test_operation_outcomes_are_consumed_in_order_and_the_last_repeats():
    world = World("outcomes")
    world.error_kind("IOError")
    fetch = world.operation("fetch", latency=1, outcomes=[
        {"fails": {"kind": "IOError", "message": "first"}}, {"returns": {"items": [1]}}])

    async def main():
        results = []
        for _ in range(3):
            try:
                value = await fetch(len(results))
                value["items"].append("mutated")  # the caller's copy only
                results.append(value)
            except ScenarioError as error:
                results.append(error.message)
        return results

    outcome = world.run(main)
    assert trace(outcome) == (
        '0 start fetch(0)\n1 fail fetch IOError("first")\n1 start fetch(1)\n2 end fetch -> {"items":[1]}\n'
        '2 start fetch(2)\n3 end fetch -> {"items":[1]}\n'
        '3 return ["first",{"items":[1,"mutated"]},{"items":[1,"mutated"]}]\n'
    )


def test_an_operation_starts_when_its_coroutine_first_runs():
    world = World("lazy")
    log = world.log
    download = world.operation("download", latency=30, outcomes=[{"returns": "data"}])

    async def main():
        task = asyncio.create_task(download("u"))
        log("started")
        return await task

    assert trace(world.run(main)) == (
        '0 log "started"\n0 start download("u")\n30 end download -> "data"\n30 return "data"\n'
    )


def test_error_kinds_are_cached_scenario_error_classes():
    world = World("kinds")
    io_error = world.error_kind("IOError")
    assert world.error_kind("IOError") is io_error
    assert io_error.__name__ == "IOError" and io_error.kind == "IOError"
    error = io_error("connection reset")
    assert (error.kind, error.message, str(error)) == ("IOError", "connection reset", "connection reset")
    assert repr(error) == "IOError('connection reset')"
    assert io_error(42).message == "42"
    assert ScenarioError("plain").message == "plain"
    with pytest.raises(ValueError, match=r"^an error kind is an identifier, not 'not a kind'$"):
        world.error_kind("not a kind")


def test_errors_that_are_not_scenario_errors_report_their_class_name():
    world = World("type-error")

    async def main():
        return 1 < "2"

    outcome = world.run(main)
    assert outcome["result"] == {"throws": {"kind": "TypeError",
                                            "message": "'<' not supported between instances of 'int' and 'str'"}}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
def test_an_exception_group_reports_its_members():
    world = World("group")
    io_error = world.error_kind("IOError")

    async def main():
        raise ExceptionGroup("two failed", [io_error("a"), ValueError("b")])  # noqa: F821 - 3.11+

    outcome = world.run(main)
    assert outcome["result"] == {"throws": {"kind": "ExceptionGroup", "message": "two failed", "errors": [
        {"kind": "IOError", "message": "a"}, {"kind": "ValueError", "message": "b"}]}}
    assert trace(outcome) == '0 throw ExceptionGroup("two failed", [IOError("a"), ValueError("b")])\n'


def test_wait_for_cancels_the_operation_at_its_deadline():
    world = World("wait-for")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])

    async def main():
        await asyncio.wait_for(slow(), 0.01)

    outcome = world.run(main)
    # The operation records its cancellation (spec/PROTOCOL.md, the `cancel` event).
    assert trace(outcome) == '0 start slow()\n10 cancel slow\n10 throw TimeoutError("")\n'
    assert outcome["stats"]["virtual_time"] == 10  # the cancelled 30 ms timer never fired


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")
def test_asyncio_timeout_runs_on_the_virtual_clock():
    world = World("timeout")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])

    async def main():
        async with asyncio.timeout(0.01):  # asyncio.timeout exists from 3.11
            await slow()

    assert trace(world.run(main)) == '0 start slow()\n10 cancel slow\n10 throw TimeoutError("")\n'


def test_an_exception_escaping_a_callback_is_a_crash():
    world = World("callback")

    async def main():
        asyncio.get_running_loop().call_soon(int, "not a number")
        await asyncio.sleep(0.01)

    outcome = world.run(main)
    assert outcome["status"] == "crash"
    assert outcome["result"] is None
    assert outcome["message"].startswith("crash: scenario 'callback': exception in callback <Handle int(")
    assert outcome["message"].endswith("ValueError: invalid literal for int() with base 10: 'not a number'")


def test_log_and_operations_belong_to_a_running_world():
    world = World("idle")
    fetch = world.operation("fetch", latency=1)
    with pytest.raises(RuntimeError, match="log\\(\\) belongs to scenario 'idle'"):
        world.log("x")
    coroutine = fetch()
    with pytest.raises(RuntimeError, match="fetch\\(\\) belongs to scenario 'idle'"):
        coroutine.send(None)
    coroutine.close()
    with pytest.raises(ValueError, match="latency"):
        world.operation("bad", latency=-1)


# -- clean-up, warnings, global state --------------------------------------------------------


def test_no_warning_or_log_leaks_after_deadlock_runaway_or_leftovers(caplog):
    world = World("messy", limits={"turns_per_instant": 50})
    cleanup = world.operation("cleanup", latency=5)
    boom = world.operation("boom", latency=0, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def careful():
        try:
            await asyncio.sleep(10)
        finally:
            await cleanup()  # runs again while being cancelled: cancelled again

    async def noop():
        pass

    async def main():
        asyncio.create_task(careful())
        asyncio.create_task(boom())
        await asyncio.sleep(0.001)
        while True:
            asyncio.create_task(noop())  # some never get to start before the runaway
            await asyncio.sleep(0)

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, logger="asyncio"):
        warnings.simplefilter("always")
        outcome = world.run(main)
        gc.collect()
    assert outcome["message"] == "runaway: scenario 'messy' passed 50 turns at 1 ms"
    assert trace(outcome) == '0 start boom()\n0 fail boom IOError("x")\n0 unhandled IOError("x")\n'
    assert [str(w.message) for w in caught] == []
    assert caplog.records == []


def test_run_restores_no_running_loop_and_sets_no_event_loop():
    assert events._get_running_loop() is None
    world = World("restore")

    async def main():
        return asyncio.get_running_loop().__class__.__name__

    assert world.run(main)["result"] == {"returns": "VirtualTimeLoop"}
    assert events._get_running_loop() is None


@pytest.mark.asyncio
async def test_run_inside_a_running_loop_restores_it():
    outer = asyncio.get_running_loop()
    world = World("nested")
    slow = world.operation("slow", latency=1000, outcomes=[{"returns": 1}])

    async def main():
        return await slow()

    outcome = world.run(main)  # synchronous: a second of virtual time, no real waiting
    assert outcome["result"] == {"returns": 1}
    assert asyncio.get_running_loop() is outer
    await asyncio.sleep(0)  # the outer loop still works


def test_a_world_cannot_run_inside_its_own_run():
    world = World("reentrant")

    async def main():
        world.run(main)

    outcome = world.run(main)
    assert outcome["result"] == {"throws": {"kind": "RuntimeError",
                                            "message": "scenario 'reentrant' is already running"}}


# -- canonical text and run_and_print ---------------------------------------------------------


def test_format_trace_writes_each_event_kind_exactly():
    events_ = [
        {"t": 0, "event": "start", "op": "download_data", "args": ["u", 1, 2.0, 2.5, None, True, {"a": [1.0]}]},
        {"t": 0, "event": "start", "op": "no_args", "args": []},
        {"t": 30, "event": "end", "op": "download_data", "value": "x"},
        {"t": 30, "event": "fail", "op": "download_data", "error": {"kind": "IOError", "message": "connection reset"}},
        {"t": 30, "event": "log", "message": "got it"},
        {"t": 30, "event": "log", "message": 'quote " back \\ nl \n tab \t nul \x00 é \u2028 \ud800'},
        {"t": 30, "event": "unhandled", "error": {"kind": "IOError", "message": "boom"}},
        {"t": 60, "event": "return", "value": "processed"},
        {"t": 60.0, "event": "return", "value": [1.0, 1e300, -0.0, 0.1]},
        {"t": 60, "event": "throw", "error": {"kind": "AggregateError", "message": "All promises were rejected",
                                                "errors": [{"kind": "IOError", "message": "a"},
                                                           {"kind": "IOError", "message": "b"}]}},
        {"t": 70, "event": "cancel", "op": "slow"},
        {"t": 80, "event": "teleport", "to": "mars"},  # unknown: shown whole, never dropped
    ]
    assert format_trace(events_) == (
        '0 start download_data("u",1,2,2.5,null,true,{"a":[1]})\n'
        "0 start no_args()\n"
        '30 end download_data -> "x"\n'
        '30 fail download_data IOError("connection reset")\n'
        '30 log "got it"\n'
        '30 log "quote \\" back \\\\ nl \\n tab \\t nul \\u0000 é \u2028 \\ud800"\n'
        '30 unhandled IOError("boom")\n'
        '60 return "processed"\n'
        "60 return [1,1e+300,0,0.1]\n"
        '60 throw AggregateError("All promises were rejected", [IOError("a"), IOError("b")])\n'
        "70 cancel slow\n"
        '80 teleport {"to":"mars"}\n'
    )
    assert format_trace([]) == ""


def test_run_and_print_prints_the_trace_and_the_status(capsysbinary):
    world = World("printed")
    world.error_kind("IOError")
    fetch = world.operation("fetch", latency=10, outcomes=[{"returns": "é"}])

    async def main():
        return await fetch()

    world.run_and_print(main)
    assert capsysbinary.readouterr().out.decode("utf-8") == (
        '0 start fetch()\n10 end fetch -> "é"\n10 return "é"\nsettled\n'
    )

    async def stuck():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(SystemExit) as exit_info:
        world.run_and_print(stuck)
    assert exit_info.value.code == 1
    assert capsysbinary.readouterr().out.decode("utf-8").startswith(
        "deadlock: scenario 'printed' has not settled at 0 ms and no timer is pending; pending: stuck (line ")


# -- settled records, cancellation, TimeoutError, eager tasks --------------------------------


def test_settled_gives_the_all_settled_shape_and_the_trace_writes_reasons_as_error_records():
    world = World("settled")
    io_error = world.error_kind("IOError")
    ok = world.operation("ok", latency=30, outcomes=[{"returns": [1, {"a": None}]}])
    bad = world.operation("bad", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "boom"}}])
    seen = []

    async def main():
        results = world.settled(await asyncio.gather(ok(), bad(), return_exceptions=True))
        seen.append(results)
        world.log({"nested": [results[1]]})
        return results

    outcome = world.run(main)
    (results,) = seen
    assert results[0] == {"status": "fulfilled", "value": [1, {"a": None}]}
    assert results[1]["status"] == "rejected" and type(results[1]["reason"]) is io_error  # the error itself
    rejected = {"status": "rejected", "reason": {"kind": "IOError", "message": "boom"}}
    assert outcome["result"] == {"returns": [{"status": "fulfilled", "value": [1, {"a": None}]}, rejected]}
    assert outcome["trace"][4] == {"t": 30, "event": "log", "message": {"nested": [rejected]}}
    # The failed child waited for the gather to read it: it was never "unhandled".
    assert [event["event"] for event in outcome["trace"]] == ["start", "start", "fail", "end", "log", "return"]


def test_settled_counts_a_cancelled_child_as_rejected():
    cancelled = asyncio.CancelledError()
    assert World.settled(["a", cancelled, None]) == [
        {"status": "fulfilled", "value": "a"}, {"status": "rejected", "reason": cancelled},
        {"status": "fulfilled", "value": None}]


def test_a_failed_task_that_no_gather_waits_for_is_still_unhandled():
    # The gather deferral is for a gather's own children only.
    world = World("not-gathered")
    bad = world.operation("bad", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])
    ok = world.operation("ok", latency=30)

    async def main():
        asyncio.create_task(bad())
        await asyncio.gather(ok(), ok(), return_exceptions=True)

    assert trace(world.run(main)) == (
        '0 start bad()\n0 start ok()\n0 start ok()\n10 fail bad IOError("x")\n10 unhandled IOError("x")\n'
        "30 end ok -> null\n30 end ok -> null\n30 return null\n")


def test_a_cancelled_operation_records_cancel_at_that_instant():
    world = World("cancel")
    slow = world.operation("slow", latency=30)

    async def main():
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.02)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"

    outcome = world.run(main)
    assert trace(outcome) == '0 start slow()\n20 cancel slow\n20 return "cancelled"\n'
    assert outcome["stats"]["virtual_time"] == 20  # its 30 ms timer was dropped


@pytest.mark.parametrize(("limits", "status", "expected"), [
    (None, "deadlock", "0 start slow()\n30 end slow -> null\n"),
    ({"virtual_time": 10}, "runaway", "0 start slow()\n"),
])
def test_the_clean_up_after_a_halt_records_no_cancel(limits, status, expected):
    # After a deadlock or runaway the leftovers are cancelled to unwind them: that is the
    # kit tidying up, not part of the scenario, so no `cancel` event.
    world = World("halted", limits=limits)
    slow = world.operation("slow", latency=30)

    async def main():
        asyncio.create_task(slow())
        await asyncio.get_running_loop().create_future()  # never resolved

    outcome = world.run(main)
    assert outcome["status"] == status
    assert trace(outcome) == expected


def test_timeout_error_kind_is_also_the_builtin_timeout_error():
    world = World("timeout-kind")
    timeout_error = world.error_kind("TimeoutError")
    assert issubclass(timeout_error, ScenarioError) and issubclass(timeout_error, TimeoutError)
    assert not issubclass(world.error_kind("IOError"), OSError)  # only TimeoutError is unshadowed
    error = timeout_error("gateway")
    assert (error.kind, error.message, str(error)) == ("TimeoutError", "gateway", "gateway")
    late = world.operation("late", latency=5, outcomes=[{"fails": {"kind": "TimeoutError", "message": "gateway"}}])

    async def main():
        try:
            await late()
        except TimeoutError as caught:  # the builtin name catches the kind's class
            return caught.message

    assert trace(world.run(main)) == '0 start late()\n5 fail late TimeoutError("gateway")\n5 return "gateway"\n'


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is new in 3.11")
def test_task_group_siblings_are_cancelled_in_call_order():
    world = World("task-group")
    ops = [world.operation(f"op_{i}", latency=50) for i in range(8)]
    bad = world.operation("bad", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        async with asyncio.TaskGroup() as group:
            for op in ops[:4]:
                group.create_task(op())
            group.create_task(bad())
            for op in ops[4:]:
                group.create_task(op())

    for _ in range(5):
        cancelled = [event["op"] for event in world.run(main)["trace"] if event["event"] == "cancel"]
        assert cancelled == [f"op_{i}" for i in range(8)]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="eager_task_factory exists from 3.12")
def test_eager_tasks_before_3_12_is_a_clear_error():
    import platform

    with pytest.raises(RuntimeError) as raised:
        World("eager", eager_tasks=True)
    assert str(raised.value) == ("eager_tasks needs CPython 3.12 or later (asyncio.eager_task_factory); "
                                 f"this is CPython {platform.python_version()}")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is new in 3.12")
def test_eager_tasks_start_an_operation_inside_create_task():
    for eager, expected in [(False, ['0 log "after"', "0 start fetch()"]), (True, ["0 start fetch()", '0 log "after"'])]:
        world = World("eager", eager_tasks=eager)
        fetch = world.operation("fetch", latency=10)

        async def main(world=world, fetch=fetch):
            task = asyncio.create_task(fetch())
            world.log("after")
            await task

        assert trace(world.run(main)).splitlines()[:2] == expected
