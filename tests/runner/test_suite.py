"""Tests for runner/suite.py: the whole pipeline on every target, with a real Node.

Also the cross-target guarantees that only the whole pipeline can show: determinism
(the same scenario twice gives the same trace) and byte-identical strings.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncparity.compare import Verdict
from asyncparity.load import load_paths, load_text
from asyncparity.model import TARGETS, LoadResult
from asyncparity.node import find_node
from asyncparity.suite import FIRST_BATCH, Timings, run_suite
from asyncparity.testees import NodeTestee, PythonTestee, PythonWorkerTestee
from asyncparity_python.compile import compile_target, needs

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"


@pytest.fixture(scope="module")
def node():
    with NodeTestee(find_node()) as testee:
        yield testee


def test_every_shipped_scenario_passes_on_every_target(node: NodeTestee) -> None:
    results = load_paths([SPEC])
    seen = []
    timings = Timings()

    verdicts = run_suite(results, TARGETS, PythonTestee(), node, seen.append, timings)

    assert len(verdicts) >= 12
    assert seen == verdicts  # reported as they complete, in file order
    failing = {
        v.scenario_id: [(t.target, t.message) for t in v.targets if t.status not in ("agree", "diverge")]
        for v in verdicts
        if not v.passed
    }
    assert failing == {}
    assert any(v.status == "diverge" for v in verdicts)
    assert timings.python > 0


def determinism_problem(runs: list[dict]) -> str | None:
    """Why ``runs``, the outcomes of one scenario run again and again on one target, do
    not show one trace every time; None when they do.

    A run without a trace shows nothing (a target that did not run, or a testee that
    does not know the target, answers with an empty one): that is a problem too, never
    a pass.
    """
    first = runs[0]
    for number, run in enumerate(runs, 1):
        if not run["trace"]:
            return f"run {number} has no trace ({run['status']}: {run['message']})"
        if run["trace"] != first["trace"]:
            at = next(
                (i for i, (a, b) in enumerate(zip(first["trace"], run["trace"], strict=False)) if a != b),
                min(len(first["trace"]), len(run["trace"])),
            )
            return f"run {number}'s trace differs from run 1's at event {at}"
        if (run["status"], run["result"]) != (first["status"], first["result"]):
            return f"run {number} ends {run['status']} {run['result']}, run 1 {first['status']} {first['result']}"
    return None


def run_rounds(testee: PythonTestee | PythonWorkerTestee | NodeTestee, target: str, irs: list[dict], rounds: int = 2):
    """Each scenario's outcomes on ``target``, ``rounds`` times: every scenario runs once,
    then every one again, so that a run follows all the others' runs."""
    jobs = [(ir, target) for _ in range(rounds) for ir in irs]
    if isinstance(testee, PythonTestee):
        outcomes = [testee.run(ir, target) for ir, target in jobs]
    else:
        outcomes = list(testee.run_many(jobs))
    return {ir["id"]: outcomes[i :: len(irs)] for i, ir in enumerate(irs)}


@pytest.fixture(scope="module")
def python_312():
    """A Python worker testee under CPython 3.12 or later: python-eager needs one."""
    python = python_312_or_later()
    if python is None:
        pytest.skip("no CPython 3.12+ on PATH or in pyenv: python-eager needs one")
    with PythonWorkerTestee(python) as worker:
        yield worker


@pytest.mark.parametrize("target", TARGETS)
def test_same_scenario_twice_gives_the_same_trace_on_every_target(target: str, request: pytest.FixtureRequest) -> None:
    # Each target on the testee that serves it: python in this process, python-eager on a
    # CPython 3.12+ worker (this one may be older), the JavaScript targets on Node.
    if target == "python":
        testee = PythonTestee()
    else:
        testee = request.getfixturevalue("python_312" if target == "python-eager" else "node")
    irs = [result.scenario.ir for result in load_paths([SPEC])]
    if target == "python":
        # This CPython may lack an API a scenario uses (asyncio.Queue.shutdown is 3.13's): the
        # target skips such a scenario, saying why; python-eager's newer worker runs it here.
        irs = [ir for ir in irs if needs(compile_target(ir, "python").features, sys.version_info) is None]

    runs = run_rounds(testee, target, irs)

    assert len(runs) == len(irs) >= 90
    assert {outcome["target"] for outcomes in runs.values() for outcome in outcomes} == {target}
    problems = {scenario_id: determinism_problem(outcomes) for scenario_id, outcomes in runs.items()}
    assert {scenario_id: problem for scenario_id, problem in problems.items() if problem} == {}


TIED_NAMES = "abcdefgh"
TIED = (
    "id: eight-due-together\n"
    "summary: Eight calls end at one instant, and the values come in call order.\n"
    "operations:\n"
    + "".join(f"  fetch_{name}:\n    latency: 10\n    returns: {name}\n" for name in TIED_NAMES)
    + "main:\n"
    + f"  - all: [{', '.join(f'{{call: fetch_{name}}}' for name in TIED_NAMES)}]\n"
    + "    as: values\n"
    + "  - return: $values\n"
)


def test_the_determinism_check_catches_an_order_that_changes_from_run_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # The control (as trio's test_scheduler_determinism has one): the runtime with a
    # random tie-break between the timers due at one instant, where it keeps the order
    # of scheduling. Eight calls end at 10 ms; their ends come in a new order each run,
    # and the check above must say so. Seeded, so that the control itself never varies.
    import random

    import asyncparity_runtime

    ir = load_text(TIED, "tied.yaml").scenario.ir
    steady = run_rounds(PythonTestee(), "python", [ir])["eight-due-together"]
    assert determinism_problem(steady) is None
    ends = [event["op"] for event in steady[0]["trace"] if event["event"] == "end"]
    assert ends == [f"fetch_{name}" for name in TIED_NAMES]  # the order of scheduling

    coin = random.Random(8)

    def random_tie_break(self, other) -> bool:
        return self._when < other._when if self._when != other._when else coin.random() < 0.5

    monkeypatch.setattr(asyncparity_runtime._TimerHandle, "__lt__", random_tie_break)
    shuffled = run_rounds(PythonTestee(), "python", [ir])["eight-due-together"]

    assert all(outcome["status"] == "settled" for outcome in shuffled)
    assert shuffled[0]["result"] == shuffled[1]["result"] == steady[0]["result"]  # all keeps call order
    problem = determinism_problem(shuffled)
    assert problem is not None
    difference = re.fullmatch(r"run 2's trace differs from run 1's at event (\d+)", problem)
    assert difference and int(difference.group(1)) >= len(TIED_NAMES)  # the starts at 0 ms are in order


def test_the_determinism_check_catches_runs_with_no_trace(node: NodeTestee) -> None:
    # The mistake this check once made: python-eager sent to the Node testee is
    # "unknown target" every time, and two empty traces are equal.
    ir = load_text(TIED, "tied.yaml").scenario.ir
    runs = run_rounds(node, "python-eager", [ir])["eight-due-together"]

    assert [outcome["trace"] for outcome in runs] == [[], []]
    problem = determinism_problem(runs)
    assert problem is not None and problem.startswith("run 1 has no trace (error: ")


TRICKY = [
    'double " quote',
    "single ' quote",
    "back \\ slash \\n not a newline",
    "new\nline and\r\ncarriage return and \t tab",
    "${x} and `backtick` and ${'${y}'}",
    "{x} and {{y}} and }",
    "</script><script>alert(1)</script>",
    "NUL \x00 and bell \x07 and DEL \x7f",
    "non-ASCII: é ß 漢字 🎉 \u2028 \u2029",
    "%s %d %(name)s {0} #{x} $1",
]


def yaml_string(value: object) -> str:
    """A YAML flow value: JSON, with DEL escaped (YAML does not allow it raw) and U+2028/9
    escaped (YAML 1.1 reads them raw as line breaks and folds them)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\x7f", "\\u007f").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def tricky_scenario() -> str:
    values = yaml_string(TRICKY)
    return f"""\
id: tricky-strings
summary: Strings that break naive code generators come out byte-identical.
operations:
  echo:
    latency: 1
    returns: {yaml_string(TRICKY[4])}
  refuse:
    latency: 1
    fails: {{kind: Refused, message: {yaml_string(TRICKY[8])}}}
main:
  - await: echo
    args: {values}
    as: echoed
  - log: {yaml_string(TRICKY[0])}
  - log: {yaml_string(TRICKY[3])}
  - log: {{literal: {values}}}
  - log: {{format: {yaml_string("[{echoed}] " + TRICKY[6].replace("{", "{{").replace("}", "}}"))}}}
  - try:
      - await: refuse
    catch:
      as: error
      steps:
        - log: $error.message
  - throw: {{kind: Tricky, message: {yaml_string(TRICKY[7] + TRICKY[5])}}}
"""


def test_tricky_strings_come_out_byte_identical_in_all_three_targets(node: NodeTestee) -> None:
    result = load_text(tricky_scenario(), "tricky.yaml")
    assert result.diagnostics == []
    ir = result.scenario.ir
    thrown = TRICKY[7] + TRICKY[5]
    assert ir["main"][-1]["message"] == {"literal": thrown}  # plain strings are never interpolated

    outcomes = {"python": PythonTestee().run(ir), **{t: node.run(ir, t) for t in ("js-promise", "js-async")}}

    for target, outcome in outcomes.items():
        assert outcome["status"] == "settled", (target, outcome.get("message"))
        trace = outcome["trace"]
        assert trace[0]["args"] == TRICKY, target
        assert trace[1]["value"] == TRICKY[4], target
        logs = [event["message"] for event in trace if event["event"] == "log"]
        assert logs == [TRICKY[0], TRICKY[3], TRICKY, f"[{TRICKY[4]}] {TRICKY[6]}", TRICKY[8]], target
        assert outcome["result"] == {"throws": {"kind": "Tricky", "message": thrown}}, target
    assert outcomes["python"]["trace"] == outcomes["js-promise"]["trace"] == outcomes["js-async"]["trace"]


def test_js_promise_programs_never_use_async_or_await(node: NodeTestee) -> None:
    texts = [result.scenario.ir for result in load_paths([SPEC])]
    texts.append(load_text(tricky_scenario(), "tricky.yaml").scenario.ir)
    for ir in texts:
        source = node.compile(ir, "js-promise")
        # Strings and comments carry the scenario's own text (its summary may say "async");
        # the code around them must not use the keywords.
        code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', source)
        code = re.sub(r"^\s*//.*$", "", code, flags=re.MULTILINE)
        assert not re.search(r"\b(async|await)\b", code), (ir["id"], source)


def python_312_or_later():
    from asyncparity.pythons import PythonNotFound, find_python

    for version in ("3.13", "3.12"):
        try:
            return find_python(version)
        except PythonNotFound:
            continue
    return None


def test_every_scenario_passes_on_all_four_targets_under_cpython_3_12_or_later(
    node: NodeTestee, python_312: PythonWorkerTestee
) -> None:
    verdicts = run_suite(load_paths([SPEC]), TARGETS, python_312, node)

    failing = {
        v.scenario_id: [(t.target, t.message) for t in v.targets if t.status not in ("agree", "diverge")]
        for v in verdicts
        if not v.passed
    }
    assert failing == {}
    eager = {t.target: t.status for v in verdicts if v.scenario_id == "eager-start" for t in v.targets}
    assert eager == {"python": "diverge", "python-eager": "agree", "js-promise": "agree", "js-async": "agree"}


COUNT = """\
id: count
summary: A count that keeps the in-process Python target busy for a second or more, with no trace.
main:
  - set: n
    value: 0
  - repeat: 10000
    steps:
      - repeat: 6000
        steps:
          - set: n
            value: {calc: [$n, "+", 1]}
  - return: $n
"""


def test_a_node_worker_stopped_while_the_python_target_runs_is_found_out_when_the_runner_looks() -> None:
    # Issue 9, defect 2: the reply's deadline ran from when the runner began to wait on
    # Node, so a worker stopped (SIGSTOP) during the in-process Python work cost a whole
    # timeout more after it. It runs from when the request was written: by the time the
    # Python target is done, the deadline has passed, and the verdict comes at once.
    results = [load_text(COUNT, "count.yaml"), load_paths([SPEC / "seed" / "download-fallback.yaml"])[0]]
    node = NodeTestee(find_node(), timeout=0.6)
    node.start()
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)
    timings = Timings()
    started = time.monotonic()
    seen: list[float] = []
    try:
        verdicts = run_suite(
            results, ("python", "js-async"), PythonTestee(), node, lambda _: seen.append(time.monotonic()), timings
        )
    finally:
        node.close()

    assert [(item.target, item.status, item.message) for item in verdicts[0].targets] == [
        ("python", "agree", "the reference for the others"),
        ("js-async", "error", "the Node worker gave no reply within 0.6 s on scenario 'count': killed and restarted"),
    ]
    assert verdicts[1].passed
    assert timings.python > 0.6  # the deadline passed while the Python target ran...
    # ...so its verdict did not wait for another timeout (0.6 s): a kill and a restart,
    # a few ms, or a tenth of a second on a busy machine
    assert seen[0] - started - timings.python < 0.3


def test_a_lazy_folder_gives_its_first_verdict_after_reading_a_few_files(tmp_path: Path) -> None:
    # Issue 11: the first verdict of a large folder comes before the last file is read.
    # The first batch is small; while the worker has not answered, the run loads more
    # files and runs them in-process ahead (issue 13), at most a window's worth.
    from asyncparity.bench import write_scenarios
    from asyncparity.load import load_files
    from asyncparity.suite import WINDOW

    files = write_scenarios(tmp_path, 3 * WINDOW)
    taken: list[str] = []
    taken_at_first_verdict: list[int] = []
    batches: list[int] = []
    own = NodeTestee(find_node())
    own.start()
    submit = own._submit

    def counting(sent: list[dict]) -> list:
        batches.append(len(sent))
        return submit(sent)

    own._submit = counting  # type: ignore[method-assign]  # the requests of each batch, counted

    def lazily() -> Iterator[LoadResult]:
        for result in load_files(files):
            taken.append(result.path)
            yield result

    def on_verdict(verdict: Verdict) -> None:
        if not taken_at_first_verdict:
            taken_at_first_verdict.append(len(taken))

    try:
        verdicts = run_suite(lazily(), ("python", "js-async"), PythonTestee(), own, on_verdict)
    finally:
        own.close()

    assert batches[0] == FIRST_BATCH
    assert FIRST_BATCH <= taken_at_first_verdict[0] <= WINDOW
    assert [verdict.scenario_id for verdict in verdicts] == [f"bench-{index}" for index in range(3 * WINDOW)]
    assert all(verdict.passed for verdict in verdicts)


def test_the_in_process_target_runs_ahead_while_the_worker_has_not_answered(tmp_path: Path) -> None:
    # Issue 13: a worker's first answers wait for its run thread to start; the run does
    # not wait with them.
    from asyncparity.bench import write_scenarios
    from asyncparity.load import load_files

    files = write_scenarios(tmp_path, 12)
    python = PythonTestee()
    ran: list[str] = []
    run = python.run

    def recording(ir: dict, target: str = "python", **options: Any) -> dict:
        ran.append(ir["id"])
        return run(ir, target, **options)

    python.run = recording  # type: ignore[method-assign]
    slow = NodeTestee(find_node())
    slow.start()
    answered = slow.has_reply
    replies_seen: list[bool] = []

    def has_reply() -> bool:
        replies_seen.append(answered())
        return len(replies_seen) > 5 and replies_seen[-1]  # not answered for the first few looks

    slow.has_reply = has_reply  # type: ignore[method-assign]
    ran_at_first_verdict: list[int] = []
    try:
        verdicts = run_suite(
            load_files(files),
            ("python", "js-async"),
            python,
            slow,
            lambda verdict: ran_at_first_verdict.append(len(ran)) if not ran_at_first_verdict else None,
        )
    finally:
        slow.close()

    assert ran == [f"bench-{index}" for index in range(12)]  # each once, in order
    assert ran_at_first_verdict[0] >= 6  # the first and five ahead of it
    assert [verdict.scenario_id for verdict in verdicts] == [f"bench-{index}" for index in range(12)]
    assert all(verdict.passed for verdict in verdicts)


def test_a_batchs_python_programs_are_made_together_before_its_first_run(tmp_path: Path) -> None:
    # Issue 13: making a batch's programs, then running them, keeps the compiler warm.
    from asyncparity.bench import write_scenarios
    from asyncparity.load import load_files

    files = write_scenarios(tmp_path, FIRST_BATCH + 2)
    python = PythonTestee()
    steps: list[str] = []
    make, run = python.program, python.run

    def making(ir: dict, target: str, **options: Any) -> Any:
        steps.append(f"make {ir['id']}")
        return make(ir, target, **options)

    def running(ir: dict, target: str = "python", **options: Any) -> dict:
        steps.append(f"run {ir['id']}" + ("" if options.get("program") is not None else " (not made)"))
        return run(ir, target, **options)

    python.program, python.run = making, running  # type: ignore[method-assign]

    verdicts = run_suite(load_files(files), ("python",), python, None)

    # The second batch is loaded, and its programs made, once the first verdict is out.
    first, second = range(FIRST_BATCH), range(FIRST_BATCH, FIRST_BATCH + 2)
    assert steps == (
        [f"make bench-{index}" for index in first]
        + ["run bench-0"]
        + [f"make bench-{index}" for index in second]
        + [f"run bench-{index}" for index in (*first[1:], *second)]
    )
    assert all(verdict.passed for verdict in verdicts)


def test_stop_ends_the_run_at_the_verdict_it_names(tmp_path: Path) -> None:
    from asyncparity.bench import write_scenarios
    from asyncparity.load import load_files

    files = write_scenarios(tmp_path, 12)
    own = NodeTestee(find_node())  # left busy with the rest of its round: aborted, not shared
    own.start()
    try:
        verdicts = run_suite(
            load_files(files), ("python", "js-async"), PythonTestee(), own, stop=lambda v: v.scenario_id == "bench-2"
        )
    finally:
        own.abort()

    assert [verdict.scenario_id for verdict in verdicts] == ["bench-0", "bench-1", "bench-2"]


def test_the_workers_get_one_request_a_scenario_and_never_more_than_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 13: a bounded stream. Each scenario goes to the Node worker as one request
    # for both JavaScript targets, and no more than WINDOW scenarios are ever at it
    # unanswered, however many the run has.
    from asyncparity import suite
    from asyncparity.bench import write_scenarios
    from asyncparity.load import load_files

    files = write_scenarios(tmp_path, 100)
    own = NodeTestee(find_node())
    own.start()
    requests: list[dict] = []
    most = [0]
    submit = own._submit

    def counting(sent: list[dict]) -> list:
        requests.extend(sent)
        items = submit(sent)
        most[0] = max(most[0], len(own._outstanding))
        return items

    monkeypatch.setattr(own, "_submit", counting)
    monkeypatch.setattr(suite, "WINDOW", 24)
    try:
        verdicts = run_suite(load_files(files), TARGETS, PythonTestee(), own)
    finally:
        own.close()

    assert [verdict.scenario_id for verdict in verdicts] == [f"bench-{index}" for index in range(100)]
    assert all(verdict.passed for verdict in verdicts)
    runs = [request for request in requests if request["type"] == "run"]  # and the shutdown
    assert [(request["targets"], request["validated"]) for request in runs] == [(["js-promise", "js-async"], True)] * 100
    assert most[0] <= 24
    assert len(own._outstanding) == 0
