"""The loops of the Python target: ``while``, ``break`` and ``continue`` in every loop, and
``repeat`` with a computed count (issue 10, "Control flow").

Each rendering is checked as program text and by running it; the traces were worked
out by hand from the latencies. A ``while`` has no bound of its own: one that never ends
is stopped by the run's bounds and reported as a runaway naming the scenario, whether
its body waits (the scenario's ``limits``), records events (100,000 trace events) or does
neither (the wall-clock watchdog), never a hang.
"""

from __future__ import annotations

import time

import asyncparity_runtime
from asyncparity_python import target
from asyncparity_python.compile import compile_program
from helpers import body, call, lit, ref, run, scenario


def step(name: str, **fields) -> dict:
    return {"step": name, **fields, "line": 1}


def calc(left: dict, op: str, right: dict) -> dict:
    return {"calc": [left, op, right]}


POLL = scenario(
    [
        step("await", call=call("status"), bind="state"),
        step(
            "while",
            condition={"compare": [ref("state"), "!=", lit("done")]},
            body=[step("sleep", ms=100), step("await", call=call("status"), bind="state")],
        ),
        step("return", value=ref("state")),
    ],
    operations=[{"name": "status", "latency": 5, "outcomes": [{"returns": "queued"}, {"returns": "done"}]}],
)


def test_while_program_and_run():
    assert body(compile_program(POLL)) == (
        "async def main():\n"
        "    state = await status()\n"
        '    while state != "done":\n'
        "        await asyncio.sleep(0.1)\n"
        "        state = await status()\n"
        "    return state\n"
    )
    assert run(POLL) == (
        {"returns": "done"},
        '0 start status()\n5 end status -> "queued"\n105 start status()\n110 end status -> "done"\n110 return "done"\n',
    )


def test_while_against_none_is_is_not_none_as_in_if():
    ir = scenario(
        [step("set", bind="x", value=lit(None)), step("while", condition={"compare": [ref("x"), "!=", lit(None)]}, body=[])]
    )
    assert "    while x is not None:\n        pass" in compile_program(ir)


def counted(times: object, body_steps: list[dict]) -> dict:
    """main: a repeat of ``times`` (an int or an expression) around ``body_steps``, then a log."""
    return scenario([step("repeat", times=times, bind="i", body=body_steps), step("log", message=lit("after"))])


def test_break_and_continue_in_a_repeat():
    ir = counted(
        4,
        [
            step("if", condition={"compare": [ref("i"), "==", lit(1)]}, then=[step("continue")], **{"else": []}),
            step("if", condition={"compare": [ref("i"), "==", lit(3)]}, then=[step("break")], **{"else": []}),
            step("log", message=ref("i")),
        ],
    )
    assert body(compile_program(ir)) == (
        "async def main():\n"
        "    for i in range(4):\n"
        "        if i == 1:\n"
        "            continue\n"
        "        if i == 3:\n"
        "            break\n"
        "        log(i)\n"
        '    log("after")\n'
    )
    assert run(ir) == ({"returns": None}, '0 log 0\n0 log 2\n0 log "after"\n0 return null\n')


def test_a_computed_count_is_range_of_the_value_and_zero_or_less_runs_no_round():
    ir = counted(calc(ref("n"), "-", lit(1)), [step("log", message=ref("i"))])
    ir["main"].insert(0, step("set", bind="n", value=lit(3)))
    assert "    for i in range(n - 1):\n        log(i)\n" in compile_program(ir)
    assert run(ir) == ({"returns": None}, '0 log 0\n0 log 1\n0 log "after"\n0 return null\n')
    ir["main"][0]["value"] = lit(-2)
    assert run(ir) == ({"returns": None}, '0 log "after"\n0 return null\n')


def test_a_fractional_count_raises_type_error_as_range_does():
    ir = counted(ref("n"), [step("log", message=ref("i"))])
    ir["main"].insert(0, step("set", bind="n", value=lit(2.5)))
    outcome = target.run(ir)
    assert outcome["result"] == {"throws": {"kind": "TypeError", "message": "'float' object cannot be interpreted as an integer"}}


def test_break_and_continue_pass_the_finally_and_close_the_resource():
    ir = scenario(
        [
            step(
                "repeat",
                times=3,
                bind="i",
                body=[
                    step(
                        "using",
                        resource="conn",
                        args=[ref("i")],
                        bind=None,
                        body=[
                            step(
                                "try",
                                body=[
                                    step("sleep", ms=1),
                                    step(
                                        "if",
                                        condition={"compare": [ref("i"), "==", lit(0)]},
                                        then=[step("continue")],
                                        **{"else": []},
                                    ),
                                    step("break"),
                                ],
                                catch=None,
                                **{"finally": [step("log", message=calc(ref("i"), "+", lit(10)))]},
                            ),
                        ],
                    ),
                    step("log", message=lit("not reached")),
                ],
            ),
            step("log", message=lit("after")),
        ],
        resources=[{"name": "conn", "open": 2, "close": 3}],
    )
    assert run(ir) == (
        {"returns": None},
        '2 open conn(0)\n3 log 10\n6 close conn\n8 open conn(1)\n9 log 11\n12 close conn\n12 log "after"\n12 return null\n',
    )


# -- runaways: a while that never ends -------------------------------------------------------

FOREVER = {"condition": {"compare": [lit(1), "==", lit(1)]}}


def forever(body_steps: list[dict], **fields) -> dict:
    ir = scenario([step("set", bind="n", value=lit(0)), step("while", **FOREVER, body=body_steps)], **fields)
    ir["id"] = "forever"
    return ir


def test_a_while_that_waits_for_ever_is_a_runaway_at_the_scenarios_bound():
    ir = forever([step("sleep", ms=10)])
    ir["limits"]["timer_firings"] = 50
    outcome = target.run(ir)
    assert (outcome["status"], outcome["message"]) == ("runaway", "runaway: scenario 'forever' passed 50 timer firings")


def test_a_while_that_only_logs_is_a_runaway_at_the_event_bound():
    started = time.monotonic()
    outcome = target.run(forever([step("log", message=ref("n"))]))
    assert time.monotonic() - started < 10  # seconds, not a hang
    assert outcome["message"] == "runaway: scenario 'forever' passed 100000 trace events at 0 ms"


def test_a_while_that_never_calls_the_kit_is_stopped_by_the_watchdog(monkeypatch):
    # Nothing recorded, no turn of the loop: only the wall-clock bound stops it (lowered
    # from 5 s for the test; tests/python/test_target.py runs the real one in the full tests).
    monkeypatch.setattr(asyncparity_runtime.World, "wall_clock_seconds", 0.3)
    started = time.monotonic()
    outcome = target.run(forever([step("set", bind="n", value=calc(ref("n"), "+", lit(1)))]))
    assert time.monotonic() - started < 10
    assert (outcome["status"], outcome["message"]) == (
        "runaway",
        "runaway: scenario 'forever' passed 0.3 s of wall-clock time at 0 ms",
    )
