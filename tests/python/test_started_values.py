"""Started calls as values on the Python target: fan-outs over started calls (``over``),
a started call awaited by the function it was handed to, and cancelling a started function.

Each construct is checked twice, as in test_constructs.py: the exact program text and the
exact trace and result of running it on the virtual loop (worked out by hand from the
latencies: a 1 ms, b 1 ms).
"""

from __future__ import annotations

from asyncparity_python import target
from asyncparity_python.compile import compile_program
from helpers import body, call, lit, operations_a_and_b, ref, run, scenario


def started(name: str, callee: str) -> dict:
    return {"step": "start", "call": call(callee), "bind": name}


def fan_out_ir(over: dict) -> dict:
    main = [
        started("first", "a"),
        started("second", "b"),
        {"step": "set", "bind": "jobs", "value": {"list": [ref("first"), ref("second")]}},
        {"step": "all", "over": over, "bind": "values"},
        {"step": "race", "over": over, "bind": "winner"},
        {"step": "all_settled", "over": over, "bind": "records"},
        {"step": "any", "over": over, "bind": "success"},
        {"step": "return", "value": {"list": [ref("values"), ref("winner"), ref("records"), ref("success")]}},
    ]
    return scenario(main, operations=operations_a_and_b())


def test_a_name_holding_started_calls_is_gathered_spread_and_raced_as_it_is():
    assert body(compile_program(fan_out_ir(ref("jobs")))) == (
        """\
async def main():
    first = asyncio.create_task(a())
    second = asyncio.create_task(b())
    jobs = [first, second]
    values = await asyncio.gather(*jobs)
    done, _pending = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
    winner = next(task for task in jobs if task in done).result()
    records = world.settled(await asyncio.gather(*jobs, return_exceptions=True))
    for finished in asyncio.as_completed(jobs):
        try:
            success = await finished
            break
        except Exception:
            pass
    else:
        raise ExceptionGroup(
            "All promises were rejected",
            [task.exception() for task in jobs],
        )
    return [values, winner, records, success]
"""
    )


def test_a_list_of_started_calls_is_written_out():
    text = body(compile_program(fan_out_ir({"list": [ref("first"), ref("second")]})))
    assert "    values = await asyncio.gather(first, second)\n" in text
    assert "    tasks = [first, second]\n    done, _pending = await asyncio.wait(tasks, return_when=" in text
    assert "    records = world.settled(await asyncio.gather(first, second, return_exceptions=True))\n" in text
    assert "    for finished in asyncio.as_completed(tasks):\n" in text


def test_started_calls_already_ended_give_their_values():
    result, trace = run(fan_out_ir(ref("jobs")))
    assert result == {"returns": [[1, 1], 1, [{"status": "fulfilled", "value": 1}, {"status": "fulfilled", "value": 1}], 1]}
    records = '{"status":"fulfilled","value":1},{"status":"fulfilled","value":1}'
    assert trace == f"0 start a()\n0 start b()\n1 end a -> 1\n1 end b -> 1\n1 return [[1,1],1,[{records}],1]\n"


def test_all_of_no_started_calls_is_an_empty_list_and_any_of_none_raises_what_exceptiongroup_raises():
    empty = scenario([{"step": "all", "over": lit([]), "bind": "values"}, {"step": "return", "value": ref("values")}])
    assert body(compile_program(empty)) == "async def main():\n    values = await asyncio.gather()\n    return values\n"
    assert run(empty) == ({"returns": []}, "0 return []\n")
    nothing = scenario([{"step": "any", "over": lit([]), "bind": "value"}, {"step": "return", "value": ref("value")}])
    outcome = target.run(nothing, "python")
    assert outcome["result"] == {
        "throws": {"kind": "ValueError", "message": "second argument (exceptions) must be a non-empty sequence"}
    }


def test_a_parameter_holding_a_started_call_is_awaited():
    ir = scenario(
        [
            started("job", "a"),
            {"step": "await", "call": {"callee": "wait_for", "callee_kind": "function", "args": [ref("job")]}, "bind": "v"},
            {"step": "return", "value": ref("v")},
        ],
        operations=operations_a_and_b(),
        functions=[
            {
                "name": "wait_for",
                "params": ["handle"],
                "body": [{"step": "await", "handle": "handle", "bind": "v"}, {"step": "return", "value": ref("v")}],
            }
        ],
    )
    assert "async def wait_for(handle):\n    v = await handle\n    return v\n" in body(compile_program(ir))
    assert run(ir) == ({"returns": 1}, "0 start a()\n1 end a -> 1\n1 return 1\n")


def test_a_started_function_is_cancelled_at_its_current_wait_and_its_finally_runs():
    beat = {
        "name": "beat",
        "params": [],
        "body": [
            {
                "step": "try",
                "body": [{"step": "sleep", "ms": 10}, {"step": "await", "call": call("a")}],
                "finally": [{"step": "log", "message": lit("stopped")}],
            }
        ],
    }
    ir = scenario(
        [
            {"step": "start", "call": {"callee": "beat", "callee_kind": "function", "args": []}, "bind": "job"},
            {"step": "sleep", "ms": 5},
            {"step": "cancel", "handle": "job"},
            {
                "step": "try",
                "body": [{"step": "await", "handle": "job"}],
                "catch": {"kinds": ["CancelledError"], "body": [{"step": "log", "message": lit("cancelled")}]},
            },
            {"step": "return", "value": lit(1)},
        ],
        operations=operations_a_and_b(),
        functions=[beat],
    )
    assert "    job.cancel()\n" in body(compile_program(ir))
    assert run(ir) == ({"returns": 1}, '5 log "stopped"\n5 log "cancelled"\n5 return 1\n')


def test_the_kind_of_a_race_of_no_started_calls_is_read_as_every_exception_has_it():
    # asyncio.wait of no tasks raises ValueError ("Set of Tasks/Futures is empty."), no
    # ScenarioError: the catch reads its kind as type(error).__name__, not error.kind.
    race = {"step": "race", "line": 2, "over": lit([]), "bind": "winner"}
    log_kind = {"step": "log", "line": 4, "message": {"format": [ref("error", "kind")]}}
    catch = {"kinds": [], "bind": "error", "body": [log_kind]}
    ir = scenario(
        [
            {"step": "try", "line": 1, "body": [race], "catch": catch, "finally": None},
            {"step": "return", "line": 5, "value": lit("none")},
        ]
    )
    assert 'log(f"{type(error).__name__}")' in body(compile_program(ir))
    assert run(ir) == ({"returns": "none"}, '0 log "ValueError"\n0 return "none"\n')
