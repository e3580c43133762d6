"""Tests for runner/console.py: colour and the progress count, on a terminal only."""

from __future__ import annotations

import io
import os

import pytest

from asyncparity import console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("terminal", "environ", "expected"),
    [
        (True, {"TERM": "xterm"}, True),
        (False, {"TERM": "xterm"}, False),
        (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
        (True, {"TERM": "xterm", "NO_COLOR": ""}, True),  # no-color.org: set and not empty
        (False, {"FORCE_COLOR": "1"}, True),
        (True, {"FORCE_COLOR": "0"}, False),
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # as pytest: NO_COLOR first
        (True, {"TERM": "dumb"}, False),
    ],
)
def test_colour_on_a_terminal_none_in_a_pipe_or_with_no_color(terminal: bool, environ: dict, expected: bool) -> None:
    stream = Terminal() if terminal else io.StringIO()

    assert console.wants_colour(stream, environ) is expected


def test_a_real_pipe_and_a_real_pty() -> None:
    read_end, write_end = os.pipe()
    primary, secondary = os.openpty()
    try:
        with open(write_end, "w", closefd=False) as pipe, open(secondary, "w", closefd=False) as tty:
            assert console.is_terminal(pipe) is False
            assert console.is_terminal(tty) is True
    finally:
        for descriptor in (read_end, write_end, primary, secondary):
            os.close(descriptor)


def test_words_and_diff_lines_are_coloured_only_when_asked() -> None:
    assert console.verdict_line("FAIL  beta  js-async mismatch", True) == "\x1b[31mFAIL\x1b[0m  beta  js-async mismatch"
    assert console.verdict_line("PASS  alpha", True) == "\x1b[32mPASS\x1b[0m  alpha"
    assert console.verdict_line("PASS  alpha", False) == "PASS  alpha"
    assert console.detail_line("    -61 log", True) == "\x1b[31m    -61 log\x1b[0m"
    assert console.detail_line("    +60 log", True) == "\x1b[32m    +60 log\x1b[0m"
    assert console.detail_line("    +++ js-async", True) == "\x1b[1m    +++ js-async\x1b[0m"
    assert console.detail_line("     50 start", True) == "     50 start"
    assert console.detail_line("    -61 log", False) == "    -61 log"


def test_progress_counts_under_the_lines_on_a_terminal_and_clears() -> None:
    stream = Terminal()
    progress = console.Progress(stream, 3, enabled=True)

    progress.print("PASS  a")
    progress.print(None)  # -q: a passing verdict prints no line, and is counted
    progress.clear()

    assert stream.getvalue() == "\r\x1b[KPASS  a\n[1/3]\r\x1b[K[2/3]\r\x1b[K"


def test_no_progress_when_disabled_only_the_lines() -> None:
    stream = io.StringIO()
    progress = console.Progress(stream, 3, enabled=False)

    progress.print("PASS  a")
    progress.print(None)
    progress.clear()

    assert stream.getvalue() == "PASS  a\n"
