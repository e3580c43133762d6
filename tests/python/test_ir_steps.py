"""asyncparity_python.ir_steps: the walks over step lists, driven by spec/ir-steps.json."""

from __future__ import annotations

from asyncparity_python import ir_steps


def _call(callee: str, *args: dict) -> dict:
    return {"callee": callee, "callee_kind": "operation", "args": list(args)}


TRY = {
    "step": "try",
    "line": 3,
    "body": [{"step": "await", "call": _call("fetch", {"ref": "url"}), "bind": "data", "line": 4}],
    "catch": {
        "kinds": ["IOError"],
        "bind": "error",
        "body": [{"step": "log", "message": {"ref": "error", "member": "message"}, "line": 6}],
    },
    "finally": [{"step": "sleep", "ms": {"ref": "delay"}, "line": 8}],
}


def test_blocks_are_found_by_the_table_with_what_each_binds() -> None:
    assert ir_steps.blocks(TRY) == [(TRY["body"], None), (TRY["catch"]["body"], "error"), (TRY["finally"], None)]
    repeat = {"step": "repeat", "times": 2, "bind": "attempt", "body": [], "line": 1}
    assert ir_steps.blocks(repeat) == [([], "attempt")]
    assert ir_steps.blocks({"step": "try", "body": [], "catch": None, "finally": [], "line": 1}) == [([], None), ([], None)]


def test_walk_visits_every_nested_step_in_source_order_but_the_skipped_one() -> None:
    outer = [TRY, {"step": "log", "message": {"literal": "done"}, "line": 9}]
    assert [step["line"] for step in ir_steps.walk(outer)] == [3, 4, 6, 8, 9]
    assert [step["line"] for step in ir_steps.walk(outer, skipped=TRY)] == [9]


def test_walk_passes_over_an_unknown_step_so_that_a_check_can_name_it() -> None:
    assert [step["step"] for step in ir_steps.walk([{"step": "teleport", "body": [TRY]}])] == ["teleport"]


def test_bindings_values_and_block_names() -> None:
    assert ir_steps.value_binding(TRY["body"][0]) == "data"
    assert ir_steps.value_binding({"step": "repeat", "times": 1, "bind": "i", "body": []}) is None
    assert ir_steps.bound_names(TRY) == ["error"]
    assert ir_steps.bound_names({"step": "for_each", "call": _call("ticks"), "bind": "tick", "body": []}) == ["tick"]


def test_calls_and_expressions_a_step_makes_itself() -> None:
    fan_out = {"step": "all", "calls": [_call("a", {"literal": 1}), _call("b", {"ref": "x"})], "bind": None}
    assert [call["callee"] for call in ir_steps.calls(fan_out)] == ["a", "b"]
    assert ir_steps.expressions(fan_out) == [{"literal": 1}, {"ref": "x"}]
    assert ir_steps.expressions(TRY["finally"][0]) == [{"ref": "delay"}]
    assert ir_steps.expressions({"step": "sleep", "ms": 30}) == []
    assert ir_steps.expressions(TRY) == []  # its blocks' expressions are their steps'


def test_can_wait_follows_the_table_and_looks_into_blocks() -> None:
    log = {"step": "log", "message": {"literal": "x"}}
    assert not ir_steps.can_wait(log)
    assert ir_steps.can_wait(TRY)  # its body awaits
    assert not ir_steps.can_wait(
        {"step": "if", "condition": {"compare": [{"literal": 1}, "==", {"literal": 1}]}, "then": [log], "else": []}
    )
    assert ir_steps.can_wait({"step": "timeout", "ms": 5, "body": []})
