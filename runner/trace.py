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

MAX_SAFE_INTEGER = 2**53 - 1


def normalize(value: Any) -> Any:
    """The value with every integral float made an int: JSON equality across languages.

    Python keeps ``1.0`` and ``1`` apart where JavaScript has one number; DESIGN.md
    compares values as JSON, where an integral float equals the integer.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is: the same text ``JSON.stringify`` gives."""
    return json.dumps(normalize(value), separators=(",", ":"), ensure_ascii=False)


def format_error(error: dict) -> str:
    """``Kind("message")``, with ``[members]`` for a group."""
    text = f"{error.get('kind', '?')}({canonical_json(error.get('message', ''))}"
    if error.get("errors"):
        text += ", [" + ", ".join(format_error(member) for member in error["errors"]) + "]"
    return text + ")"


def format_event(event: dict) -> str:
    """One event as its canonical line."""
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
    rest = {key: value for key, value in event.items() if key not in ("t", "event")}
    return f"{head} {canonical_json(rest)}"


def format_trace(events: list[dict]) -> list[str]:
    """Every event as its canonical line, in order."""
    return [format_event(event) for event in events]


def format_result(result: dict | None) -> str:
    """``returns <json>`` or ``throws Kind("message")``; ``(none)`` when there is none."""
    if result is None:
        return "(none)"
    if "returns" in result:
        return f"returns {canonical_json(result['returns'])}"
    return f"throws {format_error(result['throws'])}"
