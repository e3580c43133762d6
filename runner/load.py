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

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from .check_declarations import DeclarationChecker
from .check_expect import ExpectationChecker
from .check_values import Scope
from .diagnostics import Diagnostic, did_you_mean
from .model import DEFAULT_LIMITS, IR_VERSION, LoadResult, Scenario
from .names import SCENARIO_ID
from .yaml_nodes import MISSING, position

# libyaml's parser is about twenty times faster than PyYAML's own, and loading is most
# of a suite's time (`asyncparity bench` shows the breakdown).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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
                start = event.start_mark
                assert start is not None  # the parser marks every event it emits (None is for events built by hand)
                line, column = start.line + 1, start.column + 1
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
        line, column = position(documents[1])
        result.diagnostics.append(Diagnostic(path, line, column, "one scenario per file: a second YAML document starts here"))
        return result
    checker = _ScenarioChecker(path)
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


class _ScenarioChecker(DeclarationChecker, ExpectationChecker):
    """Walks the composed YAML of one file, collecting diagnostics and building the IR:
    the checks of runner/check_*.py, each in its module, and the scenario's own keys."""

    def scenario(self, root: yaml.Node) -> Scenario | None:
        entries = self.mapping(root, "a scenario")
        if entries is None:
            return None
        self.known_keys(entries, TOP_LEVEL_KEYS, "the scenario")
        for required in ("id", "summary", "main"):
            if required not in entries:
                self.error(root, f"missing required key '{required}'")

        scenario_id = None
        id_line = position(root)[0]
        if "id" in entries:
            id_node = entries["id"][1]
            id_line = position(entries["id"][0])[0]
            scenario_id = self.scalar(id_node, "id", str)
            if scenario_id is not MISSING and not SCENARIO_ID.match(scenario_id):
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
        main = self.steps(entries["main"][1], Scope(), "main") if "main" in entries else []
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
        if value is MISSING:
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
            if tag is not MISSING:
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
                if value is not MISSING and not re.fullmatch(pattern, value):
                    self.error(entries[key][1], f"requires.{key} is a minimum version written as a string, like {example}")
                elif value is not MISSING:
                    requires[key] = value
        if "features" in entries:
            features = [
                self.scalar(item, "a feature", str) for item in self.sequence(entries["features"][1], "requires.features") or []
            ]
            requires["features"] = [feature for feature in features if feature is not MISSING]
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
                if value is not MISSING:
                    limits[key] = value
        return limits
