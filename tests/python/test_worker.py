"""The Python testee behind the JSON-lines protocol (python/asyncparity_python/worker.py).

The real worker is spawned (``python -m asyncparity_python.worker``, python/ on the
path) and fed pipelined requests; every reply is checked. ``handle`` is also called
in-process for the cases that need no process.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncparity_python import worker

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SEED = json.loads((FIXTURES / "seed-download-fallback.json").read_text(encoding="utf-8"))


def other_pythons() -> list[str]:
    """python3.10 and python3.13 binaries that actually run (pyenv shims may not)."""
    found = []
    for version in ("3.10", "3.13"):
        candidates = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
        candidates.append(shutil.which(f"python{version}"))
        for path in filter(None, candidates):
            if subprocess.run([path, "-c", "pass"], capture_output=True, timeout=30).returncode == 0:
                found.append(path)
                break
    return found


def converse(lines: list[str], python: str = sys.executable) -> tuple[list[dict], subprocess.CompletedProcess]:
    """Send every line at once (pipelining), read every reply, wait for the exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    result = subprocess.run([python, "-m", "asyncparity_python.worker"], input="".join(line + "\n" for line in lines).encode(),
                            capture_output=True, env=env, timeout=60)
    return [json.loads(line) for line in result.stdout.decode("ascii").splitlines()], result


def request(**fields) -> str:
    return json.dumps(fields)


def test_hello_compile_run_errors_and_shutdown_in_order():
    replies, result = converse([
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
    ])
    assert result.returncode == 0
    assert result.stderr == b""
    assert replies[0] == {"id": 1, "type": "hello", "protocol": 1,
                          "runtime": {"name": "cpython", "version": platform.python_version()},
                          "targets": ["python"]}
    assert replies[1]["id"] == 2 and replies[1]["type"] == "compiled"
    assert replies[1]["source"].startswith('"""seed-download-fallback: The download fails')
    assert replies[2]["id"] == 3 and replies[2]["type"] == "outcome"
    outcome = replies[2]["outcome"]
    assert (outcome["target"], outcome["status"], outcome["result"]) == ("python", "settled", {"returns": "processed"})
    assert len(outcome["trace"]) == 8
    assert replies[3:] == [
        {"id": 4, "type": "error", "message": "unknown request type 'dance'"},
        {"id": 5, "type": "error", "message": "unknown target 'js-async'; this testee serves: python"},
        {"id": 6, "type": "error",
         "message": "scenario 'future': this compiler reads scenario IR version 1, not 2"},
        {"id": None, "type": "error", "message": "not a JSON line: Expecting value: line 1 column 1 (char 0)"},
        {"id": None, "type": "error", "message": "a request needs an integer id, not None"},
        {"id": 7, "type": "error", "message": "scenario 'broken': malformed scenario IR: KeyError: 'message'"},
        {"id": 8, "type": "bye"},
    ]


def test_end_of_input_ends_the_worker_cleanly():
    replies, result = converse([request(id=1, type="hello")])
    assert [reply["type"] for reply in replies] == ["hello"]
    assert result.returncode == 0


@pytest.mark.parametrize("python", other_pythons() or [None])
def test_the_worker_serves_under_other_cpythons(python):
    if python is None:
        pytest.skip("no python3.10 or python3.13 found")
    replies, result = converse([request(id=1, type="hello"), request(id=2, type="run", target="python", scenario=SEED),
                                request(id=3, type="shutdown")], python=python)
    assert result.returncode == 0, result.stderr
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
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
        {"id": 3, "type": "error", "message": "the request has no scenario IR object"}, False)
