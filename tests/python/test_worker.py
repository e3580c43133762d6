"""The Python testee behind the JSON-lines protocol (python/asyncparity_python/worker.py).

The real worker is spawned (``python -m asyncparity_python.worker``, python/ on the
path) and fed pipelined requests; every reply is checked. ``handle`` is also called
in-process for the cases that need no process.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from asyncparity_python import target, worker
from helpers import ROOT, find_cpython, find_cpythons, load

SEED = load("seed-download-fallback")


def converse(lines: list[str], python: str = sys.executable) -> tuple[list[dict], subprocess.CompletedProcess]:
    """Send every line at once (pipelining), read every reply, wait for the exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    result = subprocess.run(
        [python, "-m", "asyncparity_python.worker"],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        env=env,
        timeout=60,
    )
    return [json.loads(line) for line in result.stdout.decode("ascii").splitlines()], result


def request(**fields) -> str:
    return json.dumps(fields)


def test_hello_compile_run_errors_and_shutdown_in_order():
    replies, result = converse(
        [
            request(id=1, type="hello"),
            request(id=2, type="compile", target="python", scenario=SEED),
            request(id=3, type="run", target="python", scenario=SEED),
            request(id=4, type="dance"),
            request(id=5, type="run", target="js-async", scenario=SEED),
            request(id=6, type="run", target="python", scenario={"ir": 2, "id": "future"}),
            "this is not JSON",
            request(type="hello"),
            request(id=7, type="compile", target="python", scenario={"ir": 1, "id": "broken", "main": [{"step": "log"}]}),
            request(id=8, type="shutdown"),
            request(id=9, type="hello"),  # never read: the worker has gone
        ]
    )
    assert result.returncode == 0
    assert result.stderr == b""
    assert replies[0] == {
        "id": 1,
        "type": "hello",
        "protocol": 2,
        "runtime": {"name": "cpython", "version": platform.python_version()},
        "targets": ["python", "python-eager"],
        "features": {
            "except_star": sys.version_info >= (3, 11),
            "task_group": sys.version_info >= (3, 11),
            "asyncio_timeout": sys.version_info >= (3, 11),
            "eager_task_factory": sys.version_info >= (3, 12),
        },
    }
    assert replies[1]["id"] == 2 and replies[1]["type"] == "compiled"
    assert replies[1]["source"].startswith('"""seed-download-fallback: The download fails')
    assert replies[2]["id"] == 3 and replies[2]["type"] == "outcome"
    outcome = replies[2]["outcome"]
    assert (outcome["target"], outcome["status"], outcome["result"]) == ("python", "settled", {"returns": "processed"})
    assert len(outcome["trace"]) == 8
    assert replies[3:] == [
        {"id": 4, "type": "error", "message": "unknown request type 'dance'"},
        {"id": 5, "type": "error", "message": "unknown target 'js-async'; this testee serves: python, python-eager"},
        {"id": 6, "type": "error", "message": "scenario 'future': this compiler reads scenario IR version 1, not 2"},
        {"id": None, "type": "error", "message": "not a JSON line: Expecting value: line 1 column 1 (char 0)"},
        {"id": None, "type": "error", "message": "a request needs an integer id, not None"},
        {
            "id": 7,
            "type": "error",
            "message": "scenario 'broken': main: line None: a log step needs its 'message' (an expression (EXPR))",
        },
        {"id": 8, "type": "bye"},
    ]


def test_end_of_input_ends_the_worker_cleanly():
    replies, result = converse([request(id=1, type="hello")])
    assert [reply["type"] for reply in replies] == ["hello"]
    assert result.returncode == 0


@pytest.mark.parametrize("python", find_cpythons("3.10", "3.13") or [None])
def test_the_worker_serves_under_other_cpythons(python):
    if python is None:
        pytest.skip("no python3.10 or python3.13 found")
    replies, result = converse(
        [request(id=1, type="hello"), request(id=2, type="run", target="python", scenario=SEED), request(id=3, type="shutdown")],
        python=python,
    )
    assert result.returncode == 0, result.stderr
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    assert replies[0]["runtime"] == {"name": "cpython", "version": version}
    assert replies[1]["outcome"]["result"] == {"returns": "processed"}
    assert replies[2] == {"id": 3, "type": "bye"}


def test_replies_are_ascii_lines_even_for_non_ascii_text():
    ir = json.loads(json.dumps(SEED))
    ir["operations"][2]["outcomes"] = [{"returns": "é \u2028 😀"}]
    replies, result = converse([request(id=1, type="run", target="python", scenario=ir)])
    assert result.stdout.isascii()
    assert replies[0]["outcome"]["result"] == {"returns": "é \u2028 😀"}


def test_handle_in_process():
    assert worker.handle(b'{"id": 1, "type": "shutdown"}') == ({"id": 1, "type": "bye"}, True)
    assert worker.handle(b"[1]") == ({"id": None, "type": "error", "message": "a request is a JSON object"}, False)
    reply, stop = worker.handle(b"\xff\xfe")
    assert (reply["id"], reply["type"], stop) == (None, "error", False)
    assert worker.handle(json.dumps({"id": 3, "type": "run", "target": "python"})) == (
        {"id": 3, "type": "error", "message": "the request has no scenario IR object"},
        False,
    )


def test_one_run_request_for_several_targets_answers_each_outcome_in_their_order():
    single, _ = converse([request(id=n, type="run", target=t, scenario=SEED) for n, t in ((1, "python-eager"), (2, "python"))])
    replies, result = converse(
        [
            request(id=1, type="run", targets=["python-eager", "python"], scenario=SEED, validated=True),
            request(id=2, type="run", targets=["python"], scenario=SEED, bodies={"python": "x"}, return_bodies=True),
        ]
    )
    assert result.returncode == 0 and result.stderr == b""
    # Each outcome is what a run request of that target alone gives; bodies are the Node
    # worker's, and this testee ignores the fields (spec/PROTOCOL.md).
    assert replies == [
        {"id": 1, "type": "outcomes", "outcomes": [single[0]["outcome"], single[1]["outcome"]]},
        {"id": 2, "type": "outcomes", "outcomes": [single[1]["outcome"]]},
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"targets": []}, "targets must be a non-empty list of distinct targets, not []"),
        ({"targets": "python"}, 'targets must be a non-empty list of distinct targets, not "python"'),
        ({"targets": ["python", "python"]}, 'targets must be a non-empty list of distinct targets, not ["python","python"]'),
        ({"targets": ["python", "js-async"]}, "unknown target 'js-async'; this testee serves: python, python-eager"),
        ({"targets": ["python"], "target": "python"}, "a run request has target or targets, not both"),
        (
            {"targets": ["python"], "scenario": {"ir": 2, "id": "future"}},
            "scenario 'future': this compiler reads scenario IR version 1, not 2",
        ),
    ],
)
def test_a_run_request_for_several_targets_that_cannot_be_served_is_one_error(fields: dict, message: str) -> None:
    line = json.dumps({"id": 4, "type": "run", "scenario": SEED, **fields})
    assert worker.handle(line) == ({"id": 4, "type": "error", "message": message}, False)


def test_a_target_that_fails_in_a_request_for_several_is_its_error_outcome_and_the_others_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = target.run

    def run(ir: dict, target_id: str, **options: object) -> dict:
        if target_id == "python-eager":
            raise ValueError("cannot compile this")
        return ran(ir, target_id, **options)

    alone = worker.handle(request(id=1, type="run", target="python", scenario=SEED))[0]["outcome"]
    monkeypatch.setattr(target, "run", run)
    failure = "scenario 'seed-download-fallback': cannot compile this"
    # The same message a request for that target alone gets as its error reply.
    assert worker.handle(request(id=2, type="run", target="python-eager", scenario=SEED)) == (
        {"id": 2, "type": "error", "message": failure},
        False,
    )
    assert worker.handle(request(id=3, type="run", targets=["python-eager", "python"], scenario=SEED)) == (
        {
            "id": 3,
            "type": "outcomes",
            "outcomes": [
                {"target": "python-eager", "status": "error", "result": None, "trace": [], "message": failure},
                alone,
            ],
        },
        False,
    )


def test_validated_ir_is_not_checked_again():
    ir = json.loads(json.dumps(SEED))
    ir["main"][0]["times"] = 3  # what the check refuses, and the program never reads
    refused, _ = worker.handle(json.dumps({"id": 1, "type": "run", "target": "python", "scenario": ir}))
    assert refused["message"] == "scenario 'seed-download-fallback': main: line 37: an await step has no field 'times'"
    for kind in ("run", "compile"):
        reply, _ = worker.handle(json.dumps({"id": 2, "type": kind, "target": "python", "scenario": ir, "validated": True}))
        assert reply["type"] == {"run": "outcome", "compile": "compiled"}[kind]


# -- python-eager and version-dependent programs, under each CPython ------------------------


def version_of(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, timeout=30
    ).stdout.strip()


def run_all(python: str, requests: list[tuple[str, dict]]) -> list[dict]:
    """Run each (target, IR) in one worker under ``python``; the outcomes in order."""
    lines = [request(id=i, type="run", target=target_id, scenario=ir) for i, (target_id, ir) in enumerate(requests)]
    replies, result = converse(lines, python=python)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert [reply["id"] for reply in replies] == list(range(len(requests)))
    return [reply["outcome"] for reply in replies]


def trace_text(outcome: dict) -> str:
    from asyncparity_runtime import format_trace

    return format_trace(outcome["trace"])


LAZY_START = '0 log "started"\n0 start download("u")\n30 end download -> "data"\n30 return "data"\n'
EAGER_START = '0 start download("u")\n0 log "started"\n30 end download -> "data"\n30 return "data"\n'


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_python_eager_starts_the_operation_before_the_next_line(version):
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no python{version} found")
    ir = load("start-log-await")
    replies, result = converse(
        [request(id=1, type="hello"), request(id=2, type="compile", target="python-eager", scenario=ir)], python=python
    )
    assert result.returncode == 0, result.stderr
    assert replies[0]["targets"] == ["python", "python-eager"]
    assert "    eager_tasks=True,\n" in replies[1]["source"]
    lazy, eager = run_all(python, [("python", ir), ("python-eager", ir)])
    assert (lazy["target"], lazy["status"], trace_text(lazy)) == ("python", "settled", LAZY_START)
    assert (eager["target"], eager["status"], trace_text(eager)) == ("python-eager", "settled", EAGER_START)


def test_python_eager_gives_the_javascript_trace_of_the_eager_start_divergence():
    # spec/divergences/eager-start.yaml declares python's lazy start; python-eager has none.
    python = find_cpython("3.12")
    if python is None:
        pytest.skip("no python3.12 found")
    from asyncparity.load import load_file

    scenario = load_file(ROOT / "spec" / "divergences" / "eager-start.yaml").scenario
    (divergence,) = scenario.diverge
    assert divergence.targets == ("python",)
    lazy, eager = run_all(python, [("python", scenario.ir), ("python-eager", scenario.ir)])
    assert trace_text(lazy).splitlines() == list(divergence.trace)
    assert trace_text(eager).splitlines() == list(scenario.expect.trace)
    assert eager["result"] == scenario.expect.result


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="skipped only before 3.12")
def test_python_eager_is_skipped_by_the_worker_before_3_12():
    (outcome,) = run_all(sys.executable, [("python-eager", load("start-log-await"))])
    assert outcome == {
        "target": "python-eager",
        "status": "skipped",
        "result": None,
        "trace": [],
        "message": "python-eager needs CPython 3.12 or later (asyncio.eager_task_factory); "
        f"this is CPython {platform.python_version()}",
    }


def test_programs_needing_3_11_are_skipped_under_3_10_and_the_rest_run():
    python = find_cpython("3.10")
    if python is None:
        pytest.skip("no python3.10 found")
    version = version_of(python)
    outcomes = run_all(
        python,
        [
            ("python", load("group-success")),
            ("python-eager", load("timeout-expires")),
            ("python", load("any-all-fail")),
            ("python", load("timeout-expires")),
            ("python", load("any-first-success")),
            ("python", load("backoff-calc")),
            ("python", load("all-settled-one-fails")),
        ],
    )
    assert [(outcome["target"], outcome["status"], outcome["message"]) for outcome in outcomes[:3]] == [
        ("python", "skipped", f"python needs CPython 3.11 or later (asyncio.TaskGroup); this is CPython {version}"),
        (
            "python-eager",
            "skipped",
            f"python-eager needs CPython 3.12 or later (asyncio.eager_task_factory); this is CPython {version}",
        ),
        # An any needs ExceptionGroup only where every call fails: the run goes that far.
        (
            "python",
            "skipped",
            f"python needs CPython 3.11 or later (ExceptionGroup, reached in this run); this is CPython {version}",
        ),
    ]
    assert all(outcome["result"] is None for outcome in outcomes[:3])
    assert [outcome["trace"] for outcome in outcomes[:2]] == [[], []]
    # A timeout is asyncio.wait_for there; an any whose call succeeds needs no group.
    timeout, first_success = outcomes[3:5]
    assert timeout["result"] == target.run(load("timeout-expires"))["result"]
    assert first_success["result"] == {"returns": "medium"}
    backoff, settled = outcomes[5:]
    assert backoff["result"] == {"returns": "ok"}
    assert [event["t"] for event in backoff["trace"] if event["event"] == "start"] == [0, 110, 320, 730]
    assert settled["result"]["returns"][1] == {"status": "rejected", "reason": {"kind": "IOError", "message": "boom"}}
    assert "unhandled" not in [event["event"] for event in settled["trace"]]


NEW_FIXTURES = [
    "all-settled-one-fails",
    "any-first-success",
    "any-all-fail",
    "timeout-expires",
    "timeout-uncaught",
    "timeout-not-reached",
    "group-success",
    "group-failure",
    "backoff-calc",
]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the reference run needs 3.11")
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_new_constructs_give_the_same_outcome_under_newer_cpythons(version):
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no python{version} found")
    from asyncparity_python import target

    irs = [load(name) for name in NEW_FIXTURES]
    for name, ir, there in zip(NEW_FIXTURES, irs, run_all(python, [("python", ir) for ir in irs]), strict=True):
        here = target.run(ir)
        assert (there["status"], there["result"], there["trace"]) == (here["status"], here["result"], here["trace"]), name
    # With eager tasks the same programs give the same traces too: each of these starts
    # its calls in one step (gather, create_task lists, a TaskGroup) and awaits at once.
    for name, ir, there in zip(NEW_FIXTURES, irs, run_all(python, [("python-eager", ir) for ir in irs]), strict=True):
        assert (there["status"], there["trace"]) == ("settled", target.run(ir)["trace"]), name
