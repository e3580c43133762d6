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
                            ``except Exception``)
sleep 30                    ``await asyncio.sleep(0.03)``
log                         ``log(f"got {data}")``
all                         ``results = await asyncio.gather(a(x), b(y))``
race                        ``asyncio.wait(tasks, return_when=FIRST_COMPLETED)``, the
                            winner the first task in call order that is done
if / else                   ``if left < right:`` / ``elif`` / ``else:``
repeat 3                    ``for attempt in range(3):`` (``_`` when nothing is bound)
format                      an f-string; values interpolate with ``str()``
==========================  =========================================================

Safety: no scenario text is ever evaluated or pasted as code. Names come from the IR,
which the loader has checked against ``^[a-z][a-z0-9_]*$`` (error kinds:
``^[A-Z][A-Za-z0-9]*$``) and the reserved lists; they are checked again here. Every
string is written as an escaped literal (:func:`python_string`), so quotes,
backslashes, newlines, ``{x}``, ``${x}``, NUL, U+2028 and non-ASCII text come out
byte-identical when the program runs.
"""

from __future__ import annotations

import keyword
import math
import re
from decimal import Decimal

__all__ = ["compile_program", "python_string"]

_LINE_LENGTH = 88  # black's default: wrap declarations and call lists longer than this
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_ERROR_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_OPS = {"==", "!=", "<", "<=", ">", ">="}
_MEMBERS = {"kind", "message"}
# Names the generated program itself defines or relies on: a scenario name equal to
# one of them would shadow it (runner/names.py rejects them at load time).
_PROGRAM_NAMES = {"asyncio", "world", "log", "main", "range", "next"}
_PROGRAM_KINDS = {"World", "Exception"}


def compile_program(ir: dict) -> str:
    """The complete Python program for one scenario IR (version 1).

    Raises ``ValueError`` for IR this compiler cannot trust (a wrong version, a bad
    name, a step it does not know); the message says what and where.
    """
    try:
        return _Program(ir).text()
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"malformed scenario IR: {type(error).__name__}: {error}") from error


# -- literals ---------------------------------------------------------------------------


def _escape(text: str, quote: str = '"', braces: bool = False) -> str:
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


def _seconds(ms: int) -> str:
    """``30`` -> ``"0.03"``: milliseconds as an exact decimal number of seconds."""
    return format(Decimal(ms).scaleb(-3).normalize(), "f")


def _docstring_text(text: str) -> str:
    escaped = _escape(text, quote="")
    # Only a run of quotes could end the docstring early; escape them all if there is one.
    return escaped.replace('"', '\\"') if '""' in escaped or escaped.endswith('"') else escaped


def _wrapped(indent: str, head: str, items: list[str], tail: str) -> list[str]:
    """``head item, item tail`` on one line if it fits, else one item a line (black's way)."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= _LINE_LENGTH or not items:
        return [line]
    return [f"{indent}{head}", *(f"{indent}    {item}," for item in items), f"{indent}{tail}"]


# -- the program --------------------------------------------------------------------------


class _Program:
    def __init__(self, ir: dict) -> None:
        if ir.get("ir") != 1:
            raise ValueError(f"this compiler reads scenario IR version 1, not {ir.get('ir')!r}")
        self.ir = ir
        self.kinds = list(ir.get("errors", []))
        self.operations = {op["name"] for op in ir.get("operations", [])}
        self.functions = {fn["name"] for fn in ir.get("functions", [])}
        self.names: set[str] = set(self.operations) | set(self.functions)
        self._check_names()
        self.tasks = self._fresh("tasks")
        self.done = self._fresh("done")
        self.pending = self._fresh("_pending")
        self.task = self._fresh("task")

    # names ------------------------------------------------------------------------

    def _check_names(self) -> None:
        for kind in self.kinds:
            if not _ERROR_KIND.match(kind) or kind in _PROGRAM_KINDS or keyword.iskeyword(kind):
                raise ValueError(f"error kind {kind!r} cannot be a class name in the program")
        if self.operations & self.functions:
            raise ValueError(f"{sorted(self.operations & self.functions)[0]!r} is both an operation and a function")
        for name in self.names:
            self._check_name(name, "operation or function")
        for fn in self.ir.get("functions", []):
            for param in fn["params"]:
                self._check_local(param, fn["name"])
            self._collect(fn["body"], fn["name"])
        self._collect(self.ir["main"], "main")

    def _check_name(self, name: str, what: str) -> None:
        if (not isinstance(name, str) or not _IDENTIFIER.match(name) or name in _PROGRAM_NAMES
                or keyword.iskeyword(name)):
            raise ValueError(f"{what} name {name!r} cannot be used in the Python program")

    def _check_local(self, name: str | None, where: str) -> None:
        if name is None:
            return
        self._check_name(name, f"{where}: local")
        if name in self.operations or name in self.functions:
            # `download_data = await download_data(url)` would make download_data local
            # to the whole function, and the call would fail (UnboundLocalError).
            raise ValueError(f"{where}: {name!r} would shadow the operation or function of that name")
        self.names.add(name)

    def _collect(self, steps: list, where: str) -> None:
        """Check every name a block binds or reads, and remember it (for fresh temp names)."""
        for step in steps:
            kind = step["step"]
            if kind in ("await", "start", "all", "race", "repeat"):
                self._check_local(step.get("bind"), where)
            if kind == "await" and "handle" in step:
                self._check_local(step["handle"], where)
            for call in [step["call"]] if "call" in step else step.get("calls", []):
                if call["callee"] not in self.operations | self.functions:
                    raise ValueError(f"{where}: {call['callee']!r} is neither an operation nor a function")
                for arg in call["args"]:
                    self._collect_expr(arg, where)
            for key in ("value", "message", "left", "right"):
                if key in step:
                    self._collect_expr(step[key], where)
            if kind == "throw" and step["kind"] not in self.kinds:
                raise ValueError(f"{where}: error kind {step['kind']!r} is not in the scenario's errors")
            if kind == "try":
                self._collect(step["body"], where)
                catch = step.get("catch")
                if catch is not None:
                    self._check_local(catch.get("bind"), where)
                    for catch_kind in catch["kinds"]:
                        if catch_kind not in self.kinds:
                            raise ValueError(f"{where}: error kind {catch_kind!r} is not in the scenario's errors")
                    self._collect(catch["body"], where)
                self._collect(step.get("finally") or [], where)
            for key in ("body", "then", "else"):
                if key in step and kind != "try":
                    self._collect(step[key], where)

    def _collect_expr(self, expr: dict, where: str) -> None:
        if "ref" in expr:
            self._check_local(expr["ref"], where)
            if expr.get("member") not in (None, *_MEMBERS):
                raise ValueError(f"{where}: unknown member {expr['member']!r} of {expr['ref']!r}")
        for part in expr.get("format", []):
            if isinstance(part, dict):
                self._collect_expr(part, where)
        for item in expr.get("list", []):
            self._collect_expr(item, where)
        for _key, item in expr.get("object", []):
            self._collect_expr(item, where)

    def _fresh(self, base: str) -> str:
        """A name no scenario identifier uses: ``base``, else ``base_2``, ``base_3``..."""
        name, n = base, 1
        while name in self.names or name in _PROGRAM_NAMES:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    # the text -------------------------------------------------------------------------

    def text(self) -> str:
        ir = self.ir
        lines = [
            f'"""{_docstring_text(ir["id"])}: {_docstring_text(ir.get("summary", ""))}',
            "",
            f"Generated by asyncparity from {_docstring_text(ir.get('source', ''))} (target python).",
            "Save python/asyncparity_runtime.py beside it and run: python3 program.py",
            '"""',
            "",
            "import asyncio",
            "",
            "from asyncparity_runtime import World",
            "",
            *_wrapped("", "world = World(", [python_string(ir["id"]), f"limits={_literal(ir.get('limits', {}))}"], ")"),
            "log = world.log",
        ]
        if self.kinds:
            lines.append("")
            lines.extend(f"{kind} = world.error_kind({python_string(kind)})" for kind in self.kinds)
        if ir.get("operations"):
            lines.append("")
            for op in ir["operations"]:
                lines.extend(self._operation(op))
        for fn in ir.get("functions", []):
            lines += ["", "", f"async def {fn['name']}({', '.join(fn['params'])}):", *self._block(fn["body"], 1)]
        lines += ["", "", "async def main():", *self._block(ir["main"], 1)]
        lines += ["", "", 'if __name__ == "__main__":', "    world.run_and_print(main)"]
        return "\n".join(lines) + "\n"

    def _operation(self, op: dict) -> list[str]:
        name = op["name"]
        outcomes = [_literal(outcome) for outcome in op["outcomes"]]
        head = f"{name} = world.operation("
        args = [python_string(name), f"latency={int(op['latency'])}", f"outcomes=[{', '.join(outcomes)}]"]
        lines = _wrapped("", head, args, ")")
        if len(lines) > 1 and any(len(line) > _LINE_LENGTH for line in lines):
            # Still too long with one argument a line: one outcome a line as well.
            lines = [head, f"    {args[0]},", f"    {args[1]},", *_wrapped("    ", "outcomes=[", outcomes, "],"), ")"]
        return lines

    # steps ----------------------------------------------------------------------------

    def _block(self, steps: list, depth: int) -> list[str]:
        lines: list[str] = []
        for step in steps:
            lines.extend(self._step(step, depth))
        return lines or ["    " * depth + "pass"]

    def _step(self, step: dict, depth: int) -> list[str]:
        indent = "    " * depth
        kind = step["step"]
        bind = step.get("bind")
        assign = f"{bind} = " if bind else ""
        if kind == "await":
            awaited = step["handle"] if "handle" in step else self._call(step["call"])
            return [f"{indent}{assign}await {awaited}"]
        if kind == "start":
            return [f"{indent}{bind} = asyncio.create_task({self._call(step['call'])})"]
        if kind == "return":
            return [f"{indent}return {self._expr(step['value'])}"]
        if kind == "throw":
            return [f"{indent}raise {step['kind']}({self._expr(step['message'])})"]
        if kind == "sleep":
            return [f"{indent}await asyncio.sleep({_seconds(int(step['ms']))})"]
        if kind == "log":
            return [f"{indent}log({self._expr(step['message'])})"]
        if kind == "all":
            calls = [self._call(call) for call in step["calls"]]
            return _wrapped(indent, f"{assign}await asyncio.gather(", calls, ")")
        if kind == "race":
            return self._race(step, indent)
        if kind == "try":
            return self._try(step, depth)
        if kind == "if":
            return self._if(step, depth, "if")
        if kind == "repeat":
            counter = bind or "_"
            return [f"{indent}for {counter} in range({int(step['times'])}):", *self._block(step["body"], depth + 1)]
        raise ValueError(f"line {step.get('line')}: unknown step {kind!r}")

    def _race(self, step: dict, indent: str) -> list[str]:
        # asyncio.wait returns (done, pending) sets and neither raises nor cancels: the
        # losers run on. `done` is a set, so the winner is picked in call order (several
        # may finish in one turn), and .result() re-raises the winner's error, like
        # Promise.race rejecting with the first settlement.
        tasks = [f"asyncio.create_task({self._call(call)})" for call in step["calls"]]
        bind = step.get("bind")
        winner = f"next({self.task} for {self.task} in {self.tasks} if {self.task} in {self.done}).result()"
        return [
            *_wrapped(indent, f"{self.tasks} = [", tasks, "]"),
            f"{indent}{self.done}, {self.pending} = await asyncio.wait({self.tasks}, return_when=asyncio.FIRST_COMPLETED)",
            f"{indent}{bind} = {winner}" if bind else f"{indent}{winner}",
        ]

    def _try(self, step: dict, depth: int) -> list[str]:
        indent = "    " * depth
        lines = [f"{indent}try:", *self._block(step["body"], depth + 1)]
        catch = step.get("catch")
        if catch is not None:
            kinds = catch["kinds"]
            caught = "Exception" if not kinds else kinds[0] if len(kinds) == 1 else f"({', '.join(kinds)})"
            alias = f" as {catch['bind']}" if catch.get("bind") else ""
            lines += [f"{indent}except {caught}{alias}:", *self._block(catch["body"], depth + 1)]
        if step.get("finally") is not None:
            lines += [f"{indent}finally:", *self._block(step["finally"], depth + 1)]
        if catch is None and step.get("finally") is None:
            raise ValueError(f"line {step.get('line')}: a try needs a catch, a finally, or both")
        return lines

    def _if(self, step: dict, depth: int, keyword: str) -> list[str]:
        indent = "    " * depth
        if step["op"] not in _OPS:
            raise ValueError(f"line {step.get('line')}: unknown comparison {step['op']!r}")
        op = step["op"]
        if op in ("==", "!=") and {"literal": None} in (step["left"], step["right"]):
            op = "is" if op == "==" else "is not"  # PEP 8: comparisons to None use `is`
        lines = [f"{indent}{keyword} {self._expr(step['left'])} {op} {self._expr(step['right'])}:",
                 *self._block(step["then"], depth + 1)]
        otherwise = step.get("else") or []
        if len(otherwise) == 1 and otherwise[0]["step"] == "if":
            lines += self._if(otherwise[0], depth, "elif")
        elif otherwise:
            lines += [f"{indent}else:", *self._block(otherwise, depth + 1)]
        return lines

    # calls and expressions --------------------------------------------------------------

    def _call(self, call: dict) -> str:
        return f"{call['callee']}({', '.join(self._expr(arg) for arg in call['args'])})"

    def _expr(self, expr: dict) -> str:
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
        raise ValueError(f"unknown expression {sorted(expr)!r}")

    @staticmethod
    def _ref(expr: dict) -> str:
        return f"{expr['ref']}.{expr['member']}" if expr.get("member") else expr["ref"]

    def _format(self, parts: list) -> str:
        """An f-string: literal text escaped (braces doubled), refs in braces.

        Only names and ``.message``/``.kind`` ever go inside the braces, so the result is
        valid before Python 3.12 too (no backslash or quote inside an expression part).
        """
        if all(isinstance(part, str) for part in parts):
            return python_string("".join(parts))
        body = "".join(_escape(part, braces=True) if isinstance(part, str) else "{" + self._ref(part) + "}"
                       for part in parts)
        return f'f"{body}"'
