"""The ``python`` target, in process: compile a scenario IR, run it, answer the outcome.

This is the testee the runner calls directly (``asyncparity.testees.PythonTestee``);
:mod:`asyncparity_python.worker` puts the same two functions behind the JSON-lines
protocol of spec/PROTOCOL.md for running under another CPython.

:func:`run` executes the program :func:`compile` wrote, in a fresh namespace. That is
the kit's own generated code, in which every scenario string is an escaped literal and
every name was checked; no scenario text is ever evaluated.
"""

from __future__ import annotations

import builtins

from .compile import compile_program

__all__ = ["TARGET", "compile", "run"]

TARGET = "python"
_MODULE_NAME = "asyncparity_scenario"  # anything but "__main__": the program must not run itself


def compile(ir: dict) -> str:
    """The program text for one scenario (``ValueError`` for IR that cannot be compiled)."""
    return compile_program(ir)


def run(ir: dict) -> dict:
    """Compile and run one scenario on a fresh virtual loop; the outcome of spec/PROTOCOL.md.

    ``ValueError`` for IR that cannot be compiled. Anything that goes wrong once the
    program exists (it fails to load, or the run itself breaks) is a ``crash`` outcome
    whose message names the scenario.
    """
    source = compile_program(ir)
    scenario_id = ir["id"]
    namespace = {"__name__": _MODULE_NAME}
    try:
        code = builtins.compile(source, f"<asyncparity {scenario_id} (python)>", "exec")
        exec(code, namespace)
        world, main = namespace["world"], namespace["main"]
    except Exception as error:  # noqa: BLE001 - a compiler bug must become a verdict, not a traceback
        return {
            "target": TARGET,
            "status": "crash",
            "result": None,
            "trace": [],
            "message": f"crash: scenario '{scenario_id}': the generated program did not load: "
                       f"{type(error).__name__}: {error}",
            "stats": {"virtual_time": 0, "timer_firings": 0, "max_turns_per_instant": 0},
        }
    return {"target": TARGET, **world.run(main)}
