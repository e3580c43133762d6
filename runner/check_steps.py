"""Step checks for the loader: the steps of a function body, one rule a step.

:meth:`StepChecker.step` reads a step's head key, checks the keys beside it against the
step table (spec/ir-steps.json's ``yaml``) and hands it to the step's rule, the method
``step_<name>``, which builds the step's IR. The steps that hold blocks have their rules
in runner/check_blocks.py.
"""

from __future__ import annotations

import yaml

from asyncparity_python.ir_steps import STEPS

from .check_started import StartedChecker
from .check_values import REFERENCE, Scope, what_it_holds
from .diagnostics import did_you_mean
from .model import MAX_BLOCK_DEPTH, MAX_STEPS
from .names import ERROR_KIND, camel_case
from .yaml_nodes import MISSING, describe, position, with_article

WAIT_UNTIL = ("first_completed", "first_exception", "all_completed")
"""A wait's ``until``: asyncio.wait's return_when (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)."""

STEP_MODIFIERS: dict[str, tuple[str, ...]] = {name: tuple(row["yaml"]) for name, row in STEPS.items()}
"""Each step is a mapping with exactly one head key (the step's name); the other keys it may carry."""


class StepChecker(StartedChecker):
    """Reads step lists into IR steps."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.arity: dict[str, int] = {}
        self.caught: list[tuple[str, yaml.Node]] = []
        self.generators: set[str] = set()
        self.bound: set[str] = set()  # the functions bound to the user's code (bind.functions)
        # Where the step being read sits: in a generator function, and inside which loops,
        # timeout blocks and finally blocks (innermost last), for yield, break and continue.
        self.in_generator = False
        self.blocks: list[str] = []
        # The errors bound by the catches from_group around the step being read.
        self.group_errors: list[str] = []
        # Steps holding steps around the step being read, in its function; steps read so far.
        self.block_depth = 0
        self.step_count = 0

    def steps(self, node: yaml.Node, scope: Scope, where: str) -> list[dict]:
        items = self.sequence(node, f"the steps of {where}")
        steps = []
        for item in items or []:
            self.step_count += 1
            if self.step_count > MAX_STEPS:
                if self.step_count == MAX_STEPS + 1:
                    self.error(
                        item,
                        f"more than {MAX_STEPS} steps: a scenario holds at most {MAX_STEPS} (main and its functions "
                        "together), and the loader reads no step after this one",
                    )
                break
            step = self.step(item, scope, where)
            if step is not None:
                steps.append(step)
        return steps

    def step(self, node: yaml.Node, scope: Scope, where: str) -> dict | None:
        entries = self.mapping(node, "a step")
        if entries is None:
            return None
        heads = [key for key in entries if key in STEP_MODIFIERS]
        # A key that is also a step's name is that step's modifier when the step is here
        # too: a wait's `timeout: 50` is asyncio.wait's timeout, not a timeout step.
        heads = [key for key in heads if not any(key in STEP_MODIFIERS[other] for other in heads if other != key)] or heads
        if not heads:
            first_key, first_key_node = next(iter((key, key_node) for key, (key_node, _) in entries.items()), (None, node))
            if first_key is None:
                self.error(node, "an empty step: a step starts with one of " + ", ".join(STEP_MODIFIERS))
            else:
                self.error(first_key_node, f"unknown step '{first_key}'{did_you_mean(first_key, STEP_MODIFIERS)}")
            return None
        if len(heads) > 1:
            self.error(entries[heads[1]][0], f"a step does one thing: this one has both '{heads[0]}' and '{heads[1]}'")
            return None
        head = heads[0]
        self.known_keys(
            {key: value for key, value in entries.items() if key != head},
            STEP_MODIFIERS[head],
            f"{'an' if head[0] in 'aeiou' else 'a'} '{head}' step",
        )
        line = position(node)[0]
        build = getattr(self, f"step_{head}")
        holds_steps = bool(STEPS[head]["blocks"])
        if holds_steps and self.block_depth >= MAX_BLOCK_DEPTH:
            self.error(
                node,
                f"this '{head}' is inside {MAX_BLOCK_DEPTH} blocks: steps that hold steps (try, if, repeat, while, timeout, "
                f"for_each, using) nest at most {MAX_BLOCK_DEPTH} deep in a function, as CPython compiles at most "
                "20 nested blocks; move the inner steps into a function of their own",
            )
            return None
        self.block_depth += holds_steps
        try:
            step = build(entries, scope, where)
        finally:
            self.block_depth -= holds_steps
        if step is not None:
            step["line"] = line
        return step

    def bind(self, entries: dict, scope: Scope, holds: str, required: bool, step_node: yaml.Node | None = None) -> str | None:
        """The name after ``as``, entered into the scope as a value, error or handle."""
        if "as" not in entries:
            if required and step_node is not None:
                self.error(step_node, "this step needs 'as: NAME' to name what it starts")
            return None
        node = entries["as"][1]
        name = self.name(node, "name")
        if name is None:
            return None
        if name in self.callables:
            self.error(node, f"'{name}' is already {with_article(self.callables[name])}; choose another name")
            return None
        if name in scope.fixed:
            self.error(node, f"'{name}' is {scope.fixed[name]} in this block; bind another name")
            return None
        camel = camel_case(name)
        clash = next((other for other in [*scope.holds, *self.callables] if other != name and camel_case(other) == camel), None)
        if clash is not None:
            self.error(node, f"'{name}' and '{clash}' are both '{camel}' in JavaScript; choose another name")
            return None
        previous = scope.holding(name)
        if previous is not None and previous != holds and not {previous, holds} <= {"value", "param"}:
            self.error(node, f"'{name}' already holds {what_it_holds(previous)}; choose another name")
            return None
        scope.holds[name] = holds
        scope.params.discard(name)  # bound again: no longer what the caller passed
        scope.ended.pop(name, None)
        if scope.definite is not None:
            scope.definite.add(name)
        return name

    def call(self, name_node: yaml.Node, args_node: yaml.Node | None, scope: Scope, generator: bool = False) -> dict | None:
        callee = self.scalar(name_node, "what to call", str)
        if callee is MISSING:
            return None
        declared = self.callables.get(callee)
        if declared not in ("operation", "function") or (callee in self.generators) != generator:
            hint = did_you_mean(callee, [name for name, known in self.callables.items() if known in ("operation", "function")])
            not_callable: dict[str | None, str] = {
                "queue": f"'{callee}' is a queue; use put and get with it",
                "resource": f"'{callee}' is a resource; open it with a 'using' step",
                "event": f"'{callee}' is an event; use set_event, wait_event, clear_event and is_set with it",
                "lock": f"'{callee}' is a lock; hold it with a 'hold' step",
                "semaphore": f"'{callee}' is a semaphore; hold it with a 'hold' step",
            }
            what = not_callable.get(declared, f"unknown operation or function '{callee}'{hint}")
            if declared in ("function", "operation") and generator:
                what = f"'{callee}' is not a generator; for_each consumes a function with generator: true"
            elif declared == "function":
                what = f"'{callee}' is a generator; consume its values with 'for_each: {callee}'"
            self.error(name_node, what)
            return None
        args = []
        given = []
        if args_node is not None:
            for item in self.sequence(args_node, "args") or []:
                arg, kind = self.argument(item, scope)
                if kind in ("handle", "handles") and declared == "operation":
                    self.error(item, f"an operation takes values, not {what_it_holds(str(kind))}")
                    arg = None
                args.append(arg)
                given.append((kind, item))
        if None in args:
            return None
        if self.callables[callee] == "function" and len(args) != self.arity[callee]:
            self.error(
                args_node if args_node is not None else name_node,
                f"'{callee}' takes {self.arity[callee]} argument(s), given {len(args)}",
            )
            return None
        if declared == "function":
            self.function_args.extend((callee, index, kind, item) for index, (kind, item) in enumerate(given))
        return {"callee": callee, "callee_kind": self.callables[callee], "args": args}

    def step_await(self, entries: dict, scope: Scope, where: str) -> dict | None:
        target_node = entries["await"][1]
        target = self.scalar(target_node, "what to await", str)
        if target is MISSING:
            return None
        reference = REFERENCE.match(target)
        if reference:
            handle = reference.group(1)
            if not reference.group(2) and handle in scope.params and scope.holding(handle) is not None:
                # A parameter awaited: every call must pass a started call (check_started.py).
                self.param_uses.append((scope.function, handle, "handle", target_node))
                if "args" in entries:
                    self.error(entries["args"][0], "a started call already has its arguments")
                    return None
                return {"step": "await", "handle": handle, "bind": self.bind(entries, scope, "value", False)}
            if not reference.group(2) and scope.holding(handle) == "handles":
                self.error(target_node, f"'{target}' is a list of started calls; await them with 'all: {target}'")
                return None
            if reference.group(2) or scope.holding(handle) != "handle":
                started = [name for name, held in scope.holds.items() if held == "handle"]
                self.error(
                    target_node,
                    f"'{target}' is not a started call; await a name bound by a 'start' step{did_you_mean(handle, started)}",
                )
                return None
            if scope.definite is not None and handle not in scope.definite:
                self.error(target_node, f"'{target}' may not be started here: some paths to this step do not start it")
                return None
            if "args" in entries:
                self.error(entries["args"][0], "a started call already has its arguments")
                return None
            return {"step": "await", "handle": handle, "bind": self.bind(entries, scope, "value", False)}
        call = self.call(target_node, entries["args"][1] if "args" in entries else None, scope)
        bind = self.bind(entries, scope, "value", False)
        return None if call is None else {"step": "await", "call": call, "bind": bind}

    def step_start(self, entries: dict, scope: Scope, where: str) -> dict | None:
        call = self.call(entries["start"][1], entries["args"][1] if "args" in entries else None, scope)
        bind = self.bind(entries, scope, "handle", True, entries["start"][0])
        return None if call is None or bind is None else {"step": "start", "call": call, "bind": bind}

    def step_return(self, entries: dict, scope: Scope, where: str) -> dict | None:
        if self.in_generator:
            self.error(entries["return"][0], "a generator ends by reaching its last step; it has no return")
            return None
        value = self.expr(entries["return"][1], scope)
        scope.definite = None
        return None if value is None else {"step": "return", "value": value}

    def step_throw(self, entries: dict, scope: Scope, where: str) -> dict | None:
        node = entries["throw"][1]
        spec = self.mapping(node, "throw")
        if spec is None:
            return None
        self.known_keys(spec, ("kind", "message"), "throw")
        if "kind" not in spec or "message" not in spec:
            self.error(node, "throw needs kind and message")
            return None
        kind = self.name(spec["kind"][1], "error kind", ERROR_KIND)
        message = self.expr(spec["message"][1], scope)
        if kind is None or message is None:
            return None
        self.note_raised(kind)
        scope.definite = None
        return {"step": "throw", "kind": kind, "message": message}

    def step_sleep(self, entries: dict, scope: Scope, where: str) -> dict | None:
        node = entries["sleep"][1]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            ms = self.integer(node, "sleep (virtual milliseconds)", 0)  # 0: a bare yield in asyncio, 1 ms in Node
            return None if ms is MISSING else {"step": "sleep", "ms": ms}
        ms_expr = self.expr(node, scope)  # `sleep: $delay`: the value is checked when it runs
        if ms_expr is not None and "literal" in ms_expr:
            self.error(node, f"sleep takes virtual milliseconds: an integer or a name holding one, not {describe(node)}")
            return None
        return None if ms_expr is None else {"step": "sleep", "ms": ms_expr}

    def step_set(self, entries: dict, scope: Scope, where: str) -> dict | None:
        if "value" not in entries:
            self.error(entries["set"][0], "set needs 'value: VALUE', for example {calc: [$delay, \"*\", 2]}")
            return None
        value_node = entries["value"][1]
        first = value_node.value[0] if isinstance(value_node, yaml.SequenceNode) and value_node.value else None
        if first is not None and (self.started_reference(first, scope) or ("", ""))[1] == "handle":
            # `value: [$a, $b]` of started calls: a list of them, for all/race/any/all_settled.
            value = self.started_list(value_node, "set", scope, calls_too=False)
            name = self.bind({"as": entries["set"]}, scope, "handles", True)
            return None if value is None or name is None else {"step": "set", "bind": name, "value": value}
        value = self.expr(value_node, scope)  # read before the name is (re)bound
        name = self.bind({"as": entries["set"]}, scope, "value", True)
        return None if value is None or name is None else {"step": "set", "bind": name, "value": value}

    def step_now(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `- now: elapsed`: the head names what it binds, as `- set: delay` does.
        name = self.bind({"as": entries["now"]}, scope, "value", True)
        return None if name is None else {"step": "now", "bind": name}

    def step_cancel(self, entries: dict, scope: Scope, where: str) -> dict | None:
        node = entries["cancel"][1]
        target = self.scalar(node, "what to cancel", str)
        reference = REFERENCE.match(target) if target is not MISSING else None
        handle = reference.group(1) if reference and not reference.group(2) else None
        if handle is None or scope.holding(handle) != "handle":
            started = [name for name, held in scope.holds.items() if held == "handle"]
            self.error(
                node, f"cancel takes a started call, '$name' of a 'start' step{did_you_mean(handle or str(target), started)}"
            )
            return None
        # A call started from a function is cancelled too: in JavaScript the function takes
        # the AbortSignal last and hands it to its own waits (javascript/deadlines.mjs).
        return {"step": "cancel", "handle": handle}

    def step_map(self, entries: dict, scope: Scope, where: str) -> dict | None:
        missing = [key for key in ("over", "limit") if key not in entries]
        if missing:
            self.error(entries["map"][0], f"map needs {' and '.join(missing)}: map: NAME, over: [items], limit: N")
            return None
        callee_node = entries["map"][1]
        callee = callee_node.value if isinstance(callee_node, yaml.ScalarNode) else None
        if callee in self.generators:
            self.error(callee_node, f"'{callee}' is a generator; consume its values with 'for_each: {callee}'")
            return None
        function = callee if callee is not None and self.callables.get(callee) == "function" else None
        if function is not None and self.arity[function] != 1:
            self.error(callee_node, f"map calls '{function}' with one item, but it takes {self.arity[function]} argument(s)")
            return None
        # Checked as a call with no arguments here; map passes each item as the one argument.
        call = {"callee": function, "callee_kind": "function"} if function is not None else self.call(callee_node, None, scope)
        over = self.expr(entries["over"][1], scope)
        if over is not None and "literal" in over and not isinstance(over["literal"], list):
            self.error(entries["over"][1], f"map goes over a list of items, not {describe(entries['over'][1])}")
            return None
        if function is not None:  # each item is the function's argument: a value
            self.function_args.append((function, 0, "value", entries["over"][1]))
        limit = self.integer(entries["limit"][1], "limit", 1)
        bind = self.bind(entries, scope, "value", False)
        if call is None or over is None or limit is MISSING:
            return None
        return {
            "step": "map",
            "callee": call["callee"],
            "callee_kind": call["callee_kind"],
            "over": over,
            "limit": limit,
            "bind": bind,
        }

    def queue(self, node: yaml.Node) -> str | None:
        name = self.scalar(node, "a queue", str)
        if name is MISSING:
            return None
        if self.callables.get(name) != "queue":
            queues = [known for known, what in self.callables.items() if what == "queue"]
            self.error(node, f"unknown queue '{name}' (queues are declared under queues:){did_you_mean(name, queues)}")
            return None
        return name

    def step_put(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.queue_put(entries, scope, "put")

    def step_get(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.queue_get(entries, scope, "get")

    def queue_put(self, entries: dict, scope: Scope, head: str) -> dict | None:
        """A put or a put_nowait: ``- put: jobs`` with ``value: VALUE``."""
        queue = self.queue(entries[head][1])
        if "value" not in entries:
            self.error(entries[head][0], f"{head} needs 'value: VALUE'")
            return None
        value = self.expr(entries["value"][1], scope)
        return None if queue is None or value is None else {"step": head, "queue": queue, "value": value}

    def queue_get(self, entries: dict, scope: Scope, head: str) -> dict | None:
        """A get or a get_nowait: ``- get: jobs``, the value bound by ``as``."""
        queue = self.queue(entries[head][1])
        bind = self.bind(entries, scope, "value", False)
        return None if queue is None else {"step": head, "queue": queue, "bind": bind}

    # The rest of asyncio.Queue (issue 10). Their errors are asyncio's classes, QueueEmpty,
    # QueueFull and QueueShutDown: not noted as raised, so a program declares a kind only
    # where a catch names it (the runtime modules raise their own class of the kind).
    def step_put_nowait(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.queue_put(entries, scope, "put_nowait")

    def step_get_nowait(self, entries: dict, scope: Scope, where: str) -> dict | None:
        return self.queue_get(entries, scope, "get_nowait")

    def step_task_done(self, entries: dict, scope: Scope, where: str) -> dict | None:
        queue = self.queue(entries["task_done"][1])
        return None if queue is None else {"step": "task_done", "queue": queue}

    def step_join(self, entries: dict, scope: Scope, where: str) -> dict | None:
        queue = self.queue(entries["join"][1])
        return None if queue is None else {"step": "join", "queue": queue}

    def step_shutdown(self, entries: dict, scope: Scope, where: str) -> dict | None:
        queue = self.queue(entries["shutdown"][1])
        return None if queue is None else {"step": "shutdown", "queue": queue}

    # asyncio.Event (issue 10): set, clear, wait and is_set on an event declared under events:.
    def event(self, node: yaml.Node) -> str | None:
        name = self.scalar(node, "an event", str)
        if name is MISSING:
            return None
        if self.callables.get(name) != "event":
            events = [known for known, what in self.callables.items() if what == "event"]
            self.error(node, f"unknown event '{name}' (events are declared under events:){did_you_mean(name, events)}")
            return None
        return name

    def step_set_event(self, entries: dict, scope: Scope, where: str) -> dict | None:
        event = self.event(entries["set_event"][1])
        return None if event is None else {"step": "set_event", "event": event}

    def step_clear_event(self, entries: dict, scope: Scope, where: str) -> dict | None:
        event = self.event(entries["clear_event"][1])
        return None if event is None else {"step": "clear_event", "event": event}

    def step_wait_event(self, entries: dict, scope: Scope, where: str) -> dict | None:
        event = self.event(entries["wait_event"][1])
        return None if event is None else {"step": "wait_event", "event": event}

    def step_is_set(self, entries: dict, scope: Scope, where: str) -> dict | None:
        event = self.event(entries["is_set"][1])
        if "as" not in entries:
            self.error(entries["is_set"][0], "is_set needs 'as: NAME', the name of the answer (true or false)")
            return None
        bind = self.bind(entries, scope, "value", True)
        return None if event is None or bind is None else {"step": "is_set", "event": event, "bind": bind}

    def step_yield(self, entries: dict, scope: Scope, where: str) -> dict | None:
        if not self.in_generator:
            self.error(entries["yield"][0], "yield belongs in a function with generator: true")
            return None
        if "timeout" in self.blocks:
            self.error(
                entries["yield"][0],
                "a timeout block cannot yield (on CPython 3.10, and in JavaScript's race idiom, it is a function of its own)",
            )
            return None
        value = self.expr(entries["yield"][1], scope)
        return None if value is None else {"step": "yield", "value": value}

    def step_log(self, entries: dict, scope: Scope, where: str) -> dict | None:
        message = self.expr(entries["log"][1], scope)
        return None if message is None else {"step": "log", "message": message}

    def branches(self, entries: dict, head: str, scope: Scope) -> list[dict] | None:
        node = entries[head][1]
        items = self.sequence(node, head)
        if items is None:
            return None
        if len(items) < 2:
            self.error(node, f"{head} needs at least two calls")
            return None
        calls = []
        for item in items:
            spec = self.mapping(item, f"a call in {head}")
            if spec is None:
                continue
            self.known_keys(spec, ("call", "args"), f"a call in {head}")
            if "call" not in spec:
                self.error(item, f"a call in {head} needs 'call: NAME'")
                continue
            call = self.call(spec["call"][1], spec["args"][1] if "args" in spec else None, scope)
            if call is not None:
                calls.append(call)
        return calls if len(calls) == len(items) else None

    def fan_out(self, entries: dict, head: str, scope: Scope) -> dict | None:
        """The fields of an all, race, all_settled or any: ``calls`` (a list of
        ``{call: NAME}``), or ``over``, a list of started calls (runner/check_started.py)."""
        node = entries[head][1]
        if isinstance(node, yaml.ScalarNode) or (
            isinstance(node, yaml.SequenceNode)
            and (not node.value or isinstance(node.value[0], yaml.ScalarNode) or not _is_call(node.value[0]))
        ):
            over = self.started_list(node, head, scope)
            return None if over is None else {"over": over}
        calls = self.branches(entries, head, scope)
        return None if calls is None else {"calls": calls}

    def step_all(self, entries: dict, scope: Scope, where: str) -> dict | None:
        fields = self.fan_out(entries, "all", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if fields is None else {"step": "all", **fields, "bind": bind}

    def step_race(self, entries: dict, scope: Scope, where: str) -> dict | None:
        fields = self.fan_out(entries, "race", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if fields is None else {"step": "race", **fields, "bind": bind}

    def step_all_settled(self, entries: dict, scope: Scope, where: str) -> dict | None:
        fields = self.fan_out(entries, "all_settled", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if fields is None else {"step": "all_settled", **fields, "bind": bind}

    def step_any(self, entries: dict, scope: Scope, where: str) -> dict | None:
        fields = self.fan_out(entries, "any", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if fields is None else {"step": "any", **fields, "bind": bind}

    def step_wait(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # asyncio.wait(tasks, timeout=..., return_when=...): its calls or started calls,
        # when to stop (until) and an optional timeout in ms; nothing of it raises.
        fields = self.fan_out(entries, "wait", scope)
        if fields is not None and fields.get("over") == {"literal": []}:
            self.error(entries["wait"][1], "wait needs at least one started call: asyncio.wait of none raises ValueError")
            fields = None
        step: dict | None = None if fields is None else {"step": "wait", **fields}
        if "until" in entries:
            until = self.scalar(entries["until"][1], "until", str)
            if until is not MISSING and until not in WAIT_UNTIL:
                self.error(
                    entries["until"][1],
                    f"until is one of {', '.join(WAIT_UNTIL)} (asyncio.wait's return_when), not '{until}'"
                    f"{did_you_mean(until, WAIT_UNTIL)}",
                )
                step = None
            elif until is MISSING:
                step = None
            elif step is not None and until != "all_completed":
                step["until"] = until
        if "timeout" in entries:
            timeout = self.integer(entries["timeout"][1], "a wait's timeout (virtual milliseconds)", 0)
            if timeout is MISSING:
                step = None
            elif step is not None:
                step["timeout"] = timeout
        bind = self.bind(entries, scope, "value", False)
        return None if step is None else {**step, "bind": bind}

    def step_group(self, entries: dict, scope: Scope, where: str) -> dict | None:
        calls = self.branches(entries, "group", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "group", "calls": calls, "bind": bind}

    def step_rethrow(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `- rethrow: $error`: the caught error itself goes on (Python's bare `raise`,
        # JavaScript's `throw error`), so only a name a catch around it bound will do.
        node = entries["rethrow"][1]
        target = self.scalar(node, "what to rethrow", str)
        if target is MISSING:
            return None
        reference = REFERENCE.match(target)
        name = reference.group(1) if reference and not reference.group(2) else None
        if name is not None and scope.holding(name) is None and name in scope.ended:
            self.error(node, f"'${name}' is {scope.ended[name]}")
            return None
        if name is None or scope.holding(name) != "error":
            caught = [known for known, held in scope.holds.items() if held == "error"]
            self.error(
                node,
                f"rethrow takes the error of a catch around it, '$name' of the catch's 'as', not '{target}'"
                f"{did_you_mean(f'${name}' if name else target, [f'${known}' for known in caught])}",
            )
            return None
        if name in self.group_errors:
            # In an except* block Python would wrap the member raised in a new group.
            self.error(node, f"'{target}' was taken out of a group by a catch from_group; rethrow cannot throw it on")
            return None
        scope.definite = None
        return {"step": "rethrow", "error": name}

    def step_shield(self, entries: dict, scope: Scope, where: str) -> dict | None:
        # `- shield: save_order` or `- shield: $task`: what await takes, read as await reads it.
        step = self.step_await({**entries, "await": entries["shield"]}, scope, where)
        return None if step is None else {**step, "step": "shield"}


def _is_call(node: yaml.Node) -> bool:
    """Whether a node of a fan-out's list is written as a call, ``{call: NAME, ...}``."""
    return isinstance(node, yaml.MappingNode) and any(getattr(key, "value", None) == "call" for key, _ in node.value)
