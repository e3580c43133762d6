"""Fuzz test: hypothesis writes valid scenarios over the whole language, and the kit must
load each one, run it on every target within the bounds, and find the targets agreeing.

Cross-cutting, like tests/test_digests.py: the loader (asyncparity.load), both
compilers, both runtime modules and the testees are all under test at once.

The strategy, :func:`scenarios`, writes scenario YAML as spec/LANGUAGE.md defines it: every
step of spec/ir-steps.json (``FEATURES`` has a generator for each, and a test holds it
to the table), operations with latencies and scripted results, functions with typed
parameters, generators, queues, resources, error kinds, low ``limits`` now and then, and
names that the programs might use themselves (``TRICKY_NAMES``). It keeps to what the loader
accepts (runner/check_*.py): a name is read only where it is bound on every path, a
``break`` and ``continue`` only in a loop, no ``return`` in a timeout block or a generator, and
so on; it keeps sizes small (a few functions, blocks nested at most ``MAX_DEPTH``).

The properties:

- every generated scenario loads with no diagnostic;
- every target ends it ``settled``, ``deadlock`` or ``runaway`` (never ``crash`` or
  ``error``), and a target that did not settle says why;
- the targets agree exactly: status, result and trace lines.

**What the generator leaves out, and why.** The targets are compared exactly, so the
scenarios keep to the constructs whose behaviour agrees across the languages; each
known difference (spec/DIVERGENCES.md) is avoided by a rule here, named by the
divergence scenario that shows it:

- No two timers fire at one instant: asyncio wakes everything due at an instant in
  one batch, Node one timer at a time (timers-due-together, map-one-item-fails). The
  latencies and sleeps are spread out, and an example where two timers still fire
  together on the Python target is rejected (:class:`TimerWatch`); no latency, open or
  close is 0 (zero-ms-timer).
- Only one piece of code is ever ready at an instant, so that microtask counts cannot
  show: a function run concurrently (a branch of all, race, any, all_settled, group,
  map, or a started call) reaches a real wait (an operation, a sleep, an open) before
  it awaits anything else, and starts nothing concurrent itself (eager-start,
  await-that-does-not-wait, chain-finally-a-microtask-later); a queue
  shared between concurrent functions is put to only by a producer that sleeps after
  each put, and taken from by one consumer, as often as it is put to
  (chain-then-costs-more-microtasks). Queues used by main and its sequential functions
  are another queue.
- A ``start`` is followed by a sleep or an await of what it started, nothing traced in
  between (eager-start); every started call is awaited, and only the first one awaited
  may fail (unhandled-failure, failure-awaited-too-late).
- A ``cancel`` is the pattern start, sleep, cancel, then an await in a try whose catch
  names ``CancelledError`` and binds nothing (cancel-then-log, cancel-before-start,
  cancel-catch-all, cancel-uncaught, cancel-never-awaited); what it starts is an
  operation, or a worker that never fails and may run under a deadline
  (cancel-function-that-cleans-up).
- Nothing is left running when main settles: main's steps run in a try that catches
  every error, then main sleeps ``DRAIN`` ms and returns (left-running-at-return).
- No failure goes unretrieved in Python only: a race's losers and an any's calls after
  its first success never fail (race-loser-fails-unhandled), and none of a race's or
  an any's calls fails under a deadline, which may give up on the step while they run
  (timeout-abandons-race, found by this test); an any has a call that succeeds
  (any-all-fail), and a group's calls never fail (group-cancels-siblings,
  group-error-escapes-catch).
- A generator has no ``finally`` and no ``using``, so closing one that was left early
  shows nothing (break-closes-generator-late, error-in-loop-body, return-inside-loop,
  nested-generators-break, generator-holds-resource).
- A timeout's block (and every function it calls) waits only on what takes its
  signal: no start, cancel, queue, using or for_each, no finally that waits, no catch
  of every error or of TimeoutError, no operation that ignores cancellation
  (spec/LANGUAGE.md, ``timeout``, "Still different": timeout-during-open, found by
  this test with ``using`` allowed there; the cancel section's on_cancel: ignore
  example); the ``race`` idiom is not used (timeout-by-race). A deadline that finds two
  operations waiting cancels them in the order they are listed in Python and in the
  order they started in JavaScript (timeout-cancels-in-call-order, found by this test):
  an example where the python target records two ``cancel`` lines at one instant is
  rejected where those calls started in another order than the one listed
  (:func:`cancelled_out_of_start_order`).
- Values: ``format`` interpolates only strings and integers (format-non-strings); ``if``
  orders numbers only, and compares strings with strings or anything with null by
  ``==``/``!=`` (equal-lists, true-equals-one; LANGUAGE.md, ``if``: strings past U+FFFF); every function ends with a ``return``
  (function-without-return); map keys are lowercase words (integer-keys-order); no
  function calls itself (deep-recursion); integers stay far below 2**53.

Budgets: the default run draws ``DEFAULT_EXAMPLES`` scenarios, derandomized (the same
ones on every run, no example database), in a few seconds;
``ASYNCPARITY_FULL_TESTS=1`` draws ``FULL_EXAMPLES``, and runs python-eager on a
CPython 3.12 or later worker when this one is older.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

import asyncparity_runtime
from asyncparity.check_values import REFERENCE, VALUE_FORMS, misspelt_form
from asyncparity.compare import same_events
from asyncparity.load import load_text
from asyncparity.model import TARGETS
from asyncparity.names import JS_RESERVED_SPELLINGS, RESERVED_NAMES, camel_case
from asyncparity.node import find_node
from asyncparity.pythons import find_python
from asyncparity.testees import NodeTestee, PythonTestee, PythonWorkerTestee
from asyncparity.trace import normalize, trace_lines
from asyncparity_python.ir_steps import walk
from helpers import FULL, find_cpython, spec_ir

ROOT = Path(__file__).resolve().parents[1]
STEPS = json.loads((ROOT / "spec" / "ir-steps.json").read_text(encoding="utf-8"))["steps"]

DEFAULT_EXAMPLES = 100
FULL_EXAMPLES = 1000
MAX_DEPTH = 3
"""Blocks nest at most this deep inside a function (main's own try adds one)."""
LOOPS = ("repeat", "while", "for_each")
"""The steps a break or a continue belongs in (spec/ir-steps.json's ``loops``)."""
DRAIN = 500_000
"""How long main sleeps before it returns: longer than anything a scenario leaves running."""

KINDS = ("IOError", "Busy", "HttpError", "TimeoutError")
"""The error kinds a scenario throws or fails with (TimeoutError: the builtin in Python)."""
LATENCIES = (7, 17, 31, 47, 67, 89, 113, 139, 163, 191)
SLEEPS = (3, 11, 23, 41, 59, 79, 101, 131)
DEADLINES = (29, 61, 97, 157, 251)
ASCII = "abcdefghijklmnopqrstuvwxyz0123456789 -_.:!?"
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter, when PyYAML has it: five times faster

# Types of values, as far as the portable comparisons and calc need them:
# nat: a small integer >= 0 (may feed a sleep or a calc); int: any integer, kept out of
# multiplication; str: text; json: any JSON value; rec: a record of known shape,
# {n: nat, s: str, l: [nat, nat]}, read by field and index ($r.n, $r.l[1], {length: $r.l},
# {slice: [$r.l, -1]}, {append: [$r.l, ...]}).
NAT, INT, STR, JSON, REC = "nat", "int", "str", "json", "rec"


# -- the world a scenario declares ----------------------------------------------------


@dataclass
class Op:
    name: str
    latency: int
    outcomes: list[dict]
    type: str
    safe: bool  # never fails
    ignores_cancel: bool = False


@dataclass
class Fn:
    name: str
    kind: str  # worker, mapper, queue (a producer or a consumer), seq, gen
    params: list[tuple[str, str]]
    returns: str  # the type of its value (of its yields, for a generator)
    safe: bool  # never fails
    deadline_safe: bool  # may be called inside a timeout block


@dataclass(frozen=True)
class Context:
    """Where the steps being generated sit."""

    where: str  # main, seq, worker, gen
    returns: str | None = None  # the function's return type; None: no return here
    deadline: bool = False  # inside a timeout block, or a function that may be called from one
    safe: bool = False  # must not fail
    blocks: tuple[str, ...] = ()  # enclosing repeat, for_each and timeout blocks, innermost last
    depth: int = 0

    @property
    def sequential(self) -> bool:
        """Whether only this code runs here (main, its sequential functions, generators)."""
        return self.where in ("main", "seq", "gen")

    def inside(self, block: str | None = None) -> Context:
        return replace(self, depth=self.depth + 1, blocks=self.blocks + ((block,) if block else ()))


TRICKY_NAMES = [
    name
    for name in (
        # the temporaries the compilers declare (compile.py's _fresh, the JavaScript ones' fresh)
        *("tasks", "done", "pending", "task", "finished", "group", "semaphore", "limited", "item", "timed_block"),
        *("error", "timer", "signal", "value", "completion", "finally_block", "finally_completion", "deadline"),
        *("controller", "after_try", "timed_block", "sleep", "on_abort", "ms", "loop", "emit", "attempt"),
        *("after_loop", "after_if", "abortable", "tasks2", "signal2", "item2", "value2", "error2"),
        # builtins and globals either program may call, and the world's own words
        *("list", "dict", "any", "all", "sorted", "iter", "anext", "aiter", "format", "repr", "tuple", "float"),
        *("int", "bool", "set", "map", "filter", "zip", "enumerate", "reversed", "exception", "parse_int"),
        *("is_na_n", "set_interval", "abort_signal", "dom_exception", "json", "math", "symbol", "array"),
        *("date", "operation", "resource", "queue", "generator", "settled", "unsupported", "now", "outcome"),
        *("result", "results", "winner", "handle", "fn", "args", "e", "i", "x", "data", "page"),
    )
    if name not in RESERVED_NAMES and camel_case(name) not in JS_RESERVED_SPELLINGS
]
"""Names a scenario may use (the loader accepts them) that the generated programs might
use too: the compilers' own temporaries, builtins, globals. LANGUAGE.md (Names) says the
compilers choose their names so that they never collide with a scenario's."""


class Names:
    """The scenario's names: each one new in the whole scenario, so that no two kinds of
    thing and no two camelCase spellings meet; now and then one of ``TRICKY_NAMES``."""

    def __init__(self, draw: Callable | None) -> None:
        self.draw = draw
        self.used: set[str] = set()
        self.counter = itertools.count()

    def fresh(self, prefix: str, default: str | None = None) -> str:
        """A new name: a tricky one, or ``default``, or ``prefix`` and a number."""
        unused = [name for name in TRICKY_NAMES if name not in self.used]
        if self.draw is not None and unused and self.draw(st.integers(0, 99)) < 25:
            name = self.draw(st.sampled_from(unused))
        elif default is not None and default not in self.used:
            name = default
        else:
            name = f"{prefix}{next(self.counter)}"
            while name in self.used:
                name = f"{prefix}{next(self.counter)}"
        self.used.add(name)
        return name


@dataclass
class Scope:
    """The names bound on every path so far, and their types (a copy per block)."""

    values: dict[str, str]
    fixed: frozenset[str] = frozenset()  # block names (loop counters, caught errors) not to bind again
    errors: tuple[str, ...] = ()  # caught errors visible here
    names: Names = field(default_factory=lambda: Names(None))

    def fresh(self, prefix: str) -> str:
        return self.names.fresh(prefix)

    def child(self, bound: dict[str, str] | None = None, error: str | None = None) -> Scope:
        values = dict(self.values)
        values.update(bound or {})
        return Scope(
            values,
            self.fixed | frozenset(bound or ()) | ({error} if error else frozenset()),
            self.errors + ((error,) if error else ()),
            self.names,
        )

    def of(self, *types: str) -> list[str]:
        return [name for name, held in self.values.items() if held in types]


class TimerWatch:
    """Records the virtual instant of every timer the Python runtime module fires.

    Two timers firing at one instant is where asyncio and Node part
    (spec/timers/timers-due-together.yaml): an example that shows it is rejected.
    """

    def __init__(self) -> None:
        self.instants: list[int] = []

    @contextlib.contextmanager
    def watching(self) -> Iterator[TimerWatch]:
        handle = asyncparity_runtime._TimerHandle
        original = handle._run
        instants = self.instants

        def _run(timer) -> None:
            instants.append(timer._loop.now_ms)
            original(timer)

        self.instants.clear()
        handle._run = _run
        try:
            yield self
        finally:
            handle._run = original

    def together(self) -> list[int]:
        """The instants at which more than one timer fired."""
        return sorted({instant for instant in self.instants if self.instants.count(instant) > 1})


def jumps(steps: list[dict]) -> bool:
    """Whether generated steps hold a break or continue of the loop around them (not of a
    loop nested in them)."""
    for step in steps:
        if "break" in step or "continue" in step:
            return True
        if any(head in step for head in LOOPS):
            continue
        for key in ("try", "then", "else", "finally", "steps"):
            if isinstance(step.get(key), list) and jumps(step[key]):
                return True
        catch = step.get("catch")
        if (isinstance(catch, list) and jumps(catch)) or (isinstance(catch, dict) and jumps(catch.get("steps", []))):
            return True
    return False


# -- values ---------------------------------------------------------------------------


def literal(value: object) -> object:
    """A JSON value written so that the loader reads it as that value: text that looks like a
    reference, and a map that looks like a value form or a misspelt one, go inside ``{literal: ...}``."""
    if isinstance(value, str) and REFERENCE.match(value):
        return {"literal": value}
    if isinstance(value, list):
        return [literal(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and (set(value) <= set(VALUE_FORMS) or misspelt_form(next(iter(value)))):
            return {"literal": value}
        return {key: literal(item) for key, item in value.items()}
    return value


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
ASCII_TEXT = st.text(ASCII, max_size=5)
KEYS = st.sampled_from(["a", "b", "id", "name", "n"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False, width=64) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=5,
)


class Builder:
    """Draws one scenario: the world first, then the functions in an order in which each
    calls only those before it, then main. ``draw`` is hypothesis's."""

    def __init__(self, draw: Callable, focus: str) -> None:
        self.draw = draw
        self.focus = focus
        self.ops: dict[str, Op] = {}
        self.functions: dict[str, Fn] = {}
        self.bodies: dict[str, dict] = {}
        self.resources: dict[str, dict] = {}
        self.queues: dict[str, dict] = {}
        self.pairs: list[tuple[str, str]] = []  # (producer, consumer) on the shared queue
        self.yields = JSON  # the type the generator being drawn yields
        self.names = Names(draw)

    # small draws
    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def chance(self, percent: int) -> bool:
        # Hypothesis draws the smallest integers far more often than their share, and
        # shrinks towards them: the smallest means no (a rare feature stays rare).
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    # -- the world ---------------------------------------------------------------------

    def world(self) -> None:
        latencies = iter(self.draw(st.permutations(LATENCIES)))
        count = self.number(3, 6)
        for index in range(count):
            name = self.names.fresh("op_", f"op_{'abcdefgh'[index]}")
            safe = index < 2 or self.chance(50)
            type_ = self.pick([NAT, STR, JSON])
            values = {NAT: st.integers(0, 50), STR: ASCII_TEXT, JSON: JSON_VALUES}[type_]
            outcomes = []
            for _ in range(self.number(1, 3)):
                if not safe and (not outcomes or self.chance(50)):
                    outcomes.append({"fails": {"kind": self.pick(KINDS[:3]), "message": self.draw(TEXT)}})
                else:
                    outcomes.append({"returns": self.draw(values)})
            if not safe and all("returns" in outcome for outcome in outcomes):
                outcomes[0] = {"fails": {"kind": self.pick(KINDS[:3]), "message": self.draw(TEXT)}}
            self.ops[name] = Op(name, next(latencies), outcomes, type_, safe)
        if self.chance(40) or self.focus == "cancel":
            name = self.names.fresh("op_", "op_late")
            self.ops[name] = Op(name, next(latencies), [{"returns": "kept"}], STR, True, ignores_cancel=True)
        for index in range(self.number(1, 2)):
            self.resources[f"res_{'ab'[index]}"] = {"open": self.pick(SLEEPS[:5]), "close": self.pick(SLEEPS[:5])}
        self.queues["q_local"] = {} if self.chance(50) else {"size": self.number(1, 3)}
        self.queues["q_shared"] = {} if self.chance(50) else {"size": self.number(1, 2)}
        if self.focus in ("task_done", "join"):
            self.queues["q_done"] = {}  # balanced: every put is taken and marked done (_feature_task_done)
        if self.focus == "shutdown":
            self.queues["q_shut"] = {}

    def operations_yaml(self) -> dict:
        operations = {}
        for op in self.ops.values():
            spec: dict = {"latency": op.latency}
            if len(op.outcomes) == 1:
                spec.update(op.outcomes[0])
            else:
                spec["outcomes"] = op.outcomes
            if op.ignores_cancel:
                spec["on_cancel"] = "ignore"
            operations[op.name] = spec
        return operations

    def callable_ops(self, ctx: Context) -> list[Op]:
        return [op for op in self.ops.values() if not op.ignores_cancel and (op.safe or not ctx.safe)]

    def callable_functions(self, ctx: Context, kinds: tuple[str, ...]) -> list[Fn]:
        return [
            fn
            for fn in self.functions.values()
            if fn.kind in kinds and (fn.safe or not ctx.safe) and (fn.deadline_safe or not ctx.deadline)
        ]

    # -- expressions -------------------------------------------------------------------

    def expr(self, scope: Scope, type_: str, depth: int = 0) -> object:
        """A value of ``type_`` (see NAT ... JSON) from literals and the names in scope."""
        names = scope.of(*{NAT: (NAT,), INT: (NAT, INT), STR: (STR,), JSON: (NAT, INT, STR, JSON, REC)}[type_])
        errors = [f"${error}.{member}" for error in scope.errors for member in ("kind", "message")]
        records = scope.of(REC)
        choices = ["literal"] + ["name"] * 2 * bool(names) + ["field"] * 3 * bool(records)
        if type_ == NAT and depth < 2:
            choices.append("calc")
        if type_ == INT and depth < 2 and scope.of(NAT, INT):
            choices.append("calc")
        if type_ in (STR, JSON):
            choices += ["format"] * (depth < 2) + ["error"] * 2 * bool(errors)
        if type_ == JSON and depth < 2:
            choices += ["list", "map"]
        how = self.pick(choices)
        if how == "name":
            return f"${self.pick(names)}"
        if how == "error":
            return self.pick(errors)
        if how == "field":
            record = self.pick(records)
            numbers: list = [f"${record}.n", f"${record}.l[0]", f"${record}.l[1]", {"length": f"${record}.l"}]
            lists: list = [
                f"${record}.l",
                {"slice": [f"${record}.l", self.number(-3, 3), *[self.number(-3, 3)] * self.chance(50)]},
                {"append": [f"${record}.l", self.expr(scope, JSON, depth + 1)]},
            ]
            return self.pick({STR: [f"${record}.s"], JSON: [*numbers, f"${record}.s", *lists]}.get(type_, numbers))
        if how == "calc":
            if type_ == NAT:
                return {"calc": [self.expr(scope, NAT, depth + 1), self.pick(["+", "*"]), self.number(0, 5)]}
            operands = scope.of(NAT, INT)
            return {"calc": [f"${self.pick(operands)}", "-", self.expr(scope, NAT, depth + 1)]}
        if how == "format":
            return {"format": self.format_text(scope)}
        if how == "list":
            return [self.expr(scope, JSON, depth + 1) for _ in range(self.number(0, 3))]
        if how == "map":
            keys = self.draw(st.lists(KEYS, unique=True, max_size=3))
            return {key: self.expr(scope, JSON, depth + 1) for key in keys}
        value = {
            NAT: st.integers(0, 40),
            INT: st.integers(-1000, 1000),
            STR: ASCII_TEXT,
            JSON: JSON_VALUES,
        }[type_]
        return literal(self.draw(value))

    def format_text(self, scope: Scope) -> str:
        holes = scope.of(NAT, INT, STR) + [f"{error}.{member}" for error in scope.errors for member in ("kind", "message")]
        holes += [f"{record}.{field}" for record in scope.of(REC) for field in ("n", "s", "l[1]")]
        parts = []
        for _ in range(self.number(1, 3)):
            if holes and self.chance(60):
                parts.append("{" + self.pick(holes) + "}")
            else:
                parts.append(self.draw(TEXT).replace("{", "{{").replace("}", "}}"))
        return "".join(parts)

    def args(self, scope: Scope, params: list[tuple[str, str]]) -> dict:
        return {"args": [self.expr(scope, type_) for _, type_ in params]} if params else {}

    def bind(self, scope: Scope, step: dict, type_: str, percent: int = 60) -> dict:
        """Maybe add ``as: NAME`` to a step, binding a fresh name in ``scope``."""
        if self.chance(percent):
            name = scope.fresh("v")
            step["as"] = name
            scope.values[name] = type_
        return step

    # -- steps -------------------------------------------------------------------------

    def block(self, ctx: Context, scope: Scope, low: int = 1, high: int = 3) -> list[dict]:
        steps: list[dict] = []
        for _ in range(self.number(low, high)):
            kinds = self.kinds(ctx)
            kind = self.pick(kinds)
            made = STEP_BUILDERS[kind](self, ctx, scope)
            steps += made
            if kind in ("return", "break", "continue"):
                break
        return steps

    def kinds(self, ctx: Context) -> list[str]:
        """The step builders that may run here, weighted by repeats."""
        kinds = ["log", "set", "now", "sleep", "await"] * 2
        if self.callable_functions(ctx, ("worker", "seq") if ctx.sequential else ("worker",)):
            kinds += ["call"] * 2
        nested = ctx.depth < MAX_DEPTH
        if nested:
            kinds += ["if", "repeat", "while", "try"]
            if not ctx.safe:
                kinds.append("timeout")
        if not ctx.safe:
            kinds.append("throw")
        if ctx.returns is not None and "timeout" not in ctx.blocks:
            kinds.append("return")
        if ctx.blocks and ctx.blocks[-1] in LOOPS:
            kinds += ["break", "continue"]
        if ctx.where == "gen" and "timeout" not in ctx.blocks:
            kinds += ["yield"] * 3
        if not ctx.deadline:
            if self.resources and ctx.where != "gen" and nested:
                kinds.append("using")
            if ctx.sequential:
                kinds += ["start", "cancel", "put", "get"]
                if nested and self.callable_functions(ctx, ("gen",)):
                    kinds.append("for_each")
                if self.pairs:
                    kinds.append("queue_pair")
        if ctx.sequential:
            kinds += ["all", "all_settled", "race", "any", "group", "map"]
        return kinds

    def first_wait(self, ctx: Context, scope: Scope) -> list[dict]:
        """A real wait: a sleep, an operation, or a worker (whose first step is one)."""
        choices = ["sleep", "await"]
        if self.callable_functions(ctx, ("worker",)):
            choices.append("call_worker")
        how = self.pick(choices)
        if how == "sleep":
            return [{"sleep": self.pick(SLEEPS)}]
        if how == "await":
            return self.step_await(ctx, scope)
        return self.call(ctx, scope, ("worker",))

    def step_log(self, ctx: Context, scope: Scope) -> list[dict]:
        return [{"log": self.expr(scope, JSON)}]

    def step_set(self, ctx: Context, scope: Scope) -> list[dict]:
        again = [name for name in scope.of(NAT) if name not in scope.fixed]
        if again and self.chance(40):
            # Bound again, keeping its type (in a loop the next round reads it): a `let` in JavaScript.
            name = self.pick(again)
            return [{"set": name, "value": {"calc": [f"${name}", "+", self.number(1, 9)]}}]
        type_ = self.pick([NAT, INT, STR, JSON, REC, REC])
        if type_ == REC:
            value: object = {
                "n": self.expr(scope, NAT, 1),
                "s": self.expr(scope, STR, 1),
                "l": [self.expr(scope, NAT, 1) for _ in "ab"],
            }
        else:
            value = self.expr(scope, type_)
        name = scope.fresh("v")
        scope.values[name] = type_
        return [{"set": name, "value": value}]

    def step_now(self, ctx: Context, scope: Scope) -> list[dict]:
        name = scope.fresh("v")
        scope.values[name] = INT  # milliseconds: kept out of sleeps, which would then grow without bound
        return [{"now": name}]

    def step_sleep(self, ctx: Context, scope: Scope) -> list[dict]:
        if scope.of(NAT) and self.chance(30):
            return [{"sleep": {"calc": [f"${self.pick(scope.of(NAT))}", "+", self.pick(SLEEPS)]}}]
        return [{"sleep": self.pick(SLEEPS)}]

    def step_await(self, ctx: Context, scope: Scope) -> list[dict]:
        op = self.pick(self.callable_ops(ctx))
        step: dict = {"await": op.name}
        if self.chance(50):
            step["args"] = [self.expr(scope, JSON) for _ in range(self.number(1, 2))]
        return [self.bind(scope, step, op.type)]

    def call(self, ctx: Context, scope: Scope, kinds: tuple[str, ...] | None = None) -> list[dict]:
        if kinds is None:
            kinds = ("worker", "seq") if ctx.sequential else ("worker",)
        fn = self.pick(self.callable_functions(ctx, kinds))
        step = {"await": fn.name, **self.args(scope, fn.params)}
        return [self.bind(scope, step, fn.returns)]

    def step_throw(self, ctx: Context, scope: Scope) -> list[dict]:
        kind = self.pick(KINDS)
        return [{"throw": {"kind": kind, "message": self.expr(scope, STR)}}]

    def step_return(self, ctx: Context, scope: Scope) -> list[dict]:
        assert ctx.returns is not None
        return [{"return": self.expr(scope, ctx.returns)}]

    def step_break(self, ctx: Context, scope: Scope) -> list[dict]:
        return [{"break": True}]

    def step_continue(self, ctx: Context, scope: Scope) -> list[dict]:
        return [{"continue": True}]

    def step_yield(self, ctx: Context, scope: Scope) -> list[dict]:
        return [{"yield": self.expr(scope, self.yields)}]

    def comparison(self, scope: Scope) -> list:
        how = self.pick(["numbers", "strings", "null"])
        if how == "numbers":
            return [self.expr(scope, INT), self.pick(["==", "!=", "<", "<=", ">", ">="]), self.expr(scope, INT)]
        if how == "strings":
            # Not < and the like: past U+FFFF, Python orders code points and JavaScript UTF-16 units.
            return [self.expr(scope, STR), self.pick(["==", "!="]), self.expr(scope, STR)]
        return [self.expr(scope, JSON), self.pick(["==", "!="]), None]

    def condition(self, scope: Scope, depth: int = 0) -> object:
        """A comparison, or and / or / not of conditions (two levels at most)."""
        how = self.pick(["compare"] * 3 + ["and", "or", "not"] * (depth < 2))
        if how == "compare":
            return self.comparison(scope)
        if how == "not":
            return {"not": self.condition(scope, depth + 1)}
        return {how: [self.condition(scope, depth + 1) for _ in range(self.number(2, 3))]}

    def step_if(self, ctx: Context, scope: Scope) -> list[dict]:
        step: dict = {"if": self.condition(scope), "then": self.block(ctx.inside(), scope.child())}
        if self.chance(50):
            step["else"] = self.block(ctx.inside(), scope.child())
        return [step]

    def step_repeat(self, ctx: Context, scope: Scope) -> list[dict]:
        before: list[dict] = []
        step: dict = {"repeat": self.number(1, 3)}
        fixed: dict[str, str] = {}
        if self.chance(30):
            # A computed count, 0 now and then (no round at all); the body may not bind
            # its name again (the loader's rule: range() reads it once, a for each round).
            count = scope.fresh("n")
            before.append({"set": count, "value": self.number(0, 3)})
            step["repeat"] = f"${count}"
            scope.values[count] = NAT
            fixed[count] = NAT
        if self.chance(60):
            counter = scope.fresh("i")
            step["as"] = counter
            fixed[counter] = NAT
        inner = scope.child(fixed)
        step["steps"] = self.block(ctx.inside("repeat"), inner)
        if isinstance(step["repeat"], int) and not jumps(step["steps"]):
            # A literal count runs the body at least once and to its end: what it binds is
            # bound after it (not the counter).
            self.adopt(scope, inner, exclude=step.get("as"))
        return [*before, step]

    def step_while(self, ctx: Context, scope: Scope) -> list[dict]:
        # A counted while, its counter moved first so that a continue cannot spin it.
        counter = scope.fresh("w")
        inner = scope.child({counter: NAT})
        body = [{"set": counter, "value": {"calc": [f"${counter}", "+", 1]}}]
        body += self.block(ctx.inside("while"), inner)
        scope.values[counter] = NAT
        return [{"set": counter, "value": 0}, {"while": [f"${counter}", "<", self.number(0, 3)], "steps": body}]

    def adopt(self, scope: Scope, inner: Scope, exclude: str | None = None) -> None:
        for name, type_ in inner.values.items():
            if name not in scope.values and name != exclude:
                scope.values[name] = type_

    def catch_kinds(self, ctx: Context) -> list[str] | None:
        """The kinds a catch names; None: every error (never inside a deadline)."""
        if not ctx.deadline and self.chance(40):
            return None
        kinds = KINDS[:3] if ctx.deadline else KINDS
        return self.draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True))

    def step_try(self, ctx: Context, scope: Scope) -> list[dict]:
        step: dict = {"try": self.block(ctx.inside(), scope.child())}
        parts = self.pick(["catch", "finally", "both"]) if ctx.where != "gen" else "catch"
        if parts in ("catch", "both"):
            kinds = self.catch_kinds(ctx)
            if kinds is None and self.chance(50):
                step["catch"] = self.block(ctx.inside(), scope.child())
            else:
                error = scope.fresh("e")
                catch: dict = {} if kinds is None else {"kind": kinds[0] if len(kinds) == 1 else kinds}
                catch["as"] = error
                if kinds is not None and self.chance(20):
                    # except*: no return or break may leave it; a plain error is taken as a
                    # group of one, so it agrees with the JavaScript catch.
                    catch["from_group"] = True
                    catch["steps"] = [{"log": {"format": f"from a group: {{{error}.message}}"}}]
                else:
                    catch["steps"] = self.block(ctx.inside(), scope.child(error=error))
                step["catch"] = catch
        if parts in ("finally", "both"):
            if ctx.deadline:
                # Clean-up takes no signal in JavaScript: a finally under a deadline must not wait.
                step["finally"] = [self.step_log(ctx, scope)[0] for _ in range(self.number(1, 2))]
            else:
                # No break or continue leaves a finally (the loader's rule, PEP 765).
                step["finally"] = self.block(ctx.inside("finally"), scope.child())
        return [step]

    def step_timeout(self, ctx: Context, scope: Scope) -> list[dict]:
        inner = scope.child()
        body = self.block(replace(ctx.inside("timeout"), deadline=True), inner)
        self.adopt(scope, inner)  # a name bound in the block is visible after it
        return [{"timeout": self.pick(DEADLINES), "steps": body}]

    def step_using(self, ctx: Context, scope: Scope) -> list[dict]:
        step: dict = {"using": self.pick(self.resources)}
        if self.chance(50):
            step["args"] = [self.expr(scope, JSON)]
        inner = scope.child()
        if self.chance(50):
            handle = scope.fresh("r")
            step["as"] = handle
            inner = scope.child({handle: STR})
        step["steps"] = self.block(ctx.inside(), inner)
        self.adopt(scope, inner, exclude=step.get("as"))
        return [step]

    def step_for_each(self, ctx: Context, scope: Scope) -> list[dict]:
        gen = self.pick(self.callable_functions(ctx, ("gen",)))
        step: dict = {"for_each": gen.name, **self.args(scope, gen.params)}
        inner = scope.child()
        if self.chance(70):
            value = scope.fresh("i")
            step["as"] = value
            inner = scope.child({value: gen.returns})
        step["steps"] = self.block(ctx.inside("for_each"), inner)
        if self.chance(30):
            step["idiom"] = "aclosing"  # Python's async for inside contextlib.aclosing
        return [step]

    def step_start(self, ctx: Context, scope: Scope) -> list[dict]:
        """Starts, then a sleep or straight to the awaits, in the order started; only the
        first may fail (every other one succeeds, so that none fails unawaited)."""
        steps: list[dict] = []
        handles = []
        sleep = self.chance(50)  # then none may fail: it could fail before its await
        for index in range(self.number(1, 3)):
            safe_only = replace(ctx, safe=index > 0 or sleep)
            options: list = self.callable_ops(safe_only) + self.callable_functions(safe_only, ("worker",))
            callee = self.pick(options)
            handle = scope.fresh("h")
            params = callee.params if isinstance(callee, Fn) else []
            start: dict = {"start": callee.name, **self.args(scope, params)}
            if isinstance(callee, Op) and self.chance(50):
                start["args"] = [self.expr(scope, JSON)]
            start["as"] = handle
            steps.append(start)
            handles.append((handle, callee.type if isinstance(callee, Op) else callee.returns))
        if sleep:
            steps.append({"sleep": self.pick(SLEEPS)})
        if self.chance(30):
            # Started calls as values: gathered as a list (LANGUAGE.md, "Started calls as values").
            over: list = [f"${handle}" for handle, _ in handles]
            if self.chance(40):
                # A plain value among them: Promise.all takes it as it is, the Python
                # program a future already done with it (LANGUAGE.md, "Plain values").
                # (A literal: a parameter in that list is taken as a started call.)
                over.insert(self.number(0, len(over)), self.number(0, 99))
            return [*steps, self.bind(scope, {self.pick(["all", "all_settled"]): over}, JSON)]
        for handle, type_ in handles:
            steps.append(self.bind(scope, {"await": f"${handle}"}, type_))
        if self.chance(20):
            handle, type_ = handles[0]
            steps.append(self.bind(scope, {"await": f"${handle}"}, type_))  # a finished call, again
        return steps

    def step_cancel(self, ctx: Context, scope: Scope) -> list[dict]:
        # A started function is cancelled as a timeout cancels it in JavaScript (its signal
        # handed to every wait), so it is one a timeout block may call: no catch of every
        # error, no finally that waits, no operation that ignores cancellation.
        workers = self.callable_functions(replace(ctx, safe=True, deadline=True), ("worker",))
        callee: Op | Fn = (
            self.pick(workers) if workers and self.chance(40) else self.pick([op for op in self.ops.values() if op.safe])
        )
        type_ = callee.type if isinstance(callee, Op) else callee.returns
        handle = scope.fresh("h")
        inner = scope.child()
        waited = self.bind(inner, {"await": f"${handle}"}, type_, 50)
        start: dict = {"start": callee.name}
        if isinstance(callee, Fn):
            start.update(self.args(scope, callee.params))
        return [
            {**start, "as": handle},
            {"sleep": self.pick(SLEEPS)},
            {"cancel": f"${handle}"},
            {
                "try": [waited, *([{"log": f"${waited['as']}"}] if "as" in waited else [])],
                "catch": {"kind": "CancelledError", "steps": [{"log": "cancelled"}]},
            },
        ]

    def step_put(self, ctx: Context, scope: Scope) -> list[dict]:
        return [{"put": "q_local", "value": self.expr(scope, JSON)}]

    def step_get(self, ctx: Context, scope: Scope) -> list[dict]:
        # After a put, mostly: a get from an empty queue that nothing fills is a deadlock.
        steps = [] if self.chance(15) else self.step_put(ctx, scope)
        return [*steps, self.bind(scope, {"get": "q_local"}, JSON)]

    def branches(self, ctx: Context, scope: Scope, safe: bool, ops_only: bool = False) -> list[dict]:
        options: list = self.callable_ops(replace(ctx, safe=safe))
        if not ops_only:
            options += self.callable_functions(replace(ctx, safe=safe), ("worker",))
        calls = []
        # Each a different callee, mostly: two calls of one operation end at one instant.
        unique = self.chance(90)
        for callee in self.draw(
            st.lists(st.sampled_from(options), min_size=2, max_size=3, unique_by=(lambda callee: callee.name) if unique else None)
        ):
            call: dict = {"call": callee.name}
            if isinstance(callee, Fn):
                call.update(self.args(scope, callee.params))
            elif self.chance(40):
                call["args"] = [self.expr(scope, JSON)]
            calls.append(call)
        return calls

    def step_all(self, ctx: Context, scope: Scope) -> list[dict]:
        return [self.bind(scope, {"all": self.branches(ctx, scope, safe=False)}, JSON)]

    def step_all_settled(self, ctx: Context, scope: Scope) -> list[dict]:
        return [self.bind(scope, {"all_settled": self.branches(ctx, scope, safe=False)}, JSON)]

    def step_group(self, ctx: Context, scope: Scope) -> list[dict]:
        return [self.bind(scope, {"group": self.branches(ctx, scope, safe=True)}, JSON)]

    def contenders(self, ctx: Context, risky_at_most: int) -> list[Op]:
        """Two or three different operations for a race or an any: some that always succeed,
        and up to ``risky_at_most`` that may fail, each faster than every one that always
        succeeds (so that no call still running after the step settles can fail)."""
        safe = self.draw(st.lists(st.sampled_from(self.safe_ops()), min_size=1, max_size=3, unique_by=lambda op: op.name))
        fastest = min(op.latency for op in safe)
        risky = [op for op in self.callable_ops(ctx) if not op.safe and op.latency < fastest]
        chosen = (
            safe + self.draw(st.lists(st.sampled_from(risky), max_size=risky_at_most, unique_by=lambda op: op.name))
            if risky
            else safe
        )
        if len(chosen) < 2:
            chosen += [op for op in self.safe_ops() if op.name != chosen[0].name and op.latency > chosen[0].latency][:1]
        if len(chosen) < 2:
            chosen = sorted(self.safe_ops(), key=lambda op: op.latency)[:2]
        return self.draw(st.permutations(chosen))

    def safe_ops(self) -> list[Op]:
        return [op for op in self.ops.values() if op.safe and not op.ignores_cancel]

    def step_race(self, ctx: Context, scope: Scope) -> list[dict]:
        # Under a deadline none may fail: the deadline may give up on the step at any time.
        ops = self.contenders(ctx, 0 if ctx.deadline else 1)
        return [self.bind(scope, {"race": [{"call": op.name} for op in ops]}, JSON)]

    def step_any(self, ctx: Context, scope: Scope) -> list[dict]:
        ops = self.contenders(ctx, 0 if ctx.deadline else 1)
        return [self.bind(scope, {"any": [{"call": op.name, "args": [index]} for index, op in enumerate(ops)]}, JSON)]

    def step_map(self, ctx: Context, scope: Scope) -> list[dict]:
        mappers = self.callable_functions(ctx, ("mapper",))
        if mappers and self.chance(60):
            items = self.draw(st.lists(st.integers(1, 30), min_size=0, max_size=4, unique=True))
            step = {"map": self.pick(mappers).name, "over": items, "limit": self.number(1, 3)}
        else:
            # One operation, one latency: two calls at once would end at one instant.
            op = self.pick(self.callable_ops(ctx))
            step = {"map": op.name, "over": literal(self.draw(st.lists(JSON_VALUES, max_size=3))), "limit": 1}
        return [self.bind(scope, step, JSON)]

    def step_queue_pair(self, ctx: Context, scope: Scope) -> list[dict]:
        producer, consumer = self.pick(self.pairs)
        calls = [{"call": producer}, {"call": consumer}]
        if self.chance(30):
            calls.append({"call": self.pick(self.safe_ops()).name})
        return [self.bind(scope, {self.pick(["all", "all_settled"]): calls}, JSON)]

    # -- functions ---------------------------------------------------------------------

    def params(self) -> list[tuple[str, str]]:
        return [(self.names.fresh("p"), self.pick([NAT, STR, JSON])) for _ in range(self.number(0, 2))]

    def function(self, name: str, kind: str, safe: bool = False, deadline: bool = False) -> str:
        name = self.names.fresh("fn_", name)
        params = [(self.names.fresh("p", "item"), NAT)] if kind == "mapper" else self.params()
        returns = self.pick([NAT, STR, JSON])
        scope = Scope(dict(params), names=self.names)
        where = {"mapper": "worker"}.get(kind, kind)
        ctx = Context(where, returns=None if kind == "gen" else returns, deadline=deadline, safe=safe)
        if kind == "mapper":
            # The item sets how long the call takes, so that the calls of a map end apart; at
            # least a sleep of SLEEPS, since a computed sleep of 0 is not portable (LANGUAGE.md, sleep).
            steps = [{"sleep": {"calc": [f"${params[0][0]}", "+", self.pick(SLEEPS)]}}]
            steps += self.block(ctx, scope, 0, 2)
        elif kind == "worker":
            # Steps that do not wait may come first: run concurrently, each call runs them
            # up to its first wait before the next call starts, in every language.
            steps = [
                step
                for _ in range(self.number(0, 2))
                for step in STEP_BUILDERS[self.pick(["log", "set", "now"])](self, ctx, scope)
            ]
            steps += self.first_wait(ctx, scope) + self.block(ctx, scope, 0, 3)
        elif kind == "gen":
            self.yields = returns
            steps = self.block(ctx, scope, 1, 4)
            if not any("yield" in step for step in steps):
                steps.append({"yield": self.expr(scope, returns)})
        else:
            steps = self.block(ctx, scope, 1, 4)
        if kind != "gen" and not (steps and "return" in steps[-1]):
            steps.append({"return": self.expr(scope, returns)})
        self.functions[name] = Fn(name, kind, params, returns, safe, deadline)
        spec: dict = {}
        if params:
            spec["params"] = [param for param, _ in params]
        if kind == "gen":
            spec["generator"] = True
        spec["steps"] = steps
        self.bodies[name] = spec
        return name

    def queue_pair(self, index: int) -> None:
        """A producer that sleeps before each put, and a consumer that takes as many."""
        count = self.number(1, 3)
        producer, consumer = self.names.fresh("fn_", f"feed_{'ab'[index]}"), self.names.fresh("fn_", f"drain_{'ab'[index]}")
        scope = Scope({}, names=self.names)
        steps: list[dict] = []
        for _ in range(count):
            steps += [{"sleep": self.pick(SLEEPS)}, {"put": "q_shared", "value": self.expr(scope, JSON)}]
        steps += [{"sleep": self.pick(SLEEPS)}, {"return": count}]
        self.bodies[producer] = {"steps": steps}
        body: list[dict] = [{"get": "q_shared", "as": "job"}, {"log": {"taken": "$job"}}]
        if self.chance(50):
            body.append({"await": self.pick(self.safe_ops()).name, "args": ["$job"]})
        self.bodies[consumer] = {"steps": [{"repeat": count, "steps": body}, {"return": "drained"}]}
        for name in (producer, consumer):
            self.functions[name] = Fn(name, "queue", [], NAT, True, False)
        self.pairs.append((producer, consumer))

    def functions_in_order(self) -> None:
        needs_gen = self.focus in ("yield", "for_each", "break")
        for index in range(self.number(0, 2)):
            self.function(f"task_{'abc'[index]}", "worker", safe=self.chance(50), deadline=self.chance(50))
        if self.chance(50) or self.focus == "map":
            self.function("each_a", "mapper", safe=self.chance(50), deadline=self.chance(50))
        if self.chance(50) or self.focus in ("put", "get"):
            self.queue_pair(0)
        for index in range(self.number(1 if needs_gen else 0, 2)):
            self.function(f"gen_{'ab'[index]}", "gen")
        for index in range(self.number(0, 2)):
            self.function(f"fn_{'abc'[index]}", "seq", deadline=self.chance(40))

    # -- the scenario ------------------------------------------------------------------

    def scenario(self) -> dict:
        self.world()
        self.functions_in_order()
        ctx = Context("main", depth=1)
        scope = Scope({}, names=self.names)
        body = self.block(ctx, scope, 1, 4)
        body += FEATURES[self.focus](self, ctx, scope)
        document: dict = {
            "id": "fuzz",
            "summary": f"generated by tests/test_fuzz.py around {self.focus}",
            "operations": self.operations_yaml(),
            "resources": self.resources,
            "queues": self.queues,
        }
        if self.focus in EVENT_STEPS:
            document["events"] = {"ready": {}}
        if self.focus == "hold":
            document["locks"] = {"guard": {}}
            document["semaphores"] = {"slots": {"value": 2}}
        if self.bodies:
            document["functions"] = self.bodies
        if self.chance(10):
            # Low bounds, so that runs end as runaways too (turns_per_instant is left alone:
            # a turn is not the same thing in the two runtimes, LANGUAGE.md, limits).
            document["limits"] = self.pick([{"virtual_time": self.number(60, 400)}, {"timer_firings": self.number(1, 12)}])
        document["main"] = [
            {
                "try": body,
                "catch": {"as": "failure", "steps": [{"log": {"format": "main caught {failure.kind}: {failure.message}"}}]},
            },
            {"sleep": DRAIN},
            {"return": "end"},
        ]
        return document


STEP_BUILDERS: dict[str, Callable[[Builder, Context, Scope], list[dict]]] = {
    "log": Builder.step_log,
    "set": Builder.step_set,
    "now": Builder.step_now,
    "sleep": Builder.step_sleep,
    "await": Builder.step_await,
    "call": Builder.call,
    "throw": Builder.step_throw,
    "return": Builder.step_return,
    "break": Builder.step_break,
    "continue": Builder.step_continue,
    "yield": Builder.step_yield,
    "if": Builder.step_if,
    "repeat": Builder.step_repeat,
    "while": Builder.step_while,
    "try": Builder.step_try,
    "timeout": Builder.step_timeout,
    "using": Builder.step_using,
    "for_each": Builder.step_for_each,
    "start": Builder.step_start,
    "cancel": Builder.step_cancel,
    "put": Builder.step_put,
    "get": Builder.step_get,
    "all": Builder.step_all,
    "all_settled": Builder.step_all_settled,
    "race": Builder.step_race,
    "any": Builder.step_any,
    "group": Builder.step_group,
    "map": Builder.step_map,
    "queue_pair": Builder.step_queue_pair,
}


def _feature_for_each(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    return builder.step_for_each(ctx, scope)


def _feature_break(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    gen = builder.pick(builder.callable_functions(ctx, ("gen",)))
    body = builder.block(ctx.inside("for_each"), scope.child(), 0, 2)
    if builder.chance(50):
        body.append({"if": builder.comparison(scope), "then": [{"break": True}]})
    else:
        body.append({"break": True})
    return [{"for_each": gen.name, **builder.args(scope, gen.params), "steps": body}]


def _feature_continue(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # A round that continues early, in a repeat or a while, and a break too now and then.
    count = builder.number(1, 3)
    body = builder.block(ctx.inside("repeat"), scope.child(), 0, 2)
    body.append({"if": builder.comparison(scope), "then": [{"continue": True}]})
    body += builder.block(ctx.inside("repeat"), scope.child(), 0, 1)
    if builder.chance(30):
        body.append({"break": True})
    return [{"repeat": count, "steps": body}]


def _feature_return(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    options = builder.callable_functions(ctx, ("worker", "seq", "mapper"))
    if not options:
        options = [builder.functions[builder.function("fn_z", "seq")]]  # every function ends with a return
    fn = builder.pick(options)
    return [builder.bind(scope, {"await": fn.name, **builder.args(scope, fn.params)}, fn.returns)]


def _feature_map(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    return builder.step_map(ctx, scope)


def _feature_put_get(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    return builder.step_queue_pair(ctx, scope) + builder.step_get(ctx, scope)


def _feature_rethrow(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # A catch of every error that logs and throws the caught error on: main's own catch
    # then logs the same kind and message in every target.
    error = scope.fresh("e")
    body = builder.block(ctx.inside(), scope.child())
    steps = [{"log": {"format": f"rethrowing {{{error}.kind}}"}}, {"rethrow": f"${error}"}]
    return [{"try": body, "catch": {"as": error, "steps": steps}}]


def _feature_task_group(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # Starts into the group, perhaps a sleep, then the handles awaited after it. No task
    # fails (task-group-body-failure: Python cancels where JavaScript's rejection goes
    # unhandled), and nothing traced follows a start inside the body (eager-start).
    safe = replace(ctx, safe=True)
    starts: list[dict] = []
    handles = []
    for _ in range(builder.number(1, 3)):
        callee = builder.pick(builder.callable_ops(safe) + builder.callable_functions(safe, ("worker",)))
        handle = scope.fresh("h")
        start: dict = {"start": callee.name, **builder.args(scope, callee.params if isinstance(callee, Fn) else [])}
        start["as"] = handle
        starts.append(start)
        handles.append((handle, callee.type if isinstance(callee, Op) else callee.returns))
    if builder.chance(50):
        starts.append({"sleep": builder.pick(SLEEPS)})
    return [{"task_group": starts}, *(builder.bind(scope, {"await": f"${handle}"}, type_) for handle, type_ in handles)]


def _feature_shield(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # An operation that never fails (shield-failure-unretrieved: one failing after the
    # deadline gave up on it is unretrieved in Python only), awaited plainly or under a
    # timeout whose expiry ends the wait while the call runs on.
    op = builder.pick(builder.callable_ops(replace(ctx, safe=True)))
    step: dict = {"shield": op.name}
    if builder.chance(50):
        step["args"] = [builder.expr(scope, JSON)]
    if builder.chance(50):
        return [builder.bind(scope, step, op.type)]
    timed = {"timeout": builder.pick(DEADLINES), "steps": [step, {"log": "shielded call done"}]}
    return [{"try": [timed], "catch": {"kind": "TimeoutError", "steps": [{"log": "gave up waiting"}]}}]


def _feature_as_completed(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # Different operations that never fail, so no call fails after the loop has ended
    # (as-completed-late-failure) and none end at one instant (timers-due-together).
    ops = builder.draw(st.lists(st.sampled_from(builder.safe_ops()), min_size=2, max_size=3, unique_by=lambda op: op.latency))
    if len(ops) < 2:
        return builder.step_all(ctx, scope)
    step: dict = {"as_completed": [{"call": op.name} for op in ops]}
    inner = scope.child()
    if builder.chance(70):
        value = scope.fresh("i")
        step["as"] = value
        inner = scope.child({value: JSON})
    step["steps"] = builder.block(ctx.inside(), inner)
    return [step]


def _feature_wait(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # As for as_completed: operations that never fail (a call still pending after the wait
    # may end after main has moved on: race-loser-fails-unhandled) and no two ending at one
    # instant, nor at the timeout (timers-due-together).
    ops = builder.draw(st.lists(st.sampled_from(builder.safe_ops()), min_size=2, max_size=3, unique_by=lambda op: op.latency))
    if len(ops) < 2:
        return builder.step_all(ctx, scope)
    step: dict = {"wait": [{"call": op.name} for op in ops]}
    until = builder.pick(["all_completed", "first_completed", "first_exception", None])
    if until is not None:
        step["until"] = until
    if builder.chance(60):
        latencies = {op.latency for op in ops}
        step["timeout"] = builder.pick([ms for ms in range(1, max(latencies) + 20) if ms not in latencies])
    return [builder.bind(scope, step, JSON)]


def _feature_put_nowait(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # q_local may be bounded and full: QueueFull is caught (the runtime modules raise it alike).
    put = {"put_nowait": "q_local", "value": builder.expr(scope, JSON)}
    return [{"try": [put], "catch": {"kind": "QueueFull", "steps": [{"log": "full"}]}}]


def _feature_get_nowait(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    inner = scope.child()
    got = builder.bind(inner, {"get_nowait": "q_local"}, JSON, 70)
    body = [got, *([{"log": f"${got['as']}"}] if "as" in got else [])]
    puts = [] if builder.chance(40) else _feature_put_nowait(builder, ctx, scope)
    return [*puts, {"try": body, "catch": {"kind": "QueueEmpty", "steps": [{"log": "empty"}]}}]


def _feature_task_done(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # Put, take, mark done: q_done's count of values not marked done is back to 0 after.
    return [
        {"put": "q_done", "value": builder.expr(scope, JSON)},
        {"get": "q_done"},
        {"task_done": "q_done"},
    ]


def _feature_join(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    return [*(_feature_task_done(builder, ctx, scope) if builder.chance(70) else []), {"join": "q_done"}]


def _feature_shutdown(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # asyncio.Queue.shutdown is CPython 3.13's: the python targets skip the scenario before.
    put = {"put_nowait": "q_shut", "value": builder.expr(scope, JSON)}
    return [{"shutdown": "q_shut"}, {"try": [put], "catch": {"kind": "QueueShutDown", "steps": [{"log": "shut"}]}}]


EVENT_STEPS = ("set_event", "clear_event", "wait_event", "is_set")


def _feature_event(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # Sequential, in main: is_set, set, wait (at once, the event being set), clear, is_set
    # again; a wait on a cleared event would wait for ever.
    inner = scope.child()
    first, then = inner.fresh("v"), inner.fresh("v")
    steps: list[dict] = [{"is_set": "ready", "as": first}, {"if": [f"${first}", "==", False], "then": [{"log": "not set"}]}]
    steps += [{"set_event": "ready"}, {"wait_event": "ready"}, {"log": "set"}]
    # The answer is logged as a value: a format would write True in Python, true in JavaScript.
    steps += [{"clear_event": "ready"}, {"is_set": "ready", "as": then}, {"log": f"${then}"}]
    return [{"try": steps, "catch": [{"log": "unexpected"}]}]


def _feature_hold(builder: Builder, ctx: Context, scope: Scope) -> list[dict]:
    # A block drawn freely, holding the lock or the semaphore: it may leave by its end, an
    # error, a return or a jump, and the hold after it finds it released each way.
    # Waiters contending for the lock are the scenarios' business (spec/sync/lock-*.yaml).
    inner = scope.child()
    sync = builder.pick(["guard", "slots"])  # the lock, or the semaphore of 2
    held = {"hold": sync, "steps": builder.block(ctx.inside(), inner)}
    builder.adopt(scope, inner)
    # A catch of every error would catch a deadline's cancellation: none inside one.
    first = held if ctx.deadline else {"try": [held], "catch": [{"log": "caught"}]}
    return [first, {"hold": sync, "steps": [{"log": "held again"}]}]


FEATURES: dict[str, Callable[[Builder, Context, Scope], list[dict]]] = {
    "await": Builder.step_await,
    "start": Builder.step_start,
    "return": _feature_return,
    "throw": Builder.step_throw,
    "try": Builder.step_try,
    "sleep": Builder.step_sleep,
    "log": Builder.step_log,
    "all": Builder.step_all,
    "race": Builder.step_race,
    "if": Builder.step_if,
    "repeat": Builder.step_repeat,
    "all_settled": Builder.step_all_settled,
    "any": Builder.step_any,
    "timeout": Builder.step_timeout,
    "group": Builder.step_group,
    "set": Builder.step_set,
    "cancel": Builder.step_cancel,
    "map": _feature_map,
    "put": _feature_put_get,
    "get": _feature_put_get,
    "yield": _feature_for_each,
    "for_each": _feature_for_each,
    "break": _feature_break,
    "using": Builder.step_using,
    "now": Builder.step_now,
    "while": Builder.step_while,
    "continue": _feature_continue,
    "rethrow": _feature_rethrow,
    "task_group": _feature_task_group,
    "shield": _feature_shield,
    "as_completed": _feature_as_completed,
    "put_nowait": _feature_put_nowait,
    "get_nowait": _feature_get_nowait,
    "task_done": _feature_task_done,
    "join": _feature_join,
    "shutdown": _feature_shutdown,
    "set_event": _feature_event,
    "clear_event": _feature_event,
    "wait_event": _feature_event,
    "is_set": _feature_event,
    "hold": _feature_hold,
    "wait": _feature_wait,
}
"""For each step of spec/ir-steps.json, what main adds so that a scenario drawn around that
step surely holds it (each scenario has one such focus; the rest is drawn freely)."""


@st.composite
def scenarios(draw, focus: str | None = None) -> dict:
    """A scenario document (a dict, dumped to YAML by :func:`to_yaml`), drawn around one
    step of the table (its focus: ``focus``, or drawn), with everything else drawn freely."""
    if focus is None:
        focus = draw(st.sampled_from(sorted(STEPS)))
    return Builder(draw, focus).scenario()


def to_yaml(document: dict) -> str:
    text = yaml.dump(document, Dumper=DUMPER, sort_keys=False, allow_unicode=True, width=1_000_000)
    return "# yaml-language-server: $schema=../scenario.schema.json\n" + text


# -- running and comparing ------------------------------------------------------------


def step_names(ir: dict) -> set[str]:
    functions = [function["body"] for function in ir["functions"]]
    return {step["step"] for body in [ir["main"], *functions] for step in walk(body)}


def outcome_text(outcome: dict) -> str:
    lines = [f"{outcome['target']}: {outcome['status']} {outcome.get('message') or ''}".rstrip()]
    if outcome.get("result") is not None:
        lines.append(f"  result {json.dumps(outcome['result'], ensure_ascii=False)}")
    lines += [f"  {line}" for line in trace_lines(outcome.get("trace") or [])]
    return "\n".join(lines)


def differences(outcomes: dict[str, dict]) -> list[str]:
    """How the targets that ran differ: status, result or trace lines (empty: they agree)."""
    ran = {target: outcome for target, outcome in outcomes.items() if outcome["status"] != "skipped"}
    if len(ran) < 2:
        return []
    reference_target, reference = next(iter(ran.items()))
    found = []
    for target, outcome in ran.items():
        if outcome["status"] != reference["status"]:
            found.append(f"{target} ends {outcome['status']}, {reference_target} {reference['status']}")
        elif normalize(outcome.get("result")) != normalize(reference.get("result")):
            found.append(f"{target}'s result differs from {reference_target}'s")
        else:
            same, _ = same_events(trace_lines(reference["trace"]), trace_lines(outcome["trace"]))
            if not same:
                found.append(f"{target}'s trace differs from {reference_target}'s")
    return found


def cancelled_out_of_start_order(outcome: dict) -> list[int]:
    """The instants at which ``outcome``'s trace cancels more than one operation in an
    order other than the one they started in: asyncio cancels in list order, JavaScript
    in start order (timeout-cancels-in-call-order), so the two agree only where the
    calls started in list order. An instant that cancels one operation twice, or one
    whose start is not in the trace, is counted too: which start is whose is not known."""
    trace = outcome.get("trace") or []
    cancels: dict[object, list[tuple[int, str]]] = collections.defaultdict(list)
    for index, event in enumerate(trace):
        if event.get("event") == "cancel":
            cancels[event["t"]].append((index, event["op"]))
    found = []
    for instant, cancelled in cancels.items():
        if len(cancelled) < 2:
            continue
        names = [name for _, name in cancelled]
        first = cancelled[0][0]
        # The start of each: the last of its op's starts before the first cancel here.
        started = {event["op"]: index for index, event in enumerate(trace[:first]) if event.get("event") == "start"}
        unknown = len(set(names)) < len(names) or not all(name in started for name in names)
        if unknown or names != sorted(names, key=started.__getitem__):
            found.append(instant)
    return sorted(found)


class Targets:
    """Every target, on the testees at hand: python in-process (python-eager too, on CPython
    3.12 or later, or on a 3.12 worker in the full run) and Node's two."""

    def __init__(self, node: NodeTestee, eager: PythonWorkerTestee | None) -> None:
        self.python = PythonTestee()
        self.node = node
        self.eager = eager
        self.watch = TimerWatch()

    def run(self, ir: dict) -> tuple[dict[str, dict], list[int]]:
        """The outcome of every target, and the instants at which the python target fired
        more than one timer."""
        with self.watch.watching():
            outcomes = {"python": self.python.run(ir, "python")}
        together = self.watch.together()
        outcomes["python-eager"] = self.python.run(ir, "python-eager")
        if outcomes["python-eager"]["status"] == "skipped" and self.eager is not None:
            outcomes["python-eager"] = self.eager.run(ir, "python-eager")
        js = list(self.node.run_many([(ir, "js-promise"), (ir, "js-async")]))
        outcomes.update(zip(("js-promise", "js-async"), js, strict=True))
        assert list(outcomes) == list(TARGETS)
        return outcomes, together


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(NodeTestee(find_node()))
        eager = None
        if FULL and sys.version_info < (3, 12):
            python = next(filter(None, map(find_cpython, ("3.13", "3.12"))), None)
            if python is not None:
                eager = stack.enter_context(PythonWorkerTestee(find_python(python)))
        yield Targets(node, eager)


EXAMPLES = FULL_EXAMPLES if FULL else DEFAULT_EXAMPLES
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not FULL,  # the same examples on every default run: CI is reproducible
    database=None,
    # Shrinking a failure takes minutes: the default run reports the example as drawn.
    phases=list(Phase) if FULL else [Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def test_every_step_of_the_table_has_a_generator() -> None:
    # A step added to spec/ir-steps.json needs a generator here before the fuzz test covers it.
    assert sorted(FEATURES) == sorted(STEPS)


@pytest.mark.parametrize("step_name", sorted(STEPS))
def test_scenarios_drawn_around_a_step_load_and_hold_it(step_name: str) -> None:
    # Every step of the table, a few scenarios each: the generator for it writes it, and
    # what it writes loads (the main property test then draws the focus at random).
    @settings(FUZZ, max_examples=3, derandomize=True)
    @given(scenarios(step_name))
    def drawn(document: dict) -> None:
        result = load_text(to_yaml(document), "fuzz.yaml")
        assert result.diagnostics == [], "\n".join(str(diagnostic) for diagnostic in result.diagnostics)
        assert result.scenario is not None
        assert step_name in step_names(result.scenario.ir)

    drawn()


@FUZZ
@given(scenarios())
def test_generated_scenarios_load_run_within_bounds_and_agree(targets: Targets, document: dict) -> None:
    text = to_yaml(document)
    note(text)
    result = load_text(text, "fuzz.yaml")
    assert result.diagnostics == [], "\n".join(str(diagnostic) for diagnostic in result.diagnostics)
    assert result.scenario is not None
    outcomes, together = targets.run(result.scenario.ir)
    shown = "\n".join(outcome_text(outcome) for outcome in outcomes.values())
    note(shown)
    for outcome in outcomes.values():
        assert outcome["status"] in ("settled", "deadlock", "runaway", "skipped"), shown
        if outcome["status"] != "settled":
            assert outcome["message"], shown
    assume(not together)  # timers due together: asyncio and Node part there (timers-due-together)
    assume(not cancelled_out_of_start_order(outcomes["python"]))  # list order or start order (timeout-cancels-in-call-order)
    assert differences(outcomes) == [], shown


def test_only_cancellations_out_of_their_start_order_are_set_aside() -> None:
    def start(t: int, op: str) -> dict:
        return {"t": t, "event": "start", "op": op, "args": []}

    def cancel(t: int, op: str) -> dict:
        return {"t": t, "event": "cancel", "op": op}

    started = [start(0, "fetch_a"), start(5, "fetch_b")]
    # In start order: both languages cancel so; the example is compared.
    assert cancelled_out_of_start_order({"trace": [*started, cancel(50, "fetch_a"), cancel(50, "fetch_b")]}) == []
    assert cancelled_out_of_start_order({"trace": [*started, cancel(20, "fetch_b"), cancel(50, "fetch_a")]}) == []
    # Listed and cancelled in another order than they started.
    assert cancelled_out_of_start_order({"trace": [*started, cancel(50, "fetch_b"), cancel(50, "fetch_a")]}) == [50]
    # One operation twice, or a start not in the trace: whose cancel is whose is not known.
    twice = [start(0, "fetch_a"), start(5, "fetch_a"), cancel(50, "fetch_a"), cancel(50, "fetch_a")]
    assert cancelled_out_of_start_order({"trace": twice}) == [50]
    assert cancelled_out_of_start_order({"trace": [start(0, "fetch_a"), cancel(50, "fetch_a"), cancel(50, "fetch_b")]}) == [50]


def test_the_comparison_and_the_timer_watch_see_what_they_look_for(targets: Targets) -> None:
    # The controls: a declared divergence is a difference to `differences`, and two calls
    # ending at one instant are timers fired together; a plain sequence is neither.

    outcomes, together = targets.run(spec_ir("divergences/eager-start.yaml"))
    others = [target for target, outcome in outcomes.items() if target != "python" and outcome["status"] != "skipped"]
    assert differences(outcomes) == [f"{target}'s trace differs from python's" for target in others]
    assert "js-async" in others
    assert together == []
    outcomes, together = targets.run(spec_ir("timers/timers-due-together.yaml"))
    assert together == [50, 60]  # both fetches end at 50, both stores at 60
    outcomes, together = targets.run(spec_ir("timeouts/timeout-cancels-in-call-order.yaml"))
    assert cancelled_out_of_start_order(outcomes["python"]) == [50]  # fetch_a and fetch_b, at the deadline
    assert "js-async's trace differs from python's" in differences(outcomes)
    outcomes, together = targets.run(spec_ir("basics/sleep-and-log.yaml"))
    assert differences(outcomes) == []
    assert together == []
    assert cancelled_out_of_start_order(outcomes["python"]) == []
