"""Tests for runner/testees.py: the in-process Python testee and the Node worker client.

The Node client is tested against real Node processes: the real worker, and a fake one
(fixtures/fake-worker.mjs) that hangs or crashes on purpose. The faults of a worker that
breaks the protocol (fixtures/misbehaving_worker.py) and of the real worker killed or
stopped during a run: each test asserts the outcomes of the scenarios the fault did not
touch, the message of the one it did, and a bound on the time taken.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from asyncparity import testees
from asyncparity.content_cache import ContentCache, kit_key
from asyncparity.load import load_file, load_text
from asyncparity.node import NodeNotFound, find_node, locate_node
from asyncparity.testees import NodeTestee, PythonTestee, WorkerTestee
from asyncparity.trace import FormattedTrace, trace_lines

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = Path(__file__).resolve().parent / "fixtures" / "fake-worker.mjs"
SEED = load_file(ROOT / "spec" / "seed" / "download-fallback.yaml").scenario


def ir(scenario_id: str) -> dict:
    return {"ir": 1, "id": scenario_id}


def test_a_request_for_both_javascript_targets_has_the_reply_bound_of_each() -> None:
    # Each target's run may take the wall-clock bound and the worker's grace before the
    # worker stops it (6 s): one request runs both, and under one reply bound (10 s) a
    # loop that never calls the kit was the worker killed instead of two runaways.
    node = NodeTestee(find_node(), timeout=0.5, worker=FAKE_WORKER)
    node.start()
    started = time.monotonic()
    try:
        [outcomes] = list(node.run_scenarios([ir("hang")], ("js-promise", "js-async")))
    finally:
        node.close()

    assert time.monotonic() - started >= 1.0
    assert [outcome["message"] for outcome in outcomes.values()] == [
        "the Node worker gave no reply within 1 s on scenario 'hang': killed and restarted"
    ] * 2


def test_a_hanging_or_crashing_worker_is_killed_restarted_and_the_rest_still_run() -> None:
    node = NodeTestee(find_node(), timeout=1.0, worker=FAKE_WORKER)
    node.start()
    try:
        outcomes = list(node.run_many([(ir(name), "js-async") for name in ("one", "hang", "two", "crash", "three")]))
    finally:
        node.close()

    assert [outcome.get("result") for outcome in outcomes] == [
        {"returns": "one"},
        None,
        {"returns": "two"},
        None,
        {"returns": "three"},
    ]
    assert outcomes[1]["status"] == "error"
    assert outcomes[1]["message"] == "the Node worker gave no reply within 1 s on scenario 'hang': killed and restarted"
    assert outcomes[3]["message"] == (
        "the Node worker exited (code 3) while running scenario 'crash': restarted; stderr: fake worker: crashing on purpose"
    )
    assert node.restarts == 2


def test_real_worker_says_hello_and_runs_the_seed_on_both_js_targets() -> None:
    with NodeTestee(find_node()) as node:
        assert node.hello["targets"] == ["js-promise", "js-async"]
        assert node.hello["protocol"] == 2
        outcomes = list(node.run_many([(SEED.ir, "js-promise"), (SEED.ir, "js-async")]))
        source = node.compile(SEED.ir, "js-promise")

    assert [outcome["target"] for outcome in outcomes] == ["js-promise", "js-async"]
    assert all(outcome["result"] == {"returns": "processed"} for outcome in outcomes)
    assert ".catch(" in source


def test_a_js_target_that_cannot_be_compiled_is_its_own_error_and_the_other_runs(tmp_path: Path) -> None:
    # One request carries both JavaScript targets (spec/PROTOCOL.md): a compiler that
    # fails for js-async alone must not cost js-promise its run, nor lend it its message.
    stub = tmp_path / "compile-but-not-js-async.mjs"
    real = (ROOT / "javascript" / "compile.mjs").as_uri()
    stub.write_text(
        f'import {{ compile as real }} from "{real}";\n'
        "export function compile(ir, target, options) {\n"
        '  if (target === "js-async") throw new Error("not for js-async");\n'
        "  return real(ir, target, options);\n"
        "}\n"
    )
    node = NodeTestee(find_node())
    node.env = {**os.environ, "ASYNCPARITY_JS_COMPILER": str(stub)}
    with node:
        [outcomes] = list(node.run_scenarios([SEED.ir], ("js-promise", "js-async"), validated=True))

    assert outcomes["js-promise"]["result"] == {"returns": "processed"}
    assert outcomes["js-async"] == {
        "target": "js-async",
        "status": "error",
        "result": None,
        "trace": [],
        "message": 'cannot compile scenario "seed-download-fallback" for js-async: Error: not for js-async',
    }


def test_an_error_outcome_is_read_only_in_a_reply_for_several_targets() -> None:
    error = {"target": "js-async", "status": "error", "result": None, "trace": [], "message": "cannot compile"}
    several = {"id": 1, "type": "run", "targets": ["js-async"]}
    assert testees.reply_problem(several, {"id": 1, "type": "outcomes", "outcomes": [error]}) is None
    assert testees.reply_problem(several, {"id": 1, "type": "outcomes", "outcomes": [{**error, "message": None}]}) == (
        "an error outcome without a message"
    )
    single = {"id": 1, "type": "run", "target": "js-async"}
    assert testees.reply_problem(single, {"id": 1, "type": "outcome", "outcome": error}) == (
        "an outcome with status 'error'; a testee's are settled, deadlock, runaway, crash, skipped"
    )


def test_a_launched_worker_says_hello_meanwhile_and_start_takes_that_hello() -> None:
    node = NodeTestee(find_node())
    node.launch()  # the run does its own work while Node starts (issue 13)
    try:
        pid = node.pid
        assert pid is not None
        assert node.hello is None  # sent, not yet taken

        hello = node.start()

        assert node.pid == pid  # start took the launched worker's hello, it started no other
        assert node.hello is hello
        assert hello["targets"] == ["js-promise", "js-async"]
        assert node.run(SEED.ir, "js-async")["result"] == {"returns": "processed"}
    finally:
        node.close()


def test_the_real_workers_outcomes_keep_the_lines_their_check_made() -> None:
    # The runner formats a worker's trace to check it; compare reads those lines (issue 13).
    with NodeTestee(find_node()) as node:
        (outcomes,) = node.run_scenarios([SEED.ir], ("js-promise", "js-async"))

    for outcome in outcomes.values():
        trace = outcome["trace"]
        assert isinstance(trace, FormattedTrace)
        assert trace.lines == trace_lines(list(trace)) and trace.lines[-1] == '60 return "processed"'
        assert json.loads(json.dumps(outcome))["trace"] == list(trace)  # as JSON, the events


def test_python_testee_runs_in_process() -> None:
    python = PythonTestee()

    outcome = python.run(SEED.ir)

    assert outcome["target"] == "python"
    assert outcome["result"] == {"returns": "processed"}
    assert python.compile(SEED.ir).startswith('"""seed-download-fallback: ')


def test_python_testee_probes_its_features_once_not_for_every_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncparity_python import worker

    probes: list[int] = []
    probe = worker.features
    monkeypatch.setattr(worker, "features", lambda: probes.append(1) or probe())
    python = PythonTestee()

    outcomes = [python.run(SEED.ir) for _ in range(3)]

    assert [outcome["result"] for outcome in outcomes] == [{"returns": "processed"}] * 3
    assert len(probes) == 1


def test_python_testee_skips_the_compilers_check_of_ir_the_loader_validated(tmp_path: Path) -> None:
    assert SEED is not None
    ir = json.loads(json.dumps(SEED.ir))
    ir["main"][0]["times"] = 3  # what the compiler's check refuses, and the program never reads
    for cache in (None, ContentCache(tmp_path / ".asyncparity_cache", kit_key("0.1.0"))):
        python = PythonTestee(cache=cache)

        checked, validated = python.run(ir), python.run(ir, validated=True)

        assert checked["status"] == "error"
        assert checked["message"].endswith("main: line 37: an await step has no field 'times'")
        assert validated == python.run(SEED.ir)
        if cache is not None:
            cache.close()


def test_python_testee_runs_the_program_it_was_given_without_making_it_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from asyncparity_python import target

    made: list[str] = []
    make = target.compile_target
    monkeypatch.setattr(target, "compile_target", lambda ir, *args, **kwargs: made.append(ir["id"]) or make(ir, *args, **kwargs))
    for cache in (None, ContentCache(tmp_path / ".asyncparity_cache", kit_key("0.1.0"))):
        python = PythonTestee(cache=cache)
        made.clear()

        program = python.program(SEED.ir, "python", validated=True)
        outcome = python.run(SEED.ir, "python", validated=True, program=program)

        assert program is not None and made == ["seed-download-fallback"]
        assert outcome == PythonTestee().run(SEED.ir)
        if cache is not None:
            cache.close()


def test_python_testee_makes_no_program_it_would_not_run_in_process() -> None:
    python = PythonTestee()

    assert python.program({**SEED.ir, "requires": {"python": "99"}}, "python") is None
    assert python.program({**SEED.ir, "bindings": {"python": "steps.py"}}, "python") is None
    assert python.program({"ir": 1, "id": "broken"}, "python") is None  # run() says why
    assert python.run({"ir": 1, "id": "broken"}, program=None)["status"] == "error"


def test_python_testee_turns_a_target_crash_into_an_error_outcome() -> None:
    outcome = PythonTestee().run({"ir": 1, "id": "broken"})

    assert outcome["status"] == "error"
    assert outcome["message"].startswith("the python target failed on scenario 'broken': ")


@pytest.mark.parametrize("timeout", [0.5])
def test_close_is_bounded_even_for_a_worker_that_never_answers(timeout: float) -> None:
    node = NodeTestee(find_node(), timeout=timeout, worker=FAKE_WORKER)
    node.start()
    list(node.run_many([(ir("hang"), "js-async")]))

    node.close()

    assert node._process is None


def test_unmet_requirements_name_the_runtime() -> None:
    from asyncparity.testees import unmet_requirement

    node20 = {"runtime": {"name": "node", "version": "20.20.2"}, "features": {"await_using": False}}
    py311 = {"runtime": {"name": "cpython", "version": "3.11.7"}, "features": {"task_group": True}}

    assert unmet_requirement({"id": "x", "requires": {"node": "22"}}, node20) == (
        "scenario 'x' requires Node 22 or later; this is Node 20.20.2"
    )
    assert unmet_requirement({"id": "x", "requires": {"features": ["await_using"]}}, node20) == (
        "scenario 'x' requires await_using, which Node 20.20.2 lacks"
    )
    assert unmet_requirement({"id": "x", "requires": {"python": "3.12"}}, py311) == (
        "scenario 'x' requires CPython 3.12 or later; this is CPython 3.11.7"
    )
    assert unmet_requirement({"id": "x", "requires": {"python": "3.11", "node": "22"}}, py311) is None


def test_a_scenario_whose_requirement_is_unmet_is_skipped_not_sent() -> None:
    ir = {**SEED.ir, "requires": {"node": "99"}}

    with NodeTestee(find_node()) as node:
        outcome = node.run(ir, "js-async")

    assert outcome["status"] == "skipped"
    assert outcome["message"].startswith("scenario 'seed-download-fallback' requires Node 99 or later; this is Node ")


# -- faults: a worker that breaks the protocol, dies, stops or goes quiet ------------------

MISBEHAVING = Path(__file__).resolve().parent / "fixtures" / "misbehaving_worker.py"


def misbehaving(timeout: float = 10.0) -> WorkerTestee:
    """The fixture worker that breaks the protocol on the scenarios named after a fault."""
    return WorkerTestee([sys.executable, str(MISBEHAVING)], "fake", timeout=timeout)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("garbage", "a line that is not JSON: '<html>502 Bad Gateway</html>\\n'"),
        ("not-utf8", 'a line that is not UTF-8: b\'{"id": 1, "type": "\\xff\\xfe"}\\n\''),
        ("a-list", "a reply that is not a JSON object: [1, 2, 3]"),
        ("no-trace", "an outcome whose trace is not a list of event objects"),
        ("bad-event", "an outcome the runner cannot read (KeyError: 'op')"),
        ("other-target", "an outcome for target 'js-promise' to a request for js-async"),
        ("wrong-id", "a reply with id 1003 to request 3"),
    ],
)
def test_a_protocol_violation_is_that_scenarios_error_at_once_and_the_worker_is_restarted(fault: str, problem: str) -> None:
    worker = misbehaving(timeout=10.0)
    worker.start()
    started = time.monotonic()
    try:
        outcomes = list(worker.run_many([(ir(name), "js-async") for name in ("one", fault, "two")]))
    finally:
        worker.close()

    assert [outcome.get("result") for outcome in outcomes] == [{"returns": "one"}, None, {"returns": "two"}]
    assert outcomes[1]["status"] == "error"
    assert outcomes[1]["message"] == f"the fake worker broke the protocol on scenario '{fault}': {problem}: killed and restarted"
    assert worker.restarts == 1
    assert time.monotonic() - started < 5  # at once: the 10 s timeout is never waited for


def test_replies_to_other_requests_do_not_make_every_request_wait_for_the_timeout() -> None:
    # The case: 24 requests answered with wrong ids took 73 s at --timeout 3.
    worker = misbehaving(timeout=3.0)
    worker.start()
    started = time.monotonic()
    try:
        outcomes = list(worker.run_many([(ir("wrong-id"), "js-async")] * 24 + [(ir("last"), "js-async")]))
    finally:
        worker.close()

    assert [outcome["status"] for outcome in outcomes] == ["error"] * 24 + ["settled"]
    assert worker.restarts == 24
    assert time.monotonic() - started < 10


def test_a_line_longer_than_the_bound_is_a_violation_not_a_memory_hog() -> None:
    worker = misbehaving()
    worker.max_line = 1_000_000  # the fixture's huge line is 3 MB
    worker.start()
    try:
        outcomes = list(worker.run_many([(ir(name), "js-async") for name in ("huge", "two")]))
    finally:
        worker.close()

    assert outcomes[0]["message"] == (
        "the fake worker broke the protocol on scenario 'huge': a line longer than 1000000 bytes: killed and restarted"
    )
    assert outcomes[1]["result"] == {"returns": "two"}


def test_a_worker_that_closes_its_output_but_lives_on_is_said_so_and_killed() -> None:
    worker = misbehaving()
    worker.start()
    pid = worker.pid
    started = time.monotonic()
    try:
        outcomes = list(worker.run_many([(ir(name), "js-async") for name in ("close-output", "two")]))
    finally:
        worker.close()

    assert outcomes[0]["message"] == (
        "the fake worker closed its output but was still running, on scenario 'close-output': killed and restarted"
    )
    assert outcomes[1]["result"] == {"returns": "two"}
    assert time.monotonic() - started < 5
    assert pid is not None and not alive(pid)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


# Seconds of work on Node (about 2 s), and no trace: the worker is busy with it when the test
# stops or kills it.
BUSY = load_text(
    """\
id: busy
summary: a long count
main:
  - set: n
    value: 0
  - repeat: 10000
    steps:
      - repeat: 10000
        steps:
          - repeat: 40
            steps:
              - set: n
                value: {calc: [$n, "+", 1]}
  - return: $n
""",
    "busy.yaml",
).scenario.ir


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_the_real_node_worker_killed_or_stopped_during_a_run(how: str) -> None:
    timeout = {"SIGKILL": 2.0, "SIGSTOP": 0.5}[how]  # SIGKILL: well after the kill; SIGSTOP: the wait
    node = NodeTestee(find_node(), timeout=timeout)
    node.start()
    pid = node.pid
    assert pid is not None
    jobs = [(BUSY, "js-async")] + [({**SEED.ir, "id": f"seed-{n}"}, "js-async") for n in range(5)]
    started = time.monotonic()
    try:
        replies = node.run_many(jobs)
        time.sleep(0.3)  # the worker is busy with the first
        os.kill(pid, getattr(signal, how))
        outcomes = list(replies)
    finally:
        node.close()

    message = {
        "SIGKILL": "the Node worker was killed by SIGKILL while running scenario 'busy': restarted",
        "SIGSTOP": "the Node worker gave no reply within 0.5 s on scenario 'busy': killed and restarted",
    }
    assert outcomes[0]["message"] == message[how]
    assert [outcome["result"] for outcome in outcomes[1:]] == [{"returns": "processed"}] * 5
    assert node.restarts == 1
    assert not alive(pid)
    assert time.monotonic() - started < 5


def test_a_worker_that_answers_hello_with_garbage_is_refused_in_one_line() -> None:
    worker = WorkerTestee([sys.executable, "-c", "print('Welcome!'); import time; time.sleep(30)"], "fake", timeout=10.0)
    started = time.monotonic()

    with pytest.raises(testees.TesteeError) as caught:
        worker.start()
    worker.close()

    assert str(caught.value) == (
        "the fake worker did not say hello: the fake worker broke the protocol on the hello request: "
        "a line that is not JSON: 'Welcome!\\n': killed and restarted"
    )
    assert time.monotonic() - started < 5


# -- the user's own code (issue 12): Python targets of a scenario with bindings run in a worker

BOUND = """\
id: {id}
summary: A function bound to the user's code.
bind:
  python: {stem}.py
  javascript: {stem}.mjs
  functions: [get_json]
operations:
  fetch_page: {{latency: 30, returns: "page"}}
functions:
  get_json:
    params: [url]
main:
  - await: get_json
    args: ["/orders"]
    as: body
  - return: $body
"""


def bound_ir(folder: Path, stem: str, source: str) -> dict:
    """The IR of a scenario whose get_json is ``source``'s, written to ``folder``."""
    (folder / f"{stem}.py").write_text(source)
    (folder / f"{stem}.mjs").write_text("export async function getJson(api, url) { return api.fetchPage(url); }\n")
    path = folder / f"{stem}.yaml"
    path.write_text(BOUND.format(id=stem.replace("_", "-"), stem=stem))
    result = load_file(path)
    assert result.scenario is not None, result.diagnostics
    return result.scenario.ir


@pytest.fixture(scope="module")
def bound_python():
    testee = PythonTestee()
    yield testee
    testee.close()


def test_user_code_runs_in_a_worker_and_gets_the_world_api(tmp_path: Path, bound_python: PythonTestee) -> None:
    source = (
        "import os\n\n\n"
        "async def get_json(api, url):\n"
        "    body = await api.fetch_page(url)\n"
        "    api.log(f'at {api.now()} in pid {os.getpid()}')\n"
        "    return body\n"
    )
    outcome = bound_python.run(bound_ir(tmp_path, "worker_api", source), "python")
    assert outcome["status"] == "settled", outcome
    assert outcome["result"] == {"returns": "page"}
    logged = outcome["trace"][2]["message"]
    assert logged.startswith("at 30 in pid ") and logged != f"at 30 in pid {os.getpid()}"
    assert "worker_api" not in sys.modules  # never imported in the runner


def test_a_module_that_fails_to_import_is_that_scenario_crash_with_its_frames(tmp_path: Path, bound_python: PythonTestee) -> None:
    outcome = bound_python.run(bound_ir(tmp_path, "imports_missing", "import no_such_module_12\n"), "python")
    assert outcome["status"] == "crash"
    assert outcome["message"] == (
        "crash: scenario 'imports-missing': imports_missing.py failed to load: "
        "ModuleNotFoundError: No module named 'no_such_module_12'\n"
        f'  File "{tmp_path / "imports_missing.py"}", line 1, in <module>\n'
        "    import no_such_module_12"
    )


def test_a_throw_at_load_time_shows_the_user_frames_only(tmp_path: Path, bound_python: PythonTestee) -> None:
    source = "def settings():\n    return {}['timeout']\n\n\nTIMEOUT = settings()\n"
    outcome = bound_python.run(bound_ir(tmp_path, "throws_at_load", source), "python")
    path = tmp_path / "throws_at_load.py"
    assert outcome["status"] == "crash"
    assert outcome["message"] == (
        "crash: scenario 'throws-at-load': throws_at_load.py failed to load: KeyError: 'timeout'\n"
        f'  File "{path}", line 5, in <module>\n'
        "    TIMEOUT = settings()\n"
        f'  File "{path}", line 2, in settings\n'
        "    return {}['timeout']"
    )


def test_a_syntax_error_shows_where_the_parser_stopped(tmp_path: Path, bound_python: PythonTestee) -> None:
    outcome = bound_python.run(bound_ir(tmp_path, "bad_syntax", "async def get_json(api, url)\n    pass\n"), "python")
    assert outcome["status"] == "crash"
    first, *frames = outcome["message"].split("\n")
    assert (
        first == "crash: scenario 'bad-syntax': bad_syntax.py failed to load: SyntaxError: expected ':' (bad_syntax.py, line 1)"
    )
    assert frames[:2] == [f'  File "{tmp_path / "bad_syntax.py"}", line 1', "    async def get_json(api, url)"]


def test_a_function_that_never_settles_is_a_deadlock(tmp_path: Path, bound_python: PythonTestee) -> None:
    source = "import asyncio\n\n\nasync def get_json(api, url):\n    await asyncio.get_running_loop().create_future()\n"
    outcome = bound_python.run(bound_ir(tmp_path, "never_settles", source), "python")
    assert outcome["status"] == "deadlock"
    assert outcome["message"].startswith("deadlock: scenario 'never-settles' ")


def test_reading_the_real_clock_is_reported_where_the_user_code_reads_it(tmp_path: Path, bound_python: PythonTestee) -> None:
    source = (
        "import logging\nimport time\n\n\n"
        "async def get_json(api, url):\n"
        "    logging.getLogger('client').warning('fetching')  # logging reads the clock: not reported\n"
        "    started = time.monotonic()\n"
        "    body = await api.fetch_page(url)\n"
        "    api.log(f'took {time.monotonic() - started:.0f} s')\n"
        "    return body\n"
    )
    outcome = bound_python.run(bound_ir(tmp_path, "real_clock", source), "python")
    assert outcome["status"] == "crash"
    assert (
        outcome["message"] == "crash: scenario 'real-clock': user code read the real clock: time.monotonic() at real_clock.py:7"
    )
    assert outcome["result"] is None


def test_a_spinning_function_is_killed_at_the_reply_bound_and_the_worker_goes_on(tmp_path: Path) -> None:
    spinning = bound_ir(tmp_path, "spins", "async def get_json(api, url):\n    while True:\n        pass\n")
    fine = bound_ir(tmp_path, "fine", "async def get_json(api, url):\n    return await api.fetch_page(url)\n")
    testee = PythonTestee(timeout=1.0)
    try:
        spun = testee.run(spinning, "python")
        after = testee.run(fine, "python")
    finally:
        testee.close()
    assert spun["status"] == "error"
    assert spun["message"] == (
        f"the Python {platform.python_version()} worker gave no reply within 1 s on scenario 'spins': killed and restarted"
    )
    assert after["status"] == "settled" and after["result"] == {"returns": "page"}


# Issue 12: scenarios bound to the user's own JavaScript, through the real Node worker.
# The IR is built by hand, as the loader writes it (contract: "bindings", "bound").


def bound_js_ir(path: Path, scenario_id: str = "bound") -> dict:
    """A scenario whose ``get_json`` is the user's function in ``path``, awaited by main."""
    call = {"callee": "get_json", "callee_kind": "function", "args": [{"literal": "/orders"}]}
    return {
        "ir": 1,
        "id": scenario_id,
        "summary": "user code",
        "source": "bound.yaml",
        "errors": [],
        "queues": [],
        "resources": [],
        "operations": [{"name": "http_get", "latency": 10, "outcomes": [{"returns": "ok"}]}],
        "functions": [{"name": "get_json", "params": ["url"], "body": [], "bound": True}],
        "bindings": {"python": str(path.with_suffix(".py")), "javascript": str(path), "functions": ["get_json"]},
        "main": [
            {"step": "await", "line": 3, "call": call, "bind": "body"},
            {"step": "return", "line": 4, "value": {"ref": "body"}},
        ],
    }


CLIENT_JS = "export async function getJson(api, url) {\n  return api.httpGet(url);\n}\n"


def test_user_code_that_spins_is_killed_at_the_reply_bound_and_the_run_goes_on(tmp_path: Path) -> None:
    spin = tmp_path / "spin.mjs"
    spin.write_text("export function getJson(api, url) {\n  for (;;) {}\n}\n", encoding="utf-8")
    at_load = tmp_path / "spin-at-load.mjs"
    at_load.write_text("while (true) {}\nexport const getJson = () => 1;\n", encoding="utf-8")
    good = tmp_path / "client.mjs"
    good.write_text(CLIENT_JS, encoding="utf-8")
    node = NodeTestee(find_node(), timeout=1.0)
    node.start()
    try:
        jobs = [
            (bound_js_ir(spin, "spins"), "js-async"),
            (bound_js_ir(at_load, "spins-at-load"), "js-promise"),
            (bound_js_ir(good), "js-async"),
        ]
        outcomes = list(node.run_many(jobs))
    finally:
        node.close()

    assert [outcome["message"] for outcome in outcomes[:2]] == [
        "the Node worker gave no reply within 1 s on scenario 'spins': killed and restarted",
        "the Node worker gave no reply within 1 s on scenario 'spins-at-load': killed and restarted",
    ]
    assert [outcome["status"] for outcome in outcomes] == ["error", "error", "settled"]
    assert outcomes[2]["result"] == {"returns": "ok"}
    assert node.restarts == 2


def node_for(major: str) -> str:
    """The kit's Node of that major version (fetched into its cache if need be), or the test skips."""
    from asyncparity.provision import ProvisionError, install

    try:
        node, _source = install(major, dict(os.environ), lambda line: None)
    except ProvisionError as error:
        pytest.skip(f"no Node {major}: {error}")
    return node.path


TYPED_CLIENT = "export async function getJson(api: { httpGet(url: string): Promise<string> }, url: string): Promise<string> {\n  return api.httpGet(url);\n}\n"


@pytest.mark.parametrize(
    ("major", "flags"),
    [
        ("22", []),  # 22.18+ strips types by default
        ("22", ["--no-experimental-strip-types"]),  # as a 22.6 to 22.17: the run thread gets --experimental-strip-types
        ("24", []),
    ],
)
def test_a_typescript_file_runs_where_node_strips_types(tmp_path: Path, major: str, flags: list[str]) -> None:
    client = tmp_path / "client.ts"
    client.write_text(TYPED_CLIENT, encoding="utf-8")
    # The runner's own V8 flags too: the run thread started for the types must not be given them.
    worker = WorkerTestee([node_for(major), *testees.NODE_FLAGS, *flags, str(testees.WORKER)], "Node", timeout=20.0)
    worker.start()
    try:
        outcomes = list(worker.run_many([(bound_js_ir(client), "js-async"), (bound_js_ir(client), "js-promise")]))
    finally:
        worker.close()

    assert [(outcome["status"], outcome["result"]) for outcome in outcomes] == [("settled", {"returns": "ok"})] * 2


def test_a_typescript_file_on_a_node_before_22_6_is_skipped_saying_so(tmp_path: Path) -> None:
    node = find_node()
    if node.major >= 22:
        pytest.skip(f"the Node on PATH is {node.version}; this needs one before 22.6")
    client = tmp_path / "client.ts"
    client.write_text(TYPED_CLIENT, encoding="utf-8")
    with NodeTestee(node) as worker:
        (outcome,) = worker.run_many([(bound_js_ir(client), "js-async")])

    assert outcome["status"] == "skipped"
    assert outcome["message"] == f"needs Node 22.6 or later to run TypeScript (client.ts); this is Node {node.version}"


def logging_node(tmp_path: Path) -> Path:
    """The real Node behind a script that writes down each command line it is given."""
    path = tmp_path / "node"
    path.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\nexec {shutil.which("node")} "$@"\n')
    path.chmod(0o755)
    return path


def test_a_located_node_gets_its_version_from_the_hello_not_from_another_process(tmp_path: Path) -> None:
    with NodeTestee(locate_node(str(logging_node(tmp_path)))) as node:
        outcome = node.run(SEED.ir, "js-async")

    assert outcome["result"] == {"returns": "processed"}
    assert node.node.version == node.hello["runtime"]["version"] == find_node().version
    assert (tmp_path / "calls").read_text().splitlines() == [" ".join([*testees.NODE_FLAGS, str(testees.WORKER)])]


def test_a_located_node_too_old_is_refused_at_its_hello_in_the_words_of_find_node(tmp_path: Path) -> None:
    worker = tmp_path / "old.mjs"
    worker.write_text(
        'process.stdin.once("data", (line) => process.stdout.write(JSON.stringify({id: JSON.parse(line).id, '
        'type: "hello", protocol: 1, runtime: {name: "node", version: "18.19.0"}, targets: [], features: {}}) + "\\n"));\n'
    )
    located = locate_node(shutil.which("node"), environ={})
    testee = NodeTestee(located, worker=worker)

    with pytest.raises(NodeNotFound) as caught:
        testee.start()

    assert str(caught.value) == (
        f"asyncparity: {located.path} (--node {located.path}) is Node 18.19.0; the JavaScript targets need Node 20 or later: "
        "install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"
    )
    assert testee.pid is None  # the worker it started is killed, not left running


def test_a_located_program_that_is_no_node_is_told_as_find_node_tells_it(tmp_path: Path) -> None:
    path = tmp_path / "node"
    path.write_text("#!/bin/sh\necho hello\n")
    path.chmod(0o755)

    with pytest.raises(NodeNotFound) as caught, NodeTestee(locate_node(str(path), environ={}), timeout=5.0):
        pass

    assert str(caught.value) == (
        f"asyncparity: {path} (--node {path}) is not Node: --version printed 'hello': "
        "install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"
    )


def test_a_worker_that_fails_with_several_calls_outstanding_gets_every_later_request_again() -> None:
    # Issue 13: the suite keeps a few batches at a worker at once. A failure in the first
    # batch restarts the worker, and the requests of every batch still unanswered are
    # sent to the new one, in order.
    worker = misbehaving(timeout=10.0)
    worker.start()
    try:
        first = worker.run_many([(ir(name), "js-async") for name in ("one", "garbage", "two")])
        second = worker.run_many([(ir(name), "js-async") for name in ("three", "four")])
        outcomes = [*first, *second]
    finally:
        worker.close()

    assert [outcome.get("result") for outcome in outcomes] == [
        {"returns": "one"},
        None,
        {"returns": "two"},
        {"returns": "three"},
        {"returns": "four"},
    ]
    assert worker.restarts == 1


def test_replies_are_taken_in_the_order_their_requests_were_sent() -> None:
    worker = misbehaving(timeout=10.0)
    worker.start()
    try:
        first = worker.run_many([(ir("one"), "js-async")])
        second = worker.run_many([(ir("two"), "js-async")])
        with pytest.raises(RuntimeError, match=r"^replies are taken in the order their requests were sent$"):
            next(second)  # a programming error of the runner's, before any reply is taken
        assert next(first)["result"] == {"returns": "one"}
    finally:
        worker.close()


def test_a_stream_of_runs_keeps_at_most_its_window_at_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 13: the matrix sends a runtime its runs as the outcomes come, not all at once.
    worker = misbehaving(timeout=10.0)
    worker.start()
    most = [0]
    submit = worker._submit

    def counting(requests: list[dict]) -> list:
        sent = submit(requests)
        most[0] = max(most[0], len(worker._outstanding))
        return sent

    monkeypatch.setattr(worker, "_submit", counting)
    try:
        outcomes = list(worker.run_stream(((ir(f"s{index}"), "js-async") for index in range(10)), window=4))
    finally:
        worker.close()

    assert [outcome["result"] for outcome in outcomes] == [{"returns": f"s{index}"} for index in range(10)]
    assert most[0] == 4


def test_an_outcome_may_carry_the_text_the_users_code_printed_and_nothing_else_there() -> None:
    from asyncparity.testees import outcome_problem

    def settled(**extra: object) -> dict:
        return {"target": "js-async", "status": "settled", "result": {"returns": 1}, "trace": [], "message": None, **extra}

    assert outcome_problem(settled(output="fetching /orders\n"), "js-async") is None
    assert outcome_problem(settled(), "js-async") is None
    assert outcome_problem(settled(output=["fetching"]), "js-async") == "an outcome whose output is not text"
