"""Show: lay out generated programs for ``asyncparity show``, side by side when they fit,
and write one target's outcome as YAML for ``asyncparity show FILE --trace TARGET``.

Programs come from the targets (each compiles its own language); this module only
arranges their text. Side by side needs the terminal to hold every column whole;
otherwise the programs follow one another, each under a heading that says how to save it.
"""

from __future__ import annotations

import itertools

from .bless import result_entry, trace_entry
from .model import declared_result
from .trace import trace_lines

SEPARATOR = " │ "


def heading(target: str) -> str:
    """The comment line above a program in the stacked layout."""
    comment, suffix = ("#", "py") if target.startswith("python") else ("//", "mjs")
    return f"{comment} ==== {target} (save as program.{suffix}) ===="


def stacked(programs: list[tuple[str, str]]) -> str:
    """Each program under its heading, one after another; a single program bare."""
    if len(programs) == 1:
        return programs[0][1]
    return "\n".join(f"{heading(target)}\n{source}" for target, source in programs)


def side_by_side(programs: list[tuple[str, str]]) -> str:
    """The programs in columns, each as wide as its longest line, headed by the target."""
    columns = [[target, "=" * len(target), *source.rstrip("\n").splitlines()] for target, source in programs]
    widths = [max(len(line) for line in column) for column in columns]
    rows = []
    for cells in itertools.zip_longest(*columns, fillvalue=""):
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
        rows.append(SEPARATOR.join(padded).rstrip())
    return "\n".join(rows) + "\n"


def width_side_by_side(programs: list[tuple[str, str]]) -> int:
    """How many columns the side-by-side layout needs."""
    widths = [max(len(line) for line in [target, *source.splitlines()]) for target, source in programs]
    return sum(widths) + len(SEPARATOR) * (len(programs) - 1)


def layout(programs: list[tuple[str, str]], mode: str, terminal_width: int) -> str:
    """``columns``, ``stacked``, or ``auto`` (columns when they fit ``terminal_width``)."""
    if mode == "columns" or (mode == "auto" and len(programs) > 1 and width_side_by_side(programs) <= terminal_width):
        return side_by_side(programs)
    return stacked(programs)


def outcome_yaml(outcome: dict) -> str:
    """A target's result and full trace as ``expect`` and ``diverge`` state them, at
    column 0: ``returns: 1`` (or throws, uncaught, ``deadlock: true``), then ``trace: |``
    and its lines indented by two, ready to paste into either."""
    result = declared_result(outcome)
    lines = [result_entry(result)] if result else []
    lines.append(trace_entry(trace_lines(outcome.get("trace") or []), "  "))
    return "\n".join(lines) + "\n"
