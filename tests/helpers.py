"""Helpers shared by the test files (tests/ is on the path: pyproject's ``pythonpath``).

- The scenario IR the tests run: ``load`` gives a fixture of tests/python/fixtures/ by
  name, or, for a scenario of spec/, what the loader makes of its YAML (never a copy
  of it, which would drift from the loader).
- ``body``: the functions of a generated Python program, without its head and tail;
  ``run``: a scenario's result and trace on the in-process Python target.
- Small IR builders (``scenario``, ``call``, ``ref``, ``lit``).
- ``find_cpython``: a working CPython X.Y, found as the kit finds one (PATH, then
  pyenv's versions under ``$PYENV_ROOT`` or ``~/.pyenv``).
- ``FULL``: the opt-in for the slow tests, ``ASYNCPARITY_FULL_TESTS=1``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

import pytest

from asyncparity.load import load_file
from asyncparity.pythons import PythonNotFound, find_python

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec"
PYTHON_FIXTURES = ROOT / "tests" / "python" / "fixtures"

FROM_SPEC = {"seed-download-fallback": "seed/download-fallback.yaml"}
"""The fixtures that are scenarios of spec/, by id: loaded from their YAML."""

FULL_VARIABLE = "ASYNCPARITY_FULL_TESTS"
FULL = os.environ.get(FULL_VARIABLE) == "1"
"""Set ``ASYNCPARITY_FULL_TESTS=1`` to run the slow tests too: the whole differential
matrices and the real-time checks on every CPython, not only a representative part."""


def full_only(what: str) -> pytest.MarkDecorator:
    """Skip the test (or parameter) unless the full tests are asked for, and say how to ask."""
    return pytest.mark.skipif(not FULL, reason=f"{what}: slow, run with {FULL_VARIABLE}=1")


@functools.cache
def _spec_ir_text(relative: str) -> str:
    result = load_file(SPEC / relative, display=f"spec/{relative}")  # the source a run from the root shows
    assert result.scenario is not None, result.diagnostics
    return json.dumps(result.scenario.ir)


def spec_ir(relative: str) -> dict:
    """The IR the loader makes of ``spec/<relative>`` (a fresh copy: a test may change it)."""
    return json.loads(_spec_ir_text(relative))


@functools.cache
def _fixture(name: str) -> dict:
    return json.loads((PYTHON_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def load(name: str) -> dict:
    """A scenario's IR by id: a spec/ scenario of ``FROM_SPEC`` from its YAML, else the
    fixture tests/python/fixtures/<name>.json (a fresh copy: a test may change it)."""
    if name in FROM_SPEC:
        return spec_ir(FROM_SPEC[name])
    return copy.deepcopy(_fixture(name))


def fixture_names() -> list[str]:
    """Every scenario ``load`` knows: the Python fixtures and the spec/ ones, sorted."""
    return sorted([path.stem for path in PYTHON_FIXTURES.glob("*.json")] + list(FROM_SPEC))


def body(program: str) -> str:
    """A generated Python program from its first ``async def`` to the ``if __name__`` block:
    ``main`` and the functions."""
    start = program.index("async def ")
    return program[start : program.index('\n\nif __name__ == "__main__":')]


def run(ir: dict | str, target_id: str = "python") -> tuple[dict, str]:
    """Run a scenario (its IR, or a name for ``load``) on the in-process Python target,
    which must settle it; its result and its canonical trace."""
    from asyncparity_python import target
    from asyncparity_runtime import format_trace

    outcome = target.run(load(ir) if isinstance(ir, str) else ir, target_id)
    assert outcome["status"] == "settled", outcome["message"]
    assert outcome["message"] is None
    return outcome["result"], format_trace(outcome["trace"])


# -- IR builders ---------------------------------------------------------------------------

LIMITS = {"virtual_time": 3600000, "timer_firings": 10000, "turns_per_instant": 1000}


def scenario(main: list, **fields) -> dict:
    """A small scenario IR ``t`` around ``main``; ``fields`` add or replace top-level fields."""
    ir = {
        "ir": 1,
        "id": "t",
        "summary": "s",
        "source": "t.yaml",
        "limits": dict(LIMITS),
        "errors": [],
        "operations": [],
        "functions": [],
        "main": main,
    }
    ir.update(fields)
    return ir


def operations_a_and_b() -> list[dict]:
    """Two operations, ``a`` and ``b``: 1 ms each, returning 1."""
    return [{"name": name, "latency": 1, "outcomes": [{"returns": 1}]} for name in ("a", "b")]


def call(name: str, *args: dict) -> dict:
    """A call of the operation ``name``."""
    return {"callee": name, "callee_kind": "operation", "args": list(args)}


def ref(name: str, member: str | None = None) -> dict:
    return {"ref": name, "member": member} if member else {"ref": name}


def lit(value: object) -> dict:
    return {"literal": value}


# -- CPythons ------------------------------------------------------------------------------


@functools.cache
def find_cpython(version: str) -> str | None:
    """A CPython ``version`` (``"3.12"``) that answers, as ``--python 3.12`` finds it; or None."""
    try:
        return find_python(version).path
    except PythonNotFound:
        return None


def find_cpythons(*versions: str) -> list[str]:
    """The CPythons of ``versions`` that are found (``find_cpython``), in that order."""
    return [python for python in map(find_cpython, versions) if python]
