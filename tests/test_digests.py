"""The refactoring safety net: digests of every IR, program and outcome of spec/.

For each scenario of the kit's spec/ this records a digest of its IR, and for every
target a digest of the generated program and of the outcome of its run, in
tests/digests.json, per (CPython minor, Node major) pair, since a runtime's version can
change a rendering (Node 24 compiles ``using`` to ``await using``) or an outcome (an
error message). The test regenerates them on the runtimes at hand and compares; a
restructuring must leave every digest as it was, and a commit that changes one says why.
(protobuf's conformance runner keeps its requests "for verifying that refactorings
preserve behaviour" the same way.)

Record after a deliberate change, for each runtime pair CI or a developer runs the
tests on (and verify again the scenarios whose programs or outcomes changed:
spec/verified.json keeps the digests it verified, and tests/runner/test_catalogue.py
holds them to these)::

    .venv/bin/python tests/test_digests.py                          # this Python, node on PATH
    .venv/bin/python tests/test_digests.py --python 3.12 --node 20  # other runtimes, as workers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from asyncparity.cli import _running
from asyncparity.load import discover, load_file
from asyncparity.model import JS_TARGETS, PYTHON_TARGETS
from asyncparity.node import node_for
from asyncparity.pythons import find_python
from asyncparity.testees import NodeTestee, PythonTestee, PythonWorkerTestee
from asyncparity.verify import short_digest

DIGESTS = Path(__file__).with_name("digests.json")
ROOT = Path(__file__).resolve().parents[1]


# spec/verified.json keeps the same digests of the programs and outcomes it verified
# (runner/verify.py, run_digest): tests/runner/test_catalogue.py holds the two to each other.
digest = short_digest


def runtime_key(python: dict, node: dict) -> str:
    """``cpython 3.11 / node 20`` from two hello replies."""
    major_minor = ".".join(python["runtime"]["version"].split(".")[:2])
    return f"cpython {major_minor} / node {node['runtime']['version'].split('.')[0]}"


def _programs(testee: PythonTestee | PythonWorkerTestee | NodeTestee, jobs: list[tuple[dict, str]]) -> list[str]:
    """Program texts; a compile failure is recorded as its message, so that it shows as a change too."""
    if isinstance(testee, PythonTestee):
        texts = []
        for ir, target in jobs:
            try:
                texts.append(testee.compile(ir, target))
            except Exception as error:  # noqa: BLE001 - the failure is the recorded result
                texts.append(f"compile error: {type(error).__name__}: {error}")
        return texts
    return testee.compile_many(jobs)


def _outcomes(testee: PythonTestee | PythonWorkerTestee | NodeTestee, jobs: list[tuple[dict, str]]) -> list[dict]:
    if isinstance(testee, PythonTestee):
        return [testee.run(ir, target) for ir, target in jobs]
    return list(testee.run_many(jobs))


def record(python: PythonTestee | PythonWorkerTestee, node: NodeTestee) -> tuple[str, dict]:
    """The runtime key and ``{scenario id: {"ir": d, target: {"program": d, "outcome": d}}}``
    for the kit's spec/, on these (started) testees."""
    # Named from the checkout's root (spec/...), as the IR's source and the programs'
    # headers carry the name: the digests must not depend on where the clone is.
    results = [load_file(path, display=str(path.relative_to(ROOT))) for path in discover([ROOT / "spec"])]
    scenarios = [result.scenario for result in results if result.scenario is not None]
    table: dict[str, dict] = {scenario.id: {"ir": digest(scenario.ir)} for scenario in scenarios}
    for testee, targets in ((python, PYTHON_TARGETS), (node, JS_TARGETS)):
        jobs = [(scenario.ir, target) for scenario in scenarios for target in targets]
        programs = _programs(testee, jobs)
        outcomes = _outcomes(testee, jobs)
        for (ir, target), program, outcome in zip(jobs, programs, outcomes, strict=True):
            table[ir["id"]][target] = {"program": digest(program), "outcome": digest(outcome)}
    python_hello = python.hello() if isinstance(python, PythonTestee) else python.hello
    assert python_hello is not None and node.hello is not None, "start the testees first"
    return runtime_key(python_hello, node.hello), table


def _flat(table: dict) -> dict[str, str]:
    """``{"seed-x js-async program": digest, "seed-x ir": digest, ...}``."""
    flat = {}
    for scenario_id, entry in table.items():
        for part, value in entry.items():
            items = value.items() if isinstance(value, dict) else [("", value)]
            for name, leaf in items:
                flat[" ".join(filter(None, (scenario_id, part, name)))] = leaf
    return flat


def _recorded() -> dict:
    return json.loads(DIGESTS.read_text(encoding="utf-8")) if DIGESTS.exists() else {}


@pytest.fixture(scope="module")
def regenerated() -> tuple[str, dict]:
    node = NodeTestee(node_for(None))
    python = PythonTestee()
    with _running(node):
        return record(python, node)


def test_every_digest_is_unchanged(regenerated: tuple[str, dict]) -> None:
    key, table = regenerated
    recorded = _recorded().get(key)
    if recorded is None:
        pytest.skip(f"no digests recorded for {key}: record them with `python tests/test_digests.py`")
    now, before = _flat(table), _flat(recorded)
    changed = [f"{where}: {before.get(where)} -> {value}" for where, value in now.items() if before.get(where) != value]
    gone = sorted(set(recorded) - set(table))
    assert not changed and not gone, (
        f"{len(changed)} digests changed and {len(gone)} scenarios are gone on {key}; if the change is deliberate, "
        "record them again (python tests/test_digests.py) and say why in the commit:\n" + "\n".join(changed + gone)
    )


def test_a_changed_program_changes_its_digest(regenerated: tuple[str, dict]) -> None:
    # The control: the net catches a one-character change in a program or an outcome.
    assert digest("print(1)\n") != digest("print(2)\n")
    assert digest({"trace": [{"t": 1}]}) != digest({"trace": [{"t": 2}]})
    _, table = regenerated
    programs = {entry["python"]["program"] for entry in table.values()}
    assert len(programs) == len(table), "every scenario's program is its own"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record tests/digests.json for one runtime pair.")
    parser.add_argument("--python", help="a CPython version or path (default: this interpreter, in-process)")
    parser.add_argument("--node", help="a Node version or path (default: node on PATH)")
    args = parser.parse_args(argv)
    python = PythonWorkerTestee(find_python(args.python)) if args.python else PythonTestee()
    node = NodeTestee(node_for(args.node))
    with _running(python, node):
        key, table = record(python, node)
    recorded = _recorded()
    recorded[key] = table
    DIGESTS.write_text(json.dumps(dict(sorted(recorded.items())), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(table)} scenarios for {key} in {DIGESTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
