"""Console: colour and a progress count for the lines a run prints, on a terminal only.

The report stage (runner/report.py) makes plain lines; this module decides how they
look where they are printed. Colour follows the conventions of no-color.org and of
pytest: none when ``NO_COLOR`` is set to anything but the empty string; else colour
when ``FORCE_COLOR`` is set (and not ``0``); else colour only when the stream is a
terminal whose ``TERM`` is not ``dumb``. The progress count (``[12/5000]`` on the line
under the verdicts, rewritten in place) is shown on a terminal only: in a pipe or a CI
log it would be noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

RESET = "\x1b[0m"
STYLES = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "cyan": "\x1b[36m", "bold": "\x1b[1m"}
WORD_STYLES = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
CLEAR_LINE = "\r\x1b[K"


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether to colour what is written to ``stream`` (see the module's docstring)."""
    if environ.get("NO_COLOR", ""):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force:
        return force != "0"
    return is_terminal(stream) and environ.get("TERM", "") != "dumb"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or unusual stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, style: str, colour: bool) -> str:
    """``text`` in ``style`` when ``colour``, else unchanged."""
    return f"{STYLES[style]}{text}{RESET}" if colour and text else text


def verdict_line(line: str, colour: bool) -> str:
    """A verdict line (``PASS  id  ...``) with its word coloured."""
    word = line[:4]
    if not colour or word not in WORD_STYLES:
        return line
    return paint(word, WORD_STYLES[word], colour) + line[4:]


def detail_line(line: str, colour: bool) -> str:
    """A line of a failure's details: the heading bold, the diff's removals red, additions green."""
    if not colour:
        return line
    stripped = line.lstrip(" ")
    if line.startswith("--- "):
        return paint(line, "bold", colour)
    if stripped.startswith(("--- ", "+++ ")):
        return paint(line, "bold", colour)
    if stripped.startswith("@@"):
        return paint(line, "cyan", colour)
    if stripped.startswith("-"):
        return paint(line, "red", colour)
    if stripped.startswith("+"):
        return paint(line, "green", colour)
    return line


def closing_line(line: str, failed: bool, colour: bool) -> str:
    """The closing line, red when anything failed, green otherwise."""
    return paint(line, "red" if failed else "green", colour)


class Progress:
    """``[done/total]`` under the verdict lines of a terminal, rewritten in place.

    :meth:`print` writes a line above the count; :meth:`clear` takes the count away
    (before the details and the closing line). Disabled, it only prints the lines.
    """

    def __init__(self, stream: TextIO, total: int, enabled: bool) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.shown = False

    def print(self, line: str | None) -> None:
        """Write ``line`` (None: none) and count one more scenario done."""
        self.done += 1
        if not self.enabled:
            if line is not None:
                print(line, file=self.stream, flush=True)
            return
        text = CLEAR_LINE + (line + "\n" if line is not None else "")
        self.stream.write(f"{text}[{self.done}/{self.total}]")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Take the count off the screen."""
        if self.shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self.shown = False
