"""Tests for runner/compare.py: outcomes against expectations, divergences and each other."""

from __future__ import annotations

import copy

from asyncparity.compare import by_instant, compare, load_error_verdict, worst
from asyncparity.diagnostics import Diagnostic
from asyncparity.load import load_text
from asyncparity.trace import FormattedTrace, trace_lines

SCENARIO = """\
id: eager
summary: s
operations:
  f:
    latency: 10
    returns: "v"
main:
  - start: f
    as: task
  - log: "started"
  - await: $task
    as: value
  - return: $value
expect:
  returns: "v"
  trace: |
    0 start f()
    0 log "started"
    10 end f -> "v"
    10 return "v"
diverge:
  - targets: [python]
    reason: Python starts the task on the next turn.
    cause: language
    trace: |
      0 log "started"
      0 start f()
      10 end f -> "v"
      10 return "v"
"""

JS_TRACE = [
    {"t": 0, "event": "start", "op": "f", "args": []},
    {"t": 0, "event": "log", "message": "started"},
    {"t": 10, "event": "end", "op": "f", "value": "v"},
    {"t": 10, "event": "return", "value": "v"},
]
PY_TRACE = [JS_TRACE[1], JS_TRACE[0], *JS_TRACE[2:]]


def outcome(trace: list[dict], result: dict | None = None, status: str = "settled") -> dict:
    return {"status": status, "result": result if result is not None else {"returns": "v"}, "trace": copy.deepcopy(trace)}


def scenario(text: str = SCENARIO):
    result = load_text(text, "s.yaml")
    assert result.diagnostics == []
    return result.scenario


def test_declared_divergence_that_happens_passes() -> None:
    verdict = compare(scenario(), {"python": outcome(PY_TRACE), "js-promise": outcome(JS_TRACE), "js-async": outcome(JS_TRACE)})

    assert verdict.status == "diverge"
    assert [(item.target, item.status) for item in verdict.targets] == [
        ("python", "diverge"),
        ("js-promise", "agree"),
        ("js-async", "agree"),
    ]
    assert verdict.targets[0].message == "diverges as declared: Python starts the task on the next turn."
    assert verdict.passed


def test_a_declared_divergence_that_does_not_happen_is_a_mismatch() -> None:
    verdict = compare(scenario(), {"python": outcome(JS_TRACE), "js-async": outcome(JS_TRACE)})

    python = verdict.targets[0]
    assert (verdict.status, python.status) == ("mismatch", "mismatch")
    assert python.message == "python no longer diverges: it behaves as expect says, not as declared at line 22"


def test_removing_the_declaration_shows_the_difference() -> None:
    text = SCENARIO.split("diverge:")[0]

    verdict = compare(scenario(text), {"python": outcome(PY_TRACE), "js-async": outcome(JS_TRACE)})

    python = verdict.targets[0]
    assert python.status == "mismatch"
    assert python.message == (
        'python disagrees with expect: trace: first difference at event 1: expected `0 start f()`, got `0 log "started"`'
    )
    assert python.diff == [
        "--- expected (expect)",
        "+++ python",
        "@@ -1,4 +1,4 @@",
        '+0 log "started"',
        " 0 start f()",
        '-0 log "started"',
        ' 10 end f -> "v"',
        ' 10 return "v"',
    ]


def test_a_changed_timestamp_points_at_that_event() -> None:
    text = SCENARIO.split("diverge:")[0].replace('10 end f -> "v"', '11 end f -> "v"')

    verdict = compare(scenario(text), {"js-async": outcome(JS_TRACE)})

    assert verdict.targets[0].message == (
        'js-async disagrees with expect: trace: first difference at event 3: expected `11 end f -> "v"`, got `10 end f -> "v"`'
    )


def test_result_difference_is_reported_with_json_equality() -> None:
    text = SCENARIO.split("diverge:")[0]
    same = outcome(JS_TRACE, {"returns": "v"})
    other = outcome(JS_TRACE, {"throws": {"kind": "E", "message": "m"}})

    verdict = compare(scenario(text), {"js-promise": same, "js-async": other})

    assert verdict.targets[0].status == "agree"
    assert verdict.targets[1].message == 'js-async disagrees with expect: result: expected returns "v", got throws E("m")'


def test_without_expect_targets_are_compared_with_the_reference_target() -> None:
    text = "id: a\nsummary: s\nmain:\n  - return: 1.0\n"
    one = {"status": "settled", "result": {"returns": 1}, "trace": [{"t": 0, "event": "return", "value": 1}]}
    one_float = {"status": "settled", "result": {"returns": 1.0}, "trace": [{"t": 0, "event": "return", "value": 1.0}]}
    late = {"status": "settled", "result": {"returns": 1}, "trace": [{"t": 5, "event": "return", "value": 1}]}

    verdict = compare(scenario(text), {"python": one_float, "js-promise": one, "js-async": late})

    assert [item.status for item in verdict.targets] == ["agree", "agree", "mismatch"]
    assert verdict.targets[2].message.startswith("js-async disagrees with python: trace: first difference at event 1")


def test_each_trace_is_formatted_once_though_the_reference_is_read_by_every_target(monkeypatch) -> None:
    from asyncparity import trace as trace_module

    text = "id: a\nsummary: s\nmain:\n  - return: 1\n"
    one = {"status": "settled", "result": {"returns": 1}, "trace": [{"t": 0, "event": "return", "value": 1}]}
    formatted: list[int] = []
    monkeypatch.setattr(trace_module, "trace_lines", lambda events: formatted.append(id(events)) or trace_lines(events))
    outcomes = {target: copy.deepcopy(one) for target in ("python", "js-promise", "js-async")}

    verdict = compare(scenario(text), outcomes)

    assert [item.status for item in verdict.targets] == ["agree", "agree", "agree"]
    assert sorted(formatted) == sorted(id(outcome["trace"]) for outcome in outcomes.values())


def test_a_trace_the_runner_formatted_when_it_checked_it_is_not_formatted_again(monkeypatch) -> None:
    # A worker's outcome is formatted by the runner's check of its reply (issue 13).
    from asyncparity import trace as trace_module

    text = "id: a\nsummary: s\nmain:\n  - return: 1\n"
    events = [{"t": 0, "event": "return", "value": 1}]
    formatted: list[int] = []
    monkeypatch.setattr(trace_module, "trace_lines", lambda events: formatted.append(id(events)) or trace_lines(events))
    outcomes = {
        "python": {"status": "settled", "result": {"returns": 1}, "trace": copy.deepcopy(events)},
        "js-async": {"status": "settled", "result": {"returns": 1}, "trace": FormattedTrace(events, ["0 return 2"])},
    }

    verdict = compare(scenario(text), outcomes)

    assert formatted == [id(outcomes["python"]["trace"])]
    # The lines it holds are what compare reads: here, made up to differ.
    assert verdict.targets[1].message == (
        "js-async disagrees with python: trace: first difference at event 1: expected `0 return 1`, got `0 return 2`"
    )


def test_unsettled_outcomes_are_errors_with_their_message() -> None:
    deadlock = {"status": "deadlock", "result": None, "trace": [], "message": "deadlock: scenario 'eager' has not settled"}

    verdict = compare(scenario(), {"python": outcome(PY_TRACE), "js-async": deadlock})

    assert verdict.status == "error"
    assert verdict.targets[1].message == "deadlock: scenario 'eager' has not settled"


def test_worst_status_and_load_errors() -> None:
    assert worst(["agree", "diverge", "mismatch", "skipped"]) == "mismatch"
    assert worst([]) == "agree"
    verdict = load_error_verdict("bad.yaml", [Diagnostic("bad.yaml", 4, 2, "oops")])
    assert (verdict.status, verdict.line, verdict.rerun_command()) == ("error", 4, "asyncparity run bad.yaml")


def test_order_instant_accepts_any_order_within_an_instant_only() -> None:
    text = SCENARIO.split("diverge:")[0].replace("expect:\n", "expect:\n  order: instant\n")
    late = [JS_TRACE[0], {"t": 1, "event": "log", "message": "started"}, *JS_TRACE[2:]]

    verdict = compare(scenario(text), {"python": outcome(PY_TRACE), "js-async": outcome(JS_TRACE), "js-promise": outcome(late)})

    assert [item.status for item in verdict.targets] == ["agree", "agree", "mismatch"]
    assert by_instant(["5 b", "0 z", "5 a", "0 y"]) == ["0 y", "0 z", "5 a", "5 b"]


GROUP_SCENARIO = """\
id: group
summary: s
operations:
  a: {latency: 10, returns: 1}
  b: {latency: 10, returns: 2}
main:
  - return: 1
expect:
  returns: 1
  trace: |
    10 cancel a
    10 cancel b
    10 return 1
"""


def test_events_in_any_order_are_compared_as_a_group_and_the_note_says_so() -> None:
    # CPython cancels a TaskGroup's tasks in set order: the runtime marks those events.
    marked = [{"t": 10, "event": "cancel", "op": op, "unordered": True} for op in ("b", "a")]
    returned = {"t": 10, "event": "return", "value": 1}
    verdict = compare(scenario(GROUP_SCENARIO), {"python": outcome([*marked, returned], {"returns": 1})})

    assert verdict.targets[0].status == "agree"
    assert verdict.targets[0].note == (
        "2 events compared in any order: CPython takes their order from a set "
        "(a TaskGroup, or asyncio.run, cancelling tasks; asyncio.run closing generators)"
    )
    # Unmarked, the same order is a mismatch: only a marked group may be reordered.
    plain = [{key: value for key, value in event.items() if key != "unordered"} for event in marked]
    assert compare(scenario(GROUP_SCENARIO), {"python": outcome([*plain, returned], {"returns": 1})}).status == "mismatch"
    # A group never swallows a missing event or one at another place.
    assert compare(scenario(GROUP_SCENARIO), {"python": outcome([marked[0], returned], {"returns": 1})}).status == "mismatch"
    assert (
        compare(scenario(GROUP_SCENARIO), {"python": outcome([marked[0], returned, marked[1]], {"returns": 1})}).status
        == "mismatch"
    )


def test_same_events_takes_a_group_marked_in_either_trace() -> None:
    from asyncparity.compare import same_events, unordered_spans

    expected = ["10 cancel a (any order)", "10 cancel b (any order)", '10 log "x"', "20 cancel c (any order)"]
    assert unordered_spans(expected) == [(0, 2), (3, 4)]
    assert same_events(expected, ["10 cancel b", "10 cancel a", '10 log "x"', "20 cancel c"]) == (True, 3)
    assert same_events(expected, ["10 cancel b", '10 log "x"', "10 cancel a", "20 cancel c"]) == (False, 0)
    assert same_events(["1 x", "1 y"], ["1 y (any order)", "1 x (any order)"]) == (True, 2)
    assert same_events(["1 x"], ["1 x", "1 y"]) == (False, 0)


# -- a divergence that declares a run which does not settle ------------------------------

STOPPING = SCENARIO.replace(
    """    trace: |
      0 log "started"
      0 start f()
      10 end f -> "v"
      10 return "v"
""",
    """    deadlock: true
    trace: |
      0 log "started"
""",
)


def stopped(status: str, trace: list[dict]) -> dict:
    return {"status": status, "result": None, "trace": copy.deepcopy(trace), "message": f"{status}: scenario 'eager' ..."}


def test_a_declared_deadlock_that_happens_diverges_as_declared() -> None:
    verdict = compare(scenario(STOPPING), {"python": stopped("deadlock", [JS_TRACE[1]]), "js-async": outcome(JS_TRACE)})

    assert [item.status for item in verdict.targets] == ["diverge", "agree"]
    assert verdict.targets[0].message == "diverges as declared: Python starts the task on the next turn."


def test_a_declared_deadlock_is_held_to_its_kind_and_its_trace() -> None:
    other_stop = compare(scenario(STOPPING), {"python": stopped("runaway", [JS_TRACE[1]])}).targets[0]
    other_trace = compare(scenario(STOPPING), {"python": stopped("deadlock", JS_TRACE[:2])}).targets[0]
    settled = compare(scenario(STOPPING), {"python": outcome(PY_TRACE), "js-async": outcome(JS_TRACE)}).targets[0]
    as_expect = compare(scenario(STOPPING), {"python": outcome(JS_TRACE), "js-async": outcome(JS_TRACE)}).targets[0]

    assert (other_stop.status, other_stop.message) == (
        "mismatch",
        "python disagrees with the divergence declared at line 22: result: expected deadlock, got runaway "
        "(runaway: scenario 'eager' ...)",
    )
    assert (other_trace.status, other_trace.diff[-2:]) == ("mismatch", ["+0 start f()", ' 0 log "started"'])
    assert (settled.status, settled.message) == (
        "mismatch",
        'python disagrees with the divergence declared at line 22: result: expected deadlock, got returns "v"; '
        "trace: first difference at event 2: expected `(end of trace)`, got `0 start f()`",
    )
    assert as_expect.message == "python no longer diverges: it behaves as expect says, not as declared at line 22"


def test_a_declared_stop_without_a_trace_compares_none_and_other_targets_may_not_stop() -> None:
    text = STOPPING.replace('    trace: |\n      0 log "started"\n', "").replace("deadlock: true", "runaway: true")

    verdict = compare(
        scenario(text), {"python": stopped("runaway", PY_TRACE[:1] * 3), "js-async": stopped("runaway", JS_TRACE[:1])}
    )

    assert [item.status for item in verdict.targets] == ["diverge", "error"]
    assert verdict.targets[1].message == "runaway: scenario 'eager' ..."
