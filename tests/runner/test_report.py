"""Tests for runner/report.py: the console lines, failure details, closing line and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from asyncparity.compare import TargetVerdict, Verdict
from asyncparity.diagnostics import Diagnostic
from asyncparity.model import PassedOver
from asyncparity.report import (
    Tally,
    failure_details,
    interrupted_line,
    passed_over_line,
    skip_reasons,
    summary_line,
    to_json,
    verdict_line,
)


def passing() -> Verdict:
    return Verdict(
        "spec/a.yaml",
        "alpha",
        2,
        "agree",
        [TargetVerdict("python", "agree"), TargetVerdict("js-promise", "agree"), TargetVerdict("js-async", "diverge")],
    )


def failing() -> Verdict:
    mismatch = TargetVerdict(
        "js-async",
        "mismatch",
        "js-async disagrees with expect: trace: first difference at event 1",
        "expect",
        ["--- expected (expect)", "+++ js-async", '-0 log "a"', '+1 log "a"'],
        {"status": "settled", "result": {"returns": 1}, "trace": []},
    )
    return Verdict("spec/b c.yaml", "beta", 3, "mismatch", [TargetVerdict("python", "agree"), mismatch])


def test_one_line_per_scenario() -> None:
    assert verdict_line(passing(), 8) == "PASS  alpha     python agree, js-promise agree, js-async diverge"
    assert verdict_line(failing(), 8) == "FAIL  beta      python agree, js-async mismatch"
    broken = Verdict("bad.yaml", None, 1, "error", diagnostics=[Diagnostic("bad.yaml", 1, 1, "x")])
    assert verdict_line(broken) == "FAIL  bad.yaml: 1 error(s) in the file"


def test_failure_details_show_diff_result_and_rerun_command() -> None:
    assert failure_details(passing()) == []
    assert failure_details(failing()) == [
        "--- beta (spec/b c.yaml:3)",
        "  js-async: js-async disagrees with expect: trace: first difference at event 1",
        "    --- expected (expect)",
        "    +++ js-async",
        '    -0 log "a"',
        '    +1 log "a"',
        "  rerun: asyncparity run 'spec/b c.yaml' -k beta",
    ]


def test_failure_details_show_what_the_users_code_printed_under_a_failing_target() -> None:
    verdict = failing()
    verdict.targets[1].outcome = {**(verdict.targets[1].outcome or {}), "output": "fetching /orders\nretrying\n"}
    printed = Verdict(
        "spec/b c.yaml", "beta", 3, "mismatch", [TargetVerdict("python", "agree", outcome={"output": "ok"}), verdict.targets[1]]
    )

    assert failure_details(printed)[-4:] == [
        "  js-async printed:",
        "    fetching /orders",
        "    retrying",
        "  rerun: asyncparity run 'spec/b c.yaml' -k beta",
    ]  # the agreeing python target's output is not shown


def test_closing_line_is_the_plain_form() -> None:
    skipped = Verdict("c.yaml", "gamma", 1, "skipped", [TargetVerdict("python", "skipped")])

    assert summary_line([passing(), failing()]) == "1 passed, 1 failed"
    assert summary_line([passing(), skipped]) == "1 passed, 0 failed, 1 skipped"


def test_json_report_is_plain_json() -> None:
    report = to_json([passing(), failing()])

    assert report["summary"] == {"passed": 1, "failed": 1, "skipped": 0, "skipped_targets": 0}
    assert report["scenarios"][1]["rerun"] == "asyncparity run 'spec/b c.yaml' -k beta"
    assert report["scenarios"][1]["targets"][1]["status"] == "mismatch"
    json.dumps(report)


def test_skip_reasons_are_told_once_each() -> None:
    skipped = TargetVerdict("python-eager", "skipped", "python-eager needs CPython 3.12 or later")
    verdicts = [Verdict("a.yaml", "a", 1, "agree", [TargetVerdict("python", "agree"), skipped])] * 2

    assert skip_reasons(verdicts) == ["python-eager skipped on 2 scenario(s): python-eager needs CPython 3.12 or later"]


def test_a_skipped_target_says_why_on_its_line_and_the_closing_line_counts_it() -> None:
    # A pass with a target skipped is a pass of the others only: the line must say so.
    reason = "python needs CPython 3.11 or later (asyncio.TaskGroup); this is CPython 3.10.13"
    partly = Verdict(
        "d.yaml",
        "delta",
        1,
        "agree",
        [TargetVerdict("python", "skipped", reason), TargetVerdict("js-promise", "agree"), TargetVerdict("js-async", "agree")],
    )

    assert verdict_line(partly, 5) == (
        "PASS  delta  python skipped (needs CPython 3.11 or later (asyncio.TaskGroup)), js-promise agree, js-async agree"
    )
    assert summary_line([passing(), partly]) == "2 passed, 0 failed; 1 target run skipped"
    assert summary_line([partly, partly, failing()]) == "2 passed, 1 failed; 2 target runs skipped"
    assert skip_reasons([partly, partly]) == [f"python skipped on 2 scenario(s): {reason}"]


def test_a_tally_taken_verdict_by_verdict_closes_the_run_as_the_verdicts_would() -> None:
    # Issue 13: a run keeps counts, not every verdict.
    reason = "python needs CPython 3.11 or later (asyncio.TaskGroup); this is CPython 3.10.13"
    partly = Verdict(
        "d.yaml", "delta", 1, "agree", [TargetVerdict("python", "skipped", reason), TargetVerdict("js-async", "agree")]
    )
    skipped = Verdict("e.yaml", "eps", 1, "skipped", [TargetVerdict("python", "skipped", reason)])
    verdicts = [passing(), partly, failing(), skipped, partly]
    tally = Tally()
    for verdict in verdicts:
        tally.add(verdict)

    assert (
        summary_line(tally, 2)
        == summary_line(verdicts, 2)
        == ("3 passed, 1 failed, 1 skipped; 2 target runs skipped; 2 YAML files passed over")
    )
    assert skip_reasons(tally) == skip_reasons(verdicts) == [f"python skipped on 3 scenario(s): {reason}"]
    assert (
        interrupted_line(tally, 9)
        == interrupted_line(verdicts, 9)
        == ("interrupted: 3 passed, 1 failed, 1 skipped; 2 target runs skipped; 4 of 9 not run")
    )


def test_a_run_stopped_early_says_so_in_its_closing_line_and_its_report() -> None:
    verdicts = [passing(), failing()]

    assert interrupted_line(verdicts, 10) == "interrupted: 1 passed, 1 failed; 8 of 10 not run"
    assert (to_json(verdicts)["interrupted"], to_json(verdicts)["not_run"]) == (False, 0)
    report = to_json(verdicts, interrupted=True, not_run=8)
    assert (report["interrupted"], report["not_run"], len(report["scenarios"])) == (True, 8, 2)


def test_yaml_files_passed_over_are_a_skip_line_each_and_counted_at_the_end() -> None:
    item = PassedOver(Path("spec/ci.yaml"), "not a scenario: no top-level main or id, and no schema line")

    assert passed_over_line(item) == "SKIP  spec/ci.yaml: not a scenario: no top-level main or id, and no schema line"
    assert summary_line([passing()], passed_over=1) == "1 passed, 0 failed; 1 YAML file passed over"
    assert summary_line([passing()], passed_over=2) == "1 passed, 0 failed; 2 YAML files passed over"
    assert interrupted_line([passing()], 3, 2) == "interrupted: 1 passed, 0 failed; 2 YAML files passed over; 2 of 3 not run"
    assert to_json([passing()], passed_over=[item])["passed_over"] == [
        {"path": "spec/ci.yaml", "reason": "not a scenario: no top-level main or id, and no schema line"}
    ]


def mismatch(target: str, diff_body: list[str]) -> TargetVerdict:
    return TargetVerdict(
        target, "mismatch", f"{target} disagrees with expect", "expect", ["--- expected (expect)", f"+++ {target}", *diff_body]
    )


def test_targets_sharing_a_diff_get_it_once_naming_them_all() -> None:
    same = ["@@ -1 +1 @@", '-0 log "a"', '+1 log "a"']
    other = ["@@ -1 +1 @@", '-0 log "a"', '+2 log "a"']
    verdict = Verdict(
        "s.yaml", "s", 1, "mismatch", [mismatch("python", same), mismatch("js-promise", other), mismatch("js-async", same)]
    )

    assert failure_details(verdict) == [
        "--- s (s.yaml:1)",
        "  python: python disagrees with expect",
        "  js-async: js-async disagrees with expect",
        "    --- expected (expect)",
        "    +++ python, js-async",
        "    @@ -1 +1 @@",
        '    -0 log "a"',
        '    +1 log "a"',
        "  js-promise: js-promise disagrees with expect",
        "    --- expected (expect)",
        "    +++ js-promise",
        "    @@ -1 +1 @@",
        '    -0 log "a"',
        '    +2 log "a"',
        "  rerun: asyncparity run s.yaml -k s",
    ]


def test_a_limit_cuts_the_details_counts_what_it_cut_and_keeps_the_rerun_line() -> None:
    body = ["@@ -1,100 +1,100 @@", *(f"-{n} log" for n in range(100)), *(f"+{n + 1} log" for n in range(100))]
    verdict = Verdict("s.yaml", "s", 1, "mismatch", [mismatch("python", body)])

    everything = failure_details(verdict)
    cut = failure_details(verdict, limit=40)

    assert len(everything) == 206
    assert len(cut) == 40
    assert cut[:38] == everything[:38]
    assert cut[38:] == ["  ... 167 more lines; --full prints them all", "  rerun: asyncparity run s.yaml -k s"]
    assert failure_details(verdict, limit=206) == everything  # within the limit: nothing cut
