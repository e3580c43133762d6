"""Compare: outcomes in, one verdict per scenario out.

Each target's outcome is checked against what that target should do:

- the scenario's ``expect`` (result and trace), overlaid by the target's declared
  divergence if it has one (so a divergent target must produce exactly the declared
  alternative: if it behaves like the others, the divergence did not happen and that
  is a mismatch too);
- where ``expect`` does not state something, the outcome of the reference target: the
  first target of the run that declares no divergence.

Comparison is exact (DESIGN.md, "Traces and comparison"): the same canonical trace
lines in the same order, and the same result, with values compared as JSON. The one
exception is a group of lines marked ``(any order)``: events whose order CPython takes
from a set's iteration (a ``TaskGroup`` cancelling its tasks, ``asyncio.run`` cancelling
what is left); such a group, in either trace, is compared as a multiset, and the
verdict's note says so.

Verdicts per target: ``agree``, ``diverge`` (exactly as declared), ``mismatch``,
``error`` (the target did not settle: deadlock, runaway, crash, a worker that died),
``skipped``. A scenario's verdict is the worst of its targets'. A target whose
divergence declares that it does not settle (``deadlock: true``, a runaway, a crash) is
compared like the others: the kind of stop is its result, and its trace is compared
when the divergence states one.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from .diagnostics import Diagnostic
from .model import Scenario, declared_result
from .trace import UNORDERED, format_result, lines_of, normalize

STATUS_ORDER = ("agree", "diverge", "skipped", "mismatch", "error")
"""From best to worst: a scenario's verdict is the worst of its targets' verdicts."""
PASSING = ("agree", "diverge")


@dataclass
class TargetVerdict:
    """How one target did on one scenario.

    ``against`` names what it was compared with ("expect", "the divergence at line 40",
    or a reference target); ``diff`` is a unified diff of canonical lines, empty when
    nothing differs; ``message`` is one line for the console.
    """

    target: str
    status: str
    message: str = ""
    against: str = ""
    diff: list[str] = field(default_factory=list)
    outcome: dict | None = None
    note: str = ""
    """Anything the verdict rests on that a reader should know (events compared in any order)."""


@dataclass
class Verdict:
    """One scenario's verdict (or one file's, when it did not load)."""

    path: str
    scenario_id: str | None
    line: int
    status: str
    targets: list[TargetVerdict] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    summary: str = ""

    @property
    def passed(self) -> bool:
        return self.status in PASSING

    def rerun_command(self, options: Sequence[str] = ()) -> str:
        """The command that reruns just this scenario; ``options``: the run's own that
        decide what it does (``--targets``, ``--python``, ``--node``, ``--timeout``), so
        that the command reproduces the verdict (runner/cli.py's ``_rerun_options``)."""
        # A file that did not load because of another (its id repeats the other's) is
        # run with that file before it: alone, it would load and pass.
        related = dict.fromkeys(item.related for item in self.diagnostics if item.related and item.related != self.path)
        words = ["asyncparity", "run", *related, self.path]
        if self.scenario_id is not None:
            words += ["-k", self.scenario_id]
        return shlex.join([*words, *options])


def worst(statuses: list[str]) -> str:
    """The worst status of several, ignoring skipped ones unless all are; ``agree`` for none.

    A target skipped for a reason (an old runtime) does not make the others' agreement
    less true, so a scenario is ``skipped`` only when no target ran.
    """
    ran = [status for status in statuses if status != "skipped"]
    if statuses and not ran:
        return "skipped"
    return max(ran, key=STATUS_ORDER.index, default="agree")


def by_instant(lines: list[str]) -> list[str]:
    """Canonical lines with each instant's events sorted: the form ``order: instant`` compares.

    Only the order among events at the same virtual time is given up; which instant an
    event happened at, and how many events there were, still count.
    """

    def key(line: str) -> tuple[int, str]:
        head = line.split(" ", 1)[0]
        return (int(head) if head.isdigit() else -1, line)

    return sorted((_unmarked(line) for line in lines), key=key)


def _unmarked(line: str) -> str:
    return line[: -len(UNORDERED)] if line.endswith(UNORDERED) else line


def unordered_spans(lines: list[str]) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of consecutive ``(any order)`` lines at one instant."""
    spans = []
    index = 0
    while index < len(lines):
        if not lines[index].endswith(UNORDERED):
            index += 1
            continue
        instant = lines[index].split(" ", 1)[0]
        end = index + 1
        while end < len(lines) and lines[end].endswith(UNORDERED) and lines[end].split(" ", 1)[0] == instant:
            end += 1
        spans.append((index, end))
        index = end
    return spans


def same_events(expected: list[str], actual: list[str]) -> tuple[bool, int]:
    """Whether two traces are the same, and how many events were compared in any order.

    Line for line, except that where either trace marks a run of lines ``(any order)``
    the same positions of both are compared as multisets (the marks themselves aside).
    """
    if len(expected) != len(actual):
        return False, 0
    spans = sorted(unordered_spans(expected) + unordered_spans(actual))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    plain_expected = [_unmarked(line) for line in expected]
    plain_actual = [_unmarked(line) for line in actual]
    index = 0
    for start, end in merged:
        if plain_expected[index:start] != plain_actual[index:start]:
            return False, 0
        if sorted(plain_expected[start:end]) != sorted(plain_actual[start:end]):
            return False, 0
        index = end
    if plain_expected[index:] != plain_actual[index:]:
        return False, 0
    return True, sum(end - start for start, end in merged)


def first_difference(expected: list[str], actual: list[str], end: str) -> tuple[int, str, str]:
    """The index of the first line where two texts differ, and the line of each there
    (``end`` for the one that has ended)."""
    index = next(
        (i for i, (want, got) in enumerate(zip(expected, actual, strict=False)) if want != got), min(len(expected), len(actual))
    )
    return (index, expected[index] if index < len(expected) else end, actual[index] if index < len(actual) else end)


def load_error_verdict(path: str, diagnostics: list[Diagnostic]) -> Verdict:
    """The verdict for a file that did not load."""
    first = diagnostics[0]
    return Verdict(path, None, first.line, "error", diagnostics=list(diagnostics))


def compare(scenario: Scenario, outcomes: dict[str, dict]) -> Verdict:
    """Compare each target's outcome with what it should do; targets in ``outcomes`` order.

    An outcome whose ``status`` is ``skipped`` or ``error`` (set by the runner, not by a
    testee) passes through with its ``message``.
    """
    divergent = {target for divergence in scenario.diverge for target in divergence.targets}
    reference = next(
        (target for target, outcome in outcomes.items() if target not in divergent and outcome.get("status") == "settled"),
        None,
    )
    lines: dict[str, list[str]] = {}  # each outcome's trace formatted once: the reference's is read by every other target
    verdicts = [_compare_target(scenario, target, outcome, reference, outcomes, lines) for target, outcome in outcomes.items()]
    return Verdict(
        scenario.path,
        scenario.id,
        scenario.line,
        worst([verdict.status for verdict in verdicts]),
        verdicts,
        summary=scenario.summary,
    )


def _trace_of(target: str, outcomes: dict[str, dict], lines: dict[str, list[str]]) -> list[str]:
    """The canonical lines of ``target``'s trace, formatted on first need and kept in ``lines``."""
    if target not in lines:
        lines[target] = lines_of(outcomes[target].get("trace", []))
    return lines[target]


def _compare_target(
    scenario: Scenario,
    target: str,
    outcome: dict,
    reference: str | None,
    outcomes: dict[str, dict],
    lines: dict[str, list[str]],
) -> TargetVerdict:
    status = outcome.get("status")
    if status in ("skipped", "error"):
        return TargetVerdict(target, status, outcome.get("message", ""), outcome=outcome)
    expectation, divergence = scenario.expected_for(target)
    # A run that did not settle is an error, unless the target's divergence declares one.
    declares_stop = divergence is not None and divergence.stops is not None
    if status != "settled" and not declares_stop:
        return TargetVerdict(target, "error", outcome.get("message") or f"{target} ended with status {status}", outcome=outcome)

    expected_result = expectation.result if expectation else None
    expected_trace = list(expectation.trace) if expectation and expectation.trace is not None else None
    against = "expect" if expectation is not None and divergence is None else ""
    if divergence is not None:
        against = f"the divergence declared at line {divergence.line}"
    # A declared stop without a trace compares no trace: expect's ends with a settling.
    if not declares_stop and (expected_result is None or expected_trace is None):
        if reference is None or reference == target:
            if expectation is None:
                return TargetVerdict(target, "agree", "the reference for the others", against="", outcome=outcome)
        else:
            reference_outcome = outcomes[reference]
            if expected_result is None:
                expected_result = reference_outcome.get("result")
            if expected_trace is None:
                expected_trace = _trace_of(reference, outcomes, lines)
            against = against + (" and " if against else "") + reference

    actual_trace = _trace_of(target, outcomes, lines)
    actual_result = declared_result(outcome)
    problems = []
    diff: list[str] = []
    relaxed = scenario.expect is not None and scenario.expect.order == "instant"
    in_any_order = 0
    if expected_trace is None:
        same_trace = True
    elif relaxed:
        same_trace = by_instant(expected_trace) == by_instant(actual_trace)
    else:
        same_trace, in_any_order = same_events(expected_trace, actual_trace)
    if expected_result is not None and normalize(expected_result) != normalize(actual_result):
        stopped = f" ({outcome['message']})" if status != "settled" and outcome.get("message") else ""
        problems.append(f"result: expected {format_result(expected_result)}, got {format_result(actual_result)}{stopped}")
    if not same_trace:
        assert expected_trace is not None  # with no expected trace, same_trace is True
        first, want, got = first_difference(expected_trace, actual_trace, "(end of trace)")
        problems.append(f"trace: first difference at event {first + 1}: expected `{want}`, got `{got}`")
        diff = list(difflib.unified_diff(expected_trace, actual_trace, f"expected ({against})", target, lineterm=""))
    if problems:
        message = f"{target} disagrees with {against}: " + "; ".join(problems)
        if divergence is not None and scenario.expect is not None:
            base_trace = list(scenario.expect.trace) if scenario.expect.trace is not None else None
            same_trace = base_trace is None or same_events(base_trace, actual_trace)[0]
            same_result = scenario.expect.result is None or normalize(scenario.expect.result) == normalize(actual_result)
            if same_trace and same_result:
                message = f"{target} no longer diverges: it behaves as expect says, not as declared at line {divergence.line}"
        return TargetVerdict(target, "mismatch", message, against, diff, outcome)
    note = ""
    if in_any_order:
        note = (
            f"{in_any_order} events compared in any order: CPython takes their order from a set "
            "(a TaskGroup, or asyncio.run, cancelling tasks; asyncio.run closing generators)"
        )
    if divergence is not None:
        return TargetVerdict(target, "diverge", f"diverges as declared: {divergence.reason}", against, outcome=outcome, note=note)
    return TargetVerdict(target, "agree", "", against, outcome=outcome, note=note)
