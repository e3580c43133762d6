"""The pytest plugin: scenario files collected as tests, ``scenario-id[target]`` each.

Registered through the ``pytest11`` entry point, so ``pytest spec/`` and
``pytest spec/ -k fallback`` work once the kit is installed. A YAML file is collected
when it looks like a scenario (:func:`asyncparity.load.is_scenario_text`), so other YAML
in a project is left alone. Each scenario gives one item per target; a failing item
points into the YAML (its location is the scenario's ``id`` line) and its report is the
same diff ``asyncparity run`` prints, with the first difference as the line pytest's
one-line views show (``-ra``'s short summary, ``--tb=line``). A file that does not load
gives one failing item whose report lists every diagnostic with file:line:col. An
item's node id, ``file::id[target]``, is the one pytest records for it, so ``--lf``,
``--ff`` and ``--sw`` find it again, as ``-k`` and ``-x`` do.

The virtual loop is driven from these plain synchronous items, never from
pytest-asyncio's event loop (each run makes and closes its own loop). Model: pytest's
own example of collecting YAML tests (doc/en/example/nonpython).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import ReprEntryNative, ReprExceptionInfo, ReprFileLocation, ReprTraceback, TerminalRepr

from .compare import PASSING, Verdict, compare
from .diagnostics import Diagnostic
from .load import is_scenario_text, load_file
from .model import DEFAULT_TARGETS, JS_TARGETS, PYTHON_TARGETS, TARGETS, Scenario, parse_targets
from .node import NodeNotFound, locate_node
from .report import failure_details
from .testees import DEFAULT_TIMEOUT, NodeTestee, PythonTestee

_RUNNER_KEY = pytest.StashKey["_Runner"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asyncparity", "asyncparity scenarios")
    group.addoption(
        "--asyncparity-targets",
        default=",".join(DEFAULT_TARGETS),
        metavar="T,T",
        help=f"targets to run scenario files on, from {', '.join(TARGETS)}, or all (default: {','.join(DEFAULT_TARGETS)})",
    )
    group.addoption(
        "--asyncparity-node", default=None, metavar="PATH", help="the Node binary (default: $ASYNCPARITY_NODE, else node on PATH)"
    )
    group.addoption(
        "--asyncparity-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="wall-clock bound on a reply from a testee, for each target it runs",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNNER_KEY] = _Runner(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER_KEY, None)
    if runner is not None:
        runner.close()


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not is_scenario_text(text):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class _Runner:
    """The testees of one pytest session: Python in-process, one Node worker started on demand."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.getoption("asyncparity_targets")
        try:
            self.targets = parse_targets(option)
        except ValueError as error:
            # As `asyncparity run --targets` says it; a bad name used to select nothing, silently.
            raise pytest.UsageError(f"--asyncparity-targets: {error} (not {option!r})") from None
        self.node_path = config.getoption("asyncparity_node")
        self.timeout = config.getoption("asyncparity_timeout")
        self._python: PythonTestee | None = None
        self._node: NodeTestee | None = None
        self._node_error: str | None = None
        self._verdicts: dict[str, Verdict] = {}

    def verdict(self, scenario: Scenario) -> Verdict:
        """Run the scenario on every target once, compare, and remember the verdict."""
        if scenario.id not in self._verdicts:
            outcomes = {}
            for target in (target for target in self.targets if target in PYTHON_TARGETS):
                self._python = self._python or PythonTestee(timeout=self.timeout)
                outcomes[target] = self._python.run(scenario.ir, target)
            js = [target for target in self.targets if target in JS_TARGETS]
            node = self._start_node() if js else None
            for target in js:
                if node is None:
                    outcomes[target] = {"status": "error", "message": self._node_error}
            if node is not None:
                for target, outcome in zip(js, node.run_many([(scenario.ir, target) for target in js]), strict=True):
                    outcomes[target] = outcome
            self._verdicts[scenario.id] = compare(scenario, outcomes)
        return self._verdicts[scenario.id]

    def _start_node(self) -> NodeTestee | None:
        if self._node is None and self._node_error is None:
            try:
                node = NodeTestee(locate_node(self.node_path), timeout=self.timeout)  # its version from its hello
                node.start()
                self._node = node
            except (NodeNotFound, OSError) as error:
                self._node_error = str(error)
        return self._node

    def close(self) -> None:
        if self._node is not None:
            self._node.close()
        if self._python is not None:
            self._python.close()  # its worker for user code, if it started one


class ScenarioFile(pytest.File):
    """One scenario file: an item per target, or one item that reports why it did not load."""

    def collect(self):
        shown = _shown_path(self.path, self.config)
        result = load_file(self.path, display=shown)
        if result.scenario is None:
            yield LoadErrorItem.from_parent(self, name=self.path.name, diagnostics=result.diagnostics)
            return
        runner = self.config.stash[_RUNNER_KEY]
        for target in runner.targets:
            name = f"{result.scenario.id}[{target}]"
            # The node id is given as text, as pytest writes it in its cache: pytest 9.2
            # parses ids into path, names and `[params]` (_pytest/nodeid.py), and --lf,
            # --ff and --sw find an item by that parsed id, which an item named
            # `id[target]` only has when its id is parsed from text like a parametrized
            # test's. Earlier pytest compares the text itself, which is the same.
            yield ScenarioItem.from_parent(
                self, name=name, nodeid=f"{self.nodeid}::{name}", scenario=result.scenario, target=target
            )


class ScenarioFailure(Exception):
    """Raised by an item whose target did not do what the scenario says: the whole
    report, and its first line of difference for the one-line summaries."""

    def __init__(self, text: str, first: str) -> None:
        super().__init__(text)
        self.text = text
        self.first = first


def _failure_repr(failure: ScenarioFailure, path: Path, line: int) -> ReprExceptionInfo:
    """The failure as pytest's own exception report, so that each of pytest's views finds
    its part: the full text under FAILURES, and the first difference where pytest reads
    the crash line (the short summary of ``-ra``, ``--tb=line``, ``--junitxml``'s
    message). Built from pytest's report classes, which pytest-xdist carries between
    processes; a report of another shape would reach the main process as its text alone.
    """
    lines = [f"{text}\n" for text in failure.text.splitlines()]
    traceback = ReprTraceback(reprentries=[ReprEntryNative(lines)], extraline=None, style="native")
    return ReprExceptionInfo(reprtraceback=traceback, reprcrash=ReprFileLocation(str(path), line, failure.first))


class ScenarioItem(pytest.Item):
    """One scenario on one target."""

    def __init__(self, *, scenario: Scenario, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.target = target

    def runtest(self) -> None:
        verdict = self.config.stash[_RUNNER_KEY].verdict(self.scenario)
        mine = next(item for item in verdict.targets if item.target == self.target)
        if mine.status == "skipped":
            pytest.skip(mine.message)
        if mine.status not in PASSING:
            details = failure_details(Verdict(verdict.path, verdict.scenario_id, verdict.line, mine.status, [mine]))
            header = f"{self.scenario.path}:{self.scenario.line}: {self.scenario.id}: {self.scenario.summary}"
            # The one-line views show the item's id beside this line, which names the
            # target: the line starts at what differs (the full report says against what).
            first = mine.message.removeprefix(f"{self.target} disagrees with {mine.against}: ").removeprefix(f"{self.target} ")
            raise ScenarioFailure("\n".join([header, *details[1:]]), first)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailure):
            return _failure_repr(excinfo.value, self.path, self.scenario.line)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"scenario {self.name}"


class LoadErrorItem(pytest.Item):
    """A scenario file that did not load: fails with its diagnostics."""

    def __init__(self, *, diagnostics: list[Diagnostic], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.diagnostics = diagnostics

    def runtest(self) -> None:
        first = self.diagnostics[0]
        raise ScenarioFailure("\n".join(str(diagnostic) for diagnostic in self.diagnostics), first.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailure):
            return _failure_repr(excinfo.value, self.path, self.diagnostics[0].line)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        first = self.diagnostics[0]
        return self.path, first.line - 1, f"scenario file {self.path.name}"


def _shown_path(path: Path, config: pytest.Config) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
