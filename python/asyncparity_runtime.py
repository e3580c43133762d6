"""asyncparity_runtime: asyncio with a virtual clock, simulated operations, and the trace.

Every Python program that asyncparity generates imports this one module. Save it beside
a program printed by ``asyncparity show`` and ``python3 program.py`` runs on its own:
standard library only, CPython 3.10 and later.

A program uses these names::

    world = World("seed-download-fallback", limits={...})   # eager_tasks=True: python-eager
    log = world.log                                    # log("got it") records a log event
    IOError = world.error_kind("IOError")              # a ScenarioError subclass
    download_data = world.operation("download_data", latency=30, outcomes=[...])
    connection = world.resource("connection", open=5, close=3)
    ...
    async with connection("db") as conn:               # open and close events; conn == "connection#1"
        ...
    results = world.settled(await asyncio.gather(a(), b(), return_exceptions=True))
    ...
    world.run_and_print(main)                          # or: outcome = world.run(main)

and otherwise plain asyncio: ``asyncio.sleep``, ``create_task``, ``task.cancel()``,
``gather``, ``wait``, ``as_completed``, ``timeout``, ``TaskGroup``, ``Semaphore`` and
``Queue`` all work unchanged.

Only the clock is fake
----------------------

:meth:`World.run` runs ``main`` as ``asyncio.run(main())`` does, on a
:class:`VirtualTimeLoop`: an ordinary ``asyncio.BaseEventLoop`` whose scheduling is
asyncio's own (``BaseEventLoop._run_once`` decides what runs) and whose only difference
is the clock, the way the ``looptime`` project fakes time:

* ``time()`` reads an integer count of virtual milliseconds (in seconds).
* ``_run_once`` asks its selector to wait for I/O until the next timer is due; this
  loop's selector does not wait, it moves the clock to that deadline. So the clock moves
  only when nothing is ready, and then every timer due at the new instant joins the
  ready queue in one batch, in deadline order, as on a real clock.
* Ties: asyncio keeps timers in a heap ordered by deadline alone, and on a real clock
  no two deadlines are equal (the timer scheduled later has the later deadline). On a
  clock of whole milliseconds they often are, so this loop's timers break ties by the
  order they were scheduled in, which is what the real clock does.
* ``select()`` with nothing ready and no timer would block forever on a real loop:
  here it is a deadlock, reported at once with what every task waits on.

Everything else is CPython's: ``asyncio.run``'s lifecycle (tasks still pending when
``main`` returns are cancelled, then async generators are closed by
``shutdown_asyncgens``), task exceptions nobody retrieved are recorded when asyncio
reports them ("Task exception was never retrieved", when the task is destroyed), and
async generators are finalised by asyncio's own hooks.

Where CPython leaves an order undetermined, the trace says so instead of picking one. A
``TaskGroup`` cancels its tasks by iterating a ``set``, and ``asyncio.run`` cancels the
tasks left pending and closes the async generators left open by iterating sets too:
their order follows memory addresses. Events those tasks record at one instant are
marked ``"unordered": true`` (the canonical text ends such lines with ``(any order)``,
sorted), and the kit compares them as a group in any order.

``World(..., eager_tasks=True)`` installs ``asyncio.eager_task_factory`` (CPython 3.12+):
``asyncio.create_task`` then runs the coroutine's first step at once, up to its first
real suspension, as calling a JavaScript async function does.

Real time, for the proof
------------------------

``python3 program.py`` with ``ASYNCPARITY_REAL_TIME=10`` in the environment runs the same
program under the genuine ``asyncio.run`` with real timers, the loop's clock running ten
times slower than the wall clock (a virtual millisecond takes ten real ones), and prints
the trace it saw, times in virtual milliseconds. ``asyncparity verify`` compares that
with the virtual run.

The rules, side by side with the JavaScript runtime: spec/RUNTIME.md. Model for the
documentation style: trio's ``MockClock`` (trio/_core/_mock_clock.py).
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import contextvars
import copy
import decimal
import functools
import gc
import heapq
import importlib.util
import inspect
import itertools
import json
import math
import os
import platform
import re
import selectors
import sys
import sysconfig
import threading
import time
import traceback
import types
import weakref
from asyncio import events
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_EVENTS",
    "UNORDERED",
    "WALL_CLOCK_SECONDS",
    "ScenarioError",
    "UserCodeError",
    "VirtualTimeLoop",
    "World",
    "canonical_json",
    "format_error",
    "format_event",
    "format_trace",
    "number_text",
    "trace_lines",
]

DEFAULT_LIMITS = {"virtual_time": 3_600_000, "timer_firings": 10_000, "turns_per_instant": 1_000}
"""The runaway bounds (spec/LANGUAGE.md): virtual ms, timers fired, loop turns at one instant."""

MAX_EVENTS = 100_000
"""The most trace events one run records: the next one makes the run a runaway
(``passed 100000 trace events``). A fixed bound, the same in the JavaScript runtime,
that no scenario key changes: it keeps a run's memory flat (an event takes a few
hundred bytes) whatever the program does between its waits (spec/RUNTIME.md)."""

WALL_CLOCK_SECONDS = 5.0
"""The most wall-clock seconds one virtual run takes: then it is a runaway (``passed 5 s
of wall-clock time``). The same bound in the JavaScript runtime; below the runner's
bound on a worker's reply (10 s), so that the run's own verdict comes first. Checked at
every loop turn and every call into the kit, and, for a loop that never calls either,
by a watchdog thread (:class:`_Watchdog`)."""

REAL_TIME_VARIABLE = "ASYNCPARITY_REAL_TIME"
"""Set to a scale (real ms per virtual ms), it makes :meth:`World.run_and_print` run on real time."""

# After a deadlock or runaway, what is left is cancelled and run until it has unwound,
# without moving the clock: at most this many rounds of "cancel everything unfinished,
# run the ready queue dry".
_CLEANUP_ROUNDS = 10

# The messages asyncio passes to call_exception_handler for an error nobody handled
# (Lib/asyncio/futures.py, tasks.py, runners.py, base_events.py; CPython 3.10 to 3.13).
_UNHANDLED_MESSAGES = (
    "Task exception was never retrieved",
    "Future exception was never retrieved",
    "unhandled exception during asyncio.run() shutdown",
    "an error occurred during closing of asynchronous generator",
)


class ScenarioError(Exception):
    """Base class of every error kind a scenario throws, fails with or catches.

    ``world.error_kind("IOError")`` makes the subclass; an instance has ``kind`` (the
    class's kind name) and ``message`` (a string), like the JavaScript runtime's
    ``ScenarioError extends Error``::

        >>> IOError = World("doc").error_kind("IOError")
        >>> error = IOError("connection reset")
        >>> error.kind, error.message, str(error)
        ('IOError', 'connection reset', 'connection reset')
    """

    kind = "ScenarioError"

    def __init__(self, message: object = "") -> None:
        # JavaScript's `new Error(x)` stores String(x); store str(x) the same way, so a
        # message is always a string in the trace.
        message = message if isinstance(message, str) else str(message)
        super().__init__(message)
        self.message = message


class UserCodeError(Exception):
    """The user's module (issue 12, ``bind:``) failed to import or threw while loading.

    Its message is what the outcome says: the file, the error, and the traceback's
    frames in the user's own code (never the kit's or importlib's)."""


# The real-clock reads reported in user code (spec/PROTOCOL.md, "bindings"): asyncio's
# own clock is the loop's, virtual already; these read the machine's.
_REAL_CLOCKS = ("monotonic", "time", "perf_counter", "monotonic_ns", "time_ns", "perf_counter_ns")


def _user_frames(error: BaseException, user_files: set[str]) -> list[str]:
    """The lines of ``error``'s traceback in the user's files, as ``traceback`` prints
    them; for a ``SyntaxError``, where the parser stopped (it has no frame of its own)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if os.path.abspath(frame.filename) in user_files]
    # Each frame as traceback prints it, without the carets of 3.11+ (the same lines on every CPython).
    lines = [f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}' for frame in frames]
    lines = [part for frame, head in zip(frames, lines, strict=True) for part in (head, f"    {(frame.line or '').strip()}")]
    if isinstance(error, SyntaxError) and error.filename is not None:
        lines += [f'  File "{error.filename}", line {error.lineno}', f"    {(error.text or '').strip()}"]
    return lines


class _Halt(Exception):
    """The run stops: ``status`` is ``deadlock`` or ``runaway``, ``detail`` says why."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class _Stop(KeyboardInterrupt):
    """Raised in the program when the run has a verdict (a bound passed between turns):
    at its next call into the kit, or anywhere, by the watchdog (:class:`_Watchdog`).

    A ``KeyboardInterrupt`` because asyncio lets only that and ``SystemExit`` out of a
    task's step and a loop callback (``Task.__step``, ``Handle._run``; CPython 3.10 to
    3.13): the run stops at once, and no ``except Exception`` of the program catches it.
    The verdict is the loop's ``halt``; a ``finally`` of the program that waits while it
    unwinds only comes back to the loop, whose next turn raises :class:`_Halt`."""


class _Unsupported(BaseException):
    """The program reached something this CPython lacks (:meth:`World.unsupported`).

    A ``BaseException``, so that no ``except Exception`` of the program catches it."""


class _Stuck(Exception):
    """The clean-up after a halt has nothing ready: it never moves the clock."""


class _CallbackError(RuntimeError):
    """An exception escaped a loop callback: a bug (asyncio itself would only log it)."""


def _check_limits(limits: dict | None) -> dict:
    merged = dict(DEFAULT_LIMITS)
    for key, value in (limits or {}).items():
        if key not in DEFAULT_LIMITS:
            raise ValueError(f"unknown limit {key!r}; the limits are {', '.join(DEFAULT_LIMITS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"limit {key!r} must be a non-negative integer, not {value!r}")
        merged[key] = value
    return merged


if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack  # typing's own from 3.11; only read by the type checker

    _Ts = TypeVarTuple("_Ts")

    class _EventLoop(asyncio.BaseEventLoop):
        """For the type checker only: ``asyncio.BaseEventLoop`` with the private state of
        Lib/asyncio/base_events.py that this module uses and typeshed leaves out. The
        mixins below are only ever mixed into an event loop, so they are typed as one;
        at run time they derive from ``object``."""

        _ready: collections.deque[events.Handle]
        _scheduled: list[events.TimerHandle]

        def _check_closed(self) -> None: ...
        def _run_once(self) -> None: ...

else:
    _EventLoop = object


class _TimerHandle(events.TimerHandle):
    """asyncio's timer handle, with its place in the order of scheduling as a tie-break.

    ``heapq`` compares handles with ``<``, which asyncio defines on the deadline alone.
    """

    __slots__ = ("_seq",)
    _seq: int
    # asyncio's own slots (Lib/asyncio/events.py), which typeshed does not declare:
    _when: float
    _scheduled: bool
    _loop: VirtualTimeLoop | _RealTimeLoop

    def __lt__(self, other):
        if self._when != other._when:
            return self._when < other._when
        return self._seq < getattr(other, "_seq", self._seq + 1)

    def _run(self):
        self._loop.timer_firings += 1
        super()._run()


class _MillisecondTimers(_EventLoop):
    """Both loops' ``call_at``: asyncio's, with the deadline rounded to a whole
    (virtual) millisecond and the order of scheduling kept for equal deadlines.

    The virtual clock moves in whole milliseconds, as the trace records it. On real
    time a timer fires a little late, and a sleep that starts late ends late: over a
    chain of sleeps the lateness would add up until a trace time is a millisecond off;
    on the grid no lateness under half a millisecond carries over to the next timer.
    Ties between the equal deadlines this makes keep the order of scheduling, as
    unrounded deadlines on a real clock do. The loop sets ``_seq``, a counter.
    """

    _seq: Iterator[int]

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> _TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        timer = _TimerHandle(round(when * 1000) / 1000, callback, args, self, context)
        timer._seq = next(self._seq)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


class _WatchedTaskSet(set):
    """A ``TaskGroup``'s task set, still a ``set`` in every respect, that tells the loop
    when it is iterated: ``TaskGroup._abort`` cancels the tasks in this set's order,
    which follows memory addresses (Lib/asyncio/taskgroups.py, 3.11 to 3.13)."""

    __slots__ = ("_loop",)
    _loop: _TraceHooks

    def __iter__(self):
        self._loop._mark_unordered([task for task in super().__iter__() if not task.done()])
        return super().__iter__()


class _TraceHooks(_EventLoop):
    """What both loops add to asyncio for the trace, without changing what it schedules.

    * Errors asyncio reports to ``call_exception_handler`` because nobody handled them
      are passed to ``on_unhandled`` (an ``unhandled`` event); an exception escaping a
      callback is a bug of the kit's and stops the run.
    * Tasks whose order CPython takes from a set are remembered, so that their events
      at one instant can be marked unordered: a ``TaskGroup``'s tasks when it aborts,
      the tasks ``asyncio.run`` cancels when ``main`` has returned (the
      ``gather`` of its second ``run_until_complete``), and the tasks that
      ``shutdown_asyncgens`` makes to close the generators still open.
    """

    def _init_trace_hooks(self, on_unhandled) -> None:
        self._on_unhandled = on_unhandled
        self.unordered: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        """Task -> group number, for the tasks whose relative order CPython does not fix."""
        self._groups = itertools.count(1)
        self._phase_group: int | None = None
        self._runs = 0
        self.in_shutdown = False
        """True once ``main`` has returned and ``asyncio.run``'s shutdown has begun."""
        self.gc_reports: list[dict] = []
        """Other reports from destructors ("Task was destroyed but it is pending!"), kept
        for debugging; never part of an outcome."""
        self.halt: tuple[str, str] | None = None
        """A verdict reached inside a turn (``("runaway", "passed ...")``): the program
        is stopped at its next call into the kit, and the loop at its next turn."""

    def _mark_unordered(self, tasks) -> None:
        if len(tasks) >= 2:
            group = next(self._groups)
            for task in tasks:
                self.unordered[task] = group

    def create_task(self, coro, *args, **kwargs):
        """asyncio's ``create_task``; a ``TaskGroup`` asking gets its task set watched,
        and a task made by ``shutdown_asyncgens`` joins that unordered group."""
        group = _calling_task_group(sys._getframe(1))
        if group is not None and type(group._tasks) is set:
            watched = _WatchedTaskSet(group._tasks)
            watched._loop = self
            group._tasks = watched
        task = super().create_task(coro, *args, **kwargs)
        if self._phase_group is not None:
            self.unordered[task] = self._phase_group
        return task

    def run_until_complete(self, future):
        """asyncio's ``run_until_complete``; the first call runs ``main``, and a later
        call on a ``gather`` is ``asyncio.run`` waiting for the tasks it has just
        cancelled in set order (``runners._cancel_all_tasks``)."""
        self._runs += 1
        if self._runs > 1:
            self.in_shutdown = True
            children = getattr(future, "_children", None)
            if children:
                self._mark_unordered([child for child in children if not child.done()])
        return super().run_until_complete(future)

    async def shutdown_asyncgens(self):
        """asyncio's ``shutdown_asyncgens``: the close of each generator is a task, made
        in the order of a ``WeakSet``; those tasks form one unordered group."""
        self._phase_group = next(self._groups)
        try:
            await super().shutdown_asyncgens()
        finally:
            self._phase_group = None

    def call_exception_handler(self, context: dict) -> None:
        """asyncio's report of an error: an unhandled one is recorded, a callback's is a bug.

        asyncio's default handler only logs. Here an error nobody handled ("Task
        exception was never retrieved", at the moment the task is destroyed; an error
        during ``asyncio.run``'s shutdown) becomes an ``unhandled`` event at the time
        asyncio reports it, and an exception escaping a loop callback stops the run,
        since the only callbacks are asyncio's and the kit's.
        """
        message = str(context.get("message", ""))
        error = context.get("exception")
        if error is not None and message.startswith(_UNHANDLED_MESSAGES):
            self._on_unhandled(error)
            return
        if "handle" in context and self.is_running():
            detail = f"{type(error).__name__}: {error}" if error is not None else message
            raise _CallbackError(f"exception in callback {context['handle']!r}: {detail}") from error
        self.gc_reports.append(context)

    def run_in_executor(self, executor: object, func: Callable[..., object], *args: object) -> NoReturn:
        raise RuntimeError("threads have no place on a virtual clock: run_in_executor is not supported")


class _VirtualSelector:
    """The selector ``BaseEventLoop._run_once`` calls: it never waits, it moves the clock."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def select(self, timeout=None):
        return self._loop._select(timeout)

    def close(self) -> None:
        pass


class VirtualTimeLoop(_TraceHooks, _MillisecondTimers, asyncio.BaseEventLoop):
    """An asyncio event loop whose clock is an integer count of virtual milliseconds.

    It is a real ``asyncio.BaseEventLoop``, run by asyncio's own ``run_forever`` and
    ``_run_once``; futures, tasks, ``asyncio.sleep``, ``gather``, ``wait``,
    ``wait_for``, ``timeout`` and ``TaskGroup`` run on it unchanged. It differs from the
    loop ``asyncio.run`` makes in its clock only:

    * ``time()`` returns ``now_ms / 1000``; ``now_ms`` starts at 0.
    * ``call_at`` rounds a deadline to a whole millisecond (``loop.time() + 0.03`` is 30
      ms later even though ``0.06 + 0.03 == 0.09000000000000001``) and breaks ties
      between equal deadlines by the order the timers were scheduled in.
    * Its selector's ``select(timeout)`` moves ``now_ms`` forward by ``timeout`` instead
      of sleeping, so ``_run_once`` then finds every timer due at the new instant and
      makes them ready together. With ``timeout`` ``None`` (nothing ready, no timer, a
      real loop would block for ever) it stops the run: a deadlock.

    Each ``select`` is one iteration of ``_run_once``, a *turn*; the runaway bounds
    (``virtual_time``, ``timer_firings``, ``turns_per_instant``) are checked there.

    Example (what :meth:`World.run` does for you)::

        loop = VirtualTimeLoop(limits, on_unhandled=...)
        _run_like_asyncio_run(loop, main())   # raises _Halt on deadlock or runaway
    """

    def __init__(self, limits: dict | None = None, on_unhandled=lambda error: None, scenario_id: str = "") -> None:
        super().__init__()
        self._init_trace_hooks(on_unhandled)
        self.limits = _check_limits(limits)
        self.now_ms = 0
        """The virtual clock: integer milliseconds since the run began."""
        self.user_files: set[str] = set()
        """The user's modules (``World.user_module``): a runaway stopped in one says where."""
        self.timer_firings = 0
        self.turns_this_instant = 0
        self.max_turns_per_instant = 0
        self._seq = itertools.count()
        self._selector: _VirtualSelector | None = _VirtualSelector(self)  # None once closed
        self._cleaning = False
        self._wall_clock: tuple[float, float] | None = None  # (seconds, monotonic deadline)
        # Deadlines are whole milliseconds, so a timer is due when its deadline is the
        # clock's reading; any resolution below half a millisecond says the same.
        self._clock_resolution = 1e-6

    def close(self) -> None:
        super().close()
        # The selector holds the loop: without it the closed loop goes when its last
        # reference does, not at the collector's next pass (issue 13, a run's garbage).
        self._selector = None

    # -- the bounds checked between turns ----------------------------------------------

    def start_wall_clock(self, seconds: float | None) -> None:
        """Bound the run to ``seconds`` of wall-clock time from now (None: no bound)."""
        self._wall_clock = None if seconds is None else (seconds, time.monotonic() + seconds)

    def check_wall_clock(self) -> None:
        """Past the wall-clock bound, the run has its verdict (``halt``)."""
        if self._wall_clock is not None and self.halt is None and time.monotonic() > self._wall_clock[1]:
            self.set_halt("runaway", f"passed {self._wall_clock[0]:g} s of wall-clock time at {self.now_ms} ms")

    def set_halt(self, status: str, detail: str) -> None:
        """Give the run its verdict from inside a turn; the first verdict stands."""
        if self.halt is None:
            self.halt = (status, detail)

    def kit_call(self) -> None:
        """The program calls into the kit (an operation, a resource, ``log``, ``now``):
        once the run has a verdict, the program stops here (:class:`_Stop`). As the
        JavaScript runtime's kit calls, so that a loop of ``log`` steps that never waits
        ends at the bound it passes. Not in the clean-up after a halt, which unwinds."""
        if self._cleaning:
            return
        self.check_wall_clock()
        if self.halt is not None:
            raise _Stop

    def trace_time(self) -> int:
        """The time an event recorded now carries: the clock, in ms."""
        return self.now_ms

    # -- the clock and the timers -------------------------------------------------------

    def time(self) -> float:
        """The virtual clock in seconds (what ``asyncio.sleep`` and ``timeout`` read)."""
        return self.now_ms / 1000

    def _select(self, timeout):
        """One turn of ``_run_once``: move the clock to the next deadline, if it waits."""
        if self._cleaning:
            if timeout == 0:
                return []
            raise _Stuck
        limits = self.limits
        if self.halt is None:
            self.check_wall_clock()
        if self.halt is not None:
            raise _Halt(*self.halt)
        if timeout is None:
            raise _Halt("deadlock", self._deadlock_detail())
        step = round(timeout * 1000)
        if step > 0:
            if self.now_ms + step > limits["virtual_time"]:
                raise _Halt("runaway", f"passed virtual time {limits['virtual_time']} ms")
            if self.timer_firings >= limits["timer_firings"]:
                raise _Halt("runaway", f"passed {limits['timer_firings']} timer firings")
            self.now_ms += step
            self.turns_this_instant = 0
        self.turns_this_instant += 1
        if self.turns_this_instant > limits["turns_per_instant"]:
            raise _Halt("runaway", f"passed {limits['turns_per_instant']} turns at {self.now_ms} ms")
        self.max_turns_per_instant = max(self.max_turns_per_instant, self.turns_this_instant)
        return []

    def _process_events(self, event_list):
        pass  # no file descriptors: nothing ever becomes readable

    def _write_to_self(self):
        pass  # call_soon_threadsafe wakes a real selector; this one never sleeps

    def _deadlock_detail(self) -> str:
        pending = sorted(_describe_task(task) for task in asyncio.all_tasks(self))
        described = ", ".join(pending) or "nothing"
        if self.in_shutdown:
            return (
                f"did not finish asyncio.run's shutdown at {self.now_ms} ms (a task left running when main "
                f"returned does not end after its cancel) and no timer is pending; pending: {described}"
            )
        return f"has not settled at {self.now_ms} ms and no timer is pending; pending: {described}"

    def cleanup(self) -> None:
        """After a halt: cancel what is unfinished and let it unwind, bounded, without
        moving the clock; then close the coroutines of tasks that still did not finish,
        so that nothing runs (or logs) later from the garbage collector."""
        self._cleaning = True
        previous = events._get_running_loop()
        events._set_running_loop(self)
        try:
            with contextlib.suppress(_Stop):  # the watchdog: the wall-clock bound holds here too
                for _ in range(_CLEANUP_ROUNDS):
                    unfinished = asyncio.all_tasks(self)
                    if not unfinished and not self._ready:
                        break
                    for task in unfinished:
                        task.cancel()
                    for _ in range(max(self.limits["turns_per_instant"], 1)):
                        if not self._ready:
                            break
                        try:
                            self._run_once()
                        except (_Stuck, _CallbackError):  # the run is over: clean-up errors are moot
                            break
            for task in asyncio.all_tasks(self):
                # asyncio's flag for "Task was destroyed but it is pending!" (private: not in typeshed)
                task._log_destroy_pending = False  # type: ignore[attr-defined]
                # A coroutine refusing to close (it awaits in a finally) is left to the collector.
                coro = task.get_coro()  # None only for a task that finished eagerly (3.12+)
                with contextlib.suppress(BaseException):
                    if coro is not None:
                        coro.close()
        finally:
            events._set_running_loop(previous)


def _async_exception_setter() -> Callable[[int, type[BaseException] | None], int] | None:
    """CPython's ``PyThreadState_SetAsyncExc`` (raise an exception in another thread at
    its next bytecode; None clears a pending one), or None where ctypes is missing."""
    try:
        import ctypes
    except ImportError:  # a CPython built without libffi
        return None
    function = ctypes.pythonapi.PyThreadState_SetAsyncExc
    function.restype = ctypes.c_int

    def set_async_exception(thread_id: int, exception: type[BaseException] | None) -> int:
        # No argtypes: ctypes passes None as NULL, which is what clears.
        return function(ctypes.c_ulong(thread_id), None if exception is None else ctypes.py_object(exception))

    return set_async_exception


class _Watch:
    """One armed run: its loop, its thread, the frame of its :meth:`World.run`, when it fires."""

    __slots__ = ("fired", "fires_at", "loop", "run_frame", "seconds", "thread_id")

    def __init__(self, loop: VirtualTimeLoop | _Loading, seconds: float, run_frame) -> None:
        self.loop, self.seconds, self.run_frame = loop, seconds, run_frame
        self.thread_id = threading.get_ident()
        self.fires_at = time.monotonic() + seconds
        self.fired = False


class _Loading:
    """What the watchdog reads of a run's loop (:class:`_Watch`), while the user's module
    loads and no loop runs yet (:meth:`World.user_module`)."""

    now_ms = 0

    def __init__(self, user_files: set[str]) -> None:
        self.user_files = user_files
        self.halt: tuple[str, str] | None = None

    def set_halt(self, status: str, detail: str) -> None:
        if self.halt is None:
            self.halt = (status, detail)


class _Watchdog:
    """The wall-clock bound of a program that never comes back to the kit.

    A loop of ``set`` steps calls nothing of the kit's and never yields to the event
    loop, so the checks at turns and kit calls never run. One daemon thread watches
    every armed run; past its deadline, it gives the run its verdict (the loop's
    ``halt``) and raises :class:`_Stop` in the run's thread with CPython's
    ``PyThreadState_SetAsyncExc``, which lands at that thread's next bytecode: any
    thread, where ``signal.setitimer`` and ``SIGALRM`` only reach the main thread and
    would take the signal from whatever else uses it (pytest-timeout). The exception
    is only raised while the thread runs code of the program (a frame above
    :meth:`World.run` that is neither this module's nor the standard library's), so that
    it lands where the run expects a ``_Stop``: in a task's step, or in the clean-up's.
    It fires again every ``_REFIRE`` seconds until the run is disarmed: a ``finally``
    of the program may loop as well while it unwinds.

    What it cannot stop: a single long call into C (a huge ``str`` repetition), since
    an asynchronous exception waits for the next bytecode; and nothing at all without
    ctypes (then the bound is checked at turns and kit calls only, as in JavaScript).
    """

    _POLL = 0.05  # seconds between looks at a run past its deadline that is in the kit's own code
    _REFIRE = 0.1
    _IDLE = 60.0  # the longest wait with nothing armed: an idle daemon thread looks up now and then

    def __init__(self) -> None:
        self._set_async_exception = _async_exception_setter()
        self._own_files = {os.path.normcase(os.path.abspath(__file__))}
        self._stdlib = os.path.normcase(os.path.abspath(sysconfig.get_paths()["stdlib"])) + os.sep
        self.reset()

    def reset(self) -> None:
        """No run watched and no thread (at first, and in a forked child)."""
        self._condition = threading.Condition()
        self._watches: list[_Watch] = []
        self._thread: threading.Thread | None = None
        # When the thread looks at its watches next (time.monotonic; 0 until it first
        # waits, and it looks at every watch before it does): a watch that fires later
        # needs no wake-up. A suite arms a run every millisecond or so, each bound seconds
        # away, and waking the thread for each took the interpreter lock from the run as
        # often (issue 13). With nothing armed, the thread waits no longer than the last
        # run's bound, so that the next run, bound alike, fires after its next look.
        self._next_look = 0.0
        self._idle = self._IDLE

    def arm(self, loop: VirtualTimeLoop | _Loading, seconds: float, run_frame) -> _Watch:
        watch = _Watch(loop, seconds, run_frame)
        if self._set_async_exception is None:
            return watch
        with self._condition:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._serve, name="asyncparity-watchdog", daemon=True)
                self._thread.start()
            # Counted from now, under the lock: never before the thread's last look, so a
            # run bound as the last fires no sooner than the look it set (no wake-up).
            watch.fires_at = time.monotonic() + seconds
            self._watches.append(watch)
            self._idle = min(seconds, self._IDLE)
            if watch.fires_at < self._next_look:
                self._condition.notify()
        return watch

    def disarm(self, watch: _Watch) -> None:
        """Stop watching; an exception raised but not yet delivered is taken back."""
        if self._set_async_exception is not None:
            with self._condition:
                if watch in self._watches:
                    self._watches.remove(watch)
                if watch.fired:
                    self._set_async_exception(watch.thread_id, None)
        # Only once the thread no longer looks at it (_in_program walks up to this frame):
        # the frame holds the watch, a cycle the collector would have to find.
        watch.run_frame = None

    def _serve(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                wait = self._idle
                for watch in self._watches:
                    if now < watch.fires_at:
                        wait = min(wait, watch.fires_at - now)
                    elif self._in_program(watch):
                        self._fire(watch)
                        wait = min(wait, self._REFIRE)
                    else:
                        wait = min(wait, self._POLL)
                self._next_look = now + wait
                self._condition.wait(wait)

    def _fire(self, watch: _Watch) -> None:
        loop = watch.loop
        where = ""
        if loop.user_files:
            # Stopped in the user's own code (issue 12): the innermost frame there says where it spins.
            frame = sys._current_frames().get(watch.thread_id)
            while frame is not None and os.path.abspath(frame.f_code.co_filename) not in loop.user_files:
                frame = frame.f_back
            if frame is not None:
                where = f", in {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} ({frame.f_code.co_name})"
        loop.set_halt("runaway", f"passed {watch.seconds:g} s of wall-clock time at {loop.now_ms} ms{where}")
        assert self._set_async_exception is not None  # nothing is armed without it
        self._set_async_exception(watch.thread_id, _Stop)
        watch.fired = True
        watch.fires_at = time.monotonic() + self._REFIRE

    def _in_program(self, watch: _Watch) -> bool:
        """Whether the run's thread is in code of the program (above its ``World.run``)."""
        frame = sys._current_frames().get(watch.thread_id)
        while frame is not None and frame is not watch.run_frame:
            filename = os.path.normcase(os.path.abspath(frame.f_code.co_filename))
            if filename not in self._own_files and not filename.startswith(self._stdlib):
                return True
            frame = frame.f_back
        return False


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread, and maybe a lock held by it
    os.register_at_fork(after_in_child=_WATCHDOG.reset)


_LONGEST_WAIT = 0.1
"""Real seconds: the longest wait of a real-time run's selector (see :class:`_ScaledSelector`)."""


class _ScaledSelector:
    """A real selector whose timeouts are in the slowed clock's seconds.

    A wait is at most :data:`_LONGEST_WAIT` real seconds: Linux lets a wait wake up late
    by about 0.1% of its length (the timer slack epoll_wait adds; ``select(5.0)`` woke
    5.1 ms late here), which no scale hides, since it is 0.1% of a virtual time too. A
    wait cut short returns no events, and the loop computes the next one: asyncio's
    order of callbacks is unchanged."""

    def __init__(self, selector: selectors.BaseSelector, scale: float) -> None:
        self._selector, self._scale = selector, scale

    def select(self, timeout=None):
        return self._selector.select(None if timeout is None else min(timeout * self._scale, _LONGEST_WAIT))

    def __getattr__(self, name):
        return getattr(self._selector, name)


class _RealTimeLoop(_TraceHooks, _MillisecondTimers, asyncio.SelectorEventLoop):
    """The stock selector event loop with real timers and real sleeping, its clock running
    ``scale`` times slower than the wall clock: a virtual millisecond takes ``scale`` real
    ones. For ``ASYNCPARITY_REAL_TIME`` runs (``asyncparity verify``)."""

    _selector: selectors.BaseSelector | _ScaledSelector  # BaseSelectorEventLoop's (private); here scaled

    def __init__(self, scale: float, on_unhandled) -> None:
        super().__init__()
        self._init_trace_hooks(on_unhandled)
        self._scale = scale
        self._origin = time.monotonic()
        stock = self._selector
        assert isinstance(stock, selectors.BaseSelector)  # the DefaultSelector SelectorEventLoop made
        self._selector = _ScaledSelector(stock, scale)
        self._seq = itertools.count()
        self.timer_firings = 0

    def time(self) -> float:
        return (time.monotonic() - self._origin) / self._scale

    def trace_time(self) -> int:
        return round(self.time() * 1000)


# asyncio.run's own step, CPython 3.7 and later; private, so typeshed leaves it out.
_cancel_all_tasks = asyncio.runners._cancel_all_tasks  # type: ignore[attr-defined]


def _run_like_asyncio_run(loop: VirtualTimeLoop, coro) -> None:
    """``asyncio.run(coro)`` on ``loop``: the steps of Lib/asyncio/runners.py (3.10 to 3.13).

    Run the main task to its end; cancel every task still pending and wait for them
    (``_cancel_all_tasks``, asyncio's own function); close the async generators still
    open; shut the default executor down. Written out rather than called so that a halt
    (a deadlock, a runaway) stops it without the shutdown driving the loop on, and so
    that no event-loop policy is touched; the loop is closed by the caller.
    """
    loop.run_until_complete(loop.create_task(coro))
    _cancel_all_tasks(loop)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


def _run_with_asyncio_run(coro, loop_factory) -> None:
    """The genuine ``asyncio.run(coro)`` with a loop from ``loop_factory`` (real time)."""
    if sys.version_info >= (3, 12):
        asyncio.run(coro, loop_factory=loop_factory)
    elif sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(coro)
    else:  # 3.10: asyncio.run takes its loop from the policy (a standalone program's own process)
        policy = asyncio.get_event_loop_policy()
        # An instance attribute over the policy's method, for this one run (removed below).
        policy.new_event_loop = loop_factory  # type: ignore[method-assign]
        try:
            asyncio.run(coro)
        finally:
            del policy.new_event_loop


_TASK_GROUP_CREATE_TASK = getattr(getattr(asyncio, "TaskGroup", None), "create_task", None)  # 3.11+


def _calling_task_group(frame):
    """The ``asyncio.TaskGroup`` whose ``create_task`` is running in ``frame``, else None.

    Matched by code object, so nothing else that happens to have a ``self`` qualifies.
    """
    if _TASK_GROUP_CREATE_TASK is None or frame is None or frame.f_code is not _TASK_GROUP_CREATE_TASK.__code__:
        return None
    return frame.f_locals.get("self")


_HIDDEN_CODES: set = set()  # coroutines of this module that a deadlock report skips over
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _coroutine_name(coro) -> str:
    """``main``, ``Client.fetch``; a nested function without its ``f.<locals>.`` prefix."""
    return getattr(coro, "__qualname__", type(coro).__name__).rpartition("<locals>.")[2]


_ASYNCGEN_AWAITABLES = ("async_generator_asend", "async_generator_athrow")


def _code_frame_await(coro):
    """(code, frame, what it awaits) of a coroutine or an async generator, else Nones."""
    if hasattr(coro, "cr_code"):
        return coro.cr_code, coro.cr_frame, coro.cr_await
    if hasattr(coro, "ag_code"):
        return coro.ag_code, coro.ag_frame, coro.ag_await
    return None, None, None


def _describe_task(task: asyncio.Task) -> str:
    """``main (line 9) -> sleep awaits a Future``: the chain of coroutines a task is in.

    Task names (``Task-7``) come from a process-wide counter, so they would make the
    message differ from run to run; coroutine names and lines do not.
    """
    parts = []
    coro: object = task.get_coro()  # then what each awaits: coroutines, generators, futures
    while coro is not None:
        if type(coro).__name__ in _ASYNCGEN_AWAITABLES:
            # `async for` awaits __anext__(), the finalizer's task aclose(): neither says
            # which generator it drives, but each holds it (gc sees the reference).
            coro = next((item for item in gc.get_referents(coro) if inspect.isasyncgen(item)), None)
            continue
        code, frame, awaiting = _code_frame_await(coro)
        if code is None:
            break
        if code not in _HIDDEN_CODES:
            label = _coroutine_name(coro)
            filename = code.co_filename
            if frame is not None and filename != __file__ and not filename.startswith(_ASYNCIO_DIR):
                label += f" (line {frame.f_lineno})"
            parts.append(label)
        coro = awaiting
    # asyncio's own "the future this task is blocked on" (private: not in typeshed)
    waiter = task._fut_waiter  # type: ignore[attr-defined]
    if isinstance(waiter, asyncio.Task):
        awaited = f"the task of {_coroutine_name(waiter.get_coro())}"
    elif waiter is None:
        awaited = "nothing (ready to run)"
    else:
        awaited = f"a {type(waiter).__name__.lstrip('_')}"
    return f"{' -> '.join(parts) or 'a task'} awaits {awaited}"


class World:
    """One scenario's world: its operations, error kinds, log, trace and virtual loop.

    A generated program makes one at import time and runs ``main`` in it::

        world = World("seed-download-fallback")
        log = world.log
        IOError = world.error_kind("IOError")
        download_data = world.operation("download_data", latency=30,
                                        outcomes=[{"fails": {"kind": "IOError", "message": "connection reset"}}])

        async def main():
            ...

        outcome = world.run(main)   # {"status": "settled", "result": ..., "trace": [...], ...}

    Each :meth:`run` uses a fresh :class:`VirtualTimeLoop` and starts from a clean trace
    and fresh operation outcomes, so running the same ``main`` twice gives the same
    outcome (the determinism test in tests/python/test_asyncparity_runtime.py).

    ``eager_tasks=True`` (CPython 3.12 and later; a ``RuntimeError`` before) runs every
    task the program creates with ``asyncio.eager_task_factory``: ``create_task`` runs
    the coroutine at once until it first suspends, so an operation started with
    ``asyncio.create_task(download(url))`` records ``start`` before the next line runs,
    as in JavaScript (python/cpython gh-97696, "What's New in Python 3.12").
    """

    max_events: int = MAX_EVENTS
    """The most events a run records (:data:`MAX_EVENTS`); a test may lower it."""
    wall_clock_seconds: float | None = WALL_CLOCK_SECONDS
    """The most wall-clock seconds a virtual run takes (:data:`WALL_CLOCK_SECONDS`;
    None: no bound); a test may lower it."""

    loop_class: type = VirtualTimeLoop
    """The loop :meth:`run` makes. A subclass may change a rule of the clock; the kit's
    own tests do, to show that ``asyncparity verify`` catches a clock that is not the
    runtime's (tests/runner/test_verify.py)."""

    def __init__(self, scenario_id: str, limits: dict | None = None, eager_tasks: bool = False) -> None:
        if eager_tasks and _EAGER_TASK_FACTORY is None:
            raise RuntimeError(
                f"eager_tasks needs CPython 3.12 or later (asyncio.eager_task_factory); "
                f"this is CPython {platform.python_version()}"
            )
        self.scenario_id = scenario_id
        self.limits = _check_limits(limits)
        self.eager_tasks = bool(eager_tasks)
        """Whether :meth:`run` installs ``asyncio.eager_task_factory`` on its loop (the
        ``python-eager`` target): a new task runs its first step inside ``create_task``."""
        self._error_kinds: dict[str, type] = {}
        self._calls: dict[str, int] = {}
        self._opened: dict[str, int] = {}
        self._events: list[dict] = []
        self._result: dict | None = None
        self._loop: VirtualTimeLoop | _RealTimeLoop | None = None
        self._unsupported: str | None = None
        self._recording = False
        self._user_files: set[str] = set()  # the user's modules (user_module): their clock reads are reported
        self._clock_read: str | None = None  # the first such read, "user code read the real clock: ..."

    # -- what a program declares ----------------------------------------------------------

    def error_kind(self, kind: str) -> type:
        """The :class:`ScenarioError` subclass named ``kind`` (one class per kind per world).

        The program binds it to the same name, so ``raise IOError("...")`` and
        ``except IOError:`` read naturally (and shadow the builtin alias on purpose).

        ``TimeoutError`` is the exception: ``asyncio.timeout`` raises the builtin
        ``TimeoutError``, so the program never shadows that name, and the class made
        here derives from ``ScenarioError`` *and* ``builtins.TimeoutError``. One
        ``except TimeoutError:`` then catches an expired timeout and an operation that
        fails with the kind ``TimeoutError`` alike::

            >>> issubclass(World("doc").error_kind("TimeoutError"), TimeoutError)
            True
        """
        if not isinstance(kind, str) or not kind.isidentifier():
            raise ValueError(f"an error kind is an identifier, not {kind!r}")
        if kind not in self._error_kinds:
            bases = (ScenarioError, _UNSHADOWED_BUILTINS[kind]) if kind in _UNSHADOWED_BUILTINS else (ScenarioError,)
            self._error_kinds[kind] = type(
                kind,
                bases,
                {
                    "kind": kind,
                    "__module__": self.__class__.__module__,
                    "__doc__": f"The scenario error kind {kind}.",
                },
            )
        return self._error_kinds[kind]

    def operation(self, name: str, latency: int | list[int] = 0, outcomes: list | None = None, on_cancel: str = "stop"):
        """A simulated operation: an async function that takes ``latency`` virtual ms.

        ``latency`` is one number for every call, or a list taken one per call like the
        outcomes (the count they share; the last one repeats once the list runs out).

        On each call, when its body first runs (a coroutine does nothing until awaited
        or wrapped in a task), it records ``start`` with its arguments and takes its
        outcome (one per call, in call order; the last one repeats). It then waits on a
        timer ``latency`` ms from now (``loop.call_later``; even for 0, a timer due at
        once, which runs after the callbacks already ready; ``asyncio.sleep(0)`` would
        make no timer at all), records ``end`` or ``fail`` and returns the value or
        raises an instance of the kind's class.

        Cancelled while waiting (``asyncio.timeout`` expired, a ``TaskGroup`` sibling
        failed, ``task.cancel()``), what it does is ``on_cancel``'s choice:

        * ``"stop"`` (the default): it drops its timer, records ``cancel`` and lets the
          ``CancelledError`` go on, as asyncio code should (swallowing it would break
          the timeout or the task group that asked).
        * ``"ignore"``: it swallows the ``CancelledError``, takes the request back with
          ``Task.uncancel()`` (CPython 3.11+; 3.10 keeps no count) and goes on waiting
          for its original timer, so its latency is unchanged; then it records ``end``
          or ``fail`` as usual. This is the JavaScript operation that never looks at
          its AbortSignal. (A swallowed cancel also means an ``asyncio.timeout`` around
          it expires without raising: asyncio code that ignores cancellation gets that.)
        """
        latencies = latency if isinstance(latency, list) else [latency]
        if not latencies or any(isinstance(ms, bool) or not isinstance(ms, int) or ms < 0 for ms in latencies):
            raise ValueError(f"operation {name!r}: latency must be a non-negative integer of ms, or a non-empty list of them")
        if on_cancel not in ("stop", "ignore"):
            raise ValueError(f"operation {name!r}: on_cancel is 'stop' or 'ignore', not {on_cancel!r}")
        outcomes = list(outcomes) if outcomes is not None else [{"returns": None}]
        if not outcomes or not all(isinstance(o, dict) and ("returns" in o or "fails" in o) for o in outcomes):
            raise ValueError(f"operation {name!r}: outcomes are [{{'returns': v}} | {{'fails': {{kind, message}}}}, ...]")
        world = self

        async def operation(*args):
            loop = world._running_loop(name)
            call = world._calls.get(name, 0)
            world._calls[name] = call + 1
            outcome = outcomes[min(call, len(outcomes) - 1)]
            delay = latencies[min(call, len(latencies) - 1)]  # as the outcomes: the last one repeats
            world._record("start", op=name, args=[_to_json(arg) for arg in args])
            done = loop.create_future()

            def wake() -> None:  # reads `done` when it fires: an ignored cancel replaces it
                _resolve(done)

            timer = loop.call_later(delay / 1000, wake)
            while True:
                try:
                    await done
                    break
                except asyncio.CancelledError:
                    # After a halt the clean-up cancels everything: then even "ignore" stops.
                    if on_cancel == "stop" or not world._recording:
                        timer.cancel()
                        world._record("cancel", op=name)  # nothing is recorded in the clean-up after a halt
                        raise
                    _uncancel()
                    if not done.cancelled():
                        break  # the timer had fired already: the deadline is reached
                    done = loop.create_future()  # the cancel took the old one; the timer stays
            if "fails" in outcome:
                error = world.error_kind(outcome["fails"]["kind"])(outcome["fails"]["message"])
                world._record("fail", op=name, error=_error_record(error))
                raise error
            value = copy.deepcopy(outcome["returns"])  # the caller may mutate its copy
            world._record("end", op=name, value=_to_json(value))
            return value

        operation.__name__ = operation.__qualname__ = name
        operation.__doc__ = f"The simulated operation {name} ({latency} ms)."
        return operation

    def resource(self, name: str, open: int = 0, close: int = 0):  # "open", "close": the IR's words
        """A simulated resource: ``resource(*args)`` is an async context manager.

        ``connection = world.resource("connection", open=5, close=3)``, then::

            async with connection("db") as conn:   # 5 ms later: open event, conn == "connection#1"
                ...
                                                  # 3 ms after the block: close event

        ``__aenter__`` waits ``open`` virtual ms (a timer even for 0, as an operation's
        latency), then records ``open`` with the arguments and returns the handle: the
        resource's name, ``#`` and a count of this resource's opens in the run, from 1,
        taken when the open completes. ``__aexit__`` waits ``close`` ms whatever ended
        the block (a value, an error, a cancellation), records ``close`` and returns
        False: it never suppresses the error, which goes on after the close. Opens and
        closes nest as ``async with`` blocks do: last opened, first closed.

        Cancelled while it waits (a timeout, a task group's failing sibling), the open or
        close drops its timer and lets the ``CancelledError`` go on, recording nothing.
        """
        for label, ms in (("open", open), ("close", close)):
            if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
                raise ValueError(f"resource {name!r}: {label} must be a non-negative integer of ms, not {ms!r}")
        world = self

        def resource(*args):
            return _Resource(world, name, args, open, close)

        resource.__name__ = resource.__qualname__ = name
        resource.__doc__ = f"The simulated resource {name} (opens in {open} ms, closes in {close} ms)."
        return resource

    @staticmethod
    def settled(values: list) -> list[dict]:
        """``asyncio.gather(..., return_exceptions=True)``'s list in JavaScript's allSettled shape.

        ``gather`` with ``return_exceptions=True`` gives each result or the exception
        itself, in call order; ``Promise.allSettled`` gives records. The kit compares one
        shape (spec/PROTOCOL.md, "settled record"), so each value becomes
        ``{"status": "fulfilled", "value": v}`` and each exception
        ``{"status": "rejected", "reason": error}``. The reason stays the exception
        object (a program may raise it again); the trace and the result write it as its
        ERROR record::

            >>> World.settled(["a", ValueError("boom")])
            [{'status': 'fulfilled', 'value': 'a'}, {'status': 'rejected', 'reason': ValueError('boom')}]

        A ``BaseException`` counts as a rejection too: a child that was cancelled comes
        back from ``gather`` as its ``CancelledError``, which has been a ``BaseException``
        since CPython 3.8, and is no more a value than any other error.
        """
        return [
            {"status": "rejected", "reason": value}
            if isinstance(value, BaseException)
            else {"status": "fulfilled", "value": value}
            for value in values
        ]

    def now(self) -> int:
        """The clock the trace's times are read from: integer milliseconds since the run
        began (on real time, the slowed clock's, rounded), as JavaScript's ``world.now()``."""
        self._running_loop("now")
        assert self._loop is not None  # _running_loop raised otherwise
        return self._loop.trace_time()

    def unsupported(self, feature: str, version: str) -> None:
        """Stop here: the program needs ``feature``, new in CPython ``version``, which this
        CPython lacks. The run's outcome is ``skipped``, saying so.

        For a path that only some runs take: on CPython 3.10 the program of an ``any``
        needs ``ExceptionGroup`` only when every call failed.
        """
        message = (
            f"needs CPython {version} or later ({feature}, reached in this run); this is CPython {platform.python_version()}"
        )
        if self._unsupported is None:
            self._unsupported = message
        raise _Unsupported(message)

    # -- the user's own code (issue 12) ------------------------------------------------

    def user_module(self, path: str, *functions: str) -> types.ModuleType:
        """Import the user's Python file at ``path`` afresh (its module state is this
        run's alone); a failure to import, or an exception while it loads, is a
        :class:`UserCodeError` whose message holds the frames in the user's file, and
        so is a module without a function of ``functions`` (the scenario's bound ones:
        missing, it was the first call's AttributeError, the scenario's result, and the
        JavaScript targets, whose worker checks its exports, were said to disagree).

        The module is registered under its file's name in ``sys.modules`` (as ``import``
        would: ``dataclasses`` and ``pickle`` look it up there) and the file's folder is
        put on ``sys.path``, so that it imports its neighbours. Its real-clock reads are
        reported from here on (:meth:`run`)."""
        path = os.path.abspath(path)
        name = os.path.splitext(os.path.basename(path))[0]
        self._user_files.add(path)
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserCodeError(f"{os.path.basename(path)} failed to load: not a Python file it can import")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        # Under the run's wall-clock bound, as the Node worker imports a module: a loop at
        # its top level was stopped only by the runner's bound on the worker's reply.
        loading = _Loading(self._user_files)
        watch = None if self.wall_clock_seconds is None else _WATCHDOG.arm(loading, self.wall_clock_seconds, sys._getframe())
        try:
            try:
                with self._reporting_real_clock():
                    spec.loader.exec_module(module)
            finally:
                if watch is not None:
                    _WATCHDOG.disarm(watch)
        except _Stop:
            sys.modules.pop(name, None)
            detail = loading.halt[1] if loading.halt else "was stopped"
            raise UserCodeError(f"{os.path.basename(path)} did not finish loading: {detail}") from None
        except Exception as error:  # noqa: BLE001 - whatever the user's module raises is the scenario's verdict
            sys.modules.pop(name, None)
            lines = [f"{os.path.basename(path)} failed to load: {type(error).__name__}: {error}"]
            raise UserCodeError("\n".join(lines + _user_frames(error, self._user_files))) from None
        missing = [function for function in functions if not callable(getattr(module, function, None))]
        if missing:
            sys.modules.pop(name, None)  # as a module that failed to load: nothing of it is left registered
            raise UserCodeError(f"{os.path.basename(path)} defines no function {', '.join(missing)}")
        return module

    def api(self, *operations) -> types.SimpleNamespace:
        """The world API object the user's functions get first: one async method per
        operation, under its name in the scenario (``await api.fetch_page(url)``), and
        ``log(text)`` and ``now()`` (virtual ms). A library that takes a client object can
        be handed this one."""
        methods = {"log": self.log, "now": self.now}
        methods.update((operation.__name__, operation) for operation in operations)
        return types.SimpleNamespace(**methods)

    @contextlib.contextmanager
    def _reporting_real_clock(self) -> Iterator[None]:
        """While inside, a read of the real clock (``time.monotonic()`` and the rest of
        :data:`_REAL_CLOCKS`) from a frame in the user's files is remembered (the first
        one); the call still answers the real clock. Readers in the standard library
        (``logging``) or the kit are not the user's and are left alone."""
        if not self._user_files:
            yield
            return
        originals = {name: getattr(time, name) for name in _REAL_CLOCKS}
        user_files, world = self._user_files, self

        def watched(name: str, original):
            def read(*args):
                caller = sys._getframe(1)
                if world._clock_read is None and os.path.abspath(caller.f_code.co_filename) in user_files:
                    where = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
                    world._clock_read = f"user code read the real clock: time.{name}() at {where}"
                return original(*args)

            read.__name__ = read.__qualname__ = name
            return read

        for name, original in originals.items():
            setattr(time, name, watched(name, original))
        try:
            yield
        finally:
            for name, original in originals.items():
                setattr(time, name, original)

    def log(self, message: object) -> None:
        """Record a ``log`` event with ``message`` at the current virtual time.

        Meant to be bound once (``log = world.log``) and called from scenario code.
        """
        self._running_loop("log")
        self._record("log", message=_to_json(message))

    # -- running ----------------------------------------------------------------------------

    def run(self, main, real_time: float | None = None) -> dict:
        """Run ``main()`` (an async function) as ``asyncio.run`` does; return the outcome.

        The outcome is spec/PROTOCOL.md's, without ``target``::

            {"status": "settled" | "deadlock" | "runaway" | "crash",
             "result": {"returns": v} | {"throws": ERROR} | None,
             "trace": [EVENT, ...], "message": None | str,
             "stats": {"virtual_time": ms, "timer_firings": n, "max_turns_per_instant": n}}

        The ``return``/``throw`` event is recorded the moment ``main`` finishes. Then, as
        under ``asyncio.run``, the tasks still pending are cancelled (what they do about
        it is recorded: an operation records ``cancel``), and the async generators still
        open are closed. The cyclic garbage collector is paused during the run, so that a
        task exception nobody retrieved is reported when the last reference to the task
        goes (as CPython reports it, from reference counting), never at a moment chosen
        by allocation counts; at the end one collection reports what only it can find.

        With ``real_time`` (a scale, real ms per virtual ms) the run uses the genuine
        ``asyncio.run`` on a :class:`_RealTimeLoop`: real timers, real sleeping, times
        recorded in virtual ms (the collector is paused the same way). Without it, a fresh :class:`VirtualTimeLoop`; while it
        runs, it is this thread's running loop, the previous one is restored afterwards,
        and no event-loop policy is touched.
        """
        if self._loop is not None:
            raise RuntimeError(f"scenario '{self.scenario_id}' is already running")
        with self._reporting_real_clock():
            outcome = self._run(main, real_time)
        if self._clock_read is not None:
            # The user's code timed itself on the machine's clock, not the scenario's:
            # what it did cannot be compared (spec/PROTOCOL.md, "bindings").
            outcome.update(status="crash", result=None, message=f"crash: scenario '{self.scenario_id}': {self._clock_read}")
        return outcome

    def _run(self, main, real_time: float | None) -> dict:
        """:meth:`run`, without the watch on the user's real-clock reads."""
        self._events = []
        self._calls = {}
        self._opened = {}
        self._result = None
        self._unsupported = None
        self._task_numbers: weakref.WeakKeyDictionary[asyncio.Task, int] = weakref.WeakKeyDictionary()
        if real_time is not None:
            return self._run_real_time(main, real_time)
        loop = self.loop_class(self.limits, on_unhandled=self._record_unhandled, scenario_id=self.scenario_id)
        loop.user_files = self._user_files
        if self.eager_tasks:
            # Tasks start eagerly only while the loop runs (Task.__init__ checks
            # loop.is_running()), so main itself is still scheduled; every task it creates
            # runs its first step inside create_task.
            loop.set_task_factory(_EAGER_TASK_FACTORY)
        status, message = "settled", None
        previous = events._get_running_loop()
        events._set_running_loop(None)  # asyncio.run refuses to start inside a running loop
        collecting = gc.isenabled()
        gc.disable()
        self._loop = loop
        self._recording = True
        loop.start_wall_clock(self.wall_clock_seconds)
        watch = None
        try:
            try:
                if self.wall_clock_seconds is not None:
                    watch = _WATCHDOG.arm(loop, self.wall_clock_seconds, sys._getframe())
                try:
                    _run_like_asyncio_run(loop, self._settle(main))
                    # What the run left in reference cycles: with the collector paused, all of
                    # it is still in the youngest generation, the only one to look at.
                    gc.collect(0)
                except _Halt as halt:
                    status, message = halt.status, f"{halt.status}: scenario '{self.scenario_id}' {halt.detail}"
                except _Stop:
                    halted = loop.halt or ("runaway", "was stopped")
                    status, message = halted[0], f"{halted[0]}: scenario '{self.scenario_id}' {halted[1]}"
                except _CallbackError as error:
                    status, message = "crash", f"crash: scenario '{self.scenario_id}': {error}"
                except Exception as error:  # noqa: BLE001 - a bug in the kit becomes a crash outcome, never a hang
                    status, message = "crash", f"crash: scenario '{self.scenario_id}': {type(error).__name__}: {error}"
                finally:
                    self._recording = False
                    if not loop.is_closed():
                        loop.cleanup()
            finally:
                if watch is not None:
                    _WATCHDOG.disarm(watch)
        except _Stop:  # the watchdog's, delivered in the handlers above before it was disarmed
            if watch is not None:
                _WATCHDOG.disarm(watch)
            halted = loop.halt or ("runaway", "was stopped")
            status, message = halted[0], f"{halted[0]}: scenario '{self.scenario_id}' {halted[1]}"
        finally:
            self._recording = False
            self._loop = None
            if not loop.is_closed():
                loop.close()
            if collecting:
                gc.enable()
            events._set_running_loop(previous)
        if self._unsupported is not None and status == "settled":
            status, message = "skipped", self._unsupported
        return {
            "status": status,
            "result": self._result if status == "settled" else None,
            "trace": _mark_unordered_groups(self._events),
            "message": message,
            "stats": {
                "virtual_time": loop.now_ms,
                "timer_firings": loop.timer_firings,
                "max_turns_per_instant": loop.max_turns_per_instant,
            },
        }

    def _run_real_time(self, main, scale: float) -> dict:
        """:meth:`run` on real time: the genuine ``asyncio.run``, its loop's clock slowed by ``scale``."""
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"real_time is a scale > 0 (real ms per virtual ms), not {scale!r}")
        loops = []

        def loop_factory() -> _RealTimeLoop:
            loop = _RealTimeLoop(scale, on_unhandled=self._record_unhandled)
            if self.eager_tasks:
                loop.set_task_factory(_EAGER_TASK_FACTORY)
            loops.append(loop)
            self._loop = loop
            return loop

        # The same convention as the virtual run: the cycle collector waits for the end
        # of the run, so that a report it brings comes at the same place in both.
        collecting = gc.isenabled()
        gc.disable()
        self._recording = True
        try:
            _run_with_asyncio_run(self._settle(main), loop_factory)
            gc.collect(0)
        finally:
            self._recording = False
            self._loop = None
            if collecting:
                gc.enable()
        elapsed = loops[0].trace_time() if loops else 0
        return {
            "status": "settled",
            "result": self._result,
            "trace": _mark_unordered_groups(self._events),
            "message": None,
            "stats": {"virtual_time": elapsed, "timer_firings": 0, "max_turns_per_instant": 0},
        }

    def run_and_print(self, main) -> None:
        """Run ``main``, print the canonical trace and a status line; exit 1 unless settled.

        The status line is ``settled``, or the message (``deadlock: ...``,
        ``runaway: ...``, ``crash: ...``, or ``skipped`` and why). With ``ASYNCPARITY_REAL_TIME`` set to a scale
        in the environment, the run is on real time (:meth:`run`'s ``real_time``).
        """
        scale = os.environ.get(REAL_TIME_VARIABLE)
        if scale:
            try:
                real_time = float(scale)
            except ValueError:
                raise SystemExit(f"{REAL_TIME_VARIABLE} must be a number (real ms per virtual ms), not {scale!r}") from None
            outcome = self.run(main, real_time=real_time)
        else:
            outcome = self.run(main)
        status = {"settled": "settled", "skipped": f"skipped: {outcome['message']}"}.get(outcome["status"], outcome["message"])
        _write_stdout(format_trace(outcome["trace"]) + status + "\n")
        if outcome["status"] != "settled":
            raise SystemExit(1)

    async def _settle(self, main):
        """Await ``main()`` and record the moment it settles (the ``return``/``throw`` event)."""
        try:
            value = await main()
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError) and not self._recording:
                raise  # the clean-up after a deadlock or runaway
            if isinstance(error, _Unsupported):
                return
            record = _error_record(error)
            self._result = {"throws": record}
            self._record("throw", error=record)
        else:
            value = _to_json(value)
            self._result = {"returns": value}
            self._record("return", value=value)

    def _running_loop(self, what: str) -> asyncio.AbstractEventLoop:
        """The loop of the run, for a call into the kit (``what``), which it checks:
        made while the run drives the program, and before the run has a verdict."""
        loop = self._loop
        if loop is None or events._get_running_loop() is not loop:
            raise RuntimeError(
                f"{what}() belongs to scenario '{self.scenario_id}': call it while world.run(main) drives the program"
            )
        if isinstance(loop, VirtualTimeLoop):
            loop.kit_call()
        return loop

    def _record(self, event: str, **fields) -> None:
        if not self._recording:
            return
        loop = self._loop
        assert loop is not None  # events are recorded only while a run drives its loop
        if isinstance(loop, VirtualTimeLoop):
            if loop.halt is not None:
                return  # the run has its verdict: the trace ends there
            if len(self._events) >= self.max_events:
                loop.set_halt("runaway", f"passed {self.max_events} trace events at {loop.now_ms} ms")
                return
        record = {"t": loop.trace_time(), "event": event, **fields}
        task = asyncio.current_task(loop) if events._get_running_loop() is loop else None
        if task is not None and (group := loop.unordered.get(task)) is not None:
            # Which task recorded it, for _mark_unordered_groups; removed there.
            numbers = self._task_numbers
            record["_unordered"] = (group, numbers.setdefault(task, len(numbers)))
        self._events.append(record)

    def _record_unhandled(self, error: BaseException) -> None:
        self._record("unhandled", error=_error_record(error))


_HIDDEN_CODES.add(World._settle.__code__)


def _mark_unordered_groups(events_: list[dict]) -> list[dict]:
    """The trace with each run of events that CPython may order otherwise made one group.

    A run is consecutive events at one instant recorded by two or more tasks of one
    unordered group (:class:`_TraceHooks`). Its events get ``"unordered": True`` and are
    sorted by their canonical text, so the trace is the same whatever order the set gave;
    comparison treats them as a group in any order. Anything else is left as it was.
    """
    marked: list[dict] = []
    index = 0
    while index < len(events_):
        event = events_[index]
        tag = event.get("_unordered")
        if tag is None:
            marked.append(event)  # as recorded: no task mark to take out (most events)
            index += 1
            continue
        end = index + 1
        while end < len(events_) and events_[end].get("_unordered", (None,))[0] == tag[0] and events_[end]["t"] == event["t"]:
            end += 1
        run = [{key: value for key, value in item.items() if key != "_unordered"} for item in events_[index:end]]
        if len({item["_unordered"][1] for item in events_[index:end]}) >= 2:
            run = sorted(({**item, "unordered": True} for item in run), key=format_event)
        marked.extend(run)
        index = end
    return marked


class _Resource:
    """One opening of a :meth:`World.resource`: the object of ``async with connection("db")``."""

    __slots__ = ("_args", "_close_ms", "_name", "_open_ms", "_world")

    def __init__(self, world: World, name: str, args: tuple, open_ms: int, close_ms: int) -> None:
        self._world, self._name, self._args = world, name, args
        self._open_ms, self._close_ms = open_ms, close_ms

    async def __aenter__(self) -> str:
        world, name = self._world, self._name
        await _timer_wait(world._running_loop(name), self._open_ms)
        number = world._opened.get(name, 0) + 1
        world._opened[name] = number
        world._record("open", resource=name, args=[_to_json(arg) for arg in self._args])
        return f"{name}#{number}"

    async def __aexit__(self, kind, error, traceback) -> bool:
        world = self._world
        await _timer_wait(world._running_loop(self._name), self._close_ms)
        world._record("close", resource=self._name)
        return False

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(map(repr, self._args))})"


async def _timer_wait(loop: asyncio.AbstractEventLoop, ms: int) -> None:
    """Wait ``ms`` ms on a timer of the loop (a timer due at once for 0); a cancel drops
    the timer and goes on."""
    done = loop.create_future()
    timer = loop.call_later(ms / 1000, _resolve, done)
    try:
        await done
    except asyncio.CancelledError:
        timer.cancel()
        raise


_BaseExceptionGroup = getattr(builtins, "BaseExceptionGroup", None)  # ExceptionGroup: 3.11+
_EAGER_TASK_FACTORY = getattr(asyncio, "eager_task_factory", None)  # 3.12+

# Error kinds the generated program does not shadow, because asyncio raises the builtin
# itself (asyncio.timeout raises builtins.TimeoutError, with message ""): the kind's class
# derives from the builtin as well, so `except TimeoutError` catches both.
_UNSHADOWED_BUILTINS = {"TimeoutError": builtins.TimeoutError}
# The queue's own errors are asyncio's classes (get_nowait raises asyncio.QueueEmpty, with
# message ""; QueueShutDown is new in 3.13): the program writes `except asyncio.QueueEmpty`,
# which must also catch an operation failing with the kind QueueEmpty.
_UNSHADOWED_BUILTINS.update(
    {kind: getattr(asyncio, kind) for kind in ("QueueEmpty", "QueueFull", "QueueShutDown") if hasattr(asyncio, kind)}
)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():  # cancelled meanwhile
        future.set_result(None)


def _uncancel() -> None:
    """Take back the cancel request the current task just swallowed.

    ``Task.uncancel`` (CPython 3.11+) decrements the count that ``cancel()`` raised;
    without it ``asyncio.timeout`` and ``TaskGroup`` would take the task for one still
    being cancelled. CPython 3.10 keeps no count, so there is nothing to take back.
    """
    uncancel = getattr(asyncio.current_task(), "uncancel", None)
    if uncancel is not None:
        uncancel()


def _error_record(error: BaseException) -> dict:
    """ERROR of spec/PROTOCOL.md: ``{"kind", "message"}``, plus ``"errors"`` for a group.

    A group's message is its ``.message`` attribute: ``str()`` of an ExceptionGroup adds
    `` (2 sub-exceptions)``, which JavaScript's AggregateError message does not have.
    Anything else that is not a scenario error reports its class name and ``str()``: the
    builtin ``TimeoutError`` of an expired ``asyncio.timeout`` is
    ``{"kind": "TimeoutError", "message": ""}``.
    """
    if _BaseExceptionGroup is not None and isinstance(error, _BaseExceptionGroup):
        return {
            "kind": type(error).__name__,
            "message": error.message,
            "errors": [_error_record(member) for member in error.exceptions],
        }
    if isinstance(error, ScenarioError):
        return {"kind": error.kind, "message": error.message}
    return {"kind": type(error).__name__, "message": str(error)}


def _to_json(value: object) -> object:
    """The JSON form of a value for the trace or the result.

    An exception anywhere inside it (a caught error, the ``reason`` of a settled record
    in a list) becomes its ERROR record; a tuple becomes a list.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, BaseException):
        return _error_record(value)
    return repr(value)


# -- canonical text ------------------------------------------------------------------------
# spec/PROTOCOL.md, "Canonical text". The runner renders every outcome with these same
# functions (runner/trace.py imports them), and spec/trace-vectors.json holds the lines
# that they and javascript/asyncparity-runtime.mjs's traceLines must write.

UNORDERED = " (any order)"
"""The end of a canonical line whose event belongs to a group CPython orders by chance
(a set's iteration): such lines are compared as a group, in any order."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def number_text(number: float) -> str:
    """A float as ``JSON.stringify`` writes it (ECMA-262 Number::toString, radix 10).

    The digits are Python's shortest round-trip digits (``repr``), the same digits
    JavaScript chooses; only the layout differs: ``1e16`` is ``10000000000000000`` and
    ``1.0`` is ``1`` in JavaScript, ``1e+16`` and ``1.0`` in Python. Not finite: ``null``.

        >>> [number_text(x) for x in (1.0, 1e16, 2.0**60, 1e21, 0.1, 1.5e-7, -0.0, float("nan"))]
        ['1', '10000000000000000', '1152921504606847000', '1e+21', '0.1', '1.5e-7', '0', 'null']
    """
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    _, digit_tuple, exponent = decimal.Decimal(repr(abs(number))).as_tuple()
    assert isinstance(exponent, int)  # 'n', 'N' and 'F' are NaN's and infinity's, ruled out above
    all_digits = "".join(map(str, digit_tuple))
    digits = all_digits.rstrip("0")
    exponent += len(all_digits) - len(digits)
    k = len(digits)
    n = exponent + k  # the value is 0.DIGITS x 10**n
    sign = "-" if number < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    power = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + power


def canonical_json(value: object, separators: tuple[str, str] = (",", ":"), sort_keys: bool = False) -> str:
    """Compact JSON, non-ASCII kept as is: the text ``JSON.stringify`` writes.

    A float is laid out as JavaScript lays out a number (:func:`number_text`), so an
    integral float equals the integer at any size; an integer is written exactly. A
    lone surrogate is written as an escape (:func:`_well_formed`). ``separators`` as
    ``json.dumps``'s (``(", ", ": ")`` for text people write); ``sort_keys`` sorts the
    keys of every object (the runner's equality of values).

        >>> print(canonical_json({"a": [1.0, "é\\n", None], "b": "\\ud800"}))
        {"a":[1,"é\\n",null],"b":"\\ud800"}
    """
    if type(value) is str:
        return _well_formed(_encode_string(value))
    kind = type(value)
    if kind is int or kind is bool or value is None:
        return _COMPACT.encode(value)
    if _plain(value):
        # No float and no key but a string: the json module's C encoder writes the text.
        encoder = _COMPACT if separators == (",", ":") and not sort_keys else _encoder(separators, sort_keys)
        return _well_formed(encoder.encode(value))
    if isinstance(value, float):
        return number_text(value)
    comma, colon = separators
    if isinstance(value, (list, tuple)):
        return "[" + comma.join(canonical_json(item, separators, sort_keys) for item in value) + "]"
    if isinstance(value, dict):
        items = [(str(key), item) for key, item in value.items()]
        if sort_keys:
            items.sort(key=lambda pair: pair[0])
        return (
            "{"
            + comma.join(f"{canonical_json(key)}{colon}{canonical_json(item, separators, sort_keys)}" for key, item in items)
            + "}"
        )
    return json.dumps(value)  # not JSON: the json module's own TypeError


_encode_string = json.encoder.encode_basestring  # what json writes for a str, non-ASCII kept
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@functools.cache
def _encoder(separators: tuple[str, str], sort_keys: bool) -> json.JSONEncoder:
    return json.JSONEncoder(ensure_ascii=False, separators=separators, sort_keys=sort_keys)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds no float and no key but a string: what the json module's
    C encoder writes as JSON.stringify does. Exact types first, each item looked at in
    this frame (every value of every trace comes here: issue 13); any subclass goes the
    general way."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is list or kind is tuple:
        items = value
    elif kind is dict:
        if not all(type(key) is str for key in value):
            return False
        items = value.values()
    else:
        return _plain_subclass(value)
    for item in items:
        kind = type(item)
        if not (kind is str or kind is int or kind is bool or item is None or _plain(item)):
            return False
    return True


def _plain_subclass(value: object) -> bool:
    if isinstance(value, (str, int)) or value is None:  # bool is an int
        return True
    if isinstance(value, (list, tuple)):
        return all(map(_plain, value))
    if isinstance(value, dict):
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


def _well_formed(text: str) -> str:
    """JSON text with each lone surrogate written ``\\udxxx``, as ``JSON.stringify`` writes it.

    ES2019's "well-formed JSON.stringify" (ECMA-262, QuoteJSONString; Node 12 and later):
    ``JSON.stringify("\\ud800")`` is the 8 characters ``"\\ud800"``, where ``json.dumps``
    with ``ensure_ascii=False`` keeps the surrogate raw, which no UTF-8 stream can carry.
    JavaScript strings are UTF-16, so a high surrogate followed by a low one is one
    character there: they are paired first, as a JSON round trip pairs them in Python.

        >>> print(_well_formed('"\\ud83d\\ude00 \\ude00\\ud83d"'))
        "😀 \\ude00\\ud83d"
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", paired)


def format_error(error: dict) -> str:
    """An ERROR record as ``Kind("message")``, with ``[members]`` for a group (a record
    with a list of ``errors``, even an empty one, as JavaScript writes an AggregateError):
    ``AggregateError("All promises were rejected", [IOError("a"), IOError("b")])``."""
    text = f"{error.get('kind', '?')}({canonical_json(error.get('message', ''))}"
    members = error.get("errors")
    if isinstance(members, list):
        text += ", [" + ", ".join(format_error(member) for member in members) + "]"
    return text + ")"


def format_event(event: dict) -> str:
    """One event as its canonical line; an event of an unordered group ends in ``(any order)``."""
    line = _format_event_body(event)
    return line + UNORDERED if event.get("unordered") else line


def _format_event_body(event: dict) -> str:
    kind = event.get("event")
    t = event.get("t")
    head = f"{t if type(t) is int else '?' if t is None else canonical_json(t)} {kind}"
    if kind == "start":
        return f"{head} {event['op']}({','.join(canonical_json(arg) for arg in event.get('args', []))})"
    if kind == "end":
        return f"{head} {event['op']} -> {canonical_json(event.get('value'))}"
    if kind == "fail":
        return f"{head} {event['op']} {format_error(event['error'])}"
    if kind == "log":
        return f"{head} {canonical_json(event.get('message'))}"
    if kind in ("unhandled", "throw"):
        return f"{head} {format_error(event['error'])}"
    if kind == "cancel":
        return f"{head} {event['op']}"
    if kind == "open":
        return f"{head} {event['resource']}({','.join(canonical_json(arg) for arg in event.get('args', []))})"
    if kind == "close":
        return f"{head} {event['resource']}"
    if kind == "return":
        return f"{head} {canonical_json(event.get('value'))}"
    # An event this module does not know (from a newer testee): show it whole, never drop it.
    rest = {key: value for key, value in event.items() if key not in ("t", "event", "unordered")}
    return f"{head} {canonical_json(rest)}"


def trace_lines(events: list) -> list[str]:
    """The canonical line of every event, in order (spec/PROTOCOL.md, "Canonical text")."""
    return [format_event(event) for event in events]


def format_trace(events: list) -> str:
    """The canonical text of a trace: :func:`trace_lines`, each line ending in ``\\n``.

    >>> print(format_trace([
    ...     {"t": 0, "event": "start", "op": "download_data", "args": ["u", 1]},
    ...     {"t": 30, "event": "fail", "op": "download_data",
    ...      "error": {"kind": "IOError", "message": "connection reset"}},
    ...     {"t": 30, "event": "log", "message": "got 1.0"},
    ...     {"t": 30, "event": "cancel", "op": "upload"},
    ...     {"t": 35, "event": "open", "resource": "connection", "args": ["db"]},
    ...     {"t": 38, "event": "close", "resource": "connection"},
    ...     {"t": 38, "event": "return", "value": [1.0, {"a": None}]},
    ... ]), end="")
    0 start download_data("u",1)
    30 fail download_data IOError("connection reset")
    30 log "got 1.0"
    30 cancel upload
    35 open connection("db")
    38 close connection
    38 return [1,{"a":null}]
    """
    return "".join(line + "\n" for line in trace_lines(events))


def _write_stdout(text: str) -> None:
    # Write UTF-8 whatever the locale says, so a trace with non-ASCII text prints the
    # same under any terminal or pipe.
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()
