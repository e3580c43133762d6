"""The ``python`` and ``python-eager`` targets behind the testee protocol: JSON lines on stdin and stdout.

Run as ``python -m asyncparity_python.worker`` with python/ on ``sys.path``; it serves
``hello``, ``compile``, ``run`` (of one target, or of several with ``targets``) and
``shutdown`` (spec/PROTOCOL.md) until ``shutdown`` or end of input. This is how the
runner drives the Python targets under a CPython other than its own (the CI matrix); by
default it calls :mod:`asyncparity_python.target` in-process instead.

``hello`` lists both targets whatever the CPython: on one older than a program needs
(``python-eager`` needs 3.12), ``run`` answers a ``skipped`` outcome that says why.

Replies go out in request order, one JSON object a line, ASCII-escaped (valid UTF-8
whatever the text, and no U+2028 for a line splitter to trip on). Anything else the
process prints goes to stderr: stdout carries the protocol only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import platform
import sys
from collections.abc import Callable
from typing import Any

from . import target
from .compile import check_ir_version

__all__ = ["PROTOCOL", "handle", "main"]

PROTOCOL = 2
"""The protocol this worker speaks; 2 takes a run request for several targets (spec/PROTOCOL.md)."""


def features() -> dict[str, bool]:
    """What this CPython can do, for ``requires:`` in scenarios; syntax is detected by compiling."""

    def compiles(source: str) -> bool:
        try:
            compile(source, "<feature probe>", "exec")
        except SyntaxError:
            return False
        return True

    return {
        "except_star": compiles("try:\n    pass\nexcept* ValueError:\n    pass\n"),
        "task_group": hasattr(asyncio, "TaskGroup"),
        "asyncio_timeout": hasattr(asyncio, "timeout"),
        "eager_task_factory": hasattr(asyncio, "eager_task_factory"),
    }


def hello() -> dict:
    """What the ``hello`` reply says about this testee."""
    return {
        "protocol": PROTOCOL,
        "runtime": {"name": "cpython", "version": platform.python_version()},
        "targets": list(target.TARGETS),
        "features": features(),
    }


def handle(line: bytes | str) -> tuple[dict, bool]:
    """One request line -> (reply, stop). Never raises for bad input: that is an ``error`` reply."""
    try:
        request = json.loads(line)
    except ValueError as error:  # includes UnicodeDecodeError
        return {"id": None, "type": "error", "message": f"not a JSON line: {error}"}, False
    if not isinstance(request, dict):
        return {"id": None, "type": "error", "message": "a request is a JSON object"}, False
    request_id = request.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        return {"id": None, "type": "error", "message": f"a request needs an integer id, not {request_id!r}"}, False
    kind = request.get("type")
    if kind == "hello":
        return {"id": request_id, "type": "hello", **hello()}, False
    if kind == "shutdown":
        return {"id": request_id, "type": "bye"}, True
    if kind not in ("compile", "run"):
        return {"id": request_id, "type": "error", "message": f"unknown request type {kind!r}"}, False
    multiple = kind == "run" and "targets" in request
    if multiple and "target" in request:
        return {"id": request_id, "type": "error", "message": "a run request has target or targets, not both"}, False
    target_ids: Any = request.get("targets") if multiple else [request.get("target")]  # JSON, checked next
    if multiple and not (
        isinstance(target_ids, list)
        and target_ids
        and all(isinstance(target_id, str) for target_id in target_ids)
        and len(set(target_ids)) == len(target_ids)
    ):
        return {
            "id": request_id,
            "type": "error",
            "message": f"targets must be a non-empty list of distinct targets, not {_short(target_ids)}",
        }, False
    for target_id in target_ids:
        if target_id not in target.TARGETS:
            return {
                "id": request_id,
                "type": "error",
                "message": f"unknown target {target_id!r}; this testee serves: {', '.join(target.TARGETS)}",
            }, False
    scenario = request.get("scenario")
    if not isinstance(scenario, dict):
        return {"id": request_id, "type": "error", "message": "the request has no scenario IR object"}, False
    # The runner's own loader validated this IR (spec/PROTOCOL.md, "validated").
    validated = request.get("validated") is True
    # The IR as a whole, not one target's program: the request's error (as the Node worker's).
    _, failure = _served(functools.partial(check_ir_version, scenario), scenario)
    if failure is not None:
        return {"id": request_id, "type": "error", "message": failure}, False
    if kind == "compile":
        source, failure = _served(functools.partial(target.compile, scenario, target_ids[0], validated=validated), scenario)
        if failure is not None:
            return {"id": request_id, "type": "error", "message": failure}, False
        return {"id": request_id, "type": "compiled", "source": source}, False
    outcomes = []
    for target_id in target_ids:
        outcome, failure = _served(functools.partial(target.run, scenario, target_id, validated=validated), scenario)
        if failure is not None and not multiple:
            return {"id": request_id, "type": "error", "message": failure}, False
        if failure is not None:
            # One target's failure is its outcome; the others run all the same
            # (spec/PROTOCOL.md, "Several targets in one request").
            outcome = {"target": target_id, "status": "error", "result": None, "trace": [], "message": failure}
        outcomes.append(outcome)
    if multiple:
        return {"id": request_id, "type": "outcomes", "outcomes": outcomes}, False
    return {"id": request_id, "type": "outcome", "outcome": outcomes[0]}, False


def _served(call: Callable[[], Any], scenario: dict) -> tuple[Any, str | None]:
    """What ``call`` (a compile or a run of ``scenario``) returned, and None; or None and
    the message of the error reply it failed with."""
    try:
        return call(), None
    except ValueError as error:
        return None, f"scenario '{scenario.get('id')}': {error}"
    except Exception as error:  # noqa: BLE001 - the testee keeps serving
        return None, f"internal error on scenario '{scenario.get('id')}': {type(error).__name__}: {error}"


def _short(value: object) -> str:
    """A JSON value as a message shows it: compact, and cut at 80 characters."""
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def main() -> int:
    """Serve requests from stdin until ``shutdown`` or end of input; exit status 0."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Scenario code never prints, but if anything in this process does, it must not
    # land in the protocol stream.
    with contextlib.redirect_stdout(sys.stderr):
        while True:
            line = stdin.readline()
            if not line:
                return 0
            if not line.strip():
                continue
            reply, stop = handle(line)
            stdout.write(json.dumps(reply, separators=(",", ":")).encode("ascii") + b"\n")
            stdout.flush()
            if stop:
                return 0


if __name__ == "__main__":
    sys.exit(main())
