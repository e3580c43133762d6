"""The IR's steps as data, and the walks over step lists that every stage makes.

spec/ir-steps.json declares each step of the scenario IR once: its fields and their
types, whether it waits, what it binds, which blocks (nested step lists) it holds. This
package carries a byte-for-byte copy of it (``ir-steps.json`` beside this module), so
that the Python target stands alone under any CPython; tests/test_ir_steps.py holds the
copies equal. The Python compiler and the runner walk steps through the functions here,
so a new step needs a table row, not a new case in each walker.

Standard library only, CPython 3.10+.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TABLE: dict = json.loads(Path(__file__).with_name("ir-steps.json").read_text(encoding="utf-8"))
"""The whole table: ``types``, ``steps``, ``ir`` (the IR version it describes)."""

STEPS: dict[str, dict] = TABLE["steps"]
"""Step name -> its row: ``fields`` ({field: type}), ``yaml``, ``waits``, ``binds``,
``blocks`` ([{field, binds}]), ``loops``, and ``one_of`` where a step has one."""


def field_value(step: dict, path: str) -> Any:
    """A field of ``step`` by its table path: ``body``, or ``catch.body`` (None where absent).

    Typed as the IR is (JSON, ``Any``): the table says what the field holds."""
    value: Any = step
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def blocks(step: dict) -> list[tuple[list[dict], str | None]]:
    """The step lists ``step`` holds, each with the name it binds for itself (a catch's
    error, a repeat's counter, a for_each's value, a using's resource value) or None."""
    held = []
    # An unknown step holds nothing: walking must not fail before a check can name it.
    for field, binds in _BLOCK_FIELDS.get(step.get("step", ""), ()):
        steps = field_value(step, field)
        if steps is not None:
            held.append((steps, field_value(step, binds) if binds else None))
    return held


_BLOCK_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    name: tuple((block["field"], block["binds"]) for block in row["blocks"]) for name, row in STEPS.items()
}
"""Each step's blocks as (field, binds) paths, read from the table once: blocks() is
asked of every step by every walk."""


def walk(steps: list[dict], skipped: dict | None = None) -> Iterator[dict]:
    """Every step of ``steps`` and of the blocks nested in them, in source order, but
    ``skipped`` (a step) and what it holds."""
    for step in steps:
        if step is skipped:
            continue
        yield step
        for block, _ in blocks(step):
            yield from walk(block, skipped)


def value_binding(step: dict) -> str | None:
    """The name ``step`` binds for the rest of its function (its value), or None."""
    return step.get("bind") if STEPS[step["step"]]["binds"] == "value" else None


def bound_names(step: dict) -> list[str]:
    """Every name ``step`` itself binds: its value's, and those its blocks bind."""
    names = [value_binding(step)] + [bound for _, bound in blocks(step)]
    return [name for name in names if name]


def fields_of_type(step: dict, *types: str) -> Iterator[tuple[str, Any]]:
    """``(field, value)`` for each field of ``step`` declared with one of ``types`` (the
    optional mark ``?`` ignored) and set; the value is typed as the IR is (JSON, ``Any``)."""
    key = (step["step"], types)
    fields = _FIELDS_OF_TYPES.get(key)
    if fields is None:
        declared = STEPS[step["step"]]["fields"].items()
        fields = _FIELDS_OF_TYPES[key] = tuple(name for name, kind in declared if kind.rstrip("?") in types)
    for name in fields:
        if step.get(name) is not None:
            yield name, step[name]


_FIELDS_OF_TYPES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
"""fields_of_type's answers by (step name, types): a few dozen, one per step of the table
and each set of types a caller asks for (a constant of the code, never of the input)."""


def calls(step: dict) -> list[dict]:
    """The calls ``step`` makes itself (CALL records), not those of its blocks."""
    found: list[dict] = []
    for _, value in fields_of_type(step, "call", "calls"):
        found.extend(value if isinstance(value, list) else [value])
    return found


def expressions(step: dict) -> list[dict]:
    """The expressions ``step`` evaluates itself, its calls' arguments first."""
    found = [arg for call in calls(step) for arg in call.get("args", [])]
    for _, value in fields_of_type(step, "expr", "exprs", "integer>=0|expr"):
        if isinstance(value, list):
            found.extend(value)
        elif isinstance(value, dict):
            found.append(value)
    for _, condition in fields_of_type(step, "condition"):
        found.extend(condition_expressions(condition))
    return found


def condition_expressions(condition: Any) -> list[dict]:
    """The expressions a condition (COND of spec/PROTOCOL.md) compares, left to right."""
    if not isinstance(condition, dict):
        return []
    if "compare" in condition:
        return [condition["compare"][0], condition["compare"][2]]
    if "not" in condition:
        return condition_expressions(condition["not"])
    parts = condition.get("and", condition.get("or"))
    return [expr for part in parts or [] for expr in condition_expressions(part)]


def can_wait(step: dict) -> bool:
    """Whether ``step`` can suspend its function: by the table's ``waits``, or, where it
    says ``blocks``, when a step in one of its blocks can."""
    waits = STEPS[step["step"]]["waits"]
    if waits == "blocks":
        return any(can_wait(inner) for block, _ in blocks(step) for inner in block)
    return bool(waits)
