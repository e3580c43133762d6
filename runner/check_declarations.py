"""Declaration checks for the loader: operations, resources, queues, events, locks, semaphores and functions.

The names a scenario declares before its steps use them: simulated operations with
their latency and scripted results, resources, queues, events, locks, semaphores, and function headers (their
parameters, whether they are generators). Every declared name is entered in
``callables`` first, so that a step may call a function declared after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from .check_blocks import BlockStepChecker
from .check_values import Scope
from .names import IDENTIFIER, camel_case
from .yaml_nodes import MISSING, Missing, with_article

OPERATION_KEYS = ("latency", "returns", "fails", "outcomes", "on_cancel")
ON_CANCEL = ("stop", "ignore")
FUNCTION_KEYS = ("params", "generator", "steps")


class DeclarationChecker(BlockStepChecker):
    """Reads the declarations, then each function body with the step rules."""

    def operations(self, node: yaml.Node) -> list[dict]:
        entries = self.mapping(node, "operations")
        operations = []
        for name, (key_node, value_node) in (entries or {}).items():
            if self.name(key_node, "operation name") is None:
                continue
            self.callables[name] = "operation"
            spec = self.mapping(value_node, f"operation '{name}'")
            if spec is None:
                continue
            self.known_keys(spec, OPERATION_KEYS, f"operation '{name}'")
            latency = self.latency(spec["latency"][1], name) if "latency" in spec else MISSING
            if "latency" not in spec:
                self.error(value_node, f"operation '{name}' needs a latency (virtual milliseconds)")
            given = [key for key in ("returns", "fails", "outcomes") if key in spec]
            if len(given) != 1:
                self.error(value_node, f"operation '{name}' needs exactly one of returns, fails or outcomes")
                continue
            if given[0] == "outcomes":
                items = self.sequence(spec["outcomes"][1], f"outcomes of '{name}'") or []
                if not items and isinstance(spec["outcomes"][1], yaml.SequenceNode):
                    self.error(spec["outcomes"][1], f"outcomes of '{name}' needs at least one outcome")
                outcomes = [self.scripted_result(item, name) for item in items]
            else:
                outcomes = [self.scripted_result_entry(given[0], spec[given[0]][1], name)]
            on_cancel: str | Missing = "stop"
            if "on_cancel" in spec:
                on_cancel = self.scalar(spec["on_cancel"][1], "on_cancel", str)
                if on_cancel is not MISSING and on_cancel not in ON_CANCEL:
                    self.error(spec["on_cancel"][1], f"on_cancel is 'stop' (the default) or 'ignore', not '{on_cancel}'")
                    on_cancel = MISSING
            if (
                latency is not MISSING
                and on_cancel is not MISSING
                and all(outcome is not None for outcome in outcomes)
                and outcomes
            ):
                operation = {"name": name, "latency": latency, "outcomes": outcomes}
                if on_cancel != "stop":
                    operation["on_cancel"] = on_cancel
                operations.append(operation)
        return operations

    def latency(self, node: yaml.Node, name: str) -> Any:
        """``latency: 30``, or ``latency: [10, 50, 20]``: one per call, the last repeating (as outcomes)."""
        if not isinstance(node, yaml.SequenceNode):
            return self.integer(node, f"latency of '{name}'", 0)
        if not node.value:
            self.error(node, f"latency of '{name}' needs at least one value; give one number for every call")
            return MISSING
        latencies = [self.integer(item, f"latency {index} of '{name}'", 0) for index, item in enumerate(node.value)]
        return MISSING if any(value is MISSING for value in latencies) else latencies

    def declarations(
        self, node: yaml.Node, plural: str, kind: str, keys: tuple[str, ...]
    ) -> Iterator[tuple[str, yaml.Node, yaml.Node, dict]]:
        """The entries of a top-level map of named things (``queues:``, ``events:``, ...):
        each with a valid name not already taken and a mapping holding only ``keys``; the
        caller reads its keys and registers the name in ``callables`` before the next."""
        for name, (key_node, value_node) in (self.mapping(node, plural) or {}).items():
            if self.name(key_node, f"{kind} name") is None:
                continue
            if name in self.callables:
                self.error(key_node, f"'{name}' is already {with_article(self.callables[name])}")
                continue
            spec = self.mapping(value_node, f"{kind} '{name}'")
            if spec is None:
                continue
            self.known_keys(spec, keys, f"{kind} '{name}'")
            yield name, key_node, value_node, spec

    def resource_declarations(self, node: yaml.Node) -> list[dict]:
        """``resources: {connection: {open: 5, close: 3}}``: things opened and closed around a block."""
        resources = []
        for name, _, value_node, spec in self.declarations(node, "resources", "resource", ("open", "close")):
            missing = [key for key in ("open", "close") if key not in spec]
            if missing:
                self.error(value_node, f"resource '{name}' needs {' and '.join(missing)} (virtual milliseconds each takes)")
                continue
            opening = self.integer(spec["open"][1], f"open of '{name}'", 0)
            closing = self.integer(spec["close"][1], f"close of '{name}'", 0)
            if opening is MISSING or closing is MISSING:
                continue
            self.callables[name] = "resource"
            resources.append({"name": name, "open": opening, "close": closing})
        return resources

    def queue_declarations(self, node: yaml.Node) -> list[dict]:
        """``queues: {jobs: {size: 2}}``: module-level queues, shared by every function."""
        queues = []
        for name, _, _, spec in self.declarations(node, "queues", "queue", ("size",)):
            size = self.integer(spec["size"][1], f"size of queue '{name}'", 1) if "size" in spec else None
            if size is MISSING:
                continue
            self.callables[name] = "queue"
            queues.append({"name": name, "size": size})
        return queues

    def event_declarations(self, node: yaml.Node) -> list[dict]:
        """``events: {ready: {}}``: module-level asyncio.Event objects, shared by every
        function, declared as queues are (an object of the program, not a value)."""
        events = []
        for name, *_ in self.declarations(node, "events", "event", ()):
            self.callables[name] = "event"
            events.append({"name": name})
        return events

    def lock_declarations(self, node: yaml.Node) -> list[dict]:
        """``locks: {guard: {}}``: module-level asyncio.Lock objects, declared as events are
        (an object the functions share, not a value); a ``hold`` step holds one."""
        locks = []
        for name, *_ in self.declarations(node, "locks", "lock", ()):
            self.callables[name] = "lock"
            locks.append({"name": name})
        return locks

    def semaphore_declarations(self, node: yaml.Node) -> list[dict]:
        """``semaphores: {slots: {value: 2}}``: module-level asyncio.Semaphore objects, held
        by a ``hold`` step as a lock is; ``value`` (asyncio's name) is how many hold it at
        once, required, as a semaphore that starts at 0 could only deadlock here (no step
        releases without having acquired)."""
        semaphores = []
        for name, key_node, _, spec in self.declarations(node, "semaphores", "semaphore", ("value",)):
            if "value" not in spec:
                self.error(key_node, f"semaphore '{name}' needs 'value: N', how many may hold it at once")
                continue
            value = self.integer(spec["value"][1], f"value of semaphore '{name}'", 1)
            if value is MISSING:
                continue
            self.callables[name] = "semaphore"
            semaphores.append({"name": name, "value": value})
        return semaphores

    def function_headers(self, node: yaml.Node) -> list[tuple[str, list[str], yaml.Node | None]]:
        entries = self.mapping(node, "functions")
        headers = []
        for name, (key_node, value_node) in (entries or {}).items():
            if self.name(key_node, "function name") is None:
                continue
            if name in self.callables:
                self.error(key_node, f"'{name}' is already {with_article(self.callables[name])}")
                continue
            spec = self.mapping(value_node, f"function '{name}'")
            if spec is None:
                continue
            self.known_keys(spec, FUNCTION_KEYS, f"function '{name}'")
            params: list[str] = []
            if "params" in spec:
                for item in self.sequence(spec["params"][1], f"params of '{name}'") or []:
                    param = self.name(item, "parameter")
                    if param is None:
                        continue
                    if param in params:
                        self.error(item, f"parameter '{param}' appears twice")
                    elif param in self.callables or param in (entries or {}):
                        self.error(item, f"parameter '{param}' would hide the operation or function of that name")
                    elif clash := next(
                        (
                            other
                            for other in [*self.callables, *(entries or {}), *params]
                            if other != param and camel_case(other) == camel_case(param)
                        ),
                        None,
                    ):
                        self.error(
                            item,
                            f"parameter '{param}' and '{clash}' are both '{camel_case(param)}' in JavaScript; choose another name",
                        )
                    else:
                        params.append(param)
            if name in self.bound and "steps" in spec:
                self.error(spec["steps"][0], f"'{name}' is bound to your code (bind.functions); it has no steps")
            elif name not in self.bound and "steps" not in spec:
                self.error(
                    value_node, f"function '{name}' needs steps, or bind: naming it in bind.functions to run your own code"
                )
            if "generator" in spec and self.scalar(spec["generator"][1], "generator", bool) is True:
                if name in self.bound:
                    self.error(spec["generator"][0], f"'{name}' is bound to your code (bind.functions); it cannot be a generator")
                self.generators.add(name)
            self.callables[name] = "function"
            self.arity[name] = len(params)
            headers.append((name, params, spec["steps"][1] if "steps" in spec else None))
        return headers

    def check_javascript_names(self, entries: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        """Two scenario names with one camelCase spelling would collide in JavaScript."""
        spelled: dict[str, str] = {}
        for section in ("operations", "functions"):
            if section not in entries or not isinstance(entries[section][1], yaml.MappingNode):
                continue
            for key_node, _ in entries[section][1].value:
                name = key_node.value
                if not isinstance(name, str) or not IDENTIFIER.match(name):
                    continue  # already reported as a bad name
                camel = camel_case(name)
                if camel in spelled and spelled[camel] != name:
                    self.error(key_node, f"'{name}' and '{spelled[camel]}' are both '{camel}' in JavaScript; rename one")
                spelled.setdefault(camel, name)

    def function(self, name: str, params: list[str], body_node: yaml.Node | None) -> dict:
        self.in_generator, self.blocks = name in self.generators, []
        self.params_of[name] = params
        body = self.steps(body_node, Scope(params, name), f"function '{name}'") if body_node is not None else []
        self.in_generator = False
        function: dict[str, Any] = {"name": name, "params": params, "body": body}
        if name in self.bound:
            function["bound"] = True  # the user's code runs in its place (spec/PROTOCOL.md, "bindings")
        if name in self.generators:
            function["generator"] = True
        return function
