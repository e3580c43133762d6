"""spec/LANGUAGE.md is part of the contract: its examples run, and its programs are generated.

How this test reads LANGUAGE.md (the conventions the document follows):

- **Scenarios.** Every fenced block tagged ``yaml`` is a complete scenario, and its first
  line is the schema line ``# yaml-language-server: $schema=../scenario.schema.json``.
  Each one must load without diagnostics (``asyncparity.load.load_text``), validate
  against spec/scenario.schema.json, and run on python, js-promise and js-async
  (``asyncparity.suite.run_suite``) with every target agreeing, or diverging exactly as
  the scenario declares.
- **Renderings.** A fenced block tagged ``python`` or ``js`` is a rendering of the
  nearest scenario above it. The last non-blank line before its opening fence names
  its targets in bold, one or several separated by ", ": ``**python**``,
  ``**js-promise**``, ``**js-async**``, ``**js-promise**, **js-async**``. The block
  must appear verbatim, as whole lines, in the program each named target generates for
  that scenario (``asyncparity_python.target.compile`` for python; one
  ``asyncparity.testees.NodeTestee`` for the module, ``compile(ir, target)``, for the
  JavaScript targets).
- **Step sections.** Under ``## Steps``, the ``###`` section whose heading starts with
  a step's head in backticks (``### `await```), or with several separated by " / "
  (``### `put` / `get```), holds at least one scenario using that step and a rendering
  for each of the three targets. Every step head the loader knows
  (``asyncparity.check_steps.STEP_MODIFIERS``, from spec/ir-steps.json) has one.
- **Tables**, recognised by their header row; cells are code spans. In the first two
  kinds, VALUE is put into this scenario, where ``data`` is a value and ``error`` a
  caught error (``ROW_SCENARIO``)::

      main:
        - await: fetch
          as: data
        - try:
            - await: fetch
          catch:
            as: error
            steps:
              - return: VALUE

  ``| value | IR expression |``: the value loads as that IR expression (JSON).
  ``| value | the loader says |``: the value is rejected with that message.
  ``| step | the loader says |``: the step, put after ``await: fetch`` in a scenario that
  also has an operation ``boom`` failing with ``IOError`` and a function ``notify`` of one
  parameter (``STEP_SCENARIO``), is rejected with that message.
  ``| value | Python writes | JavaScript writes |``: an operation returns the value and
  ``log: {format: "{v}"}`` logs it; the log messages are the cells.
  ``| limit | default | ...``: the defaults are the loader's, and a scenario passing each
  bound gets the message shown, from every target.
- **Lists.** The three reserved-identifier lists and the reserved error kinds in
  ``## Names`` are runner/names.py's, and the camelCase collision message quoted there
  is the loader's.
- **The quick reference** (``## Quick reference``): a table row whose first cell starts
  with a code span, the construct's YAML, for every step of spec/ir-steps.json
  (``await: ...``) and every value form of runner/check_values.py (``{calc: ...}``);
  the contents and the table of step heads under ``## Steps`` list every step; and each
  message quoted after "the loader says" under ``### What the language cannot express
  yet`` is the loader's for the probe scenario of ``CANNOT_EXPRESS`` that tries it.
- **Links** to files point at files that exist, and links to headings (``#anchor``,
  here or in another Markdown file) at headings that exist, by GitHub's anchor rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
import yaml

from asyncparity import check_steps, check_values, model, names
from asyncparity.load import load_text
from asyncparity.node import find_node
from asyncparity.suite import run_suite
from asyncparity.testees import NodeTestee, PythonTestee
from asyncparity.trace import trace_lines
from asyncparity_python import target as python_target
from asyncparity_python.ir_steps import walk

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "spec" / "LANGUAGE.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
SCHEMA = json.loads((ROOT / "spec" / "scenario.schema.json").read_text(encoding="utf-8"))
SCHEMA_LINE = "# yaml-language-server: $schema=../scenario.schema.json"
TARGETS = ("python", "js-promise", "js-async")
JS_TARGETS = ("js-promise", "js-async")
LABEL = re.compile(r"^\*\*(python|js-promise|js-async)\*\*(?:, \*\*(?:python|js-promise|js-async)\*\*)*$")


# -- reading the document ---------------------------------------------------------------------


@dataclass
class Block:
    """One fenced block: its tag, text (lines ending in newlines), first line and context."""

    tag: str
    text: str
    line: int
    label: str
    headings: tuple[str, ...]


@dataclass
class Example:
    """A scenario block of the document and the rendering blocks that follow it."""

    block: Block
    renderings: list[tuple[tuple[str, ...], Block]] = field(default_factory=list)

    @property
    def name(self) -> str:
        match = re.search(r"^id: (\S+)$", self.block.text, re.MULTILINE)
        return match.group(1) if match else f"line-{self.block.line}"


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block, with the label line before it and the headings it is under."""
    blocks: list[Block] = []
    headings: dict[int, str] = {}
    previous = ""
    current: list[str] | None = None
    tag, start, label = "", 0, ""
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if current is None:
            if line.startswith("```"):
                current, tag, start, label = [], line[3:].strip(), number, previous
            elif line.startswith("#"):
                level = len(line) - len(line.lstrip("#"))
                headings = {depth: title for depth, title in headings.items() if depth < level}
                headings[level] = line.strip()
            if line.strip():
                previous = line.strip()
        elif line.startswith("```"):
            ordered = tuple(headings[depth] for depth in sorted(headings))
            blocks.append(Block(tag, "".join(current), start, label, ordered))
            current = None
            previous = "```"
        else:
            current.append(line)
    assert current is None, f"LANGUAGE.md: the block opened at line {start} is never closed"
    return blocks


BLOCKS = fenced_blocks(DOC)


def examples() -> tuple[list[Example], list[str]]:
    """The scenario blocks in document order, each with its renderings; and the problems."""
    found: list[Example] = []
    problems: list[str] = []
    for block in BLOCKS:
        if block.tag == "yaml":
            found.append(Example(block))
        elif block.tag in ("python", "js"):
            targets = tuple(re.findall(r"\*\*([a-z-]+)\*\*", block.label)) if LABEL.match(block.label) else ()
            if not found:
                problems.append(f"LANGUAGE.md:{block.line}: a {block.tag} block before any scenario")
            elif not targets:
                problems.append(
                    f"LANGUAGE.md:{block.line}: the line before a {block.tag} block must name its targets, like **python**; found {block.label!r}"
                )
            elif any(("python" if target == "python" else "js") != block.tag for target in targets):
                problems.append(f"LANGUAGE.md:{block.line}: a {block.tag} block labelled {block.label}")
            else:
                found[-1].renderings.append((targets, block))
    return found, problems


EXAMPLES, LABEL_PROBLEMS = examples()
SCENARIOS = {example.name: example for example in EXAMPLES}


def table(header: list[str]) -> list[list[str]]:
    """The body rows of every table whose header row starts with these cells, cells unquoted."""
    rows: list[list[str]] = []
    lines = DOC.splitlines()
    for index, line in enumerate(lines):
        cells = split_row(line)
        if cells[: len(header)] != header or index + 1 >= len(lines) or not lines[index + 1].startswith("|-"):
            continue
        for body in lines[index + 2 :]:
            if not body.startswith("|"):
                break
            rows.append([unquote(cell) for cell in split_row(body)])
    return rows


def split_row(line: str) -> list[str]:
    if not line.startswith("|"):
        return []
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def unquote(cell: str) -> str:
    """A cell that is one code span, without its backticks; other cells as they are."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    return match.group(1) if match else cell


def section(heading: str) -> str:
    """The text of the section under a ``##`` heading, up to the next ``##`` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", DOC, re.MULTILINE | re.DOTALL)
    assert match, f"LANGUAGE.md has no section '## {heading}'"
    return match.group(1)


def code_spans_after(marker: str, text: str) -> set[str]:
    """The code spans of the list item that starts with ``marker``."""
    match = re.search(rf"^- {re.escape(marker)}(.*?)(?=^- |^\n|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"LANGUAGE.md: no list item starting with {marker!r}"
    return set(re.findall(r"`([^`]+)`", match.group(1)))


# -- the targets --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> Iterator[NodeTestee]:
    """One Node worker for the whole module."""
    with NodeTestee(find_node()) as testee:
        yield testee


def loaded(example: Example) -> model.Scenario:
    result = load_text(example.block.text, f"spec/LANGUAGE.md:{example.block.line}")
    assert not result.diagnostics, "\n".join(str(diagnostic) for diagnostic in result.diagnostics)
    assert result.scenario is not None
    return result.scenario


def program(scenario: model.Scenario, target: str, node: NodeTestee) -> str:
    if target == "python":
        return python_target.compile(scenario.ir)
    return node.compile(scenario.ir, target)


def run_row(text: str, node: NodeTestee) -> dict[str, dict]:
    """Load a scenario built by the test and run it on every target; outcomes by target."""
    result = load_text(text, "row.yaml")
    assert not result.diagnostics, "\n".join(str(diagnostic) for diagnostic in result.diagnostics)
    assert result.scenario is not None
    ir = result.scenario.ir
    outcomes = {"python": PythonTestee().run(ir, "python")}
    for js_target in JS_TARGETS:
        outcomes[js_target] = node.run(ir, js_target)
    return outcomes


# -- scenarios and renderings -------------------------------------------------------------------


def test_every_rendering_is_labelled_and_follows_a_scenario() -> None:
    assert not LABEL_PROBLEMS, "\n".join(LABEL_PROBLEMS)


def test_every_yaml_block_is_a_complete_scenario_with_the_schema_line() -> None:
    yaml_blocks = [block for block in BLOCKS if block.tag == "yaml"]

    assert yaml_blocks
    for block in yaml_blocks:
        assert block.text.splitlines()[0] == SCHEMA_LINE, f"LANGUAGE.md:{block.line}: a yaml block starts with the schema line"
    assert len(SCENARIOS) == len(yaml_blocks), "two scenarios in LANGUAGE.md share an id"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.name)
def test_scenario_loads_and_matches_the_schema(example: Example) -> None:
    scenario = loaded(example)

    jsonschema.validate(yaml.safe_load(example.block.text), SCHEMA)
    assert scenario.expect is not None, f"{example.name}: a scenario in the reference states its expect"


def test_every_scenario_agrees_or_diverges_as_declared(node: NodeTestee) -> None:
    results = [load_text(example.block.text, f"spec/LANGUAGE.md:{example.block.line}") for example in EXAMPLES]

    verdicts = run_suite(results, TARGETS, PythonTestee(), node)

    failures = [
        f"{verdict.scenario_id or verdict.path}: "
        + "; ".join(f"{target.target} {target.status}: {target.message}" for target in verdict.targets)
        + "".join(f"\n  {diagnostic}" for diagnostic in verdict.diagnostics)
        for verdict in verdicts
        if not verdict.passed
    ]
    assert not failures, "\n".join(failures)
    for verdict in verdicts:
        assert [target.target for target in verdict.targets] == list(TARGETS)


@pytest.mark.parametrize("example", [example for example in EXAMPLES if example.renderings], ids=lambda example: example.name)
def test_renderings_are_what_the_targets_generate(example: Example, node: NodeTestee) -> None:
    scenario = loaded(example)
    programs = {target: "\n" + program(scenario, target, node) for target in TARGETS}

    for targets, block in example.renderings:
        for target in targets:
            assert "\n" + block.text in programs[target], (
                f"LANGUAGE.md:{block.line}: this {target} excerpt is not in the program generated for "
                f"{example.name}; `asyncparity show` prints it:\n{programs[target]}"
            )


@pytest.mark.parametrize("head", list(check_steps.STEP_MODIFIERS))
def test_every_step_has_a_section_with_a_scenario_and_three_renderings(head: str) -> None:
    heading = next(
        (
            block.headings
            for block in BLOCKS
            if len(block.headings) >= 3 and block.headings[1] == "## Steps" and head in section_heads(block.headings[2])
        ),
        None,
    )
    assert heading is not None, f"LANGUAGE.md has no section '### `{head}`' with examples under '## Steps'"
    in_section = [example for example in EXAMPLES if example.block.headings[:3] == heading[:3]]
    using = [example for example in in_section if any(step["step"] == head for step in all_steps(loaded(example).ir))]
    rendered = {target for example in in_section for targets, _ in example.renderings for target in targets}

    assert using, f"no scenario in the section of `{head}` uses it"
    assert rendered == set(TARGETS), f"the section of `{head}` renders only for {sorted(rendered)}"


def section_heads(heading: str) -> list[str]:
    """The code spans a ``###`` heading starts with: ``### `put` / `get``` gives put and get."""
    match = re.match(r"### (`[^`]+`(?: / `[^`]+`)*)", heading)
    return re.findall(r"`([^`]+)`", match.group(1)) if match else []


def all_steps(ir: dict) -> Iterator[dict]:
    for function in ir["functions"]:
        yield from walk(function["body"])
    yield from walk(ir["main"])


# -- the tables -------------------------------------------------------------------------------

ROW_SCENARIO = """\
id: language-doc-row
summary: One row of a table in spec/LANGUAGE.md.
operations:
  fetch:
    latency: 1
    returns: "x"
main:
  - await: fetch
    as: data
  - try:
      - await: fetch
    catch:
      as: error
      steps:
        - return: {value}
"""

STEP_SCENARIO = """\
id: language-doc-row
summary: One row of a table in spec/LANGUAGE.md.
operations:
  fetch:
    latency: 1
    returns: "x"
  boom:
    latency: 1
    fails: {{kind: IOError, message: "x"}}
functions:
  notify:
    params: [user]
    steps:
      - await: fetch
main:
  - await: fetch
    as: data
  - {step}
"""

VALUE_ROWS = table(["value", "IR expression"])
REJECTED_VALUES = table(["value", "the loader says"])
REJECTED_STEPS = table(["step", "the loader says"])
FORMAT_ROWS = table(["value", "Python writes", "JavaScript writes"])
LIMIT_ROWS = table(["limit", "default"])


def messages(text: str) -> list[str]:
    return [diagnostic.message for diagnostic in load_text(text, "row.yaml").diagnostics]


def test_the_tables_are_there() -> None:
    assert len(VALUE_ROWS) >= 10
    assert len(REJECTED_VALUES) >= 10
    assert len(REJECTED_STEPS) >= 5
    assert len(FORMAT_ROWS) >= 5
    assert [row[0] for row in LIMIT_ROWS] == list(model.DEFAULT_LIMITS)


@pytest.mark.parametrize(("value", "ir"), [row[:2] for row in VALUE_ROWS], ids=[row[0] for row in VALUE_ROWS])
def test_a_value_reads_as_the_table_says(value: str, ir: str) -> None:
    result = load_text(ROW_SCENARIO.format(value=value), "row.yaml")

    assert not result.diagnostics, [str(diagnostic) for diagnostic in result.diagnostics]
    assert result.scenario is not None
    assert result.scenario.ir["main"][1]["catch"]["body"][0]["value"] == json.loads(ir)


@pytest.mark.parametrize(("value", "message"), [row[:2] for row in REJECTED_VALUES], ids=[row[0] for row in REJECTED_VALUES])
def test_a_value_is_rejected_as_the_table_says(value: str, message: str) -> None:
    assert message in messages(ROW_SCENARIO.format(value=value))


@pytest.mark.parametrize(("step", "message"), [row[:2] for row in REJECTED_STEPS], ids=[row[0] for row in REJECTED_STEPS])
def test_a_step_is_rejected_as_the_table_says(step: str, message: str) -> None:
    assert message in messages(STEP_SCENARIO.format(step=step))


def test_format_writes_values_as_the_table_says(node: NodeTestee) -> None:
    outcomes = "\n".join(f"      - returns: {row[0]}" for row in FORMAT_ROWS)
    text = (
        "id: language-doc-format\nsummary: The format table of spec/LANGUAGE.md.\n"
        f"operations:\n  get:\n    latency: 1\n    outcomes:\n{outcomes}\n"
        f"main:\n  - repeat: {len(FORMAT_ROWS)}\n    steps:\n"
        '      - await: get\n        as: v\n      - log: {format: "{v}"}\n  - return: null\n'
    )

    outcomes_by_target = run_row(text, node)

    for target, outcome in outcomes_by_target.items():
        logged = [event["message"] for event in outcome["trace"] if event["event"] == "log"]
        column = 1 if target == "python" else 2
        assert logged == [row[column] for row in FORMAT_ROWS], target


LIMIT_SCENARIOS = {
    "virtual_time": "  - sleep: 3600001\n",
    "timer_firings": "  - repeat: 2\n    steps:\n      - repeat: 5001\n        steps:\n          - sleep: 1\n",
    # A turn is not the same thing in the two runtimes (the limits section says so): in
    # Python a pass of the event loop (each await of a 0 ms operation takes two), in
    # JavaScript a timer firing or a call into the kit (there a 0 ms timer is 1 ms, so
    # the calls that pass the bound at one instant are logs).
    "turns_per_instant": {
        "python": "  - repeat: 1000\n    steps:\n      - await: instant\n",
        "javascript": "  - repeat: 1001\n    steps:\n      - log: spin\n",
    },
}


@pytest.mark.parametrize("row", LIMIT_ROWS, ids=[row[0] for row in LIMIT_ROWS])
def test_limits_have_the_defaults_and_messages_the_table_says(row: list[str], node: NodeTestee) -> None:
    limit, default, _bounds, message = row[:4]
    steps = LIMIT_SCENARIOS[limit]
    outcomes = {}
    for language, language_steps in steps.items() if isinstance(steps, dict) else [("both", steps)]:
        text = (
            "id: language-doc-limit\nsummary: A row of the limits table of spec/LANGUAGE.md.\n"
            "operations:\n  instant:\n    latency: 0\n    returns: null\n"
            f"main:\n{language_steps}  - return: null\n"
        )
        ran = run_row(text, node)
        outcomes.update(
            {
                target: outcome
                for target, outcome in ran.items()
                if language == "both" or (language == "python") == (target == "python")
            }
        )

    assert int(default) == model.DEFAULT_LIMITS[limit]
    expected = message.replace("'ID'", "'language-doc-limit'").replace(" at T ms", " at 0 ms")
    for target, outcome in outcomes.items():
        assert (outcome["status"], outcome["message"]) == ("runaway", expected), (target, trace_lines(outcome["trace"])[-3:])


# -- names and links -------------------------------------------------------------------------------


def test_the_reserved_lists_are_the_loaders() -> None:
    text = section("Names")

    assert code_spans_after("Python keywords and soft keywords:", text) == names._PY_RESERVED
    assert code_spans_after("JavaScript reserved words and literals:", text) == names._JS_RESERVED
    assert code_spans_after("Names the programs and their runtimes use:", text) == names._PROGRAM_NAMES
    kinds = re.search(r"Reserved, because the programs or runtimes\s+rely on them:(.*?)\n\n", text, re.DOTALL)
    assert kinds, "LANGUAGE.md: the list of reserved error kinds"
    assert set(re.findall(r"`([^`]+)`", kinds.group(1))) == names.RESERVED_KINDS


def test_the_camel_case_collision_message_is_the_loaders() -> None:
    text = (
        "id: x\nsummary: s\noperations:\n  fetch2: {latency: 1, returns: 1}\n  fetch_2: {latency: 1, returns: 1}\n"
        "main:\n  - return: 1\n"
    )

    (message,) = messages(text)

    assert f"`{message}`" in " ".join(section("Names").split())


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", DOC))))
def test_links_point_at_files(link: str) -> None:
    assert (DOC_PATH.parent / link).exists()


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text: lower case, punctuation dropped, spaces to '-'."""
    found = set()
    inside = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(([^)]*#[^)]+)\)", DOC))))
def test_links_point_at_headings(link: str) -> None:
    path, anchor = link.split("#", 1)
    text = DOC if not path else (DOC_PATH.parent / path).read_text(encoding="utf-8")

    assert anchor in anchors(text)


STOP_ERRORS = table(["in a divergence", "the loader says"])


def test_the_messages_of_the_stop_table_are_the_loaders() -> None:
    """``| in a divergence | the loader says |`` ("A run that does not settle"): each message
    is the first one of a file of tests/runner/bad-input/, whose messages
    tests/runner/test_load_bad_input.py holds the loader to."""
    corpus = ROOT / "tests" / "runner" / "bad-input"
    firsts = {path.read_bytes().decode("utf-8", "replace").lstrip("\ufeff").splitlines()[0] for path in corpus.glob("*.yaml")}
    said = {line.split(": ", 2)[2] for line in firsts if line.startswith("# expect: ")}

    assert len(STOP_ERRORS) == 4
    assert [row[1] for row in STOP_ERRORS if row[1] not in said] == []


# -- the quick reference ----------------------------------------------------------------------

STEP_HEADS = list(json.loads((ROOT / "spec" / "ir-steps.json").read_text(encoding="utf-8"))["steps"])
QUICK_REFERENCE, _, CANNOT_EXPRESS_TEXT = section("Quick reference").partition("### What the language cannot express yet\n")
QUICK_FORMS = re.findall(r"^\| `([^`]+)`", QUICK_REFERENCE, re.MULTILINE)


@pytest.mark.parametrize("head", STEP_HEADS)
def test_every_step_has_a_row_in_the_quick_reference(head: str) -> None:
    assert any(form.startswith(f"{head}:") for form in QUICK_FORMS), (
        f"the quick reference of LANGUAGE.md has no row for the step '{head}': add one whose first cell is `{head}: ...`"
    )


@pytest.mark.parametrize("form", list(check_values.VALUE_FORMS))
def test_every_value_form_has_a_row_in_the_quick_reference(form: str) -> None:
    assert any(row.startswith(f"{{{form}:") for row in QUICK_FORMS), (
        f"the quick reference of LANGUAGE.md has no row for the value form '{form}': add one whose first cell is `{{{form}: ...}}`"
    )


def test_the_contents_and_the_table_of_step_heads_list_every_step() -> None:
    contents = re.search(r"^\d+\. \[Steps\]\(#steps\):(.*?)^\d+\. ", DOC, re.MULTILINE | re.DOTALL)
    assert contents, "LANGUAGE.md: the contents have no item for the Steps"
    heads = [row[0] for row in table(["head", "modifiers", "does"])]

    listed = set(re.findall(r"`([^`]+)`", contents.group(1)))

    assert (sorted(set(STEP_HEADS) - listed), sorted(listed - set(STEP_HEADS))) == ([], []), (
        "the contents' Steps item: (missing, unknown)"
    )
    assert (sorted(set(STEP_HEADS) - set(heads)), sorted(set(heads) - set(STEP_HEADS))) == ([], []), (
        "the table of step heads under ## Steps: (missing, unknown)"
    )
    assert len(heads) == len(set(heads)), "the table of step heads lists a step twice"


PROBE = """\
id: language-doc-limit
summary: Something the language cannot express yet.
operations:
  fetch:
    latency: 10
    returns: "x"
"""

CANNOT_EXPRESS = {
    "unknown step 'acquire'": "main:\n  - acquire: db\n  - return: 1\n",
    "unknown key 'immediate' in a 'shutdown' step": (
        "queues:\n  jobs: {size: 1}\nmain:\n  - shutdown: jobs\n    immediate: true\n  - return: 1\n"
    ),
    "cancel takes a started call, '$name' of a 'start' step": (
        "functions:\n  stop:\n    params: [job]\n    steps:\n      - cancel: $job\n"
        "main:\n  - start: fetch\n    as: job\n  - await: stop\n    args: [$job]\n  - return: 1\n"
    ),
    "a list of started calls holds started calls only ('$name' of a start step), not 5: "
    "asyncio.gather and asyncio.wait refuse a plain value": (
        "main:\n  - start: fetch\n    as: job\n  - set: jobs\n    value: [$job, 5]\n  - all: $jobs\n  - return: 1\n"
    ),
    "all takes started calls ('$name' of a start step), values, or calls ({call: NAME}) alone, not a call: "
    "start it first ('start: NAME' with 'as: NAME'), or list calls only": (
        "main:\n  - start: fetch\n    as: job\n  - all: [$job, {call: fetch}]\n  - return: 1\n"
    ),
    "'$items[-1]': an index is an integer >= 0 or a bound $name; [-1] counts from the end "
    "in Python and is undefined in JavaScript": "main:\n  - set: items\n    value: [1, 2, 3]\n  - return: $items[-1]\n",
    "'$jobs' names a queue, not a value; take a value from it with 'get: jobs'": (
        "queues:\n  jobs: {size: 1}\nfunctions:\n  feed:\n    params: [q]\n    steps:\n      - log: $q\n"
        "main:\n  - await: feed\n    args: [$jobs]\n  - return: 1\n"
    ),
    "'$ready' names an event, not a value; wait for it with 'wait_event: ready', or read it with 'is_set: ready'": (
        "events:\n  ready: {}\nfunctions:\n  waiter:\n    params: [ev]\n    steps:\n      - log: $ev\n"
        "main:\n  - await: waiter\n    args: [$ready]\n  - return: 1\n"
    ),
    "'$f' is not a started call; await a name bound by a 'start' step": (
        "main:\n  - set: f\n    value: fetch\n  - await: $f\n  - return: 1\n"
    ),
    "break belongs in a loop (repeat, while or for_each); here it is inside an as_completed loop (it has no break)": (
        "main:\n  - as_completed: [{call: fetch}, {call: fetch}]\n    as: v\n    steps:\n      - break: true\n  - return: 1\n"
    ),
    "'pages' is a generator; consume its values with 'for_each: pages'": (
        "functions:\n  pages:\n    generator: true\n    steps:\n      - yield: 1\nmain:\n  - await: pages\n  - return: 1\n"
    ),
    "unknown operator '/'; calc knows + - * (integers only)": 'main:\n  - return: {calc: [7, "/", 2]}\n',
    "a task_group body cannot return (line 11); bind a name in it and return after the group": (
        "main:\n  - task_group:\n      - start: fetch\n        as: t\n      - return: 1\n"
    ),
    "'pages' is bound to your code (bind.functions); it cannot be a generator": (
        "bind:\n  python: lib.py\n  javascript: lib.mjs\n  functions: [pages]\n"
        "functions:\n  pages:\n    generator: true\nmain:\n  - return: 1\n"
    ),
}
"""What the quick reference says the language cannot express, each message with a
scenario that tries it. A message the loader no longer gives (the construct has
arrived) fails the test below: take its line out of LANGUAGE.md, and its probe here."""


def test_what_the_language_cannot_express_is_what_the_loader_refuses() -> None:
    quoted = re.findall(r"the loader says `([^`]+)`", " ".join(CANNOT_EXPRESS_TEXT.split()))

    assert sorted(quoted) == sorted(CANNOT_EXPRESS)
    for message, main in CANNOT_EXPRESS.items():
        assert message in messages(PROBE + main), (message, messages(PROBE + main))
