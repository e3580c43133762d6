"""Scenario IR -> an idiomatic Python asyncio program.

:func:`compile_program` turns the IR of spec/PROTOCOL.md into the text of one complete
program: ``async def`` functions, ``await``, ``asyncio.create_task``, ``gather``,
``wait`` and ``try``/``except``, on top of ``asyncparity_runtime`` (which supplies the
virtual clock, the simulated operations and the trace). The program is meant to be
read, and pasted: ``asyncparity show`` prints it, and saved beside
python/asyncparity_runtime.py it runs with ``python3 program.py``.

Renderings (spec/LANGUAGE.md has the meaning of each step):

==========================  =========================================================
IR step                     Python
==========================  =========================================================
await a call                ``data = await download_data(url)``
start a call                ``task = asyncio.create_task(download_data(url))``
await a started call        ``data = await task``
return / throw              ``return value`` / ``raise IOError("message")``
try / catch / finally       ``try:`` / ``except IOError as error:`` / ``finally:``
                            (several kinds: ``except (A, B)``; every error:
                            ``except Exception``; the kind ``CancelledError``:
                            ``except asyncio.CancelledError``)
sleep 30                    ``await asyncio.sleep(0.03)``
sleep EXPR                  ``await asyncio.sleep(delay / 1000)``
log                         ``log(f"got {data}")``
all                         ``results = await asyncio.gather(a(x), b(y))``
all_settled                 ``results = world.settled(await asyncio.gather(a(x), b(y),
                            return_exceptions=True))``
race                        ``asyncio.wait(tasks, return_when=FIRST_COMPLETED)``, the
                            winner the first task in call order that is done
any                         ``for finished in asyncio.as_completed(tasks):`` the first
                            success breaks; ``else: raise ExceptionGroup(...)``
... over started calls     ``asyncio.gather(a, b)``, ``asyncio.gather(*jobs)``; race and
                            any take the list of tasks itself (``tasks = [a, b]``,
                            or the name holding it)
timeout 50                  ``async with asyncio.timeout(0.05):``
group                       ``async with asyncio.TaskGroup() as group:`` then
                            ``results = [task.result() for task in tasks]``
task_group                  ``async with asyncio.TaskGroup() as tg:`` around the body,
                            whose starts are ``user = tg.create_task(fetch_user(7))``
rethrow                     ``raise`` (``raise error`` outside its own except block)
shield                      ``receipt = await asyncio.shield(save_order(42))``
as_completed                ``for finished in asyncio.as_completed([a(), b()]):`` then
                            ``page = await finished`` and the block
wait                        ``done, pending = await asyncio.wait(tasks, timeout=0.05,
                            return_when=asyncio.FIRST_EXCEPTION)`` then ``batch =
                            {"done": world.settled([...]), "pending": len(pending)}``
catch from_group            ``except* HttpError as errors:`` then ``error =
                            errors.exceptions[0]`` (CPython 3.10: ``except HttpError
                            as error:``, as no group ever reaches it there)
if / else                   ``if left < right:`` / ``elif`` / ``else:``
repeat 3                    ``for attempt in range(3):`` (``_`` when nothing is bound);
                            a computed count: ``for _ in range(attempts):``
while                       ``while status != "done":``
set                         ``delay = delay * 2``
cancel                      ``task.cancel()``
map, limit 2                ``semaphore = asyncio.Semaphore(2)``, a nested
                            ``async def limited(item):`` holding the semaphore
                            around ``return await fetch_page(item)``, then
                            ``pages = await asyncio.gather(*(limited(item) for item
                            in items))``
put / get                   ``await jobs.put(job)`` / ``job = await jobs.get()``
queues                      ``jobs = asyncio.Queue(maxsize=2)`` at module level
events                      ``ready = asyncio.Event()`` at module level
locks / hold                ``guard = asyncio.Lock()`` at module level; ``async with
                            guard:`` around the block
semaphores                  ``slots = asyncio.Semaphore(2)`` at module level, held by
                            hold as a lock is
generator function          ``async def ticks(interval):`` whose body has ``yield n``
                            (an async generator; it never returns a value)
for_each                    ``async for tick in ticks(10):`` (``_`` when nothing is
                            bound), deliberately without ``contextlib.aclosing``;
                            with ``idiom: aclosing``, inside ``async with
                            contextlib.aclosing(ticks(10)) as values:``
break / continue            ``break`` / ``continue``
using                       ``async with connection("db") as conn:`` (without
                            ``as`` when nothing is bound)
resources                   ``connection = world.resource("connection", open=5,
                            close=3)`` at module level, after the operations
format                      an f-string; values interpolate with ``str()``
calc                        ``delay * 2``, ``(a + b) * c``: parentheses only where the
                            tree needs them
==========================  =========================================================

Two targets share one compiler: ``python`` and ``python-eager``, whose program differs
only in ``World(..., eager_tasks=True)`` (``asyncio.eager_task_factory``, 3.12+).

Cancellation is asyncio's own: ``task.cancel()`` throws ``asyncio.CancelledError`` into
the task, and awaiting the cancelled task raises it again. A catch of the kind
``CancelledError`` is ``except asyncio.CancelledError``. A catch of every error is
``except Exception``, which does not catch it: ``CancelledError`` has been a
``BaseException`` since CPython 3.8, so that cancellation is not swallowed by accident.
That is a real difference from JavaScript, where an abort is an ordinary error, and the
program keeps it. An operation declared ``on_cancel: ignore`` is
``world.operation(..., on_cancel="ignore")``.

A ``map`` with a limit holds an ``asyncio.Semaphore``, which wakes its waiters first
come, first served (bpo-45997 fixed barging in 3.9 and 3.10 patch releases), so the
calls start in item order as slots free up. Queues are module-level ``asyncio.Queue``
objects, shared by every function and bound to the loop of the run that first waits on
them: one program, one run (``asyncparity_python.target.run`` loads the program afresh
for each run).

``for_each`` is the plain ``async for`` that most code writes, on purpose: leaving it with
``break`` does not close the generator (CPython's ``async for`` never calls
``aclose()``). The generator object is dropped when the loop statement ends, its
reference count reaches zero, and the loop's async-generator finalizer hook schedules
``aclose()`` as a task: the generator's ``finally`` runs a turn later, after the code
that follows the loop has run up to its next suspension. JavaScript's ``for await``
calls ``return()`` at the ``break`` and waits for it, so there the ``finally`` runs
first. That difference is what scenarios with ``break`` show (and declare); wrapping
the generator in ``contextlib.aclosing`` would hide it, which a scenario asks for with
``idiom: aclosing`` on its ``for_each``.

``TimeoutError`` is never shadowed: ``asyncio.timeout`` raises the builtin, so
``raise TimeoutError(...)`` and ``except TimeoutError`` use the builtin too, and
``world.error_kind("TimeoutError")`` (what an operation fails with) derives from it.

A caught error's kind and message are ``error.kind`` and ``error.message``: every
scenario error has them. Two builtin errors do not: ``TimeoutError`` (an expired
``timeout``, or ``throw`` of that kind) and ``ExceptionGroup`` (``any``, ``group``).
The compiler works out which of them a ``try`` body can raise, through the functions
it calls (:meth:`_Program._builtin_errors`), and only where one of them can reach the
catch writes the forms every exception has: ``type(error).__name__`` for the kind,
``str(error)`` for the message, and ``getattr(error, "message", str(error))`` if a
group can arrive (a group's message is ``.message``; its ``str()`` adds
"(2 sub-exceptions)").

The program is written for the CPython that compiles it (the one that runs it: the
runner's, or a worker's under ``--python``). On CPython 3.10, which has neither
``asyncio.timeout`` nor ``ExceptionGroup``, it says the same the way 3.10 code does:

* ``timeout``: the block becomes a nested ``async def`` (``nonlocal`` for the names it
  shares with the function around it) awaited with ``asyncio.wait_for``, which cancels
  it at the deadline and raises ``asyncio.TimeoutError`` (its own class before 3.11,
  the builtin's alias after), so a catch of ``TimeoutError`` also names
  ``asyncio.TimeoutError``. ``wait_for`` runs the block as a task of its own (up to
  3.11), so the block starts a loop turn later than under ``asyncio.timeout``.
* ``any``: only a run where every call fails needs the group; there the program calls
  ``world.unsupported("ExceptionGroup", "3.11")`` and the run is skipped, saying why.
* a catch ``from_group``: ``except*`` is a SyntaxError before 3.11, and no group is
  ever raised there (``group`` and ``task_group`` are skipped, ``any`` where it would
  need one), so it is the plain ``except`` that does the same on an error that is no
  group.

Other version-dependent APIs are written only when a scenario uses them, and the
compiler records each (:attr:`Compiled.features`): ``asyncio.timeout``,
``asyncio.TaskGroup``, ``ExceptionGroup`` and ``except*`` need CPython 3.11,
``asyncio.eager_task_factory`` 3.12. The program's docstring says so;
:func:`asyncparity_python.target.run` skips it on an older CPython.

Safety: no scenario text is ever evaluated or pasted as code. Names come from the IR,
which the loader has checked against ``^[a-z][a-z0-9_]*$`` (error kinds:
``^[A-Z][A-Za-z0-9]*$``) and the reserved lists; they are checked again here. Every
string is written as an escaped literal (:func:`python_string`), so quotes,
backslashes, newlines, ``{x}``, ``${x}``, NUL, U+2028 and non-ASCII text come out
byte-identical when the program runs.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from . import ir_steps
from .check import ARITHMETIC, CANCELLED, PROGRAM_NAMES, IrCheck

__all__ = ["TARGETS", "Compiled", "check_ir_version", "compile_program", "compile_target", "needs", "python_string"]

TARGETS = ("python", "python-eager")
"""The targets this compiler writes: the same program, with eager tasks or without."""

_LINE_LENGTH = 88  # black's default: wrap declarations and call lists longer than this
_OPS = {"==", "!=", "<", "<=", ">", ">="}
_NEGATED = {"==": "!=", "!=": "=="}
"""``not (a == b)`` written as a developer writes it: ``a != b``."""
_UNSHADOWED_KINDS = {"TimeoutError"}  # asyncio raises the builtin: see the module docstring
# The queue's errors are asyncio's own classes, written asyncio.QueueEmpty in `except` and
# `raise` (the runtime's class for such a kind derives from asyncio's, as for TimeoutError).
_QUEUE_KINDS = {"QueueEmpty", "QueueFull", "QueueShutDown"}

# What each version-dependent API needs (python/cpython Doc/whatsnew/3.11.rst, 3.12.rst).
_FEATURES = {
    "asyncio.Queue.shutdown": (3, 13),
    "asyncio.eager_task_factory": (3, 12),
    "asyncio.timeout": (3, 11),
    "asyncio.TaskGroup": (3, 11),
    "ExceptionGroup": (3, 11),
    "except*": (3, 11),
}


def _latency(latency: int | list[int]) -> str:
    """``30``, or ``[10, 50]`` for a latency taken one per call."""
    if isinstance(latency, list):
        return f"[{', '.join(str(int(ms)) for ms in latency)}]"
    return str(int(latency))


# What the queue steps raise that has no .kind or .message (asyncio's own classes); put
# and get raise QueueShutDown as well, in a scenario that shuts a queue down.
_QUEUE_RAISES = {
    "get_nowait": {"QueueEmpty", "QueueShutDown"},
    "put_nowait": {"QueueFull", "QueueShutDown"},
}


class Compiled(NamedTuple):
    """A compiled program and the version-dependent APIs it uses."""

    source: str
    """The program text."""
    features: dict
    """``{"asyncio.timeout": (3, 11), ...}``: each version-dependent API the program
    uses, in order of first use, with the first CPython that has it."""


def compile_target(ir: dict, target: str = "python", version: tuple[int, int] | None = None, validated: bool = False) -> Compiled:
    """The program for one scenario IR (version 1) and ``target``, with what it needs.

    ``target`` is ``"python"`` or ``"python-eager"``; ``version`` the CPython it is for
    (default: this one). Raises ``ValueError`` for an unknown target or IR this compiler
    cannot trust (a wrong version, a bad name, a step it does not know); the message
    says what and where. ``validated``: the IR comes from the kit's own loader, which
    validated it, so the compiler's own check (check.py) is skipped (spec/PROTOCOL.md,
    "validated"); the program is the same.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; this compiler writes: {', '.join(TARGETS)}")
    try:
        program = _Program(ir, eager_tasks=target == "python-eager", version=version or sys.version_info[:2], validated=validated)
        return Compiled(program.text(), dict(program.features))
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"malformed scenario IR: {type(error).__name__}: {error}") from error


def compile_program(ir: dict, target: str = "python") -> str:
    """The complete Python program for one scenario IR: :func:`compile_target`'s text."""
    return compile_target(ir, target).source


def needs(features: dict, version: tuple = (0,)) -> str | None:
    """What ``features`` need beyond CPython ``version``, or None if nothing.

    Names the highest version needed and the APIs that need it (a newer CPython has the
    rest too)::

        >>> needs({"asyncio.timeout": (3, 11), "ExceptionGroup": (3, 11)}, (3, 10, 13))
        'needs CPython 3.11 or later (asyncio.timeout, ExceptionGroup)'
        >>> needs({"asyncio.timeout": (3, 11)}, (3, 11, 7)) is None
        True
    """
    missing = {name: first for name, first in features.items() if tuple(version) < first}
    if not missing:
        return None
    top = max(missing.values())
    names = ", ".join(name for name, first in missing.items() if first == top)
    return f"needs CPython {'.'.join(map(str, top))} or later ({names})"


# -- literals ---------------------------------------------------------------------------


def _escape(text: str, quote: str = '"', braces: bool = False) -> str:
    if (
        text.isprintable()
        and "\\" not in text
        and (not quote or quote not in text)
        and not (braces and ("{" in text or "}" in text))
    ):
        return text  # nothing to escape, as most text is: the loop below would copy it char by char
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif braces and char in "{}":
            out.append(char * 2)  # a literal brace in an f-string
        elif char.isprintable():
            out.append(char)  # printable non-ASCII stays readable (source is UTF-8)
        else:
            # NUL and other controls, U+2028/U+2029 (line breaks to str.splitlines and
            # to editors), BOM, bidi controls, lone surrogates: escaped, so the source
            # shows what is there and always encodes as UTF-8.
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _is_bool(expr: dict) -> bool:
    return "literal" in expr and isinstance(expr["literal"], bool)


def _refs(value: object, found: set[str]) -> set[str]:
    """Every name a piece of IR refers to (``{"ref": name}``, at any depth), into ``found``."""
    if isinstance(value, dict):
        if isinstance(value.get("ref"), str):
            found.add(value["ref"])
        for item in value.values():
            _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)
    return found


def _resolved_helper(name: str) -> list[str]:
    """The program's function for a plain value in a fan-out's list: a future already
    done with it, which asyncio.gather, asyncio.wait and asyncio.as_completed take, where
    they refuse the value itself (TypeError: "An asyncio.Future, a coroutine or an
    awaitable is required"). Promise.all takes the value as it is."""
    return [
        f"def {name}(value):",
        '    """A future already done with value: gather and wait take futures, not plain values."""',
        "    future = asyncio.get_running_loop().create_future()",
        "    future.set_result(value)",
        "    return future",
    ]


def _unread(body: list[dict], params: list[str]) -> set[str]:
    """The names a function body binds as values and never reads: by reference in an
    expression, or as a handle (an awaited or cancelled start)."""
    read = _refs(body, set())
    bound = set()
    for step in ir_steps.walk(body):
        if step.get("step") not in ir_steps.STEPS:
            continue
        read.update(value for field, value in ir_steps.fields_of_type(step, "name") if field != "bind")
        bind = ir_steps.value_binding(step)
        if bind:
            bound.add(bind)
    return bound - read - set(params)


def _without_bind(step: dict) -> dict:
    return {key: value for key, value in step.items() if key != "bind"}


# A string literal (any prefix, any quotes, escapes skipped) or a comment, in the
# grammar's terms (docs.python.org/3/reference/lexical_analysis.html, "String and Bytes
# literals"); what is left outside them is code. Each alternative starts at its opening
# quote or `#`, and the scan takes the leftmost, so a `#` or quote inside a string is that
# string's; a prefix letter left outside is a name of its own, never the one looked for.
_STRING_OR_COMMENT = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\[\s\S]|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\[\s\S])*"'
    r"|'(?:[^'\\\n]|\\[\s\S])*'"
    r"|#[^\n]*"
)


def _uses_name(code: str, name: str) -> bool:
    """Whether Python code mentions ``name`` as a name (not inside a string or a comment).

    The same answer as looking for a NAME token of ``tokenize`` (tests/python/test_compile.py
    holds it to that on every program of spec/), without tokenizing the whole program,
    which was the compiler's largest single cost (issue 13). Only the kit's own programs
    come here: valid Python whose f-strings hold nothing but names and items in their
    braces (:meth:`_Program._format`), so a whole f-string is one string to either reader.
    """
    if name not in code:
        return False
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", _STRING_OR_COMMENT.sub(" ", code)) is not None


def _is_constant(expr: dict) -> bool:
    """Whether an expression is a literal that Python writes as a constant other than None
    (a string, a number, a boolean): `is` against one draws a SyntaxWarning."""
    return "literal" in expr and expr["literal"] is not None and not isinstance(expr["literal"], (list, dict))


def python_string(text: str) -> str:
    """A double-quoted Python literal that evaluates to exactly ``text``.

    >>> print(python_string('say "hi"\\n{x} ${y}'))
    "say \\"hi\\"\\n{x} ${y}"
    """
    return '"' + _escape(text) + '"'


def _literal(value: object) -> str:
    """A JSON value as a Python literal."""
    if value is None:
        return "None"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if isinstance(value, str):
        return python_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_string(str(key))}: {_literal(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def _bound_names(steps: list, flat: bool = False) -> set[str]:
    """The names ``steps`` bind (their values, a block's own names such as a catch's
    error), with those of nested blocks unless ``steps`` is already a flat walk (``flat``)."""
    return {name for step in (steps if flat else ir_steps.walk(steps)) for name in ir_steps.bound_names(step)}


def _read_names(steps: list) -> set[str]:
    """The names the expressions of (flat) ``steps`` read, and the handles they use."""
    names = set()

    def expr(node: object) -> None:
        if isinstance(node, dict):
            if "ref" in node:
                names.add(node["ref"])
            for value in node.values():
                expr(value)
        elif isinstance(node, list):
            for item in node:
                expr(item)

    for step in steps:
        if step.get("handle"):
            names.add(step["handle"])
        for node in ir_steps.expressions(step):
            expr(node)
    return names


_DIVIDE = 2  # the binding strength of `/` (as `*`): `(a + b) / 1000` needs the parentheses


def _seconds(ms: int) -> str:
    """``30`` -> ``"0.03"``: milliseconds as an exact decimal number of seconds."""
    return format(Decimal(ms).scaleb(-3).normalize(), "f")


def _docstring_text(text: str) -> str:
    escaped = _escape(text, quote="")
    # Only a run of quotes could end the docstring early; escape them all if there is one.
    return escaped.replace('"', '\\"') if '""' in escaped or escaped.endswith('"') else escaped


def _indent(depth: int) -> str:
    return "    " * depth


def _assign(step: dict) -> str:
    """``name = `` for a step that binds its value, else nothing."""
    return f"{step['bind']} = " if step.get("bind") else ""


_RETURN_WHEN = {"first_completed": "FIRST_COMPLETED", "first_exception": "FIRST_EXCEPTION", "all_completed": "ALL_COMPLETED"}
"""A wait's ``until`` as asyncio.wait's return_when."""


def _wrapped(indent: str, head: str, items: list[str], tail: str) -> list[str]:
    """``head item, item tail`` on one line if it fits, else one item a line (black's way)."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= _LINE_LENGTH or not items:
        return [line]
    return [f"{indent}{head}", *(f"{indent}    {item}," for item in items), f"{indent}{tail}"]


# -- the program --------------------------------------------------------------------------


def check_ir_version(ir: dict) -> None:
    """``ValueError`` unless ``ir`` is of the IR version this compiler reads (spec/PROTOCOL.md)."""
    if ir.get("ir") != 1:
        raise ValueError(f"this compiler reads scenario IR version 1, not {ir.get('ir')!r}")


class _Program:
    def __init__(self, ir: dict, eager_tasks: bool = False, version: tuple[int, int] = (3, 11), validated: bool = False) -> None:
        check_ir_version(ir)
        self.ir = ir
        self.eager_tasks = eager_tasks
        self.modern = tuple(version) >= (3, 11)  # asyncio.timeout and ExceptionGroup exist
        self.params: list[str] = []  # the parameters of the function being written
        self.features: dict[str, tuple[int, int]] = {}
        if eager_tasks:
            self._use("asyncio.eager_task_factory")
        # The catch blocks being written, innermost last: (bound name, builtin errors
        # other than scenario errors that can reach it).
        self.catches: list[tuple[str | None, set[str]]] = []
        self.current: list = []  # the body of the function being written
        self.unread: set[str] = set()  # the names it binds and never reads (_unread)
        self.contextlib = False  # a for_each in the aclosing idiom imports contextlib
        self.resolved: str | None = None  # the helper for plain values in a fan-out, once one is used
        self.kinds = list(ir.get("errors", []))
        checked = IrCheck(ir)
        if validated:
            checked.collect()
        else:
            checked.check()
        every = [*ir.get("main", []), *(step for fn in ir.get("functions", []) for step in fn["body"])]
        self.shuts_down = any(step["step"] == "shutdown" for step in ir_steps.walk(every))
        self.names = checked.names
        self.tasks = self._fresh("tasks")
        self.done = self._fresh("done")
        self.pending = self._fresh("_pending")
        self.task = self._fresh("task")
        self.finished = self._fresh("finished")
        self.wait_pending: str | None = None  # a wait's pending set, named at the first wait
        self.group = self._fresh("group")
        self.semaphore = self._fresh("semaphore")
        self.limited = self._fresh("limited")
        self.item = self._fresh("item")
        self.timed = self._fresh("timed_block")
        self.tg = self._fresh("tg")
        self.errors = self._fresh("errors")
        # The task_group bodies being written, innermost last: the name of each one's
        # TaskGroup, which a start in it creates its task in.
        self.task_groups: list[str] = []
        self.function_errors = self._function_builtin_errors()
        # The user's module and the world API object it is handed (spec/PROTOCOL.md, "bindings").
        self.user_module = self._fresh("user_code") if ir.get("bindings") else ""
        self.api = self._fresh("api") if ir.get("bindings") else ""

    # builtin errors ------------------------------------------------------------------

    def _function_builtin_errors(self) -> dict[str, set[str]]:
        """For each function, the builtin errors (not scenario errors) a call may raise.

        A fixpoint over the call graph, since functions may call each other in any
        order (and themselves).
        """
        bodies = {fn["name"]: fn["body"] for fn in self.ir.get("functions", [])}
        # The user's code behind a bound function may raise the builtin TimeoutError
        # (asyncio.timeout) as any asyncio code may: a catch around it reads the forms
        # every exception has.
        errors: dict[str, set[str]] = {
            fn["name"]: {"TimeoutError"} if fn.get("bound") else set() for fn in self.ir.get("functions", [])
        }
        changed = True
        while changed:
            changed = False
            for name, steps in bodies.items():
                found = self._builtin_errors(steps, steps, errors)
                if not found <= errors[name]:
                    errors[name] |= found
                    changed = True
        return errors

    def _builtin_errors(self, steps: list, function_body: list, errors: dict | None = None) -> set[str]:
        """Which of ``TimeoutError``, ``ExceptionGroup``, asyncio's queue errors and the
        ``ValueError`` of a race of no started calls running ``steps`` may raise.

        Sound, not exact: a ``try`` counts everything in its body, catch and finally.
        ``any`` and ``group`` raise a group whatever their calls raise (their errors end
        up inside it); ``all_settled`` raises nothing of its calls. ``await`` of a
        started call raises what the call started under that name (in
        ``function_body``) may raise.
        """
        errors = self.function_errors if errors is None else errors
        found: set[str] = set()

        def calls(call_list: list) -> None:
            for called in call_list:
                found.update(errors.get(called["callee"], ()))

        for step in steps:
            step_name = step["step"]
            if step_name == "timeout":
                found.add("TimeoutError")
            elif step_name == "throw" and (step["kind"] in _UNSHADOWED_KINDS or step["kind"] in _QUEUE_KINDS):
                found.add(step["kind"])
            elif step_name in _QUEUE_RAISES:
                found |= _QUEUE_RAISES[step_name]
            elif step_name in ("put", "get") and self.shuts_down:
                found.add("QueueShutDown")
            elif step_name in ("any", "group", "task_group"):
                found.add("ExceptionGroup")
            elif step_name in ("await", "shield") and "handle" in step:
                starts = [s["call"] for s in ir_steps.walk(function_body) if s["step"] == "start" and s["bind"] == step["handle"]]
                # No start here: a started call passed in (a parameter), which may be any function's.
                calls(starts) if starts else found.update(*errors.values())
            elif step_name in ("await", "start", "for_each", "shield"):
                calls([step["call"]])
            elif step_name == "wait" and "over" in step:
                found.add("ValueError")  # asyncio.wait of no tasks; the calls' errors become records
            elif step_name in ("all", "race") and "over" in step:
                found.update(*errors.values())  # started calls, of any function
                if step_name == "race":
                    found.add("ValueError")  # asyncio.wait of no tasks: "Set of Tasks/Futures is empty."
            elif step_name in ("all", "race", "as_completed"):
                calls(step["calls"])
            elif step_name == "map":
                calls([step])
            for block, _ in ir_steps.blocks(step):
                found |= self._builtin_errors(block, function_body, errors)
        return found

    def _use(self, feature: str) -> None:
        self.features.setdefault(feature, _FEATURES[feature])

    def _fresh(self, base: str) -> str:
        """A name no scenario identifier uses: ``base``, else ``base_2``, ``base_3``..."""
        name, n = base, 1
        while name in self.names or name in PROGRAM_NAMES:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    # the text -------------------------------------------------------------------------

    def text(self) -> str:
        ir = self.ir
        # The functions first: what they use decides the docstring's "Needs" line.
        code: list[str] = []
        for fn in ir.get("functions", []):
            if fn.get("bound"):
                # The user's function, called where the scenario calls its own: the
                # world API object first, then the scenario's arguments.
                args = ", ".join([self.api, *fn["params"]])
                call = f"return await {self.user_module}.{fn['name']}({args})"
                code += ["", "", f"async def {fn['name']}({', '.join(fn['params'])}):", f"    {call}"]
                continue
            self.current, self.params = fn["body"], fn["params"]
            self.unread = _unread(fn["body"], fn["params"])
            code += ["", "", f"async def {fn['name']}({', '.join(fn['params'])}):", *self._block(fn["body"], 1)]
            if fn.get("generator") and not any(step["step"] == "yield" for step in ir_steps.walk(fn["body"])):
                # No yield step: a bare `yield` after the end still makes it an async
                # generator (one that produces nothing), as `async function*` is in JavaScript.
                code += ["    return", "    yield  # never reached: it makes this an async generator"]
        self.current, self.params = ir["main"], []
        self.unread = _unread(ir["main"], [])
        code += ["", "", "async def main():", *self._block(ir["main"], 1)]
        code += ["", "", 'if __name__ == "__main__":', "    world.run_and_print(main)"]
        target = "python-eager" if self.eager_tasks else "python"
        world_args = [python_string(ir["id"]), f"limits={_literal(ir.get('limits', {}))}"]
        if self.eager_tasks:
            world_args.append("eager_tasks=True")
        requirement = needs(self.features)
        lines = [
            f'"""{_docstring_text(ir["id"])}: {_docstring_text(ir.get("summary", ""))}',
            "",
            f"Generated by asyncparity from {_docstring_text(ir.get('source', ''))} (target {target}).",
            "Save python/asyncparity_runtime.py beside it and run: python3 program.py",
            *([requirement[0].upper() + requirement[1:] + "."] if requirement else []),
            '"""',
            "",
            "import asyncio",
            *(["import contextlib"] if self.contextlib else []),
            "",
            "from asyncparity_runtime import World",
            "",
            *_wrapped("", "world = World(", world_args, ")"),
            "log = world.log",
        ]
        # TimeoutError stays the builtin (asyncio.timeout raises it); the runtime's class
        # for the kind derives from it, so `except TimeoutError` catches both.
        declared = [kind for kind in self.kinds if kind not in _UNSHADOWED_KINDS and kind not in _QUEUE_KINDS]
        if declared:
            lines.append("")
            lines.extend(f"{kind} = world.error_kind({python_string(kind)})" for kind in declared)
        if ir.get("operations"):
            lines.append("")
            for op in ir["operations"]:
                lines.extend(self._operation(op))
        if ir.get("bindings"):
            # Imported afresh for each run, in the worker process (asyncparity_runtime's
            # World.user_module); the API object holds the operations declared above.
            operations = [op["name"] for op in ir.get("operations", [])]
            lines.append("")
            module = [python_string(ir["bindings"]["python"]), *(python_string(name) for name in ir["bindings"]["functions"])]
            lines.extend(_wrapped("", f"{self.user_module} = world.user_module(", module, ")"))
            lines.extend(_wrapped("", f"{self.api} = world.api(", operations, ")"))
        if ir.get("resources"):
            lines.append("")
            for resource in ir["resources"]:
                lines.extend(
                    _wrapped(
                        "",
                        f"{resource['name']} = world.resource(",
                        [python_string(resource["name"]), f"open={int(resource['open'])}", f"close={int(resource['close'])}"],
                        ")",
                    )
                )
        if ir.get("queues"):
            lines.append("")
            for queue in ir["queues"]:
                size = queue.get("size")
                unbounded = "  # unbounded" if size is None else ""
                lines.append(f"{queue['name']} = asyncio.Queue(maxsize={size or 0}){unbounded}")
        if ir.get("events"):
            lines.append("")
            lines.extend(f"{event['name']} = asyncio.Event()" for event in ir["events"])
        if ir.get("locks"):
            lines.append("")
            lines.extend(f"{lock['name']} = asyncio.Lock()" for lock in ir["locks"])
        if ir.get("semaphores"):
            lines.append("")
            lines.extend(f"{semaphore['name']} = asyncio.Semaphore({int(semaphore['value'])})" for semaphore in ir["semaphores"])
        if self.resolved is not None:
            lines += ["", "", *_resolved_helper(self.resolved)]
        if not _uses_name("\n".join(lines[lines.index("from asyncparity_runtime import World") :] + code), "asyncio"):
            # An unused import is a lint error (ruff F401): a program with no asyncio call has none.
            at = lines.index("import asyncio")
            lines[at : at + (2 if lines[at + 1] == "" else 1)] = []
        return "\n".join(lines + code) + "\n"

    def _operation(self, op: dict) -> list[str]:
        name = op["name"]
        outcomes = [_literal(outcome) for outcome in op["outcomes"]]
        head = f"{name} = world.operation("
        args = [python_string(name), f"latency={_latency(op['latency'])}", f"outcomes=[{', '.join(outcomes)}]"]
        # "stop" is the default and goes unsaid.
        on_cancel = [f"on_cancel={python_string(op['on_cancel'])}"] if op.get("on_cancel", "stop") != "stop" else []
        lines = _wrapped("", head, args + on_cancel, ")")
        if len(lines) > 1 and any(len(line) > _LINE_LENGTH for line in lines):
            # Still too long with one argument a line: one outcome a line as well.
            lines = [
                head,
                f"    {args[0]},",
                f"    {args[1]},",
                *_wrapped("    ", "outcomes=[", outcomes, "],"),
                *(f"    {arg}," for arg in on_cancel),
                ")",
            ]
        return lines

    # steps ----------------------------------------------------------------------------

    def _block(self, steps: list, depth: int) -> list[str]:
        lines: list[str] = []
        for step in steps:
            lines.extend(self._step(step, depth))
        return lines or ["    " * depth + "pass"]

    def _step(self, step: dict, depth: int) -> list[str]:
        render = RENDERINGS.get(step["step"])
        if render is None:
            raise ValueError(f"line {step.get('line')}: unknown step {step['step']!r}")
        bind = ir_steps.value_binding(step) if step["step"] in ir_steps.STEPS else None
        if bind is not None and bind in self.unread:
            # A value nobody reads is not bound (ruff F841): a waiting step is written
            # without its name. A start keeps its task under a `_` name (asyncio keeps
            # only a weak reference to a task: the asyncio.create_task documentation), and
            # so do set and now, whose value is still computed (a calc can raise).
            keeps = ir_steps.STEPS[step["step"]]["fields"].get("bind") == "name"
            step = {**step, "bind": self._fresh(f"_{bind}")} if keeps else _without_bind(step)
        return render(self, step, depth)

    # One method a step, found through RENDERINGS (after the class): (step, depth) -> lines.

    def _await(self, step: dict, depth: int) -> list[str]:
        awaited = step["handle"] if "handle" in step else self._call(step["call"])
        return [f"{_indent(depth)}{_assign(step)}await {awaited}"]

    def _start(self, step: dict, depth: int) -> list[str]:
        if not self.task_groups:
            return [f"{_indent(depth)}{step['bind']} = asyncio.create_task({self._call(step['call'])})"]
        # In a task_group's body the task is the group's, which keeps it: the handle is
        # named only where something reads it.
        create = f"{self.task_groups[-1]}.create_task({self._call(step['call'])})"
        read = step["bind"] in _read_names(list(ir_steps.walk(self.current)))
        return [f"{_indent(depth)}{step['bind']} = {create}" if read else f"{_indent(depth)}{create}"]

    def _return(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}return {self._expr(step['value'])}"]

    def _throw(self, step: dict, depth: int) -> list[str]:
        kind = step["kind"]
        if kind == "QueueShutDown":
            self._use("asyncio.Queue.shutdown")
        kind = f"asyncio.{kind}" if kind in _QUEUE_KINDS else kind
        return [f"{_indent(depth)}raise {kind}({self._expr(step['message'])})"]

    def _sleep(self, step: dict, depth: int) -> list[str]:
        if isinstance(step["ms"], dict):
            # A computed delay, in ms like every duration of a scenario.
            return [f"{_indent(depth)}await asyncio.sleep({self._expr(step['ms'], _DIVIDE)} / 1000)"]
        return [f"{_indent(depth)}await asyncio.sleep({_seconds(int(step['ms']))})"]

    def _log(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}log({self._expr(step['message'])})"]

    def _gathered(self, step: dict) -> list[str]:
        """What a gather of an all or all_settled takes: its calls (coroutines), or its
        started calls (tasks): ``a, b``, or ``*jobs`` for a name holding a list of them."""
        if "over" not in step:
            return [self._call(call) for call in step["calls"]]
        over = step["over"]
        if "ref" in over:
            return [f"*{self._expr(over)}"]
        return [self._expr(item) for item in over.get("list", [])]

    def _tasks(self, step: dict, indent: str) -> tuple[list[str], str]:
        """The tasks of a race or any, in call order: a list of a task per call, or of the
        started calls; a name holding a list of started calls is used as it is."""
        if "over" not in step:
            tasks = [f"asyncio.create_task({self._call(call)})" for call in step["calls"]]
        elif "ref" in step["over"]:
            return [], self._expr(step["over"])
        else:
            tasks = [self._expr(item) for item in step["over"].get("list", [])]
        return _wrapped(indent, f"{self.tasks} = [", tasks, "]"), self.tasks

    def _all(self, step: dict, depth: int) -> list[str]:
        return _wrapped(_indent(depth), f"{_assign(step)}await asyncio.gather(", self._gathered(step), ")")

    def _timeout(self, step: dict, depth: int) -> list[str]:
        if not self.modern:
            return self._wait_for(step, depth)
        self._use("asyncio.timeout")
        return [
            f"{_indent(depth)}async with asyncio.timeout({_seconds(int(step['ms']))}):",
            *self._block(step["body"], depth + 1),
        ]

    def _repeat(self, step: dict, depth: int) -> list[str]:
        counter = step.get("bind") or "_"
        # A computed count is range()'s: 0 or less runs no round, a non-integer raises TypeError.
        times = self._expr(step["times"]) if isinstance(step["times"], dict) else str(int(step["times"]))
        return [f"{_indent(depth)}for {counter} in range({times}):", *self._block(step["body"], depth + 1)]

    def _while(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}while {self._condition(step['condition'])}:", *self._block(step["body"], depth + 1)]

    def _continue(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}continue"]

    def _set(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['bind']} = {self._expr(step['value'])}"]

    def _now(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['bind']} = world.now()"]

    def _cancel(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['handle']}.cancel()"]

    def _put(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}await {step['queue']}.put({self._expr(step['value'])})"]

    def _get(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{_assign(step)}await {step['queue']}.get()"]

    def _put_nowait(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['queue']}.put_nowait({self._expr(step['value'])})"]

    def _get_nowait(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{_assign(step)}{step['queue']}.get_nowait()"]

    def _task_done(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['queue']}.task_done()"]

    def _join(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}await {step['queue']}.join()"]

    def _set_event(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['event']}.set()"]

    def _clear_event(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{step['event']}.clear()"]

    def _wait_event(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}await {step['event']}.wait()"]

    def _is_set(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}{_assign(step)}{step['event']}.is_set()"]

    def _hold(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}async with {step['sync']}:", *self._block(step["body"], depth + 1)]

    def _shutdown(self, step: dict, depth: int) -> list[str]:
        self._use("asyncio.Queue.shutdown")
        return [f"{_indent(depth)}{step['queue']}.shutdown()"]

    def _yield(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}yield {self._expr(step['value'])}"]

    def _for_each(self, step: dict, depth: int) -> list[str]:
        indent, bind = _indent(depth), step.get("bind") or "_"
        if step.get("idiom") == "aclosing":
            # contextlib.aclosing (3.10+) calls aclose() when the block is left, at a break
            # too, as JavaScript's for await calls return().
            self.contextlib = True
            values = self._fresh("values")
            return [
                f"{indent}async with contextlib.aclosing({self._call(step['call'])}) as {values}:",
                f"{indent}    async for {bind} in {values}:",
                *self._block(step["body"], depth + 2),
            ]
        # The plain `async for`, without contextlib.aclosing: see the module docstring.
        head = f"{indent}async for {bind} in {self._call(step['call'])}:"
        return [head, *self._block(step["body"], depth + 1)]

    def _break(self, step: dict, depth: int) -> list[str]:
        return [f"{_indent(depth)}break"]

    def _using(self, step: dict, depth: int) -> list[str]:
        args = ", ".join(self._expr(arg) for arg in step["args"])
        alias = f" as {step['bind']}" if step.get("bind") else ""
        return [f"{_indent(depth)}async with {step['resource']}({args}){alias}:", *self._block(step["body"], depth + 1)]

    def _map(self, step: dict, depth: int) -> list[str]:
        indent = _indent(depth)
        # A semaphore holds the calls to `limit` at once; it wakes its waiters first come,
        # first served, so the calls start in item order as slots free up. gather keeps
        # the results in item order whatever order they finish in.
        item, limited, semaphore = self.item, self.limited, self.semaphore
        assign = _assign(step)
        return [
            f"{indent}{semaphore} = asyncio.Semaphore({int(step['limit'])})",
            "",
            f"{indent}async def {limited}({item}):",
            f"{indent}    async with {semaphore}:",
            f"{indent}        return await {step['callee']}({item})",
            "",
            f"{indent}{assign}await asyncio.gather(*({limited}({item}) for {item} in {self._expr(step['over'])}))",
        ]

    def _wait_for(self, step: dict, depth: int) -> list[str]:
        # CPython 3.10's timeout: the block as a coroutine awaited with wait_for. The
        # names it binds that the function around it also uses are nonlocal; one the
        # function never binds itself is bound first, as nonlocal needs.
        indent = "    " * depth
        inside = _bound_names(step["body"])
        outside_steps = list(ir_steps.walk(self.current, skipped=step))
        bound_outside = _bound_names(outside_steps, flat=True) | set(self.params)
        shared = sorted(inside & (bound_outside | _read_names(outside_steps)))
        lines = [f"{indent}{name} = None  # bound in {self.timed}" for name in shared if name not in bound_outside]
        lines.append(f"{indent}async def {self.timed}():")
        if shared:
            lines.append(f"{indent}    nonlocal {', '.join(shared)}")
        self.catches.append((None, set()))  # no exception is being handled inside it
        try:
            lines += self._block(step["body"], depth + 1)
        finally:
            self.catches.pop()
        lines.append(f"{indent}await asyncio.wait_for({self.timed}(), {_seconds(int(step['ms']))})")
        return lines

    def _race(self, step: dict, depth: int) -> list[str]:
        indent = _indent(depth)
        # asyncio.wait returns (done, pending) sets and neither raises nor cancels: the
        # losers run on. `done` is a set, so the winner is picked in call order (several
        # may finish in one turn), and .result() re-raises the winner's error, like
        # Promise.race rejecting with the first settlement.
        task_lines, tasks = self._tasks(step, indent)
        bind = step.get("bind")
        winner = f"next({self.task} for {self.task} in {tasks} if {self.task} in {self.done}).result()"
        return [
            *task_lines,
            f"{indent}{self.done}, {self.pending} = await asyncio.wait({tasks}, return_when=asyncio.FIRST_COMPLETED)",
            f"{indent}{bind} = {winner}" if bind else f"{indent}{winner}",
        ]

    def _all_settled(self, step: dict, depth: int) -> list[str]:
        indent = _indent(depth)
        # gather(return_exceptions=True) gives values and exceptions in call order;
        # world.settled turns them into allSettled records. Nothing bound: nothing to turn.
        items = [*self._gathered(step), "return_exceptions=True"]
        bind = step.get("bind")
        if not bind:
            return _wrapped(indent, "await asyncio.gather(", items, ")")
        line = f"{indent}{bind} = world.settled(await asyncio.gather({', '.join(items)}))"
        if len(line) <= _LINE_LENGTH:
            return [line]
        # Too long: black's way, the argument of world.settled on a line of its own,
        # and the gather's arguments one a line if even that is too long.
        return [f"{indent}{bind} = world.settled(", *_wrapped(indent + "    ", "await asyncio.gather(", items, ")"), f"{indent})"]

    def _any(self, step: dict, depth: int) -> list[str]:
        indent = _indent(depth)
        # Promise.any in asyncio: tasks in call order, taken as they finish. The first
        # success wins and the loop breaks, leaving the others running (as Promise.any
        # does); a failure is passed over. When every one failed, the for's `else` raises
        # a group of their errors in call order, with Promise.any's message (CPython
        # 3.10 has no ExceptionGroup: there the run is skipped at that point).
        task_lines, tasks = self._tasks(step, indent)
        bind = step.get("bind")
        inner = indent + "        "
        errors = f"[{self.task}.exception() for {self.task} in {tasks}]"
        if self.modern:
            self._use("ExceptionGroup")
            group = _wrapped(indent + "    ", "raise ExceptionGroup(", ['"All promises were rejected"', errors], ")")
        else:
            group = [f'{indent}    world.unsupported("ExceptionGroup", "3.11")  # every call failed: a group, new in 3.11']
        return [
            *task_lines,
            f"{indent}for {self.finished} in asyncio.as_completed({tasks}):",
            f"{indent}    try:",
            f"{inner}{bind} = await {self.finished}" if bind else f"{inner}await {self.finished}",
            f"{inner}break",
            f"{indent}    except Exception:",
            f"{inner}pass",
            f"{indent}else:",
            *group,
        ]

    def _group(self, step: dict, depth: int) -> list[str]:
        indent = _indent(depth)
        # asyncio.TaskGroup: the block waits for every task; the first failure cancels
        # the others and the block raises ExceptionGroup("unhandled errors in a
        # TaskGroup", [...]). Results are read after the block, in call order.
        self._use("asyncio.TaskGroup")
        tasks = [f"{self.group}.create_task({self._call(call)})" for call in step["calls"]]
        bind = step.get("bind")
        lines = [
            f"{indent}async with asyncio.TaskGroup() as {self.group}:",
            *_wrapped(indent + "    ", f"{self.tasks} = [", tasks, "]"),
        ]
        if bind:
            lines.append(f"{indent}{bind} = [{self.task}.result() for {self.task} in {self.tasks}]")
        return lines

    def _task_group(self, step: dict, depth: int) -> list[str]:
        # asyncio.TaskGroup with a body, as the asyncio documentation's example writes it:
        # the body's start steps are tg.create_task; the block ends once every task has,
        # and the first failure cancels the other tasks and the body.
        self._use("asyncio.TaskGroup")
        name = self.tg if not self.task_groups else self._fresh("tg")
        self.task_groups.append(name)
        try:
            body = self._block(step["body"], depth + 1)
        finally:
            self.task_groups.pop()
        return [f"{_indent(depth)}async with asyncio.TaskGroup() as {name}:", *body]

    def _as_completed(self, step: dict, depth: int) -> list[str]:
        # The asyncio documentation's loop: each round awaits the next task to finish; an
        # error leaves the loop, the others run on. The tasks are made first, in call
        # order: as_completed makes its own from coroutines by iterating a set, whose
        # order follows memory addresses.
        indent = _indent(depth)
        tasks = [f"asyncio.create_task({self._call(call)})" for call in step["calls"]]
        wait = f"{_assign(step)}await {self.finished}"
        return [
            *_wrapped(indent, f"{self.tasks} = [", tasks, "]"),
            f"{indent}for {self.finished} in asyncio.as_completed({self.tasks}):",
            f"{indent}    {wait}",
            *self._block(step["body"], depth + 1),
        ]

    def _wait(self, step: dict, depth: int) -> list[str]:
        # asyncio.wait(tasks, timeout=..., return_when=...) neither raises nor cancels: at
        # the timeout or the first completion or failure it returns (done, pending), the
        # pending tasks running on. `done` is a set, so the records are made in call
        # order; a task's exception is its record's reason (world.settled).
        indent = _indent(depth)
        task_lines, tasks = self._tasks(step, indent)
        options = [] if step.get("timeout") is None else [f"timeout={_seconds(int(step['timeout']))}"]
        if step.get("until"):
            options.append(f"return_when=asyncio.{_RETURN_WHEN[step['until']]}")
        bind = step.get("bind")
        if not bind:
            return [*task_lines, *_wrapped(indent, "await asyncio.wait(", [tasks, *options], ")")]
        pending = self._fresh("pending") if self.wait_pending is None else self.wait_pending
        self.wait_pending = pending
        waited = _wrapped(indent, f"{self.done}, {pending} = await asyncio.wait(", [tasks, *options], ")")
        records = f"[{self.task}.exception() or {self.task}.result() for {self.task} in {tasks} if {self.task} in {self.done}]"
        fields = [f'"done": world.settled({records})', f'"pending": len({pending})']
        return [*task_lines, *waited, *_wrapped(indent, f"{bind} = {{", fields, "}")]

    def _shield(self, step: dict, depth: int) -> list[str]:
        # asyncio.shield: a cancellation of this wait (a timeout, a failing task group)
        # ends the wait and leaves the call running; a coroutine becomes a task of its own.
        shielded = step["handle"] if "handle" in step else self._call(step["call"])
        return [f"{_indent(depth)}{_assign(step)}await asyncio.shield({shielded})"]

    def _rethrow(self, step: dict, depth: int) -> list[str]:
        # The error the innermost except is handling: a bare raise, as Python code writes
        # it. Another one (a catch further out, in a finally, where an error passing
        # through would be the one re-raised, or in 3.10's wait_for coroutine, where no
        # exception is being handled): raise it by name, the same object either way.
        innermost = self.catches[-1][0] if self.catches else None
        return [f"{_indent(depth)}raise" if innermost == step["error"] else f"{_indent(depth)}raise {step['error']}"]

    def _try(self, step: dict, depth: int) -> list[str]:
        indent = "    " * depth
        lines = [f"{indent}try:", *self._block(step["body"], depth + 1)]
        catch = step.get("catch")
        if catch is not None:
            kinds = catch["kinds"]
            # CancelledError is asyncio's own class (a BaseException, so `except Exception`
            # lets it pass); the program never defines a class of that name.
            names = [f"asyncio.{kind}" if kind == CANCELLED or kind in _QUEUE_KINDS else kind for kind in kinds]
            if "QueueShutDown" in kinds:
                self._use("asyncio.Queue.shutdown")  # asyncio.QueueShutDown is new in 3.13
            if "TimeoutError" in kinds and not self.modern:
                # wait_for raises asyncio.TimeoutError, a class of its own before 3.11.
                names.insert(names.index("TimeoutError") + 1, "asyncio.TimeoutError")
            caught = "Exception" if not names else names[0] if len(names) == 1 else f"({', '.join(names)})"
            alias = f" as {catch['bind']}" if catch.get("bind") else ""
            # What the body can raise besides scenario errors, and this catch can catch.
            reaching = self._builtin_errors(step["body"], self.current)
            if kinds:
                reaching &= set(kinds)
            if CANCELLED in kinds:
                reaching.add(CANCELLED)  # no .kind or .message: read it as any exception
            head = [f"{indent}except {caught}{alias}:"]
            if catch.get("from_group") and self.modern:
                head = self._except_star(step, caught, depth, reaching)
            # On CPython 3.10 no group is ever raised (group and any are skipped where
            # they would need one), so a catch from_group is the plain except it equals.
            self.catches.append((catch.get("bind"), reaching))
            try:
                lines += [*head, *self._block(catch["body"], depth + 1)]
            finally:
                self.catches.pop()
        if step.get("finally") is not None:
            # A bare raise in a finally re-raises the error passing through it, if any,
            # not the one an except around it handles: no catch is innermost there.
            self.catches.append((None, set()))
            try:
                lines += [f"{indent}finally:", *self._block(step["finally"], depth + 1)]
            finally:
                self.catches.pop()
        if catch is None and step.get("finally") is None:
            raise ValueError(f"line {step.get('line')}: a try needs a catch, a finally, or both")
        return lines

    def _except_star(self, step: dict, caught: str, depth: int, reaching: set[str]) -> list[str]:
        """``except* Kind as errors:`` and the first error taken, bound to the catch's name.

        except* hands the block a group of the matching errors (the error itself wrapped
        in one, if it was not a group); the scenario's name is its first. A group inside
        a group (a failing group in a task of another) keeps its nesting: where that can
        happen, the first is a group, read as any exception (``reaching``)."""
        self._use("except*")
        indent = _indent(depth)
        bind = step["catch"].get("bind")
        if not bind:
            return [f"{indent}except* {caught}:"]
        members = [
            called["callee"]
            for inner in ir_steps.walk(step["body"])
            if inner["step"] in ("group", "any", "start")
            for called in ir_steps.calls(inner)
        ]
        if any("ExceptionGroup" in self.function_errors.get(callee, ()) for callee in members):
            reaching.add("ExceptionGroup")
        return [f"{indent}except* {caught} as {self.errors}:", f"{indent}    {bind} = {self.errors}.exceptions[0]"]

    def _if(self, step: dict, depth: int, keyword: str = "if") -> list[str]:
        indent = "    " * depth
        lines = [f"{indent}{keyword} {self._condition(step['condition'])}:", *self._block(step["then"], depth + 1)]
        otherwise = step.get("else") or []
        if len(otherwise) == 1 and otherwise[0]["step"] == "if":
            lines += self._if(otherwise[0], depth, "elif")
        elif otherwise:
            lines += [f"{indent}else:", *self._block(otherwise, depth + 1)]
        return lines

    def _condition(self, condition: dict, around: str = "") -> str:
        """A condition (PROTOCOL.md "Conditions") as a Python expression: a comparison,
        ``and``, ``or``, ``not``. ``around``: the connective it is an operand of, if any.

        An ``and`` inside an ``or`` (or the reverse) goes in parentheses, although
        ``and`` binds tighter, so that the program reads as the tree; under ``not`` an
        ``and``, an ``or`` and a comparison do too. The negation of ``==`` or ``!=`` is
        the other operator (``x is not None``, not ``not x is None``: pycodestyle E714),
        and a double negation is what it negates.
        Every operand is a comparison or another condition, so Python's truthiness (an
        empty list is false, where JavaScript's empty array is true) never decides."""
        if "compare" in condition:
            return self._comparison(*condition["compare"])
        if "not" in condition:
            inner = condition["not"]
            if "not" in inner:
                # Every condition is a boolean in both languages: not not C is C (ruff's SIM208).
                return self._condition(inner["not"], around)
            if "compare" in inner and inner["compare"][1] in _NEGATED:
                left, op, right = inner["compare"]
                return self._comparison(left, _NEGATED[op], right)
            return f"not ({self._condition(inner)})"
        connective = "and" if "and" in condition else "or" if "or" in condition else None
        if connective is None:
            raise ValueError(f"malformed condition {sorted(condition)!r}")
        text = f" {connective} ".join(self._condition(part, connective) for part in condition[connective])
        return f"({text})" if around not in ("", connective) else text

    def _comparison(self, left: dict, op: str, right: dict) -> str:
        if op not in _OPS:
            raise ValueError(f"unknown comparison {op!r}")
        if op in ("==", "!=") and {"literal": None} in (left, right) and not any(_is_constant(side) for side in (left, right)):
            # PEP 8: comparisons to None use `is`; but `"" is None` is a SyntaxWarning ("is"
            # with a literal), an error under -W error: against a constant, `==` says the same.
            op = "is" if op == "==" else "is not"
        elif (
            op in ("==", "!=")
            and any(_is_bool(side) for side in (left, right))
            and not all(_is_constant(side) for side in (left, right))
        ):
            # Against a literal boolean, `is` (ruff E712 rejects `== True`), which is also
            # what JavaScript's `=== true` means: `1 is True` is false, as `1 === true` is.
            op = "is" if op == "==" else "is not"
        return f"{self._expr(left)} {op} {self._expr(right)}"

    # calls and expressions --------------------------------------------------------------

    def _call(self, call: dict) -> str:
        return f"{call['callee']}({', '.join(self._expr(arg) for arg in call['args'])})"

    def _expr(self, expr: dict, context: int = 0) -> str:
        """The Python expression; ``context`` is the binding strength of the operator
        around it (0: none), so a calc is parenthesised only where the tree needs it."""
        if "calc" in expr:
            return self._calc(expr["calc"], context)
        if "literal" in expr:
            return _literal(expr["literal"])
        if "ref" in expr:
            return self._ref(expr)
        if "format" in expr:
            return self._format(expr["format"])
        if "list" in expr:
            return "[" + ", ".join(self._expr(item) for item in expr["list"]) + "]"
        if "object" in expr:
            return "{" + ", ".join(f"{python_string(key)}: {self._expr(item)}" for key, item in expr["object"]) + "}"
        if "item" in expr:
            return self._item(expr)
        if "length" in expr:
            return f"len({self._expr(expr['length'])})"
        if "slice" in expr:
            return self._slice(expr["slice"])
        if "resolved" in expr:
            # A plain value in a fan-out's list: gather and wait take futures, not values.
            if self.resolved is None:
                self.resolved = self._fresh("resolved")
            return f"{self.resolved}({self._expr(expr['resolved'])})"
        if "append" in expr:
            base, value = expr["append"]
            return f"[*{self._expr(base)}, {self._expr(value)}]"
        raise ValueError(f"unknown expression {sorted(expr)!r}")

    def _slice(self, parts: list) -> str:
        """``items[1:3]``, ``items[start + 1 :]``: spaces around the colon when a bound is
        more than a name or a number, as ruff format (and black) write a slice."""
        base, *bounds = parts
        # A start of 0 is left out, as a developer writes it: items[:2].
        texts = ["" if bound == {"literal": 0} and index == 0 else self._expr(bound) for index, bound in enumerate(bounds)]
        simple = all(("ref" in bound and not bound.get("member")) or "literal" in bound for bound in bounds)
        colon = ":" if simple else " : "
        if len(texts) == 1:
            return f"{self._expr(base)}[{texts[0]}{colon.rstrip() if texts[0] else ':'}]"
        return f"{self._expr(base)}[{texts[0]}{colon if texts[0] else colon.lstrip()}{texts[1]}]"

    def _item(self, expr: dict, in_f_string: bool = False) -> str:
        """``page["next"]``, ``results[0]``, ``counts[key]``: a subscription, for a list's
        index and a dict's key alike (a missing one raises IndexError or KeyError, where
        JavaScript reads undefined: spec/LANGUAGE.md "Fields and indexes").

        Inside an f-string (``in_f_string``) a string key takes single quotes, as in
        :meth:`_ref`; a key is a field name (the IR check holds it to FIELD), with no
        quote or backslash to escape."""
        base, key = expr["item"]
        if "item" in base:
            text = self._item(base, in_f_string)
        elif "ref" in base and not base.get("member"):
            text = base["ref"]
        else:
            raise ValueError(f"an item is taken from a name or another item, not {sorted(base)!r}")
        if "literal" in key and isinstance(key["literal"], str):
            key_text = f"'{key['literal']}'" if in_f_string else python_string(key["literal"])
        else:
            key_text = self._item(key, in_f_string) if "item" in key else self._expr(key)
        return f"{text}[{key_text}]"

    def _calc(self, calc: list, context: int) -> str:
        left, op, right = calc
        if op not in ARITHMETIC:
            raise ValueError(f"unknown calc operator {op!r}; the operators are + - *")
        strength = ARITHMETIC[op]
        # The left operand needs parentheses only if it binds more loosely; the right one
        # also if it binds as strongly (a - (b - c), a * (b * c): the tree as written).
        text = f"{self._expr(left, strength)} {op} {self._expr(right, strength + 1)}"
        return f"({text})" if strength < context else text

    def _ref(self, expr: dict, in_f_string: bool = False) -> str:
        """A name, or ``error.kind`` / ``error.message`` of a caught error.

        Inside an f-string (``in_f_string``) a string in the expression takes single
        quotes, because before Python 3.12 an f-string cannot reuse its own quote
        character, and ``str(error)`` is just ``error`` (the f-string calls ``str``).
        """
        name, member = expr["ref"], expr.get("member")
        if not member:
            return name
        reaching = next((reaching for bound, reaching in reversed(self.catches) if bound == name), set())
        if not reaching:
            # Only scenario errors arrive: ScenarioError has .kind and .message.
            return f"{name}.{member}"
        # A builtin TimeoutError or ExceptionGroup may arrive: the same values, read the
        # way every exception has them.
        if member == "kind":
            return f"type({name}).__name__"
        if "ExceptionGroup" not in reaching:
            return name if in_f_string else f"str({name})"
        # A group's message is .message (str() adds "(2 sub-exceptions)").
        quote = "'" if in_f_string else '"'
        return f"getattr({name}, {quote}message{quote}, str({name}))"

    def _format(self, parts: list) -> str:
        """An f-string: literal text escaped (braces doubled), refs in braces.

        Only names, a caught error's kind or message (:meth:`_ref`) and items of names
        (:meth:`_item`) ever go inside the braces, with no backslash and no double quote,
        so the result is valid before Python 3.12 too.
        """
        if all(isinstance(part, str) for part in parts):
            return python_string("".join(parts))
        body = "".join(
            _escape(part, braces=True)
            if isinstance(part, str)
            else "{" + (self._item(part, True) if "item" in part else self._ref(part, in_f_string=True)) + "}"
            for part in parts
        )
        return f'f"{body}"'


RENDERINGS: dict[str, Callable[[_Program, dict, int], list[str]]] = {
    "await": _Program._await,
    "start": _Program._start,
    "return": _Program._return,
    "throw": _Program._throw,
    "try": _Program._try,
    "sleep": _Program._sleep,
    "log": _Program._log,
    "all": _Program._all,
    "race": _Program._race,
    "if": _Program._if,
    "repeat": _Program._repeat,
    "all_settled": _Program._all_settled,
    "any": _Program._any,
    "timeout": _Program._timeout,
    "group": _Program._group,
    "set": _Program._set,
    "cancel": _Program._cancel,
    "map": _Program._map,
    "put": _Program._put,
    "get": _Program._get,
    "put_nowait": _Program._put_nowait,
    "get_nowait": _Program._get_nowait,
    "task_done": _Program._task_done,
    "join": _Program._join,
    "shutdown": _Program._shutdown,
    "set_event": _Program._set_event,
    "clear_event": _Program._clear_event,
    "wait_event": _Program._wait_event,
    "is_set": _Program._is_set,
    "hold": _Program._hold,
    "yield": _Program._yield,
    "for_each": _Program._for_each,
    "break": _Program._break,
    "using": _Program._using,
    "now": _Program._now,
    "while": _Program._while,
    "continue": _Program._continue,
    "rethrow": _Program._rethrow,
    "task_group": _Program._task_group,
    "shield": _Program._shield,
    "as_completed": _Program._as_completed,
    "wait": _Program._wait,
}
"""The Python rendering of each IR step (spec/ir-steps.json): a method of the program
being written, taking the step and its indentation depth, giving its lines."""
