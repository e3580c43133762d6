"""Load: scenario YAML files in, scenario IR (plain JSON) and diagnostics out.

The first stage of the pipeline (spec -> IR -> targets -> outcomes -> compare -> report).
It reads a file, rejects what YAML would accept silently (duplicate keys, several
documents, values that are not JSON), checks every key, name and value against the
scenario language of spec/LANGUAGE.md, and builds the IR of spec/PROTOCOL.md. Every
problem becomes a :class:`~asyncparity.diagnostics.Diagnostic` with file, line and
column; the loader collects all of them instead of stopping at the first.

Nothing in a scenario is ever evaluated: YAML is composed with PyYAML's safe loader
into nodes, scalars are resolved by the safe constructor, and strings stay strings until
a target emits them as escaped literals.

Example::

    result = load_file(Path("spec/seed/download-fallback.yaml"))
    if result.diagnostics:
        for diagnostic in result.diagnostics:
            print(diagnostic)
    else:
        ir = result.scenario.ir
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, did_you_mean
from .names import ERROR_KIND, IDENTIFIER, JS_RESERVED_SPELLINGS, RESERVED_KINDS, RESERVED_NAMES, SCENARIO_ID, camel_case

IR_VERSION = 1
TARGETS = ("python", "python-eager", "js-promise", "js-async")
"""Every target id, in the order reports list them. ``python-eager`` is the Python program
run with ``asyncio.eager_task_factory`` (CPython 3.12+; skipped, with the reason, before)."""

DEFAULT_TARGETS = ("python", "js-promise", "js-async")
"""The three idioms, run when no ``--targets`` is given; ``python-eager`` is asked for by name."""

DEFAULT_LIMITS = {"virtual_time": 3_600_000, "timer_firings": 10_000, "turns_per_instant": 1_000}
"""Runaway bounds (DESIGN.md, virtual-time rule 6); a scenario may lower or raise them."""

# libyaml's parser is about twenty times faster than PyYAML's own, and loading is most
# of a suite's time (`asyncparity bench` shows the breakdown).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript numbers are doubles: larger integers lose digits.
MAX_REPEAT = 10_000

TOP_LEVEL_KEYS = (
    "id",
    "summary",
    "tags",
    "requires",
    "operations",
    "resources",
    "queues",
    "functions",
    "main",
    "expect",
    "diverge",
    "limits",
)
OPERATION_KEYS = ("latency", "returns", "fails", "outcomes", "on_cancel")
ON_CANCEL = ("stop", "ignore")
CANCELLED = "CancelledError"
"""The kit's name for cancellation in a catch: asyncio.CancelledError, or an AbortError in JavaScript."""
FUNCTION_KEYS = ("params", "generator", "steps")
EXPECT_KEYS = ("returns", "throws", "uncaught", "trace", "order")
DIVERGE_KEYS = ("targets", "reason", "cause", "closed_by", "see", "returns", "throws", "uncaught", "trace")
RESULT_KEYS = ("returns", "throws", "uncaught")
CAUSES = ("language", "idiom")
"""Why a divergence exists: the languages differ (``language``), or the idiom a target
is written in behaves otherwise than the closest code in the other idioms (``idiom``)."""
ORDERS = ("exact", "instant")
TIMEOUT_IDIOMS = ("signal", "race")

# Each step is a mapping with exactly one head key; the other keys it may carry.
STEP_MODIFIERS: dict[str, tuple[str, ...]] = {
    "await": ("args", "as"),
    "start": ("args", "as"),
    "return": (),
    "throw": (),
    "try": ("catch", "finally"),
    "sleep": (),
    "log": (),
    "all": ("as",),
    "race": ("as",),
    "if": ("then", "else"),
    "repeat": ("as", "steps"),
    "all_settled": ("as",),
    "any": ("as",),
    "timeout": ("steps", "idiom"),
    "group": ("as",),
    "set": ("value",),
    "cancel": (),
    "map": ("over", "limit", "as"),
    "put": ("value",),
    "get": ("as",),
    "yield": (),
    "for_each": ("args", "as", "steps"),
    "break": (),
    "using": ("args", "as", "steps"),
}
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
ARITHMETIC = ("+", "-", "*")  # integers only: `/` and `%` differ between the languages
# `$name` or `$error.message`; any other string, "$HOME" or "${x}" included, is literal text.
REFERENCE = re.compile(r"^\$([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?$")
ERROR_MEMBERS = ("kind", "message")


@dataclass(frozen=True)
class Expectation:
    """What a target should do: its result (``{"returns": v}``, ``{"throws": e}`` or
    ``{"uncaught": e}``, the program ended at an unhandled error) and trace.

    Either part may be ``None`` (not stated). ``trace`` holds canonical trace lines.
    """

    result: dict | None
    trace: tuple[str, ...] | None
    line: int
    order: str = "exact"


@dataclass(frozen=True)
class Divergence:
    """A declared difference: these targets behave otherwise, for this reason."""

    targets: tuple[str, ...]
    reason: str
    result: dict | None
    trace: tuple[str, ...] | None
    line: int
    see: tuple[str, ...] = ()
    cause: str = "language"
    """``language`` or ``idiom`` (:data:`CAUSES`)."""
    closed_by: str = ""
    """The code that makes the targets agree, where there is one (in words)."""


@dataclass(frozen=True)
class Scenario:
    """A loaded, valid scenario: its IR for the targets and its expectations for compare."""

    id: str
    path: str
    line: int
    summary: str
    tags: tuple[str, ...]
    ir: dict
    expect: Expectation | None
    diverge: tuple[Divergence, ...]

    def expected_for(self, target: str) -> tuple[Expectation | None, Divergence | None]:
        """The expectation for one target: the base ``expect`` overlaid by its divergence."""
        for divergence in self.diverge:
            if target in divergence.targets:
                base = self.expect
                return (
                    Expectation(
                        result=divergence.result if divergence.result is not None else (base.result if base else None),
                        trace=divergence.trace if divergence.trace is not None else (base.trace if base else None),
                        line=divergence.line,
                        order=base.order if base else "exact",
                    ),
                    divergence,
                )
        return self.expect, None


@dataclass
class LoadResult:
    """The outcome of loading one file: a scenario, or the diagnostics that prevent one."""

    path: str
    scenario: Scenario | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def is_scenario_text(text: str) -> bool:
    """Whether a YAML text looks like a scenario (used to pick files out of a folder).

    True when it carries the scenario schema line or a top-level ``main:`` key, so that
    other YAML (CI workflows, compose files) is never mistaken for a scenario.
    """
    return "scenario.schema.json" in text or re.search(r"^main\s*:", text, re.MULTILINE) is not None


def discover(paths: Iterable[Path]) -> list[Path]:
    """Scenario files under the given files and folders, sorted, without repeats.

    A file named explicitly is always taken; in a folder, ``*.yaml`` / ``*.yml`` files
    that look like scenarios (:func:`is_scenario_text`).
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for candidate in sorted(list(path.rglob("*.yaml")) + list(path.rglob("*.yml"))):
                try:
                    text = candidate.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    text = "main:"  # unreadable: load it, so the user hears why
                if is_scenario_text(text):
                    found.setdefault(candidate, None)
        else:
            found.setdefault(path, None)
    return list(found)


def load_file(path: Path, display: str | None = None) -> LoadResult:
    """Read and load one scenario file; never raises for bad input."""
    shown = display if display is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadResult(shown, diagnostics=[Diagnostic(shown, 1, 1, "no such file")])
    except UnicodeDecodeError as error:
        return LoadResult(shown, diagnostics=[Diagnostic(shown, 1, 1, f"not UTF-8 text ({error.reason})")])
    except OSError as error:
        return LoadResult(shown, diagnostics=[Diagnostic(shown, 1, 1, f"cannot read: {error.strerror}")])
    return load_text(text, shown)


def load_text(text: str, path: str) -> LoadResult:
    """Load one scenario from its text; ``path`` is used in diagnostics and the IR."""
    result = LoadResult(path)
    try:
        documents = list(yaml.compose_all(text, Loader=_FAST_LOADER))
    except yaml.YAMLError:
        documents = None
    try:
        if documents is None:
            # Parse again with the pure-Python parser: its messages are the ones the
            # diagnostics promise, whether or not PyYAML was built with libyaml.
            documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or "invalid YAML"
        context = f" {error.context}" if error.context else ""
        result.diagnostics.append(Diagnostic(path, line, column, f"YAML syntax error: {problem}{context}"))
        return result
    except yaml.YAMLError as error:
        result.diagnostics.append(Diagnostic(path, 1, 1, f"YAML error: {error}"))
        return result
    if "&" in text or "*" in text:  # a cheap guard: most files have neither
        for event in yaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line, column = event.start_mark.line + 1, event.start_mark.column + 1
                # An alias shares one value between places; the targets would each get a
                # copy, and a reader would have to chase it. Scenarios spell values out.
                result.diagnostics.append(
                    Diagnostic(path, line, column, "anchors and aliases (&name, *name) are not supported: write the value out")
                )
                return result
    documents = [document for document in documents if document is not None]
    if not documents:
        result.diagnostics.append(Diagnostic(path, 1, 1, "empty file: a scenario needs at least id, summary and main"))
        return result
    if len(documents) > 1:
        line, column = _position(documents[1])
        result.diagnostics.append(Diagnostic(path, line, column, "one scenario per file: a second YAML document starts here"))
        return result
    checker = _Checker(path)
    scenario = checker.scenario(documents[0])
    result.diagnostics = checker.diagnostics
    if not checker.diagnostics:
        result.scenario = scenario
    return result


def load_paths(paths: Iterable[Path]) -> list[LoadResult]:
    """Load every scenario file under ``paths``; a repeated id is a diagnostic on the later file."""
    results = [load_file(path) for path in discover(paths)]
    seen: dict[str, Scenario] = {}
    for result in results:
        scenario = result.scenario
        if scenario is None:
            continue
        if scenario.id in seen:
            first = seen[scenario.id]
            result.diagnostics.append(
                Diagnostic(
                    result.path, scenario.line, 1, f"scenario id '{scenario.id}' is already used by {first.path}:{first.line}"
                )
            )
            result.scenario = None
        else:
            seen[scenario.id] = scenario
    return results


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_MISSING = object()


class _Scope:
    """The names visible in one function body, in document order, with what they hold."""

    def __init__(self, params: Iterable[str] = ()) -> None:
        self.kinds: dict[str, str] = {name: "value" for name in params}
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
        self.definite: set[str] | None = set(self.kinds)
        self.started: dict[str, str] = {}  # handle -> what it started ("operation" | "function")

    def kind(self, name: str) -> str | None:
        return self.kinds.get(name)

    def snapshot(self) -> set[str] | None:
        return None if self.definite is None else set(self.definite)


def _meet(*paths: set[str] | None) -> set[str] | None:
    """Names bound on every path that goes on (None: no path goes on)."""
    going_on = [path for path in paths if path is not None]
    return set.intersection(*going_on) if going_on else None


class _Checker:
    """Walks the composed YAML of one file, collecting diagnostics and building the IR."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.callables: dict[str, str] = {}  # name -> "operation" | "function"
        self.arity: dict[str, int] = {}
        self.raised_kinds: list[str] = []  # kinds thrown or failed with, first use first
        self.caught: list[tuple[str, yaml.Node]] = []
        self.generators: set[str] = set()
        # Where the step being read sits: in a generator function, and inside which loops
        # and timeout blocks (innermost last), for yield and break.
        self.in_generator = False
        self.blocks: list[str] = []
        self.constructor = yaml.constructor.SafeConstructor()

    # -- reporting ---------------------------------------------------------------

    def error(self, node: yaml.Node, message: str) -> None:
        line, column = _position(node)
        self.diagnostics.append(Diagnostic(self.path, line, column, message))

    # -- YAML shapes ---------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """The entries of a mapping node by key, rejecting duplicates and non-string keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping, not {_describe(node)}")
            return None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self.error(key_node, f"keys in {what} must be strings")
                continue
            key = key_node.value
            if key in entries:
                line, _ = _position(entries[key][0])
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
            self.error(node, f"{what} must be a list, not {_describe(node)}")
            return None
        return list(node.value)

    def plain(self, node: yaml.Node, what: str) -> Any:
        """A JSON value from a node, or ``_MISSING`` after reporting why it is not one."""
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node)
            except yaml.YAMLError as error:
                self.error(node, f"{what}: {error}")
                return _MISSING
            if isinstance(value, str):
                surrogate = next((char for char in value if "\ud800" <= char <= "\udfff"), None)
                if surrogate is not None:
                    # YAML's \uXXXX escapes do not pair surrogates; such text is not Unicode.
                    self.error(
                        node,
                        f"{what}: a lone UTF-16 surrogate \\u{ord(surrogate):04x}; write the character itself or use \\U for it",
                    )
                    return _MISSING
                return value
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, int):
                if abs(value) > MAX_SAFE_INTEGER:
                    self.error(node, f"{what}: integer {value} is too large for JavaScript (limit 2**53-1); write it as a string")
                    return _MISSING
                return value
            if isinstance(value, float):
                if math.isnan(value) or math.isinf(value):
                    self.error(node, f"{what}: {node.value} is not a JSON number")
                    return _MISSING
                return value
            self.error(
                node, f"{what}: {node.value!r} reads as {type(value).__name__}, not a JSON value; quote it to make a string"
            )
            return _MISSING
        if isinstance(node, yaml.SequenceNode):
            items = [self.plain(item, what) for item in node.value]
            return _MISSING if any(item is _MISSING for item in items) else items
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, what)
            if entries is None:
                return _MISSING
            values = {key: self.plain(value, what) for key, (_, value) in entries.items()}
            return _MISSING if any(value is _MISSING for value in values.values()) else values
        self.error(node, f"{what}: aliases and anchors are not supported")
        return _MISSING

    def scalar(self, node: yaml.Node, what: str, kind: type | tuple[type, ...]) -> Any:
        value = self.plain(node, what) if isinstance(node, yaml.ScalarNode) else _MISSING
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be {_type_name(kind)}, not {_describe(node)}")
            return _MISSING
        if value is _MISSING:
            return _MISSING
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            self.error(node, f"{what} must be {_type_name(kind)}, not {_describe(node)}")
            return _MISSING
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int, maximum: int | None = None) -> Any:
        value = self.scalar(node, what, int)
        if value is _MISSING:
            return value
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(node, f"{what} must be {bound}, not {value}")
            return _MISSING
        return value

    def name(self, node: yaml.Node, what: str, pattern: re.Pattern[str] = IDENTIFIER) -> str | None:
        value = self.scalar(node, what, str)
        if value is _MISSING:
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

    # -- the file --------------------------------------------------------------------

    def scenario(self, root: yaml.Node) -> Scenario | None:
        entries = self.mapping(root, "a scenario")
        if entries is None:
            return None
        self.known_keys(entries, TOP_LEVEL_KEYS, "the scenario")
        for required in ("id", "summary", "main"):
            if required not in entries:
                self.error(root, f"missing required key '{required}'")

        scenario_id = None
        id_line = _position(root)[0]
        if "id" in entries:
            id_node = entries["id"][1]
            id_line = _position(entries["id"][0])[0]
            scenario_id = self.scalar(id_node, "id", str)
            if scenario_id is not _MISSING and not SCENARIO_ID.match(scenario_id):
                self.error(id_node, f"id '{scenario_id}' must be a slug: lowercase letters, digits and '-'")
                scenario_id = None
        summary = self.summary(entries["summary"][1]) if "summary" in entries else None
        tags = self.tags(entries["tags"][1]) if "tags" in entries else ()
        limits = self.limits(entries["limits"][1]) if "limits" in entries else dict(DEFAULT_LIMITS)
        requires = self.requires(entries["requires"][1]) if "requires" in entries else None

        operations = self.operations(entries["operations"][1]) if "operations" in entries else []
        resources = self.resource_declarations(entries["resources"][1]) if "resources" in entries else []
        queues = self.queue_declarations(entries["queues"][1]) if "queues" in entries else []
        function_nodes = self.function_headers(entries["functions"][1]) if "functions" in entries else []
        self.check_javascript_names(entries)

        functions = [self.function(name, params, body_node) for name, params, body_node in function_nodes]
        self.in_generator, self.blocks = False, []
        main = self.steps(entries["main"][1], _Scope(), "main") if "main" in entries else []
        if "main" in entries and isinstance(entries["main"][1], yaml.SequenceNode) and not entries["main"][1].value:
            self.error(entries["main"][1], "main needs at least one step")

        errors = list(self.raised_kinds)
        for kind, node in self.caught:
            if kind in errors:
                continue
            # Catching a kind nothing raises is legitimate (the happy path of the same
            # code), but one spelled almost like a raised kind is a typo.
            # A strict cutoff: HttpError is not a typo of IOError, IOErorr is.
            hint = did_you_mean(kind, self.raised_kinds, cutoff=0.8)
            if hint:
                self.error(node, f"error kind '{kind}' is caught but never thrown or failed with{hint}")
            else:
                errors.append(kind)
        expect = self.expectation(entries["expect"][1]) if "expect" in entries else None
        diverge = self.divergences(entries["diverge"][1], expect) if "diverge" in entries else ()

        if self.diagnostics or not isinstance(scenario_id, str) or summary is None:
            return None
        ir = {
            "ir": IR_VERSION,
            "id": scenario_id,
            "summary": summary,
            "source": self.path,
            "limits": limits,
            **({"requires": requires} if requires else {}),
            "errors": errors,
            "resources": resources,
            "queues": queues,
            "operations": operations,
            "functions": functions,
            "main": main,
        }
        return Scenario(scenario_id, self.path, id_line, summary, tags, ir, expect, tuple(diverge))

    def summary(self, node: yaml.Node) -> str | None:
        value = self.scalar(node, "summary", str)
        if value is _MISSING:
            return None
        value = value.strip()
        if not value or "\n" in value:
            self.error(node, "summary must be one non-empty line")
            return None
        return value

    def tags(self, node: yaml.Node) -> tuple[str, ...]:
        items = self.sequence(node, "tags")
        tags = []
        for item in items or []:
            tag = self.scalar(item, "a tag", str)
            if tag is not _MISSING:
                if SCENARIO_ID.match(tag):
                    tags.append(tag)
                else:
                    self.error(item, f"tag '{tag}' must be a slug: lowercase letters, digits and '-'")
        return tuple(tags)

    def requires(self, node: yaml.Node) -> dict | None:
        """``requires: {python: "3.11", node: "22", features: [await_using]}``: what a runtime needs.

        A target whose runtime falls short is skipped with the reason, never failed
        (runner/testees.py checks it against the testee's hello).
        """
        entries = self.mapping(node, "requires")
        if entries is None:
            return None
        self.known_keys(entries, ("python", "node", "features"), "requires")
        requires: dict = {}
        for key, pattern, example in (("python", r"3\.\d+", '"3.11"'), ("node", r"\d+", '"22"')):
            if key in entries:
                value = self.scalar(entries[key][1], f"requires.{key}", str)
                if value is not _MISSING and not re.fullmatch(pattern, value):
                    self.error(entries[key][1], f"requires.{key} is a minimum version written as a string, like {example}")
                elif value is not _MISSING:
                    requires[key] = value
        if "features" in entries:
            features = [
                self.scalar(item, "a feature", str) for item in self.sequence(entries["features"][1], "requires.features") or []
            ]
            requires["features"] = [feature for feature in features if feature is not _MISSING]
        return requires

    def limits(self, node: yaml.Node) -> dict:
        limits = dict(DEFAULT_LIMITS)
        entries = self.mapping(node, "limits")
        if entries is None:
            return limits
        self.known_keys(entries, DEFAULT_LIMITS, "limits")
        for key, (_, value_node) in entries.items():
            if key in DEFAULT_LIMITS:
                value = self.integer(value_node, f"limits.{key}", 1)
                if value is not _MISSING:
                    limits[key] = value
        return limits

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
            latency = self.integer(spec["latency"][1], f"latency of '{name}'", 0) if "latency" in spec else _MISSING
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
                outcomes = [self.outcome(item, name) for item in items]
            else:
                outcomes = [self.outcome_entry(given[0], spec[given[0]][1], name)]
            on_cancel = "stop"
            if "on_cancel" in spec:
                on_cancel = self.scalar(spec["on_cancel"][1], "on_cancel", str)
                if on_cancel is not _MISSING and on_cancel not in ON_CANCEL:
                    self.error(spec["on_cancel"][1], f"on_cancel is 'stop' (the default) or 'ignore', not '{on_cancel}'")
                    on_cancel = _MISSING
            if (
                latency is not _MISSING
                and on_cancel is not _MISSING
                and all(outcome is not None for outcome in outcomes)
                and outcomes
            ):
                operation = {"name": name, "latency": latency, "outcomes": outcomes}
                if on_cancel != "stop":
                    operation["on_cancel"] = on_cancel
                operations.append(operation)
        return operations

    def resource_declarations(self, node: yaml.Node) -> list[dict]:
        """``resources: {connection: {open: 5, close: 3}}``: things opened and closed around a block."""
        entries = self.mapping(node, "resources")
        resources = []
        for name, (key_node, value_node) in (entries or {}).items():
            if self.name(key_node, "resource name") is None:
                continue
            if name in self.callables:
                self.error(key_node, f"'{name}' is already {_a(self.callables[name])}")
                continue
            spec = self.mapping(value_node, f"resource '{name}'")
            if spec is None:
                continue
            self.known_keys(spec, ("open", "close"), f"resource '{name}'")
            missing = [key for key in ("open", "close") if key not in spec]
            if missing:
                self.error(value_node, f"resource '{name}' needs {' and '.join(missing)} (virtual milliseconds each takes)")
                continue
            opening = self.integer(spec["open"][1], f"open of '{name}'", 0)
            closing = self.integer(spec["close"][1], f"close of '{name}'", 0)
            if opening is _MISSING or closing is _MISSING:
                continue
            self.callables[name] = "resource"
            resources.append({"name": name, "open": opening, "close": closing})
        return resources

    def queue_declarations(self, node: yaml.Node) -> list[dict]:
        """``queues: {jobs: {size: 2}}``: module-level queues, shared by every function."""
        entries = self.mapping(node, "queues")
        queues = []
        for name, (key_node, value_node) in (entries or {}).items():
            if self.name(key_node, "queue name") is None:
                continue
            if name in self.callables:
                self.error(key_node, f"'{name}' is already {_a(self.callables[name])}")
                continue
            spec = self.mapping(value_node, f"queue '{name}'")
            if spec is None:
                continue
            self.known_keys(spec, ("size",), f"queue '{name}'")
            size = self.integer(spec["size"][1], f"size of queue '{name}'", 1) if "size" in spec else None
            if size is _MISSING:
                continue
            self.callables[name] = "queue"
            queues.append({"name": name, "size": size})
        return queues

    def outcome(self, node: yaml.Node, name: str) -> dict | None:
        entries = self.mapping(node, f"an outcome of '{name}'")
        if entries is None:
            return None
        self.known_keys(entries, ("returns", "fails"), f"an outcome of '{name}'")
        given = [key for key in ("returns", "fails") if key in entries]
        if len(given) != 1:
            self.error(node, f"an outcome of '{name}' is either returns or fails")
            return None
        return self.outcome_entry(given[0], entries[given[0]][1], name)

    def outcome_entry(self, key: str, node: yaml.Node, name: str) -> dict | None:
        if key == "returns":
            value = self.plain(node, f"the value '{name}' returns")
            return None if value is _MISSING else {"returns": value}
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
        if kind is None or message is _MISSING:
            return None
        return {"kind": kind, "message": message}

    def note_raised(self, kind: str) -> None:
        if kind not in self.raised_kinds:
            self.raised_kinds.append(kind)

    def function_headers(self, node: yaml.Node) -> list[tuple[str, list[str], yaml.Node | None]]:
        entries = self.mapping(node, "functions")
        headers = []
        for name, (key_node, value_node) in (entries or {}).items():
            if self.name(key_node, "function name") is None:
                continue
            if name in self.callables:
                self.error(key_node, f"'{name}' is already {_a(self.callables[name])}")
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
            if "steps" not in spec:
                self.error(value_node, f"function '{name}' needs steps")
            if "generator" in spec and self.scalar(spec["generator"][1], "generator", bool) is True:
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
        body = self.steps(body_node, _Scope(params), f"function '{name}'") if body_node is not None else []
        self.in_generator = False
        function = {"name": name, "params": params, "body": body}
        if name in self.generators:
            function["generator"] = True
        return function

    # -- steps -----------------------------------------------------------------------

    def steps(self, node: yaml.Node, scope: _Scope, where: str) -> list[dict]:
        items = self.sequence(node, f"the steps of {where}")
        steps = []
        for item in items or []:
            step = self.step(item, scope, where)
            if step is not None:
                steps.append(step)
        return steps

    def step(self, node: yaml.Node, scope: _Scope, where: str) -> dict | None:
        entries = self.mapping(node, "a step")
        if entries is None:
            return None
        heads = [key for key in entries if key in STEP_MODIFIERS]
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
        self.known_keys({key: value for key, value in entries.items() if key != head}, STEP_MODIFIERS[head], f"a '{head}' step")
        line = _position(node)[0]
        build = getattr(self, f"step_{head}")
        step = build(entries, scope, where)
        if step is not None:
            step["line"] = line
        return step

    def bind(self, entries: dict, scope: _Scope, kind: str, required: bool, step_node: yaml.Node | None = None) -> str | None:
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
            self.error(node, f"'{name}' is already {_a(self.callables[name])}; choose another name")
            return None
        if name in scope.fixed:
            self.error(node, f"'{name}' is {scope.fixed[name]} in this block; bind another name")
            return None
        camel = camel_case(name)
        clash = next((other for other in [*scope.kinds, *self.callables] if other != name and camel_case(other) == camel), None)
        if clash is not None:
            self.error(node, f"'{name}' and '{clash}' are both '{camel}' in JavaScript; choose another name")
            return None
        previous = scope.kind(name)
        if previous is not None and previous != kind and not {previous, kind} <= {"value", "param"}:
            self.error(node, f"'{name}' already holds {_article(previous)}; choose another name")
            return None
        scope.kinds[name] = kind
        scope.ended.pop(name, None)
        if scope.definite is not None:
            scope.definite.add(name)
        return name

    def call(self, name_node: yaml.Node, args_node: yaml.Node | None, scope: _Scope, generator: bool = False) -> dict | None:
        callee = self.scalar(name_node, "what to call", str)
        if callee is _MISSING:
            return None
        kind = self.callables.get(callee)
        if kind not in ("operation", "function") or (callee in self.generators) != generator:
            hint = did_you_mean(callee, [name for name, known in self.callables.items() if known in ("operation", "function")])
            what = {
                "queue": f"'{callee}' is a queue; use put and get with it",
                "resource": f"'{callee}' is a resource; open it with a 'using' step",
            }.get(kind, f"unknown operation or function '{callee}'{hint}")
            if kind in ("function", "operation") and generator:
                what = f"'{callee}' is not a generator; for_each consumes a function with generator: true"
            elif kind == "function":
                what = f"'{callee}' is a generator; consume its values with 'for_each: {callee}'"
            self.error(name_node, what)
            return None
        args = []
        if args_node is not None:
            for item in self.sequence(args_node, "args") or []:
                args.append(self.expr(item, scope))
        if None in args:
            return None
        if self.callables[callee] == "function" and len(args) != self.arity[callee]:
            self.error(
                args_node if args_node is not None else name_node,
                f"'{callee}' takes {self.arity[callee]} argument(s), given {len(args)}",
            )
            return None
        return {"callee": callee, "callee_kind": self.callables[callee], "args": args}

    def step_await(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        target_node = entries["await"][1]
        target = self.scalar(target_node, "what to await", str)
        if target is _MISSING:
            return None
        reference = REFERENCE.match(target)
        if reference:
            handle = reference.group(1)
            if reference.group(2) or scope.kind(handle) != "handle":
                started = [name for name, kind in scope.kinds.items() if kind == "handle"]
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

    def step_start(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        call = self.call(entries["start"][1], entries["args"][1] if "args" in entries else None, scope)
        bind = self.bind(entries, scope, "handle", True, entries["start"][0])
        if call is not None and bind is not None:
            scope.started[bind] = call["callee_kind"]
        return None if call is None or bind is None else {"step": "start", "call": call, "bind": bind}

    def step_return(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        if self.in_generator:
            self.error(entries["return"][0], "a generator ends by reaching its last step; it has no return")
            return None
        value = self.expr(entries["return"][1], scope)
        scope.definite = None
        return None if value is None else {"step": "return", "value": value}

    def step_throw(self, entries: dict, scope: _Scope, where: str) -> dict | None:
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

    def step_try(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        before = scope.snapshot()
        body = self.steps(entries["try"][1], scope, where)
        after = scope.definite
        catch = None
        if "catch" in entries:
            scope.definite = None if before is None else set(before)  # an error may come before any binding
            catch = self.catch(entries["catch"][1], scope, where)
            after = _meet(after, scope.definite)
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

    def catch(self, node: yaml.Node, scope: _Scope, where: str) -> dict | None:
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
            del scope.kinds[bind]
            scope.ended[bind] = "the error of a catch that has ended; it exists only inside that catch's steps"
            if scope.definite is not None:
                scope.definite.discard(bind)
        return {"kinds": kinds, "bind": bind, "body": body}

    def _fixed_while(self, scope: _Scope, name: str | None, role: str, build):
        """Build a block during which ``name`` may not be bound again."""
        if name is None or name in scope.fixed:
            return build()
        scope.fixed[name] = role
        try:
            return build()
        finally:
            del scope.fixed[name]

    def step_sleep(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        node = entries["sleep"][1]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            ms = self.integer(node, "sleep (virtual milliseconds)", 1)
            return None if ms is _MISSING else {"step": "sleep", "ms": ms}
        ms_expr = self.expr(node, scope)  # `sleep: $delay`: the value is checked when it runs
        if ms_expr is not None and "literal" in ms_expr:
            self.error(node, f"sleep takes virtual milliseconds: an integer or a name holding one, not {_describe(node)}")
            return None
        return None if ms_expr is None else {"step": "sleep", "ms": ms_expr}

    def step_timeout(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        ms = self.integer(entries["timeout"][1], "timeout (virtual milliseconds)", 1)
        if "steps" not in entries:
            self.error(entries["timeout"][0], "timeout needs 'steps: [steps]', the block it bounds")
            return None
        idiom = "signal"
        if "idiom" in entries:
            idiom = self.scalar(entries["idiom"][1], "idiom", str)
            if idiom is not _MISSING and idiom not in TIMEOUT_IDIOMS:
                self.error(
                    entries["idiom"][1],
                    "a timeout's idiom is 'signal' (the default: the deadline aborts every wait in "
                    "the block, as asyncio.timeout cancels it) or 'race' (JavaScript races the block against a deadline "
                    f"and does not stop it), not '{idiom}'{did_you_mean(idiom, TIMEOUT_IDIOMS)}",
                )
                idiom = _MISSING
        self.blocks.append("timeout")
        try:
            body = self.steps(entries["steps"][1], scope, where)
        finally:
            self.blocks.pop()
        for step in iter_steps(body):
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
        if ms is _MISSING or idiom is _MISSING:
            return None
        timeout = {"step": "timeout", "ms": ms, "body": body}
        if idiom == "race":
            timeout["idiom"] = "race"
        return timeout

    def step_set(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        if "value" not in entries:
            self.error(entries["set"][0], "set needs 'value: VALUE', for example {calc: [$delay, \"*\", 2]}")
            return None
        value = self.expr(entries["value"][1], scope)  # read before the name is (re)bound
        name = self.bind({"as": entries["set"]}, scope, "value", True)
        return None if value is None or name is None else {"step": "set", "bind": name, "value": value}

    def step_cancel(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        node = entries["cancel"][1]
        target = self.scalar(node, "what to cancel", str)
        reference = REFERENCE.match(target) if target is not _MISSING else None
        handle = reference.group(1) if reference and not reference.group(2) else None
        if handle is None or scope.kind(handle) != "handle":
            started = [name for name, kind in scope.kinds.items() if kind == "handle"]
            self.error(
                node, f"cancel takes a started call, '$name' of a 'start' step{did_you_mean(handle or str(target), started)}"
            )
            return None
        if scope.started.get(handle) != "operation":
            # JavaScript cancels through an AbortSignal handed to the operation; a scenario
            # function would have to pass it on, which language version 1 does not express.
            self.error(node, f"'{target}' started a function; cancel works on calls started from an operation")
            return None
        return {"step": "cancel", "handle": handle}

    def step_map(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        missing = [key for key in ("over", "limit") if key not in entries]
        if missing:
            self.error(entries["map"][0], f"map needs {' and '.join(missing)}: map: NAME, over: [items], limit: N")
            return None
        callee_node = entries["map"][1]
        callee = callee_node.value if isinstance(callee_node, yaml.ScalarNode) else None
        if callee in self.generators:
            self.error(callee_node, f"'{callee}' is a generator; consume its values with 'for_each: {callee}'")
            return None
        if self.callables.get(callee) == "function" and self.arity[callee] != 1:
            self.error(callee_node, f"map calls '{callee}' with one item, but it takes {self.arity[callee]} argument(s)")
            return None
        # Checked as a call with no arguments here; map passes each item as the one argument.
        call = (
            {"callee": callee, "callee_kind": "function"}
            if self.callables.get(callee) == "function"
            else self.call(callee_node, None, scope)
        )
        over = self.expr(entries["over"][1], scope)
        if over is not None and "literal" in over and not isinstance(over["literal"], list):
            self.error(entries["over"][1], f"map goes over a list of items, not {_describe(entries['over'][1])}")
            return None
        limit = self.integer(entries["limit"][1], "limit", 1)
        bind = self.bind(entries, scope, "value", False)
        if call is None or over is None or limit is _MISSING:
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
        if name is _MISSING:
            return None
        if self.callables.get(name) != "queue":
            queues = [known for known, kind in self.callables.items() if kind == "queue"]
            self.error(node, f"unknown queue '{name}' (queues are declared under queues:){did_you_mean(name, queues)}")
            return None
        return name

    def step_put(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        queue = self.queue(entries["put"][1])
        if "value" not in entries:
            self.error(entries["put"][0], "put needs 'value: VALUE'")
            return None
        value = self.expr(entries["value"][1], scope)
        return None if queue is None or value is None else {"step": "put", "queue": queue, "value": value}

    def step_get(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        queue = self.queue(entries["get"][1])
        bind = self.bind(entries, scope, "value", False)
        return None if queue is None else {"step": "get", "queue": queue, "bind": bind}

    def step_yield(self, entries: dict, scope: _Scope, where: str) -> dict | None:
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

    def step_break(self, entries: dict, scope: _Scope, where: str) -> dict | None:
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

    def step_for_each(self, entries: dict, scope: _Scope, where: str) -> dict | None:
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
            del scope.kinds[bind]
            scope.ended[bind] = "the variable of a for_each that has ended; it exists only inside the loop"
        return None if call is None else {"step": "for_each", "call": call, "bind": bind, "body": body}

    def step_using(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        node = entries["using"][1]
        name = self.scalar(node, "a resource", str)
        if name is not _MISSING and self.callables.get(name) != "resource":
            resources = [known for known, kind in self.callables.items() if kind == "resource"]
            self.error(
                node, f"unknown resource '{name}' (resources are declared under resources:){did_you_mean(name, resources)}"
            )
            name = _MISSING
        args = [self.expr(item, scope) for item in (self.sequence(entries["args"][1], "args") or [])] if "args" in entries else []
        if "steps" not in entries:
            self.error(entries["using"][0], "using needs 'steps: [steps]', the block the resource is open for")
            return None
        bind = self.bind(entries, scope, "value", False)
        body = self._fixed_while(scope, bind, "the open resource", lambda: self.steps(entries["steps"][1], scope, where))
        if bind is not None:
            del scope.kinds[bind]
            scope.ended[bind] = "the resource of a using block that has ended; it exists only inside the block"
            if scope.definite is not None:
                scope.definite.discard(bind)
        if name is _MISSING or None in args:
            return None
        return {"step": "using", "resource": name, "args": args, "bind": bind, "body": body}

    def step_all_settled(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        calls = self.branches(entries, "all_settled", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "all_settled", "calls": calls, "bind": bind}

    def step_any(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        calls = self.branches(entries, "any", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "any", "calls": calls, "bind": bind}

    def step_group(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        calls = self.branches(entries, "group", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "group", "calls": calls, "bind": bind}

    def step_log(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        message = self.expr(entries["log"][1], scope)
        return None if message is None else {"step": "log", "message": message}

    def branches(self, entries: dict, head: str, scope: _Scope) -> list[dict] | None:
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

    def step_all(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        calls = self.branches(entries, "all", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "all", "calls": calls, "bind": bind}

    def step_race(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        calls = self.branches(entries, "race", scope)
        bind = self.bind(entries, scope, "value", False)
        return None if calls is None else {"step": "race", "calls": calls, "bind": bind}

    def step_if(self, entries: dict, scope: _Scope, where: str) -> dict | None:
        node = entries["if"][1]
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
            self.error(node, 'if takes [left, comparison, right], for example [$attempt, "<", 3]')
            return None
        left_node, op_node, right_node = node.value
        left = self.expr(left_node, scope)
        op = self.scalar(op_node, "comparison", str)
        if op is not _MISSING and op not in COMPARISONS:
            self.error(op_node, f"unknown comparison '{op}'; use one of {' '.join(COMPARISONS)}")
            op = _MISSING
        right = self.expr(right_node, scope)
        if "then" not in entries:
            self.error(entries["if"][0], "if needs 'then: [steps]'")
            return None
        before = scope.snapshot()
        then = self.steps(entries["then"][1], scope, where)
        after_then, scope.definite = scope.definite, before
        otherwise = self.steps(entries["else"][1], scope, where) if "else" in entries else []
        scope.definite = _meet(after_then, scope.definite)
        if left is None or right is None or op is _MISSING:
            return None
        return {"step": "if", "left": left, "op": op, "right": right, "then": then, "else": otherwise}

    def step_repeat(self, entries: dict, scope: _Scope, where: str) -> dict | None:
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
            del scope.kinds[bind]
            scope.ended[bind] = "the counter of a repeat that has ended; it exists only inside the loop"
            if scope.definite is not None:
                scope.definite.discard(bind)
        return None if times is _MISSING else {"step": "repeat", "times": times, "bind": bind, "body": body}

    # -- values ----------------------------------------------------------------------

    def expr(self, node: yaml.Node, scope: _Scope) -> dict | None:
        """An IR expression: literal, reference, format, list or object (PROTOCOL.md)."""
        if isinstance(node, yaml.ScalarNode):
            value = self.plain(node, "a value")
            if value is _MISSING:
                return None
            reference = REFERENCE.match(value) if isinstance(value, str) else None
            if reference:
                return self.reference(node, reference.group(1), reference.group(2), scope)
            return {"literal": value}
        if isinstance(node, yaml.SequenceNode):
            items = [self.expr(item, scope) for item in node.value]
            if None in items:
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
                return self.calc(entries["calc"][1], scope)
            if set(entries) == {"literal"}:
                value = self.plain(entries["literal"][1], "a literal")
                return None if value is _MISSING else {"literal": value}
            pairs = [(key, self.expr(value, scope)) for key, (_, value) in entries.items()]
            if any(value is None for _, value in pairs):
                return None
            if all("literal" in value for _, value in pairs):
                return {"literal": {key: value["literal"] for key, value in pairs}}
            return {"object": [[key, value] for key, value in pairs]}
        self.error(node, "aliases and anchors are not supported")
        return None

    def calc(self, node: yaml.Node, scope: _Scope) -> dict | None:
        """``{calc: [$delay, "*", 2]}``: integer arithmetic on values."""
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
            self.error(node, 'calc takes [left, operator, right], for example [$delay, "*", 2]')
            return None
        left_node, op_node, right_node = node.value
        left, right = self.expr(left_node, scope), self.expr(right_node, scope)
        op = self.scalar(op_node, "operator", str)
        if op is not _MISSING and op not in ARITHMETIC:
            self.error(op_node, f"unknown operator '{op}'; calc knows {' '.join(ARITHMETIC)} (integers only)")
            return None
        for side, side_node in ((left, left_node), (right, right_node)):
            if (
                side is not None
                and "literal" in side
                and (not isinstance(side["literal"], int) or isinstance(side["literal"], bool))
            ):
                self.error(side_node, f"calc works on integers, not {_describe(side_node)}")
                return None
        if left is None or right is None or op is _MISSING:
            return None
        return {"calc": [left, op, right]}

    def reference(self, node: yaml.Node, name: str, member: str | None, scope: _Scope) -> dict | None:
        kind = scope.kind(name)
        if kind is None and name in scope.ended:
            self.error(node, f"'${name}' is {scope.ended[name]}")
            return None
        if kind is not None and scope.definite is not None and name not in scope.definite:
            self.error(
                node,
                f"'${name}' may not be bound here: some paths to this step do not bind it "
                "(bind it before the branch, or on every path)",
            )
            return None
        if kind is None:
            visible = [known for known, known_kind in scope.kinds.items() if known_kind != "handle"]
            hint = did_you_mean(name, visible)
            if name in self.callables:
                advice = {
                    "queue": f"take a value from it with 'get: {name}'",
                    "resource": f"open it with 'using: {name}'",
                    "function": f"call it with 'await: {name}'",
                }.get(self.callables[name], f"call it with 'await: {name}'")
                self.error(node, f"'${name}' names {_a(self.callables[name])}, not a value; {advice}")
            else:
                self.error(
                    node,
                    f"unknown name '${name}'{hint}"
                    if hint
                    else f"unknown name '${name}': nothing is bound by that name before this step (for the text itself write {{literal: \"${name}\"}})",
                )
            return None
        if kind == "handle":
            self.error(node, f"'${name}' is a started call; get its value with 'await: ${name}'")
            return None
        if kind == "error":
            if member not in ERROR_MEMBERS:
                shown = f"'${name}.{member}'" if member else f"'${name}'"
                self.error(node, f"{shown}: a caught error is used through '${name}.kind' or '${name}.message'")
                return None
            return {"ref": name, "member": member}
        if member is not None:
            self.error(node, f"'${name}.{member}': only a caught error has members (.kind, .message)")
            return None
        return {"ref": name}

    def format(self, node: yaml.Node, scope: _Scope) -> dict | None:
        """``{format: "got {data}"}``: literal text with ``{name}`` holes; ``{{``/``}}`` are braces."""
        text = self.scalar(node, "format", str)
        if text is _MISSING:
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

    # -- expectations -----------------------------------------------------------------

    def result(self, entries: dict, node: yaml.Node, what: str) -> dict | object | None:
        given = [key for key in RESULT_KEYS if key in entries]
        if len(given) > 1:
            self.error(node, f"{what} states one of returns, throws or uncaught, not {' and '.join(given)}")
            return _MISSING
        if "returns" in entries:
            value = self.plain(entries["returns"][1], "returns")
            return _MISSING if value is _MISSING else {"returns": value}
        for key in ("throws", "uncaught"):
            if key in entries:
                error = self.observed_error(entries[key][1], key)
                return _MISSING if error is None else {key: error}
        return None

    def observed_error(self, node: yaml.Node, what: str) -> dict | None:
        """An error a target is expected to end with: ``{kind, message[, errors]}``.

        Unlike the errors a scenario raises, these may be the languages' own group
        errors (AggregateError, ExceptionGroup), with their members under ``errors``.
        """
        entries = self.mapping(node, what)
        if entries is None:
            return None
        self.known_keys(entries, ("kind", "message", "errors"), what)
        if "kind" not in entries or "message" not in entries:
            self.error(node, f"{what} needs kind and message")
            return None
        kind = self.scalar(entries["kind"][1], "error kind", str)
        if kind is not _MISSING and not ERROR_KIND.match(kind):
            self.error(entries["kind"][1], f"error kind '{kind}' must be CapWords (A-Z first, then letters and digits)")
            kind = _MISSING
        message = self.scalar(entries["message"][1], "message", str)
        members = []
        if "errors" in entries:
            for item in self.sequence(entries["errors"][1], "errors (the members of a group)") or []:
                members.append(self.observed_error(item, "a member error"))
        if kind is _MISSING or message is _MISSING or None in members:
            return None
        record = {"kind": kind, "message": message}
        if "errors" in entries:
            record["errors"] = members
        return record

    def trace(self, node: yaml.Node) -> tuple[str, ...] | object | None:
        text = self.scalar(node, "trace", str)
        if text is _MISSING:
            return _MISSING
        # Split at newlines only: canonical JSON keeps U+2028 and friends raw, and
        # str.splitlines() would cut a trace line at them.
        return tuple(line.strip() for line in text.split("\n") if line.strip())

    def expectation(self, node: yaml.Node) -> Expectation | None:
        entries = self.mapping(node, "expect")
        if entries is None:
            return None
        self.known_keys(entries, EXPECT_KEYS, "expect")
        result = self.result(entries, node, "expect")
        trace = self.trace(entries["trace"][1]) if "trace" in entries else None
        if result is _MISSING or trace is _MISSING:
            return None
        if result is None and trace is None:
            self.error(node, "expect needs returns, throws or uncaught, a trace, or both")
            return None
        order = "exact"
        if "order" in entries:
            order = self.scalar(entries["order"][1], "order", str)
            if order is not _MISSING and order not in ORDERS:
                self.error(
                    entries["order"][1],
                    f"order is 'exact' (the default) or 'instant' (any order among events at one instant), not '{order}'{did_you_mean(order, ORDERS)}",
                )
                return None
            if order is _MISSING:
                return None
        return Expectation(result, trace, _position(node)[0], order)

    def divergences(self, node: yaml.Node, expect: Expectation | None) -> list[Divergence]:
        items = self.sequence(node, "diverge")
        divergences = []
        claimed: dict[str, int] = {}
        for item in items or []:
            entries = self.mapping(item, "a divergence")
            if entries is None:
                continue
            self.known_keys(entries, DIVERGE_KEYS, "a divergence")
            missing = [key for key in ("targets", "reason", "cause") if key not in entries]
            if missing:
                self.error(
                    item, f"a divergence needs {', '.join(missing[:-1]) + ' and ' if len(missing) > 1 else ''}{missing[-1]}"
                )
                continue
            targets = []
            for target_node in self.sequence(entries["targets"][1], "targets") or []:
                target = self.scalar(target_node, "a target", str)
                if target is _MISSING:
                    continue
                if target not in TARGETS:
                    self.error(target_node, f"unknown target '{target}'{did_you_mean(target, TARGETS)}")
                elif target in claimed:
                    self.error(target_node, f"target '{target}' already has a divergence (line {claimed[target]})")
                else:
                    targets.append(target)
                    claimed[target] = _position(item)[0]
            reason = self.scalar(entries["reason"][1], "reason", str)
            if reason is not _MISSING and not reason.strip():
                self.error(entries["reason"][1], "reason must say why the targets differ")
                reason = _MISSING
            see = self.see(entries["see"][1]) if "see" in entries else ()
            cause = self.scalar(entries["cause"][1], "cause", str)
            if cause is not _MISSING and cause not in CAUSES:
                self.error(
                    entries["cause"][1],
                    f"cause is 'language' (the languages differ) or 'idiom' (the way one target's code is written differs), not '{cause}'{did_you_mean(cause, CAUSES)}",
                )
                cause = _MISSING
            closed_by = self.scalar(entries["closed_by"][1], "closed_by", str) if "closed_by" in entries else ""
            result = self.result(entries, item, "a divergence")
            trace = self.trace(entries["trace"][1]) if "trace" in entries else None
            if (
                result is _MISSING
                or trace is _MISSING
                or reason is _MISSING
                or cause is _MISSING
                or closed_by is _MISSING
                or not targets
            ):
                continue
            if result is None and trace is None:
                self.error(item, "a divergence states what the targets do instead: returns, throws or uncaught, a trace, or both")
                continue
            if expect is not None and (result is None or result == expect.result) and (trace is None or trace == expect.trace):
                self.error(item, "this divergence states the same outcome as expect; state what differs")
                continue
            divergences.append(
                Divergence(
                    tuple(targets),
                    " ".join(reason.split()),
                    result,
                    trace,
                    _position(item)[0],
                    see,
                    cause,
                    " ".join(closed_by.split()),
                )
            )
        return divergences

    def see(self, node: yaml.Node) -> tuple[str, ...]:
        """``see``: one reference or a list, each where the language documents the behaviour."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        references = []
        for item in nodes:
            reference = self.scalar(item, "see (a documentation URL)", str)
            if reference is not _MISSING:
                references.append(reference)
        return tuple(references)


def _a(noun: str) -> str:
    """``an operation``, ``a queue``: the noun with its article."""
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", bool: "true or false", float: "a number"}
    return " or ".join(names.get(item, item.__name__) for item in _as_tuple(kind))


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    if node.tag == "tag:yaml.org,2002:str":
        return f"the string {node.value!r}"
    return str(node.value)


def _article(kind: str) -> str:
    return {"handle": "a started call", "error": "a caught error", "value": "a value", "param": "a parameter"}[kind]


def iter_steps(steps: list[dict]) -> Iterator[dict]:
    """Every step in a step list, nested ones included, in document order."""
    for step in steps:
        yield step
        for key in ("body", "then", "else", "finally"):
            if isinstance(step.get(key), list):
                yield from iter_steps(step[key])
        if step.get("catch"):
            yield from iter_steps(step["catch"]["body"])
