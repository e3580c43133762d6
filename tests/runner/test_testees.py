"""Tests for runner/testees.py: the in-process Python testee and the Node worker client.

The Node client is tested against real Node processes: the real worker, and a fake one
(fixtures/fake-worker.mjs) that hangs or crashes on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncparity.load import load_file
from asyncparity.node import find_node
from asyncparity.testees import NodeTestee, PythonTestee

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = Path(__file__).resolve().parent / "fixtures" / "fake-worker.mjs"
SEED = load_file(ROOT / "spec" / "seed" / "download-fallback.yaml").scenario


def ir(scenario_id: str) -> dict:
    return {"ir": 1, "id": scenario_id}


def test_a_hanging_or_crashing_worker_is_killed_restarted_and_the_rest_still_run() -> None:
    node = NodeTestee(find_node(), timeout=1.0, worker=FAKE_WORKER)
    node.start()
    try:
        outcomes = list(node.run_many([(ir(name), "js-async") for name in ("one", "hang", "two", "crash", "three")]))
    finally:
        node.close()

    assert [outcome.get("result") for outcome in outcomes] == [
        {"returns": "one"},
        None,
        {"returns": "two"},
        None,
        {"returns": "three"},
    ]
    assert outcomes[1]["status"] == "error"
    assert outcomes[1]["message"] == "the Node worker gave no reply within 1 s on scenario 'hang': killed and restarted"
    assert outcomes[3]["message"] == (
        "the Node worker exited (code 3) while running scenario 'crash': restarted; stderr: fake worker: crashing on purpose"
    )
    assert node.restarts == 2


def test_real_worker_says_hello_and_runs_the_seed_on_both_js_targets() -> None:
    with NodeTestee(find_node()) as node:
        assert node.hello["targets"] == ["js-promise", "js-async"]
        assert node.hello["protocol"] == 1
        outcomes = list(node.run_many([(SEED.ir, "js-promise"), (SEED.ir, "js-async")]))
        source = node.compile(SEED.ir, "js-promise")

    assert [outcome["target"] for outcome in outcomes] == ["js-promise", "js-async"]
    assert all(outcome["result"] == {"returns": "processed"} for outcome in outcomes)
    assert ".catch(" in source


def test_python_testee_runs_in_process() -> None:
    python = PythonTestee()

    outcome = python.run(SEED.ir)

    assert outcome["target"] == "python"
    assert outcome["result"] == {"returns": "processed"}
    assert python.compile(SEED.ir).startswith('"""seed-download-fallback: ')


def test_python_testee_turns_a_target_crash_into_an_error_outcome() -> None:
    outcome = PythonTestee().run({"ir": 1, "id": "broken"})

    assert outcome["status"] == "error"
    assert outcome["message"].startswith("the python target failed on scenario 'broken': ")


@pytest.mark.parametrize("timeout", [0.5])
def test_close_is_bounded_even_for_a_worker_that_never_answers(timeout: float) -> None:
    node = NodeTestee(find_node(), timeout=timeout, worker=FAKE_WORKER)
    node.start()
    list(node.run_many([(ir("hang"), "js-async")]))

    node.close()

    assert node._process is None


def test_unmet_requirements_name_the_runtime() -> None:
    from asyncparity.testees import unmet_requirement

    node20 = {"runtime": {"name": "node", "version": "20.20.2"}, "features": {"await_using": False}}
    py311 = {"runtime": {"name": "cpython", "version": "3.11.7"}, "features": {"task_group": True}}

    assert unmet_requirement({"id": "x", "requires": {"node": "22"}}, node20) == (
        "scenario 'x' requires Node 22 or later; this is Node 20.20.2"
    )
    assert unmet_requirement({"id": "x", "requires": {"features": ["await_using"]}}, node20) == (
        "scenario 'x' requires await_using, which Node 20.20.2 lacks"
    )
    assert unmet_requirement({"id": "x", "requires": {"python": "3.12"}}, py311) == (
        "scenario 'x' requires CPython 3.12 or later; this is CPython 3.11.7"
    )
    assert unmet_requirement({"id": "x", "requires": {"python": "3.11", "node": "22"}}, py311) is None


def test_a_scenario_whose_requirement_is_unmet_is_skipped_not_sent() -> None:
    ir = {**SEED.ir, "requires": {"node": "99"}}

    with NodeTestee(find_node()) as node:
        outcome = node.run(ir, "js-async")

    assert outcome["status"] == "skipped"
    assert outcome["message"].startswith("scenario 'seed-download-fallback' requires Node 99 or later; this is Node ")
