"""Tests for runner/load.py: YAML in, IR or diagnostics (file:line:col) out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from asyncparity.load import (
    discover,
    find_scenarios,
    is_scenario_text,
    load_file,
    load_files,
    load_paths,
    load_text,
    passed_over_reason,
)
from asyncparity.model import (
    DEFAULT_LIMITS,
    MAX_BLOCK_DEPTH,
    MAX_FILE_BYTES,
    MAX_STEPS,
    MAX_VALUE_DEPTH,
    MAX_YAML_DEPTH,
    PYTHON_TARGETS,
    TARGETS,
    Discovery,
)
from asyncparity.node import find_node
from asyncparity.pythons import find_python
from asyncparity.suite import run_suite
from asyncparity.testees import NodeTestee, PythonTestee, PythonWorkerTestee
from asyncparity_python.ir_steps import walk
from helpers import find_cpython, full_only

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"

MINIMAL = "id: tiny\nsummary: One log step.\nmain:\n  - log: hello\n"


def messages(text: str) -> list[str]:
    return [str(diagnostic) for diagnostic in load_text(text, "t.yaml").diagnostics]


def test_seed_scenario_becomes_the_documented_ir() -> None:
    result = load_file(SPEC / "seed" / "download-fallback.yaml", display="spec/seed/download-fallback.yaml")

    assert result.diagnostics == []
    ir = result.scenario.ir
    assert ir["ir"] == 1
    assert ir["id"] == "seed-download-fallback"
    assert ir["source"] == "spec/seed/download-fallback.yaml"
    assert ir["limits"] == DEFAULT_LIMITS
    assert ir["errors"] == ["IOError"]
    assert ir["operations"][0] == {
        "name": "download_data",
        "latency": 30,
        "outcomes": [{"fails": {"kind": "IOError", "message": "connection reset"}}],
    }
    try_step = ir["functions"][0]["body"][0]
    assert try_step["step"] == "try"
    assert try_step["catch"]["kinds"] == ["IOError"]
    assert try_step["body"][0] == {
        "step": "await",
        "call": {"callee": "download_data", "callee_kind": "operation", "args": [{"ref": "url"}]},
        "bind": "data",
        "line": 22,
    }
    assert ir["main"][1]["message"] == {"format": ["got ", {"ref": "result"}]}
    json.dumps(ir)  # plain JSON all the way down


def test_minimal_scenario_loads() -> None:
    result = load_text(MINIMAL, "t.yaml")

    assert result.diagnostics == []
    assert result.scenario.ir["main"] == [{"step": "log", "message": {"literal": "hello"}, "line": 4}]
    assert result.scenario.expect is None


def test_yaml_syntax_error_names_file_line_and_column() -> None:
    assert messages("id: x\nsummary: [unclosed\nmain: []\n") == [
        "t.yaml:3:5: YAML syntax error: expected ',' or ']', but got ':' while parsing a flow sequence"
    ]


def test_duplicate_key_is_rejected_not_silently_kept() -> None:
    assert messages("id: a\nid: b\nsummary: s\nmain:\n  - log: x\n") == [
        "t.yaml:2:1: duplicate key 'id' in a scenario (first at line 1)"
    ]


def test_every_mistake_in_a_file_is_reported_at_once_with_suggestions() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  download:\n    latency: 5\n    returns: 1\n"
        "main:\n  - tyr:\n      - log: x\n  - await: downlod\n  - log: $nme\n"
    )
    assert messages(text) == [
        "t.yaml:8:5: unknown step 'tyr'; did you mean 'try'?",
        "t.yaml:10:12: unknown operation or function 'downlod'; did you mean 'download'?",
        "t.yaml:11:10: unknown name '$nme': nothing is bound by that name before this step"
        ' (for the text itself write {literal: "$nme"})',
    ]


def test_unknown_keys_get_did_you_mean() -> None:
    text = "id: a\nsumary: s\nmain:\n  - await: f\n    ass: x\n"
    assert messages(text)[:2] == [
        "t.yaml:2:1: unknown key 'sumary' in the scenario; did you mean 'summary'?",
        "t.yaml:1:1: missing required key 'summary'",
    ]
    assert "t.yaml:5:5: unknown key 'ass' in an 'await' step; did you mean 'as'?" in messages(text)


def test_misspelt_bound_name_gets_did_you_mean() -> None:
    text = "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    returns: 2\nmain:\n  - await: f\n    as: result\n  - return: $reslt\n"
    assert messages(text) == ["t.yaml:10:13: unknown name '$reslt'; did you mean 'result'?"]


def test_reserved_and_colliding_names() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  load_a:\n    latency: 1\n    returns: 1\n"
        "  loadA:\n    latency: 1\n    returns: 1\n  await:\n    latency: 1\n    returns: 1\n"
        "main:\n  - await: load_a\n    as: world\n"
    )
    assert messages(text) == [
        "t.yaml:7:3: operation name 'loadA' must be lower_snake_case (a-z, 0-9, _; starting with a letter)",
        "t.yaml:10:3: operation name 'await' is reserved: Python, JavaScript or the generated programs use it",
        "t.yaml:15:9: name 'world' is reserved: Python, JavaScript or the generated programs use it",
    ]


def test_snake_names_that_collide_in_camel_case_are_rejected() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  get_a1:\n    latency: 1\n    returns: 1\n"
        "  get_a_1:\n    latency: 1\n    returns: 1\nmain:\n  - await: get_a1\n"
    )
    assert messages(text) == ["t.yaml:7:3: 'get_a_1' and 'get_a1' are both 'getA1' in JavaScript; rename one"]


def test_values_that_are_not_json_are_rejected() -> None:
    text = "id: a\nsummary: s\nmain:\n  - log: 2024-01-01\n  - log: 9007199254740993\n  - log: .nan\n"
    assert messages(text) == [
        "t.yaml:4:10: a value: '2024-01-01' reads as date, not a JSON value; quote it to make a string",
        "t.yaml:5:10: a value: integer 9007199254740993 is too large for JavaScript (limit 2**53-1); write it as a string",
        "t.yaml:6:10: a value: .nan is not a JSON number",
    ]


def test_strings_that_only_look_like_references_stay_literal() -> None:
    text = "id: a\nsummary: s\nmain:\n  - log: '${x}'\n  - log: $HOME\n  - log: {literal: $x}\n  - log: '{x}'\n"
    result = load_text(text, "t.yaml")

    assert result.diagnostics == []
    assert [step["message"] for step in result.scenario.ir["main"]] == [
        {"literal": "${x}"},
        {"literal": "$HOME"},
        {"literal": "$x"},
        {"literal": "{x}"},
    ]


def test_format_holes_braces_and_errors() -> None:
    text = "id: a\nsummary: s\nmain:\n  - log: {format: 'a {{b}} c'}\n  - log: {format: 'x {nope}'}\n  - log: {format: 'y {'}\n"
    assert messages(text) == [
        "t.yaml:5:19: format: unknown name '{nope}': nothing is bound by that name before this step "
        "(for the braces themselves write '{{nope}}')",
        "t.yaml:6:19: format: '{' at offset 2 is not closed; write '{{' for a brace",
    ]
    ok = load_text("id: a\nsummary: s\nmain:\n  - log: {format: 'a {{b}} c'}\n", "t.yaml")
    assert ok.scenario.ir["main"][0]["message"] == {"literal": "a {b} c"}


def test_caught_errors_are_used_through_kind_and_message() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    fails: {kind: Boom, message: m}\n"
        "main:\n  - try:\n      - await: f\n    catch:\n      as: error\n      steps:\n        - log: $error\n        - log: $error.message\n"
    )
    assert messages(text) == ["t.yaml:13:16: '$error': a caught error is used through '$error.kind' or '$error.message'"]


def test_started_calls_are_awaited_not_used_as_values() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    returns: 1\n"
        "main:\n  - start: f\n    as: task\n  - log: $task\n  - await: $tsk\n  - await: $task\n    as: value\n"
    )
    assert messages(text) == [
        "t.yaml:10:10: '$task' is a started call; get its value with 'await: $task'",
        "t.yaml:11:12: '$tsk' is not a started call; await a name bound by a 'start' step; did you mean 'task'?",
    ]


def test_function_arity_is_checked() -> None:
    text = "id: a\nsummary: s\nfunctions:\n  g:\n    params: [x]\n    steps:\n      - return: $x\nmain:\n  - await: g\n    args: [1, 2]\n"
    assert messages(text) == ["t.yaml:10:11: 'g' takes 1 argument(s), given 2"]


def test_a_catch_of_a_kind_spelt_like_a_raised_one_is_a_typo() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    fails: {kind: IOError, message: m}\n"
        "main:\n  - try:\n      - await: f\n    catch:\n      kind: [IOErorr, Timeout]\n      steps: []\n"
    )
    assert messages(text) == [
        "t.yaml:11:14: error kind 'IOErorr' is caught but never thrown or failed with; did you mean 'IOError'?"
    ]
    fixed = load_text(text.replace("IOErorr", "IOError"), "t.yaml")
    assert fixed.scenario.ir["errors"] == ["IOError", "Timeout"]


def test_divergence_must_state_a_difference() -> None:
    text = (
        "id: a\nsummary: s\nmain:\n  - return: 1\nexpect:\n  returns: 1\n"
        "diverge:\n  - targets: [python, js-asyn]\n    reason: same\n    cause: language\n    returns: 1\n"
    )
    assert messages(text) == [
        "t.yaml:8:23: unknown target 'js-asyn'; did you mean 'js-async'?",
        "t.yaml:8:5: this divergence states the same outcome as expect; state what differs",
    ]


def test_a_divergence_states_its_cause_language_or_idiom() -> None:
    head = "id: a\nsummary: s\nmain:\n  - return: 1\nexpect:\n  returns: 1\ndiverge:\n"
    assert messages(head + "  - targets: [python]\n    reason: r\n    returns: 2\n") == ["t.yaml:8:5: a divergence needs cause"]
    assert messages(head + "  - targets: [python]\n    returns: 2\n") == ["t.yaml:8:5: a divergence needs reason and cause"]
    assert messages(head + "  - targets: [python]\n    reason: r\n    cause: languge\n    returns: 2\n") == [
        "t.yaml:10:12: cause is 'language' (the languages differ) or 'idiom' (the way one target's code is "
        "written differs), not 'languge'; did you mean 'language'?"
    ]
    scenario = load_text(
        head + "  - targets: [js-promise]\n    reason: r\n    cause: idiom\n"
        "    closed_by: >\n      write it\n      with await\n    returns: 2\n",
        "t.yaml",
    ).scenario
    assert (scenario.diverge[0].cause, scenario.diverge[0].closed_by) == ("idiom", "write it with await")


def test_a_result_is_one_of_returns_throws_or_uncaught() -> None:
    head = "id: a\nsummary: s\nmain:\n  - return: 1\n"
    scenario = load_text(head + "expect:\n  uncaught: {kind: IOError, message: down}\n", "t.yaml").scenario
    assert scenario.expect.result == {"uncaught": {"kind": "IOError", "message": "down"}}
    assert messages(head + "expect:\n  returns: 1\n  uncaught: {kind: IOError, message: down}\n") == [
        "t.yaml:6:3: expect states one of returns, throws or uncaught, not returns and uncaught"
    ]
    assert messages(head + "expect:\n  order: instant\n") == [
        "t.yaml:6:3: expect needs returns, throws or uncaught, a trace, or both"
    ]


def test_expectation_overlay_for_a_divergent_target() -> None:
    scenario = load_file(SPEC / "divergences" / "eager-start.yaml").scenario

    python, divergence = scenario.expected_for("python")
    js, none = scenario.expected_for("js-async")

    assert none is None and js is scenario.expect
    assert divergence.targets == ("python",)
    assert python.result == {"returns": "profile"}
    assert python.trace[:2] == ('0 log "started"', "0 start fetch_profile()")
    assert "Python coroutine waits until it is scheduled" in divergence.reason


def test_several_documents_and_empty_files_are_errors() -> None:
    assert messages(MINIMAL + "---\n" + MINIMAL) == ["t.yaml:6:1: one scenario per file: a second YAML document starts here"]
    assert messages("") == ["t.yaml:1:1: empty file: a scenario needs at least id, summary and main"]


def test_repeated_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)

    first, second = load_paths([tmp_path])

    assert first.scenario is not None
    assert [str(d) for d in second.diagnostics] == [
        f"{tmp_path}/b.yaml:1:1: scenario id 'tiny' is already used by {tmp_path}/a.yaml:1"
    ]
    assert second.diagnostics[0].related == f"{tmp_path}/a.yaml"  # what the rerun command reads too


def test_discover_takes_scenarios_and_leaves_other_yaml(tmp_path: Path) -> None:
    (tmp_path / "ci.yml").write_text("on: push\njobs: {}\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "s.yaml").write_text(MINIMAL)

    assert discover([tmp_path]) == [tmp_path / "nested" / "s.yaml"]
    assert discover([tmp_path / "ci.yml"]) == [tmp_path / "ci.yml"]  # named explicitly: taken
    assert is_scenario_text("# yaml-language-server: $schema=../scenario.schema.json\n")


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    assert [str(d) for d in load_file(tmp_path / "nope.yaml", display="nope.yaml").diagnostics] == ["nope.yaml:1:1: no such file"]


SHIPPED = discover([SPEC])  # the scenario files; spec/ also holds known-outcomes.yaml


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: str(path.relative_to(SPEC)))
def test_every_shipped_scenario_loads_and_matches_the_json_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SPEC / "scenario.schema.json").read_text())

    assert load_file(path).diagnostics == []
    assert list(jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(path.read_text()))) == []


def test_the_schema_line_points_at_the_schema() -> None:
    for path in SHIPPED:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../scenario.schema.json", path


INVALID = [
    "id: a\nsummary: s\nmain:\n  - tyr: []\n",
    "id: a\nsummary: s\nmain:\n  - sleep: -1\n",
    "id: a\nsummary: s\nmain:\n  - all: [{call: f}]\n",
    "id: A\nsummary: s\nmain:\n  - log: x\n",
    "id: a\nsummary: s\nmain: []\n",
    "id: a\nsummary: s\nmain:\n  - if: [1, '=', 2]\n    then: []\n",
    "id: a\nsummary: s\noperations:\n  f: {latency: 1}\nmain:\n  - await: f\n",
    "id: a\nsummary: s\nmain:\n  - log: x\nexpect: {returns: 1, throws: {kind: E, message: m}}\n",
    "id: a\nsummary: s\nmain:\n  - log: x\nexpect: {trace: '0 log \"x\"', deadlock: true}\n",
    "id: a\nsummary: s\nmain:\n  - log: x\ndiverge: [{targets: [python], cause: language, reason: r, deadlock: false}]\n",
    "id: a\nsummary: s\nmain:\n  - log: x\ndiverge: [{targets: [python], cause: language, reason: r, returns: 1, crash: true}]\n",
]


@pytest.mark.parametrize("text", INVALID)
def test_the_json_schema_and_the_loader_reject_the_same_mistakes(text: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SPEC / "scenario.schema.json").read_text())

    assert load_text(text, "t.yaml").diagnostics != []
    assert list(jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(text))) != []


def test_the_step_table_walks_nested_blocks_of_loaded_ir() -> None:
    scenario = load_file(SPEC / "errors" / "retry-fixed-delay.yaml").scenario

    assert [step["step"] for step in walk(scenario.ir["main"])] == [
        "repeat",
        "try",
        "await",
        "return",
        "log",
        "sleep",
        "throw",
    ]


def test_lone_surrogates_from_yaml_escapes_are_rejected() -> None:
    assert messages('id: a\nsummary: s\nmain:\n  - log: "\\ud83c"\n') == [
        "t.yaml:4:10: a value: a lone UTF-16 surrogate \\ud83c; write the character itself or use \\U for it"
    ]


def test_a_loop_counter_or_caught_error_cannot_be_bound_again_in_its_block() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    returns: 1\n"
        "main:\n  - repeat: 2\n    as: attempt\n    steps:\n      - await: f\n        as: attempt\n"
        "  - try:\n      - await: f\n    catch:\n      as: error\n      steps:\n        - await: f\n          as: error\n"
    )
    assert messages(text) == [
        "t.yaml:12:13: 'attempt' is the loop counter in this block; bind another name",
        "t.yaml:19:15: 'error' is the caught error in this block; bind another name",
    ]


def test_a_caught_error_exists_only_inside_its_catch() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    fails: {kind: Boom, message: m}\n"
        "main:\n  - try:\n      - await: f\n    catch:\n      as: error\n      steps:\n        - log: $error.message\n"
        "    finally:\n      - log: $error.message\n"
    )
    assert messages(text) == [
        "t.yaml:15:14: '$error' is the error of a catch that has ended; it exists only inside that catch's steps"
    ]


def test_expected_errors_may_be_groups_with_members() -> None:
    text = (
        "id: a\nsummary: s\nmain:\n  - return: 1\nexpect:\n"
        "  throws: {kind: AggregateError, message: all failed, errors: [{kind: IOError, message: a}]}\n"
    )
    result = load_text(text, "t.yaml")

    assert result.diagnostics == []
    assert result.scenario.expect.result == {
        "throws": {"kind": "AggregateError", "message": "all failed", "errors": [{"kind": "IOError", "message": "a"}]}
    }


def test_a_catch_of_an_unrelated_kind_is_no_typo_and_an_empty_kind_list_is() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    fails: {kind: IOError, message: m}\n"
        "main:\n  - try:\n      - await: f\n    catch:\n      kind: HttpError\n      steps: []\n"
        "  - try:\n      - await: f\n    catch:\n      kind: []\n      steps: []\n"
    )
    assert messages(text) == ["t.yaml:16:13: catch kind: [] names no kind; leave kind out to catch every error"]


def test_a_name_bound_on_some_paths_only_cannot_be_read() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    returns: 1\n"
        "main:\n  - if: [1, '==', 1]\n    then:\n      - await: f\n        as: x\n  - log: $x\n"
        "  - repeat: 2\n    as: i\n    steps:\n      - await: f\n        as: y\n  - log: $y\n  - log: $i\n"
    )
    assert messages(text) == [
        "t.yaml:12:10: '$x' may not be bound here: some paths to this step do not bind it (bind it before the branch, or on every path)",
        "t.yaml:19:10: '$i' is the counter of a repeat that has ended; it exists only inside the loop",
    ]


def test_names_bound_on_every_path_are_fine() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f:\n    latency: 1\n    fails: {kind: E, message: m}\n"
        "main:\n  - if: [1, '==', 1]\n    then:\n      - await: f\n        as: x\n    else:\n      - throw: {kind: E, message: no}\n"
        "  - log: $x\n  - try:\n      - await: f\n        as: y\n    catch:\n      - await: f\n        as: y\n  - log: $y\n"
        "  - try:\n      - log: 1\n    finally:\n      - await: f\n        as: z\n  - log: $z\n"
    )
    assert messages(text) == []


def test_names_are_checked_in_their_javascript_spelling_too() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  fetch:\n    latency: 1\n    returns: 1\n"
        "main:\n  - await: fetch\n    as: class_\n  - await: fetch\n    as: fetch_\n"
        "  - await: fetch\n    as: a_b\n  - await: fetch\n    as: a__b\n"
    )
    assert messages(text) == [
        "t.yaml:9:9: name 'class_' is 'class' in JavaScript, which is reserved there",
        "t.yaml:11:9: 'fetch_' and 'fetch' are both 'fetch' in JavaScript; choose another name",
        "t.yaml:15:9: 'a__b' and 'a_b' are both 'aB' in JavaScript; choose another name",
    ]


def test_set_cancel_map_and_queues_become_ir() -> None:
    text = (
        "id: a\nsummary: s\nqueues:\n  jobs: {size: 1}\noperations:\n  f: {latency: 5, returns: 1, on_cancel: ignore}\n"
        "functions:\n  page:\n    params: [n]\n    steps:\n      - return: $n\n"
        "main:\n  - set: delay\n    value: 100\n  - set: delay\n    value: {calc: [$delay, '*', 2]}\n"
        "  - start: f\n    as: task\n  - cancel: $task\n  - try:\n      - await: $task\n    catch:\n      kind: CancelledError\n      steps: []\n"
        "  - map: page\n    over: [1, 2]\n    limit: 1\n    as: pages\n  - put: jobs\n    value: $delay\n  - get: jobs\n    as: job\n"
    )
    result = load_text(text, "t.yaml")

    assert result.diagnostics == []
    ir = result.scenario.ir
    assert ir["queues"] == [{"name": "jobs", "size": 1}]
    assert ir["operations"][0]["on_cancel"] == "ignore"
    assert ir["errors"] == []  # CancelledError is each language's own, never a scenario kind
    steps = [{k: v for k, v in step.items() if k != "line"} for step in ir["main"]]
    assert steps[1] == {"step": "set", "bind": "delay", "value": {"calc": [{"ref": "delay"}, "*", {"literal": 2}]}}
    assert steps[3] == {"step": "cancel", "handle": "task"}
    assert steps[4]["catch"]["kinds"] == ["CancelledError"]
    assert steps[5] == {
        "step": "map",
        "callee": "page",
        "callee_kind": "function",
        "over": {"literal": [1, 2]},
        "limit": 1,
        "bind": "pages",
    }
    assert steps[6:] == [
        {"step": "put", "queue": "jobs", "value": {"ref": "delay"}},
        {"step": "get", "queue": "jobs", "bind": "job"},
    ]


def test_cancel_takes_a_call_started_from_a_function() -> None:
    text = (
        "id: a\nsummary: s\noperations:\n  f: {latency: 5, returns: 1}\n"
        "functions:\n  beat:\n    steps:\n      - await: f\n"
        "main:\n  - start: beat\n    as: h\n  - cancel: $h\n  - return: 1\n"
    )
    result = load_text(text, "t.yaml")
    assert result.diagnostics == []
    assert [step["step"] for step in result.scenario.ir["main"]] == ["start", "cancel", "return"]


def test_cancel_map_and_queue_mistakes() -> None:
    text = (
        "id: a\nsummary: s\nqueues:\n  jobs: {}\noperations:\n  f: {latency: 5, returns: 1}\n"
        "functions:\n  two:\n    params: [a, b]\n    steps:\n      - return: $a\n"
        "main:\n  - start: two\n    args: [1, 2]\n    as: h\n  - cancel: $h\n  - cancel: $nothing\n"
        "  - map: two\n    over: [1]\n    limit: 1\n  - get: jbos\n  - await: jobs\n"
    )
    assert messages(text) == [
        "t.yaml:17:13: cancel takes a started call, '$name' of a 'start' step",
        "t.yaml:18:10: map calls 'two' with one item, but it takes 2 argument(s)",
        "t.yaml:21:10: unknown queue 'jbos' (queues are declared under queues:); did you mean 'jobs'?",
        "t.yaml:22:12: 'jobs' is a queue; use put and get with it",
    ]


GENERATORS = """\
id: a
summary: s
resources:
  connection: {open: 5, close: 3}
operations:
  f: {latency: 5, returns: 1}
functions:
  ticks:
    params: [count]
    generator: true
    steps:
      - repeat: 3
        as: index
        steps:
          - yield: $index
main:
  - for_each: ticks
    args: [3]
    as: tick
    steps:
      - if: [$tick, "==", 1]
        then:
          - break: true
  - using: connection
    args: ["db"]
    as: conn
    steps:
      - await: f
        args: [$conn]
"""


def test_generators_for_each_break_and_using_become_ir() -> None:
    result = load_text(GENERATORS, "t.yaml")

    assert result.diagnostics == []
    ir = result.scenario.ir
    assert ir["resources"] == [{"name": "connection", "open": 5, "close": 3}]
    assert ir["functions"][0]["generator"] is True
    for_each, using = ir["main"]
    assert for_each["call"] == {"callee": "ticks", "callee_kind": "function", "args": [{"literal": 3}]}
    assert for_each["body"][0]["then"] == [{"step": "break", "line": 23}]
    assert (using["resource"], using["args"], using["bind"]) == ("connection", [{"literal": "db"}], "conn")


LOOPS = """\
id: a
summary: s
operations:
  f: {latency: 1, returns: 1}
main:
  - set: n
    value: 2
  - while: [$n, ">", 0]
    steps:
      - set: n
        value: {calc: [$n, "-", 1]}
      - if: [$n, "==", 1]
        then:
          - continue: true
      - await: f
        as: got
  - repeat: {calc: [$n, "+", 2]}
    as: i
    steps:
      - await: f
        as: each
      - break: true
  - repeat: 2
    steps:
      - await: f
        as: always
  - return: $always
"""


def test_while_continue_break_and_a_computed_count_become_ir() -> None:
    result = load_text(LOOPS, "t.yaml")

    assert result.diagnostics == []
    _, loop, counted, fixed, _ = result.scenario.ir["main"]
    assert {key: loop[key] for key in ("step", "condition")} == {
        "step": "while",
        "condition": {"compare": [{"ref": "n"}, ">", {"literal": 0}]},
    }
    assert loop["body"][1]["then"] == [{"step": "continue", "line": 14}]
    assert counted["times"] == {"calc": [{"ref": "n"}, "+", {"literal": 2}]}
    assert counted["body"][1] == {"step": "break", "line": 22}
    assert fixed["times"] == 2


def test_what_a_loop_binds_is_bound_after_it_only_when_every_round_runs_to_its_end() -> None:
    # A literal repeat without break or continue runs its steps to their end at least
    # once (`$always` above); a while may run no round, a computed count may be 0, a
    # break or continue may skip the rest of a round.
    unbound = "may not be bound here: some paths to this step do not bind it (bind it before the branch, or on every path)"
    for name in ("got", "each"):
        assert messages(LOOPS.replace("return: $always", f"return: ${name}")) == [f"t.yaml:27:13: '${name}' {unbound}"]
    with_break = LOOPS.replace("        as: always\n", "        as: always\n      - break: true\n")
    assert messages(with_break) == [f"t.yaml:28:13: '$always' {unbound}"]


def test_generator_mistakes() -> None:
    text = GENERATORS.replace(
        "  - using: connection",
        "  - log: $tick\n  - break: true\n  - await: ticks\n  - for_each: f\n    steps: []\n  - using: connection",
    )
    assert messages(text) == [
        "t.yaml:24:10: '$tick' is the variable of a for_each that has ended; it exists only inside the loop",
        "t.yaml:25:5: break belongs in a loop (repeat, while or for_each); here it is inside no loop",
        "t.yaml:26:12: 'ticks' is a generator; consume its values with 'for_each: ticks'",
        "t.yaml:27:15: 'f' is not a generator; for_each consumes a function with generator: true",
    ]


def test_map_goes_over_a_list_with_an_ordinary_function() -> None:
    text = GENERATORS.replace(
        "  - using: connection",
        "  - map: ticks\n    over: [1]\n    limit: 1\n  - map: f\n    over: 5\n    limit: 1\n  - using: connection",
    )
    assert messages(text) == [
        "t.yaml:24:10: 'ticks' is a generator; consume its values with 'for_each: ticks'",
        "t.yaml:28:11: map goes over a list of items, not 5",
    ]


def test_a_queue_or_operation_used_as_a_value_gets_advice() -> None:
    text = (
        "id: a\nsummary: s\nqueues:\n  jobs: {}\noperations:\n  f: {latency: 1, returns: 1}\nmain:\n  - log: $jobs\n  - log: $f\n"
    )
    assert messages(text) == [
        "t.yaml:8:10: '$jobs' names a queue, not a value; take a value from it with 'get: jobs'",
        "t.yaml:9:10: '$f' names an operation, not a value; call it with 'await: f'",
    ]


def test_requires_becomes_part_of_the_ir() -> None:
    text = MINIMAL + "requires:\n  python: '3.11'\n  node: '22'\n  features: [await_using]\n"
    assert load_text(text, "t.yaml").scenario.ir["requires"] == {"python": "3.11", "node": "22", "features": ["await_using"]}
    assert messages(MINIMAL + "requires:\n  node: 22\n") == ["t.yaml:6:9: requires.node must be a string, not 22"]


def test_name_clashes_across_kinds_and_break_spelling() -> None:
    text = GENERATORS.replace("functions:\n", "queues:\n  connection: {}\nfunctions:\n  f:\n    steps: []\n", 1).replace(
        "          - break: true", "          - break: 1"
    )
    assert messages(text) == [
        "t.yaml:8:3: 'connection' is already a resource",
        "t.yaml:10:3: 'f' is already an operation",
        "t.yaml:27:20: write a break as 'break: true'",
    ]


def test_parameters_are_checked_in_their_javascript_spelling() -> None:
    text = "id: a\nsummary: s\noperations:\n  fetch: {latency: 1, returns: 1}\nfunctions:\n  g:\n    params: [fetch_, a_b, a__b]\n    steps: []\nmain:\n  - log: x\n"
    assert messages(text) == [
        "t.yaml:7:14: parameter 'fetch_' and 'fetch' are both 'fetch' in JavaScript; choose another name",
        "t.yaml:7:27: parameter 'a__b' and 'a_b' are both 'aB' in JavaScript; choose another name",
    ]


def test_anchors_and_aliases_are_refused() -> None:
    text = "id: a\nsummary: s\noperations:\n  f: &op {latency: 1, returns: 1}\n  g: *op\nmain:\n  - log: '*not an alias* & not an anchor'\n"
    assert messages(text) == ["t.yaml:4:6: anchors and aliases (&name, *name) are not supported: write the value out"]
    assert messages(MINIMAL.replace("hello", "'a & b *c*'")) == []


def test_a_timeout_names_its_javascript_idiom_signal_or_race() -> None:
    head = "id: a\nsummary: s\nmain:\n  - timeout: 50\n"
    steps = "    steps:\n      - log: x\n"
    race = load_text(head + "    idiom: race\n" + steps, "t.yaml").scenario
    assert race.ir["main"][0] == {
        "step": "timeout",
        "ms": 50,
        "body": [{"step": "log", "message": {"literal": "x"}, "line": 7}],
        "idiom": "race",
        "line": 4,
    }
    assert "idiom" not in load_text(head + "    idiom: signal\n" + steps, "t.yaml").scenario.ir["main"][0]
    assert messages(head + "    idiom: rase\n" + steps) == [
        "t.yaml:5:12: a timeout's idiom is 'signal' (the default: the deadline aborts every wait in the block, as "
        "asyncio.timeout cancels it) or 'race' (JavaScript races the block against a deadline and does not stop it), "
        "not 'rase'; did you mean 'race'?"
    ]


# -- limits: nesting, size, steps (issue 9, defect 1) ----------------------------------------

LIMITS_HEAD = """\
id: {id}
summary: Blocks and values as deep as the loader takes them.
operations:
  fail: {{latency: 1, fails: {{kind: Boom, message: m}}}}
  echo: {{latency: 1, returns: 1}}
  later: {{latency: 2, returns: 2}}
resources:
  conn: {{open: 1, close: 1}}
functions:
  ticks:
    generator: true
    steps:
      - yield: 1
"""


def block(kind: str, level: int, indent: str, inner: list[str]) -> list[str]:
    """One step of ``kind`` holding ``inner`` (steps written for ``indent`` + 4 or 6)."""
    if kind == "try":  # inside the catch of a try that also has a finally: CPython's costliest
        return [
            f"{indent}- try:",
            f"{indent}    - await: fail",
            f"{indent}  catch:",
            f"{indent}    as: error_{level}",
            f"{indent}    steps:",
            *inner,
            f"{indent}  finally:",
            f"{indent}    - log: finally {level}",
        ]
    head = {
        "if": ["- if: [1, '==', 1]", "  then:"],
        "repeat": ["- repeat: 2", f"  as: round_{level}", "  steps:"],
        "timeout": ["- timeout: 1000", "  steps:"],
        "for_each": ["- for_each: ticks", f"  as: tick_{level}", "  steps:"],
        "using": ["- using: conn", f"  as: conn_{level}", "  steps:"],
    }[kind]
    return [indent + line for line in head] + inner


def nested_steps(kinds: list[str], indent: str, leaf: list[str]) -> list[str]:
    """Steps that nest one block of each of ``kinds`` in the next, ``leaf`` innermost."""
    if not kinds:
        return [indent + line for line in leaf]
    inner_indent = indent + ("      " if kinds[0] == "try" else "    ")
    return block(kinds[0], len(kinds), indent, nested_steps(kinds[1:], inner_indent, leaf))


def nested_value(depth: int) -> str:
    """A flow value of ``depth`` lists and mappings in one another, alternating."""
    value = '"x"'
    for level in range(depth):
        value = f"[{value}]" if level % 2 == 0 else f"{{k: {value}}}"
    return value


def deep_scenario(scenario_id: str, kinds: list[str], value_depth: int = 1) -> str:
    """The blocks ``kinds`` nested in a function and in main, a value ``value_depth`` deep
    passed in, returned by an operation, logged and expected."""
    value = nested_value(value_depth)
    # `any` is CPython's costliest step that holds none: three blocks (a for, a try, an except).
    leaf = ["- await: echo", f"  args: [{value}]", "  as: got", "- any: [{call: fail}, {call: later}]", "  as: first"]
    leaf += ["- log: [$got, $value, $first]"]
    return (
        LIMITS_HEAD.format(id=scenario_id).replace("echo: {latency: 1, returns: 1}", f"echo: {{latency: 1, returns: {value}}}")
        + "  deep:\n    params: [value]\n    steps:\n"
        + "\n".join(nested_steps(kinds, "      ", leaf))
        + "\n      - return: $value\nmain:\n"
        + "\n".join(nested_steps(kinds, "  ", ["- set: value", f"  value: {value}", *leaf]))
        + f"\n  - await: deep\n    args: [{value}]\n    as: result\n  - return: $result\nexpect:\n  returns: {value}\n"
    )


EVERY_BLOCK = ["try", "if", "repeat", "timeout", "for_each", "using"]
AT_THE_LIMITS = {
    # CPython's costliest nesting, MAX_BLOCK_DEPTH deep.
    "trys-at-the-limit": deep_scenario("trys-at-the-limit", ["try"] * MAX_BLOCK_DEPTH),
    # Every step that holds steps, each inside the one before, and the deepest value.
    "blocks-at-the-limit": deep_scenario("blocks-at-the-limit", EVERY_BLOCK[:MAX_BLOCK_DEPTH], MAX_VALUE_DEPTH),
    "more-blocks-at-the-limit": deep_scenario("more-blocks-at-the-limit", EVERY_BLOCK[-MAX_BLOCK_DEPTH:]),
}


def test_blocks_nest_at_most_max_block_depth_deep() -> None:
    assert MAX_BLOCK_DEPTH == len(EVERY_BLOCK) - 1 == 5
    for text in AT_THE_LIMITS.values():
        assert messages(text) == []
    for kind in EVERY_BLOCK:
        text = deep_scenario("deep", [kind] * (MAX_BLOCK_DEPTH + 1))
        # The sixth block of main: its line, and the column of its head key.
        line = [number for number, content in enumerate(text.splitlines(), 1) if content.lstrip().startswith(f"- {kind}")][
            MAX_BLOCK_DEPTH * 2 + 1
        ]
        column = text.splitlines()[line - 1].index(kind) + 1
        assert messages(text)[1:2] == [
            f"t.yaml:{line}:{column}: this '{kind}' is inside 5 blocks: steps that hold steps (try, if, repeat, while, "
            "timeout, for_each, using) nest at most 5 deep in a function, as CPython compiles at most 20 nested blocks; "
            "move the inner steps into a function of their own"
        ], kind


def test_blocks_past_the_limit_are_reported_once_a_function_and_not_read() -> None:
    # 21 nested repeats and 200 nested ifs (issue 9): a Python target that did not compile,
    # and a RecursionError that ended the run.
    text = deep_scenario("deep", ["repeat"] * 21)
    assert [message.split(": ", 1)[0] for message in messages(text)] == ["t.yaml:32:29", "t.yaml:103:25"]
    ifs = deep_scenario("deep", ["if"] * 200).replace("  deep:\n", "  unused:\n", 1)
    assert messages(ifs) == [
        "t.yaml:77:129: lists and mappings nested more than 64 deep; a scenario file nests them at most 64 deep"
    ]


def test_values_nest_at_most_max_value_depth_deep() -> None:
    head = "id: a\nsummary: s\noperations:\n  f: {latency: 1, returns: 1}\n"
    deepest, past = nested_value(MAX_VALUE_DEPTH), nested_value(MAX_VALUE_DEPTH + 1)
    column = past.index('["x"]') + 1  # the innermost list, the 33rd from outside
    assert deepest.count("[") + deepest.count("{") == 32
    assert messages(head + f"main:\n  - log: {deepest}\n") == []
    message = "lists and mappings nested more than 32 deep; a value nests them at most 32 deep"
    assert messages(head + f"main:\n  - log: {past}\n") == [f"t.yaml:6:{9 + column}: a value: {message}"]
    assert messages(head + f"main:\n  - await: f\n    args: [{past}]\n") == [f"t.yaml:7:{11 + column}: a value: {message}"]
    assert messages(head.replace("returns: 1", f"returns: {past}") + "main:\n  - log: x\n") == [
        f"t.yaml:4:{27 + column}: the value 'f' returns: {message}"
    ]
    assert messages(head + f"main:\n  - log: x\nexpect:\n  returns: {past}\n") == [f"t.yaml:8:{11 + column}: returns: {message}"]
    calc = "1"
    for _ in range(MAX_VALUE_DEPTH // 2):  # a calc is a mapping and a list
        calc = f"{{calc: [{calc}, '+', 1]}}"
    assert messages(head + f"main:\n  - return: {calc}\n") == []
    # Seventeen calcs: the innermost one's mapping is the 33rd list or mapping.
    assert messages(head + f"main:\n  - return: {{calc: [{calc}, '+', 1]}}\n") == [f"t.yaml:6:{13 + 16 * 8}: a value: {message}"]


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 500, 100_000])
def test_yaml_nested_past_its_limit_is_refused_before_composing(depth: int) -> None:
    flow = "id: a\nsummary: s\nmain:\n  - log: " + "[" * depth + "1" + "]" * depth + "\n"
    # The root mapping, main's list and the step's mapping are three levels: the 62nd `[` is the 65th.
    assert messages(flow) == [
        f"t.yaml:4:{10 + MAX_YAML_DEPTH - 3}: lists and mappings nested more than 64 deep; a scenario file nests them at most 64 deep"
    ]
    block = "id: a\nsummary: s\nmain:\n" + "".join(f"{'  ' * level}- \n" for level in range(depth if depth < 1000 else 70))
    assert messages(block) == [
        f"t.yaml:{3 + MAX_YAML_DEPTH}:{2 * MAX_YAML_DEPTH - 1}: lists and mappings nested more than 64 deep; a scenario file nests them at most 64 deep"
    ]


def test_yaml_nested_to_its_limit_is_read() -> None:
    # Expected error groups nest without a value limit: the deepest YAML a scenario holds.
    members = "{kind: IOError, message: m, errors: []}"
    for _ in range((MAX_YAML_DEPTH - 4) // 2):
        members = f"{{kind: IOError, message: m, errors: [{members}]}}"
    text = MINIMAL + f"expect:\n  throws: {members}\n"
    assert text.count("{") + text.count("[") + 2 == MAX_YAML_DEPTH  # and the root mapping, expect
    assert messages(text) == []
    deeper = text.replace("errors: []", "errors: [{kind: E, message: m}]")
    assert messages(deeper) == [
        f"t.yaml:6:{deeper.splitlines()[5].index('{kind: E') + 1}: lists and mappings nested more than 64 deep; a scenario "
        "file nests them at most 64 deep"
    ]


def test_a_scenario_holds_at_most_max_steps_steps() -> None:
    head = "id: a\nsummary: s\nmain:\n"
    assert messages(head + "- log: 1\n" * MAX_STEPS) == []
    assert messages(head + "- log: 1\n" * (MAX_STEPS + 1) + "- tyr: []\n") == [
        f"t.yaml:{4 + MAX_STEPS}:3: more than 10000 steps: a scenario holds at most 10000 (main and its functions "
        "together), and the loader reads no step after this one"
    ]


def test_a_file_larger_than_max_file_bytes_is_refused(tmp_path: Path) -> None:
    head = "id: a\nsummary: s\nmain:\n  - log: "
    at_the_limit = head + "x" * (MAX_FILE_BYTES - len(head) - 1) + "\n"
    (tmp_path / "limit.yaml").write_text(at_the_limit)
    (tmp_path / "past.yaml").write_text(at_the_limit + "\n")

    assert load_file(tmp_path / "limit.yaml").diagnostics == []
    too_large = "1:1: the file is larger than 1,048,576 bytes (1 MiB), the most a scenario file may be"
    assert [str(d) for d in load_file(tmp_path / "past.yaml", display="past.yaml").diagnostics] == [f"past.yaml:{too_large}"]
    assert messages("#" + "é" * (MAX_FILE_BYTES // 2)) == [f"t.yaml:{too_large}"]  # counted in UTF-8 bytes


@pytest.fixture(scope="module")
def node():
    with NodeTestee(find_node()) as testee:
        yield testee


def test_scenarios_at_the_limits_run_and_the_others_keep_their_verdicts(tmp_path: Path, node: NodeTestee) -> None:
    for name, text in AT_THE_LIMITS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    (tmp_path / "blocks-past.yaml").write_text(deep_scenario("blocks-past", ["try"] * 6 + ["repeat"] * 15))
    (tmp_path / "values-past.yaml").write_text(deep_scenario("values-past", ["if"], MAX_VALUE_DEPTH + 1))
    (tmp_path / "yaml-past.yaml").write_text("main:\n  - log: " + "[" * 500 + "]" * 500 + "\n")
    (tmp_path / "z-good.yaml").write_text(MINIMAL + "expect:\n  returns: null\n")

    results = load_paths([tmp_path])
    verdicts = run_suite(results, TARGETS, PythonTestee(), node)

    by_file = {Path(verdict.path).stem: verdict for verdict in verdicts}
    for name in [*AT_THE_LIMITS, "z-good"]:
        statuses = {item.target: item.status for item in by_file[name].targets}
        assert statuses == {
            "python": "agree",
            "python-eager": statuses["python-eager"],
            "js-promise": "agree",
            "js-async": "agree",
        }
    firsts = [by_file[name].diagnostics[0] for name in ("blocks-past", "values-past", "yaml-past")]
    assert [(d.line, d.column, d.message[:50]) for d in firsts] == [
        (42, 39, "this 'try' is inside 5 blocks: steps that hold ste"),
        (5, 111, "the value 'echo' returns: lists and mappings neste"),
        (2, 71, "lists and mappings nested more than 64 deep; a sce"),
    ]


@full_only("the scenarios at the limits on every CPython")
@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_scenarios_at_the_limits_run_on_every_cpython(version: str) -> None:
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no CPython {version}")
    irs = [load_text(text, f"{name}.yaml").scenario.ir for name, text in AT_THE_LIMITS.items()]
    targets = [target for target in PYTHON_TARGETS if target == "python" or version >= "3.12"]
    with PythonWorkerTestee(find_python(version)) as worker:
        outcomes = list(worker.run_many([(ir, target) for ir in irs for target in targets]))
    assert [outcome["status"] for outcome in outcomes] == ["settled"] * len(outcomes), [o["message"] for o in outcomes]


# -- tags (defect 4), bad bytes (defect 5), BOM and CRLF --------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/object/apply:os.system [echo owned]", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [{a: 1}]", "!!omap"),
        ("!!pairs [{a: 1}]", "!!pairs"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2024-01-01", "!!timestamp"),
        ("!!str 1", "!!str"),
        ("!!int '1'", "!!int"),
        ("!!float 1", "!!float"),
        ("!!bool yes", "!!bool"),
        ("!!null ''", "!!null"),
        ("!!seq [1]", "!!seq"),
        ("!!map {a: 1}", "!!map"),
        ("!foo 1", "!foo"),
        ("! 1", "!"),
        ("!<tag:example.com,2024:x> 1", "tag:example.com,2024:x"),
    ],
)
def test_every_tag_written_in_a_file_is_refused_where_it_is(value: str, shown: str) -> None:
    # Before: `!!python/object/apply:os.system [...]` loaded as a list, `!!set` as a map of nulls.
    assert messages(f"id: a\nsummary: s\nmain:\n  - log: x\n  - log: {value}\n") == [
        f"t.yaml:5:10: YAML tags are not supported ({shown}): write the value plainly; quote it to make a string"
    ]


def test_a_tag_on_a_key_or_through_a_tag_directive_is_refused_too() -> None:
    assert messages("id: a\nsummary: s\n!!str main:\n  - log: x\n") == [
        "t.yaml:3:1: YAML tags are not supported (!!str): write the value plainly; quote it to make a string"
    ]
    assert messages("%TAG !e! tag:example.com,2024:\n---\nid: a\nsummary: s\nmain:\n  - log: !e!x 1\n") == [
        "t.yaml:6:10: YAML tags are not supported (tag:example.com,2024:x): write the value plainly; quote it to make a string"
    ]


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        (b"id: a\nsummary: s\nmain:\n  - log: caf\xe9\n", "4:13", "byte 0xe9 (invalid continuation byte)"),
        (b"id: a\nsummary: s\nmain:\n  - log: \xc3\xa9t\xc3\xa9 \xff\n", "4:14", "byte 0xff (invalid start byte)"),
        (b"id: a\nsummary: s\nmain:\n  - log: x\xc3", "4:11", "byte 0xc3 (unexpected end of data)"),
        (b"id: a\nsummary: \xc0\x80\n", "2:10", "byte 0xc0 (invalid start byte)"),  # an overlong NUL
        (b"id: a\nsummary: \xed\xa0\x80\n", "2:10", "byte 0xed (invalid continuation byte)"),  # a surrogate
        (b"\xef\xbb\xbfid: a\r\nsummary: \x80\r\n", "2:10", "byte 0x80 (invalid start byte)"),
        (b"\xff\xfei\x00d\x00", "1:1", "byte 0xff (invalid start byte)"),  # UTF-16
    ],
)
def test_text_that_is_not_utf8_is_reported_at_its_first_bad_byte(tmp_path: Path, data: bytes, where: str, message: str) -> None:
    # Before: "t.yaml:1:1: not UTF-8 text (...)" wherever the byte was.
    (tmp_path / "t.yaml").write_bytes(data)
    assert [str(d) for d in load_file(tmp_path / "t.yaml", display="t.yaml").diagnostics] == [
        f"t.yaml:{where}: not UTF-8 text: {message}; save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("text", "where", "character", "escape"),
    [
        ("id: a\nsummary: s\nmain:\n  - log: a\x00b\n", "4:11", "U+0000", "\\x00"),
        ("id: a\nsummary: s\x07\nmain: []\n", "2:11", "U+0007", "\\x07"),
        ("id: a\r\nsummary: s\r\nmain:\r\n  - log: '\x1b[31m'\r\n", "4:11", "U+001B", "\\x1b"),
        ("id: a\nsummary: é\x7f\n", "2:11", "U+007F", "\\x7f"),
        ("id: a\nsummary: s\nmain:\n  - log: \x9b\n", "4:10", "U+009B", "\\x9b"),
        ("id: a\nsummary: \ufffe\n", "2:10", "U+FFFE", "\\ufffe"),
        ("\ufeff\x00", "1:1", "U+0000", "\\x00"),
    ],
)
def test_control_characters_are_reported_where_they_are(text: str, where: str, character: str, escape: str) -> None:
    # Before: "t.yaml:1:1: YAML error: unacceptable character ..." wherever it was.
    assert messages(text) == [
        f"t.yaml:{where}: character {character} is not allowed in a YAML file; in a double-quoted string write it as {escape}"
    ]


def test_a_byte_order_mark_and_crlf_line_ends_load_as_plain_text(tmp_path: Path) -> None:
    plain = load_text(MINIMAL, "t.yaml").scenario
    for data in (
        b"\xef\xbb\xbf" + MINIMAL.encode(),
        MINIMAL.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + MINIMAL.replace("\n", "\r\n").encode(),
    ):
        (tmp_path / "t.yaml").write_bytes(data)
        loaded = load_file(tmp_path / "t.yaml", display="t.yaml").scenario
        assert loaded is not None and loaded.ir == plain.ir
    # Positions count lines and columns as an editor shows them: the mark is no column.
    (tmp_path / "t.yaml").write_bytes(b"\xef\xbb\xbfid: a\r\nsumary: s\r\nmain:\r\n  - tyr: []\r\n")
    assert [str(d) for d in load_file(tmp_path / "t.yaml", display="t.yaml").diagnostics] == [
        "t.yaml:2:1: unknown key 'sumary' in the scenario; did you mean 'summary'?",
        "t.yaml:1:1: missing required key 'summary'",
        "t.yaml:4:5: unknown step 'tyr'; did you mean 'try'?",
    ]
    discovered = tmp_path / "folder"
    discovered.mkdir()
    (discovered / "bom.yaml").write_bytes(b"\xef\xbb\xbfmain:\r\n  - log: x\r\n")
    assert discover([discovered]) == [discovered / "bom.yaml"]


# -- discovery: every YAML file taken or named with the reason (defect 3) -------------------


def test_discovery_finds_what_rglob_finds_in_its_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found through os.walk as text (a run's memory, issue 13), in Path's order: "a/x"
    # before "a-b/x", though "-" sorts before "/" as text; hidden ones too; and named as
    # rglob names them, relative to "." without "./".
    for name in ("a-b/x.yaml", "a/x.yaml", "a/b/y.yml", ".hidden/z.yaml", "top.yaml", "a/notes.txt", "a/x.YAML"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("id: x\nsummary: s\nmain: []\n")
    monkeypatch.chdir(tmp_path)

    expected = [str(path) for path in sorted([*Path(".").rglob("*.yaml"), *Path(".").rglob("*.yml")])]
    assert find_scenarios([Path(".")]).taken == expected
    assert expected == [".hidden/z.yaml", "a/b/y.yml", "a/x.yaml", "a-b/x.yaml", "top.yaml"]
    assert find_scenarios([tmp_path]).taken == [str(tmp_path / name) for name in expected]


def test_declared_ids_find_each_id_where_it_was_first_declared_however_many() -> None:
    from asyncparity.load import DeclaredIds

    ids = DeclaredIds()
    paths = [f"spec/bench-{index:05d}.yaml" for index in range(5000)]  # past a few growths of its table
    assert all(ids.add(f"bench-{index}", path, index % 300 + 2) is None for index, path in enumerate(paths))

    assert ids.add("bench-4321", "spec/again.yaml", 9) == ("spec/bench-04321.yaml", 4321 % 300 + 2)
    assert ids.add("bench-0", "spec/again.yaml", 9) == ("spec/bench-00000.yaml", 2)
    assert ids.add("bench-5000", "spec/new.yaml", 3) is None  # not seen: remembered now
    assert ids.add("bench-5000", "spec/newer.yaml", 4) == ("spec/new.yaml", 3)
    assert ids.add("café-ü", "spec/u.yaml", 1) is None and ids.add("café-ü", "x", 1) == ("spec/u.yaml", 1)


def test_declared_ids_keep_about_fifty_bytes_an_id() -> None:
    # A dict of the ids and their (path, line) took 136 bytes an id: the most of what a
    # run kept as it went (issue 13, memory flat).
    import tracemalloc

    from asyncparity.load import DeclaredIds

    paths = [f"spec/bench-{index:05d}.yaml" for index in range(10_000)]
    names = [f"bench-{index}" for index in range(10_000)]
    tracemalloc.start()
    try:
        ids = DeclaredIds()
        for name, path in zip(names, paths, strict=True):
            ids.add(name, path, 2)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    assert kept < 60 * 10_000


@pytest.mark.parametrize("parent", [".", "./sub", "./sub/deeper", "/", "/abs", "rel", "rel/sub", ".hidden", "./.hidden"])
def test_discovery_joins_a_folder_and_a_name_as_path_writes_them(parent: str) -> None:
    # Without a Path made of each file's name (pathlib interns them: issue 13).
    from asyncparity.load import _joined

    assert _joined(parent, "x.yaml") == str(Path(parent, "x.yaml"))


def test_loading_a_folder_makes_no_path_of_a_files_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pathlib interns every part of a path it parses, and the table that keeps them grew
    # with the suite (issue 13): a run's files stay text from discovery to verdict.
    from asyncparity import load as load_module

    for index in range(3):
        (tmp_path / f"scenario-{index}.yaml").write_text(f"id: s-{index}\nsummary: s\nmain:\n  - return: {index}\n")
    parsed: list[str] = []
    real = load_module.Path

    class Recording(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath
        def __new__(cls, *parts: object) -> Path:
            parsed.extend(str(part) for part in parts)
            return real(*parts)

    monkeypatch.setattr(load_module, "Path", Recording)
    results = list(load_files(find_scenarios([tmp_path]).taken))

    assert [result.scenario.id for result in results if result.scenario] == ["s-0", "s-1", "s-2"]
    assert not [part for part in parsed if "scenario-" in part]


def test_discovery_reads_the_longest_id_of_the_files_it_takes_from_folders(tmp_path: Path) -> None:
    # Read with the file it reads anyway, for the run's id column (issue 13: a run read
    # every file once more for it).
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "short.yaml").write_text("id: ab\nsummary: s\nmain: []\n")
    (folder / "long.yaml").write_text("id: a-longer-one\nsummary: s\nmain: []\n")
    (folder / "not-one.yaml").write_text("id: the-longest-but-no-scenario-at-all\nname: a record\n")
    named = tmp_path / "named.yaml"
    named.write_text("id: a-file-named-itself-is-not-read\nmain: []\n")

    assert find_scenarios([folder]).widest_id == len("a-longer-one")
    assert find_scenarios([folder, named]).widest_id == len("a-longer-one")
    assert find_scenarios([named]).widest_id == 0


def test_discovery_names_each_yaml_file_it_passes_over_with_the_reason(tmp_path: Path) -> None:
    files = {
        "a-schema.yaml": "# yaml-language-server: $schema=../scenario.schema.json\nid: a\n",
        "b-main.yml": "main:\n  - log: x\n",
        "c-misspelt.yaml": "id: c\nsummary: s\nmian:\n  - log: x\n",
        "d-no-main.yaml": "id: d\noperations:\n  f: {latency: 1, returns: 1}\n",
        "e-workflow.yml": "on: push\njobs:\n  test: {runs-on: ubuntu-latest}\n",
        "f-only-id.yaml": "id: 42\nname: a record\n",
        "g-empty.yaml": "",
        "h-binary.yaml": "\x00\x01",
        "known-outcomes.yaml": "# Known outcomes per runtime\n\n- scenario: a\n  status: skipped\n",
        "notes.txt": "main: not YAML by its name",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "i-latin1.yaml").write_bytes(b"main: caf\xe9\n")

    found = find_scenarios([tmp_path])

    assert [Path(path).name for path in found.taken] == [
        "a-schema.yaml",
        "b-main.yml",
        "c-misspelt.yaml",
        "d-no-main.yaml",
        "i-latin1.yaml",  # not text: taken, so that the loader says why
    ]
    assert [(item.path.name, item.reason) for item in found.passed_over] == [
        ("e-workflow.yml", "not a scenario: no top-level main or id, and no schema line"),
        ("f-only-id.yaml", "not a scenario: a top-level id, but no main and no other key of a scenario"),
        ("g-empty.yaml", "not a scenario: no top-level main or id, and no schema line"),
        ("h-binary.yaml", "not a scenario: no top-level main or id, and no schema line"),
    ]
    assert (
        str(found.passed_over[0]) == f"{tmp_path / 'e-workflow.yml'}: not a scenario: no top-level main or id, and no schema line"
    )
    assert discover([tmp_path]) == [Path(path) for path in found.taken]
    assert find_scenarios([tmp_path / "e-workflow.yml"]) == Discovery([str(tmp_path / "e-workflow.yml")], [])  # named: taken


def test_a_scenario_without_main_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    # Before: both files were left out of the run, which then passed.
    (tmp_path / "misspelt.yaml").write_text("id: misspelt\nsummary: s\nmian:\n  - log: x\n")
    (tmp_path / "no-main.yaml").write_text("id: no-main\nsummary: s\noperations:\n  f: {latency: 1, returns: 1}\n")

    assert [[str(d) for d in result.diagnostics] for result in load_paths([tmp_path])] == [
        [
            f"{tmp_path}/misspelt.yaml:3:1: unknown key 'mian' in the scenario; did you mean 'main'?",
            f"{tmp_path}/misspelt.yaml:1:1: missing required key 'main'",
        ],
        [f"{tmp_path}/no-main.yaml:1:1: missing required key 'main'"],
    ]


def test_the_shipped_folder_passes_over_nothing_but_its_known_outcomes() -> None:
    found = find_scenarios([SPEC])
    assert found.passed_over == []
    assert str(SPEC / "known-outcomes.yaml") not in found.taken
    assert passed_over_reason((SPEC / "known-outcomes.yaml").read_text()) == ""


def _main_of(steps: str) -> list[dict]:
    result = load_text(f"id: a\nsummary: s\nmain:\n  - set: page\n    value: {{next: 2, items: [1]}}\n{steps}", "t.yaml")
    assert result.diagnostics == [], [str(d) for d in result.diagnostics]
    assert result.scenario is not None
    return result.scenario.ir["main"][1:]


@pytest.mark.parametrize(
    ("key", "form"),
    [
        ("cacl", "calc"),
        ("cal", "calc"),
        ("Calc", "calc"),
        ("fromat", "format"),
        ("form", "format"),
        ("fmt", "format"),
        ("literl", "literal"),
        ("lit", "literal"),
        ("lenght", "length"),
        ("len", "length"),
        ("slcie", "slice"),
        ("apend", "append"),
    ],
)
def test_a_single_key_close_to_a_value_form_is_a_misspelling(key: str, form: str) -> None:
    assert messages(f"id: a\nsummary: s\nmain:\n  - log: {{{key}: 1}}\n") == [
        f"t.yaml:4:11: unknown value form '{key}'; did you mean '{form}'? (a map with this one key is written {{literal: {{{key}: ...}}}})"
    ]


def test_a_single_key_close_to_no_form_and_a_wrapped_misspelling_are_data() -> None:
    # Everyday keys the loader's usual 0.6 closeness would take for forms: size (slice),
    # port and sort (format), price (slice), filter (literal), client (length).
    data = ["cost", "size", "port", "sort", "price", "filter", "client"]
    main = _main_of(
        "".join(f"  - log: {{{key}: 5}}\n" for key in data) + "  - log: {literal: {cacl: 1}}\n  - log: {cacl: 1, to: 2}\n"
    )
    assert [step["message"] for step in main] == [
        *({"literal": {key: 5}} for key in data),
        {"literal": {"cacl": 1}},
        {"literal": {"cacl": 1, "to": 2}},
    ]


def test_fields_and_indexes_chain_and_a_caught_error_keeps_its_two_members() -> None:
    main = _main_of(
        "  - set: key\n    value: next\n  - log: $page.items[0]\n  - log: $page[$key]\n"
        "  - try:\n      - throw: {kind: Boom, message: m}\n    catch:\n      as: error\n      steps:\n        - log: $error.message\n"
    )
    page = {"ref": "page"}
    assert main[1]["message"] == {"item": [{"item": [page, {"literal": "items"}]}, {"literal": 0}]}
    assert main[2]["message"] == {"item": [page, {"ref": "key"}]}
    assert main[3]["catch"]["body"][0]["message"] == {"ref": "error", "member": "message"}


def test_a_text_that_only_starts_like_a_reference_stays_text() -> None:
    main = _main_of('  - log: ["$total.00", "$HOME[0]", "cost: $page.next"]\n')
    assert main[0]["message"] == {"literal": ["$total.00", "$HOME[0]", "cost: $page.next"]}


def test_conditions_nest_as_written() -> None:
    main = _main_of(
        '  - if: {or: [{not: [$page.next, "==", null]}, {and: [[1, "<", 2], [2, "<", 3]]}]}\n    then:\n      - log: 1\n'
    )
    next_ = {"item": [{"ref": "page"}, {"literal": "next"}]}
    assert main[0]["condition"] == {
        "or": [
            {"not": {"compare": [next_, "==", {"literal": None}]}},
            {"and": [{"compare": [{"literal": 1}, "<", {"literal": 2}]}, {"compare": [{"literal": 2}, "<", {"literal": 3}]}]},
        ]
    }


def test_load_files_loads_lazily_and_marks_a_repeated_id_on_the_later_file(tmp_path: Path) -> None:
    from asyncparity.load import load_files

    text = (ROOT / "spec" / "seed" / "download-fallback.yaml").read_text()
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(text)
    second.write_text(text)

    results = load_files([first, second, tmp_path / "later.yaml"])
    one = next(results)

    assert one.scenario is not None and one.diagnostics == []
    two = next(results)
    assert two.scenario is None
    assert [d.message for d in two.diagnostics] == [f"scenario id 'seed-download-fallback' is already used by {first}:2"]
    (tmp_path / "later.yaml").write_text(text.replace("id: seed-download-fallback", "id: made-meanwhile"))
    assert next(results).scenario.id == "made-meanwhile"  # read when reached, not before


def test_declared_id_reads_a_plainly_written_id_without_loading() -> None:
    from asyncparity.load import declared_id

    assert declared_id("# c\nid: seed-download-fallback\nmain: []\n") == "seed-download-fallback"
    assert declared_id("id: 'quoted-id'  # a comment\n") == "quoted-id"
    assert declared_id("summary: no id\n  id: nested\n") is None


BOUND_SCENARIO = """\
id: bound-get
summary: A bound function.
operations:
  fetch: {latency: 10, returns: "hello"}
functions:
  get_json:
    params: [url]
main:
  - await: get_json
    args: ["/orders"]
    as: body
  - return: $body
"""


def test_a_folder_file_binds_every_scenario_beside_it_and_a_scenario_own_bind_wins(tmp_path: Path) -> None:
    for name in ("client.py", "client.mjs", "other.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "asyncparity.yaml").write_text("bind:\n  python: client.py\n  javascript: client.mjs\n  functions: [get_json]\n")
    (tmp_path / "shared.yaml").write_text(BOUND_SCENARIO)
    (tmp_path / "own.yaml").write_text(BOUND_SCENARIO.replace("bound-get", "bound-own") + "bind:\n  python: other.py\n")
    # The folder file is read with each scenario, never taken as one.
    assert find_scenarios([tmp_path]).taken == [str(tmp_path / "own.yaml"), str(tmp_path / "shared.yaml")]
    shared = load_file(tmp_path / "shared.yaml").scenario
    assert shared is not None
    assert shared.ir["bindings"] == {
        "python": str(tmp_path / "client.py"),
        "javascript": str(tmp_path / "client.mjs"),
        "functions": ["get_json"],
    }
    assert shared.ir["functions"] == [{"name": "get_json", "params": ["url"], "body": [], "bound": True}]
    own = load_file(tmp_path / "own.yaml").scenario
    assert own is not None
    assert own.ir["bindings"]["python"] == str(tmp_path / "other.py")
    assert own.ir["bindings"]["javascript"] == str(tmp_path / "client.mjs")


def test_a_mistake_in_the_folder_file_is_reported_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "client.py").write_text("")
    (tmp_path / "asyncparity.yaml").write_text("bind:\n  python: client.py\n  javascript: client.cjs\n  functions: [get_json]\n")
    (tmp_path / "s.yaml").write_text(BOUND_SCENARIO)
    diagnostics = load_file(tmp_path / "s.yaml", display="suite/s.yaml").diagnostics
    assert [str(d) for d in diagnostics] == [
        "suite/asyncparity.yaml:3:15: bind.javascript is an ES module file (.mjs, .js or .ts), not 'client.cjs'"
    ]


def test_a_scenario_without_the_folder_file_functions_is_not_bound(tmp_path: Path) -> None:
    (tmp_path / "asyncparity.yaml").write_text("bind:\n  python: client.py\n  javascript: client.mjs\n  functions: [get_json]\n")
    (tmp_path / "plain.yaml").write_text("id: plain\nsummary: s.\nmain:\n  - return: 1\n")
    scenario = load_file(tmp_path / "plain.yaml").scenario
    assert scenario is not None
    assert "bindings" not in scenario.ir


def test_scalar_tags_are_the_resolvers_and_only_short_scalars_are_remembered() -> None:
    from asyncparity import load

    resolver = yaml.resolver.Resolver()
    long_text = "x" * (load._SHORT_SCALAR + 1)
    for value in ["on", "yes", "1_000", "0x1F", "1.5e3", "~", "", "2024-01-01", "plain", "12", long_text, "1" * 100]:
        for implicit in ((True, False), (False, True), (False, False)):
            assert load._scalar_tag(value, implicit) == resolver.resolve(yaml.ScalarNode, value, implicit), (value, implicit)
    load._short_scalar_tag.cache_clear()
    load.load_text(f"id: a\nsummary: {long_text}\nmain:\n  - log: {long_text}\n", "t.yaml")
    remembered = load._short_scalar_tag.cache_info().currsize
    assert 0 < remembered < 10  # the keys and short words, not the long text


def _node_shape(node: yaml.Node) -> object:
    """Everything of a node the loader reads: kind, tag, value, style, where it starts and ends."""
    marks = tuple((mark.line, mark.column, mark.index) for mark in (node.start_mark, node.end_mark))
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.MappingNode):
        children: list = [(_node_shape(key), _node_shape(value)) for key, value in node.value]
    else:
        children = [_node_shape(item) for item in node.value]
    return (type(node).__name__, node.tag, node.flow_style, marks, children)


def test_libyamls_composer_makes_the_nodes_the_event_loop_makes_from_every_yaml_file_of_the_checkout() -> None:
    from asyncparity import load

    root = Path(__file__).resolve().parents[2]
    files = [path for folder in ("spec", "tests", "examples", "docs") for path in sorted((root / folder).rglob("*.y*ml"))]
    composed = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue  # refused before it is composed, as is a character YAML refuses
        if load._NON_PRINTABLE.search(text):
            continue
        plain = load._compose_plain(text)
        if plain is None:
            continue
        events = load._compose_events(text, str(path), load._FAST_LOADER)
        assert isinstance(events, list), path
        assert [_node_shape(node) for node in plain] == [_node_shape(node) for node in events], path
        composed += 1
    assert composed > len(files) / 2  # most files take the quick way


@pytest.mark.parametrize(
    "text",
    [
        "id: a\nsummary: &s s\n",  # an anchor
        "id: a\nsummary: !!str s\n",  # a tag
        "id: a\n---\nid: b\n",  # two documents
        "id: [a\n",  # a syntax error
        "",  # nothing
        "a:\n" + "".join(" " * depth + "- \n" for depth in range(1, MAX_YAML_DEPTH + 1)),  # too deep
        "a: [" + "x, " * 1001 + "]\n" + "b:\n" + "".join(f"  - {index}\n" for index in range(1001)),  # many indicators
    ],
)
def test_what_the_loader_refuses_or_may_refuse_is_left_to_the_event_loop(text: str) -> None:
    from asyncparity import load

    assert load._compose_plain(text) is None
