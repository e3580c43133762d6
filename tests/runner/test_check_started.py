"""runner/check_started.py: started calls as values, through the loader."""

from __future__ import annotations

from asyncparity.load import load_text

HEAD = """\
id: a
summary: s
operations:
  fetch: {latency: 10, returns: 1}
functions:
  wait_for:
    params: [job]
    steps:
      - await: $job
        as: value
      - return: $value
  gather_all:
    params: [jobs]
    steps:
      - all: $jobs
        as: values
      - return: $values
  show:
    params: [item]
    steps:
      - log: $item
  relay:
    params: [job]
    steps:
      - await: wait_for
        args: [$job]
main:
  - start: fetch
    as: a
  - start: fetch
    as: b
"""


def load(steps: str) -> tuple[list[str], dict | None]:
    result = load_text(HEAD + steps, "t.yaml")
    ir = result.scenario.ir if result.scenario is not None else None
    return [str(diagnostic) for diagnostic in result.diagnostics], ir


def main_steps(ir: dict | None) -> list[dict]:
    assert ir is not None
    return [{key: value for key, value in step.items() if key != "line"} for step in ir["main"]]


def test_a_fan_out_takes_a_list_of_started_calls_a_name_holding_one_or_none() -> None:
    diagnostics, ir = load(
        "  - set: jobs\n    value: [$a, $b]\n  - race: [$a, $b]\n  - all: $jobs\n    as: values\n"
        "  - any: []\n  - all_settled: [$b]\n  - return: $values\n"
    )
    assert diagnostics == []
    assert main_steps(ir)[2:7] == [
        {"step": "set", "bind": "jobs", "value": {"list": [{"ref": "a"}, {"ref": "b"}]}},
        {"step": "race", "over": {"list": [{"ref": "a"}, {"ref": "b"}]}, "bind": None},
        {"step": "all", "over": {"ref": "jobs"}, "bind": "values"},
        {"step": "any", "over": {"literal": []}, "bind": None},
        {"step": "all_settled", "over": {"list": [{"ref": "b"}]}, "bind": None},
    ]


def test_a_started_call_or_a_list_of_them_is_an_argument_of_a_function() -> None:
    diagnostics, ir = load(
        "  - await: wait_for\n    args: [$a]\n  - await: gather_all\n    args: [[$a, $b]]\n"
        "  - await: gather_all\n    args: [[]]\n  - await: relay\n    args: [$b]\n  - await: show\n    args: [[]]\n"
    )
    assert diagnostics == []
    assert [step["call"]["args"] for step in main_steps(ir)[2:]] == [
        [{"ref": "a"}],
        [{"list": [{"ref": "a"}, {"ref": "b"}]}],
        [{"literal": []}],
        [{"ref": "b"}],
        [{"literal": []}],
    ]
    assert ir is not None
    assert ir["functions"][0]["body"][0] == {"step": "await", "handle": "job", "bind": "value", "line": 9}


def test_each_call_is_held_to_what_the_function_does_with_its_parameter() -> None:
    diagnostics, _ = load(
        "  - await: wait_for\n    args: [1]\n"
        "  - await: gather_all\n    args: [$a]\n"
        "  - await: show\n    args: [$a]\n"
        "  - await: relay\n    args: [[]]\n"
        "  - await: fetch\n    args: [$a]\n"
    )
    assert diagnostics == [
        "t.yaml:41:12: an operation takes values, not a started call",
        "t.yaml:33:12: 'wait_for' awaits its parameter 'job': pass a started call, not 1",
        "t.yaml:35:12: 'gather_all' waits for its parameter 'jobs': pass a list of started calls, not the string '$a'",
        "t.yaml:37:12: 'show' uses its parameter 'item' as a value, not a started call",
        "t.yaml:39:12: 'relay' awaits its parameter 'job': pass a started call, not a list",
    ]


def test_a_parameter_is_one_thing() -> None:
    text = (
        "id: a\nsummary: s\nfunctions:\n  f:\n    params: [job]\n    steps:\n"
        "      - await: $job\n      - all: $job\n      - log: $job\nmain:\n  - return: 1\n"
    )
    assert [str(diagnostic) for diagnostic in load_text(text, "t.yaml").diagnostics] == [
        "t.yaml:8:14: '$job' is used as a started call at line 7; here as a list of started calls",
        "t.yaml:7:16: '$job' is used as a value at line 9; a parameter that takes a started call is only awaited, "
        "given to all, race, any or all_settled, or passed on",
    ]


def test_what_is_no_started_call_is_refused_where_one_is_taken() -> None:
    diagnostics, _ = load(
        "  - set: data\n    value: 5\n  - set: jobs\n    value: [$a]\n"
        "  - wait: [$a, $data]\n  - race: $a\n  - any: [$jobs]\n  - all_settled: [$a, {call: fetch}]\n"
        "  - set: mixed\n    value: [$a, 2]\n  - await: $jobs\n  - log: $jobs\n"
    )
    assert diagnostics == [
        "t.yaml:36:16: wait takes started calls ('$name' of a start step) or calls ({call: NAME}), not '$data', "
        "a plain value: asyncio.gather and asyncio.wait refuse one",
        "t.yaml:37:11: race takes a list: calls ({call: NAME}), started calls ([$a, $b]) or a name holding a list of "
        "started calls, not '$a', one started call",
        "t.yaml:38:11: any takes started calls ('$name' of a start step), values, or calls ({call: NAME}) alone, not "
        "'$jobs', a list of started calls (write '$jobs' alone, not in a list)",
        "t.yaml:39:23: all_settled takes started calls ('$name' of a start step), values, or calls ({call: NAME}) "
        "alone, not a call: "
        "start it first ('start: NAME' with 'as: NAME'), or list calls only",
        "t.yaml:41:17: a list of started calls holds started calls only ('$name' of a start step), not 2: "
        "asyncio.gather and asyncio.wait refuse a plain value",
        "t.yaml:42:12: '$jobs' is a list of started calls; await them with 'all: $jobs'",
        "t.yaml:43:10: '$jobs' is a list of started calls; get their values with 'all: $jobs'",
    ]


def test_plain_values_in_a_written_fan_out_list_are_resolved_items() -> None:
    # Promise.all([p, 5]) takes the value as it is; asyncio.gather refuses it, so the IR
    # says which items are values (issue 10, "plain values" in a fan-out).
    diagnostics, ir = load(
        "  - set: theme\n    value: dark\n  - all: [$a, $theme, 5]\n    as: parts\n"
        "  - race: [$b, {calc: [1, '+', 1]}]\n  - any: [7]\n  - all_settled: [$theme]\n  - return: $parts\n"
    )
    assert diagnostics == []
    assert [step.get("over") for step in main_steps(ir)[3:7]] == [
        {"list": [{"ref": "a"}, {"resolved": {"ref": "theme"}}, {"resolved": {"literal": 5}}]},
        {"list": [{"ref": "b"}, {"resolved": {"calc": [{"literal": 1}, "+", {"literal": 1}]}}]},
        {"list": [{"resolved": {"literal": 7}}]},
        {"list": [{"resolved": {"ref": "theme"}}]},
    ]


def test_an_item_that_holds_a_started_call_is_no_plain_value() -> None:
    # $jobs[0] is a started call: gather would take the task itself as the value.
    diagnostics, _ = load("  - set: jobs\n    value: [$a]\n  - all: [$b, '$jobs[0]']\n  - race: [$b, [$a]]\n")
    assert diagnostics == [
        "t.yaml:34:15: all takes started calls ('$name' of a start step), values, or calls ({call: NAME}) alone, "
        "not '$jobs[0]', one of a list of started calls: give the list ('$jobs') or a started call by its own name",
        "t.yaml:35:16: race takes started calls ('$name' of a start step), values, or calls ({call: NAME}) alone, "
        "not a list holding started calls: write them in the fan-out's own list",
    ]


def test_a_started_call_may_go_to_a_parameter_the_function_never_reads() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  fetch: {latency: 10, returns: 1}\nfunctions:\n  keep:\n    params: [job]\n"
        "    steps:\n      - return: 1\nmain:\n  - start: fetch\n    as: a\n  - await: keep\n    args: [$a]\n"
        "  - await: $a\n    as: value\n  - return: $value\n"
    )
    assert load_text(text, "t.yaml").diagnostics == []
