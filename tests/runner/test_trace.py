"""Tests for runner/trace.py: the one canonical text of events, errors and results."""

from __future__ import annotations

from asyncparity.trace import canonical_json, format_error, format_event, format_result, format_trace, normalize


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

    assert format_trace(events) == [
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
    assert format_error({"kind": "E", "message": "m", "errors": []}) == 'E("m")'
    assert format_event({"t": 5, "event": "start", "op": "f", "args": []}) == "5 start f()"


def test_cancel_event() -> None:
    assert format_event({"t": 20, "event": "cancel", "op": "download_data"}) == "20 cancel download_data"


def test_resource_events() -> None:
    assert format_event({"t": 5, "event": "open", "resource": "connection", "args": ["db", 1]}) == '5 open connection("db",1)'
    assert format_event({"t": 20, "event": "close", "resource": "connection"}) == "20 close connection"


def test_the_runner_and_the_python_runtime_render_the_same_canonical_text() -> None:
    """PROTOCOL.md states the rules once; the standalone runtime repeats them (it is
    standard library only and imports nothing from the runner): they must agree."""
    import asyncparity_runtime

    events = [
        {"t": 0, "event": "start", "op": "f", "args": ["é\n", 1.0, {"k": [True, None]}]},
        {"t": 1, "event": "end", "op": "f", "value": 2.5},
        {"t": 1, "event": "fail", "op": "f", "error": {"kind": "E", "message": "m", "errors": [{"kind": "A", "message": "a"}]}},
        {"t": 2, "event": "log", "message": "x"},
        {"t": 3, "event": "unhandled", "error": {"kind": "E", "message": ""}},
        {"t": 4, "event": "cancel", "op": "f"},
        {"t": 5, "event": "open", "resource": "r", "args": ["db"]},
        {"t": 6, "event": "close", "resource": "r"},
        {"t": 7, "event": "return", "value": [1, "2"]},
        {"t": 7, "event": "throw", "error": {"kind": "E", "message": 'q"uote'}},
    ]

    assert asyncparity_runtime.format_trace(events).splitlines() == format_trace(events)


def test_the_runner_and_the_javascript_runtime_render_the_same_canonical_text() -> None:
    """The same check against javascript/asyncparity-runtime.mjs's formatTrace, run by a real Node."""
    import json
    import subprocess

    from asyncparity.kit import JAVASCRIPT_DIR
    from asyncparity.node import find_node

    events = [
        {"t": 0, "event": "start", "op": "f", "args": ["é\n\u2028", 1, {"k": [True, None]}, "</script>", "${x}"]},
        {"t": 1, "event": "end", "op": "f", "value": 2.5},
        {"t": 1, "event": "fail", "op": "f", "error": {"kind": "E", "message": "m", "errors": [{"kind": "A", "message": "a"}]}},
        {"t": 2, "event": "log", "message": "x\x00y"},
        {"t": 3, "event": "unhandled", "error": {"kind": "E", "message": ""}},
        {"t": 4, "event": "cancel", "op": "f"},
        {"t": 5, "event": "open", "resource": "r", "args": ["db"]},
        {"t": 6, "event": "close", "resource": "r"},
        {"t": 7, "event": "return", "value": [1, "2"]},
        {"t": 7, "event": "throw", "error": {"kind": "E", "message": 'q"uote'}},
    ]
    script = (
        f"import({json.dumps((JAVASCRIPT_DIR / 'asyncparity-runtime.mjs').as_uri())})"
        ".then(({ formatTrace }) => process.stdout.write(formatTrace(JSON.parse(process.argv[1]))));"
    )

    completed = subprocess.run(
        [find_node().path, "--input-type=module", "-e", script, json.dumps(events)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n") == format_trace(events)
