"""Names a scenario may not use, and the JavaScript spelling of the ones it may.

A scenario's identifiers become identifiers in three programs, so one name must be safe
in Python and in JavaScript at once, and must not collide with a name the generated
programs or their runtime modules already use. The loader checks every name against
these lists; the compilers (python/, javascript/) can then trust the IR.
"""

from __future__ import annotations

import functools
import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
"""Operation, function, parameter and binding names: lower snake_case."""

ERROR_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
"""Error kinds become classes, so they are CapWords."""

SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
"""Scenario ids appear in test ids and commands (`-k`), so they are slugs."""

# ECMAScript reserved words, strict-mode and module reserved words, and literals
# (ECMA-262, "Keywords and Reserved Words"), plus names with special meaning.
_JS_RESERVED = {
    "arguments",
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "of",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "undefined",
    "var",
    "void",
    "while",
    "with",
    "yield",
}

# Names the generated programs define or call themselves (spec/RUNTIME.md), and the
# Python builtins they rely on: a scenario name equal to one of these would shadow it.
_PROGRAM_NAMES = {
    "world",
    "log",
    "main",
    "asyncio",
    "contextlib",  # a for_each in the aclosing idiom imports it
    "set_timeout",
    "clear_timeout",
    "range",
    "print",
    "isinstance",
    "len",
    "next",
    "str",
    "super",
    "self",
    "cls",
    "object",
    "type",
    "getattr",
    "resolve",
    "reject",
    "then",
    "promise",
    "globalthis",
    "process",
    "require",
    "module",
    "exports",
    "console",
}

# Python keywords and soft keywords (the language reference, "Keywords"), written out
# rather than read from `keyword` so that the rules do not change with the CPython
# version the runner happens to use.
_PY_RESERVED = {
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "case",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "false",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "match",
    "none",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "true",
    "try",
    "type",
    "while",
    "with",
    "yield",
    "_",
}

RESERVED_NAMES = frozenset(_PY_RESERVED | _JS_RESERVED | _PROGRAM_NAMES)

# Checked against a name's camelCase spelling, which is what JavaScript sees: `class_`
# is `class` there, `global_this` is `globalThis`.
JS_RESERVED_SPELLINGS = frozenset(
    _JS_RESERVED
    | {
        "globalThis",
        "setTimeout",
        "clearTimeout",
        "setImmediate",
        "queueMicrotask",
        "structuredClone",
        "world",
        "log",
        "main",
        "console",
        "process",
        "require",
        "module",
        "exports",
    }
)

# Error kinds become classes in both programs: they must not shadow a class the programs
# or the runtimes use. Plain builtin kinds such as IOError or TypeError are allowed: the
# generated module shadows them on purpose so that `except IOError` reads naturally.
RESERVED_KINDS = frozenset(
    {
        "Exception",
        "BaseException",
        "ExceptionGroup",
        "BaseExceptionGroup",
        "CancelledError",
        "StopIteration",
        "StopAsyncIteration",
        "GeneratorExit",
        "KeyboardInterrupt",
        "SystemExit",
        "ScenarioError",
        "World",
        "Error",
        "AggregateError",
        "SuppressedError",
        "DOMException",
        "Promise",
        "Object",
        "Array",
        "Symbol",
        "Function",
        "String",
        "Number",
        "Boolean",
        "JSON",
        "Math",
        "Date",
        "Map",
        "Set",
        "Reflect",
        "Proxy",
        "AbortController",
        "AbortSignal",
        "None",
        "True",
        "False",
        "NaN",
        "Infinity",
        "NonError",
    }
)


def camel_case(name: str) -> str:
    """The JavaScript spelling of a snake_case scenario name: ``download_data`` -> ``downloadData``.

    javascript/names.mjs (camelCase) applies the same rule; the loader uses this copy to reject two
    names that would collide in JavaScript.
    """
    # The loader asks it of every name it reads, again and again: a short name's answer
    # is remembered (a long one is worked out each time, never kept).
    return _short_camel_case(name) if len(name) <= _SHORT_NAME else _camel_case(name)


_SHORT_NAME = 64


@functools.lru_cache(maxsize=4096)
def _short_camel_case(name: str) -> str:
    return _camel_case(name)


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
