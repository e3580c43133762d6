"""Block step checks for the loader: the rules of the steps that hold step lists.

try (with its catch and finally), if, repeat, while, timeout, for_each, using and
task_group, and break and continue, which leave a loop or go on with its next round. A
block may bind a name for itself (a catch's error, a repeat's counter, a for_each's value,
a using's resource value); the scope keeps such a name fixed inside its block and ended
after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from asyncparity_python.ir_steps import STEPS, blocks, walk

from .check_steps import StepChecker
from .check_values import Scope, meet
from .diagnostics import did_you_mean
from .names import ERROR_KIND
from .yaml_nodes import MISSING, Missing, describe

CANCELLED = "CancelledError"
"""The kit's name for cancellation in a catch: asyncio.CancelledError, or an AbortError in JavaScript."""
MAX_REPEAT = 10_000
LOOPS = {"repeat", "while", "for_each"}
TIMEOUT_IDIOMS = ("signal", "race")
FOR_EACH_IDIOMS = ("async_for", "aclosing")


def _refs(value: object) -> set[str]:
    """The names a piece of IR reads (``{"ref": name}`` at any depth, every value form
    included); a literal holds data, not names."""
    if isinstance(value, dict):
        if "literal" in value:
            return set()
        found = {value["ref"]} if isinstance(value.get("ref"), str) else set()
        return found.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


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
            self.blocks.append("finally")
            try:
                final = self.steps(entries["finally"][1], scope, where)
            finally:
                self.blocks.pop()
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
        self.known_keys(entries, ("kind", "as", "steps", "from_group"), "catch")
        from_group = False
        if "from_group" in entries:
            from_group = self.scalar(entries["from_group"][1], "from_group", bool) is True
            if from_group and "kind" not in entries:
                self.error(entries["from_group"][0], "a catch from_group names the kinds it takes out of the group: add kind")
                return None
        kinds: list[str] = []
        if "kind" in entries:
            kind_node = entries["kind"][1]
            kind_nodes = kind_node.value if isinstance(kind_node, yaml.SequenceNode) else [kind_node]
            if not kind_nodes:
                self.error(kind_node, "catch kind: [] names no kind; leave kind out to catch every error")
            for item in kind_nodes:
                if from_group and isinstance(item, yaml.ScalarNode) and item.value == CANCELLED:
                    self.error(item, "a catch from_group takes errors out of a group; a cancellation is never in one")
                    continue
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
        if from_group and bind is not None:
            self.group_errors.append(bind)
        try:
            body = self._fixed_while(scope, bind, "the caught error", lambda: self.steps(entries["steps"][1], scope, where))
        finally:
            if from_group and bind is not None:
                self.group_errors.pop()
        if bind is not None:
            scope.end(bind, "the error of a catch that has ended; it exists only inside that catch's steps")
        if not from_group:
            return {"kinds": kinds, "bind": bind, "body": body}
        for step in _outside_loops(body):
            if step["step"] in ("return", "break", "continue"):
                # CPython: "'break', 'continue' and 'return' cannot appear in an except* block".
                self.error(
                    entries["from_group"][0],
                    f"a catch from_group cannot {step['step']} (line {step['line']}): Python's except* block may not; "
                    "bind a name in it and act on it after the try",
                )
                return None
        return {"kinds": kinds, "bind": bind, "body": body, "from_group": True}

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
        times = self.repeat_count(entries["repeat"][1], scope)
        bind = self.bind(entries, scope, "value", False)
        if "steps" not in entries:
            self.error(entries["repeat"][0], "repeat needs 'steps: [steps]'")
            return None
        before = scope.snapshot()
        # The names a computed count reads stay as they are in the body: Python's range()
        # reads the count once, a JavaScript `for` compares with it before every round.
        counted = sorted(_refs(times) - set(scope.fixed)) if isinstance(times, dict) else []
        for name in counted:
            scope.fixed[name] = "read by the repeat's count"
        self.blocks.append("repeat")
        try:
            body = self._fixed_while(scope, bind, "the loop counter", lambda: self.steps(entries["steps"][1], scope, where))
        finally:
            self.blocks.pop()
            for name in counted:
                del scope.fixed[name]
        if not isinstance(times, int) or self.leaves_early(body):
            # A computed count may be 0 or less, and a break or continue may skip the rest
            # of a round: what the body binds may be unbound after the loop.
            scope.definite = before
        if bind is not None:
            # A literal count runs the body at least once, so what the body binds is bound
            # after it; the counter is not (a JavaScript `for` scopes it to the loop).
            scope.end(bind, "the counter of a repeat that has ended; it exists only inside the loop")
        return None if times is MISSING else {"step": "repeat", "times": times, "bind": bind, "body": body}

    def repeat_count(self, node: yaml.Node, scope: Scope) -> int | dict | Missing:
        """A repeat's count: an integer literal from 1 to MAX_REPEAT, or a value computed
        when the step runs (a name, a calc), which no one checks then: see LANGUAGE.md."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            return self.integer(node, "repeat", 1, MAX_REPEAT)
        count = self.expr(node, scope)
        if count is None:
            return MISSING
        if "literal" in count or "format" in count or "list" in count or "object" in count:
            self.error(node, f"repeat takes a count: an integer or a value computing one ($n, a calc), not {describe(node)}")
            return MISSING
        return count

    @staticmethod
    def leaves_early(body: list[dict]) -> bool:
        """Whether a loop body holds a break or continue of its own loop (not of a loop
        nested in it), which may skip the rest of a round."""
        for step in body:
            if step["step"] in ("break", "continue"):
                return True
            if not STEPS[step["step"]]["loops"] and any(BlockStepChecker.leaves_early(block) for block, _ in blocks(step)):
                return True
        return False

    def step_while(self, entries: dict, scope: Scope, where: str) -> dict | None:
        condition = self.condition(entries["while"][1], scope, "while")
        if "steps" not in entries:
            self.error(entries["while"][0], "while needs 'steps: [steps]', the block it runs while the condition holds")
            return None
        before = scope.snapshot()
        self.blocks.append("while")
        try:
            body = self.steps(entries["steps"][1], scope, where)
        finally:
            self.blocks.pop()
        # The body may run no time at all: nothing it binds is bound after it.
        scope.definite = before
        return None if condition is None else {"step": "while", "condition": condition, "body": body}

    def step_for_each(self, entries: dict, scope: Scope, where: str) -> dict | None:
        call = self.call(entries["for_each"][1], entries["args"][1] if "args" in entries else None, scope, generator=True)
        if "steps" not in entries:
            self.error(entries["for_each"][0], "for_each needs 'steps: [steps]', run for each value")
            return None
        idiom: str | Missing = "async_for"
        if "idiom" in entries:
            # The Python rendering (issue 10): a plain async for, whose generator a break
            # leaves to asyncio's finalizer, or one inside contextlib.aclosing, which closes
            # it at the break, as JavaScript's for await does.
            idiom = self.scalar(entries["idiom"][1], "idiom", str)
            if idiom is not MISSING and idiom not in FOR_EACH_IDIOMS:
                self.error(
                    entries["idiom"][1],
                    "a for_each's idiom is 'async_for' (the default: Python's plain async for) or 'aclosing' "
                    f"(async for inside contextlib.aclosing), not '{idiom}'{did_you_mean(idiom, FOR_EACH_IDIOMS)}",
                )
                idiom = MISSING
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
        if call is None or idiom is MISSING:
            return None
        loop = {"step": "for_each", "call": call, "bind": bind, "body": body}
        if idiom == "aclosing":
            loop["idiom"] = "aclosing"
        return loop

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

    def step_hold(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `- hold: guard` with `steps:`: `async with guard:` on a lock or a semaphore (issue
        # 10). asyncio documents `async with` as the preferred way to use both, so there is
        # no acquire or release step.
        node = entries["hold"][1]
        name = self.scalar(node, "a lock or semaphore", str)
        if name is not MISSING and self.callables.get(name) not in ("lock", "semaphore"):
            held = [known for known, what in self.callables.items() if what in ("lock", "semaphore")]
            self.error(
                node,
                f"unknown lock or semaphore '{name}' (they are declared under locks: and semaphores:){did_you_mean(name, held)}",
            )
            name = MISSING
        if "steps" not in entries:
            self.error(entries["hold"][0], "hold needs 'steps: [steps]', the block that runs holding it")
            return None
        body = self.steps(entries["steps"][1], scope, where)
        if name is MISSING:
            return None
        return {"step": "hold", "sync": name, "body": body}

    def step_break(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.loop_jump(entries, scope, "break")

    def step_continue(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.loop_jump(entries, scope, "continue")

    def loop_jump(self, entries: dict, scope: Scope, head: str) -> dict | None:
        """A break or a continue: written ``break: true``, inside a repeat, a while or a
        for_each of its own function (not in a timeout block or a finally block inside one)."""
        if not (isinstance(entries[head][1], yaml.ScalarNode) and self.plain(entries[head][1], head) is True):
            self.error(entries[head][1], f"write a {head} as '{head}: true'")
            return None
        # The innermost of the loops, timeout blocks and finally blocks around it (a finally
        # counts only inside a loop: outside every loop the message is that there is none).
        around = self.blocks if LOOPS & set(self.blocks) else [block for block in self.blocks if block != "finally"]
        innermost = around[-1] if around else None
        if innermost in (None, "timeout", "task_group", "as_completed"):
            # A timeout block is a function of its own on CPython 3.10 (asyncio.wait_for) and
            # in JavaScript's race idiom: a break there could not reach the loop around it. A
            # task_group waits for its tasks after its body in JavaScript (Promise.all), which
            # a jump would skip; as_completed is Python's own for loop, not the one around it.
            place = {
                None: "no loop",
                "timeout": "a timeout block (a function of its own on CPython 3.10)",
                "task_group": "a task_group (it waits for its tasks at its end)",
                "as_completed": f"an as_completed loop (it has no {head})",
            }[innermost]
            self.error(entries[head][0], f"{head} belongs in a loop (repeat, while or for_each); here it is inside {place}")
            return None
        if innermost == "finally":
            # Both languages let it drop the error in flight; CPython 3.14 warns (PEP 765), ruff says B012.
            self.error(
                entries[head][0],
                f"a {head} cannot leave a finally block: it would drop the error in flight (PEP 765); "
                f"put the {head} after the try",
            )
            return None
        scope.definite = None
        return {"step": head}

    def step_task_group(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `- task_group: [steps]`: asyncio.TaskGroup's body. Every `start` in it (outside
        # a task_group nested in it) starts a task of the group, which waits for them all.
        node = entries["task_group"][1]
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "task_group takes a list of steps, the group's body, whose start steps start its tasks")
            return None
        self.blocks.append("task_group")
        try:
            body = self.steps(node, scope, where)
        finally:
            self.blocks.pop()
        for step in walk(body):
            if step["step"] == "return":
                # JavaScript waits for the group after its body (Promise.all); a return in
                # the body would leave without waiting, where Python's `async with` waits.
                self.error(
                    entries["task_group"][0],
                    f"a task_group body cannot return (line {step['line']}); bind a name in it and return after the group",
                )
                return None
        if not any(step["step"] == "start" for step in group_tasks(body)):
            self.error(entries["task_group"][0], "a task_group starts its tasks with start steps; this body has none")
            return None
        return {"step": "task_group", "body": body}

    def step_as_completed(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `for finished in asyncio.as_completed(calls): value = await finished`: the block
        # runs once a call, in the order they complete, with `as` bound to that call's value.
        calls = self.branches(entries, "as_completed", scope)
        if "steps" not in entries:
            self.error(entries["as_completed"][0], "as_completed needs 'steps: [steps]', run for each value as it comes")
            return None
        bind = self.bind(entries, scope, "value", False)
        self.blocks.append("as_completed")
        try:
            body = self._fixed_while(scope, bind, "the loop variable", lambda: self.steps(entries["steps"][1], scope, where))
        finally:
            self.blocks.pop()
        if bind is not None:
            # The block runs at least twice (two calls or more): what it binds is bound
            # after it, as after a repeat; its variable is not (JavaScript's const is the loop's).
            scope.end(bind, "the variable of an as_completed loop that has ended; it exists only inside the loop")
        return None if calls is None else {"step": "as_completed", "calls": calls, "bind": bind, "body": body}


def _outside_loops(steps: list[dict]) -> Iterator[dict]:
    """The steps of a block, nested ones too, but not those inside a loop in it (a break
    there leaves that loop)."""
    for step in steps:
        yield step
        if step["step"] not in LOOPS:
            for block, _ in blocks(step):
                yield from _outside_loops(block)
        else:
            yield from (inner for inner in walk(step["body"]) if inner["step"] == "return")


def group_tasks(steps: list[dict]) -> Iterator[dict]:
    """The steps of a task_group body that belong to it: those of nested blocks too, but
    not those of a task_group nested in it (its starts are that group's)."""
    for step in steps:
        yield step
        if step["step"] != "task_group":
            for block, _ in blocks(step):
                yield from group_tasks(block)
