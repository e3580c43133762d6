"""The Python target's check of the IR it is given, before it writes a program.

The runner's loader has checked a scenario already; a testee trusts no one, though
(the IR may come from any runner), so the compiler checks again, field by field as
spec/ir-steps.json types them, everything the program text depends on: every name is a
Python identifier that shadows nothing the program uses, every callee, queue, resource
and error kind is declared. A problem is a ValueError naming where it is.

Standard library only, CPython 3.10+.
"""

from __future__ import annotations

import keyword
import os
import re

from . import ir_steps

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
ERROR_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
MEMBERS = {"kind", "message"}
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A field of an item (``page.next``): the compilers write it bare in JavaScript and quoted
in a Python f-string, so it holds nothing to escape."""
MAX_INDEX = 2**53 - 1
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
ARITHMETIC = {"+": 1, "-": 1, "*": 2}
"""calc operators and their binding strength (Python's: * binds tighter than + and -)."""
# Names the generated program itself defines or relies on: a scenario name equal to
# one of them would shadow it (runner/names.py rejects them at load time).
PROGRAM_NAMES = {"asyncio", "contextlib", "world", "log", "main", "range", "next", "str", "type", "getattr", "len"}
# Classes the program uses by these names: an error kind must not shadow them.
# TimeoutError is not here: it is a scenario kind the program leaves unshadowed.
PROGRAM_KINDS = {"World", "Exception", "BaseException", "ExceptionGroup", "BaseExceptionGroup", "CancelledError"}
CANCELLED = "CancelledError"  # in a catch only: asyncio's own cancellation, never a scenario kind
ON_CANCEL = ("stop", "ignore")
BINDING_KEYS = {"python": (".py",), "javascript": (".mjs", ".js", ".ts")}
"""The files of ``bindings`` (spec/PROTOCOL.md) and the suffixes each may have."""


class IrCheck:
    """The names of one scenario's IR, checked: ``names`` holds every one the program
    will use, so that the compiler can pick temporary names that clash with none."""

    def __init__(self, ir: dict) -> None:
        self.ir = ir
        self.kinds = list(ir.get("errors", []))
        self.operations = {op["name"] for op in ir.get("operations", [])}
        self.functions = {fn["name"] for fn in ir.get("functions", [])}
        self.queues = {queue["name"] for queue in ir.get("queues", [])}
        self.resources = {resource["name"] for resource in ir.get("resources", [])}
        self.events = {event["name"] for event in ir.get("events", [])}
        self.generators = {fn["name"] for fn in ir.get("functions", []) if fn.get("generator")}
        self.names: set[str] = set(self.operations) | set(self.functions) | set(self.queues) | set(self.resources)
        self.names |= self.events
        self.locks = {lock["name"] for lock in ir.get("locks", [])}
        self.semaphores = {semaphore["name"] for semaphore in ir.get("semaphores", [])}
        self.names |= self.locks | self.semaphores

    def check(self) -> None:
        """Raise ValueError at the first thing a program could not be written from."""
        self._bindings()
        for kind in self.kinds:
            if not ERROR_KIND.match(kind) or kind in PROGRAM_KINDS or keyword.iskeyword(kind):
                raise ValueError(f"error kind {kind!r} cannot be a class name in the program")
        if self.operations & self.functions:
            raise ValueError(f"{sorted(self.operations & self.functions)[0]!r} is both an operation and a function")
        if self.queues & (self.operations | self.functions):
            raise ValueError(
                f"{sorted(self.queues & (self.operations | self.functions))[0]!r} is a queue and an operation or function"
            )
        if self.resources & (self.operations | self.functions | self.queues):
            raise ValueError(
                f"{sorted(self.resources & (self.operations | self.functions | self.queues))[0]!r} is a "
                "resource and an operation, function or queue"
            )
        if self.events & (self.operations | self.functions | self.queues | self.resources):
            raise ValueError(
                f"{sorted(self.events & (self.operations | self.functions | self.queues | self.resources))[0]!r} is an "
                "event and an operation, function, queue or resource"
            )
        taken = self.operations | self.functions | self.queues | self.resources | self.events | self.locks
        if self.semaphores & taken:
            raise ValueError(
                f"{sorted(self.semaphores & taken)[0]!r} is a semaphore and an operation, function, queue, resource, event or lock"
            )
        for semaphore in self.ir.get("semaphores", []):
            if not (type(semaphore.get("value")) is int and semaphore["value"] >= 1):
                raise ValueError(f"semaphore {semaphore['name']!r}: value is an integer >= 1, not {semaphore.get('value')!r}")
        if self.locks & (self.operations | self.functions | self.queues | self.resources | self.events):
            raise ValueError(
                f"{sorted(self.locks & (self.operations | self.functions | self.queues | self.resources | self.events))[0]!r}"
                " is a lock and an operation, function, queue, resource or event"
            )
        for name in self.names:
            self._name(name, "operation, function, queue, resource or event")
        for resource in self.ir.get("resources", []):
            for key in ("open", "close"):
                ms = resource[key]
                if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
                    raise ValueError(f"resource {resource['name']!r}: {key} is an integer of ms >= 0, not {ms!r}")
        for op in self.ir.get("operations", []):
            latency = op["latency"]
            latencies = latency if isinstance(latency, list) else [latency]
            if not latencies or any(isinstance(ms, bool) or not isinstance(ms, int) or ms < 0 for ms in latencies):
                raise ValueError(
                    f"operation {op['name']!r}: latency is an integer of ms >= 0 or a non-empty list of them, not {latency!r}"
                )
            if op.get("on_cancel", "stop") not in ON_CANCEL:
                raise ValueError(f"operation {op['name']!r}: on_cancel is 'stop' or 'ignore', not {op['on_cancel']!r}")
        for queue in self.ir.get("queues", []):
            size = queue.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
                raise ValueError(f"queue {queue['name']!r}: size is an integer >= 1 or null, not {size!r}")
        for fn in self.ir.get("functions", []):
            for param in fn["params"]:
                self._local(param, fn["name"])
            self._steps(fn["body"], fn["name"])
            steps = [step["step"] for step in ir_steps.walk(fn["body"])]
            if fn.get("generator") and "return" in steps:
                raise ValueError(f"{fn['name']}: a generator function has no return step")
            if not fn.get("generator") and "yield" in steps:
                raise ValueError(f"{fn['name']}: yield belongs in a function with generator: true")
        if "yield" in (step["step"] for step in ir_steps.walk(self.ir["main"])):
            raise ValueError("main: yield belongs in a function with generator: true")
        self._steps(self.ir["main"], "main")

    def collect(self) -> None:
        """Gather ``names`` as :meth:`check` does, checking nothing: for IR the kit's own
        loader validated (``validated`` in spec/PROTOCOL.md), where the check would only
        say again what the loader said.

        The parameters and the names steps bind are all it takes: in validated IR every
        reference resolves (spec/PROTOCOL.md, "The scenario IR"), so what the check
        gathers from the names steps read is among them already.
        tests/python/test_check.py holds the two to the same names on every scenario of spec/."""
        for fn in self.ir.get("functions", []):
            self.names.update(fn["params"])
            self.names.update(name for step in ir_steps.walk(fn["body"]) for name in ir_steps.bound_names(step))
        self.names.update(name for step in ir_steps.walk(self.ir["main"]) for name in ir_steps.bound_names(step))

    def _bindings(self) -> None:
        """``bindings`` and the ``bound`` functions agree (javascript/check-ir.mjs says the same)."""
        bindings = self.ir.get("bindings")
        bound_names: list = []
        if bindings is not None:
            if not isinstance(bindings, dict) or set(bindings) != {*BINDING_KEYS, "functions"}:
                unknown = sorted(set(bindings) - {*BINDING_KEYS, "functions"}) if isinstance(bindings, dict) else []
                if unknown:
                    raise ValueError(f"unknown key {unknown[0]!r} in bindings")
                raise ValueError("bindings must be an object with python, javascript and functions")
            for key, suffixes in BINDING_KEYS.items():
                path = bindings[key]
                if not isinstance(path, str) or not os.path.isabs(path) or not path.endswith(suffixes):
                    raise ValueError(f"bindings.{key} must be an absolute path to a {' or '.join(suffixes)} file")
            bound_names = bindings["functions"]
            if not isinstance(bound_names, list) or not bound_names:
                raise ValueError("bindings.functions must be a non-empty list of function names")
            for name in bound_names:
                if name not in self.functions:
                    raise ValueError(f"bindings.functions names {name!r}, which is not a function")
        for fn in self.ir.get("functions", []):
            bound = fn.get("bound", False)
            if not isinstance(bound, bool):
                raise ValueError(f"function {fn['name']!r}: bound must be true or false")
            if bound != (fn["name"] in bound_names):
                raise ValueError(f"function {fn['name']!r}: bound is true exactly when bindings.functions names it")
            if bound and (fn["body"] or fn.get("generator")):
                raise ValueError(f"function {fn['name']!r}: a bound function has no steps and is no generator")

    def _name(self, name: str, what: str) -> None:
        if not isinstance(name, str) or not IDENTIFIER.match(name) or name in PROGRAM_NAMES or keyword.iskeyword(name):
            raise ValueError(f"{what} name {name!r} cannot be used in the Python program")

    def _local(self, name: str | None, where: str) -> None:
        if name is None:
            return
        self._name(name, f"{where}: local")
        if name in self.operations or name in self.functions:
            # `download_data = await download_data(url)` would make download_data local
            # to the whole function, and the call would fail (UnboundLocalError).
            raise ValueError(f"{where}: {name!r} would shadow the operation or function of that name")
        if name in self.queues:
            raise ValueError(f"{where}: {name!r} would shadow the queue of that name")
        if name in self.resources:
            raise ValueError(f"{where}: {name!r} would shadow the resource of that name")
        if name in self.events:
            raise ValueError(f"{where}: {name!r} would shadow the event of that name")
        if name in self.locks:
            raise ValueError(f"{where}: {name!r} would shadow the lock of that name")
        if name in self.semaphores:
            raise ValueError(f"{where}: {name!r} would shadow the semaphore of that name")
        self.names.add(name)

    def _fields(self, step: dict, where: str) -> None:
        """The step's fields are the table's: the required ones there, no others, and
        exactly one of a ``one_of`` set."""
        row = ir_steps.STEPS[step["step"]]
        article = "an" if step["step"][0] in "aeiou" else "a"
        at = f"{where}: line {step.get('line')}: {article} {step['step']} step"
        unknown = sorted(set(step) - set(row["fields"]) - {"step", "line"})
        if unknown:
            raise ValueError(f"{at} has no field {unknown[0]!r}")
        for field, declared in row["fields"].items():
            if not declared.endswith("?") and step.get(field) is None:
                raise ValueError(f"{at} needs its {field!r} ({ir_steps.TABLE['types'][declared]})")
        if "one_of" in row and sum(step.get(field) is not None for field in row["one_of"]) != 1:
            raise ValueError(f"{at} has exactly one of {' and '.join(map(repr, row['one_of']))}")

    def _steps(self, steps: list, where: str) -> None:
        """Check every name a block binds or reads, and remember it (for fresh temp names).

        Field by field as spec/ir-steps.json types them; the rules that cross fields
        (a for_each needs a generator, nothing else may call one) are spelled out.
        """
        for step in steps:
            step_name = step["step"]
            if step_name not in ir_steps.STEPS:
                raise ValueError(f"line {step.get('line')}: unknown step {step_name!r}")
            self._fields(step, where)
            for name in ir_steps.bound_names(step):
                self._local(name, where)
            for _, name in ir_steps.fields_of_type(step, "name"):
                self._local(name, where)
            for field, value in ir_steps.fields_of_type(step, "integer>=0", "integer>=1", "integer>=0|expr"):
                if isinstance(value, dict):
                    continue  # an expression, checked below with the step's others
                minimum = int(ir_steps.STEPS[step_name]["fields"][field].rstrip("?").split("|")[0][-1])
                if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                    raise ValueError(
                        f"{where}: line {step.get('line')}: a {step_name} {field} is an integer >= {minimum}, not {value!r}"
                    )
            callees = [call["callee"] for call in ir_steps.calls(step)]
            callees += [name for _, name in ir_steps.fields_of_type(step, "callee")]
            for callee in callees:
                if callee not in self.operations | self.functions:
                    raise ValueError(f"{where}: {callee!r} is neither an operation nor a function")
                if (step_name == "for_each") != (callee in self.generators):
                    raise ValueError(
                        f"{where}: {callee!r} is a generator; for_each consumes its values"
                        if step_name != "for_each"
                        else f"{where}: {callee!r} is not a generator function; for_each needs one"
                    )
            for _, queue in ir_steps.fields_of_type(step, "queue"):
                if queue not in self.queues:
                    raise ValueError(f"{where}: {queue!r} is not a queue of the scenario")
            for _, event in ir_steps.fields_of_type(step, "event"):
                if event not in self.events:
                    raise ValueError(f"{where}: {event!r} is not an event of the scenario")
            for _, sync in ir_steps.fields_of_type(step, "sync"):
                if sync not in self.locks | self.semaphores:
                    raise ValueError(f"{where}: {sync!r} is not a lock or semaphore of the scenario")
            for _, resource in ir_steps.fields_of_type(step, "resource"):
                if resource not in self.resources:
                    raise ValueError(f"{where}: {resource!r} is not a resource of the scenario")
            for _, error_kind in ir_steps.fields_of_type(step, "kind"):
                if error_kind not in self.kinds:
                    raise ValueError(f"{where}: error kind {error_kind!r} is not in the scenario's errors")
            for _, catch in ir_steps.fields_of_type(step, "catch"):
                for catch_kind in catch["kinds"]:
                    if catch_kind not in self.kinds and catch_kind != CANCELLED:
                        raise ValueError(f"{where}: error kind {catch_kind!r} is not in the scenario's errors")
                if catch.get("from_group") is not None and (catch["from_group"] is not True or not catch["kinds"]):
                    # except* takes kinds out of a group: true and some kinds, or absent.
                    raise ValueError(f"{where}: catch.from_group is true, with kinds, or absent")
            for _, condition in ir_steps.fields_of_type(step, "condition"):
                self._condition(condition, where)
            for _, until in ir_steps.fields_of_type(step, "wait_until"):
                if until not in ("first_completed", "first_exception", "all_completed"):
                    raise ValueError(f"{where}: line {step.get('line')}: a wait's until is not {until!r}")
            for expr in ir_steps.expressions(step):
                self._expr(expr, where)
            for block, _ in ir_steps.blocks(step):
                self._steps(block, where)

    def _expr(self, expr: dict, where: str) -> None:
        if "ref" in expr:
            self._local(expr["ref"], where)
            if expr.get("member") not in (None, *MEMBERS):
                raise ValueError(f"{where}: unknown member {expr['member']!r} of {expr['ref']!r}")
        for part in expr.get("format", []):
            if isinstance(part, dict):
                self._expr(part, where)
        for item in expr.get("list", []):
            self._expr(item, where)
        for _key, item in expr.get("object", []):
            self._expr(item, where)
        if "calc" in expr:
            left, op, right = expr["calc"]
            if op not in ARITHMETIC:
                raise ValueError(f"{where}: unknown calc operator {op!r}; the operators are + - *")
            self._expr(left, where)
            self._expr(right, where)
        if "item" in expr:
            self._item(expr["item"], where)
        if "length" in expr:
            self._expr(expr["length"], where)
        if "resolved" in expr:
            self._expr(expr["resolved"], where)
        for form, sizes in (("slice", (2, 3)), ("append", (2,))):
            if form in expr:
                parts = expr[form]
                if not isinstance(parts, list) or len(parts) not in sizes or not all(isinstance(part, dict) for part in parts):
                    raise ValueError(f"{where}: {form} is a list of {' or '.join(map(str, sizes))} expressions, not {parts!r}")
                for part in parts:
                    self._expr(part, where)

    def _condition(self, condition: object, where: str) -> None:
        """A comparison of two expressions, ``and`` / ``or`` of two or more conditions, or
        ``not`` of one (PROTOCOL.md, "Conditions"); the expressions are checked with the
        step's others."""
        if not isinstance(condition, dict) or len(condition) != 1:
            raise ValueError(f"{where}: malformed condition {condition!r}")
        ((connective, value),) = condition.items()
        if connective == "compare":
            if not isinstance(value, list) or len(value) != 3 or not all(isinstance(value[i], dict) for i in (0, 2)):
                raise ValueError(f"{where}: compare is [expression, comparison, expression], not {value!r}")
            if value[1] not in COMPARISONS:
                raise ValueError(f"{where}: unknown comparison {value[1]!r}")
        elif connective in ("and", "or"):
            if not isinstance(value, list) or len(value) < 2:
                raise ValueError(f"{where}: {connective} takes two or more conditions, not {value!r}")
            for part in value:
                self._condition(part, where)
        elif connective == "not":
            self._condition(value, where)
        else:
            raise ValueError(f"{where}: malformed condition {condition!r}")

    def _item(self, item: object, where: str) -> None:
        """``[BASE, KEY]``: BASE a name or another item; KEY a field, an index >= 0, a
        name or an item (PROTOCOL.md, "Expressions")."""
        if not isinstance(item, list) or len(item) != 2 or not all(isinstance(part, dict) for part in item):
            raise ValueError(f"{where}: an item is [expression, key], not {item!r}")
        base, key = item
        if not ("item" in base or ("ref" in base and not base.get("member"))):
            raise ValueError(f"{where}: an item is taken from a name or another item, not {base!r}")
        self._expr(base, where)
        if "literal" in key:
            value = key["literal"]
            is_index = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INDEX
            if not is_index and not (isinstance(value, str) and FIELD.match(value)):
                raise ValueError(f"{where}: an item's key is a field name or an integer >= 0, not {value!r}")
        elif "item" in key or ("ref" in key and not key.get("member")):
            self._expr(key, where)
        else:
            raise ValueError(f"{where}: an item's key is a field, an index, a name or an item, not {key!r}")
