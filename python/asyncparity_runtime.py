"""asyncparity_runtime: asyncio on a virtual clock, simulated operations, and the trace.

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

and otherwise plain asyncio: ``await asyncio.sleep(0.03)``, ``asyncio.create_task``,
``task.cancel()``, ``asyncio.gather``, ``asyncio.wait``, ``asyncio.as_completed``,
``asyncio.timeout``, ``asyncio.TaskGroup``, ``asyncio.Semaphore`` and ``asyncio.Queue``
all work unchanged, because the loop they run on (:class:`VirtualTimeLoop`) is an
ordinary ``asyncio.BaseEventLoop`` whose clock and timers are virtual.

Python cancels: ``asyncio.timeout``, ``asyncio.TaskGroup`` and ``task.cancel()`` cancel
the work they stop waiting for. An operation interrupted that way records a ``cancel``
event (JavaScript cannot cancel a promise, so there the same operation runs on and ends
later), unless it was declared ``world.operation(..., on_cancel="ignore")``: then it
swallows the cancellation and runs to its end.

Async generators behave as under ``asyncio.run``: while it runs, the loop's
async-generator hooks are installed (as ``BaseEventLoop.run_forever`` does), so a
generator abandoned by ``break`` out of ``async for`` is closed by a task the finalizer
hook schedules, a turn after the loop statement ends (``async for`` never calls
``aclose()``; JavaScript's ``for await`` calls ``return()`` at the ``break``). At the end
of a run, generators still open are closed as ``shutdown_asyncgens`` would, in the order
they started.

``World(..., eager_tasks=True)`` installs ``asyncio.eager_task_factory`` (CPython 3.12+):
``asyncio.create_task`` then runs the coroutine's first step at once, up to its first
real suspension, as calling a JavaScript async function does.

The rules, side by side with the JavaScript runtime (spec/RUNTIME.md)
--------------------------------------------------------------------

======================  ========================================  =========================================
rule                    Python (this module)                      JavaScript (asyncparity-runtime.mjs)
======================  ========================================  =========================================
1. the clock            integer ms from 0; ``loop.time()``        integer ms from 0; ``world.now()``
                        returns it in seconds
2. timers               ``call_at`` keeps its own heap keyed by   ``world.setTimeout`` keeps a heap keyed
                        ``(deadline_ms, seq)``: same-instant      by ``(deadline_ms, seq)``; a delay of 0
                        timers fire first-scheduled first         is a deadline of now (no 1 ms clamp)
3. advance at           ready queue empty after a turn; then      a real ``setImmediate`` ran (microtasks
   quiescence           jump to the earliest deadline and fire    drained); then jump and fire one timer
                        that one timer
4. deadlock             quiescent, main unsettled, no timer:      the same, naming what was pending
                        reported at once, naming each pending
                        task and what it awaits
5. runaway bounds       ``virtual_time``, ``timer_firings``,      the same three (timer firings and kit
                        ``turns_per_instant``                     calls at one instant count as turns)
6. after the settle     the loop runs on until nothing is left    the same
                        (bounded); those events follow the
                        ``return``/``throw`` event
7. unhandled errors     at each quiescence point, a finished      an ``unhandledRejection`` seen before
                        task whose exception nobody retrieved     the next quiescence point
                        is recorded (and marked retrieved)
8. async generators     ``break`` leaves the generator open; the  ``break`` awaits ``return()``, which
                        finalizer hook's task closes it a turn    runs the generator's ``finally`` first
                        later; still open at the end: closed
                        like ``shutdown_asyncgens``
======================  ========================================  =========================================

Why a loop of our own rather than patching ``time()`` (looptime, aiotools)
-------------------------------------------------------------------------

* **Ties.** asyncio keeps timers in a heap ordered by ``when`` alone, and its
  documentation leaves the order of equal deadlines undefined: eight ``call_at`` calls
  for one instant fire as ``[0, 2, 6, 5, 7, 1, 3, 4]`` on CPython 3.9 to 3.13. Real time
  hides this (every ``when`` differs by a few nanoseconds); a frozen clock exposes it.
  This loop orders by ``(deadline_ms, seq)``, ``seq`` taken when the timer is scheduled.
* **Quiescence, not a guess.** looptime spins 42 no-op iterations before a jump; this
  loop jumps only when the ready queue is empty, which it can see because it drives
  itself (there is no selector and no real I/O).
* **Deadlock is immediate.** trio's ``MockClock`` with autojump hangs on a deadlock and
  looptime waits real time; here "nothing ready and no timer" is a verdict at once.
* **Integer milliseconds.** aiotools got stuck when ``time + 1e-9 == time`` in floating
  point; deadlines here are integers, ``loop.time()`` is only their reading in seconds.

Model for the documentation style: trio's ``MockClock`` (trio/_core/_mock_clock.py).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import gc
import heapq
import inspect
import itertools
import json
import math
import os
import platform
import re
import sys
import threading
import weakref
from asyncio import events

__all__ = ["DEFAULT_LIMITS", "ScenarioError", "VirtualTimeLoop", "World", "format_trace"]

DEFAULT_LIMITS = {"virtual_time": 3_600_000, "timer_firings": 10_000, "turns_per_instant": 1_000}
"""The runaway bounds (spec/LANGUAGE.md): virtual ms, timers fired, loop turns at one instant."""

_MAX_SAFE_INTEGER = 2**53 - 1
# After a deadlock or runaway (and after the settle, for tasks left waiting on nothing),
# what is left is cancelled and run until it has unwound: at most this many rounds of
# "cancel everything unfinished, run the ready queue dry".
_CLEANUP_ROUNDS = 10


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


class _Halt(Exception):
    """The driver stops: ``status`` is ``deadlock`` or ``runaway``, ``detail`` says why."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


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


class VirtualTimeLoop(asyncio.BaseEventLoop):
    """An asyncio event loop whose clock is an integer count of virtual milliseconds.

    It is a real ``asyncio.BaseEventLoop``: futures, tasks, ``asyncio.sleep``,
    ``gather``, ``wait``, ``wait_for`` and ``timeout`` run on it unchanged. Three things
    differ from the loop ``asyncio.run`` makes:

    * **The clock.** ``time()`` returns ``now_ms / 1000``. ``now_ms`` starts at 0 and
      changes only when the loop jumps to the next timer.
    * **The timers.** ``call_at`` and ``call_later`` push onto this loop's own heap,
      keyed by ``(deadline_ms, seq)``: ``deadline_ms`` is the deadline rounded to a
      whole millisecond (never earlier than now), ``seq`` a counter taken when the
      timer is scheduled. Timers due at one instant therefore fire in the order they
      were scheduled. A delay of 0 is a timer at now, which still waits for quiescence
      (unlike ``asyncio.sleep(0)``, which is a bare yield and makes no timer at all).
    * **The driver.** There is no ``run_forever`` and no selector. :meth:`World.run`
      drives the loop in *turns*: a turn runs the callbacks that were ready when it
      began, like asyncio's own ``_run_once``. When a turn leaves the ready queue empty
      the loop is *quiescent*: it records never-retrieved task exceptions, then pops
      **one** timer, jumps the clock to its deadline and runs it. Nothing runs on a
      timer while other work is ready, and nothing waits in real time.

    Every task the loop creates is tracked, so that at quiescence the loop can say
    which finished with an exception nobody retrieved, and on a deadlock which are
    stuck and on what.

    Example (what :meth:`World.run` does for you)::

        loop = VirtualTimeLoop()
        ... loop.create_task(main()) ...
        loop.drive(lambda: main_task.done())   # raises _Halt on deadlock or runaway
    """

    def __init__(self, limits: dict | None = None, on_unhandled=None) -> None:
        super().__init__()
        self.limits = _check_limits(limits)
        self.now_ms = 0
        """The virtual clock: integer milliseconds since the run began."""
        self.timer_firings = 0
        self.turns_this_instant = 0
        self.max_turns_per_instant = 0
        self.gc_reports: list[dict] = []
        """What asyncio reported from a destructor (a task or future collected by GC);
        kept for debugging, never part of an outcome, since GC timing is not deterministic."""
        self._timers: list[tuple[int, int, events.TimerHandle]] = []
        self._seq = itertools.count()
        self._all_tasks: list[asyncio.Task] = []
        self._unscanned: list[asyncio.Task] = []
        self._on_unhandled = on_unhandled
        self._driving = False
        # asyncio's registry of async generators that have started (the firstiter hook
        # adds them, the finalizer hook drops them) is a WeakSet, whose order follows
        # memory addresses; this one keeps first-iteration order, so generators still
        # open at the end are closed in the same order every run.
        self._asyncgens = _OrderedWeakSet()

    # -- the clock and the timers -------------------------------------------------------

    def time(self) -> float:
        """The virtual clock in seconds (what ``asyncio.sleep`` and ``timeout`` read)."""
        return self.now_ms / 1000

    def call_at(self, when, callback, *args, context=None):
        """Schedule ``callback(*args)`` at loop time ``when`` (seconds), on the virtual heap.

        ``when`` is rounded to a whole millisecond: ``loop.time() + 0.03`` is 30 ms
        later even though ``0.06 + 0.03 == 0.09000000000000001`` in floating point.
        """
        return self._schedule(round(when * 1000), callback, args, context)

    def call_later(self, delay, callback, *args, context=None):
        """Schedule ``callback(*args)`` ``delay`` seconds from now (0 or less: at now).

        Computed from the integer clock (``now_ms + round(delay * 1000)``) rather than
        through ``call_at(time() + delay)``, so no float sum ever shifts a deadline.
        """
        return self._schedule(self.now_ms + round(delay * 1000), callback, args, context)

    def _schedule(self, deadline_ms: int, callback, args, context) -> events.TimerHandle:
        self._check_closed()
        deadline_ms = max(int(deadline_ms), self.now_ms)
        # The handle's `when()` reads virtual seconds too (looptime issue 3: its handles
        # kept real timestamps).
        handle = events.TimerHandle(deadline_ms / 1000, callback, args, self, context)
        handle._scheduled = True  # asyncio's flag: "in the heap" (TimerHandle.cancel reads it)
        heapq.heappush(self._timers, (deadline_ms, next(self._seq), handle))
        return handle

    def _next_timer(self):
        """The earliest live timer ``(deadline_ms, seq, handle)``, or None; drops cancelled ones."""
        while self._timers and self._timers[0][2].cancelled():
            heapq.heappop(self._timers)[2]._scheduled = False
        return self._timers[0] if self._timers else None

    # -- tasks ----------------------------------------------------------------------------

    def create_task(self, coro, *args, **kwargs):
        """asyncio's ``create_task``, plus tracking (``asyncio.create_task``, ``gather``,
        ``ensure_future`` and ``TaskGroup.create_task`` all come through here).

        A ``TaskGroup`` asking for a task gets its task set made insertion-ordered
        first. asyncio keeps a group's tasks in a ``set`` and, when one fails, cancels
        the others by iterating it (``TaskGroup._abort``), so the siblings' ``cancel``
        events came in an order set by their memory addresses: different from run to
        run. In call order they are deterministic, as timer ties are here.
        """
        group = _calling_task_group(sys._getframe(1))
        if group is not None and type(group._tasks) is set:
            group._tasks = _OrderedTaskSet(group._tasks)
        task = super().create_task(coro, *args, **kwargs)
        self._all_tasks.append(task)
        self._unscanned.append(task)
        return task

    def call_exception_handler(self, context: dict) -> None:
        """An exception that escaped a callback is a bug here, so it stops the run.

        asyncio's default handler only logs and carries on. Reports from destructors
        ("Task exception was never retrieved", "Task was destroyed but it is pending")
        depend on when the garbage collector runs, so they are kept aside in
        :attr:`gc_reports`; never-retrieved exceptions are found deterministically at
        each quiescence point instead (:meth:`_report_unhandled`).
        """
        if "handle" in context and self._driving:
            error = context.get("exception")
            detail = f"{type(error).__name__}: {error}" if error is not None else context.get("message")
            raise _CallbackError(f"exception in callback {context['handle']!r}: {detail}") from error
        self.gc_reports.append(context)

    # -- async generators -----------------------------------------------------------------

    @contextlib.contextmanager
    def asyncgen_hooks(self):
        """Install this loop's async-generator hooks for the ``with`` block, as
        ``BaseEventLoop.run_forever`` does, and restore the previous ones afterwards.

        The hooks are asyncio's own (``BaseEventLoop._asyncgen_firstiter_hook`` and
        ``_asyncgen_finalizer_hook``). A generator captures them when it is first
        iterated. When it is dropped unfinished (``break`` out of ``async for``), CPython
        calls the finalizer from its reference count at once, and the finalizer
        schedules ``aclose()`` as a task on this loop (``call_soon(create_task, ...)``):
        the generator's ``finally`` runs a turn or two later, at the same virtual instant,
        after the code that follows the loop has run up to its next suspension.
        """
        previous = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)
        try:
            yield self
        finally:
            sys.set_asyncgen_hooks(*previous)

    def _idle_asyncgens(self) -> list:
        """The started, unfinished async generators that could be closed now, in
        first-iteration order, taken out of the registry.

        One that is running (a task is inside its ``__anext__``, waiting in its body) is
        left alone: ``aclose()`` would fail with "asynchronous generator is already
        running". The task that drives it unwinds it when it is cancelled.
        """
        idle = [agen for agen in self._asyncgens if not agen.ag_running]
        for agen in idle:
            self._asyncgens.discard(agen)
        return idle

    def close_asyncgens(self, settled) -> None:
        """``loop.shutdown_asyncgens()`` at the end of a run: close every async generator
        still open, each with ``aclose()`` as a task (as the finalizer hook does), in
        first-iteration order, and drive the loop until they are done (bounded rounds).

        Unlike asyncio's ``shutdown_asyncgens`` (one ``gather`` that logs errors), each
        close is a task of its own, so an error in a generator's ``finally`` is an
        ``unhandled`` event at the next quiescence point, like the finalizer's tasks.
        """
        for _ in range(_CLEANUP_ROUNDS):
            idle = self._idle_asyncgens()
            if not idle:
                return
            for agen in idle:
                self.create_task(agen.aclose())
            self.drive(settled)

    # -- the driver -----------------------------------------------------------------------

    def run_forever(self):
        raise RuntimeError("a VirtualTimeLoop is driven by World.run(main), not run_forever()")

    def run_until_complete(self, future):
        raise RuntimeError("a VirtualTimeLoop is driven by World.run(main), not run_until_complete()")

    def run_in_executor(self, executor, func, *args):
        raise RuntimeError("threads have no place on a virtual clock: run_in_executor is not supported")

    def _write_to_self(self):
        # call_soon_threadsafe wakes a selector; this loop has none (its queue is read
        # by the driver on the same thread).
        pass

    def _process_events(self, event_list):
        pass

    def drive(self, settled) -> None:
        """Run turns and timers until nothing is left; ``settled()`` says whether main has.

        Raises :class:`_Halt` on a deadlock (quiescent, ``settled()`` false, no timer)
        or when a runaway bound is passed. Events the loop finds on the way (unhandled
        task exceptions) go to ``on_unhandled``.
        """
        limits = self.limits
        self._driving = True
        self._thread_id = threading.get_ident()  # is_running() reads it
        try:
            while True:
                self._run_until_quiescent()
                self._report_unhandled()
                entry = self._next_timer()
                if entry is None:
                    if not settled():
                        raise _Halt("deadlock", self._deadlock_detail())
                    return
                deadline_ms, _, handle = entry
                if deadline_ms > limits["virtual_time"]:
                    raise _Halt("runaway", f"passed virtual time {limits['virtual_time']} ms")
                if self.timer_firings >= limits["timer_firings"]:
                    raise _Halt("runaway", f"passed {limits['timer_firings']} timer firings")
                heapq.heappop(self._timers)
                handle._scheduled = False
                if deadline_ms > self.now_ms:
                    self.now_ms = deadline_ms
                    self.turns_this_instant = 0
                self.timer_firings += 1
                # The timer runs as the next turn, alone: its callback usually only
                # resolves a future, whose task then resumes on the turn after.
                self._ready.append(handle)
        finally:
            self._driving = False
            self._thread_id = None

    def _run_until_quiescent(self) -> None:
        limit = self.limits["turns_per_instant"]
        while self._ready:
            if self.turns_this_instant >= limit:
                raise _Halt("runaway", f"passed {limit} turns at {self.now_ms} ms")
            self.turns_this_instant += 1
            self.max_turns_per_instant = max(self.max_turns_per_instant, self.turns_this_instant)
            self._run_turn()

    def _run_turn(self) -> None:
        """One turn: the callbacks that were ready when it began (asyncio's ``_run_once``).

        Callbacks they schedule with ``call_soon`` wait for the next turn.
        """
        for _ in range(len(self._ready)):
            handle = self._ready.popleft()
            if not handle.cancelled():
                handle._run()

    def _report_unhandled(self) -> None:
        """Record each finished task whose exception nobody has retrieved, then mark it retrieved.

        asyncio itself notices only when the task is garbage-collected ("Task exception
        was never retrieved", logged, never raised). Here it is found at the quiescence
        point after the task failed, like Node's ``unhandledRejection`` check after the
        microtask queue drains. ``task.exception()`` marks it retrieved, so asyncio never
        logs it later. (``_log_traceback`` is asyncio's own "not yet retrieved" flag, on
        both the C and the Python Task.)

        One consumer retrieves late on purpose: ``gather(..., return_exceptions=True)``
        reads its children's exceptions only when the last child finishes. A failed
        child of a gather that a task still awaits is therefore not unhandled yet; it is
        looked at again at the next quiescence point (by then the gather has usually
        retrieved it, as ``Promise.allSettled`` handles every rejection at once).
        """
        still_running = []
        gathered = None
        for task in self._unscanned:
            if not task.done():
                still_running.append(task)
            elif not task.cancelled() and task._log_traceback:
                if gathered is None:
                    gathered = self._awaited_gather_children()
                if task in gathered:
                    still_running.append(task)
                    continue
                error = task.exception()
                if self._on_unhandled is not None:
                    self._on_unhandled(error)
        self._unscanned = still_running

    def _awaited_gather_children(self) -> set:
        """The children of every unfinished ``gather`` that an unfinished task awaits.

        ``_fut_waiter`` is the future a task is blocked on, and ``_children`` the list
        asyncio's ``_GatheringFuture`` keeps (CPython 3.10 to 3.13).
        """
        children = set()
        for task in self._all_tasks:
            waiter = None if task.done() else task._fut_waiter
            if waiter is not None and not waiter.done():
                children.update(getattr(waiter, "_children", None) or ())
        return children

    def _deadlock_detail(self) -> str:
        pending = [task for task in self._all_tasks if not task.done()]
        described = ", ".join(_describe_task(task) for task in pending) or "nothing"
        return f"has not settled at {self.now_ms} ms and no timer is pending; pending: {described}"

    def cleanup(self) -> None:
        """Cancel whatever is unfinished and let it unwind (bounded), without advancing time.

        A cancelled task may still run ``finally`` blocks that await; those awaits are
        cancelled again in the next round. Timers are not fired. At the end every
        finished task's exception is marked retrieved, so nothing is logged at GC.
        """
        for _ in range(_CLEANUP_ROUNDS):
            unfinished = [task for task in self._all_tasks if not task.done()]
            # Once no task is left, the async generators still open are closed (a task
            # unwinding drops its generator first, and the finalizer hook closes it).
            idle = [] if unfinished else self._idle_asyncgens()
            if not unfinished and not self._ready and not idle:
                break
            for task in unfinished:
                task.cancel()
            for agen in idle:
                self.create_task(agen.aclose())
            for _ in range(max(self.limits["turns_per_instant"], 1)):
                if not self._ready:
                    break
                with contextlib.suppress(_CallbackError):  # the run is over: cleanup errors are moot
                    self._run_turn()
        for task in self._all_tasks:
            if task.done() and not task.cancelled():
                task.exception()

    def close(self) -> None:
        self._timers.clear()
        super().close()


_TASK_GROUP_CREATE_TASK = getattr(getattr(asyncio, "TaskGroup", None), "create_task", None)  # 3.11+


def _calling_task_group(frame):
    """The ``asyncio.TaskGroup`` whose ``create_task`` is running in ``frame``, else None.

    Matched by code object, so nothing else that happens to have a ``self`` qualifies.
    """
    if _TASK_GROUP_CREATE_TASK is None or frame is None or frame.f_code is not _TASK_GROUP_CREATE_TASK.__code__:
        return None
    return frame.f_locals.get("self")


class _OrderedWeakSet:
    """The part of ``weakref.WeakSet`` that ``BaseEventLoop`` uses for ``_asyncgens``
    (``add``, ``discard``, ``clear``, ``len``, iteration), in insertion order.

    A ``WeakKeyDictionary`` keeps its keys in a dict, whose order is insertion order.
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items = weakref.WeakKeyDictionary()

    def add(self, item) -> None:
        self._items[item] = None

    def discard(self, item) -> None:
        self._items.pop(item, None)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, item) -> bool:
        return item in self._items

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)


class _OrderedTaskSet:
    """The part of ``set`` that ``asyncio.TaskGroup`` uses for its tasks, in insertion order.

    ``add``, ``discard``, ``in``, ``len``, truth and iteration (CPython 3.11 to 3.13's
    taskgroups.py use nothing else), backed by a dict, whose order is insertion order.
    """

    __slots__ = ("_items",)

    def __init__(self, items=()) -> None:
        self._items = dict.fromkeys(items)

    def add(self, item) -> None:
        self._items[item] = None

    def discard(self, item) -> None:
        self._items.pop(item, None)

    def __contains__(self, item) -> bool:
        return item in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"_OrderedTaskSet({list(self._items)!r})"


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
    coro = task.get_coro()
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
    waiter = task._fut_waiter  # asyncio's own "the future this task is blocked on"
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
    outcome.

    ``eager_tasks=True`` (CPython 3.12 and later; a ``RuntimeError`` before) runs every
    task the program creates with ``asyncio.eager_task_factory``: ``create_task`` runs
    the coroutine at once until it first suspends, so an operation started with
    ``asyncio.create_task(download(url))`` records ``start`` before the next line runs,
    as in JavaScript (python/cpython gh-97696, "What's New in Python 3.12").
    """

    def __init__(self, scenario_id: str, limits: dict | None = None, eager_tasks: bool = False) -> None:
        if eager_tasks and _EAGER_TASK_FACTORY is None:
            raise RuntimeError(f"eager_tasks needs CPython 3.12 or later (asyncio.eager_task_factory); "
                               f"this is CPython {platform.python_version()}")
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
        self._loop: VirtualTimeLoop | None = None
        self._recording = False

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
            self._error_kinds[kind] = type(kind, bases, {
                "kind": kind,
                "__module__": self.__class__.__module__,
                "__doc__": f"The scenario error kind {kind}.",
            })
        return self._error_kinds[kind]

    def operation(self, name: str, latency: int = 0, outcomes: list | None = None, on_cancel: str = "stop"):
        """A simulated operation: an async function that takes ``latency`` virtual ms.

        On each call, when its body first runs (a coroutine does nothing until awaited
        or wrapped in a task), it records ``start`` with its arguments and takes its
        outcome (one per call, in call order; the last one repeats). It then waits on a
        virtual timer ``latency`` ms from now (even for 0: a timer at now, as
        JavaScript's ``setTimeout(resolve, 0)`` is; ``asyncio.sleep(0)`` would make no
        timer at all), records ``end`` or ``fail`` and returns the value or raises an
        instance of the kind's class.

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
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            raise ValueError(f"operation {name!r}: latency must be a non-negative integer of ms")
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
            world._record("start", op=name, args=[_to_json(arg) for arg in args])
            done = loop.create_future()

            def wake() -> None:  # reads `done` when it fires: an ignored cancel replaces it
                _resolve(done)

            timer = loop.call_at((loop.now_ms + latency) / 1000, wake)
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
        return [{"status": "rejected", "reason": value} if isinstance(value, BaseException)
                else {"status": "fulfilled", "value": value} for value in values]

    def log(self, message: object) -> None:
        """Record a ``log`` event with ``message`` at the current virtual time.

        Meant to be bound once (``log = world.log``) and called from scenario code.
        """
        self._running_loop("log")
        self._record("log", message=_to_json(message))

    # -- running ----------------------------------------------------------------------------

    def run(self, main) -> dict:
        """Run ``main()`` (an async function) on a fresh virtual loop; return the outcome.

        The outcome is spec/PROTOCOL.md's, without ``target``::

            {"status": "settled" | "deadlock" | "runaway" | "crash",
             "result": {"returns": v} | {"throws": ERROR} | None,
             "trace": [EVENT, ...], "message": None | str,
             "stats": {"virtual_time": ms, "timer_firings": n, "max_turns_per_instant": n}}

        The ``return``/``throw`` event is recorded the moment ``main`` finishes; the
        loop then keeps running until nothing is left (within the limits), so work left
        running shows after it. Then, as ``asyncio.run`` calls ``shutdown_asyncgens``,
        every async generator still open is closed and the loop runs those closes to
        their end (recorded too). While it drives, the virtual loop is the running loop
        of this thread (so ``asyncio.get_running_loop()`` finds it) and its async
        generator hooks are this thread's (:meth:`VirtualTimeLoop.asyncgen_hooks`); the
        previous ones are restored afterwards and no event-loop policy is touched.
        """
        if self._loop is not None:
            raise RuntimeError(f"scenario '{self.scenario_id}' is already running")
        self._events = []
        self._calls = {}
        self._opened = {}
        self._result = None
        loop = VirtualTimeLoop(self.limits, on_unhandled=self._record_unhandled)
        if self.eager_tasks:
            # Tasks start eagerly only while the loop runs (Task.__init__ checks
            # loop.is_running()), so main itself is still scheduled; every task it creates
            # runs its first step inside create_task.
            loop.set_task_factory(_EAGER_TASK_FACTORY)
        status, message = "settled", None
        previous = events._get_running_loop()
        events._set_running_loop(loop)
        self._loop = loop
        self._recording = True
        try:
            with loop.asyncgen_hooks():
                try:
                    loop.create_task(self._settle(main))
                    loop.drive(lambda: self._result is not None)
                    # asyncio.run's shutdown_asyncgens: close the async generators still
                    # open, recorded (after the settle, like any work left running).
                    loop.close_asyncgens(lambda: True)
                except _Halt as halt:
                    status, message = halt.status, f"{halt.status}: scenario '{self.scenario_id}' {halt.detail}"
                except _CallbackError as error:
                    status, message = "crash", f"crash: scenario '{self.scenario_id}': {error}"
                except Exception as error:  # noqa: BLE001 - a bug in the kit becomes a crash outcome, never a hang
                    status, message = "crash", f"crash: scenario '{self.scenario_id}': {type(error).__name__}: {error}"
                finally:
                    self._recording = False
                    loop.cleanup()
        finally:
            self._recording = False
            self._loop = None
            events._set_running_loop(previous)
            loop.close()
        return {
            "status": status,
            "result": self._result if status == "settled" else None,
            "trace": self._events,
            "message": message,
            "stats": {
                "virtual_time": loop.now_ms,
                "timer_firings": loop.timer_firings,
                "max_turns_per_instant": loop.max_turns_per_instant,
            },
        }

    def run_and_print(self, main) -> None:
        """Run ``main``, print the canonical trace and a status line; exit 1 unless settled.

        The status line is ``settled``, or the message (``deadlock: ...``,
        ``runaway: ...``, ``crash: ...``).
        """
        outcome = self.run(main)
        status = "settled" if outcome["status"] == "settled" else outcome["message"]
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
            record = _error_record(error)
            self._result = {"throws": record}
            self._record("throw", error=record)
        else:
            value = _to_json(value)
            self._result = {"returns": value}
            self._record("return", value=value)

    def _running_loop(self, what: str) -> VirtualTimeLoop:
        loop = self._loop
        if loop is None or events._get_running_loop() is not loop:
            raise RuntimeError(f"{what}() belongs to scenario '{self.scenario_id}': "
                               f"call it while world.run(main) drives the program")
        return loop

    def _record(self, event: str, **fields) -> None:
        if self._recording:
            self._events.append({"t": self._loop.now_ms, "event": event, **fields})

    def _record_unhandled(self, error: BaseException) -> None:
        self._record("unhandled", error=_error_record(error))


_HIDDEN_CODES.add(World._settle.__code__)


class _Resource:
    """One opening of a :meth:`World.resource`: the object of ``async with connection("db")``."""

    __slots__ = ("_args", "_close_ms", "_name", "_open_ms", "_world")

    def __init__(self, world: World, name: str, args: tuple, open_ms: int, close_ms: int) -> None:
        self._world, self._name, self._args = world, name, args
        self._open_ms, self._close_ms = open_ms, close_ms

    async def __aenter__(self) -> str:
        world, name = self._world, self._name
        await _virtual_wait(world._running_loop(name), self._open_ms)
        number = world._opened.get(name, 0) + 1
        world._opened[name] = number
        world._record("open", resource=name, args=[_to_json(arg) for arg in self._args])
        return f"{name}#{number}"

    async def __aexit__(self, kind, error, traceback) -> bool:
        world = self._world
        await _virtual_wait(world._running_loop(self._name), self._close_ms)
        world._record("close", resource=self._name)
        return False

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(map(repr, self._args))})"


async def _virtual_wait(loop: VirtualTimeLoop, ms: int) -> None:
    """Wait ``ms`` virtual ms on a timer of the loop (a timer at now for 0); a cancel
    drops the timer and goes on."""
    done = loop.create_future()
    timer = loop.call_at((loop.now_ms + ms) / 1000, _resolve, done)
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
        return {"kind": type(error).__name__, "message": error.message,
                "errors": [_error_record(member) for member in error.exceptions]}
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

_SURROGATE = re.compile("[\ud800-\udfff]")


def _normalize(value: object) -> object:
    # An integral float is the integer (JSON has one number type; JavaScript prints 1.0
    # as 1). Up to 2**53 - 1, the same bound as runner/trace.py.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) <= _MAX_SAFE_INTEGER:
        return int(value)
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalize(item) for key, item in value.items()}
    return value


def _json(value: object) -> str:
    """Compact JSON, non-ASCII kept as is: what ``JSON.stringify`` writes.

    A lone surrogate is written ``\\udxxx`` as well-formed ``JSON.stringify`` does
    (ES2019), so the text can always be encoded as UTF-8.
    """
    text = json.dumps(_normalize(value), separators=(",", ":"), ensure_ascii=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _format_error(error: dict) -> str:
    text = f"{error['kind']}({_json(error['message'])}"
    if error.get("errors"):
        text += ", [" + ", ".join(_format_error(member) for member in error["errors"]) + "]"
    return text + ")"


def _format_event(event: dict) -> str:
    kind = event["event"]
    head = f"{_json(event['t'])} {kind}"
    if kind == "start":
        return f"{head} {event['op']}({','.join(_json(arg) for arg in event['args'])})"
    if kind == "end":
        return f"{head} {event['op']} -> {_json(event['value'])}"
    if kind == "fail":
        return f"{head} {event['op']} {_format_error(event['error'])}"
    if kind == "cancel":
        return f"{head} {event['op']}"
    if kind == "open":
        return f"{head} {event['resource']}({','.join(_json(arg) for arg in event['args'])})"
    if kind == "close":
        return f"{head} {event['resource']}"
    if kind in ("log",):
        return f"{head} {_json(event['message'])}"
    if kind in ("unhandled", "throw"):
        return f"{head} {_format_error(event['error'])}"
    if kind == "return":
        return f"{head} {_json(event['value'])}"
    # An event this module does not know: show it whole rather than drop it (as runner/trace.py).
    rest = {key: value for key, value in event.items() if key not in ("t", "event")}
    return f"{head} {_json(rest)}"


def format_trace(events: list) -> str:
    """The canonical text of a trace (spec/PROTOCOL.md): one event a line, each ending in ``\\n``.

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
    return "".join(_format_event(event) + "\n" for event in events)


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
