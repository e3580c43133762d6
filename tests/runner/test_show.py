"""Tests for runner/show.py: programs side by side when they fit, stacked otherwise."""

from __future__ import annotations

from asyncparity.show import layout, side_by_side, stacked, width_side_by_side

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
