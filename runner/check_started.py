"""Started calls as values, for the loader (issue 10, "Tasks as values").

A name bound by ``start`` holds a started call: a Task in Python, a Promise in
JavaScript. Both languages pass them around as values; the scenario language keeps them
apart from plain values, so that every program it writes is valid in both:

- ``set: jobs`` with ``value: [$a, $b]`` binds a list of started calls;
- ``all``, ``race``, ``any`` and ``all_settled`` take such a list in place of their
  calls: ``all: [$a, $b]``, ``all: $jobs``, ``all: []`` (the IR's ``over``);
- a started call, or a list of them, is an argument of a function, which awaits that
  parameter or hands it to one of those steps. Every call of the function is held to
  what the function does with the parameter once all bodies are read
  (:meth:`StartedChecker.check_started_params`), since a function may be read before
  its callers.

A plain value never takes a started call's place, but in the list an ``all``, ``race``,
``any`` or ``all_settled`` step writes out: ``all: [$job, 5]``. ``Promise.all`` takes
the value as it is (a promise fulfilled with it); ``asyncio.gather`` and ``asyncio.wait``
refuse one (``TypeError: An asyncio.Future, a coroutine or an awaitable is required``),
so the IR marks it ``{"resolved": value}`` and the Python program hands them a future
already done with it. Anywhere else (a list kept in a name, an awaited parameter, a
``wait``) a plain value is refused: ``await 5`` is a TypeError in Python, where
JavaScript passes the value through.
"""

from __future__ import annotations

import re

import yaml

from .check_values import REFERENCE, Scope, ValueChecker
from .yaml_nodes import describe, position

PLAIN_VALUES_TAKEN = ("all", "race", "any", "all_settled")
"""The fan-outs whose written list may hold plain values among its started calls."""

HANDLE_KINDS = ("handle", "handles")
"""What a name may hold that is no plain value: one started call, or a list of them."""

Param = tuple[str | None, str]
"""A parameter: its function (None: main, which has none) and its name."""

Given = str | Param
"""What an argument is: "handle", "handles", "empty", "value", or a parameter passed on."""


class StartedChecker(ValueChecker):
    """Reads lists of started calls, fan-outs over them, and started calls as arguments."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.params_of: dict[str, list[str]] = {}  # function -> its parameters
        # Each argument of a call of a function: (callee, index, "handle" | "handles" | "value", node).
        self.function_args: list[tuple[str, int, Given, yaml.Node]] = []

    def started_reference(self, node: yaml.Node, scope: Scope) -> tuple[str, str] | None:
        """``$name`` of a started call (``handle``), of a list of them (``handles``), or of a
        parameter of the function (``param``, which may take either); None for anything else."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            return None
        reference = REFERENCE.match(node.value)
        if not reference or reference.group(2):
            return None
        name = reference.group(1)
        held = scope.holding(name)
        if held in HANDLE_KINDS:
            return name, str(held)
        if name in scope.params and held is not None:
            return name, "param"
        return None

    def definitely_started(self, node: yaml.Node, name: str, scope: Scope) -> bool:
        if scope.definite is not None and name not in scope.definite:
            self.error(node, f"'${name}' may not be started here: some paths to this step do not start it")
            return False
        return True

    def started_list(self, node: yaml.Node, head: str, scope: Scope, calls_too: bool = True) -> dict | None:
        """The ``over`` of a fan-out, an expression of a list of started calls:
        ``[$a, $b]`` (a list), ``[]`` (an empty one), or ``$jobs`` (a name holding one)."""
        if isinstance(node, yaml.ScalarNode):
            found = self.started_reference(node, scope)
            if found is None or found[1] == "handle":
                shown = f"'{node.value}', one started call" if found is not None else self.shown(node, scope)
                self.error(
                    node,
                    f"{head} takes a list: calls ({{call: NAME}}), started calls ([$a, $b]) or a name holding a "
                    f"list of started calls, not {shown}",
                )
                return None
            name, held = found
            if held == "param":
                self.param_uses.append((scope.function, name, "handles", node))
            return {"ref": name} if self.definitely_started(node, name, scope) else None
        items: list[dict] = []
        for item in self.sequence(node, head) or []:
            found = self.started_reference(item, scope)
            if found is None and head in PLAIN_VALUES_TAKEN and self.plain_item(item, scope):
                value = self.expr(item, scope)
                if value is None:
                    return None
                items.append({"resolved": value})
                continue
            if found is None or found[1] == "handles":
                takes = f"{head} takes started calls ('$name' of a start step) or calls ({{call: NAME}})"
                if head in PLAIN_VALUES_TAKEN:
                    takes = f"{head} takes started calls ('$name' of a start step), values, or calls ({{call: NAME}}) alone"
                if not calls_too:
                    takes = "a list of started calls holds started calls only ('$name' of a start step)"
                self.error(item, f"{takes}, not {self.shown(item, scope)}")
                return None
            name, held = found
            if held == "param":
                self.param_uses.append((scope.function, name, "handle", item))
            if not self.definitely_started(item, name, scope):
                return None
            items.append({"ref": name})
        return {"list": items} if items else {"literal": []}

    def plain_item(self, node: yaml.Node, scope: Scope) -> bool:
        """Whether a node of a fan-out's list is a plain value: not a call, and no name in
        it holds a started call (``$jobs[0]`` is one, which gather would take as a value)."""
        if isinstance(node, yaml.MappingNode) and any(getattr(key, "value", None) == "call" for key, _ in node.value):
            return False
        for child in _scalars(node):
            for reference in REFERENCE_ANYWHERE.finditer(child):
                if scope.holding(reference.group(1)) in HANDLE_KINDS or reference.group(1) in scope.params:
                    return False
        return True

    def shown(self, node: yaml.Node, scope: Scope) -> str:
        """What a node that is no started call is, for a message."""
        if isinstance(node, yaml.MappingNode) and any(getattr(key, "value", None) == "call" for key, _ in node.value):
            return "a call: start it first ('start: NAME' with 'as: NAME'), or list calls only"
        if isinstance(node, yaml.SequenceNode) and not self.plain_item(node, scope):
            return "a list holding started calls: write them in the fan-out's own list"
        if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str):
            reference = REFERENCE.match(node.value)
            if reference and reference.group(2) and scope.holding(reference.group(1)) == "handles":
                return (
                    f"'{node.value}', one of a list of started calls: give the list ('${reference.group(1)}') "
                    "or a started call by its own name"
                )
            if reference and not reference.group(2):
                held = scope.holding(reference.group(1))
                if held == "handles":
                    return f"'{node.value}', a list of started calls (write '{node.value}' alone, not in a list)"
                if held is not None:
                    return f"'{node.value}', a plain value: asyncio.gather and asyncio.wait refuse one"
        return f"{describe(node)}: asyncio.gather and asyncio.wait refuse a plain value"

    def argument(self, item: yaml.Node, scope: Scope) -> tuple[dict | None, Given]:
        """An argument of a call, and what it is: a started call or a list of them
        (``$name``, or a list ``[$a, $b]``), a parameter passed on (``(function, param)``:
        it is what the callee takes), an empty list (``empty``: either), or a value."""
        found = self.started_reference(item, scope)
        if found is not None and found[1] in HANDLE_KINDS:
            name, held = found
            return ({"ref": name} if self.definitely_started(item, name, scope) else None), held
        if found is not None:
            return {"ref": found[0]}, (scope.function, found[0])
        if isinstance(item, yaml.SequenceNode):
            if not item.value:
                return {"literal": []}, "empty"  # an empty list: of values, or of started calls
            first = self.started_reference(item.value[0], scope)
            if first is not None and first[1] == "handle":
                return self.started_list(item, "set", scope, calls_too=False), "handles"
        return self.expr(item, scope), "value"

    def check_started_params(self) -> None:
        """Every function's parameters against its calls, once every body is read: a
        parameter awaited (or given to a fan-out) takes a started call (or a list of them)
        at every call, and is used as nothing else. A parameter passed on as an argument
        is used as what the callee's parameter is."""
        uses: dict[Param, tuple[str, yaml.Node]] = {}
        values: dict[Param, yaml.Node] = {}
        for function, param, use, node in self.param_uses:
            key = (function, param)
            if use == "value":
                values.setdefault(key, node)
            elif key not in uses:
                uses[key] = (use, node)
            elif uses[key][0] != use:
                line = position(uses[key][1])[0]
                self.error(node, f"'${param}' is used as {_what(uses[key][0])} at line {line}; here as {_what(use)}")
        passed_on = [
            (callee, index, given, node) for callee, index, given, node in self.function_args if isinstance(given, tuple)
        ]
        for _ in range(len(passed_on)):  # a chain of calls passes a kind on at most once per argument
            for callee, index, passer, node in passed_on:
                target: Param = (callee, self.params_of[callee][index])
                if target in uses and passer not in uses:
                    uses[passer] = (uses[target][0], node)
        for callee, index, passer, node in passed_on:
            target = (callee, self.params_of[callee][index])
            if target in values and target not in uses:
                values.setdefault(passer, node)
        for key, (use, node) in uses.items():
            if key in values:
                line = position(values[key])[0]
                self.error(
                    node,
                    f"'${key[1]}' is used as a value at line {line}; a parameter that takes {_what(use)} is only "
                    "awaited, given to all, race, any or all_settled, or passed on",
                )
        for callee, index, given, node in self.function_args:
            param = self.params_of[callee][index]
            kind = uses.get(given, ("value", None))[0] if isinstance(given, tuple) else given
            expected = uses.get((callee, param), ("value", None))[0]
            if kind == expected or (kind == "empty" and expected != "handle"):
                continue
            if kind != "value" and expected == "value" and (callee, param) not in values:
                continue  # a started call given to a parameter the function never reads
            if expected == "value":
                self.error(node, f"'{callee}' uses its parameter '{param}' as a value, not {_what(kind)}")
            else:
                verb = "awaits" if expected == "handle" else "waits for"
                self.error(node, f"'{callee}' {verb} its parameter '{param}': pass {_what(expected)}, not {describe(node)}")


def _what(kind: str) -> str:
    return {"handle": "a started call", "handles": "a list of started calls", "value": "a value"}[kind]


REFERENCE_ANYWHERE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
"""A ``$name`` anywhere in a string: a reference, or one inside a format or an index."""


def _scalars(node: yaml.Node) -> list[str]:
    """The text of every scalar in a node, at any depth."""
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [text for item in node.value for text in _scalars(item)]
    if isinstance(node, yaml.MappingNode):
        return [text for key, value in node.value for text in (*_scalars(key), *_scalars(value))]
    return []
