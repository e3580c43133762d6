"""Trace: the canonical text of trace events, results and errors.

Outcomes carry trace events as JSON (spec/PROTOCOL.md, "Trace events"); everything
people read and everything compare looks at is this one text form, one event a line:

    0 start download_data("https://example.com/data")
    30 fail download_data IOError("connection reset")
    60 return "processed"

The text is written by one renderer, the Python runtime module's (standard library
only, so that a standalone program prints the same text): this module takes it from
python/asyncparity_runtime.py and adds what only the runner needs, the equality of
values (:func:`normalize`) and the text of a result (:func:`format_result`).
javascript/asyncparity-runtime.mjs renders the same text for standalone JavaScript
programs; spec/trace-vectors.json holds both renderers to it.

Names: :func:`trace_lines` gives a trace's canonical lines (a list), :func:`format_trace`
its text (each line ending in a newline).
"""

from __future__ import annotations

from typing import Any

from asyncparity_runtime import UNORDERED, canonical_json, format_error, format_event, format_trace, trace_lines

from .model import STOPS

__all__ = [
    "UNORDERED",
    "FormattedTrace",
    "canonical_json",
    "format_error",
    "format_event",
    "format_result",
    "format_trace",
    "lines_of",
    "normalize",
    "trace_lines",
]


class FormattedTrace(list):
    """A trace whose canonical lines the runner has made already: the list of its events,
    as any trace, and their lines in :attr:`lines`.

    The runner checks a worker's outcome by formatting its trace (runner/testees.py's
    ``outcome_problem``), and compare formats every trace it compares: the lines made
    for the check are kept here and read by compare (:func:`lines_of`), not made twice
    (issue 13). Written as JSON, it is the list of events, as any trace.
    """

    def __init__(self, events: list, lines: list[str]) -> None:
        super().__init__(events)
        self.lines = lines


def lines_of(trace: list) -> list[str]:
    """The canonical lines of a trace: those a :class:`FormattedTrace` holds, else
    :func:`trace_lines`."""
    return trace.lines if isinstance(trace, FormattedTrace) else trace_lines(trace)


def normalize(value: Any) -> str:
    """What equality of values across languages compares: canonical JSON, keys sorted.

    DESIGN.md compares values as JSON: an integral float equals the integer (Python keeps
    ``1.0`` and ``1`` apart where JavaScript has one number), and an object is the same
    whatever the order of its keys (a trace line, canonical text, still shows the order).
    """
    return canonical_json(value, sort_keys=True)


def format_result(result: dict | None) -> str:
    """``returns <json>``, ``throws Kind("message")`` or ``uncaught Kind("message")`` (the
    program ended at an unhandled error, as Node does), ``deadlock`` (``runaway``,
    ``crash``: a run that did not settle); ``(none)`` when there is none."""
    if result is None:
        return "(none)"
    if len(result) == 1 and next(iter(result)) in STOPS:
        return next(iter(result))
    if "returns" in result:
        return f"returns {canonical_json(result['returns'])}"
    if "uncaught" in result:
        return f"uncaught {format_error(result['uncaught'])}"
    return f"throws {format_error(result['throws'])}"
