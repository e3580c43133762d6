"""Tests for runner/catalogue.py, and for spec/DIVERGENCES.md being its current output.

Each declared divergence must also be real: with its declaration removed, the scenario
fails (that is what makes the catalogue a list of facts, not of opinions).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asyncparity.catalogue import render
from asyncparity.compare import compare
from asyncparity.load import load_paths, load_text
from asyncparity.node import find_node
from asyncparity.testees import JS_TARGETS, NodeTestee, PythonTestee

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
SCENARIOS = [result.scenario for result in load_paths([SPEC]) if result.scenario is not None]
DIVERGENT = [scenario for scenario in SCENARIOS if scenario.diverge]

TEXT = """\
id: demo
summary: A demo divergence.
main:
  - log: "a"
  - return: 1
expect:
  returns: 1
  trace: |
    0 log "a"
    0 return 1
diverge:
  - targets: [python]
    reason: Python | does it otherwise.
    see: https://docs.python.org/3/library/asyncio-task.html
    returns: 2
    trace: |
      0 log "a"
      0 return 2
"""


def test_render_lists_each_divergence_with_both_traces_side_by_side() -> None:
    scenario = load_text(TEXT, str(SPEC / "x" / "demo.yaml")).scenario

    text = render([scenario], SPEC)

    assert "1 declared divergences." in text
    assert "| [demo](#demo) | python | A demo divergence. |" in text
    assert "Scenario: [x/demo.yaml](x/demo.yaml) (line 12)" in text
    assert "Why: Python | does it otherwise." in text
    assert "Defined by: <https://docs.python.org/3/library/asyncio-task.html>" in text
    assert 'Result: `returns 1` (python-eager, js-promise, js-async) against `returns 2` (python)' in text
    assert "| | python-eager, js-promise, js-async | python |" in text
    assert '|  | `0 log "a"` | `0 log "a"` |' in text
    assert "| ≠ | `0 return 1` | `0 return 2` |" in text


def test_spec_divergences_md_is_current() -> None:
    assert (SPEC / "DIVERGENCES.md").read_text() == render(SCENARIOS, SPEC), "run: asyncparity catalogue"


def test_every_declared_divergence_says_where_the_language_defines_it() -> None:
    missing = [f"{s.path}:{d.line}" for s in DIVERGENT for d in s.diverge if not d.see]
    assert missing == []


@pytest.fixture(scope="module")
def node():
    with NodeTestee(find_node()) as testee:
        yield testee


@pytest.mark.parametrize("scenario", DIVERGENT, ids=lambda scenario: scenario.id)
def test_removing_a_declaration_makes_its_scenario_fail(scenario, node: NodeTestee) -> None:
    text = Path(scenario.path).read_text()
    undeclared = load_text(re.split(r"^diverge:", text, flags=re.MULTILINE)[0], scenario.path).scenario
    targets = ("python", *JS_TARGETS)
    outcomes = {target: (PythonTestee().run(undeclared.ir, target) if target == "python" else node.run(undeclared.ir, target))
                for target in targets}

    declared = compare(scenario, outcomes)
    undeclared_verdict = compare(undeclared, outcomes)

    assert declared.passed, [(t.target, t.message) for t in declared.targets]
    assert undeclared_verdict.status == "mismatch"
