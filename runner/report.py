"""Report: verdicts in, text for people (console) and JSON for machines out.

The console form: a line for each YAML file of a folder that is not a scenario, with the
reason (the loader's discovery passed it over); one line per scenario; the details of
each failure; then the closing line ``N passed, N failed`` (", N skipped" for scenarios
no target ran, "; N target runs skipped" when some targets of the others did not run,
"; N YAML files passed over"; a run stopped by Ctrl-C closes with ``interrupted: N
passed, N failed; N of M not run``)::

    SKIP  spec/ci.yaml: not a scenario: no top-level main or id, and no schema line
    PASS  seed-download-fallback          python agree, js-promise agree, js-async agree
    FAIL  seed-broken                     python agree, js-promise mismatch, js-async agree
    PASS  timeout-fallback                python skipped (needs CPython 3.11 or later ...), js-promise agree, ...

A pass with a skipped target is a pass of the targets that ran only: the line says which
did not, and why, so that a difference the skipped target would have shown is not
mistaken for agreement.

A failure shows which target disagrees with what, the result difference, a unified
diff of the canonical traces whose first differing event is named (once for all the
targets that differ in the same way), and the command that reruns only that scenario;
at most :data:`~asyncparity.defaults.DETAIL_LIMIT` lines of it on the console unless asked for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .compare import Verdict
from .model import PassedOver

RUN_REPORT_VERSION = 1
"""The ``run`` key of the JSON report: its format's version (spec/run-report.schema.json)."""

STATUS_WORD = {"agree": "PASS", "diverge": "PASS", "skipped": "SKIP", "mismatch": "FAIL", "error": "FAIL"}


def verdict_line(verdict: Verdict, id_width: int = 32) -> str:
    """The one-line summary of a scenario's verdict."""
    word = STATUS_WORD[verdict.status]
    if verdict.scenario_id is None:
        return f"{word}  {verdict.path}: {len(verdict.diagnostics)} error(s) in the file"
    cells = ", ".join(_cell(item) for item in verdict.targets)
    return f"{word}  {verdict.scenario_id:<{id_width}}  {cells}"


def passed_over_line(item: PassedOver) -> str:
    """The line for a YAML file that is not a scenario: ``SKIP  path: reason``."""
    return f"{STATUS_WORD['skipped']}  {item.path}: {item.reason}"


def _cell(item) -> str:
    if item.status != "skipped":
        return f"{item.target} {item.status}"
    # "python needs CPython 3.11 or later (asyncio.timeout); this is CPython 3.10.13": the
    # target's name is already said, and the version is in the closing lines.
    reason = item.message.removeprefix(f"{item.target} ").split("; this is ")[0]
    return f"{item.target} skipped ({reason})" if reason else f"{item.target} skipped"


def failure_details(verdict: Verdict, limit: int | None = None, rerun_options: Sequence[str] = ()) -> list[str]:
    """The lines that explain a failed verdict; empty for a passing one. ``rerun_options``:
    the run's options that the rerun line repeats (:meth:`~asyncparity.compare.Verdict.rerun_command`).

    Targets whose traces differ in the same way share one diff, printed once under
    their messages, its ``+++`` line naming them all. With a ``limit``, the lines past
    it are cut and counted (the rerun line always closes the details).
    """
    if verdict.passed or verdict.status == "skipped":
        return []
    lines = [f"--- {verdict.scenario_id or verdict.path} ({verdict.path}:{verdict.line})"]
    for diagnostic in verdict.diagnostics:
        lines.append(f"  {diagnostic}")
    failing = [item for item in verdict.targets if item.status in ("mismatch", "error")]
    # The same diff: the same lines but for the +++ line, which names the target.
    groups: dict[tuple[str, ...], list] = {}
    for item in failing:
        key = tuple(item.diff[:1] + item.diff[2:]) if item.diff else (item.target,)
        groups.setdefault(key, []).append(item)
    for group in groups.values():
        for item in group:
            # A message of several lines (the user's frames, issue 12) is indented under its target.
            first, *more = item.message.split("\n")
            lines.append(f"  {item.target}: {first}")
            lines.extend(f"  {line}" for line in more)
        diff = group[0].diff
        if diff:
            shared = [diff[0], "+++ " + ", ".join(item.target for item in group), *diff[2:]] if len(group) > 1 else diff
            lines.extend(f"    {diff_line}" for diff_line in shared)
    for item in failing:
        # What the user's own code printed in that run (spec/PROTOCOL.md, the outcome's output).
        output = (item.outcome or {}).get("output")
        if output:
            lines.append(f"  {item.target} printed:")
            lines.extend(f"    {line}" for line in output.rstrip("\n").split("\n"))
    rerun = f"  rerun: {verdict.rerun_command(rerun_options)}"
    if limit is not None and len(lines) + 1 > limit:
        kept = max(limit - 2, 1)
        lines = [*lines[:kept], f"  ... {len(lines) - kept} more lines; --full prints them all"]
    return [*lines, rerun]


class Tally:
    """What a run's closing lines need of its verdicts, taken as they come, so that a
    run of any size need not keep them (issue 13: memory flat): the counts of
    :func:`counts` and the reasons of :func:`skip_reasons`."""

    def __init__(self) -> None:
        self.counts = {"passed": 0, "failed": 0, "skipped": 0, "skipped_targets": 0}
        self.skips: dict[tuple[str, str], int] = {}
        self.seen = 0
        """Verdicts added."""

    def add(self, verdict: Verdict) -> None:
        """Count one verdict."""
        self.seen += 1
        for item in verdict.targets:
            if item.status == "skipped":
                key = (item.target, item.message)
                self.skips[key] = self.skips.get(key, 0) + 1
        if verdict.passed:
            self.counts["passed"] += 1
        elif verdict.status == "skipped":
            self.counts["skipped"] += 1
            return
        else:
            self.counts["failed"] += 1
        self.counts["skipped_targets"] += sum(1 for item in verdict.targets if item.status == "skipped")

    @classmethod
    def of(cls, verdicts: Iterable[Verdict] | Tally) -> Tally:
        """``verdicts`` counted (a tally is itself)."""
        if isinstance(verdicts, Tally):
            return verdicts
        tally = cls()
        for verdict in verdicts:
            tally.add(verdict)
        return tally


def skip_reasons(verdicts: Iterable[Verdict] | Tally) -> list[str]:
    """One line per distinct reason a target was skipped, with how many scenarios it hit."""
    reasons = Tally.of(verdicts).skips
    return [f"{target} skipped on {count} scenario(s): {message}" for (target, message), count in reasons.items()]


def counts(verdicts: Iterable[Verdict] | Tally) -> dict[str, int]:
    """How many scenarios (or unloadable files) passed, failed and were skipped, and how
    many target runs of scenarios that ran were skipped."""
    return dict(Tally.of(verdicts).counts)


def summary_line(verdicts: Iterable[Verdict] | Tally, passed_over: int = 0) -> str:
    """``N passed, N failed``, with ``, N skipped`` when whole scenarios were skipped,
    ``; N target runs skipped`` when targets of the others were, and ``; N YAML files
    passed over`` for the files of a folder that are not scenarios."""
    tally = counts(verdicts)
    line = f"{tally['passed']} passed, {tally['failed']} failed"
    if tally["skipped"]:
        line += f", {tally['skipped']} skipped"
    if tally["skipped_targets"]:
        line += f"; {tally['skipped_targets']} target run{'s' if tally['skipped_targets'] != 1 else ''} skipped"
    if passed_over:
        line += f"; {passed_over} YAML file{'s' if passed_over != 1 else ''} passed over"
    return line


def interrupted_line(verdicts: list[Verdict] | Tally, total: int, passed_over: int = 0) -> str:
    """The closing line of a run stopped early: the counts so far and how many were not run,
    ``interrupted: 3 passed, 0 failed; 7 of 10 not run``."""
    seen = verdicts.seen if isinstance(verdicts, Tally) else len(verdicts)
    return f"interrupted: {summary_line(verdicts, passed_over)}; {total - seen} of {total} not run"


def to_json(
    verdicts: Iterable[Verdict],
    interrupted: bool = False,
    not_run: int = 0,
    passed_over: Sequence[PassedOver] = (),
    rerun_options: Sequence[str] = (),
) -> dict:
    """All verdicts as one JSON-able report (outcomes included). A run stopped early says
    so (``interrupted``) and how many scenarios it did not reach (``not_run``);
    ``passed_over`` lists the YAML files of the folders that are not scenarios, and why.
    The format is spec/run-report.schema.json (spec/PROTOCOL.md, "Reports")."""
    verdicts = list(verdicts)
    return {
        "run": RUN_REPORT_VERSION,
        "summary": counts(verdicts),
        "interrupted": interrupted,
        "not_run": not_run,
        "passed_over": [{"path": str(item.path), "reason": item.reason} for item in passed_over],
        "scenarios": [
            {
                "id": verdict.scenario_id,
                "path": verdict.path,
                "line": verdict.line,
                "status": verdict.status,
                "rerun": verdict.rerun_command(rerun_options),
                "diagnostics": [diagnostic.to_json() for diagnostic in verdict.diagnostics],
                "targets": [
                    {
                        "target": item.target,
                        "status": item.status,
                        "message": item.message,
                        "against": item.against,
                        "diff": item.diff,
                        "outcome": item.outcome,
                    }
                    for item in verdict.targets
                ],
            }
            for verdict in verdicts
        ],
    }
