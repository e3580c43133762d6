"""Load: scenario YAML files in, scenario IR (plain JSON) and diagnostics out.

The first stage of the pipeline (spec -> IR -> targets -> outcomes -> compare -> report).
It finds the scenario files under the paths it is given (and names every other YAML
file it passes over, with the reason), reads each one, rejects what YAML would accept
silently (duplicate keys, several documents, tags, values that are not JSON), checks
every key, name and value against the scenario language of spec/LANGUAGE.md, and builds
the IR of spec/PROTOCOL.md. Every problem becomes a
:class:`~asyncparity.diagnostics.Diagnostic` with file, line and column; the loader
collects all of them instead of stopping at the first.

No input makes it raise or recurse without bound: a file past one of the limits of
runner/model.py (its size, its nesting, its steps) is reported at the first place past
it, and nothing inside that place is read. YAML is parsed by PyYAML's safe parser
(libyaml's where PyYAML has it): a file that plainly holds no anchor, alias, tag or
deep nesting is composed into nodes by libyaml's composer, any other from the parser's
events here, with a stack of its own; nothing in a scenario is ever evaluated, and
strings stay strings until a target emits them as escaped literals.

Example::

    result = load_file(Path("spec/seed/download-fallback.yaml"))
    if result.diagnostics:
        for diagnostic in result.diagnostics:
            print(diagnostic)
    else:
        ir = result.scenario.ir
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import functools
import gc
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .check_bind import FOLDER_FILE, Bind, folder_bind, read_bind, resolve, unknown_functions
from .check_declarations import DeclarationChecker
from .check_expect import ExpectationChecker
from .check_values import Scope
from .diagnostics import Diagnostic, did_you_mean
from .model import DEFAULT_LIMITS, IR_VERSION, MAX_FILE_BYTES, MAX_YAML_DEPTH, Discovery, LoadResult, PassedOver, Scenario
from .names import SCENARIO_ID
from .yaml_nodes import MISSING, position

if TYPE_CHECKING:  # a run without the cache (`asyncparity check`) never imports it
    from .content_cache import ContentCache

# libyaml's parser is about twenty times faster than PyYAML's own, and loading is most
# of a suite's time (`asyncparity bench` shows the breakdown).
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE_TAG = "tag:yaml.org,2002:"  # the `!!` handle

TOP_LEVEL_KEYS = (
    "id",
    "summary",
    "tags",
    "requires",
    "operations",
    "resources",
    "queues",
    "events",
    "locks",
    "semaphores",
    "functions",
    "main",
    "expect",
    "diverge",
    "limits",
    "bind",
)


SCHEMA_MARK = "scenario.schema.json"
"""A file naming the scenario schema (its first line, in spec/) is a scenario."""

# A key at the start of a line: a top-level key of a block mapping (optionally quoted).
_TOP_LEVEL_KEY = re.compile(r"""^["']?([A-Za-z_][A-Za-z0-9_-]*)["']?[ \t]*:(?=\s|$)""", re.MULTILINE)
# A file of known outcomes (runner/known.py): a list whose first entry starts with its key.
_KNOWN_OUTCOMES = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n)*- scenario[ \t]*:")

NOT_A_SCENARIO = "not a scenario: no top-level main or id, and no schema line"
ONLY_AN_ID = "not a scenario: a top-level id, but no main and no other key of a scenario"


# The id a file declares at its top level, plainly written (`id: seed-download-fallback`).
_DECLARED_ID = re.compile(r"""^id[ \t]*:[ \t]*["']?([A-Za-z0-9][A-Za-z0-9_.-]*)["']?[ \t]*(?:#.*)?$""", re.MULTILINE)


def declared_id(text: str) -> str | None:
    """The id a scenario text declares, read by a pattern without loading the file (a
    run sizes its id column before it has loaded every file); None when the pattern
    does not find a plainly written one. The loader's id is the one that counts."""
    match = _DECLARED_ID.search(text)
    return match.group(1) if match else None


def declared_id_of_file(path: Path) -> str | None:
    """:func:`declared_id` of a file's text; None when it cannot be read as text."""
    try:
        with path.open("rb") as stream:
            return declared_id(stream.read(MAX_FILE_BYTES).decode("utf-8", errors="ignore"))
    except OSError:
        return None


def passed_over_reason(text: str) -> str | None:
    """Why discovery would pass over a YAML text found in a folder; None when it takes it.

    Taken: a text with the schema line, or a top-level ``main:`` key, or a top-level
    ``id:`` with another top-level key of a scenario (``summary:``, ``operations:``, ...)
    -- a scenario whose ``main`` is missing or misspelt is loaded, so that the loader
    says so. ``""`` for a known non-scenario file, a list of known outcomes
    (runner/known.py), which is passed over without a word. Other YAML (CI workflows,
    compose files) gets a reason, for the run to show.
    """
    text = text.removeprefix("\ufeff")
    if SCHEMA_MARK in text:
        return None
    keys = set(_TOP_LEVEL_KEY.findall(text))
    if "main" in keys or ("id" in keys and keys & (set(TOP_LEVEL_KEYS) - {"id"})):
        return None
    if _KNOWN_OUTCOMES.match(text):
        return ""
    return ONLY_AN_ID if "id" in keys else NOT_A_SCENARIO


def is_scenario_text(text: str) -> bool:
    """Whether a YAML text looks like a scenario (used to pick files out of a folder):
    :func:`passed_over_reason` has no reason to pass it over."""
    return passed_over_reason(text) is None


def _reason_for_file(path: str) -> tuple[str | None, str | None]:
    """:func:`passed_over_reason` for a file, None (take it) when it cannot be read as
    text, so that the loader says why; and the id it declares (:func:`declared_id`)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
        # Past the limit the loader refuses the file anyway; its start tells what it is.
        text = data.decode("utf-8", errors="ignore" if len(data) > MAX_FILE_BYTES else "strict")
    except (OSError, UnicodeDecodeError):
        return None, None
    return passed_over_reason(text), declared_id(text)


def find_scenarios(paths: Iterable[Path]) -> Discovery:
    """The scenario files under the given files and folders, and the YAML files passed over.

    A file named explicitly is always taken; in a folder, every ``*.yaml`` / ``*.yml``
    file is taken (:func:`passed_over_reason` is None), passed over with its reason, or,
    a file of known outcomes, left out.
    """
    # Paths as text, not Path objects (a few times the size, and a folder may hold tens of
    # thousands of files): a run's memory is not to grow with the suite (issue 13).
    found: dict[str, None] = {}
    passed: dict[str, str] = {}
    widest = 0
    for path in paths:
        if not path.is_dir():
            found.setdefault(str(path), None)
            continue
        for candidate in _yaml_files(path):
            if candidate in found or candidate in passed or os.path.basename(candidate) == FOLDER_FILE:
                continue  # a folder's asyncparity.yaml is read with each scenario beside it
            reason, declared = _reason_for_file(candidate)
            if reason is None:
                found[candidate] = None
                widest = max(widest, len(declared or ""))
            elif reason:
                passed[candidate] = reason
    return Discovery(
        taken=list(found),
        passed_over=[PassedOver(Path(path), reason) for path, reason in passed.items() if path not in found],
        widest_id=widest,
    )


def _yaml_files(folder: Path) -> list[str]:
    """Every ``*.yaml`` and ``*.yml`` file under ``folder``, as ``folder.rglob`` finds them
    (hidden ones too; not under a link to a folder), in Path's order: part by part, a
    separator before any character of a name. Through ``os.walk``, names as text: rglob's
    Path objects and lists of directory entries took 7 MB at their peak for a folder of
    10,000 files, and a run's memory is not to grow with the suite (issue 13). Nor is a
    Path made of each name (see :func:`load_file`): the names are joined as Path would."""
    found = [
        _joined(parent, name)
        for parent, _, names in os.walk(str(folder))  # a Path's text: the folder as rglob names it
        for name in names
        if name.endswith((".yaml", ".yml"))
    ]
    found.sort(key=lambda text: text.replace(os.sep, "\0"))
    return found


def _joined(parent: str, name: str) -> str:
    """``str(Path(parent, name))`` for a folder ``os.walk`` gave and a name in it."""
    if parent == ".":
        return name  # Path(".", "x.yaml") is "x.yaml"
    if parent.startswith("." + os.sep):
        parent = parent[2:]  # os.walk(".") gives "./sub" where Path writes "sub"
    return parent + name if parent.endswith(os.sep) else parent + os.sep + name


def discover(paths: Iterable[Path]) -> list[Path]:
    """Scenario files under the given files and folders, sorted, without repeats
    (:func:`find_scenarios`, without the files it passes over)."""
    return [Path(path) for path in find_scenarios(paths).taken]


def load_file(path: Path | str, display: str | None = None, cache: ContentCache | None = None) -> LoadResult:
    """Read and load one scenario file; never raises for bad input.

    With a ``cache`` (runner/content_cache.py), a file it holds is not loaded again, and
    one it may hold that loads without a diagnostic is stored in it. ``path`` may be text:
    a run's files are (:func:`find_scenarios`), and none of them is made a Path here
    (pathlib interns the parts of every path it parses, and the table that keeps them
    grew with the suite: issue 13)."""
    shown = display if display is not None else str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return LoadResult(shown, diagnostics=[Diagnostic(shown, 1, 1, "no such file")])
    except OSError as error:
        return LoadResult(shown, diagnostics=[Diagnostic(shown, 1, 1, f"cannot read: {error.strerror}")])
    if len(data) > MAX_FILE_BYTES:
        return LoadResult(shown, diagnostics=[_too_large(shown)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        # The bytes before the bad one are UTF-8: they give its line and column.
        line, column = text_position(data[: error.start].decode("utf-8").removeprefix("\ufeff"), None)
        message = f"not UTF-8 text: byte 0x{data[error.start]:02x} ({error.reason}); save the file as UTF-8"
        return LoadResult(shown, diagnostics=[Diagnostic(shown, line, column, message)])
    if cache is None or not cache.may_cache_file(path, data):
        return load_text(text, shown, path)
    key = cache.scenario_key(shown, data)
    cached = cache.load_scenario(key)
    if cached is not None:
        return LoadResult(shown, scenario=cached)
    result = load_text(text, shown, path)
    if result.scenario is not None:
        result.scenario = dataclasses.replace(result.scenario, content_key=key)
        cache.store_scenario(key, result.scenario)
    return result


def _too_large(path: str) -> Diagnostic:
    return Diagnostic(path, 1, 1, f"the file is larger than {MAX_FILE_BYTES:,} bytes (1 MiB), the most a scenario file may be")


# YAML's line breaks (PyYAML and libyaml count these, so the marks of both agree with it).
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
# The characters YAML refuses in a file (YAML 1.1 "printable", PyYAML's Reader.NON_PRINTABLE).
_NON_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def text_position(text: str, index: int | None) -> tuple[int, int]:
    """The 1-based line and column of ``text[index]`` (``None``: just past the end), in
    characters, with lines broken where YAML breaks them."""
    end = len(text) if index is None else index
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, end):
        line, start = line + 1, match.end()
    return line, end - start + 1


def load_text(text: str, path: str, location: Path | str | None = None) -> LoadResult:
    """Load one scenario from its text; ``path`` is used in diagnostics and the IR.

    ``location`` is the file on disk (default: ``path``): the files a ``bind:`` names,
    and the folder's asyncparity.yaml, are looked for beside it."""
    result = LoadResult(path)
    text = text.removeprefix("\ufeff")  # a byte-order mark: YAML allows one, and it is no column
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        result.diagnostics.append(_too_large(path))
        return result
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line, column = text_position(text, bad.start())
        code = ord(bad.group())
        escape = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
        message = f"character U+{code:04X} is not allowed in a YAML file; in a double-quoted string write it as {escape}"
        result.diagnostics.append(Diagnostic(path, line, column, message))
        return result
    documents = _compose(text, path)
    if isinstance(documents, Diagnostic):
        result.diagnostics.append(documents)
        return result
    if not documents:
        result.diagnostics.append(Diagnostic(path, 1, 1, "empty file: a scenario needs at least id, summary and main"))
        return result
    if len(documents) > 1:
        line, column = position(documents[1])
        result.diagnostics.append(Diagnostic(path, line, column, "one scenario per file: a second YAML document starts here"))
        return result
    checker = _ScenarioChecker(path)
    checker.location = location if location is not None else path
    with _without_cyclic_gc():
        scenario = checker.scenario(documents[0])
    result.diagnostics = checker.diagnostics
    if not checker.diagnostics:
        result.scenario = scenario
    return result


def _declared_functions(entries: dict) -> list[str]:
    """The function names a scenario's ``functions:`` mapping declares, as written."""
    if "functions" not in entries or not isinstance(entries["functions"][1], yaml.MappingNode):
        return []
    return [key.value for key, _ in entries["functions"][1].value if isinstance(key.value, str)]


_INDEXED_REFERENCE = re.compile(r"\$[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
"""The start of a reference whose index a flow collection cut off (``[$results[0]]``)."""
_ACCESS_AFTER = re.compile(r"(?:\[[^\[\]]*\]|\.[A-Za-z_][A-Za-z0-9_]*)+")


def _compose(text: str, path: str) -> list[yaml.Node] | Diagnostic:
    """The YAML documents of ``text`` as nodes, or the first thing in it that the loader
    refuses before reading it as a scenario: a syntax error, nesting deeper than
    :data:`MAX_YAML_DEPTH`, an anchor or alias, a tag.

    libyaml's parser reads the text; where it finds a syntax error, PyYAML's own parser
    reads it again, for the messages the diagnostics promise whether or not PyYAML was
    built with libyaml. A file that plainly has none of those (most) is composed by
    libyaml's composer at once (:func:`_compose_plain`).
    """
    plain = _compose_plain(text)
    if plain is not None:
        return plain
    try:
        return _compose_events(text, path, _FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:
        return _compose_events(text, path, yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or "invalid YAML"
        context = f" {error.context}" if error.context else ""
        hint = ""
        if mark and "flow" in context and "'['" in problem:
            # `[$results[0], 1]`: in a flow collection a plain scalar ends at `[`.
            lines = text.splitlines()
            line_text = lines[mark.line] if mark.line < len(lines) else ""
            reference = _INDEXED_REFERENCE.search(line_text[: mark.column])
            access = _ACCESS_AFTER.match(line_text[mark.column :])
            if reference and access:
                hint = f'; inside [...] or {{...}} quote a reference with an index: "{reference.group(0)}{access.group(0)}"'
        return Diagnostic(path, line, column, f"YAML syntax error: {problem}{context}{hint}")
    except yaml.YAMLError as error:
        return Diagnostic(path, 1, 1, f"YAML error: {error}")


_RESOLVER = yaml.resolver.Resolver()  # the safe loaders' implicit types: null, bool, int, float, timestamp

_MOST_INDICATORS = 1000
"""The most collection indicators (``-``, ``:``, ``?``, ``[``, ``{``) a file may hold to be
composed by libyaml's composer (:func:`_compose_plain`): each list or mapping needs one,
so it nests no deeper, and that composer recurses in C once a level."""


def _compose_plain(text: str) -> list[yaml.Node] | None:
    """The nodes of ``text`` as libyaml's composer makes them, for a file that plainly
    holds nothing the loader refuses before reading it; None for any other, which
    :func:`_compose_events` reads, saying what is refused and where.

    Plainly: no ``&``, ``*`` or ``!`` anywhere (an anchor, an alias and a tag cannot be
    written without them), at most :data:`_MOST_INDICATORS` indicators of a list or
    mapping, one document, no syntax error, and nesting no deeper than
    :data:`MAX_YAML_DEPTH`. The nodes are those :func:`_compose_events` builds from the
    same parser's events (tests/runner/test_load.py compares the two on every YAML file
    of the checkout), made without a Python event object for each (benchmarks/inprocess.py).
    """
    if _FAST_LOADER is yaml.SafeLoader or "&" in text or "*" in text or "!" in text:
        return None
    if sum(text.count(indicator) for indicator in "-:?[{") > _MOST_INDICATORS:
        return None
    composer = _PlainComposer(text)
    try:
        with _without_cyclic_gc():
            root = composer.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        composer.dispose()
    if root is None or _depth(root) > MAX_YAML_DEPTH:
        return None
    return [root]


class _PlainComposer(_FAST_LOADER):  # type: ignore[misc,valid-type]  # libyaml's loader class or PyYAML's
    """libyaml's loader with the scalars' tags remembered (:func:`_scalar_tag`)."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _scalar_tag(value, implicit)
        return _MAPPING_TAG if kind is yaml.MappingNode else _SEQUENCE_TAG  # what the resolver says of any


def _depth(root: yaml.Node) -> int:
    """How deep lists and mappings nest in ``root`` (a list is 1), a level at a time."""
    scalar, mapping = yaml.ScalarNode, yaml.MappingNode
    depth = 0
    level = [] if type(root) is scalar else [root]
    while level:
        depth += 1
        inner: list[yaml.Node] = []
        for node in level:
            if type(node) is mapping:
                for key, value in node.value:
                    if type(key) is not scalar:
                        inner.append(key)
                    if type(value) is not scalar:
                        inner.append(value)
            else:
                inner.extend(child for child in node.value if type(child) is not scalar)
        level = inner
    return depth


_SHORT_SCALAR = 64
"""Characters of the longest scalar whose tag is remembered (:func:`_scalar_tag`)."""
_REMEMBERED_TAGS = 1024
"""Scalars whose tag is remembered, the most recently used: a scenario's keys and common
words come back in every file and stay; its own names and texts pass through. 4,096
held 0.75 MB once full, which a run of 1,000 scenarios did not fill and one of 10,000
did (tracemalloc): the run's memory grew with the suite (issue 13)."""


def _scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag a scalar without one resolves to. The resolver tries its patterns on every
    scalar, and a scenario repeats its keys and words, so a short one's tag is remembered
    (at most :data:`_REMEMBERED_TAGS` of them: a long text is resolved each time, never kept)."""
    if len(value) <= _SHORT_SCALAR:
        return _short_scalar_tag(value, implicit)
    return _RESOLVER.resolve(yaml.ScalarNode, value, implicit)


@functools.lru_cache(maxsize=_REMEMBERED_TAGS)
def _short_scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    return _RESOLVER.resolve(yaml.ScalarNode, value, implicit)


def _compose_events(text: str, path: str, loader: type) -> list[yaml.Node] | Diagnostic:
    """Build the nodes from the parser's events, as PyYAML's composer does, but with a
    stack of its own: that composer recurses a Python frame or two a level, and a file
    nested a few hundred deep ended the whole run in a RecursionError.

    The events are taken from the parser itself, not through ``yaml.parse``'s generator,
    and told apart by their exact class: this loop runs once per event."""
    documents: list[yaml.Node] = []
    # The open lists and mappings, innermost last, each with a mapping's key waiting for its value.
    stack: list[list] = []
    parser = loader(text)
    get_event = parser.get_event
    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    try:
        with _without_cyclic_gc():
            while (event := get_event()) is not None:
                kind = type(event)
                node: yaml.Node
                if kind is yaml.ScalarEvent:
                    if event.anchor is not None or event.tag is not None:
                        return _refused(event, path)
                    tag = _scalar_tag(event.value, event.implicit)
                    node = scalar_node(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    if event.anchor is not None or event.tag is not None or len(stack) >= MAX_YAML_DEPTH:
                        return _refused(event, path)
                    if kind is yaml.MappingStartEvent:
                        node = mapping_node(_MAPPING_TAG, [], event.start_mark, None, flow_style=event.flow_style)
                    else:
                        node = sequence_node(_SEQUENCE_TAG, [], event.start_mark, None, flow_style=event.flow_style)
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    stack.pop()[0].end_mark = event.end_mark
                    continue
                elif kind is yaml.AliasEvent:
                    return _refused(event, path)
                else:
                    continue  # the stream's and documents' starts and ends
                if not stack:
                    documents.append(node)
                else:
                    top = stack[-1]
                    if type(top[0]) is sequence_node:
                        top[0].value.append(node)
                    elif top[1] is None:
                        top[1] = node
                    else:
                        top[0].value.append((top[1], node))
                        top[1] = None
                if kind is not yaml.ScalarEvent:
                    stack.append([node, None])
    finally:
        parser.dispose()
    return documents


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: the nodes of a file stay alive until it is
    read, and the collector would walk them again and again for nothing (a file of
    100,000 steps took three times as long)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


_MAPPING_TAG = "tag:yaml.org,2002:map"
_SEQUENCE_TAG = "tag:yaml.org,2002:seq"


def _refused(event: yaml.NodeEvent, path: str) -> Diagnostic:
    """Why the loader refuses the node ``event`` starts: an anchor or alias, a tag, or
    nesting deeper than :data:`MAX_YAML_DEPTH`."""
    start = event.start_mark
    assert start is not None  # the parser marks every event it emits (None is for events built by hand)
    tag = getattr(event, "tag", None)
    if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
        # An alias shares one value between places; the targets would each get a copy,
        # and a reader would have to chase it. Scenarios spell values out.
        message = "anchors and aliases (&name, *name) are not supported: write the value out"
    elif tag is not None:
        # A tag written in the file (the parser leaves the others None): `!!set` and
        # `!!python/...` would make a value no JSON holds, and even the core ones
        # (`!!str 1`) say what plain YAML says otherwise. One rule: none.
        shown = "!!" + tag.removeprefix(_CORE_TAG) if tag.startswith(_CORE_TAG) else tag
        message = f"YAML tags are not supported ({shown}): write the value plainly; quote it to make a string"
    else:
        message = (
            f"lists and mappings nested more than {MAX_YAML_DEPTH} deep; a scenario file nests them at most {MAX_YAML_DEPTH} deep"
        )
    return Diagnostic(path, start.line + 1, start.column + 1, message)


def load_paths(paths: Iterable[Path]) -> list[LoadResult]:
    """Load every scenario file under ``paths``; a repeated id is a diagnostic on the later file."""
    return list(load_files(discover(paths)))


def load_files(files: Iterable[Path | str], cache: ContentCache | None = None) -> Iterator[LoadResult]:
    """Load the given scenario files one by one, as they are asked for (a run prints its
    first verdict before the last file of a large folder is read); a repeated id is a
    diagnostic on the later file, as in :func:`load_paths`. A file given as text (as
    :func:`find_scenarios` gives them) is shown as that text. ``cache``: as :func:`load_file`'s."""
    # Where each id was declared, not the scenario: a run of any size holds no scenario it
    # has finished with (issue 13, memory flat).
    seen = DeclaredIds()
    for path in files:
        result = load_file(path, display=path if isinstance(path, str) else None, cache=cache)
        scenario = result.scenario
        first = seen.add(scenario.id, scenario.path, scenario.line) if scenario is not None else None
        if scenario is not None and first is not None:
            first_path, first_line = first
            message = f"scenario id '{scenario.id}' is already used by {first_path}:{first_line}"
            result.diagnostics.append(Diagnostic(result.path, scenario.line, 1, message, related=first_path))
            result.scenario = None
        yield result


class DeclaredIds:
    """The scenario ids a run has loaded, and where each was first declared, in about 50
    bytes an id where a dict of the ids and their (path, line) took 136 (tracemalloc,
    10,000 ids): the most of what a run kept as it went (issue 13, memory flat).

    An id is kept as two checks of it, its ``hash`` (64 bits) and its CRC-32, in a table
    of arrays probed in order (open addressing, at most three quarters full); where it was
    declared, as the index of its path in :attr:`paths` (the caller's strings, shared) and
    its line. Two different ids of a run pass both checks with a chance of about one in
    10^19 in a run of 100,000 scenarios (96 bits)."""

    _LINE_BITS = 24  # a line of a file of at most 1 MiB (MAX_FILE_BYTES) fits

    def __init__(self) -> None:
        self.paths: list[str] = []
        """The path of each id's first scenario, in the order added."""
        self._hashes, self._crcs, self._where = self._empty(1024)

    @staticmethod
    def _empty(size: int) -> tuple[array.array, array.array, array.array]:
        # A slot's place is 0 when it is empty: places count from 1.
        return (
            array.array("q", bytes(8 * size)),
            array.array("L", bytes(array.array("L").itemsize * size)),
            array.array("q", bytes(8 * size)),
        )

    def add(self, scenario_id: str, path: str, line: int) -> tuple[str, int] | None:
        """The path and line that first declared ``scenario_id``; None when none did, and
        ``path``:``line`` is remembered as its first."""
        key, crc = hash(scenario_id), zlib.crc32(scenario_id.encode("utf-8", "surrogatepass"))
        hashes, crcs, where = self._hashes, self._crcs, self._where
        mask = len(hashes) - 1
        slot = key & mask
        while where[slot]:
            if hashes[slot] == key and crcs[slot] == crc:
                place = where[slot]
                return self.paths[(place >> self._LINE_BITS) - 1], place & ((1 << self._LINE_BITS) - 1)
            slot = (slot + 1) & mask
        self.paths.append(path)
        hashes[slot], crcs[slot] = key, crc
        where[slot] = (len(self.paths) << self._LINE_BITS) | min(line, (1 << self._LINE_BITS) - 1)
        if 4 * len(self.paths) > 3 * len(hashes):
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._hashes, self._crcs, self._where, strict=True)
        self._hashes, self._crcs, self._where = self._empty(2 * len(self._hashes))
        mask = len(self._hashes) - 1
        for key, crc, place in old:
            if place:
                slot = key & mask
                while self._where[slot]:
                    slot = (slot + 1) & mask
                self._hashes[slot], self._crcs[slot], self._where[slot] = key, crc, place


class _ScenarioChecker(DeclarationChecker, ExpectationChecker):
    """Walks the composed YAML of one file, collecting diagnostics and building the IR:
    the checks of runner/check_*.py, each in its module, and the scenario's own keys."""

    location: Path | str  # the file on disk, set by load_text: bind's files are found beside it

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
        events = self.event_declarations(entries["events"][1]) if "events" in entries else []
        locks = self.lock_declarations(entries["locks"][1]) if "locks" in entries else []
        semaphores = self.semaphore_declarations(entries["semaphores"][1]) if "semaphores" in entries else []
        bindings = self.bindings(entries["bind"][1] if "bind" in entries else None, entries)
        function_nodes = self.function_headers(entries["functions"][1]) if "functions" in entries else []
        self.check_javascript_names(entries)

        functions = [self.function(name, params, body_node) for name, params, body_node in function_nodes]
        self.in_generator, self.blocks = False, []
        main = self.steps(entries["main"][1], Scope(), "main") if "main" in entries else []
        if "main" in entries and isinstance(entries["main"][1], yaml.SequenceNode) and not entries["main"][1].value:
            self.error(entries["main"][1], "main needs at least one step")
        self.check_started_params()

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
            **({"events": events} if events else {}),
            **({"locks": locks} if locks else {}),
            **({"semaphores": semaphores} if semaphores else {}),
            "operations": operations,
            "functions": functions,
            "main": main,
        }
        if bindings is not None and self.bound:
            ir["bindings"] = {"python": bindings["python"], "javascript": bindings["javascript"], "functions": sorted(self.bound)}
        return Scenario(scenario_id, self.path, id_line, summary, tags, ir, expect, tuple(diverge))

    def bindings(self, node: yaml.Node | None, entries: dict) -> dict | None:
        """``bind:`` (runner/check_bind.py): the scenario's own, key by key over its folder's
        asyncparity.yaml. Sets ``self.bound``, the functions bound to the user's code; a
        function the folder file names that this scenario does not declare is not bound
        here (the folder's scenarios need not all declare every function)."""
        shared, problems = folder_bind(self.location, self.path, _compose)
        try:
            return self._merged_bindings(shared, node, entries)
        finally:
            self.diagnostics.extend(problems)  # the folder file's, including those resolving its keys found

    def _merged_bindings(self, shared: Bind, node: yaml.Node | None, entries: dict) -> dict | None:
        own = read_bind(self, node) if node is not None else Bind()
        if not shared.entries and not own.entries:
            return None
        if "functions" in shared.entries and "functions" not in own.entries:
            declared = set(_declared_functions(entries))
            reader, key_node, value_node = shared.entries["functions"]
            if isinstance(value_node, yaml.SequenceNode):
                kept = [item for item in value_node.value if getattr(item, "value", None) in declared]
                if not kept:
                    return None  # this scenario declares none of the folder's bound functions
                value_node = yaml.SequenceNode(value_node.tag, kept, value_node.start_mark, value_node.end_mark)
                shared.entries["functions"] = (reader, key_node, value_node)
        merged = Bind({**shared.entries, **own.entries})
        bindings = resolve(merged, self.location, self, node)
        unknown_functions(bindings, _declared_functions(entries))
        self.bound = {name for name, _, _ in bindings["functions"]}
        return bindings if "python" in bindings and "javascript" in bindings else None

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
