"""The ``python`` and ``python-eager`` targets, in process: compile a scenario IR, run it, answer the outcome.

This is the testee the runner calls directly (``asyncparity.testees.PythonTestee``);
:mod:`asyncparity_python.worker` puts the same two functions behind the JSON-lines
protocol of spec/PROTOCOL.md for running under another CPython.

The two targets are one program: ``python-eager`` only adds
``World(..., eager_tasks=True)``, so every task runs with ``asyncio.eager_task_factory``
and an operation started with ``asyncio.create_task`` begins at once, as in JavaScript.

:func:`run` executes the program :func:`compile` wrote, in a fresh namespace. That is
the kit's own generated code, in which every scenario string is an escaped literal and
every name was checked; no scenario text is ever evaluated. Every run is bounded, in
this process too: a program that never waits stops at 100,000 trace events or 5 s of
wall-clock time (a ``runaway`` outcome; spec/RUNTIME.md, "Runaway bounds"), in any thread.

A program that uses an API this CPython lacks (``asyncio.timeout``, ``TaskGroup`` and
``ExceptionGroup`` are 3.11; ``eager_task_factory`` is 3.12) is not run: the outcome is
``skipped``, and its message names the API, the version it needs and this version. The
compiler reports what it wrote (:attr:`~asyncparity_python.compile.Compiled.features`),
so the check is exact: a program is skipped only if it really uses something missing.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import platform
import sys
from types import CodeType
from typing import Any

from asyncparity_runtime import UserCodeError

from .compile import TARGETS, compile_target, needs

__all__ = ["TARGET", "TARGETS", "compile", "program", "run"]

TARGET = "python"
"""The default target."""
_MODULE_NAME = "asyncparity_scenario"  # anything but "__main__": the program must not run itself


def compile(ir: dict, target: str = TARGET, validated: bool = False) -> str:
    """The program text for one scenario (``ValueError`` for IR that cannot be compiled
    or a target other than ``python`` and ``python-eager``). ``validated``: the IR comes
    from the kit's own loader, and the compiler skips its own check of it
    (:func:`~asyncparity_python.compile.compile_target`)."""
    return compile_target(ir, target, validated=validated).source


def program(ir: dict, target: str = TARGET, validated: bool = False) -> tuple[CodeType, dict]:
    """The code object of one scenario's program and the features it uses, what
    :func:`run` executes: the runner caches it (runner/content_cache.py). ``ValueError``
    and ``validated`` as :func:`compile`; ``SyntaxError`` if the kit wrote a program
    Python cannot read."""
    source, features = compile_target(ir, target, validated=validated)
    return builtins.compile(source, _filename(ir, target), "exec"), features


def _filename(ir: dict, target: str) -> str:
    # One name per target, not per scenario: compile() keeps every file name it was given
    # for the life of the process (about 80 bytes each, measured on CPython 3.10 to 3.13),
    # and a run's memory is not to grow with the suite (issue 13).
    return f"<asyncparity {target} program>"


OUTPUT_LIMIT = 64 * 1024
"""Characters of what the user's code prints that an outcome keeps (``output``)."""


class _Output(io.TextIOBase):
    """What the user's code prints during a run, its first :data:`OUTPUT_LIMIT`
    characters: a loop that prints stops at the run's bound, not at the memory's."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = OUTPUT_LIMIT - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        more = f"\n[{self.dropped} more characters not kept]" if self.dropped else ""
        return "".join(self.parts) + more


def run(ir: dict, target: str = TARGET, compiled: tuple[CodeType, dict] | None = None, validated: bool = False) -> dict:
    """Compile and run one scenario on a fresh virtual loop; the outcome of spec/PROTOCOL.md.

    What the user's own code (``bind:``) prints, on stdout or stderr, is the outcome's
    ``output`` (:data:`OUTPUT_LIMIT`), shown under a target that fails: it no longer
    goes to the worker's stderr, which nobody reads. The kit's programs print nothing.

    ``ValueError`` for IR that cannot be compiled or an unknown target. On a CPython
    too old for what the program uses, a ``skipped`` outcome (nothing runs)::

        {"target": "python-eager", "status": "skipped", "result": None, "trace": [],
         "message": "python-eager needs CPython 3.12 or later (asyncio.eager_task_factory); "
                    "this is CPython 3.11.7"}

    Anything that goes wrong once the program exists (it fails to load, or the run
    itself breaks) is a ``crash`` outcome whose message names the scenario.
    ``compiled``: what :func:`program` gave for this IR and target, not made again;
    ``validated`` as :func:`compile`.
    """
    if not ir.get("bindings"):
        return _run_scenario(ir, target, compiled, validated)
    output = _Output()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        outcome = _run_scenario(ir, target, compiled, validated)
    if output.kept:
        outcome["output"] = output.text()
    return outcome


def _run_scenario(ir: dict, target: str, compiled: tuple[CodeType, dict] | None, validated: bool) -> dict:
    code: CodeType | None = None
    if compiled is not None:
        code, features = compiled
    else:
        source, features = compile_target(ir, target, validated=validated)
    missing = needs(features, sys.version_info)
    if missing is not None:
        return {
            "target": target,
            "status": "skipped",
            "result": None,
            "trace": [],
            "message": f"{target} {missing}; this is CPython {platform.python_version()}",
        }
    scenario_id = ir["id"]
    namespace: dict[str, Any] = {"__name__": _MODULE_NAME}  # the program's globals, once it runs
    try:
        if code is None:
            code = builtins.compile(source, _filename(ir, target), "exec")
        exec(code, namespace)
        world, main = namespace["world"], namespace["main"]
    except UserCodeError as error:  # the user's module did not load: that is this scenario's verdict
        return {
            "target": target,
            "status": "crash",
            "result": None,
            "trace": [],
            "message": f"crash: scenario '{scenario_id}': {error}",
            "stats": {"virtual_time": 0, "timer_firings": 0, "max_turns_per_instant": 0},
        }
    except Exception as error:  # noqa: BLE001 - a compiler bug must become a verdict, not a traceback
        return {
            "target": target,
            "status": "crash",
            "result": None,
            "trace": [],
            "message": f"crash: scenario '{scenario_id}': the generated program did not load: {type(error).__name__}: {error}",
            "stats": {"virtual_time": 0, "timer_firings": 0, "max_turns_per_instant": 0},
        }
    outcome = {"target": target, **world.run(main)}
    # The program's functions hold its globals, which hold them: emptied, the run's world
    # and functions go now, not at the collector's next pass (issue 13).
    namespace.clear()
    if outcome["status"] == "skipped":  # the program reached what this CPython lacks (World.unsupported)
        outcome["message"] = f"{target} {outcome['message']}"
    return outcome
