"""Tests for runner/names.py: the names a scenario may not use, and that every other name is safe."""

from __future__ import annotations

import json
import re

import pytest

from asyncparity import yaml_nodes
from asyncparity.load import load_text
from asyncparity.model import JS_TARGETS
from asyncparity.names import ERROR_KIND, IDENTIFIER, JS_RESERVED_SPELLINGS, RESERVED_KINDS, RESERVED_NAMES, camel_case
from asyncparity.node import find_node
from asyncparity.testees import NodeTestee, PythonTestee
from asyncparity.trace import trace_lines
from helpers import FULL, full_only


def test_camel_case_matches_the_javascript_spelling() -> None:
    assert camel_case("download_data") == "downloadData"
    assert camel_case("fetch") == "fetch"
    assert camel_case("get_a_1") == "getA1"


def test_keywords_of_both_languages_and_program_names_are_reserved() -> None:
    for name in ("await", "async", "yield", "lambda", "function", "var", "world", "log", "main", "asyncio", "range"):
        assert name in RESERVED_NAMES
    assert "download" not in RESERVED_NAMES
    assert {"Error", "Promise", "Exception", "ScenarioError"} <= RESERVED_KINDS
    assert "IOError" not in RESERVED_KINDS  # shadowed on purpose: `except IOError` reads naturally


def test_identifier_shapes() -> None:
    assert IDENTIFIER.match("fetch_2")
    assert not IDENTIFIER.match("Fetch") and not IDENTIFIER.match("_x") and not IDENTIFIER.match("2x")
    assert ERROR_KIND.match("IOError") and not ERROR_KIND.match("io_error")


# -- names that collide with the runtimes' own (issue 9, defect 10) --------------------------
#
# Each name is put where a scenario may write a name (an operation, a function, a value
# and a parameter, a block's own name, a queue, a resource, an error kind). Either the
# loader refuses it where it is written, with the reason, or the scenario runs on every
# target exactly as it does with a plain name.

ROLES = {
    "operation": """\
operations:
  {name}: {{latency: 1, returns: 1}}
main:
  - await: {name}
    args: [7]
    as: got
  - start: {name}
    as: handle
  - cancel: $handle
  - log: $got
  - return: $got
""",
    "function": """\
functions:
  {name}:
    params: [x]
    steps:
      - sleep: 1
      - return: $x
main:
  - await: {name}
    args: [2]
    as: got
  - start: {name}
    args: [3]
    as: handle
  - await: $handle
    as: other
  - map: {name}
    over: [1, 2]
    limit: 1
    as: every
  - return: [$got, $other, $every]
""",
    "value": """\
operations:
  op: {{latency: 1, returns: 5}}
functions:
  twice:
    params: [{name}]
    steps:
      - return: {{calc: [${name}, "*", 2]}}
main:
  - await: op
    as: {name}
  - log: ${name}
  - log: {{format: "got {{{name}}}"}}
  - await: twice
    args: [${name}]
    as: doubled
  - try:
      - throw: {{kind: Boom, message: m}}
    catch:
      - set: {name}
        value: 3
  - return: [$doubled, ${name}]
""",
    "block": """\
operations:
  op: {{latency: 1, fails: {{kind: Boom, message: m}}}}
resources:
  conn: {{open: 1, close: 1}}
functions:
  ticks:
    generator: true
    steps:
      - yield: 1
      - yield: 2
main:
  - repeat: 2
    as: {name}
    steps:
      - log: ${name}
  - try:
      - await: op
    catch:
      as: {name}
      steps:
        - log: ${name}.message
  - for_each: ticks
    as: {name}
    steps:
      - log: ${name}
  - using: conn
    as: {name}
    steps:
      - log: ${name}
  - return: 1
""",
    "queue": """\
queues:
  {name}: {{size: 1}}
functions:
  producer:
    steps:
      - put: {name}
        value: 1
      - put: {name}
        value: 2
main:
  - start: producer
    as: handle
  - get: {name}
    as: first
  - get: {name}
    as: second
  - await: $handle
  - return: [$first, $second]
""",
    "resource": """\
resources:
  {name}: {{open: 1, close: 2}}
main:
  - using: {name}
    args: [1]
    as: handle
    steps:
      - log: $handle
  - return: 1
""",
    "kind": """\
operations:
  boom: {{latency: 1, fails: {{kind: {name}, message: m}}}}
main:
  - try:
      - await: boom
    catch:
      kind: {name}
      as: caught
      steps:
        - log: $caught.kind
        - log: $caught.message
  - try:
      - throw: {{kind: {name}, message: inner}}
    catch:
      - log: caught all
  - all_settled:
      - call: boom
      - call: boom
    as: settled
  - log: $settled
  - throw: {{kind: {name}, message: again}}
""",
}
PLAIN_NAME, PLAIN_KIND = "plain_name", "PlainKind"

# The names issue 9 lists, keywords of both languages and YAML's, what the generated
# programs and runtime modules use, and names the compilers give their own variables.
IDENTIFIERS = [
    "asyncio", "world", "log", "set_timeout", "promise", "__proto__", "constructor", "to_string",
    "has_own_property", "then", "resolve", "await", "class", "none", "null", "undefined", "yes", "self", "main",
    "type", "match", "print", "eval", "arguments", "global_this", "queue_microtask", "error", "result", "value",
    "signal", "done", "tasks", "item", "semaphore", "timed_block", "fetch",
]  # fmt: skip
KINDS = [
    "AbortError", "CancelledError", "TimeoutError", "Promise", "Error", "Exception", "AggregateError",
    "DOMException", "TypeError", "RuntimeError", "KeyboardInterrupt", "ScenarioError", "World", "Object",
    "NonError", "None", "InvalidStateError",
]  # fmt: skip
# With ASYNCPARITY_FULL_TESTS=1, besides every builtin and global (every_runtime_name).
MORE_IDENTIFIERS = [
    "clear_timeout", "proto", "prototype", "value_of", "reject", "async", "yield", "def", "lambda", "function",
    "var", "let", "const", "new", "delete", "typeof", "this", "true", "cls", "case", "range", "console",
    "process", "require", "values", "controller", "timer", "deadline", "task", "pending", "finished", "group",
    "limited", "loop", "completion", "after_if", "operation", "error_kind", "run_and_print", "now", "sleep",
    "gather", "create_task",
]  # fmt: skip
MORE_KINDS = ["BaseException", "ExceptionGroup", "RangeError", "RecursionError", "SystemExit", "StopIteration", "Symbol", "True"]


def every_runtime_name() -> tuple[list[str], list[str]]:
    """Every builtin of this CPython and global of Node, and every keyword of both: as
    identifiers (JavaScript's camelCase names in snake_case) and as error kinds."""
    import builtins
    import keyword
    import subprocess

    from asyncparity.names import _JS_RESERVED, _PY_RESERVED

    script = "console.log(JSON.stringify([...Object.getOwnPropertyNames(globalThis), ...Object.getOwnPropertyNames(Object.prototype)]))"
    node_globals = json.loads(subprocess.run([find_node().path, "-e", script], capture_output=True, text=True, check=True).stdout)
    names = [*dir(builtins), *keyword.kwlist, *keyword.softkwlist, *_JS_RESERVED, *_PY_RESERVED, *node_globals]
    identifiers = {re.sub("([A-Z])", lambda m: "_" + m.group(1).lower(), name) for name in names if name[:1].islower()}
    identifiers |= set(MORE_IDENTIFIERS)
    kinds = {name for name in names if ERROR_KIND.match(name)} | set(MORE_KINDS)
    return sorted(i for i in identifiers if IDENTIFIER.match(i)), sorted(kinds)


def cases(identifiers: list[str], kinds: list[str]) -> list[tuple[str, str]]:
    return [(role, name) for role in ROLES if role != "kind" for name in identifiers] + [("kind", kind) for kind in kinds]


DEFAULT_CASES = cases(IDENTIFIERS, KINDS)
FULL_CASES = [case for case in cases(*every_runtime_name()) if case not in DEFAULT_CASES] if FULL else []


def scenario_text(role: str, name: str) -> str:
    return f"id: names\nsummary: A name as {role}.\n" + ROLES[role].format(name=name)


def plain(role: str) -> str:
    return PLAIN_KIND if role == "kind" else PLAIN_NAME


def renamed(outcome: str, role: str, name: str) -> str:
    """A plain name's outcome (JSON text) as the same scenario with ``name`` would have it."""
    if role == "kind":
        return outcome.replace(PLAIN_KIND, name)
    return outcome.replace(PLAIN_NAME, name).replace(camel_case(PLAIN_NAME), camel_case(name))


def run_outcomes(node: NodeTestee, scenarios: dict[tuple[str, str], dict]) -> dict[tuple[str, str], dict[str, str]]:
    """Each scenario IR's outcome on the three targets (status, result, trace, message as JSON text)."""
    jobs = list(scenarios.items())
    js = iter(node.run_many([(ir, target) for _, ir in jobs for target in JS_TARGETS]))
    python = PythonTestee()
    outcomes = {}
    for key, ir in jobs:
        runs = {"python": python.run(ir, "python"), **{target: next(js) for target in JS_TARGETS}}
        outcomes[key] = {
            target: json.dumps({field: run.get(field) for field in ("status", "result", "trace", "message")})
            for target, run in runs.items()
        }
    return outcomes


@pytest.fixture(scope="module")
def node():
    with NodeTestee(find_node()) as testee:
        yield testee


@pytest.fixture(scope="module")
def outcomes(node: NodeTestee) -> dict[tuple[str, str], dict[str, str]]:
    """Every case that loads, and the plain names, run in one batch."""
    scenarios = {}
    for role, name in [(role, plain(role)) for role in ROLES] + DEFAULT_CASES + FULL_CASES:
        loaded = load_text(scenario_text(role, name), "t.yaml").scenario
        if loaded is not None:
            scenarios[role, name] = loaded.ir
    return run_outcomes(node, scenarios)


REASON = re.compile(
    r"must be lower_snake_case|must be CapWords|is reserved: Python, JavaScript or the generated programs use it"
    r"|is '\w+' in JavaScript, which is reserved there|must be a string, not|keys in \w+ must be strings"
)


@pytest.mark.parametrize(
    ("role", "name"),
    DEFAULT_CASES + [pytest.param(*case, marks=full_only("every builtin and global")) for case in FULL_CASES],
)
def test_a_name_is_refused_where_it_is_written_or_works_like_a_plain_one(role: str, name: str, outcomes: dict) -> None:
    text = scenario_text(role, name)
    result = load_text(text, "t.yaml")
    if result.scenario is None:
        first = result.diagnostics[0]
        # Where the role's template first writes the name.
        before = scenario_text(role, "\0").split("\0")[0]
        assert (first.line, first.column) == (before.count("\n") + 1, len(before) - before.rfind("\n")), first
        assert REASON.search(first.message), first
        return
    assert outcomes[role, name] == {
        target: renamed(outcome, role, name) for target, outcome in outcomes[role, plain(role)].items()
    }


def test_the_plain_names_run_on_every_target(outcomes: dict) -> None:
    for role in ROLES:
        statuses = {target: json.loads(outcome)["status"] for target, outcome in outcomes[role, plain(role)].items()}
        assert statuses == {"python": "settled", "js-promise": "settled", "js-async": "settled"}, role


def test_the_check_finds_a_name_the_loader_should_refuse(node: NodeTestee, monkeypatch: pytest.MonkeyPatch) -> None:
    # The control: were `world` not reserved, an operation of that name would replace the
    # generated programs' world, and the outcomes would differ from a plain name's.
    monkeypatch.setattr(yaml_nodes, "RESERVED_NAMES", RESERVED_NAMES - {"world"})
    monkeypatch.setattr(yaml_nodes, "JS_RESERVED_SPELLINGS", JS_RESERVED_SPELLINGS - {"world"})
    irs = {name: load_text(scenario_text("operation", name), "t.yaml").scenario.ir for name in (PLAIN_NAME, "world")}
    runs = run_outcomes(node, irs)
    assert runs["world"] != {target: renamed(outcome, "operation", "world") for target, outcome in runs[PLAIN_NAME].items()}


def test_timeout_error_is_the_scenario_kind_a_timeout_raises(node: NodeTestee) -> None:
    # TimeoutError is special: an expired timeout raises it, and a scenario may fail with
    # it or throw it too; one catch of TimeoutError catches all three on every target.
    text = """\
id: timeout-error-three-ways
summary: An expired timeout, an operation's TimeoutError and a thrown one, each caught.
operations:
  slow: {latency: 50, returns: 1}
  flaky: {latency: 1, fails: {kind: TimeoutError, message: upstream timed out}}
main:
  - try:
      - await: flaky
    catch:
      kind: TimeoutError
      as: own
      steps:
        - log: {format: "own {own.kind}: {own.message}"}
  - try:
      - timeout: 10
        steps:
          - await: slow
    catch:
      kind: TimeoutError
      as: expired
      steps:
        - log: {format: "expired {expired.kind}"}
  - try:
      - throw: {kind: TimeoutError, message: thrown}
    catch:
      kind: [TimeoutError]
      as: thrown
      steps:
        - log: $thrown.message
  - await: flaky
"""
    runs = run_outcomes(node, {("t", "t"): load_text(text, "t.yaml").scenario.ir})[("t", "t")]
    assert len(set(runs.values())) == 1
    outcome = json.loads(runs["python"])
    assert outcome["result"] == {"throws": {"kind": "TimeoutError", "message": "upstream timed out"}}
    assert [line for line in trace_lines(outcome["trace"]) if " log " in line] == [
        '1 log "own TimeoutError: upstream timed out"',
        '11 log "expired TimeoutError"',
        '11 log "thrown"',
    ]


def test_camel_case_is_the_same_for_short_names_and_long_ones() -> None:
    from asyncparity import names

    long_name = "a_b" * 40
    assert camel_case(long_name) == "aB" * 40
    assert camel_case("download_data") == camel_case("download_data") == "downloadData"
    names._short_camel_case.cache_clear()
    camel_case(long_name)
    assert names._short_camel_case.cache_info().currsize == 0  # a long name is never kept
