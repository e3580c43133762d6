"""Block step checks for the loader: the rules of the steps that hold step lists.

try (with its catch and finally), if, repeat, timeout, for_each and using, and break,
which leaves a for_each. A block may bind a name for itself (a catch's error, a
repeat's counter, a for_each's value, a using's resource value); the scope keeps such a
name fixed inside its block and ended after it.
"""

from __future__ import annotations

import yaml

from asyncparity_python.ir_steps import walk

from .check_steps import StepChecker
from .check_values import Scope, meet
from .diagnostics import did_you_mean
from .names import ERROR_KIND
from .yaml_nodes import MISSING, Missing

CANCELLED = "CancelledError"
"""The kit's name for cancellation in a catch: asyncio.CancelledError, or an AbortError in JavaScript."""
MAX_REPEAT = 10_000
TIMEOUT_IDIOMS = ("signal", "race")


class BlockStepChecker(StepChecker):
    """Adds the rules of the steps that hold blocks."""

    def step_try(self, entries: dict, scope: Scope, where: str) -> dict | None:
        before = scope.snapshot()
        body = self.steps(entries["try"][1], scope, where)
        after = scope.definite
        catch = None
        if "catch" in entries:
            scope.definite = None if before is None else set(before)  # an error may come before any binding
            catch = self.catch(entries["catch"][1], scope, where)
            after = meet(after, scope.definite)
        final = None
        if "finally" in entries:
            scope.definite = None if before is None else set(before)
            final = self.steps(entries["finally"][1], scope, where)
            bound_in_finally = set() if scope.definite is None or before is None else scope.definite - before
            after = None if scope.definite is None or after is None else after | bound_in_finally
        scope.definite = after
        if "catch" not in entries and "finally" not in entries:
            self.error(entries["try"][0], "a try needs a catch, a finally, or both")
            return None
        return {"step": "try", "body": body, "catch": catch, "finally": final}

    def catch(self, node: yaml.Node, scope: Scope, where: str) -> dict | None:
        if isinstance(node, yaml.SequenceNode):
            return {"kinds": [], "bind": None, "body": self.steps(node, scope, where)}
        entries = self.mapping(node, "catch (a list of steps, or kind / as / steps)")
        if entries is None:
            return None
        self.known_keys(entries, ("kind", "as", "steps"), "catch")
        kinds: list[str] = []
        if "kind" in entries:
            kind_node = entries["kind"][1]
            kind_nodes = kind_node.value if isinstance(kind_node, yaml.SequenceNode) else [kind_node]
            if not kind_nodes:
                self.error(kind_node, "catch kind: [] names no kind; leave kind out to catch every error")
            for item in kind_nodes:
                if isinstance(item, yaml.ScalarNode) and item.value == CANCELLED:
                    kinds.append(CANCELLED)  # not a scenario kind: each language's own cancellation
                    continue
                kind = self.name(item, "error kind", ERROR_KIND)
                if kind is not None:
                    kinds.append(kind)
                    self.caught.append((kind, item))
        bind = self.bind(entries, scope, "error", False)
        if "steps" not in entries:
            self.error(node, "catch needs steps")
            return None
        body = self._fixed_while(scope, bind, "the caught error", lambda: self.steps(entries["steps"][1], scope, where))
        if bind is not None:
            scope.end(bind, "the error of a catch that has ended; it exists only inside that catch's steps")
        return {"kinds": kinds, "bind": bind, "body": body}

    def _fixed_while(self, scope: Scope, name: str | None, role: str, build):
        """Build a block during which ``name`` may not be bound again."""
        if name is None or name in scope.fixed:
            return build()
        scope.fixed[name] = role
        try:
            return build()
        finally:
            del scope.fixed[name]

    def step_timeout(self, entries: dict, scope: Scope, where: str) -> dict | None:
        ms = self.integer(entries["timeout"][1], "timeout (virtual milliseconds)", 1)
        if "steps" not in entries:
            self.error(entries["timeout"][0], "timeout needs 'steps: [steps]', the block it bounds")
            return None
        idiom: str | Missing = "signal"
        if "idiom" in entries:
            idiom = self.scalar(entries["idiom"][1], "idiom", str)
            if idiom is not MISSING and idiom not in TIMEOUT_IDIOMS:
                self.error(
                    entries["idiom"][1],
                    "a timeout's idiom is 'signal' (the default: the deadline aborts every wait in "
                    "the block, as asyncio.timeout cancels it) or 'race' (JavaScript races the block against a deadline "
                    f"and does not stop it), not '{idiom}'{did_you_mean(idiom, TIMEOUT_IDIOMS)}",
                )
                idiom = MISSING
        self.blocks.append("timeout")
        try:
            body = self.steps(entries["steps"][1], scope, where)
        finally:
            self.blocks.pop()
        for step in walk(body):
            if step["step"] == "return":
                # On CPython 3.10 (asyncio.wait_for) and in JavaScript's race idiom the block
                # is a function of its own; a return in it could not leave the function
                # around it. Keep the targets honest.
                self.error(
                    entries["timeout"][0],
                    f"a timeout block cannot return (line {step['line']}); bind a name in it and return after the block",
                )
                return None
        self.note_raised("TimeoutError")
        if ms is MISSING or idiom is MISSING:
            return None
        timeout = {"step": "timeout", "ms": ms, "body": body}
        if idiom == "race":
            timeout["idiom"] = "race"
        return timeout

    def step_if(self, entries: dict, scope: Scope, where: str) -> dict | None:
        condition = self.condition(entries["if"][1], scope)
        if "then" not in entries:
            self.error(entries["if"][0], "if needs 'then: [steps]'")
            return None
        before = scope.snapshot()
        then = self.steps(entries["then"][1], scope, where)
        after_then, scope.definite = scope.definite, before
        otherwise = self.steps(entries["else"][1], scope, where) if "else" in entries else []
        scope.definite = meet(after_then, scope.definite)
        if condition is None:
            return None
        return {"step": "if", "condition": condition, "then": then, "else": otherwise}

    def step_repeat(self, entries: dict, scope: Scope, where: str) -> dict | None:
        times = self.integer(entries["repeat"][1], "repeat", 1, MAX_REPEAT)
        bind = self.bind(entries, scope, "value", False)
        if "steps" not in entries:
            self.error(entries["repeat"][0], "repeat needs 'steps: [steps]'")
            return None
        self.blocks.append("repeat")
        try:
            body = self._fixed_while(scope, bind, "the loop counter", lambda: self.steps(entries["steps"][1], scope, where))
        finally:
            self.blocks.pop()
        if bind is not None:
            # repeat runs its body at least once, so what the body binds is bound after it;
            # the counter is not (a JavaScript `for` scopes it to the loop).
            scope.end(bind, "the counter of a repeat that has ended; it exists only inside the loop")
        return None if times is MISSING else {"step": "repeat", "times": times, "bind": bind, "body": body}

    def step_for_each(self, entries: dict, scope: Scope, where: str) -> dict | None:
        call = self.call(entries["for_each"][1], entries["args"][1] if "args" in entries else None, scope, generator=True)
        if "steps" not in entries:
            self.error(entries["for_each"][0], "for_each needs 'steps: [steps]', run for each value")
            return None
        bind = self.bind(entries, scope, "value", False)
        before = scope.snapshot()
        self.blocks.append("for_each")
        try:
            body = self._fixed_while(scope, bind, "the loop variable", lambda: self.steps(entries["steps"][1], scope, where))
        finally:
            self.blocks.pop()
        # The body may run no time at all, so nothing it binds is bound after it; the loop
        # variable is not either (a JavaScript `for await (const x of ...)` scopes it).
        scope.definite = before
        if bind is not None:
            scope.end(bind, "the variable of a for_each that has ended; it exists only inside the loop")
        return None if call is None else {"step": "for_each", "call": call, "bind": bind, "body": body}

    def step_using(self, entries: dict, scope: Scope, where: str) -> dict | None:
        node = entries["using"][1]
        name = self.scalar(node, "a resource", str)
        if name is not MISSING and self.callables.get(name) != "resource":
            resources = [known for known, what in self.callables.items() if what == "resource"]
            self.error(
                node, f"unknown resource '{name}' (resources are declared under resources:){did_you_mean(name, resources)}"
            )
            name = MISSING
        args = [self.expr(item, scope) for item in (self.sequence(entries["args"][1], "args") or [])] if "args" in entries else []
        if "steps" not in entries:
            self.error(entries["using"][0], "using needs 'steps: [steps]', the block the resource is open for")
            return None
        bind = self.bind(entries, scope, "value", False)
        body = self._fixed_while(scope, bind, "the open resource", lambda: self.steps(entries["steps"][1], scope, where))
        if bind is not None:
            scope.end(bind, "the resource of a using block that has ended; it exists only inside the block")
        if name is MISSING or None in args:
            return None
        return {"step": "using", "resource": name, "args": args, "bind": bind, "body": body}

    def step_break(self, entries: dict, scope: Scope, where: str) -> dict | None:
        if not (isinstance(entries["break"][1], yaml.ScalarNode) and self.plain(entries["break"][1], "break") is True):
            self.error(entries["break"][1], "write a break as 'break: true'")
            return None
        loops = [block for block in self.blocks if block != "try"]
        if not loops or loops[-1] != "for_each":
            place = {"repeat": "a repeat (repeat has no break)", "timeout": "a timeout block"}.get(
                loops[-1] if loops else "", "no for_each"
            )
            self.error(entries["break"][0], f"break leaves a for_each; here it is inside {place}")
            return None
        scope.definite = None
        return {"step": "break"}
