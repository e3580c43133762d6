"""Value checks for the loader: expressions, scripted results and error records.

An expression (``$name``, ``"got {$data}"``, ``[$a, "+", 1]``, a list or mapping holding
one) becomes an EXPR of spec/PROTOCOL.md, every reference resolved in the
:class:`Scope` of the function being read. An operation's scripted results
(``returns`` / ``fails``) and error records become plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from .diagnostics import did_you_mean
from .names import ERROR_KIND
from .yaml_nodes import MISSING, NodeReader, describe, with_article

ARITHMETIC = ("+", "-", "*")  # integers only: `/` and `%` differ between the languages
# `$name` or `$error.message`; any other string, "$HOME" or "${x}" included, is literal text.
REFERENCE = re.compile(r"^\$([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?$")
ERROR_MEMBERS = ("kind", "message")


class Scope:
    """The names visible in one function body, in document order, with what they hold."""

    def __init__(self, params: Iterable[str] = (), function: str | None = None) -> None:
        self.holds: dict[str, str] = {name: "value" for name in params}  # name -> what it holds
        # The function read (None: main), and its parameters not bound again since: one
        # may take a started call (runner/check_started.py).
        self.function = function
        self.params: set[str] = set(self.holds)
        # Names that may not be bound again inside the block that owns them: a repeat's
        # counter (a JS `for` would continue from the new value, Python's range would not)
        # and a catch's error.
        self.fixed: dict[str, str] = {}
        # Names whose block has ended, and what they were: a catch's error (Python
        # unbinds it at the end of the except block, JavaScript scopes it to the catch
        # block) and a repeat's counter (a JavaScript `for` scopes it to the loop).
        self.ended: dict[str, str] = {}
        # Names bound on every path to this point; None where no path reaches (after a
        # return or throw). A name bound on some paths only would be unbound in Python
        # (UnboundLocalError) and undefined in JavaScript: the loader rejects reading it.
        self.definite: set[str] | None = set(self.holds)

    def holding(self, name: str) -> str | None:
        return self.holds.get(name)

    def snapshot(self) -> set[str] | None:
        return None if self.definite is None else set(self.definite)

    def end(self, name: str, what: str) -> None:
        """``name``'s block has ended (a catch's error, a loop's counter or variable, a
        using's resource): it is unbound after it, and a read says it was ``what``."""
        del self.holds[name]
        self.ended[name] = what
        if self.definite is not None:
            self.definite.discard(name)


def meet(*paths: set[str] | None) -> set[str] | None:
    """Names bound on every path that goes on (None: no path goes on)."""
    going_on = [path for path in paths if path is not None]
    return set.intersection(*going_on) if going_on else None


class ValueChecker(NodeReader):
    """Reads expressions, scripted results and error records (the names they may use are
    the scenario's callables, filled in by the declarations)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.callables: dict[str, str] = {}  # name -> "operation" | "function" | "queue" | "resource"
        self.raised_kinds: list[str] = []  # kinds thrown or failed with, first use first
        # How each parameter is used: (function, param, "value" | "handle" | "handles", node).
        self.param_uses: list[tuple[str | None, str, str, yaml.Node]] = []

    def scripted_result(self, node: yaml.Node, name: str) -> dict | None:
        entries = self.mapping(node, f"an outcome of '{name}'")
        if entries is None:
            return None
        self.known_keys(entries, ("returns", "fails"), f"an outcome of '{name}'")
        given = [key for key in ("returns", "fails") if key in entries]
        if len(given) != 1:
            self.error(node, f"an outcome of '{name}' is either returns or fails")
            return None
        return self.scripted_result_entry(given[0], entries[given[0]][1], name)

    def scripted_result_entry(self, key: str, node: yaml.Node, name: str) -> dict | None:
        if key == "returns":
            value = self.plain(node, f"the value '{name}' returns")
            return None if value is MISSING else {"returns": value}
        error = self.error_record(node, f"the error '{name}' fails with")
        if error is None:
            return None
        self.note_raised(error["kind"])
        return {"fails": error}

    def error_record(self, node: yaml.Node, what: str) -> dict | None:
        """A literal ``{kind, message}`` (operation failures and expectations)."""
        entries = self.mapping(node, what)
        if entries is None:
            return None
        self.known_keys(entries, ("kind", "message"), what)
        if "kind" not in entries or "message" not in entries:
            self.error(node, f"{what} needs kind and message")
            return None
        kind = self.name(entries["kind"][1], "error kind", ERROR_KIND)
        message = self.scalar(entries["message"][1], "message", str)
        if kind is None or message is MISSING:
            return None
        return {"kind": kind, "message": message}

    def note_raised(self, kind: str) -> None:
        if kind not in self.raised_kinds:
            self.raised_kinds.append(kind)

    def expr(self, node: yaml.Node, scope: Scope, depth: int = 0) -> dict | None:
        """An IR expression: literal, reference, format, list or object (PROTOCOL.md).

        ``depth``: the lists and mappings of the value around ``node``."""
        if self.too_deep(node, "a value", depth):
            return None
        if isinstance(node, yaml.ScalarNode):
            value = self.plain(node, "a value")
            if value is MISSING:
                return None
            reference = REFERENCE.match(value) if isinstance(value, str) else None
            if reference:
                return self.reference(node, reference.group(1), reference.group(2), scope)
            return {"literal": value}
        if isinstance(node, yaml.SequenceNode):
            exprs = [self.expr(item, scope, depth + 1) for item in node.value]
            items = [item for item in exprs if item is not None]
            if len(items) != len(exprs):
                return None
            if all("literal" in item for item in items):
                return {"literal": [item["literal"] for item in items]}
            return {"list": items}
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, "a value")
            if entries is None:
                return None
            if set(entries) == {"format"}:
                return self.format(entries["format"][1], scope)
            if set(entries) == {"calc"}:
                return self.calc(entries["calc"][1], scope, depth + 1)
            if set(entries) == {"literal"}:
                value = self.plain(entries["literal"][1], "a literal", depth + 1)
                return None if value is MISSING else {"literal": value}
            by_key = {key: self.expr(value, scope, depth + 1) for key, (_, value) in entries.items()}
            pairs = [(key, value) for key, value in by_key.items() if value is not None]
            if len(pairs) != len(by_key):
                return None
            if all("literal" in value for _, value in pairs):
                return {"literal": {key: value["literal"] for key, value in pairs}}
            return {"object": [[key, value] for key, value in pairs]}
        self.error(node, "aliases and anchors are not supported")
        return None

    def calc(self, node: yaml.Node, scope: Scope, depth: int = 0) -> dict | None:
        """``{calc: [$delay, "*", 2]}``: integer arithmetic on values; ``depth`` as :meth:`expr`'s, of ``node``."""
        if self.too_deep(node, "a value", depth):
            return None
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
            self.error(node, 'calc takes [left, operator, right], for example [$delay, "*", 2]')
            return None
        left_node, op_node, right_node = node.value
        left, right = self.expr(left_node, scope, depth + 1), self.expr(right_node, scope, depth + 1)
        op = self.scalar(op_node, "operator", str)
        if op is not MISSING and op not in ARITHMETIC:
            self.error(op_node, f"unknown operator '{op}'; calc knows {' '.join(ARITHMETIC)} (integers only)")
            return None
        for side, side_node in ((left, left_node), (right, right_node)):
            if (
                side is not None
                and "literal" in side
                and (not isinstance(side["literal"], int) or isinstance(side["literal"], bool))
            ):
                self.error(side_node, f"calc works on integers, not {describe(side_node)}")
                return None
        if left is None or right is None or op is MISSING:
            return None
        return {"calc": [left, op, right]}

    def reference(self, node: yaml.Node, name: str, member: str | None, scope: Scope) -> dict | None:
        held = scope.holding(name)
        if held is None and name in scope.ended:
            self.error(node, f"'${name}' is {scope.ended[name]}")
            return None
        if held is not None and scope.definite is not None and name not in scope.definite:
            self.error(
                node,
                f"'${name}' may not be bound here: some paths to this step do not bind it "
                "(bind it before the branch, or on every path)",
            )
            return None
        if held is None:
            visible = [known for known, what in scope.holds.items() if what != "handle"]
            hint = did_you_mean(name, visible)
            if name in self.callables:
                advice = {
                    "queue": f"take a value from it with 'get: {name}'",
                    "resource": f"open it with 'using: {name}'",
                    "function": f"call it with 'await: {name}'",
                }.get(self.callables[name], f"call it with 'await: {name}'")
                self.error(node, f"'${name}' names {with_article(self.callables[name])}, not a value; {advice}")
            else:
                self.error(
                    node,
                    f"unknown name '${name}'{hint}"
                    if hint
                    else f"unknown name '${name}': nothing is bound by that name before this step (for the text itself write {{literal: \"${name}\"}})",
                )
            return None
        if held == "handle":
            self.error(node, f"'${name}' is a started call; get its value with 'await: ${name}'")
            return None
        if held == "handles":
            self.error(node, f"'${name}' is a list of started calls; get their values with 'all: ${name}'")
            return None
        if name in scope.params:
            self.param_uses.append((scope.function, name, "value", node))
        if held == "error":
            if member not in ERROR_MEMBERS:
                shown = f"'${name}.{member}'" if member else f"'${name}'"
                self.error(node, f"{shown}: a caught error is used through '${name}.kind' or '${name}.message'")
                return None
            return {"ref": name, "member": member}
        if member is not None:
            self.error(node, f"'${name}.{member}': only a caught error has members (.kind, .message)")
            return None
        return {"ref": name}

    def format(self, node: yaml.Node, scope: Scope) -> dict | None:
        """``{format: "got {data}"}``: literal text with ``{name}`` holes; ``{{``/``}}`` are braces."""
        text = self.scalar(node, "format", str)
        if text is MISSING:
            return None
        parts: list[Any] = []
        literal: list[str] = []
        index = 0
        ok = True
        while index < len(text):
            char = text[index]
            if text.startswith("{{", index) or text.startswith("}}", index):
                literal.append(char)
                index += 2
                continue
            if char == "}":
                self.error(node, f"format: a single '}}' at offset {index}; write '}}}}' for a brace")
                return None
            if char == "{":
                end = text.find("}", index)
                if end == -1:
                    self.error(node, f"format: '{{' at offset {index} is not closed; write '{{{{' for a brace")
                    return None
                hole = text[index + 1 : end]
                reference = REFERENCE.match("$" + hole)
                if not reference:
                    self.error(
                        node, f"format: '{{{hole}}}' is not a name; holes hold a bound name like {{data}} or {{error.message}}"
                    )
                    ok = False
                else:
                    expr = self.reference(node, reference.group(1), reference.group(2), scope)
                    if expr is None:
                        ok = False
                    else:
                        if literal:
                            parts.append("".join(literal))
                            literal = []
                        parts.append(expr)
                index = end + 1
                continue
            literal.append(char)
            index += 1
        if literal:
            parts.append("".join(literal))
        if not ok:
            return None
        if all(isinstance(part, str) for part in parts):
            return {"literal": "".join(parts)}
        return {"format": parts}


def what_it_holds(held: str) -> str:
    return {
        "handle": "a started call",
        "handles": "a list of started calls",
        "error": "a caught error",
        "value": "a value",
        "param": "a parameter",
    }[held]
