"""Load: ``bind:``, the user's own code behind some of a scenario's functions (issue 12).

A scenario names a Python file and a JavaScript file and the functions of the scenario
they implement; or ``asyncparity.yaml`` in the scenario's folder holds the same ``bind:``
mapping for every scenario of the folder, and a scenario's own ``bind:`` wins over it key
by key. This module reads both into one :class:`Bind` (absolute paths, the function
names), with diagnostics at the right file's line and column; the loader then marks
those functions ``bound`` in the IR and puts the bind in ``bindings``
(spec/PROTOCOL.md). The files are only looked for here, never read or run: user code
runs in the worker processes alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .diagnostics import Diagnostic, did_you_mean
from .yaml_nodes import MISSING, NodeReader

BIND_KEYS = ("python", "javascript", "functions")
FOLDER_FILE = "asyncparity.yaml"
"""The file in a scenario's folder whose ``bind:`` every scenario of the folder shares."""
FOLDER_FILE_KEYS = ("bind",)
PYTHON_SUFFIXES = (".py",)
JAVASCRIPT_SUFFIXES = (".mjs", ".js", ".ts")


@dataclass
class Bind:
    """What ``bind:`` says once read: each key with the reader (file) and node it came from."""

    entries: dict[str, tuple[NodeReader, yaml.Node, yaml.Node]] = field(default_factory=dict)


def read_bind(reader: NodeReader, node: yaml.Node) -> Bind:
    """The keys of one ``bind:`` mapping; unknown keys are reported on ``reader``."""
    entries = reader.mapping(node, "bind")
    if entries is None:
        return Bind()
    reader.known_keys(entries, BIND_KEYS, "bind")
    return Bind({key: (reader, key_node, value) for key, (key_node, value) in entries.items() if key in BIND_KEYS})


def folder_bind(
    scenario_file: Path | str, shown: str, compose: Callable[[str, str], list[yaml.Node] | Diagnostic]
) -> tuple[Bind, list[Diagnostic]]:
    """The ``bind:`` of the folder file beside ``scenario_file`` (none: an empty one).

    ``shown`` is how the scenario's path is displayed; the folder file's diagnostics use
    the same folder. ``compose`` is the loader's YAML composer (text, path -> nodes or a
    diagnostic)."""
    # Looked for with os.path: a Path made of the scenario's file name would keep the name
    # for the life of the process (pathlib interns the parts of every path it parses, on
    # CPython 3.10 to 3.12), and a run's memory is not to grow with the suite (issue 13).
    beside = os.path.join(os.path.dirname(scenario_file), FOLDER_FILE)
    if not os.path.isfile(beside):
        return Bind(), []
    path = Path(beside)
    display = str(Path(shown).parent / FOLDER_FILE)
    reader = NodeReader(display)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Bind(), [Diagnostic(display, 1, 1, f"cannot read: {error}")]
    documents = compose(text, display)
    if isinstance(documents, Diagnostic):
        return Bind(), [documents]
    if not documents:
        return Bind(), []
    entries = reader.mapping(documents[0], FOLDER_FILE)
    bind = Bind()
    if entries is not None:
        reader.known_keys(entries, FOLDER_FILE_KEYS, FOLDER_FILE)
        if "bind" in entries:
            bind = read_bind(reader, entries["bind"][1])
    return bind, reader.diagnostics


def resolve(bind: Bind, scenario_file: Path | str, scenario_reader: NodeReader, bind_node: yaml.Node | None) -> dict:
    """The IR's ``bindings`` from a merged bind: ``python`` and ``javascript`` as absolute
    paths (absent after a diagnostic), ``functions`` as ``(name, node, reader)`` tuples.
    Each problem is reported on the file that says it; both files sit in the scenario's
    folder, so a path is relative to that folder either way."""
    result: dict = {"functions": []}

    def missing(key: str, what: str) -> None:
        if bind_node is not None:
            scenario_reader.error(bind_node, f"bind needs '{key}': {what}")
        else:
            reader, key_node, _ = next(iter(bind.entries.values()))
            reader.error(key_node, f"bind needs '{key}': {what}")

    for key, suffixes, language in (
        ("python", PYTHON_SUFFIXES, "a Python file (.py)"),
        ("javascript", JAVASCRIPT_SUFFIXES, "an ES module file (.mjs, .js or .ts)"),
    ):
        if key not in bind.entries:
            missing(key, f"{language}, your implementation in that language")
            continue
        reader, _, value_node = bind.entries[key]
        value = reader.scalar(value_node, f"bind.{key}", str)
        if value is MISSING:
            continue
        target = (Path(scenario_file).parent / value).resolve()
        if target.suffix not in suffixes:
            reader.error(value_node, f"bind.{key} is {language}, not '{value}'")
        elif not target.is_file():
            reader.error(value_node, f"bind.{key}: no such file '{value}' in the scenario's folder")
        else:
            result[key] = str(target)
    if "functions" not in bind.entries:
        missing("functions", "the scenario's functions that your files implement")
        return result
    reader, _, value_node = bind.entries["functions"]
    items = reader.sequence(value_node, "bind.functions")
    if items is not None and not items:
        reader.error(value_node, "bind.functions names at least one function of the scenario")
    for item in items or []:
        name = reader.name(item, "function name")
        if name is not None and name not in [known for known, _, _ in result["functions"]]:
            result["functions"].append((name, item, reader))
    return result


def unknown_functions(bindings: dict, functions: list[str]) -> None:
    """Report each ``bind.functions`` entry that names no function of the scenario."""
    for name, node, reader in bindings["functions"]:
        if name not in functions:
            hint = did_you_mean(name, functions)
            reader.error(node, f"bind.functions names '{name}', which is no function of this scenario{hint}")
