"""Testees: drive the targets, IR in, outcomes (and program text) out.

Two testees stand behind the protocol of spec/PROTOCOL.md:

- :class:`PythonTestee` calls the Python target in-process (``asyncparity_python``),
  the fast default: no process start, no serialisation.
- :class:`NodeTestee` keeps one ``node javascript/worker.mjs`` alive for a whole run and
  speaks JSON lines with it; :class:`PythonWorkerTestee` does the same with
  ``python -m asyncparity_python.worker`` under another CPython (``--python``). Requests are pipelined: all of them are written at once by
  a writer thread while the caller does other work (the Python target), and replies are
  read in order. Every reply has a wall-clock bound; a worker that overruns it or exits
  is killed and restarted, the scenario it was running gets an ``error`` outcome that
  says so, and the remaining requests go to the new worker. Prior art: protobuf's
  conformance ``fork_pipe_runner`` (one long-lived testee, restarted after a crash).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from .kit import JAVASCRIPT_DIR, PYTHON_DIR
from .model import JS_TARGETS, PYTHON_TARGETS
from .node import NodeBinary
from .pythons import PythonBinary

WORKER = JAVASCRIPT_DIR / "worker.mjs"
DEFAULT_TIMEOUT = 10.0
"""Seconds a testee may take for one reply before it is killed and restarted."""


def unmet_requirement(ir: dict, hello: dict) -> str | None:
    """Why a testee cannot run a scenario (its ``requires`` against the testee's hello), or None.

    ``hello`` is the testee's hello reply: its ``runtime`` (name and version) and the
    ``features`` it detected. A scenario whose requirement is unmet is skipped, not failed.
    """
    requires = ir.get("requires") or {}
    runtime = hello.get("runtime", {})
    name, version = runtime.get("name", "?"), runtime.get("version", "0")
    shown = {"cpython": "CPython", "node": "Node"}.get(name, name)
    key = "python" if name == "cpython" else name
    if key in requires:
        wanted = tuple(int(part) for part in requires[key].split("."))
        have = tuple(int(part) for part in version.split(".")[: len(wanted)])
        if have < wanted:
            return f"scenario '{ir.get('id')}' requires {shown} {requires[key]} or later; this is {shown} {version}"
    missing = [
        feature
        for feature in requires.get("features", [])
        if feature in hello.get("features", {}) and not hello["features"][feature]
    ]
    if missing:
        return f"scenario '{ir.get('id')}' requires {', '.join(missing)}, which {shown} {version} lacks"
    return None


def skipped(ir: dict, target: str, reason: str) -> dict:
    """The outcome of a target that did not run a scenario, and why."""
    return {"target": target, "status": "skipped", "result": None, "trace": [], "message": reason}


class TesteeError(Exception):
    """A testee could not serve a request at all (not a scenario's failure)."""


class PythonTestee:
    """The ``python`` and ``python-eager`` targets, in this process."""

    targets = PYTHON_TARGETS

    def __init__(self) -> None:
        # Imported here so that `asyncparity check`-style uses of the runner never load it.
        from asyncparity_python import target

        self._target = target

    def hello(self) -> dict:
        """What this testee's hello would say (the worker's own answer, in-process)."""
        from asyncparity_python import worker

        return worker.hello()

    def compile(self, ir: dict, target: str = "python") -> str:
        """The program text for one scenario."""
        return self._target.compile(ir, target)

    def run(self, ir: dict, target: str = "python") -> dict:
        """Run one scenario; a target crash becomes an ``error`` outcome, never an exception."""
        reason = unmet_requirement(ir, self.hello())
        if reason:
            return skipped(ir, target, reason)
        try:
            return self._target.run(ir, target)
        except Exception as error:  # noqa: BLE001 - a testee bug must not stop the suite
            return {
                "target": target,
                "status": "error",
                "result": None,
                "trace": [],
                "message": f"the {target} target failed on scenario '{ir.get('id')}': {type(error).__name__}: {error}",
            }


_Worker = TypeVar("_Worker", bound="WorkerTestee")  # `with NodeTestee(...) as worker` gives a NodeTestee


class WorkerTestee:
    """A long-lived testee process speaking the JSON-lines protocol (spec/PROTOCOL.md).

    ``command`` starts it; ``name`` says which in messages ("the Node worker ...").
    """

    targets: tuple[str, ...] = ()

    def __init__(
        self, command: list[str], name: str, timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.name = name
        self.env = env
        self.timeout = timeout
        self.restarts = 0
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._next_id = 0
        self.hello: dict | None = None

    # -- process lifecycle --------------------------------------------------------------

    def start(self) -> dict:
        """Start the worker and exchange hello; returns the hello reply."""
        self._spawn()
        (reply,) = list(self._exchange([{"type": "hello"}]))
        if reply.get("type") != "hello":
            raise TesteeError(f"the {self.name} worker did not say hello: {reply.get('message', reply)}")
        self.hello = reply
        return reply

    def _spawn(self) -> None:
        self._replies = queue.Queue()
        self._process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        process, replies = self._process, self._replies

        def read_stdout() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                replies.put(line)
            replies.put(None)  # end of output: the worker exited

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self._stderr.append(line.rstrip("\n"))

        threading.Thread(target=read_stdout, daemon=True, name="asyncparity-node-stdout").start()
        threading.Thread(target=read_stderr, daemon=True, name="asyncparity-node-stderr").start()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL: nothing more to do
            process.wait(timeout=self.timeout)
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the worker to shut down (bounded), then make sure it is gone."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                list(self._exchange([{"type": "shutdown"}], restart=False))
                process.wait(timeout=self.timeout)
            except (TesteeError, OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self: _Worker) -> _Worker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------

    def compile(self, ir: dict, target: str) -> str:
        """The program text for one scenario and target."""
        return self.compile_many([(ir, target)])[0]

    def compile_many(self, jobs: list[tuple[dict, str]]) -> list[str]:
        """Program texts for several scenarios, pipelined like :meth:`run_many`."""
        replies = list(self._exchange([{"type": "compile", "target": target, "scenario": ir} for ir, target in jobs]))
        for (ir, _), reply in zip(jobs, replies, strict=True):
            if reply.get("type") != "compiled":
                raise TesteeError(reply.get("message", f"the {self.name} worker could not compile scenario '{ir.get('id')}'"))
        return [reply["source"] for reply in replies]

    def run(self, ir: dict, target: str) -> dict:
        """Run one scenario on one target."""
        return next(self.run_many([(ir, target)]))

    def run_many(self, jobs: list[tuple[dict, str]]) -> Iterator[dict]:
        """Send every run request now; the returned iterator yields outcomes in job order.

        A scenario whose ``requires`` this runtime does not meet is not sent: its outcome
        is ``skipped`` with the reason.
        """
        reasons = [unmet_requirement(ir, self.hello or {}) for ir, _ in jobs]
        runnable = [job for job, reason in zip(jobs, reasons, strict=True) if reason is None]
        replies = self._exchange([{"type": "run", "target": target, "scenario": ir} for ir, target in runnable])

        def outcomes() -> Iterator[dict]:
            for (ir, target), reason in zip(jobs, reasons, strict=True):
                if reason is not None:
                    yield skipped(ir, target, reason)
                    continue
                reply = next(replies)
                if reply.get("type") == "outcome":
                    yield reply["outcome"]
                else:
                    yield {
                        "target": target,
                        "status": "error",
                        "result": None,
                        "trace": [],
                        "message": reply.get("message") or f"the {self.name} worker sent {reply!r}",
                    }

        return outcomes()

    def _exchange(self, requests: list[dict], restart: bool = True) -> Iterator[dict]:
        """Write all requests at once (a writer thread), then yield replies in order.

        The writing starts before this returns, so the worker is busy while the caller
        does other work. A missing reply (timeout or exit) becomes an ``error`` reply
        for that request; with ``restart``, the worker is restarted and sent the rest.
        """
        if self._process is None or self._process.poll() is not None:
            self._spawn()
        for request in requests:
            self._next_id += 1
            request["id"] = self._next_id
        self._send(requests)

        def replies() -> Iterator[dict]:
            waiting = list(requests)
            while waiting:
                request = waiting[0]
                try:
                    line = self._replies.get(timeout=self.timeout)
                except queue.Empty:
                    line = ""
                if line:
                    try:
                        reply = json.loads(line)
                    except json.JSONDecodeError:
                        reply = {
                            "type": "error",
                            "message": f"the {self.name} worker wrote a line that is not JSON: {line[:200]!r}",
                        }
                    if reply.get("id") not in (request["id"], None):
                        continue  # a stale reply from before a restart
                    waiting.pop(0)
                    yield reply
                    continue
                yield {"type": "error", "message": self._failure_message(request, timed_out=line == "")}
                waiting.pop(0)
                self._kill()
                if not restart or not waiting:
                    return
                self.restarts += 1
                self._spawn()
                self._send(waiting)

        return replies()

    def _send(self, requests: list[dict]) -> None:
        process = self._process
        assert process is not None
        stdin = process.stdin
        assert stdin is not None  # started with stdin=PIPE
        payload = "".join(json.dumps(request) + "\n" for request in requests)  # ASCII: safe in any pipe encoding

        def write() -> None:
            try:
                stdin.write(payload)
                stdin.flush()
            except (OSError, ValueError):
                pass  # the worker died; the reader sees its exit and reports it

        threading.Thread(target=write, daemon=True, name="asyncparity-node-stdin").start()

    def _failure_message(self, request: dict, timed_out: bool) -> str:
        what = (
            f"scenario '{request.get('scenario', {}).get('id')}'" if "scenario" in request else f"the {request['type']} request"
        )
        if timed_out:
            return f"the {self.name} worker gave no reply within {self.timeout:g} s on {what}: killed and restarted"
        process = self._process
        code = process.poll() if process is not None else None
        if process is not None and code is None:
            try:
                code = process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
        tail = " | ".join(list(self._stderr)[-3:])
        detail = f"; stderr: {tail}" if tail else ""
        return f"the {self.name} worker exited (code {code}) while running {what}: restarted{detail}"


class NodeTestee(WorkerTestee):
    """One long-lived Node worker for the ``js-promise`` and ``js-async`` targets."""

    targets = JS_TARGETS

    def __init__(self, node: NodeBinary, timeout: float = DEFAULT_TIMEOUT, worker: Path = WORKER) -> None:
        super().__init__([node.path, str(worker)], "Node", timeout)
        self.node = node


class PythonWorkerTestee(WorkerTestee):
    """The ``python`` and ``python-eager`` targets under another CPython, as a subprocess.

    The Python target is standard library only, so any CPython from 3.10 on runs it from
    this checkout's python/ folder, with nothing installed.
    """

    targets = PYTHON_TARGETS

    def __init__(self, python: PythonBinary, timeout: float = DEFAULT_TIMEOUT) -> None:
        env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
        super().__init__([python.path, "-m", "asyncparity_python.worker"], f"Python {python.version}", timeout, env)
        self.python = python
