"""The runtime (python/asyncparity_runtime.py), driven from plain sync tests.

Each test builds a World, writes a small ``main`` by hand and checks the exact outcome:
the canonical trace text, the status, the message. The virtual loop is never run on
pytest-asyncio's loop; the one async test checks that ``World.run`` leaves a running
loop as it found it.

The tests of the clock's rules also run the same ``main`` under the genuine
``asyncio.run`` with real timers (``World.run(main, real_time=SCALE)``) and check that it
gives the same trace: the rule is CPython's, not the kit's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import heapq
import logging
import sys
import threading
import time
import warnings
from asyncio import events

import pytest

import asyncparity_runtime
from asyncparity_runtime import (
    DEFAULT_LIMITS,
    MAX_EVENTS,
    WALL_CLOCK_SECONDS,
    ScenarioError,
    VirtualTimeLoop,
    World,
    format_trace,
)

SCALE = 10
"""Real milliseconds per virtual millisecond in the real-time runs."""
ATTEMPTS = 3
"""A real-time run whose trace differs is tried again, up to this many runs in all: a
loaded machine can wake a timer late by more than a scaled millisecond."""


def trace(outcome: dict) -> str:
    return format_trace(outcome["trace"])


def virtual_and_real(world: World, main) -> dict:
    """The virtual outcome of ``main``, checked against a real-time run of it: same trace."""
    virtual = world.run(main)
    real = None
    for _ in range(ATTEMPTS):
        real = world.run(main, real_time=SCALE)
        if trace(real) == trace(virtual):
            break
    assert trace(real) == trace(virtual), "the real asyncio.run ordered the events otherwise"
    if not isinstance((virtual["result"] or {}).get("returns"), float):  # a clock reading differs, of course
        assert real["result"] == virtual["result"]
    return virtual


def run_source(source: str, scenario_id: str, limits: dict | None = None) -> dict:
    """Run ``main`` from a small program text (its own file name, so deadlock lines are exact)."""
    world = World(scenario_id, limits=limits)
    namespace = {"asyncio": asyncio, "world": world, "log": world.log}
    exec(compile(source, f"<{scenario_id}>", "exec"), namespace)
    return world.run(namespace["main"])


# -- the clock: timers due together, ties, zero delays ------------------------------------


def test_timers_due_at_one_instant_become_ready_in_one_batch():
    # BaseEventLoop._run_once moves every timer due at the current time to the ready
    # queue, then runs the ready callbacks: both sleepers wake before either goes on.
    # (Node runs one timer callback and its microtasks, then the next: wake a, after-turn a, ...)
    world = World("batch")
    log = world.log

    async def worker(name):
        await asyncio.sleep(0.05)
        log(f"wake {name}")
        await asyncio.sleep(0)
        log(f"after-turn {name}")

    async def main():
        await asyncio.gather(worker("a"), worker("b"))

    assert trace(virtual_and_real(world, main)) == (
        '50 log "wake a"\n50 log "wake b"\n50 log "after-turn a"\n50 log "after-turn b"\n50 return null\n'
    )


def test_two_calls_ending_together_each_start_their_next_call_as_a_task():
    world = World("next-call")
    fetch = world.operation("fetch", latency=50)
    store = world.operation("store", latency=10)

    async def pipeline(name):
        await fetch(name)
        await asyncio.create_task(store(name))

    async def main():
        await asyncio.gather(pipeline("a"), pipeline("b"))

    assert trace(virtual_and_real(world, main)) == (
        '0 start fetch("a")\n0 start fetch("b")\n50 end fetch -> null\n50 end fetch -> null\n'
        '50 start store("a")\n50 start store("b")\n60 end store -> null\n60 end store -> null\n60 return null\n'
    )


def test_sleepers_due_at_one_instant_wake_in_the_order_they_slept():
    world = World("ties")
    log = world.log

    async def sleeper(i):
        await asyncio.sleep(0.005)
        log(f"sleeper {i}")

    async def main():
        await asyncio.gather(*(sleeper(i) for i in range(8)))

    outcome = virtual_and_real(world, main)
    assert trace(outcome) == "".join(f'5 log "sleeper {i}"\n' for i in range(8)) + "5 return null\n"


def test_asyncio_own_timer_heap_orders_equal_deadlines_arbitrarily():
    # Why the virtual clock breaks ties by scheduling order: TimerHandles compare by
    # `when` alone, so heapq returns eight equal deadlines in this order (CPython 3.9 to
    # 3.13). A real clock never gives two sleeps one deadline; whole milliseconds do.
    loop = VirtualTimeLoop()
    try:
        heap: list = []
        for i in range(8):
            heapq.heappush(heap, events.TimerHandle(1.0, print, (i,), loop))
        assert [heapq.heappop(heap)._args[0] for _ in range(8)] == [0, 2, 6, 5, 7, 4, 1, 3]
    finally:
        loop.close()


def test_a_zero_ms_timer_fires_before_a_one_ms_timer_scheduled_first():
    # asyncio has no clamp: call_later(0) is due at once. (Node turns 0 ms into 1 ms, so
    # there the 1 ms timer, scheduled first, fires first.)
    world = World("zero-vs-one")

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.001, world.log, "1 ms")
        loop.call_later(0, world.log, "0 ms")
        await asyncio.sleep(0.002)

    assert trace(virtual_and_real(world, main)) == '0 log "0 ms"\n1 log "1 ms"\n2 return null\n'


def test_a_timer_due_at_once_runs_with_the_next_batch_of_ready_callbacks():
    # call_later(0) is a timer due now: the next _run_once makes it ready behind the
    # callbacks already there (asyncio.sleep(0) makes no timer: it is a bare yield).
    world = World("due-now")
    log = world.log

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0, log, "timer due at 0 ms")
        for i in range(3):
            await asyncio.sleep(0)
            log(f"turn {i}")
        await asyncio.sleep(0.03)
        return round(loop.time(), 3)  # the real clock reads 0.0300...: late by a few real µs

    outcome = virtual_and_real(world, main)
    assert trace(outcome).splitlines()[:4] == ['0 log "turn 0"', '0 log "timer due at 0 ms"', '0 log "turn 1"', '0 log "turn 2"']
    assert outcome["result"] == {"returns": 0.03}
    assert outcome["stats"] == {"virtual_time": 30, "timer_firings": 2, "max_turns_per_instant": 7}


def test_a_latency_list_is_taken_one_per_call_with_the_outcomes_count_and_its_last_repeats():
    world = World("latency-list")
    fetch = world.operation("fetch", latency=[30, 10], outcomes=[{"returns": "a"}, {"returns": "b"}, {"returns": "c"}])

    async def main():
        return await asyncio.gather(fetch(1), fetch(2), fetch(3))

    assert trace(virtual_and_real(world, main)) == (
        '0 start fetch(1)\n0 start fetch(2)\n0 start fetch(3)\n10 end fetch -> "b"\n10 end fetch -> "c"\n'
        '30 end fetch -> "a"\n30 return ["a","b","c"]\n'
    )
    for latency in ([], [5, -1], [5, True]):
        with pytest.raises(ValueError, match="or a non-empty list of them"):
            World("bad").operation("fetch", latency=latency)


def test_an_operation_of_latency_zero_is_a_timer_due_at_once():
    world = World("latency-zero")
    log = world.log
    instant = world.operation("instant", latency=0, outcomes=[{"returns": "now"}])

    async def spin():
        for i in range(3):
            await asyncio.sleep(0)
            log(f"spin {i}")

    async def main():
        return await asyncio.gather(instant(), spin())

    assert trace(virtual_and_real(world, main)) == (
        '0 start instant()\n0 log "spin 0"\n0 log "spin 1"\n0 end instant -> "now"\n0 log "spin 2"\n0 return ["now",null]\n'
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


def test_the_same_run_twice_gives_the_same_outcome():
    world = World("twice")
    log = world.log
    flaky = world.operation("flaky", latency=5, outcomes=[{"fails": {"kind": "IOError", "message": "no"}}, {"returns": 1}])
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


# -- asyncio.run's lifecycle: what happens when main returns --------------------------------


def test_a_task_left_pending_when_main_returns_is_cancelled_then():
    # asyncio.run cancels the tasks still pending as main returns (runners._cancel_all_tasks);
    # Node would keep the process alive until the upload ends at 20 ms.
    world = World("left-pending")
    upload = world.operation("upload", latency=20)

    async def main():
        asyncio.create_task(upload("report"))
        await asyncio.sleep(0)  # the task starts
        return "done"

    outcome = virtual_and_real(world, main)
    assert trace(outcome) == '0 start upload("report")\n0 return "done"\n0 cancel upload\n'
    assert outcome["stats"]["virtual_time"] == 0


def test_a_task_that_handles_its_cancel_at_shutdown_may_still_wait():
    world = World("slow-goodbye")
    log = world.log
    flush = world.operation("flush", latency=5)

    async def worker():
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            log("cancelled")
            await flush()  # asyncio.run waits for it: the clock moves on
            raise

    async def main():
        asyncio.create_task(worker())
        await asyncio.sleep(0.01)
        return "done"

    assert trace(virtual_and_real(world, main)) == (
        '10 return "done"\n10 log "cancelled"\n10 start flush()\n15 end flush -> null\n'
    )


def test_tasks_cancelled_at_shutdown_are_one_unordered_group():
    # asyncio.run cancels the leftovers by iterating a set: their order follows memory
    # addresses, so their events at that instant are marked and sorted.
    world = World("leftovers")
    ops = [world.operation(name, latency=50) for name in ("delta", "alpha", "charlie", "bravo")]

    async def main():
        for op in ops:
            asyncio.create_task(op())
        await asyncio.sleep(0.01)
        return "done"

    outcome = virtual_and_real(world, main)
    assert trace(outcome) == (
        '0 start delta()\n0 start alpha()\n0 start charlie()\n0 start bravo()\n10 return "done"\n'
        "10 cancel alpha (any order)\n10 cancel bravo (any order)\n10 cancel charlie (any order)\n"
        "10 cancel delta (any order)\n"
    )
    assert [event.get("unordered") for event in outcome["trace"]] == [None] * 5 + [True] * 4


def test_async_generators_left_open_are_closed_by_shutdown_asyncgens():
    # `break` out of `async for` does not close the generator: the finalizer hook would
    # when it is collected, but here it is still referenced, so asyncio.run's
    # shutdown_asyncgens closes it after main has returned.
    world = World("open-generators")
    log = world.log
    generators = []

    async def ticks(name):
        try:
            for i in range(3):
                await asyncio.sleep(0.01)
                yield i
        finally:
            log(f"{name} closed")

    async def main():
        for name in ("first", "second"):
            generator = ticks(name)
            generators.append(generator)  # kept alive: no finalizer
            async for _ in generator:
                break
        log("main returns")

    outcome = virtual_and_real(world, main)
    generators.clear()
    assert trace(outcome) == (
        '20 log "main returns"\n20 return null\n20 log "first closed" (any order)\n20 log "second closed" (any order)\n'
    )


def test_a_task_exception_nobody_retrieves_is_unhandled_when_the_task_is_destroyed():
    # CPython reports "Task exception was never retrieved" from Task.__del__: here when
    # main's frame, the last holder of the task, goes at main's return (not at the
    # failure, 10 ms earlier).
    world = World("orphan")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        task = asyncio.create_task(boom())
        await asyncio.sleep(0.02)
        return task.done()

    assert trace(virtual_and_real(world, main)) == (
        '0 start boom()\n10 fail boom IOError("x")\n20 unhandled IOError("x")\n20 return true\n'
    )


def test_a_task_nobody_holds_is_destroyed_as_soon_as_it_fails(caplog):
    world = World("fire-and-forget")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        asyncio.create_task(boom())  # only the loop's weak set holds it once it is done
        await asyncio.sleep(0.05)
        return "done"

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        outcome = virtual_and_real(world, main)
    assert trace(outcome) == '0 start boom()\n10 fail boom IOError("x")\n10 unhandled IOError("x")\n50 return "done"\n'
    assert caplog.records == []  # recorded, not logged


def test_a_task_retrieved_before_it_is_destroyed_is_not_unhandled():
    world = World("late-await")
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        task = asyncio.create_task(boom())
        await asyncio.sleep(0.02)
        await task

    assert trace(virtual_and_real(world, main)) == '0 start boom()\n10 fail boom IOError("x")\n20 throw IOError("x")\n'


def test_a_race_loser_left_pending_is_cancelled_at_the_return():
    world = World("race")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])
    fast = world.operation("fast", latency=10, outcomes=[{"returns": "fast"}])

    async def main():
        tasks = [asyncio.create_task(slow()), asyncio.create_task(fast())]
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done.pop().result()

    outcome = virtual_and_real(world, main)
    assert trace(outcome) == '0 start slow()\n0 start fast()\n10 end fast -> "fast"\n10 return "fast"\n10 cancel slow\n'
    assert outcome["stats"]["virtual_time"] == 10


def test_gather_failure_settles_at_once_and_the_sibling_is_cancelled_at_the_return():
    world = World("gather-fails")
    IOError = world.error_kind("IOError")
    slow = world.operation("slow", latency=30, outcomes=[{"returns": "slow"}])
    boom = world.operation("boom", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "boom"}}])

    async def main():
        return await asyncio.gather(slow(), boom())

    outcome = virtual_and_real(world, main)
    assert trace(outcome) == (
        '0 start slow()\n0 start boom()\n10 fail boom IOError("boom")\n10 throw IOError("boom")\n10 cancel slow\n'
    )
    assert outcome["status"] == "settled"
    assert outcome["result"] == {"throws": {"kind": "IOError", "message": "boom"}}
    assert issubclass(IOError, ScenarioError)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is new in 3.11")
def test_task_group_siblings_cancelled_at_a_failure_are_one_unordered_group():
    world = World("task-group")
    ops = [world.operation(f"op_{i}", latency=50) for i in range(6)]
    bad = world.operation("bad", latency=10, outcomes=[{"fails": {"kind": "IOError", "message": "x"}}])

    async def main():
        try:
            async with asyncio.TaskGroup() as group:
                for op in ops[:3]:
                    group.create_task(op())
                group.create_task(bad())
                for op in ops[3:]:
                    group.create_task(op())
        except ExceptionGroup:  # noqa: F821 - a builtin from 3.11 on; the test skips on 3.10
            world.log("group failed")

    outcome = virtual_and_real(world, main)
    lines = trace(outcome).splitlines()
    assert lines[8:] == [f"10 cancel op_{i} (any order)" for i in range(6)] + ['10 log "group failed"', "10 return null"]
    assert trace(world.run(main)) == trace(outcome)


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


def test_a_leftover_that_never_ends_after_its_cancel_is_a_deadlock_of_the_shutdown():
    world = World("stubborn")
    log = world.log

    async def stubborn():
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            log("ignoring the cancel")
            await asyncio.get_running_loop().create_future()  # a real asyncio.run would hang here

    async def main():
        asyncio.create_task(stubborn())
        await asyncio.sleep(0)

    outcome = world.run(main)
    assert outcome["status"] == "deadlock"
    assert trace(outcome) == '0 return null\n0 log "ignoring the cancel"\n'
    assert outcome["message"] == (
        "deadlock: scenario 'stubborn' did not finish asyncio.run's shutdown at 0 ms (a task left running when "
        "main returned does not end after its cancel) and no timer is pending; "
        f"pending: stubborn (line {stubborn.__code__.co_firstlineno + 5}) awaits a Future"
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


def test_runaway_trace_events_a_loop_of_log_steps_that_never_waits():
    # 10**8 log steps at one instant: never a turn of the loop, so only the bound on
    # recorded events stops them, at once and with flat memory (10**7 took 11.5 s and
    # 2 GB without it). The program's `except Exception` does not catch the stop.
    assert MAX_EVENTS == 100_000
    world = World("chatty")
    log = world.log

    async def main():
        try:
            for _ in range(10**8):
                log("x")
        except Exception:  # noqa: BLE001 - what a scenario's catch of every error is
            log("caught")

    started = time.monotonic()
    outcome = world.run(main)
    assert time.monotonic() - started < 10  # seconds, not minutes
    assert outcome["status"] == "runaway"
    assert outcome["result"] is None
    assert outcome["message"] == "runaway: scenario 'chatty' passed 100000 trace events at 0 ms"
    assert len(outcome["trace"]) == 100_000
    assert trace(outcome).splitlines()[-1] == '0 log "x"'


def test_the_event_bound_counts_every_event_and_stops_the_loop_at_its_next_turn():
    world = World("counted")
    world.max_events = 5
    tick = world.operation("tick", latency=1)

    async def main():
        while True:
            await tick()  # start and end: two events a call, never a call into the kit past the bound

    outcome = world.run(main)
    assert outcome["message"] == "runaway: scenario 'counted' passed 5 trace events at 3 ms"
    assert trace(outcome) == "0 start tick()\n1 end tick -> null\n1 start tick()\n2 end tick -> null\n2 start tick()\n"


def test_runaway_wall_clock_a_loop_that_never_calls_the_kit_is_stopped_by_the_watchdog():
    # Nested repeats of `set` steps: no call into the kit, no turn of the loop. The
    # watchdog thread stops it, in the main thread and in any other, and its `finally`
    # that loops as well while it unwinds.
    assert WALL_CLOCK_SECONDS == 5.0

    async def main():
        await asyncio.sleep(0.03)
        n = 0
        try:
            for _ in range(10**6):
                for _ in range(10**6):
                    n = n + 1
        except Exception:  # noqa: BLE001 - what a scenario's catch of every error is
            return "caught"
        finally:
            while True:
                n = n + 1

    def run_bounded() -> dict:
        world = World("spinning")
        world.wall_clock_seconds = 0.2
        return world.run(main)

    for in_thread in (False, True):
        started = time.monotonic()
        if in_thread:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                outcome = pool.submit(run_bounded).result(timeout=10)
        else:
            outcome = run_bounded()
        assert time.monotonic() - started < 10, in_thread  # seconds, not minutes
        assert outcome["status"] == "runaway"
        assert outcome["message"] == "runaway: scenario 'spinning' passed 0.2 s of wall-clock time at 30 ms"
        assert outcome["stats"]["virtual_time"] == 30
    spin_after_the_run = sum(range(3 * 10**6))  # no stop is left to land here
    assert spin_after_the_run > 0


def test_the_watchdog_also_bounds_the_clean_up_after_a_halt():
    # A leftover whose cancel handler never ends, after a runaway of the timer bound:
    # the clean-up cancels it, and the watchdog (still armed) stops it.
    world = World("stubborn", limits={"timer_firings": 3})
    world.wall_clock_seconds = 0.2

    async def stubborn():
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            while True:
                pass

    async def main():
        asyncio.create_task(stubborn())
        while True:
            await asyncio.sleep(0.001)

    started = time.monotonic()
    outcome = world.run(main)
    assert time.monotonic() - started < 10  # seconds, not minutes
    assert outcome["message"] == "runaway: scenario 'stubborn' passed 3 timer firings"  # the first verdict stands


def test_the_wall_clock_bound_is_checked_at_each_call_into_the_kit_too(monkeypatch):
    # Where the watchdog cannot run (no ctypes), and in JavaScript, where a loop blocks
    # the only thread: a loop that calls the kit meets the bound at its next call.
    monkeypatch.setattr(asyncparity_runtime._WATCHDOG, "_set_async_exception", None)
    world = World("slow-chatter")
    world.wall_clock_seconds = 0.2
    log = world.log

    async def main():
        while True:
            time.sleep(0.01)  # noqa: ASYNC251 - a slow step that never waits on the clock
            log("x")

    outcome = world.run(main)
    assert outcome["message"] == "runaway: scenario 'slow-chatter' passed 0.2 s of wall-clock time at 0 ms"
    assert 1 <= len(outcome["trace"]) <= 21  # 10 ms each, at most


def test_the_watchdog_thread_is_woken_only_for_a_run_that_must_be_stopped_sooner(monkeypatch):
    # Issue 13: a suite arms a run every millisecond or so; waking the watchdog thread for
    # each took the interpreter lock from the runs. A later run under the same bound fires
    # after the thread's next look anyway; a run under a shorter bound wakes it.
    watchdog = asyncparity_runtime._Watchdog()
    monkeypatch.setattr(asyncparity_runtime, "_WATCHDOG", watchdog)
    notified: list[int] = []

    class Counting(threading.Condition):
        def notify(self, n: int = 1) -> None:
            notified.append(n)
            super().notify(n)

    watchdog._condition = Counting()

    def run(name: str, seconds: float, main) -> dict:
        world = World(name)
        world.wall_clock_seconds = seconds
        return world.run(main)

    async def quick():
        await asyncio.sleep(0.01)
        return "done"

    async def spinning():
        while True:
            pass

    outcomes = [run(f"quick-{index}", 5.0, quick) for index in range(50)]
    woken_by_quick = len(notified)
    deadline = time.monotonic() + 10
    while watchdog._next_look == 0 and time.monotonic() < deadline:  # the thread started by the first run, waiting
        time.sleep(0.01)
    started = time.monotonic()
    stopped = run("spinning", 0.2, spinning)

    assert [outcome["result"] for outcome in outcomes] == [{"returns": "done"}] * 50
    assert woken_by_quick == 0  # each fires after the thread's next look, at most 5 s away
    assert watchdog._next_look != 0
    assert len(notified) == 1  # 0.2 s is sooner than that
    assert stopped["message"] == "runaway: scenario 'spinning' passed 0.2 s of wall-clock time at 0 ms"
    assert time.monotonic() - started < 3


def test_a_run_that_ends_in_time_leaves_no_stop_behind():
    # Many short runs under a short bound: the watchdog is armed and disarmed each time,
    # and nothing fires into the code that follows.
    for index in range(200):
        world = World(f"quick-{index}")
        world.wall_clock_seconds = 0.05

        async def main():
            return sum(range(1000))

        assert world.run(main)["status"] == "settled"
    time.sleep(0.2)
    assert sum(range(10**6)) > 0


def test_limits_are_checked():
    with pytest.raises(ValueError, match="unknown limit 'virtual_tim'"):
        World("x", limits={"virtual_tim": 5})
    with pytest.raises(ValueError, match="non-negative integer"):
        World("x", limits={"timer_firings": -1})


# -- operations, errors, results -------------------------------------------------------------


def test_operation_outcomes_are_consumed_in_order_and_the_last_repeats():
    world = World("outcomes")
    world.error_kind("IOError")
    fetch = world.operation(
        "fetch", latency=1, outcomes=[{"fails": {"kind": "IOError", "message": "first"}}, {"returns": {"items": [1]}}]
    )

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

    assert trace(world.run(main)) == ('0 log "started"\n0 start download("u")\n30 end download -> "data"\n30 return "data"\n')


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
    assert outcome["result"] == {
        "throws": {"kind": "TypeError", "message": "'<' not supported between instances of 'int' and 'str'"}
    }


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
def test_an_exception_group_reports_its_members():
    world = World("group")
    io_error = world.error_kind("IOError")

    async def main():
        raise ExceptionGroup("two failed", [io_error("a"), ValueError("b")])  # noqa: F821 - 3.11+

    outcome = world.run(main)
    assert outcome["result"] == {
        "throws": {
            "kind": "ExceptionGroup",
            "message": "two failed",
            "errors": [{"kind": "IOError", "message": "a"}, {"kind": "ValueError", "message": "b"}],
        }
    }
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


def test_now_is_the_clock_of_the_trace_in_whole_ms_and_belongs_to_a_running_world():
    world = World("clock")
    readings = []

    async def main():
        readings.append(world.now())
        await asyncio.sleep(0.03)
        readings.append(world.now())
        world.log("after the sleep")

    outcome = world.run(main)
    assert readings == [0, 30]
    assert [event["t"] for event in outcome["trace"] if event["event"] == "log"] == [30]
    with pytest.raises(RuntimeError, match="now\\(\\) belongs to scenario 'clock'"):
        world.now()


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
    assert outcome["result"] == {"throws": {"kind": "RuntimeError", "message": "scenario 'reentrant' is already running"}}


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
        {
            "t": 60,
            "event": "throw",
            "error": {
                "kind": "AggregateError",
                "message": "All promises were rejected",
                "errors": [{"kind": "IOError", "message": "a"}, {"kind": "IOError", "message": "b"}],
            },
        },
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
    assert capsysbinary.readouterr().out.decode("utf-8") == ('0 start fetch()\n10 end fetch -> "é"\n10 return "é"\nsettled\n')

    async def stuck():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(SystemExit) as exit_info:
        world.run_and_print(stuck)
    assert exit_info.value.code == 1
    assert (
        capsysbinary.readouterr()
        .out.decode("utf-8")
        .startswith("deadlock: scenario 'printed' has not settled at 0 ms and no timer is pending; pending: stuck (line ")
    )


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
        {"status": "fulfilled", "value": "a"},
        {"status": "rejected", "reason": cancelled},
        {"status": "fulfilled", "value": None},
    ]


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


@pytest.mark.parametrize(
    ("limits", "status", "expected"),
    [
        (None, "deadlock", "0 start slow()\n30 end slow -> null\n"),
        ({"virtual_time": 10}, "runaway", "0 start slow()\n"),
    ],
)
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


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="eager_task_factory exists from 3.12")
def test_eager_tasks_before_3_12_is_a_clear_error():
    import platform

    with pytest.raises(RuntimeError) as raised:
        World("eager", eager_tasks=True)
    assert str(raised.value) == (
        f"eager_tasks needs CPython 3.12 or later (asyncio.eager_task_factory); this is CPython {platform.python_version()}"
    )


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


def test_a_real_time_wait_is_cut_into_short_waits_of_the_real_selector() -> None:
    # Linux wakes a wait up to about 0.1% of its length late (epoll_wait's timer slack),
    # which no scale hides: a 500 ms sleep at scale 10 came back 1 ms late in the trace.
    # The scaled selector asks the real one for at most _LONGEST_WAIT real seconds.
    class Recording:
        def __init__(self) -> None:
            self.timeouts: list[float | None] = []

        def select(self, timeout=None):
            self.timeouts.append(timeout)
            return []

    real = Recording()
    scaled = asyncparity_runtime._ScaledSelector(real, 10)  # type: ignore[arg-type]  # a stand-in selector
    for timeout in (0.5, 0.004, None):
        scaled.select(timeout)

    assert real.timeouts == [asyncparity_runtime._LONGEST_WAIT, 0.04, None]
    assert asyncparity_runtime._LONGEST_WAIT == 0.1
