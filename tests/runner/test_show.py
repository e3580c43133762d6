"""Tests for runner/show.py: programs side by side when they fit, stacked otherwise."""

from __future__ import annotations

import yaml

from asyncparity.show import layout, outcome_yaml, side_by_side, stacked, width_side_by_side

PROGRAMS = [("python", "a = 1\nprint(a)\n"), ("js-async", "const a = 1;\n")]


def test_side_by_side_pads_each_column() -> None:
    assert side_by_side(PROGRAMS) == ("python   │ js-async\n======   │ ========\na = 1    │ const a = 1;\nprint(a) │\n")
    assert width_side_by_side(PROGRAMS) == 8 + 3 + 12


def test_stacked_puts_each_program_under_a_heading() -> None:
    assert stacked(PROGRAMS) == (
        "# ==== python (save as program.py) ====\na = 1\nprint(a)\n\n// ==== js-async (save as program.mjs) ====\nconst a = 1;\n"
    )
    assert stacked(PROGRAMS[:1]) == "a = 1\nprint(a)\n"


def test_auto_chooses_by_terminal_width() -> None:
    assert layout(PROGRAMS, "auto", 23) == side_by_side(PROGRAMS)
    assert layout(PROGRAMS, "auto", 22) == stacked(PROGRAMS)
    assert layout(PROGRAMS, "columns", 0) == side_by_side(PROGRAMS)
    assert layout(PROGRAMS, "stacked", 500) == stacked(PROGRAMS)


def test_an_outcome_is_written_as_expect_states_it() -> None:
    settled = {
        "status": "settled",
        "result": {"throws": {"kind": "IOError", "message": "down"}},
        "trace": [
            {"t": 0, "event": "log", "message": "a\u2028b"},
            {"t": 3, "event": "throw", "error": {"kind": "IOError", "message": "down"}},
        ],
    }
    stuck = {"status": "deadlock", "result": None, "trace": [{"t": 0, "event": "log", "message": "waiting"}], "message": "x"}

    assert (
        outcome_yaml(settled)
        == 'throws: {kind: IOError, message: "down"}\ntrace: "0 log \\"a\\u2028b\\"\\n3 throw IOError(\\"down\\")\\n"\n'
    )
    assert outcome_yaml(stuck) == 'deadlock: true\ntrace: |\n  0 log "waiting"\n'
    assert yaml.safe_load(outcome_yaml(settled))["trace"] == '0 log "a\u2028b"\n3 throw IOError("down")\n'
