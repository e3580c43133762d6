"""Tests for runner/suite.py: the whole pipeline on every target, with a real Node.

Also the cross-target guarantees that only the whole pipeline can show: determinism
(the same scenario twice gives the same trace) and byte-identical strings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from asyncparity.load import load_paths, load_text
from asyncparity.model import TARGETS
from asyncparity.node import find_node
from asyncparity.suite import Timings, run_suite
from asyncparity.testees import NodeTestee, PythonTestee

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"


@pytest.fixture(scope="module")
def node():
    with NodeTestee(find_node()) as testee:
        yield testee


def test_every_shipped_scenario_passes_on_every_target(node: NodeTestee) -> None:
    results = load_paths([SPEC])
    seen = []
    timings = Timings()

    verdicts = run_suite(results, TARGETS, PythonTestee(), node, seen.append, timings)

    assert len(verdicts) >= 12
    assert seen == verdicts  # reported as they complete, in file order
    failing = {
        v.scenario_id: [(t.target, t.message) for t in v.targets if t.status not in ("agree", "diverge")]
        for v in verdicts
        if not v.passed
    }
    assert failing == {}
    assert any(v.status == "diverge" for v in verdicts)
    assert timings.python > 0


def test_same_scenario_twice_gives_the_same_trace_on_every_target(node: NodeTestee) -> None:
    python = PythonTestee()
    for result in load_paths([SPEC]):
        ir = result.scenario.ir
        for target in TARGETS:
            if target == "python":
                first, second = python.run(ir), python.run(ir)
            else:
                first, second = node.run(ir, target), node.run(ir, target)
            assert first["trace"] == second["trace"], (ir["id"], target)
            assert first["result"] == second["result"], (ir["id"], target)


TRICKY = [
    'double " quote',
    "single ' quote",
    "back \\ slash \\n not a newline",
    "new\nline and\r\ncarriage return and \t tab",
    "${x} and `backtick` and ${'${y}'}",
    "{x} and {{y}} and }",
    "</script><script>alert(1)</script>",
    "NUL \x00 and bell \x07 and DEL \x7f",
    "non-ASCII: é ß 漢字 🎉 \u2028 \u2029",
    "%s %d %(name)s {0} #{x} $1",
]


def yaml_string(value: object) -> str:
    """A YAML flow value: JSON, with DEL escaped (YAML does not allow it raw) and U+2028/9
    escaped (YAML 1.1 reads them raw as line breaks and folds them)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\x7f", "\\u007f").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def tricky_scenario() -> str:
    values = yaml_string(TRICKY)
    return f"""\
id: tricky-strings
summary: Strings that break naive code generators come out byte-identical.
operations:
  echo:
    latency: 1
    returns: {yaml_string(TRICKY[4])}
  refuse:
    latency: 1
    fails: {{kind: Refused, message: {yaml_string(TRICKY[8])}}}
main:
  - await: echo
    args: {values}
    as: echoed
  - log: {yaml_string(TRICKY[0])}
  - log: {yaml_string(TRICKY[3])}
  - log: {{literal: {values}}}
  - log: {{format: {yaml_string("[{echoed}] " + TRICKY[6].replace("{", "{{").replace("}", "}}"))}}}
  - try:
      - await: refuse
    catch:
      as: error
      steps:
        - log: $error.message
  - throw: {{kind: Tricky, message: {yaml_string(TRICKY[7] + TRICKY[5])}}}
"""


def test_tricky_strings_come_out_byte_identical_in_all_three_targets(node: NodeTestee) -> None:
    result = load_text(tricky_scenario(), "tricky.yaml")
    assert result.diagnostics == []
    ir = result.scenario.ir
    thrown = TRICKY[7] + TRICKY[5]
    assert ir["main"][-1]["message"] == {"literal": thrown}  # plain strings are never interpolated

    outcomes = {"python": PythonTestee().run(ir), **{t: node.run(ir, t) for t in ("js-promise", "js-async")}}

    for target, outcome in outcomes.items():
        assert outcome["status"] == "settled", (target, outcome.get("message"))
        trace = outcome["trace"]
        assert trace[0]["args"] == TRICKY, target
        assert trace[1]["value"] == TRICKY[4], target
        logs = [event["message"] for event in trace if event["event"] == "log"]
        assert logs == [TRICKY[0], TRICKY[3], TRICKY, f"[{TRICKY[4]}] {TRICKY[6]}", TRICKY[8]], target
        assert outcome["result"] == {"throws": {"kind": "Tricky", "message": thrown}}, target
    assert outcomes["python"]["trace"] == outcomes["js-promise"]["trace"] == outcomes["js-async"]["trace"]


def test_js_promise_programs_never_use_async_or_await(node: NodeTestee) -> None:
    texts = [result.scenario.ir for result in load_paths([SPEC])]
    texts.append(load_text(tricky_scenario(), "tricky.yaml").scenario.ir)
    for ir in texts:
        source = node.compile(ir, "js-promise")
        # Strings and comments carry the scenario's own text (its summary may say "async");
        # the code around them must not use the keywords.
        code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', source)
        code = re.sub(r"^\s*//.*$", "", code, flags=re.MULTILINE)
        assert not re.search(r"\b(async|await)\b", code), (ir["id"], source)


def python_312_or_later():
    from asyncparity.pythons import PythonNotFound, find_python

    for version in ("3.13", "3.12"):
        try:
            return find_python(version)
        except PythonNotFound:
            continue
    return None


def test_every_scenario_passes_on_all_four_targets_under_cpython_3_12_or_later(node: NodeTestee) -> None:
    from asyncparity.testees import PythonWorkerTestee

    python = python_312_or_later()
    if python is None:
        pytest.skip("no CPython 3.12+ on PATH or in pyenv: python-eager needs one")
    with PythonWorkerTestee(python) as worker:
        verdicts = run_suite(load_paths([SPEC]), TARGETS, worker, node)

    failing = {
        v.scenario_id: [(t.target, t.message) for t in v.targets if t.status not in ("agree", "diverge")]
        for v in verdicts
        if not v.passed
    }
    assert failing == {}
    eager = {t.target: t.status for v in verdicts if v.scenario_id == "eager-start" for t in v.targets}
    assert eager == {"python": "diverge", "python-eager": "agree", "js-promise": "agree", "js-async": "agree"}
