"""Trace: the canonical text of trace events, results and errors.

Outcomes carry trace events as JSON (spec/PROTOCOL.md, "Trace events"); everything
people read and everything compare looks at is this one text form, one event a line:

    0 start download_data("https://example.com/data")
    30 fail download_data IOError("connection reset")
    60 return "processed"

Both runtime modules render the same text for standalone programs
(``format_trace`` in python/asyncparity_runtime.py, ``formatTrace`` in
javascript/asyncparity-runtime.mjs); the rules are stated once, in PROTOCOL.md.
"""

from __future__ import annotations

import json
from typing import Any

# JSON.stringify's layout of a number: the runtime module states the rule (standard
# library only), and the runner writes the text of an outcome's numbers with it too.
from asyncparity_runtime import number_text

UNORDERED = " (any order)"
"""The end of a canonical line whose event belongs to a group CPython orders by chance
(a set's iteration): such lines are compared as a group, in any order."""


def canonical_json(value: Any, separators: tuple[str, str] = (",", ":")) -> str:
    """Compact JSON, non-ASCII kept as is: the same text ``JSON.stringify`` gives.

    A float is laid out as JavaScript lays out a number (:func:`number_text`), so an
    integral float equals the integer, at any size; an integer is written exactly.
    ``separators`` as ``json.dumps``'s (``(", ", ": ")`` for text people write).
    """
    kind = type(value)
    if kind is str:
        return _string_literal(value)
    if kind is int or kind is bool or value is None:
        return _COMPACT.encode(value)
    if _plain(value):
        # No float and no key but a string: the json module's text is JSON.stringify's.
        return (_COMPACT if separators == (",", ":") else json.JSONEncoder(ensure_ascii=False, separators=separators)).encode(
            value
        )
    comma, colon = separators
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, list | tuple):
        return "[" + comma.join(canonical_json(item, separators) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + comma.join(f"{canonical_json(str(key))}{colon}{canonical_json(item, separators)}" for key, item in value.items())
            + "}"
        )
    return json.dumps(value, ensure_ascii=False)


def normalize(value: Any) -> str:
    """What equality of values across languages compares: canonical JSON, keys sorted.

    DESIGN.md compares values as JSON: an integral float equals the integer (Python keeps
    ``1.0`` and ``1`` apart where JavaScript has one number), and an object is the same
    whatever the order of its keys (a trace line, canonical text, still shows the order).
    """
    if _plain(value):
        return _SORTED.encode(value)
    if isinstance(value, dict):
        items = sorted((str(key), normalize(item)) for key, item in value.items())
        return "{" + ",".join(f"{canonical_json(key)}:{item}" for key, item in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(normalize(item) for item in value) + "]"
    return canonical_json(value)


# Most values hold no float and only string keys; for them the json module's C encoder
# writes the canonical text at once (the slow path above is the rule, this the shortcut).
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_SORTED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
_string_literal = json.encoder.encode_basestring  # what json writes for a str, non-ASCII kept


def _plain(value: Any) -> bool:
    if isinstance(value, str | int | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(map(_plain, value))
    if isinstance(value, dict):
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


def format_error(error: dict) -> str:
    """``Kind("message")``, with ``[members]`` for a group."""
    text = f"{error.get('kind', '?')}({canonical_json(error.get('message', ''))}"
    if error.get("errors"):
        text += ", [" + ", ".join(format_error(member) for member in error["errors"]) + "]"
    return text + ")"


def format_event(event: dict) -> str:
    """One event as its canonical line; an event of an unordered group ends in ``(any order)``."""
    line = _format_event(event)
    return line + UNORDERED if event.get("unordered") else line


def _format_event(event: dict) -> str:
    kind = event.get("event")
    head = f"{event.get('t', '?')} {kind}"
    if kind == "start":
        return f"{head} {event['op']}({','.join(canonical_json(arg) for arg in event.get('args', []))})"
    if kind == "end":
        return f"{head} {event['op']} -> {canonical_json(event.get('value'))}"
    if kind == "fail":
        return f"{head} {event['op']} {format_error(event['error'])}"
    if kind == "log":
        return f"{head} {canonical_json(event.get('message'))}"
    if kind in ("unhandled", "throw"):
        return f"{head} {format_error(event['error'])}"
    if kind == "cancel":
        return f"{head} {event['op']}"
    if kind == "open":
        return f"{head} {event['resource']}({','.join(canonical_json(arg) for arg in event.get('args', []))})"
    if kind == "close":
        return f"{head} {event['resource']}"
    if kind == "return":
        return f"{head} {canonical_json(event.get('value'))}"
    # An event this runner does not know (a newer testee): show it whole, never drop it.
    rest = {key: value for key, value in event.items() if key not in ("t", "event", "unordered")}
    return f"{head} {canonical_json(rest)}"


def format_trace(events: list[dict]) -> list[str]:
    """Every event as its canonical line, in order."""
    return [format_event(event) for event in events]


def format_result(result: dict | None) -> str:
    """``returns <json>``, ``throws Kind("message")`` or ``uncaught Kind("message")`` (the
    program ended at an unhandled error, as Node does); ``(none)`` when there is none."""
    if result is None:
        return "(none)"
    if "returns" in result:
        return f"returns {canonical_json(result['returns'])}"
    if "uncaught" in result:
        return f"uncaught {format_error(result['uncaught'])}"
    return f"throws {format_error(result['throws'])}"
