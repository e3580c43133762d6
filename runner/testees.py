"""Testees: drive the targets, IR in, outcomes (and program text) out.

Two testees stand behind the protocol of spec/PROTOCOL.md:

- :class:`PythonTestee` calls the Python target in-process (``asyncparity_python``),
  the fast default: no process start, no serialisation.
- :class:`NodeTestee` keeps one ``node javascript/worker.mjs`` alive for a whole run and
  speaks JSON lines with it; :class:`PythonWorkerTestee` does the same with
  ``python -m asyncparity_python.worker`` under another CPython (``--python``). Requests are pipelined: they are written by a writer
  thread as the caller sends them, while it does other work (the Python target), any
  number outstanding, and replies are read in order, in large chunks. Every reply has a wall-clock bound, counted from when the worker could
  begin it (its request was written, or the reply before it came), not from when the
  caller asks for it: a worker stopped while the caller was busy is found out as soon as
  the caller looks. A worker that overruns the bound, exits, closes its output or breaks
  the protocol (a line that is not JSON or too long, a reply of the wrong shape or to
  another request) is killed and restarted, the scenario it was running gets an
  ``error`` outcome that says what happened, and the remaining requests go to the new
  worker. Prior art: protobuf's conformance ``fork_pipe_runner`` (one long-lived testee,
  restarted after a crash).

Workers run in their own session, so that a Ctrl-C at the terminal reaches the runner
only: the runner then stops them itself (:meth:`WorkerTestee.abort`) and reports what it
has, instead of reading their deaths as failures.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import json
import os
import platform
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from .defaults import DEFAULT_TIMEOUT
from .kit import JAVASCRIPT_DIR, PYTHON_DIR
from .model import JS_TARGETS, PYTHON_TARGETS
from .node import NodeBinary, NodeNotFound, asked_version, checked_version
from .pythons import PythonBinary

if TYPE_CHECKING:
    from .content_cache import ContentCache

WORKER = JAVASCRIPT_DIR / "worker.mjs"
MAX_LINE = 64 * 1024 * 1024
"""Bytes a reply line may hold. An outcome of the largest scenarios the limits allow
(10,000 timer firings, long traces of long strings) is a few MB; past this a worker is
broken, and reading on would only fill memory."""
NODE_FLAGS = ("--expose-gc", "--max-semi-space-size=2")
"""V8 flags of the Node worker (:class:`NodeTestee` says why; javascript/worker.mjs knows them)."""
READ_SIZE = 256 * 1024
"""Bytes the runner asks of a worker's output at a time (a pipe holds 64 KiB on Linux)."""
KILL_WAIT = 5.0
"""Seconds to wait for a killed worker to be gone (SIGKILL: it cannot refuse)."""
EXIT_WAIT = 0.5
"""Seconds to wait for a worker that closed its output to exit, before saying it did not
(a worker that exits closes its output as it goes: it is gone within milliseconds)."""
OUTCOME_STATUSES = ("settled", "deadlock", "runaway", "crash", "skipped")
"""The statuses a testee's outcome may have (spec/PROTOCOL.md, "The outcome")."""
TARGETS_OUTCOME_STATUSES = (*OUTCOME_STATUSES, "error")
"""The statuses of an outcome in a reply for several targets: ``error`` too, for a target
whose program could not be made or loaded while the others ran (spec/PROTOCOL.md,
"Several targets in one request")."""
REPLY_TYPES = {"hello": "hello", "compile": "compiled", "run": "outcome", "shutdown": "bye"}
"""The reply each request type gets, besides ``error``."""


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


def reply_problem(request: dict, reply: object) -> str | None:
    """What is wrong with ``reply`` as the answer to ``request`` (spec/PROTOCOL.md), or None.

    The runner reads replies only through this check, so that a worker of the wrong
    shape is a worker's error with a reason, never a runner traceback.
    """
    if not isinstance(reply, dict):
        return f"a reply that is not a JSON object: {_short(reply)}"
    kind = reply.get("type")
    if reply.get("id") != request["id"] and not (reply.get("id") is None and kind == "error"):
        return f"a reply with id {_short(reply.get('id'))} to request {request['id']}"
    if kind == "error":
        return None if isinstance(reply.get("message"), str) else "an error reply without a message"
    expected = "outcomes" if "targets" in request else REPLY_TYPES[request["type"]]
    if kind != expected:
        return f"a reply of type {_short(kind)} to a {request['type']} request (expected {expected})"
    if kind == "hello":
        return _hello_problem(reply)
    if kind == "compiled" and not isinstance(reply.get("source"), str):
        return "a compiled reply whose source is not text"
    if kind == "outcome":
        return outcome_problem(reply.get("outcome"), request["target"])
    if kind == "outcomes":
        outcomes = reply.get("outcomes")
        if not isinstance(outcomes, list) or len(outcomes) != len(request["targets"]):
            return f"an outcomes reply without one outcome for each of the {len(request['targets'])} targets"
        problems = (
            outcome_problem(outcome, target, TARGETS_OUTCOME_STATUSES)
            for outcome, target in zip(outcomes, request["targets"], strict=True)
        )
        return next((problem for problem in problems if problem), None)
    return None


def _hello_problem(reply: dict) -> str | None:
    runtime = reply.get("runtime")
    if not isinstance(runtime, dict) or not isinstance(runtime.get("name"), str):
        return "a hello without its runtime's name"
    if not isinstance(runtime.get("version"), str) or not re.fullmatch(r"\d+(\.\d+)*", runtime["version"]):
        return f"a hello whose runtime version is {_short(runtime.get('version'))}, not digits and dots"
    if not isinstance(reply.get("targets"), list):
        return "a hello without its list of targets"
    if not isinstance(reply.get("features", {}), dict):
        return "a hello whose features are not an object"
    return None


def outcome_problem(outcome: object, target: str, statuses: tuple[str, ...] = OUTCOME_STATUSES) -> str | None:
    """What is wrong with a testee's outcome for ``target`` (spec/PROTOCOL.md, "The outcome"), or None.

    ``statuses``: those the outcome may have (in a reply for several targets,
    :data:`TARGETS_OUTCOME_STATUSES`). The check formats the trace; an outcome that passes
    keeps the lines, its trace made a :class:`~asyncparity.trace.FormattedTrace` (the
    same list of events)."""
    if not isinstance(outcome, dict):
        return f"an outcome that is not a JSON object: {_short(outcome)}"
    if outcome.get("target") != target:
        return f"an outcome for target {_short(outcome.get('target'))} to a request for {target}"
    status = outcome.get("status")
    if status not in statuses:
        return f"an outcome with status {_short(status)}; a testee's are {', '.join(statuses)}"
    trace = outcome.get("trace")
    if not isinstance(trace, list) or not all(isinstance(event, dict) for event in trace):
        return "an outcome whose trace is not a list of event objects"
    if not isinstance(outcome.get("message"), (str, type(None))):
        return "an outcome whose message is not text"
    if not isinstance(outcome.get("output", ""), str):
        return "an outcome whose output is not text"
    if status == "error" and not outcome.get("message"):
        return "an error outcome without a message"
    stats = outcome.get("stats") or {}
    if not isinstance(stats, dict) or not isinstance(stats.get("virtual_time", 0), int):
        return "an outcome whose stats are not an object with an integer virtual_time"  # verify reads it
    result = outcome.get("result")
    # Only a settled outcome's result is read (compare, bless); the others' is null.
    if status == "settled" and (
        not isinstance(result, dict) or len([key for key in ("returns", "throws", "uncaught") if key in result]) != 1
    ):
        return "a settled outcome whose result is not one of returns, throws or uncaught"
    # Here, not at the top: the run starts its Node worker before it imports asyncio,
    # which the runtime's formatter brings (runner/cli.py's _run).
    from .trace import FormattedTrace, format_result, trace_lines

    try:
        # What compare and the report will do with it: a shape they cannot read is the
        # worker's error now, not the runner's later.
        lines = trace_lines(trace)
        if status == "settled":
            format_result(result)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return f"an outcome the runner cannot read ({type(error).__name__}: {error})"
    outcome["trace"] = FormattedTrace(trace, lines)  # compare reads these lines, not made again
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class TesteeError(Exception):
    """A testee could not serve a request at all (not a scenario's failure)."""


class _Line(NamedTuple):
    """What the reader thread saw on a worker's stdout, and when (``time.monotonic``)."""

    arrived: float
    data: bytes | None  # None: end of output
    too_long: bool = False


class PythonTestee:
    """The ``python`` and ``python-eager`` targets, in this process.

    Except for a scenario that runs the user's own code (``bindings`` in its IR, issue
    12): that one runs in a worker process under this same CPython, started on first
    need, so that user code never runs in the runner, and a module that spins or
    crashes the interpreter costs that scenario only (the worker is killed at the
    reply bound, ``timeout``, and restarted). :meth:`close` ends that worker."""

    targets = PYTHON_TARGETS

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, cache: ContentCache | None = None) -> None:
        # Imported here so that `asyncparity check`-style uses of the runner never load it.
        from asyncparity_python import target

        self._target = target
        self.timeout = timeout
        self.cache = cache
        """Where compiled programs are kept between runs (runner/content_cache.py), or None."""
        self._bound_worker: PythonWorkerTestee | None = None
        self._hello: dict | None = None

    def bound_worker(self) -> PythonWorkerTestee:
        """The worker that runs scenarios with user code, started on first call."""
        if self._bound_worker is None:
            worker = PythonWorkerTestee(PythonBinary(sys.executable, platform.python_version()), timeout=self.timeout)
            worker.start()
            self._bound_worker = worker
        return self._bound_worker

    def close(self) -> None:
        """Shut down the worker for user code, if one was started."""
        if self._bound_worker is not None:
            self._bound_worker.close()
            self._bound_worker = None

    def abort(self) -> None:
        """Kill the worker for user code now, if one was started (Ctrl-C, ``-x``)."""
        if self._bound_worker is not None:
            self._bound_worker.abort()
            self._bound_worker = None

    def hello(self) -> dict:
        """What this testee's hello would say (the worker's own answer, in-process).

        Asked once per testee: its feature probes compile() code, and the interpreter
        does not change between scenarios (issue 13)."""
        if self._hello is None:
            from asyncparity_python import worker

            self._hello = worker.hello()
        return self._hello

    def compile(self, ir: dict, target: str = "python") -> str:
        """The program text for one scenario."""
        return self._target.compile(ir, target)

    def run(
        self,
        ir: dict,
        target: str = "python",
        validated: bool = False,
        source: str | None = None,
        program: tuple[CodeType, dict] | None = None,
    ) -> dict:
        """Run one scenario; a target crash becomes an ``error`` outcome, never an exception.

        ``validated``: ``ir`` comes from the kit's loader (runner/load.py), so the
        compiler skips its own check of it (spec/PROTOCOL.md, ``validated``). ``source``:
        the content cache's key of the file ``ir`` was loaded from, if it has one
        (:meth:`~asyncparity.content_cache.ContentCache.program_key`). ``program``: what
        :meth:`program` gave for this IR and target, not made again."""
        reason = unmet_requirement(ir, self.hello())
        if reason:
            return skipped(ir, target, reason)
        if ir.get("bindings"):
            try:
                return self.bound_worker().run(ir, target)
            except TesteeError as error:  # the worker would not start: this scenario's error, the run goes on
                return {"target": target, "status": "error", "result": None, "trace": [], "message": str(error)}
        try:
            if program is None:
                program = self._cached_program(ir, target, validated, source)
            return self._target.run(ir, target, program, validated=validated)
        except Exception as error:  # noqa: BLE001 - a testee bug must not stop the suite
            return {
                "target": target,
                "status": "error",
                "result": None,
                "trace": [],
                "message": f"the {target} target failed on scenario '{ir.get('id')}': {type(error).__name__}: {error}",
            }

    def program(self, ir: dict, target: str, validated: bool = False, source: str | None = None) -> tuple[CodeType, dict] | None:
        """The compiled program :meth:`run` would run for ``ir`` on ``target``, made now
        (from the content cache if it holds it); None where :meth:`run` does not compile
        it in this process (a requirement this CPython lacks, the user's bound code) or
        cannot (:meth:`run` then makes it again and says why).

        The suite makes the programs of a batch of scenarios together, before running
        them: the compiler's code and data stay warm in the processor's caches. On
        CPython 3.11, 1,000 scenarios made and run a batch of 16 at a time took 13% less
        CPU than made and run one by one (benchmarks/inprocess.py: 0.485 s against
        0.556 s, the least of 5 alternating runs)."""
        if ir.get("bindings") or unmet_requirement(ir, self.hello()):
            return None
        if self.cache is not None:
            return self._cached_program(ir, target, validated, source)
        try:
            return self._target.program(ir, target, validated=validated)
        except Exception:  # noqa: BLE001 - run() meets the same failure and turns it into an outcome
            return None

    def _cached_program(
        self, ir: dict, target: str, validated: bool = False, source: str | None = None
    ) -> tuple[CodeType, dict] | None:
        """The cached program for ``ir`` (made and stored on a miss); None without a cache,
        or when it cannot be made, for :func:`run` to make it again and say why."""
        if self.cache is None:
            return None
        key = self.cache.program_key(ir, target, source=source)
        program = self.cache.load_program(key)
        if program is None:
            try:
                program = self._target.program(ir, target, validated=validated)
            except Exception:  # noqa: BLE001 - run() meets the same failure and turns it into an outcome
                return None
            self.cache.store_program(key, *program)
        return program


class _Sent:
    """A request written to the worker and not yet answered, and when it was written."""

    __slots__ = ("request", "sent_at")

    def __init__(self, request: dict, sent_at: float) -> None:
        self.request = request
        self.sent_at = sent_at


_Worker = TypeVar("_Worker", bound="WorkerTestee")  # `with NodeTestee(...) as worker` gives a NodeTestee


class WorkerTestee:
    """A long-lived testee process speaking the JSON-lines protocol (spec/PROTOCOL.md).

    ``command`` starts it; ``name`` says which in messages ("the Node worker ...").

    Requests are written as they are submitted (:meth:`_submit`), by one writer thread per
    process so that they arrive in order, and answered in that order: any number may be
    outstanding, and replies are taken one at a time, oldest first (:meth:`_reply`).
    """

    targets: tuple[str, ...] = ()
    max_line = MAX_LINE

    def __init__(
        self, command: list[str], name: str, timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.name = name
        self.env = env
        self.timeout = timeout
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[list[_Line]] = queue.Queue()
        self._lines: collections.deque[_Line] = collections.deque()  # taken from _replies, not yet read
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._outstanding: collections.deque[_Sent] = collections.deque()
        self._previous_reply = 0.0  # when the last reply came (time.monotonic)
        self._next_id = 0
        self._aborted = False
        # abort() may come from another thread than the one reading replies (the matrix
        # runs workers in a pool): spawning and killing hold this lock.
        self._lock = threading.Lock()
        self.hello: dict | None = None
        self._hello_sent: _Sent | None = None  # a hello launch() sent, whose reply start() takes
        self.cache: ContentCache | None = None
        """Where program bodies are kept between runs (:meth:`_run_request`), or None."""
        self._runtime: tuple[dict | None, str] = (None, "")  # a hello and _compiler_runtime's text of it

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs (for the tests and for diagnostics)."""
        return self._process.pid if self._process is not None else None

    # -- process lifecycle --------------------------------------------------------------

    def launch(self) -> None:
        """Start the worker and send it hello, not waiting for the reply: :meth:`start`
        takes it, so that the worker's start-up overlaps the runner's own work."""
        self._spawn()
        self._hello_sent = self._submit([{"type": "hello"}])[0]

    def start(self) -> dict:
        """Start the worker (unless :meth:`launch` did) and exchange hello; returns the
        hello reply."""
        if self._hello_sent is None:
            self.launch()
        assert self._hello_sent is not None
        sent, self._hello_sent = self._hello_sent, None
        reply, _ = self._reply(sent)
        if reply.get("type") != "hello":
            raise TesteeError(f"the {self.name} worker did not say hello: {reply.get('message', reply)}")
        self.hello = reply
        return reply

    def _spawn(self) -> None:
        with self._lock:
            if self._aborted:
                raise TesteeError(f"the {self.name} worker was stopped: the run was interrupted")
            self._replies, self._lines, self._writes = queue.Queue(), collections.deque(), queue.Queue()
            self._previous_reply = 0.0
            # A session of its own: a Ctrl-C at the terminal goes to the runner, which
            # stops the worker itself (abort) and reports what it has.
            self._process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        process, replies, writes, limit = self._process, self._replies, self._writes, self.max_line

        def read_stdout() -> None:
            stdout = process.stdout
            assert isinstance(stdout, io.BufferedReader)  # Popen's default buffering
            pieces: list[bytes] = []  # the line being read, not yet ended
            held = 0
            # Large reads, split into lines here: a call per batch of replies, not a call
            # and a hand-over per line (issue 13).
            with contextlib.suppress(OSError, ValueError):  # the stream closed under us: the end of output
                # read1 through the file object, not os.read on its descriptor: closing the
                # file (_kill) waits for a read in progress, so a descriptor closed and given
                # to the next worker's pipe is never read here.
                while data := stdout.read1(READ_SIZE):
                    now, start, batch = time.monotonic(), 0, []
                    while (end := data.find(b"\n", start)) != -1:
                        pieces.append(data[start : end + 1])
                        held += end - start
                        batch.append(_Line(now, None, too_long=True) if held > limit else _Line(now, b"".join(pieces)))
                        pieces, held, start = [], 0, end + 1
                    if start < len(data):
                        pieces.append(data[start:])
                        held += len(data) - start
                    if held > limit:
                        batch.append(_Line(now, None, too_long=True))
                    if batch:
                        replies.put(batch)
                    if any(line.too_long for line in batch):
                        return  # the worker is killed for it; what follows is the same line
            now = time.monotonic()
            replies.put(([_Line(now, b"".join(pieces))] if pieces else []) + [_Line(now, None)])

        def read_stderr() -> None:
            assert process.stderr is not None
            with contextlib.suppress(OSError, ValueError):
                while True:
                    data = process.stderr.readline(4096)  # only the last lines are kept, each cut short
                    if not data:
                        break
                    self._stderr.append(data.decode("utf-8", "replace").rstrip("\n"))

        def write_stdin() -> None:
            assert process.stdin is not None
            while (payload := writes.get()) is not None:
                try:
                    process.stdin.write(payload)
                    process.stdin.flush()
                except (OSError, ValueError):
                    return  # the worker died; the reader sees its exit and reports it

        threading.Thread(target=read_stdout, daemon=True, name="asyncparity-worker-stdout").start()
        threading.Thread(target=read_stderr, daemon=True, name="asyncparity-worker-stderr").start()
        threading.Thread(target=write_stdin, daemon=True, name="asyncparity-worker-stdin").start()

    def _kill(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        self._writes.put(None)  # the writer thread ends with its process
        with contextlib.suppress(OSError):
            process.kill()  # SIGKILL stops a stopped (SIGSTOP) process too
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL: nothing more to do
            # Not the reply timeout, which may be a fraction of a second: on a busy machine
            # a killed process takes longer to be gone, and one not waited for is left a
            # zombie (and a ResourceWarning).
            process.wait(timeout=KILL_WAIT)
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the worker to shut down (bounded), then make sure it is gone. A worker with
        requests still unanswered (a run stopped early) is not asked: it is killed."""
        process = self._process
        if process is not None and process.poll() is None and not self._outstanding:
            try:
                list(self._exchange([{"type": "shutdown"}], restart=False))
                process.wait(timeout=self.timeout)
            except (TesteeError, OSError, subprocess.TimeoutExpired):
                pass
        self._outstanding.clear()
        self._kill()

    def abort(self) -> None:
        """Kill the worker now, and start no other: the run was interrupted. Safe from any thread."""
        with self._lock:
            self._aborted = True
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
        """Send every run request now, one per job; the returned iterator yields outcomes
        in job order (take them before those of a later call).

        A scenario whose ``requires`` this runtime does not meet is not sent: its outcome
        is ``skipped`` with the reason.
        """
        runs = self._runs([(ir, (target,), None) for ir, target in jobs])
        return (outcomes[target] for (_, target), outcomes in zip(jobs, runs, strict=True))

    def run_stream(self, jobs: Iterable[tuple[dict, str]], window: int = 128) -> Iterator[dict]:
        """:meth:`run_many` for any number of jobs, taken as the outcomes are: at most
        ``window`` of them at the worker unanswered (two halves, the next sent as the one
        before it is done), so that the worker always has work and the requests held do
        not grow with the jobs (issue 13)."""
        remaining = iter(jobs)
        half = max(1, window // 2)
        halves: collections.deque[Iterator[dict]] = collections.deque()

        def send() -> None:
            chunk = list(itertools.islice(remaining, half))
            if chunk:
                halves.append(self.run_many(chunk))

        send()
        while halves:
            send()
            yield from halves.popleft()

    def run_scenarios(
        self,
        irs: list[dict],
        targets: tuple[str, ...],
        validated: bool = False,
        sources: list[str | None] | None = None,
    ) -> Iterator[dict[str, dict]]:
        """Send the run requests for ``irs`` now, one per scenario for all of ``targets``
        (spec/PROTOCOL.md, "targets"); the returned iterator yields each scenario's
        outcomes by target, in order (take them before those of a later call).
        ``validated``: the IR comes from the kit's loader, and the testee need not check it.
        ``sources``: for each IR, the content cache's key of its file, or None
        (:meth:`~asyncparity.content_cache.ContentCache.program_key`).

        A scenario whose ``requires`` this runtime does not meet is not sent: its outcomes
        are ``skipped`` with the reason.
        """
        # A testee of protocol 1 takes one target a request (spec/PROTOCOL.md, "hello").
        groups = [targets] if (self.hello or {}).get("protocol", 1) >= 2 else [(target,) for target in targets]
        sources = sources if sources is not None else [None] * len(irs)
        runs = self._runs([(ir, group, source) for ir, source in zip(irs, sources, strict=True) for group in groups], validated)

        def outcomes() -> Iterator[dict[str, dict]]:
            for _ in irs:
                yield {target: outcome for _ in groups for target, outcome in next(runs).items()}

        return outcomes()

    def _runs(self, plans: list[tuple[dict, tuple[str, ...], str | None]], validated: bool = False) -> Iterator[dict[str, dict]]:
        """Send a run request now for each (IR, targets, source) of ``plans`` (``source`` as
        :meth:`run_scenarios`'s ``sources``); the returned iterator
        yields each one's outcomes by target, in order. A scenario whose ``requires`` this
        runtime does not meet is not sent: its outcomes are ``skipped`` with the reason."""
        reasons = [unmet_requirement(ir, self.hello or {}) for ir, _, _ in plans]
        requests = [
            self._run_request(ir, targets, validated, source)
            for (ir, targets, source), reason in zip(plans, reasons, strict=True)
            if reason is None
        ]
        keys = [request.pop("_keys") for request in requests]  # the runner's own, not sent
        sent = iter(zip(self._submit(requests), keys, strict=True))

        def outcomes() -> Iterator[dict[str, dict]]:
            for (ir, targets, _), reason in zip(plans, reasons, strict=True):
                if reason is not None:
                    yield {target: skipped(ir, target, reason) for target in targets}
                else:
                    yield self._outcomes(*next(sent))

        return outcomes()

    def _outcomes(self, item: _Sent, keys: dict[str, str]) -> dict[str, dict]:
        """The outcomes of a run request by target, from its reply (an ``error`` reply is
        an ``error`` outcome for each); program bodies sent back go to the cache."""
        request = item.request
        targets = request["targets"] if "targets" in request else [request["target"]]
        reply, _ = self._reply(item)
        if reply.get("type") == "error":
            message = reply.get("message") or f"the {self.name} worker sent {reply!r}"
            return {
                target: {"target": target, "status": "error", "result": None, "trace": [], "message": message}
                for target in targets
            }
        if "targets" in request:
            outcomes, bodies = reply["outcomes"], reply.get("bodies") or {}
        else:
            outcomes, bodies = [reply["outcome"]], {request["target"]: reply.get("body")}
        if self.cache is not None:
            for target, key in keys.items():
                if isinstance(bodies.get(target), str):
                    self.cache.store_text(key, bodies[target])
        return dict(zip(targets, outcomes, strict=True))

    def _run_request(self, ir: dict, targets: tuple[str, ...], validated: bool = False, source: str | None = None) -> dict:
        """The run request for one scenario: a single-target one for one target, else one
        for all of ``targets``. With a :attr:`cache` (runner/content_cache.py), the body
        this worker's compiler made for the same IR and target in an earlier run goes
        with it, not to be compiled again (spec/PROTOCOL.md, "run"); on a miss, the reply
        is asked to carry the body, to be stored under the key the request keeps in
        ``_keys`` (the runner's own: popped before sending). Not for a scenario with the
        user's code, nor under another compiler (``ASYNCPARITY_JS_COMPILER``, whose
        source is in no key). A request with every target's body carries only the
        scenario's ``ir`` and ``id``."""
        request: dict = {"type": "run"}
        if len(targets) == 1:
            request["target"] = targets[0]
        else:
            request["targets"] = list(targets)
        request["scenario"] = ir
        if validated:
            request["validated"] = True
        keys: dict[str, str] = {}
        request["_keys"] = keys
        environment = self.env if self.env is not None else os.environ
        if self.cache is None or self.hello is None or ir.get("bindings") or environment.get("ASYNCPARITY_JS_COMPILER"):
            return request
        runtime = self._compiler_runtime()
        bodies = {}
        for target in targets:
            key = self.cache.program_key(ir, target, runtime, source)
            body = self.cache.load_text(key)
            if body is not None:
                bodies[target] = body
            else:
                keys[target] = key
        if len(targets) == 1:
            if bodies:
                request["body"] = bodies[targets[0]]
            else:
                request["return_body"] = True
        else:
            if bodies:
                request["bodies"] = bodies
            if keys:
                request["return_bodies"] = True
        if not keys:
            # Every target's body goes with it: the testee reads only the scenario's id
            # (spec/PROTOCOL.md), and the IR was two-fifths of a re-run's request (issue 13).
            request["scenario"] = {"ir": ir["ir"], "id": ir["id"]}
        return request

    def has_reply(self) -> bool:
        """Whether a line the worker wrote is waiting to be taken: the reply to the oldest
        request outstanding, which the next reply taken would not wait for."""
        return bool(self._lines) or not self._replies.empty()

    def _compiler_runtime(self) -> str:
        """What the worker's compiler reads of its runtime, from its hello (the runtime and
        its features), as text for the programs' keys; made once a hello."""
        hello, text = self._runtime
        if hello is not self.hello:
            assert self.hello is not None  # asked only once the hello is in
            text = json.dumps([self.hello.get("runtime"), self.hello.get("features")], sort_keys=True)
            self._runtime = self.hello, text
        return text

    def _exchange(self, requests: list[dict], restart: bool = True) -> Iterator[dict]:
        """Send ``requests`` now (:meth:`_submit`); the returned iterator yields their
        replies in order (:meth:`_reply`). Without ``restart``, it ends at the first
        failure, the worker killed and not started again."""
        sent = self._submit(requests)

        def replies() -> Iterator[dict]:
            for item in sent:
                reply, failed = self._reply(item, restart)
                yield reply
                if failed and not restart:
                    return

        return replies()

    def _submit(self, requests: list[dict]) -> list[_Sent]:
        """Number ``requests`` and write them (the writer thread); they are outstanding
        until :meth:`_reply` takes their replies. Starts the worker if none runs; one
        that died with requests outstanding is restarted when its reply is missed."""
        if self._process is None or (self._process.poll() is not None and not self._outstanding):
            self._kill()  # one that exited on its own: its pipes are closed, not left to the collector
            self._spawn()
        now = time.monotonic()
        sent = []
        for request in requests:
            self._next_id += 1
            request["id"] = self._next_id
            sent.append(_Sent(request, now))
        self._outstanding.extend(sent)
        self._write([item.request for item in sent])
        return sent

    def _write(self, requests: list[dict]) -> None:
        if requests:
            # json.dumps escapes to ASCII: the bytes are the text
            self._writes.put("".join(json.dumps(request) + "\n" for request in requests).encode("ascii"))

    def _reply(self, item: _Sent, restart: bool = True) -> tuple[dict, bool]:
        """The reply to the outstanding request ``item``, and whether the worker failed on it.

        Its reply is due ``timeout`` seconds for each target it runs (:meth:`_bound`)
        after the worker could begin it: after the request was written, or after the
        reply before it came. A missing or broken
        reply (timeout, exit, a protocol violation) becomes an ``error`` reply; the
        worker is killed and, with ``restart``, started again and sent the requests still
        outstanding.
        """
        if item not in self._outstanding:  # dropped: the worker failed earlier and was not restarted
            return {"type": "error", "message": f"the {self.name} worker was stopped before it answered"}, True
        if self._outstanding[0] is not item:
            raise RuntimeError("replies are taken in the order their requests were sent")
        received = self._receive(item.request, max(item.sent_at, self._previous_reply) + self._bound(item.request))
        if self._aborted:  # killed by abort(): what came of it is no outcome
            raise TesteeError(f"the {self.name} worker was stopped: the run was interrupted")
        self._outstanding.popleft()
        if isinstance(received, tuple):
            reply, self._previous_reply = received
            return reply, False
        # Killed before the error is handed on: a caller that takes this one reply and
        # sends no more (run) must not leave a spinning worker behind for its next request.
        self._kill()
        if not restart:
            self._outstanding.clear()
        elif self._outstanding:
            self.restarts += 1
            self._spawn()
            now = time.monotonic()
            for waiting in self._outstanding:
                waiting.sent_at = now
            self._write([waiting.request for waiting in self._outstanding])
        return {"type": "error", "message": received}, True

    def _receive(self, request: dict, deadline: float) -> tuple[dict, float] | str:
        """The reply to ``request`` and when it came, or what went wrong instead.

        ``deadline`` is on ``time.monotonic``'s clock. A reply that came after it counts
        as none: the worker overran, even though the caller was busy elsewhere then.
        """
        while True:
            if not self._lines:
                try:
                    self._lines.extend(self._replies.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    return self._failure_message(request, "timeout")
                continue
            line = self._lines.popleft()
            if line.arrived > deadline:
                return self._failure_message(request, "timeout")
            if line.too_long:
                return self._failure_message(request, f"a line longer than {self.max_line} bytes")
            if line.data is None:
                return self._failure_message(request, "")
            if not line.data.strip():
                continue  # blank lines are no message (spec/PROTOCOL.md)
            try:
                reply = json.loads(line.data.decode("utf-8"))
            except UnicodeDecodeError:
                return self._failure_message(request, f"a line that is not UTF-8: {_short(line.data[:200])}")
            except ValueError:
                return self._failure_message(request, f"a line that is not JSON: {_short(line.data.decode('utf-8')[:200])}")
            problem = reply_problem(request, reply)
            if problem:
                return self._failure_message(request, problem)
            return reply, line.arrived

    def _bound(self, request: dict) -> float:
        """Seconds the worker has for ``request``: ``timeout`` for each target it runs. One
        request runs a scenario on both JavaScript targets, one after the other, and each
        may take the run's wall-clock bound and the worker's grace before it is stopped
        (spec/RUNTIME.md, "Runaway bounds"): under a bound for one, a loop that never
        calls the kit was the worker killed, where its own verdict is a runaway."""
        return self.timeout * max(1, len(request.get("targets") or ()))

    def _failure_message(self, request: dict, what_happened: str) -> str:
        """The error message for a request that got no reply: ``what_happened`` is
        ``timeout``, empty for the end of the worker's output, or a protocol violation."""
        what = (
            f"scenario '{request.get('scenario', {}).get('id')}'" if "scenario" in request else f"the {request['type']} request"
        )
        if what_happened == "timeout":
            return f"the {self.name} worker gave no reply within {self._bound(request):g} s on {what}: killed and restarted"
        if what_happened:
            return f"the {self.name} worker broke the protocol on {what}: {what_happened}: killed and restarted"
        process = self._process
        code = process.poll() if process is not None else None
        if process is not None and code is None:
            try:
                code = process.wait(timeout=EXIT_WAIT)
            except subprocess.TimeoutExpired:
                return f"the {self.name} worker closed its output but was still running, on {what}: killed and restarted"
        tail = " | ".join(list(self._stderr)[-3:])
        detail = f"; stderr: {tail}" if tail else ""
        if code is not None and code < 0:
            return f"the {self.name} worker was killed by {_signal_name(-code)} while running {what}: restarted{detail}"
        return f"the {self.name} worker exited (code {code}) while running {what}: restarted{detail}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class NodeTestee(WorkerTestee):
    """One long-lived Node worker for the ``js-promise`` and ``js-async`` targets."""

    targets = JS_TARGETS

    def __init__(self, node: NodeBinary, timeout: float = DEFAULT_TIMEOUT, worker: Path = WORKER) -> None:
        # A run's memory is not to grow with the suite (issue 13): V8 leaves garbage in its
        # old generation until the heap nears a limit it raises as the heap grows, and its
        # young generation grows to 16 MiB a half while requests keep coming. With a young
        # generation of 2 MiB a half and a full collection every 500 runs
        # (javascript/worker.mjs, COLLECT_EVERY), the worker's peak grew 3% from 1,000
        # scenarios to 10,000, where it grew 18% (bench_goals.measure_memory), at no cost
        # in CPU that could be told from the noise.
        super().__init__([node.path, *NODE_FLAGS, str(worker)], "Node", timeout)
        self.node = node

    def start(self) -> dict:
        """Start the worker and exchange hello. A Node only located (its version not
        asked, :func:`~asyncparity.node.locate_node`) takes its version from the hello,
        and is refused there if too old; if it gives no hello at all, ``node --version``
        is asked after all, so that a binary that is no Node is told apart from a broken
        worker, in the same words as before (:class:`~asyncparity.node.NodeNotFound`)."""
        try:
            hello = super().start()
        except TesteeError:
            self._kill()  # a `with` block whose start failed has no exit to do it
            if not self.node.version:
                asked_version(self.node)  # NodeNotFound with the reason, if it is one
            raise
        if not self.node.version:
            try:
                self.node = checked_version(self.node, hello["runtime"]["version"])
            except NodeNotFound:
                self._kill()
                raise
        return hello


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
