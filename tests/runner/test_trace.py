"""Tests for runner/trace.py: the one canonical text of events, errors and results.

The text is rendered by python/asyncparity_runtime.py, which the runner imports; the
shared vectors of spec/trace-vectors.json hold it here, and the JavaScript runtime's in
tests/javascript/trace-vectors.test.mjs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import asyncparity_runtime
from asyncparity.kit import SPEC_DIR
from asyncparity.trace import canonical_json, format_error, format_event, format_result, format_trace, normalize, trace_lines

VECTORS = json.loads((SPEC_DIR / "trace-vectors.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_the_shared_trace_vectors(vector: dict) -> None:
    assert trace_lines(vector["events"]) == vector["lines"]
    assert format_trace(vector["events"]) == "".join(line + "\n" for line in vector["lines"])


def test_the_runner_renders_with_the_python_runtime_module() -> None:
    """One renderer: the runner's names are the standalone runtime module's own."""
    import asyncparity.trace

    for name in ("UNORDERED", "canonical_json", "format_error", "format_event", "format_trace", "trace_lines"):
        assert getattr(asyncparity.trace, name) is getattr(asyncparity_runtime, name), name


def test_lone_surrogates_are_escaped_and_a_pair_is_one_character() -> None:
    # What JSON.stringify writes on Node 12 and later (well-formed JSON.stringify):
    # JSON.stringify("\ud800") is '"\\ud800"', and "\ud83d" + "\ude00" is one character.
    assert canonical_json("\ud800") == '"\\ud800"'
    assert canonical_json("\ud83d" + "\ude00") == '"\U0001f600"' == canonical_json(json.loads('"\\ud83d\\ude00"'))
    assert canonical_json(["\ude00\ud83d", {"\udfff": 1.0}]) == '["\\ude00\\ud83d",{"\\udfff":1}]'
    assert canonical_json({"k": "\ud800"}, (", ", ": ")) == '{"k": "\\ud800"}'
    assert normalize({"b": "\ud800", "a": 1}) == '{"a":1,"b":"\\ud800"}'
    assert canonical_json("\ud800").encode("utf-8")  # the text is always UTF-8


def test_a_standalone_python_program_prints_a_lone_surrogate_as_the_runner_renders_it() -> None:
    program = (
        "from asyncparity_runtime import World\n"
        "world = World('surrogate')\n"
        "async def main():\n"
        "    world.log('bad \\ud800 byte')\n"
        "world.run_and_print(main)\n"
    )
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, check=False, timeout=60)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.decode("utf-8") == '0 log "bad \\ud800 byte"\n0 return null\nsettled\n'
    assert trace_lines([{"t": 0, "event": "log", "message": "bad \ud800 byte"}]) == ['0 log "bad \\ud800 byte"']


def test_every_event_kind_has_its_canonical_line() -> None:
    events = [
        {"t": 0, "event": "start", "op": "download", "args": ["u", 1, {"a": [True, None]}]},
        {"t": 30, "event": "end", "op": "download", "value": "x"},
        {"t": 30, "event": "fail", "op": "download", "error": {"kind": "IOError", "message": "reset"}},
        {"t": 31, "event": "log", "message": "got it"},
        {"t": 32, "event": "unhandled", "error": {"kind": "IOError", "message": "boom"}},
        {"t": 60, "event": "return", "value": None},
        {
            "t": 60,
            "event": "throw",
            "error": {
                "kind": "AggregateError",
                "message": "all failed",
                "errors": [{"kind": "A", "message": "a"}, {"kind": "B", "message": "b"}],
            },
        },
        {"t": 61, "event": "teleport", "where": "mars"},
    ]

    assert trace_lines(events) == [
        '0 start download("u",1,{"a":[true,null]})',
        '30 end download -> "x"',
        '30 fail download IOError("reset")',
        '31 log "got it"',
        '32 unhandled IOError("boom")',
        "60 return null",
        '60 throw AggregateError("all failed", [A("a"), B("b")])',
        '61 teleport {"where":"mars"}',
    ]


def test_integral_floats_equal_integers_as_json() -> None:
    assert normalize({"a": [1.0, 2.5, {"b": 3.0}]}) == normalize({"a": [1, 2.5, {"b": 3}]})
    assert canonical_json(1.0) == "1"
    # Beyond 2**53 too: JavaScript writes the number without an exponent below 1e21.
    assert canonical_json(1e16) == canonical_json(10000000000000000) == "10000000000000000"
    assert canonical_json(2.0**60) == "1152921504606847000"


class _Text(str):
    pass


def test_floats_and_keys_deep_in_lists_and_objects_are_written_as_javascript_does() -> None:
    # The plain case (no float, string keys) goes to the json module's encoder; any float
    # or other key at any depth, or a subclass of a JSON type, must not.
    assert canonical_json([{"a": [1, "x", None, True]}, ("t", 2)]) == '[{"a":[1,"x",null,true]},["t",2]]'
    assert canonical_json([{"a": [1, 2.0]}, 3]) == '[{"a":[1,2]},3]'
    assert canonical_json({"a": {"b": [[[1.5e21]]]}}) == '{"a":{"b":[[[1.5e+21]]]}}'
    assert canonical_json({"a": (1.0,)}) == '{"a":[1]}'
    assert canonical_json({1: "one", "b": [False]}) == '{"1":"one","b":[false]}'
    assert canonical_json([_Text("é"), {"k": _Text("v")}]) == '["é",{"k":"v"}]'
    assert canonical_json([float("nan"), {"x": float("inf")}]) == '[null,{"x":null}]'


def test_numbers_are_laid_out_as_json_stringify_does() -> None:
    # Each pair checked against Node: JSON.stringify(x) for the same double.
    cases = {
        1e21: "1e+21",
        1.5e300: "1.5e+300",
        0.1: "0.1",
        1e-6: "0.000001",
        1e-7: "1e-7",
        -2.5e-10: "-2.5e-10",
        123.456: "123.456",
        1234567.0: "1234567",
        -0.0: "0",
        float("nan"): "null",
        float("inf"): "null",
        5e-324: "5e-324",
        1.7976931348623157e308: "1.7976931348623157e+308",
    }
    assert {value: canonical_json(value) for value in cases} == cases


def test_values_are_equal_as_json_whatever_the_order_of_the_keys() -> None:
    assert normalize({"2024": 1, "2023": 2}) == normalize({"2023": 2, "2024": 1})
    assert canonical_json({"2024": 1, "2023": 2}) != canonical_json({"2023": 2, "2024": 1})  # the trace shows the order
    assert normalize([1, 2]) != normalize([2, 1])


def test_values_with_and_without_floats_and_string_keys_have_one_text() -> None:
    # A value of strings, integers, booleans and nulls takes the json module's shortcut;
    # one with a float or a key that is no string takes the rule. The texts must agree.
    assert canonical_json({"a": [1, "é\u2028", None, True], "b": {}}) == '{"a":[1,"é\u2028",null,true],"b":{}}'
    assert canonical_json({"a": [1.0, "é\u2028", None, True], "b": {}}) == '{"a":[1,"é\u2028",null,true],"b":{}}'
    assert canonical_json({1: [2], False: None}) == '{"1":[2],"False":null}'
    assert canonical_json({"a": [1, {"b": 2}]}, (", ", ": ")) == '{"a": [1, {"b": 2}]}'
    assert normalize({"b": [1, {"d": 1, "c": 2}], "a": None}) == '{"a":null,"b":[1,{"c":2,"d":1}]}'
    assert normalize({"b": [1.0, {"d": 1, "c": 2}], "a": None}) == '{"a":null,"b":[1,{"c":2,"d":1}]}'


def test_strings_keep_non_ascii_and_escape_like_json_stringify() -> None:
    assert canonical_json('quote " back \\ nl \n nul \x00 ${x} </script> é ✓') == (
        '"quote \\" back \\\\ nl \\n nul \\u0000 ${x} </script> é ✓"'
    )


def test_results_and_errors() -> None:
    assert format_result({"returns": [1, "a"]}) == 'returns [1,"a"]'
    assert format_result({"throws": {"kind": "E", "message": "m"}}) == 'throws E("m")'
    assert format_result(None) == "(none)"
    assert format_error({"kind": "E", "message": "m"}) == 'E("m")'
    assert (
        format_error({"kind": "E", "message": "m", "errors": []}) == 'E("m", [])'
    )  # a group with no members, as JavaScript writes it
    assert format_event({"t": 5, "event": "start", "op": "f", "args": []}) == "5 start f()"


def test_cancel_event() -> None:
    assert format_event({"t": 20, "event": "cancel", "op": "download_data"}) == "20 cancel download_data"


def test_resource_events() -> None:
    assert format_event({"t": 5, "event": "open", "resource": "connection", "args": ["db", 1]}) == '5 open connection("db",1)'
    assert format_event({"t": 20, "event": "close", "resource": "connection"}) == "20 close connection"
