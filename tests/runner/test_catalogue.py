"""Tests for runner/catalogue.py, and for spec/DIVERGENCES.md being its current output.

Each declared divergence must also be real: with its declaration removed, the scenario
fails (that is what makes the catalogue a list of facts, not of opinions).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from asyncparity.catalogue import render
from asyncparity.compare import compare
from asyncparity.load import load_paths, load_text
from asyncparity.node import find_node
from asyncparity.testees import JS_TARGETS, NodeTestee, PythonTestee
from asyncparity.verify import scenario_digest

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
    cause: idiom
    closed_by: Writing it the other way.
    see: https://docs.python.org/3/library/asyncio-task.html
    returns: 2
    trace: |
      0 log "a"
      0 return 2
"""


def test_render_lists_each_divergence_with_both_traces_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "x" / "demo.yaml"
    path.parent.mkdir()
    path.write_text(TEXT, encoding="utf-8")
    scenario = load_text(TEXT, str(path)).scenario
    record = {"scenarios": {"demo": {"digest": scenario_digest(str(path)), "python": ["3.11.7", "3.12.1"], "node": ["20.20.2"]}}}

    text = render([scenario], tmp_path, record)

    assert "1 declared divergences: 0 of the languages, 1 of an idiom." in text
    assert "| [demo](#demo) | python | idiom | A demo divergence. |" in text
    assert "Scenario: [x/demo.yaml](x/demo.yaml) (line 12)" in text
    assert (
        "Cause: idiom: the way this target's code is written differs from the closest code in the others.\n\n"
        "Why: Python | does it otherwise.\n\nClosed by: Writing it the other way.\n\n"
        "Verified on real timers: CPython 3.11.7, 3.12.1; Node 20.20.2."
    ) in text
    assert "Defined by: <https://docs.python.org/3/library/asyncio-task.html>" in text
    assert "Result: `returns 1` (python-eager, js-promise, js-async) against `returns 2` (python)" in text
    assert "| | python-eager, js-promise, js-async | python |" in text
    assert '|  | `0 log "a"` | `0 log "a"` |' in text
    assert "| ≠ | `0 return 1` | `0 return 2` |" in text


def test_the_side_by_side_table_aligns_the_traces_by_a_diff_not_by_position(tmp_path: Path) -> None:
    # python logs once more before the return: by position every later row would differ.
    text = TEXT.replace(
        '    trace: |\n      0 log "a"\n      0 return 2', '    trace: |\n      0 log "a"\n      0 log "b"\n      0 return 2'
    )
    text = text.replace("  - return: 1\n", '  - log: "b"\n  - return: 1\n').replace(
        '    0 log "a"\n    0 return 1', '    0 log "a"\n    0 log "b"\n    0 log "c"\n    0 return 1'
    )
    text = text.replace('  - log: "b"\n', '  - log: "b"\n  - log: "c"\n', 1)
    scenario = load_text(text, str(tmp_path / "demo.yaml")).scenario
    assert scenario is not None
    rendered = render([scenario], tmp_path, {})
    table = rendered[rendered.index("| | python-eager") :].splitlines()[2:]
    assert table == [
        '|  | `0 log "a"` | `0 log "a"` |',
        '|  | `0 log "b"` | `0 log "b"` |',
        '| ≠ | `0 log "c"` |  |',
        "| ≠ | `0 return 1` | `0 return 2` |",
    ]


def test_an_entry_says_when_its_scenario_was_not_verified_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(TEXT, encoding="utf-8")
    scenario = load_text(TEXT, str(path)).scenario
    assert "Verified on real timers: not verified." in render([scenario], tmp_path, {})
    stale = {"scenarios": {"demo": {"digest": "0" * 64, "python": ["3.11.7"], "node": ["20.20.2"]}}}
    assert "Verified on real timers: not verified since the scenario last changed." in render([scenario], tmp_path, stale)


def test_spec_divergences_md_is_current() -> None:
    record = json.loads((SPEC / "verified.json").read_text(encoding="utf-8"))
    assert (SPEC / "DIVERGENCES.md").read_text() == render(SCENARIOS, SPEC, record), "run: asyncparity catalogue"


def test_every_divergence_is_verified_on_two_runtime_pairs_as_its_file_is_now() -> None:
    # asyncparity verify --record spec/verified.json, on the machine's CPython and Node
    # and on CPython 3.12 with Node 22 (README, "Check the clocks").
    record = json.loads((SPEC / "verified.json").read_text(encoding="utf-8"))["scenarios"]
    unverified = [
        scenario.id
        for scenario in DIVERGENT
        if record.get(scenario.id, {}).get("digest") != scenario_digest(scenario.path)
        or len(record[scenario.id]["python"]) < 2
        or len(record[scenario.id]["node"]) < 2
    ]
    assert unverified == [], "run: asyncparity verify spec --record spec/verified.json (and with --python 3.12 --node 22)"


def test_every_verification_recorded_holds_for_the_programs_and_outcomes_the_kit_makes_now() -> None:
    # A verification is of a program and its virtual outcome (runner/verify.py,
    # run_digest). tests/digests.json holds the digests of those the kit makes now on
    # each runtime pair (tests/test_digests.py checks it): a change of a compiler or a
    # runtime module that changes one of them leaves its verification to be made again.
    record = json.loads((SPEC / "verified.json").read_text(encoding="utf-8"))["scenarios"]
    digests = json.loads((ROOT / "tests" / "digests.json").read_text(encoding="utf-8"))
    current = {scenario.id: scenario_digest(scenario.path) for scenario in SCENARIOS}

    def pair_of(family: str, version: str) -> dict | None:
        cpython, node = version.rsplit(".", 1)[0], version.split(".")[0]
        for key, pair in digests.items():
            if (family == "python" and key.startswith(f"cpython {cpython} /")) or (
                family == "node" and key.endswith(f"/ node {node}")
            ):
                return pair
        return None

    stale = []
    for scenario_id, entry in record.items():
        if entry["digest"] != current.get(scenario_id):
            continue  # the catalogue says "not verified since the scenario last changed"
        for family in ("python", "node"):
            for version in entry[family]:
                pair = pair_of(family, version)
                if pair is None or scenario_id not in pair:
                    continue  # no digests of that runtime to hold it to
                runs = entry.get("runs", {}).get(f"{family} {version}")
                now = {
                    target: f"{pair[scenario_id][target]['program']} {pair[scenario_id][target]['outcome']}"
                    for target in runs or {}
                }
                if not runs or runs != now:
                    stale.append(f"{scenario_id} on {family} {version}")
    assert stale == [], (
        "verified with other programs or outcomes than the kit makes now (or with none recorded); "
        "run: asyncparity verify --python X.Y --node N --targets all --record spec/verified.json FILES\n" + "\n".join(stale)
    )


def test_the_catalogue_has_at_least_thirty_divergences_each_labelled() -> None:
    declared = [divergence for scenario in DIVERGENT for divergence in scenario.diverge]
    assert len(declared) >= 30
    assert {divergence.cause for divergence in declared} == {"language", "idiom"}


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
    outcomes = {
        target: (PythonTestee().run(undeclared.ir, target) if target == "python" else node.run(undeclared.ir, target))
        for target in targets
    }

    declared = compare(scenario, outcomes)
    undeclared_verdict = compare(undeclared, outcomes)

    assert declared.passed, [(t.target, t.message) for t in declared.targets]
    # Undeclared, a run that does not settle is an error; any other difference a mismatch.
    assert undeclared_verdict.status == ("error" if any(d.stops for d in scenario.diverge) else "mismatch")
