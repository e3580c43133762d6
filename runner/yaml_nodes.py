"""YAML node handling for the loader: shapes, scalars and positions.

The scenario checks (runner/check_*.py) read a file's composed YAML through
:class:`NodeReader`: a mapping with its keys checked, a list, a JSON-able plain value, a
scalar of a type, a bounded integer, a name. Each problem becomes a diagnostic at the
node's line and column, and the reader goes on, so that one run reports all of them.
Values are built by PyYAML's safe constructor: nothing in a file is ever evaluated.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from typing import Any, Final

import yaml

from .diagnostics import Diagnostic, did_you_mean
from .model import MAX_VALUE_DEPTH
from .names import IDENTIFIER, JS_RESERVED_SPELLINGS, RESERVED_KINDS, RESERVED_NAMES, camel_case

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript numbers are doubles: larger integers lose digits.
_STR_TAG = "tag:yaml.org,2002:str"
_SURROGATE = re.compile("[\ud800-\udfff]")


class Missing(enum.Enum):
    """The type of :data:`MISSING`: one member, so that ``value is MISSING`` narrows a
    ``str | Missing`` to ``str`` for the type checker."""

    MISSING = "MISSING"


MISSING: Final = Missing.MISSING
"""What a reader returns for a value it reported as wrong (None may be a good value)."""


def position(node: yaml.Node) -> tuple[int, int]:
    """A node's 1-based line and column."""
    return node.start_mark.line + 1, node.start_mark.column + 1


class NodeReader:
    """Reads YAML nodes of one file, collecting diagnostics."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node, message: str) -> None:
        line, column = position(node)
        self.diagnostics.append(Diagnostic(self.path, line, column, message))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """The entries of a mapping node by key, rejecting duplicates and non-string keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping, not {describe(node)}")
            return None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"keys in {what} must be strings, not {describe(key_node)}")
                continue
            if key_node.tag != _STR_TAG:
                # `on:`, `yes:`, `1:`, `~:`: plain keys that YAML 1.1 reads as something else.
                reads_as = _READS_AS.get(key_node.tag.rsplit(":", 1)[-1], "something else")
                self.error(key_node, f"keys in {what} must be strings, and '{key_node.value}' reads as {reads_as}; quote it")
                continue
            key = key_node.value
            if key in entries:
                line, _ = position(entries[key][0])
                self.error(key_node, f"duplicate key '{key}' in {what} (first at line {line})")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def known_keys(self, entries: dict[str, tuple[yaml.Node, yaml.Node]], allowed: Iterable[str], what: str) -> None:
        allowed = tuple(allowed)
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                self.error(key_node, f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}")

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, not {describe(node)}")
            return None
        return list(node.value)

    def plain(self, node: yaml.Node, what: str, depth: int = 0, text_allowed: bool = True) -> Any:
        """A JSON value from a node, or ``MISSING`` after reporting why it is not one.

        ``depth``: the lists and mappings of the value around ``node``. ``text_allowed``:
        a string may stand here, so an integer too large is told to be written as one."""
        if self.too_deep(node, what, depth):
            return MISSING
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                value = node.value  # what SafeConstructor makes of a string, without its dispatch
            else:
                try:
                    value = self.constructor.construct_object(node)
                except yaml.YAMLError as error:
                    self.error(node, f"{what}: {error}")
                    return MISSING
            if isinstance(value, str):
                found = _SURROGATE.search(value)
                if found is not None:
                    surrogate = found.group()
                    # YAML's \uXXXX escapes do not pair surrogates; such text is not Unicode.
                    self.error(
                        node,
                        f"{what}: a lone UTF-16 surrogate \\u{ord(surrogate):04x}; write the character itself or use \\U for it",
                    )
                    return MISSING
                return value
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, int):
                if abs(value) > MAX_SAFE_INTEGER:
                    advice = "; write it as a string" if text_allowed else ""
                    self.error(node, f"{what}: integer {value} is too large for JavaScript (limit 2**53-1){advice}")
                    return MISSING
                return value
            if isinstance(value, float):
                if math.isnan(value) or math.isinf(value):
                    self.error(node, f"{what}: {node.value} is not a JSON number")
                    return MISSING
                return value
            self.error(
                node, f"{what}: {node.value!r} reads as {type(value).__name__}, not a JSON value; quote it to make a string"
            )
            return MISSING
        if isinstance(node, yaml.SequenceNode):
            items = [self.plain(item, what, depth + 1) for item in node.value]
            return MISSING if any(item is MISSING for item in items) else items
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, what)
            if entries is None:
                return MISSING
            values = {key: self.plain(value, what, depth + 1) for key, (_, value) in entries.items()}
            return MISSING if any(value is MISSING for value in values.values()) else values
        self.error(node, f"{what}: aliases and anchors are not supported")
        return MISSING

    def too_deep(self, node: yaml.Node, what: str, depth: int) -> bool:
        """Whether ``node`` is a list or mapping inside :data:`MAX_VALUE_DEPTH` others of
        one value (reported here): the compilers and the targets read values recursively,
        and CPython's parser allows 200 nested brackets."""
        if depth < MAX_VALUE_DEPTH or not isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            return False
        self.error(
            node,
            f"{what}: lists and mappings nested more than {MAX_VALUE_DEPTH} deep; a value nests them at most {MAX_VALUE_DEPTH} deep",
        )
        return True

    def scalar(self, node: yaml.Node, what: str, kind: type | tuple[type, ...]) -> Any:
        value = self.plain(node, what, text_allowed=str in as_tuple(kind)) if isinstance(node, yaml.ScalarNode) else MISSING
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be {type_name(kind)}, not {describe(node)}")
            return MISSING
        if value is MISSING:
            return MISSING
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in as_tuple(kind)):
            self.error(node, f"{what} must be {type_name(kind)}, not {describe(node)}")
            return MISSING
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int, maximum: int | None = None) -> Any:
        value = self.scalar(node, what, int)
        if value is MISSING:
            return value
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(node, f"{what} must be {bound}, not {value}")
            return MISSING
        return value

    def name(self, node: yaml.Node, what: str, pattern: re.Pattern[str] = IDENTIFIER) -> str | None:
        value = self.scalar(node, what, str)
        if value is MISSING:
            return None
        if not pattern.match(value):
            rule = (
                "lower_snake_case (a-z, 0-9, _; starting with a letter)"
                if pattern is IDENTIFIER
                else "CapWords (A-Z first, then letters and digits)"
            )
            self.error(node, f"{what} '{value}' must be {rule}")
            return None
        reserved = RESERVED_NAMES if pattern is IDENTIFIER else RESERVED_KINDS
        if value in reserved:
            self.error(node, f"{what} '{value}' is reserved: Python, JavaScript or the generated programs use it")
            return None
        if pattern is IDENTIFIER and camel_case(value) in JS_RESERVED_SPELLINGS:
            self.error(node, f"{what} '{value}' is '{camel_case(value)}' in JavaScript, which is reserved there")
            return None
        return value


_READS_AS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "timestamp": "a date",
    "merge": "YAML's merge key",
}


def with_article(noun: str) -> str:
    """``an operation``, ``a queue``: the noun with its article."""
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", bool: "true or false", float: "a number"}
    return " or ".join(names.get(item, item.__name__) for item in as_tuple(kind))


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    if node.tag == "tag:yaml.org,2002:str":
        return f"the string {node.value!r}"
    return str(node.value)
