"""asyncparity_python.check: the Python target's own check of the IR, before it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from asyncparity.load import load_file
from asyncparity_python.check import IrCheck

SEED = Path(__file__).resolve().parents[2] / "spec" / "seed" / "download-fallback.yaml"


def seed_ir() -> dict:
    scenario = load_file(SEED).scenario
    assert scenario is not None
    return scenario.ir


def test_a_loaded_scenario_passes_and_its_names_are_collected() -> None:
    checked = IrCheck(seed_ir())
    checked.check()
    # Operations, functions, parameters and bound names: the compiler's temp names avoid them all.
    assert {"download_data", "get_processed_data", "url", "data"} <= checked.names


def _broken(change) -> str:
    ir = seed_ir()
    change(ir["main"][0])
    with pytest.raises(ValueError, match=r"^main: line") as raised:
        IrCheck(ir).check()
    return str(raised.value)


def test_every_field_the_table_requires_is_there() -> None:
    line = seed_ir()["main"][0]["line"]
    assert _broken(lambda step: step.pop("call")) == f"main: line {line}: an await step has exactly one of 'call' and 'handle'"
    assert _broken(lambda step: step.update(handle="data")) == (
        f"main: line {line}: an await step has exactly one of 'call' and 'handle'"
    )


def test_a_field_the_table_does_not_declare_is_refused() -> None:
    line = seed_ir()["main"][0]["line"]
    assert _broken(lambda step: step.update(times=3)) == f"main: line {line}: an await step has no field 'times'"


def test_a_typed_integer_below_its_minimum_is_refused() -> None:
    ir = seed_ir()
    ir["main"].insert(0, {"step": "repeat", "times": -1, "bind": None, "body": [], "line": 9})
    with pytest.raises(ValueError, match=r"^main: line 9: a repeat times is an integer >= 0, not -1$"):
        IrCheck(ir).check()


def test_a_catch_from_group_is_true_with_kinds_or_absent() -> None:
    # seed_ir's fetch function holds a try whose catch names IOError.
    def check(catch_change) -> None:
        ir = seed_ir()
        function = ir["functions"][0]
        step = next(step for step in function["body"] if step["step"] == "try")
        catch_change(step["catch"])
        IrCheck(ir).check()

    check(lambda catch: catch.update(from_group=True))
    for change in (lambda catch: catch.update(from_group="yes"), lambda catch: catch.update(kinds=[], from_group=True)):
        with pytest.raises(ValueError, match=r"catch.from_group is true, with kinds, or absent$"):
            check(change)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"item": [{"literal": [1]}, {"literal": 0}]}, "an item is taken from a name or another item"),
        ({"item": [{"ref": "data"}, {"literal": -1}]}, "an item's key is a field name or an integer >= 0, not -1"),
        ({"item": [{"ref": "data"}, {"literal": 'a"b'}]}, "an item's key is a field name or an integer >= 0, not 'a\"b'"),
        ({"item": [{"ref": "data"}, {"literal": True}]}, "an item's key is a field name or an integer >= 0, not True"),
        ({"item": [{"ref": "data"}, {"calc": [{"literal": 1}, "+", {"literal": 1}]}]}, "an item's key is a field, an index"),
        ({"item": [{"ref": "data"}]}, "an item is [expression, key]"),
        ({"length": {"ref": "nope-nope"}}, "local name 'nope-nope' cannot be used"),
        ({"slice": [{"ref": "data"}]}, "slice is a list of 2 or 3 expressions"),
        ({"append": [{"ref": "data"}, 1]}, "append is a list of 2 expressions"),
        ({"append": [{"ref": "data"}, {"ref": "Bad-Name"}]}, "local name 'Bad-Name' cannot be used"),
    ],
)
def test_an_item_or_length_the_compilers_cannot_write_is_refused(message: dict, error: str) -> None:
    ir = seed_ir()
    ir["main"].insert(1, {"step": "log", "message": message, "line": 9})
    with pytest.raises(ValueError, match="^main: " + re.escape(error)):
        IrCheck(ir).check()


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ({"compare": [{"ref": "data"}, "=", {"literal": 1}]}, "unknown comparison '='"),
        ({"and": [{"compare": [{"ref": "data"}, "==", {"literal": 1}]}]}, "and takes two or more conditions"),
        ({"nor": []}, "malformed condition"),
        ({"not": {"ref": "data"}}, "malformed condition"),
        ({"or": [{"not": {"compare": [{"ref": "data"}]}}, {"not": {"compare": [{"ref": "data"}]}}]}, "compare is [expression"),
    ],
)
def test_a_condition_the_compilers_cannot_write_is_refused(condition: dict, error: str) -> None:
    ir = seed_ir()
    ir["main"].insert(1, {"step": "if", "condition": condition, "then": [], "else": [], "line": 9})
    with pytest.raises(ValueError, match="^main: " + re.escape(error)):
        IrCheck(ir).check()


BINDINGS_CASES = Path(__file__).resolve().parents[1] / "javascript" / "fixtures" / "bindings-ir-cases.json"


def _changed(ir: dict, case: dict) -> dict:
    """``ir`` with one case of bindings-ir-cases.json applied (its ``set`` and ``delete`` paths)."""
    ir = json.loads(json.dumps(ir))
    for path, value in case.get("set", []):
        *parents, last = path
        target = ir
        for key in parents:
            target = target[key]
        target[last] = value
    for path in case.get("delete", []):
        *parents, last = path
        target = ir
        for key in parents:
            target = target[key]
        del target[last]
    return ir


def test_bindings_and_bound_functions_are_checked_as_in_javascript() -> None:
    # The same cases as tests/javascript/check-ir.test.mjs: both IR checks accept
    # exactly the fields of spec/PROTOCOL.md's `bindings`, with the same messages.
    vectors = json.loads(BINDINGS_CASES.read_text())
    IrCheck(vectors["ir"]).check()
    for case in vectors["cases"]:
        with pytest.raises(ValueError, match=f"^{re.escape(case['message'].replace(chr(34), chr(39)))}$"):
            IrCheck(_changed(vectors["ir"], case)).check()


def test_collect_gathers_the_names_check_does_on_every_scenario_of_spec() -> None:
    from helpers import fixture_names, load
    from test_lint import spec_scenarios

    irs = [found.ir for found in spec_scenarios()] + [load(name) for name in fixture_names()]
    for ir in irs:
        checked, collected = IrCheck(ir), IrCheck(ir)
        checked.check()
        collected.collect()
        assert collected.names == checked.names, ir["id"]


def test_collect_checks_nothing() -> None:
    # What `validated` IR skips (spec/PROTOCOL.md): the loader said it already.
    ir = seed_ir()
    ir["main"][0]["times"] = 3
    IrCheck(ir).collect()
    with pytest.raises(ValueError, match="has no field 'times'"):
        IrCheck(ir).check()
