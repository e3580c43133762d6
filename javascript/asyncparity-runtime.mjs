/**
 * asyncparity runtime for JavaScript: the virtual clock, the simulated operations,
 * the trace and its canonical text, shared by every program the kit generates for the
 * `js-promise` and `js-async` targets.
 *
 * A generated program imports `World` from this file; saved beside the program, it makes
 * the program run on its own (`node program.mjs`). The worker (`worker.mjs`) uses the
 * same module to run scenarios in-process. The rules mirror the Python runtime
 * (`python/asyncparity_runtime.py`); spec/RUNTIME.md lists both side by side and
 * spec/PROTOCOL.md defines the outcome and the canonical trace text.
 *
 * Standard library only (Node 20+), no npm packages.
 *
 * @module asyncparity-runtime
 */

// Captured at module load: quiescence is detected by a real macrotask, and a scenario
// (or a test) that replaces the global must not be able to redirect it.
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

const realSetImmediate = globalThis.setImmediate;
const realClearImmediate = globalThis.clearImmediate;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
/** Real ms: the longest wait of a real-time run's event loop (see #runRealTime). */
const HEARTBEAT_MS = 100;
const realClearInterval = globalThis.clearInterval;
// The world reads the wall clock through this even while a run has put the virtual
// clock in performance.now's place (World.globals).
const realPerformanceNow = performance.now.bind(performance);

/** The runaway bounds used when a scenario gives none (spec/LANGUAGE.md "limits"). */
const DEFAULT_LIMITS = Object.freeze({
  virtual_time: 3600000,
  timer_firings: 10000,
  turns_per_instant: 1000,
});

/**
 * The most trace events one run records: the next one makes the run a runaway
 * (`passed 100000 trace events`). A fixed bound, the same in the Python runtime, that no
 * scenario key changes: it keeps a run's memory flat whatever the program does.
 */
export const MAX_EVENTS = 100000;

/**
 * The most wall-clock seconds one virtual run takes: then it is a runaway (`passed 5 s of
 * wall-clock time`). The same bound in the Python runtime, checked at every timer turn and
 * every call into the kit; a loop that calls neither blocks Node's only thread, and only
 * the worker (worker.mjs, which runs programs in a worker thread it can terminate) or the
 * runner's bound on a reply stops it (spec/RUNTIME.md).
 */
export const WALL_CLOCK_SECONDS = 5;

// `process` 'unhandledRejection' is process-wide: with two runs in flight a rejection
// could not be attributed to the right world, so runs in one process take turns.
let activeWorld = null;

/**
 * Base class of every scenario error kind. `world.errorKind("IOError")` returns a
 * subclass whose `name` and instances' `kind` are "IOError".
 */
export class ScenarioError extends Error {
  /**
   * @param {string} [message] the error message (the scenario's text, verbatim).
   * @param {ErrorOptions} [options] passed to `Error` (e.g. `cause`).
   */
  constructor(message, options) {
    super(message, options);
    /** The error kind, as written in the scenario. @type {string} */
    this.kind = this.name;
  }
}
Object.defineProperty(ScenarioError.prototype, "name", {
  value: "ScenarioError", writable: true, configurable: true,
});

/**
 * Thrown by a kit call (an operation call, `log`, `setTimeout`) once a runaway bound
 * is passed, so that a loop spinning without ever yielding to the clock stops. Every
 * later kit call in the same world throws it too. Not a ScenarioError: scenario code
 * catching a kind never catches it.
 */
class RunawayError extends Error {}
Object.defineProperty(RunawayError.prototype, "name", {
  value: "RunawayError", writable: true, configurable: true,
});

/**
 * A plain-JSON copy of a scenario value, as it appears in the trace and the outcome:
 * `undefined` becomes `null`, an error inside a value (an allSettled `reason`) becomes
 * its ERROR record, and a later change to the object cannot rewrite history.
 */
function toJson(value) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      // JSON.stringify writes NaN and ±Infinity as null; the trace must say the same.
      return Number.isFinite(value) ? value : null;
    case "object":
      return value === null ? null : JSON.parse(JSON.stringify(value, errorsAsRecords));
    case "bigint":
      return JSON.stringify(value); // throws JSON's own TypeError: there is no JSON for it
    default:
      return null; // undefined, a function, a symbol: what JSON.stringify writes in an array
  }
}

/** JSON.stringify replacer: an Error's own JSON is `{}` (its message is not enumerable). */
function errorsAsRecords(key, value) {
  return value instanceof Error ? errorRecord(value) : value;
}

/**
 * The ERROR record of spec/PROTOCOL.md for any thrown value: `{kind, message}`, plus
 * `errors` for an AggregateError (the JS side of ExceptionGroup).
 */
function errorRecord(error) {
  if (!(error instanceof Error)) {
    return { kind: "NonError", message: String(error) };
  }
  const kind = error instanceof ScenarioError ? error.kind : error.name;
  const record = { kind: String(kind), message: String(error.message) };
  if (error instanceof AggregateError) {
    record.errors = Array.from(error.errors ?? [], errorRecord);
  }
  return record;
}

/*
 * The canonical text (spec/PROTOCOL.md, "Canonical text"): values are written by
 * JSON.stringify itself. Since ES2019's "well-formed JSON.stringify" (ECMA-262,
 * QuoteJSONString; V8 7.2, Node 12) a lone surrogate is written as an escape:
 * JSON.stringify("\ud800") is the 8 characters "\ud800", never a raw code unit that
 * UTF-8 cannot carry. python/asyncparity_runtime.py (canonical_json) writes the same
 * text, and the runner uses it; spec/trace-vectors.json holds both to it
 * (tests/javascript/trace-vectors.test.mjs here).
 */

/** The end of a canonical line whose event belongs to a group CPython orders by chance. */
const UNORDERED = " (any order)";

/** Canonical text of one ERROR record: `Kind("msg")`, groups `Kind("msg", [A("x")])`. */
function formatError(record) {
  const head = `${record.kind}(${JSON.stringify(record.message)}`;
  if (!Array.isArray(record.errors)) return `${head})`;
  return `${head}, [${record.errors.map(formatError).join(", ")}])`;
}

/** Compact JSON of a trace value; a missing value is written as `null`. */
function formatValue(value) {
  return value === undefined ? "null" : JSON.stringify(value);
}

/**
 * The canonical line of one event, `<t> <event> <detail>`, ending in ` (any order)` for
 * an event of an unordered group (CPython's; a Node run records none).
 *
 * An event kind this version does not know is written `<t> <event> <rest as JSON>`, so
 * nothing is silently dropped from a diff.
 */
function formatEvent(e) {
  const line = formatEventBody(e);
  return e.unordered ? line + UNORDERED : line;
}

function formatEventBody(e) {
  switch (e.event) {
    case "start": return `${e.t} start ${e.op}(${e.args.map(formatValue).join(",")})`;
    case "end": return `${e.t} end ${e.op} -> ${formatValue(e.value)}`;
    case "fail": return `${e.t} fail ${e.op} ${formatError(e.error)}`;
    case "log": return `${e.t} log ${formatValue(e.message)}`;
    case "unhandled": return `${e.t} unhandled ${formatError(e.error)}`;
    // An operation interrupted while it waited: here through its AbortSignal, in Python
    // by a task's cancellation.
    case "cancel": return `${e.t} cancel ${e.op}`;
    case "open": return `${e.t} open ${e.resource}(${e.args.map(formatValue).join(",")})`;
    case "close": return `${e.t} close ${e.resource}`;
    case "return": return `${e.t} return ${formatValue(e.value)}`;
    case "throw": return `${e.t} throw ${formatError(e.error)}`;
    default: {
      const { t, event, unordered, ...rest } = e;
      return `${t} ${event} ${JSON.stringify(rest)}`;
    }
  }
}

/**
 * The canonical lines of a trace, one per event, in order.
 *
 * @param {Array<object>} events the trace events of an outcome.
 * @returns {Array<string>} the canonical lines.
 */
export function traceLines(events) {
  return events.map(formatEvent);
}

/**
 * The canonical text of a trace: its lines joined with "\n", with no trailing newline.
 *
 * @param {Array<object>} events the trace events of an outcome.
 * @returns {string} the canonical text.
 */
export function formatTrace(events) {
  return traceLines(events).join("\n");
}

/** Node's bound on a delay: a larger one (or one below 1, or not a number) becomes 1. */
const TIMEOUT_MAX = 2 ** 31 - 1;

/**
 * The delay Node really uses for `setTimeout(callback, ms)` (lib/internal/timers.js,
 * `Timeout` and `insert`; the same in Node 20, 22 and 24): anything that is not a
 * number from 1 to 2**31 - 1 is 1 ("When delay is larger than 2147483647 or less than 1,
 * the delay will be set to 1", nodejs.org/api/timers.html), and a fraction is truncated.
 *
 * @param {*} ms the delay as given.
 * @returns {number} whole milliseconds, 1 to 2**31 - 1.
 */
function nodeDelay(ms) {
  const after = Number(ms);
  return after >= 1 && after <= TIMEOUT_MAX ? Math.trunc(after) : 1;
}

/**
 * Node's timers, on a virtual clock: the data structure and the firing order of
 * lib/internal/timers.js, with `now` in place of libuv's clock.
 *
 * - Timers are kept in one list per duration, in the order they were set; a timer's
 *   start is the clock when it was set.
 * - Lists wait in a priority queue ordered by `expiry`, ties broken by the list's `id`,
 *   a counter taken when the list is made and again whenever it is rescheduled.
 * - When the first list is due, its timers run in order; before each, Node checks that
 *   this timer's own time has come (`now - start >= duration`); the first that is not
 *   due yet reschedules the list: `expiry = max(start + duration, now + 1)` and a new
 *   `id`. A list found empty is removed.
 *
 * So two timers due in the same millisecond do not fire in the order they were set when
 * they sit in different lists whose order says otherwise (a list rescheduled after the
 * other was made comes after it). `take(now)` answers which timer Node runs next and
 * `finish` does what Node does when its callback returns; the world drains the
 * microtasks after each timer, as Node does (`runNextTicks`).
 */
class NodeTimerLists {
  /** @type {Map<number, {duration: number, expiry: number, id: number, timers: object[]}>} */
  #lists = new Map();
  #ids = 0;

  /** How many timers are pending. */
  get size() {
    let count = 0;
    for (const list of this.#lists.values()) count += list.timers.length;
    return count;
  }

  /**
   * Sets a timer at `now` (Node's `insert`): appended to the list of its duration, a
   * new list if there is none.
   *
   * @param {number} duration whole ms, from `nodeDelay`.
   * @param {number} now the clock.
   * @param {Function} callback
   * @param {Array} args
   * @returns {object} the timer, for `clear`.
   */
  insert(duration, now, callback, args) {
    let list = this.#lists.get(duration);
    if (list === undefined) {
      list = { duration, expiry: now + duration, id: this.#ids++, timers: [] };
      this.#lists.set(duration, list);
    }
    const timer = { duration, start: now, callback, args, list, cleared: false };
    list.timers.push(timer);
    return timer;
  }

  /**
   * Clears a timer (Node's `unenroll`): out of its list, and an empty list out of the queue.
   *
   * @param {object} timer from `insert`.
   */
  clear(timer) {
    if (timer.cleared) return;
    timer.cleared = true;
    const list = timer.list;
    const index = list.timers.indexOf(timer);
    if (index >= 0) list.timers.splice(index, 1);
    if (list.timers.length === 0 && this.#lists.get(list.duration) === list) this.#lists.delete(list.duration);
  }

  /** The list Node's priority queue has first: least `expiry`, then least `id`. */
  #first() {
    let first;
    for (const list of this.#lists.values()) {
      if (first === undefined || list.expiry < first.expiry || (list.expiry === first.expiry && list.id < first.id)) {
        first = list;
      }
    }
    return first;
  }

  /**
   * When the clock must next move to: the first list's expiry, or undefined when no
   * timer is pending.
   *
   * @returns {number | undefined}
   */
  nextExpiry() {
    return this.#first()?.expiry;
  }

  /**
   * The next timer Node runs at `now`, taken out of its list, or undefined when none is
   * due: `processTimers(now)` peeking the first list, then `listOnTimeout(list, now)`.
   * A list whose first timer is not due yet is rescheduled on the way, with a new `id`.
   *
   * @param {number} now the clock.
   * @returns {object | undefined} the timer; run `timer.callback(...timer.args)`, then `finish`.
   */
  take(now) {
    for (;;) {
      const list = this.#first();
      if (list === undefined || list.expiry > now) return undefined;
      if (this.#reschedule(list, now)) continue;
      const timer = list.timers.shift();
      timer.cleared = true;
      return timer;
    }
  }

  /**
   * What Node does the moment a timer's callback returns, before any microtask: it peeks
   * the same list again, removes it if it is empty (unless the callback replaced it), and
   * reschedules it if its next timer is not due. A timer of the same duration set by
   * the callback therefore joins this list and takes its new `id` now.
   *
   * @param {object} timer the timer `take` returned.
   * @param {number} now the clock.
   */
  finish(timer, now) {
    const list = timer.list;
    if (list.timers.length === 0) {
      if (this.#lists.get(list.duration) === list) this.#lists.delete(list.duration);
      return;
    }
    this.#reschedule(list, now);
  }

  /** Reschedules `list` if its first timer is not due at `now`; true if it did. */
  #reschedule(list, now) {
    const first = list.timers[0];
    if (now - first.start >= list.duration) return false;
    list.expiry = Math.max(first.start + list.duration, now + 1);
    list.id = this.#ids++;
    return true;
  }
}

// The waits of a queue, for the deadlock message (not part of the public API).
const WAITING = Symbol("waiting");

/**
 * What `emit(value)`'s promise rejects with when the consumer calls `return()` while the
 * generator waits at that `emit`: see `World.generator`. One object for every generator;
 * `world.generator` swallows it when it comes out of the body, so it never reaches a
 * scenario's catch or the trace.
 */
const GENERATOR_CLOSED = Object.freeze(Object.assign(new Error("return() was called: the generator is closing"), {
  name: "GeneratorClosed",
}));

/**
 * The async iterator `World.generator` returns: `next`, `return` and `throw` behave as a
 * native async generator's (ECMA-262 "AsyncGenerator Objects"), with the body a function
 * returning a promise chain instead of an `async function*` body.
 *
 * States: "start" (made, the body not yet run), "running" (the body is computing the
 * answer to the first queued request), "suspended" (the body waits at an `emit`),
 * "done". Requests queue up and are answered in order, one at a time, as a native async
 * generator's are; `return()` or `throw()` in "start" finishes the generator without
 * running the body (so its finally blocks never run either).
 */
class PromiseGenerator {
  #state = "start";
  #requests = []; // {kind: "next" | "return" | "throw", value, resolve, reject}; the first is in flight while running
  #body;
  #resume = null; // the resolve/reject of the promise the body waits on (its last emit)
  #returnValue = undefined;

  constructor(body) {
    this.#body = body;
  }

  /** The next value: `{ value, done: false }`, or `{ value: undefined, done: true }` at the end. */
  next(value) {
    return this.#request("next", value);
  }

  /** Closes the generator: the body leaves its `emit` as if by `return`, running its finally handlers. */
  return(value) {
    return this.#request("return", value);
  }

  /** Throws `error` into the body at its `emit`. */
  throw(error) {
    return this.#request("throw", error);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  #request(kind, value) {
    return new Promise((resolve, reject) => {
      this.#requests.push({ kind, value, resolve, reject });
      if (this.#state !== "running") this.#serve();
    });
  }

  /** Answers queued requests until one sets the body running, or none is left. */
  #serve() {
    while (this.#state !== "running" && this.#requests.length > 0) {
      const request = this.#requests[0];
      if (this.#state === "start" && request.kind !== "next") this.#state = "done";
      if (this.#state === "done") {
        this.#requests.shift();
        if (request.kind === "throw") request.reject(request.value);
        else request.resolve({ value: request.kind === "return" ? request.value : undefined, done: true });
      } else if (this.#state === "start") {
        this.#state = "running";
        this.#run();
      } else {
        this.#state = "running";
        const resume = this.#resume;
        this.#resume = null;
        if (request.kind === "next") {
          resume.resolve(request.value);
        } else if (request.kind === "return") {
          this.#returnValue = request.value;
          resume.reject(GENERATOR_CLOSED);
        } else {
          resume.reject(request.value);
        }
      }
    }
  }

  /** Runs the body (synchronously, as a native generator's first next() does). */
  #run() {
    const emit = (value) => new Promise((resolve, reject) => {
      if (this.#state !== "running") throw new Error("emit() was called while the generator was not running");
      this.#resume = { resolve, reject };
      this.#state = "suspended";
      this.#requests.shift().resolve({ value, done: false });
      this.#serve(); // a request already queued resumes the body at once
    });
    emit.closed = GENERATOR_CLOSED;
    let chain;
    try {
      chain = Promise.resolve(this.#body(emit));
    } catch (error) {
      chain = Promise.reject(error);
    }
    chain.then(
      () => this.#finish((request) => request.resolve({ value: undefined, done: true })),
      (error) => this.#finish((request) => (error === GENERATOR_CLOSED
        ? request.resolve({ value: this.#returnValue, done: true })
        : request.reject(error))),
    );
  }

  /** The body has ended: answer the request in flight, then the rest (all "done"). */
  #finish(answer) {
    // A body whose chain ends while it waits at an emit (it did not chain that emit's
    // promise) has no request in flight: the queued ones are answered as done.
    const request = this.#state === "running" ? this.#requests.shift() : undefined;
    this.#state = "done";
    this.#resume = null;
    if (request !== undefined) answer(request);
    this.#serve();
  }
}

/** See `World.resource`. */
class Resource {
  #name;
  #hooks;

  constructor(name, hooks) {
    this.#name = name;
    this.#hooks = hooks;
  }

  /** The resource's name, as in the trace. */
  get name() {
    return this.#name;
  }

  /**
   * Opens the resource: after `open` virtual ms records `open` with the arguments and
   * resolves to a ResourceHandle.
   *
   * @param {...*} args recorded in the trace.
   * @returns {Promise<ResourceHandle>}
   */
  open(...args) {
    return this.#hooks.open(args);
  }
}

/**
 * One opening of a resource, what `resource.open(...)` resolves to. `value` is what a
 * scenario binds and sees: the string `"connection#1"` (the resource's name, `#`, and a
 * count of its opens in the run from 1), exactly Python's `async with ... as conn`
 * value. The handle itself is kept apart from it, since it also carries `close()`;
 * should it reach a log or an argument anyway, it is written as its value (`toJSON`,
 * `toString`).
 */
class ResourceHandle {
  #close;
  #closing = null;

  constructor(resource, value, close) {
    /** The resource's name. @type {string} */
    this.resource = resource;
    /** The handle's value: `"connection#1"`. @type {string} */
    this.value = value;
    this.#close = close;
    Object.freeze(this);
  }

  /**
   * Closes it: after `close` virtual ms records `close`. A second call gives the first
   * call's promise (one close, one event).
   *
   * @returns {Promise<void>}
   */
  close() {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  // [Symbol.asyncDispose]() is defined below the class, where the runtime has the symbol.

  toJSON() {
    return this.value;
  }

  toString() {
    return this.value;
  }
}

// `await using handle = await connection.open("db");` (Node 24+; the js-async target
// renders a using step this way where the compiling Node supports it) disposes the handle at
// the end of its block: `[Symbol.asyncDispose]()` is `close()`, the same promise, so the
// close starts at the same instant and is awaited as `await handle.close()` would be.
// Defined only where the symbol exists (Node 20 and 22 have it, without the syntax), so
// an older runtime gets no method named "undefined".
if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(ResourceHandle.prototype, Symbol.asyncDispose, {
    value: function asyncDispose() {
      return this.close();
    },
    writable: true,
    configurable: true,
  });
}

/**
 * A wait in asyncio's first-come-first-served line, for a Semaphore's slot or a Lock:
 * taken at once (`take()`) when `isFree()` and nobody waits; else the wait joins
 * `waiters`, and a release calls the first of them. With an AbortSignal (a timeout's
 * deadline), a wait that is aborted leaves the line and rejects with `signal.reason`,
 * as a task cancelled at `acquire()` leaves asyncio's; a signal already aborted rejects
 * at once. Fulfils with true, as asyncio's `acquire()` returns True.
 *
 * @param {Array<() => void>} waiters the line, first come first.
 * @param {AbortSignal | undefined} signal
 * @param {() => boolean} isFree
 * @param {() => void} take
 * @returns {Promise<true>}
 */
function waitInLine(waiters, signal, isFree, take) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    if (isFree() && waiters.length === 0) {
      take();
      resolve(true);
      return;
    }
    const onAbort = () => {
      const index = waiters.indexOf(wake);
      if (index >= 0) waiters.splice(index, 1);
      reject(signal.reason);
    };
    const wake = () => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    };
    waiters.push(wake);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** See `World.semaphore`. */
class Semaphore {
  #free;
  #waiters = [];
  #kitCall;

  constructor(limit, kitCall) {
    this.#free = limit;
    this.#kitCall = kitCall;
  }

  /**
   * Runs `fn` when a slot is free (at once if one is and nobody waits), releasing the
   * slot when its promise settles.
   *
   * With an AbortSignal (a timeout's deadline), the wait for a slot is abortable, as a
   * Web Locks request with a `signal` is: when the signal aborts while `fn` waits for
   * its turn, the wait leaves the line and the promise rejects with `signal.reason`
   * (asyncio cancels a task waiting at its semaphore the same way); a signal already
   * aborted rejects at once. Either way `fn` never runs. Once `fn` has started, the
   * signal is `fn`'s business (the generated code hands it to the call as well).
   *
   * @param {() => *} fn
   * @param {AbortSignal} [signal]
   * @returns {Promise<*>} what fn's promise settles with.
   */
  use(fn, signal) {
    this.#kitCall();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const run = () => {
        signal?.removeEventListener("abort", onAbort);
        let result;
        try {
          result = Promise.resolve(fn());
        } catch (error) {
          result = Promise.reject(error);
        }
        // Released before the caller hears of it: the next waiter starts first, as the
        // woken asyncio task runs before the gather that awaited this one.
        result.then(
          (value) => {
            this.#release();
            resolve(value);
          },
          (error) => {
            this.#release();
            reject(error);
          },
        );
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(run);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal.reason);
      };
      if (this.#free > 0 && this.#waiters.length === 0) {
        this.#free -= 1;
        run();
      } else {
        this.#waiters.push(run);
        signal?.addEventListener("abort", onAbort, { once: true });
      }
    });
  }

  /**
   * Takes a slot, for a hold step (`async with semaphore:`): at once when one is free and
   * nobody waits, else after the waiters before this one, first come first served, as
   * asyncio.Semaphore's `acquire()` (Lib/asyncio/locks.py). Fulfils with true. With an
   * AbortSignal, an aborted wait leaves the line and rejects with `signal.reason`, as a
   * task cancelled in `acquire()` leaves asyncio's; the slot is not taken.
   *
   * @param {AbortSignal} [signal]
   * @returns {Promise<true>}
   */
  acquire(signal) {
    this.#kitCall();
    return waitInLine(this.#waiters, signal, () => this.#free > 0, () => {
      this.#free -= 1;
    });
  }

  /** Gives a slot back: the first waiter, if any, takes it. */
  release() {
    this.#kitCall();
    this.#release();
  }

  #release() {
    const next = this.#waiters.shift();
    if (next === undefined) this.#free += 1;
    else next(); // the slot passes straight to the first waiter
  }

  [WAITING]() {
    return this.#waiters.length > 0 ? [`${this.#waiters.length} wait(s) on a semaphore with no slot free`] : [];
  }
}

/** See `World.queue`. */
class Queue {
  #items = [];
  #getters = [];
  #putters = [];
  #joiners = [];
  #unfinished = 0;
  #shutDown = false;
  #size;
  #hooks;

  constructor(size, hooks) {
    this.#size = size;
    this.#hooks = hooks;
  }

  /** The bound, or null when unbounded. */
  get size() {
    return this.#size;
  }

  /** How many values the queue holds. */
  get length() {
    return this.#items.length;
  }

  /**
   * Puts a value in, waiting while the queue is full; wakes one waiting getter.
   * Rejects with QueueShutDown once the queue is shut down.
   *
   * @param {*} value
   * @returns {Promise<void>}
   */
  put(value) {
    this.#hooks.kitCall();
    return this.#put(value);
  }

  /**
   * Takes the oldest value out, waiting while the queue is empty; wakes one waiting putter.
   * Rejects with QueueShutDown when the queue is shut down and empty.
   *
   * @returns {Promise<*>}
   */
  get() {
    this.#hooks.kitCall();
    return this.#get();
  }

  /**
   * Puts a value in at once (asyncio's `put_nowait`); throws QueueFull when the queue is
   * full, QueueShutDown once it is shut down.
   *
   * @param {*} value
   */
  putNowait(value) {
    this.#hooks.kitCall();
    this.#putNowait(value);
  }

  /**
   * Takes the oldest value out at once (asyncio's `get_nowait`); throws QueueEmpty when
   * there is none, QueueShutDown when the queue is shut down and empty.
   *
   * @returns {*}
   */
  getNowait() {
    this.#hooks.kitCall();
    return this.#getNowait();
  }

  /**
   * Marks one value taken out as handled (asyncio's `task_done`); when every value put
   * in has been, the waiting `join()`s go on. More calls than values put throw an Error
   * named ValueError, with asyncio's message.
   */
  taskDone() {
    this.#hooks.kitCall();
    if (this.#unfinished <= 0) {
      const error = new Error("task_done() called too many times");
      error.name = "ValueError";
      throw error;
    }
    this.#unfinished -= 1;
    // asyncio's Event.set: every waiter is woken, in the order it began to wait.
    if (this.#unfinished === 0) for (const resume of this.#joiners.splice(0)) resume();
  }

  /**
   * Waits until every value put in has been marked handled by `taskDone()`; at once
   * when none is pending.
   *
   * @returns {Promise<void>}
   */
  join() {
    this.#hooks.kitCall();
    return this.#join();
  }

  /**
   * Shuts the queue down (asyncio's `shutdown`, CPython 3.13): puts throw QueueShutDown
   * from now on, gets once the queue is empty (at once with `immediate`, which also
   * drops the values held and marks them handled). Every waiting put and get is woken,
   * to find the queue shut.
   *
   * @param {boolean} [immediate]
   */
  shutdown(immediate = false) {
    this.#hooks.kitCall();
    this.#shutDown = true;
    if (immediate) {
      while (this.#items.length > 0) {
        this.#items.shift();
        if (this.#unfinished > 0) this.#unfinished -= 1;
      }
      if (this.#unfinished === 0) for (const resume of this.#joiners.splice(0)) resume();
    }
    for (const resume of this.#getters.splice(0)) resume();
    for (const resume of this.#putters.splice(0)) resume();
  }

  // asyncio.Queue's methods, line for line (CPython 3.13's Lib/asyncio/queues.py): wait
  // while full (empty), then do it and wake the next waiter of the other side. A woken
  // waiter's promise is resolved, so it goes on in a microtask, as JavaScript code
  // waiting on a promise does; it checks again, since a value may have been taken
  // meanwhile.
  async #put(value) {
    while (this.#size !== null && this.#items.length >= this.#size) {
      if (this.#shutDown) throw this.#error("QueueShutDown");
      await this.#wait(this.#putters);
    }
    this.#putNowait(value);
  }

  async #get() {
    while (this.#items.length === 0) {
      if (this.#shutDown) throw this.#error("QueueShutDown");
      await this.#wait(this.#getters);
    }
    return this.#getNowait();
  }

  async #join() {
    if (this.#unfinished > 0) await this.#wait(this.#joiners);
  }

  #putNowait(value) {
    if (this.#shutDown) throw this.#error("QueueShutDown");
    if (this.#size !== null && this.#items.length >= this.#size) throw this.#error("QueueFull");
    this.#items.push(value);
    this.#unfinished += 1;
    this.#wakeNext(this.#getters);
  }

  #getNowait() {
    if (this.#items.length === 0) throw this.#error(this.#shutDown ? "QueueShutDown" : "QueueEmpty");
    const value = this.#items.shift();
    this.#wakeNext(this.#putters);
    return value;
  }

  /** The world's class of that kind, with asyncio's empty message. */
  #error(kind) {
    const Kind = this.#hooks.errorKind(kind);
    return new Kind("");
  }

  #wait(waiters) {
    return new Promise((resolve) => waiters.push(resolve));
  }

  #wakeNext(waiters) {
    const resume = waiters.shift();
    if (resume !== undefined) resume();
  }

  [WAITING]() {
    const bound = this.#size === null ? "an unbounded queue" : `a queue of size ${this.#size}`;
    const waits = [];
    if (this.#getters.length > 0) waits.push(`${this.#getters.length} get(s) on ${bound}`);
    if (this.#putters.length > 0) waits.push(`${this.#putters.length} put(s) on ${bound} holding ${this.#items.length}`);
    if (this.#joiners.length > 0) waits.push(`${this.#joiners.length} join(s) on ${bound} with ${this.#unfinished} value(s) not marked done`);
    return waits;
  }
}

/**
 * See `World.event`: asyncio.Event, line for line (Lib/asyncio/locks.py, the same in
 * CPython 3.10 to 3.13).
 */
class Event {
  #value = false;
  #waiters = [];
  #kitCall;

  constructor(kitCall) {
    this.#kitCall = kitCall;
  }

  /** Whether the event is set. */
  isSet() {
    this.#kitCall();
    return this.#value;
  }

  /** Sets the event: every waiter goes on, in the order it began to wait. */
  set() {
    this.#kitCall();
    if (this.#value) return;
    this.#value = true;
    for (const resume of this.#waiters.splice(0)) resume();
  }

  /** Clears the event: a later `wait()` waits until the next `set()`. */
  clear() {
    this.#kitCall();
    this.#value = false;
  }

  /**
   * Waits until the event is set (at once when it is); fulfils with true, as asyncio's
   * `wait()` returns True.
   *
   * @returns {Promise<true>}
   */
  wait() {
    this.#kitCall();
    return this.#wait();
  }

  async #wait() {
    if (this.#value) return true;
    await new Promise((resolve) => this.#waiters.push(resolve));
    return true;
  }

  [WAITING]() {
    return this.#waiters.length > 0 ? [`${this.#waiters.length} wait(s) on an event that is not set`] : [];
  }
}

/**
 * See `World.lock`: asyncio.Lock (Lib/asyncio/locks.py, the same in CPython 3.10 to
 * 3.13). asyncio's `release()` wakes the first waiter, which takes the lock when it
 * runs; a task that asks in between waits behind it, since a waiter not cancelled is
 * still in line. Handing the lock straight to the first waiter is the same order.
 */
class Lock {
  #locked = false;
  #waiters = [];
  #kitCall;

  constructor(kitCall) {
    this.#kitCall = kitCall;
  }

  /** Whether the lock is held. */
  locked() {
    this.#kitCall();
    return this.#locked;
  }

  /**
   * Takes the lock: at once when it is free and nobody waits, else after the waiters
   * before this one, first come first served. Fulfils with true, as asyncio's
   * `acquire()` returns True.
   *
   * With an AbortSignal (a timeout's deadline), a wait that is aborted leaves the line
   * and rejects with `signal.reason`, as a task cancelled at `acquire()` leaves
   * asyncio's; a signal already aborted rejects at once. Either way the lock is not taken.
   *
   * @param {AbortSignal} [signal]
   * @returns {Promise<true>}
   */
  acquire(signal) {
    this.#kitCall();
    return waitInLine(this.#waiters, signal, () => !this.#locked, () => {
      this.#locked = true;
    });
  }

  /**
   * Runs `fn` holding the lock, as the semaphore's `use` does: acquires (with the
   * signal, if any), calls `fn`, and releases once its promise settles, whichever way,
   * a synchronous throw included. A hold under a deadline in the promise chains is
   * rendered with it, since an aborted acquire holds nothing to release.
   *
   * @param {() => *} fn
   * @param {AbortSignal} [signal]
   * @returns {Promise<*>} what fn's promise settles with.
   */
  use(fn, signal) {
    return this.acquire(signal).then(() => {
      let result;
      try {
        result = Promise.resolve(fn());
      } catch (error) {
        result = Promise.reject(error);
      }
      return result.finally(() => this.release());
    });
  }

  /**
   * Releases the lock: the first waiter, if any, holds it next. Releasing a lock that is
   * not held throws (asyncio raises RuntimeError); the generated code never does it.
   */
  release() {
    this.#kitCall();
    if (!this.#locked) throw new Error("Lock is not acquired.");
    const next = this.#waiters.shift();
    if (next === undefined) this.#locked = false;
    else next(); // the lock stays held: it passes to the first waiter
  }

  [WAITING]() {
    return this.#waiters.length > 0 ? [`${this.#waiters.length} wait(s) on a lock that is held`] : [];
  }
}

/**
 * One scenario's world: its virtual clock, timers, error kinds, operations, resources
 * and trace, the kit's own semaphore and queue (JavaScript has neither), and
 * `generator`, an async generator for code written without `async function*`.
 *
 * Only the clock is fake. The program's promises, microtasks and `await`s are Node's
 * own; the world replaces the timers only, with `NodeTimerLists` on a virtual clock that
 * moves when nothing is left to run (a real `setImmediate` callback runs only once
 * every microtask has drained). It runs one timer per such quiescence point, in the
 * order Node would, so the microtasks a timer's callback starts all run before the next
 * timer, as in Node (`runNextTicks` between timers, lib/internal/timers.js).
 *
 * An unhandled rejection ends the program as Node's default does
 * (`--unhandled-rejections=throw`, the default since Node 15): the trace gets an
 * `unhandled` event and the outcome's result is `{uncaught: ERROR}`; nothing after it
 * runs.
 *
 * `log`, `setTimeout`, `clearTimeout` and `now` are bound to the world, so generated code
 * may destructure them: `const { log, setTimeout, clearTimeout } = world;`.
 *
 * One `run` per world; runs of different worlds in one process must not overlap, since
 * unhandled rejections are reported process-wide.
 */
export class World {
  #id;
  #limits;
  #now = 0;
  #timers = new NodeTimerLists();
  #publicTimers = new Map();
  #real = null; // {scale, origin}: runAndPrint on real time (ASYNCPARITY_REAL_TIME)
  #nextTimerId = 1;
  #kinds = new Map();
  #trace = [];
  #pendingCalls = new Set();
  #queues = [];
  #opened = new Map();
  #mainPending = false;
  #result = null;
  #frozen = false;
  #started = false;
  #stop = null;
  #firings = 0;
  #turns = 0;
  #maxTurns = 0;
  #deadline = Infinity; // realPerformanceNow() past which the run is a runaway

  /** The most events a run records (`MAX_EVENTS`); a test may lower it before `run`. */
  maxEvents = MAX_EVENTS;

  /** The most wall-clock seconds a run takes (`WALL_CLOCK_SECONDS`; null: no bound); a test may lower it before `run`. */
  wallClockSeconds = WALL_CLOCK_SECONDS;

  /**
   * Whether `run` puts the virtual clock on globalThis for its length (setTimeout,
   * clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, Date.now,
   * performance.now, AbortSignal.timeout) and reports reads of process.hrtime: a scenario that calls the user's own code sets it (issue 12), for that code's
   * timers and clock reads are the ones it finds there.
   */
  globals = false;

  #immediates = [];

  /**
   * @param {string} scenarioId the scenario's id, used in every message.
   * @param {{virtual_time?: number, timer_firings?: number, turns_per_instant?: number}} [limits]
   *   the runaway bounds (the IR's `limits`); a missing bound takes its default
   *   (3600000 ms, 10000 firings, 1000 turns).
   */
  constructor(scenarioId, limits) {
    this.#id = String(scenarioId);
    const merged = { ...DEFAULT_LIMITS };
    for (const key of Object.keys(DEFAULT_LIMITS)) {
      const value = limits?.[key];
      if (value === undefined || value === null) continue;
      if (typeof value !== "number" || !(value >= 0)) {
        throw new TypeError(`limits.${key} must be a number >= 0, got ${JSON.stringify(value)}`);
      }
      merged[key] = value;
    }
    this.#limits = Object.freeze(merged);
    this.log = this.log.bind(this);
    this.setTimeout = this.setTimeout.bind(this);
    this.clearTimeout = this.clearTimeout.bind(this);
    this.now = this.now.bind(this);
  }

  /**
   * The world handed to the user's code (issue 12): one method per operation, as
   * `operations` names them (camelCase), returning its promise. An AbortSignal as the
   * last argument cancels the call, as the operations take it; so does a last argument
   * `{ signal }` (an object with only that key), the way `fetch(url, { signal })` takes
   * it; `{ signal: undefined }` or a last `undefined` (a signal passed on that the caller
   * never had) is no argument. Plus `log(text)` and `now()` (virtual ms).
   *
   * @param {Record<string, (...args: *[]) => Promise<*>>} operations by JavaScript name.
   * @returns {object}
   */
  api(operations) {
    const api = { log: this.log, now: this.now };
    for (const [name, op] of Object.entries(operations)) {
      api[name] = (...args) => {
        const last = args[args.length - 1];
        const options = last !== null && typeof last === "object" && Object.getPrototypeOf(last) === Object.prototype
          && Object.keys(last).length === 1 && "signal" in last && (last.signal === undefined || last.signal instanceof AbortSignal);
        // No signal (`{ signal: undefined }`, or `signal` passed on while undefined) is no argument.
        if (options || (args.length > 0 && last === undefined)) args.pop();
        if (options && last.signal !== undefined) args.push(last.signal);
        return op(...args);
      };
    }
    return Object.freeze(api);
  }

  /**
   * A repeating timer, as Node's `setInterval`: every `ms` (as `setTimeout` makes it),
   * rescheduled before the callback runs, so a `clearInterval` in the callback stops it.
   *
   * @param {Function} callback
   * @param {number} [ms]
   * @param {...*} args
   * @returns {number} an id for `clearInterval` (or `clearTimeout`: Node shares them).
   */
  setInterval(callback, ms, ...args) {
    if (typeof callback !== "function") {
      throw new TypeError(`setInterval needs a function, got ${typeof callback}`);
    }
    this.#kitCall();
    const id = this.#nextTimerId++;
    const tick = () => {
      this.#publicTimers.set(id, this.#schedule(ms, tick, []));
      callback(...args);
    };
    this.#publicTimers.set(id, this.#schedule(ms, tick, []));
    return id;
  }

  /**
   * A callback at this instant, after the microtasks, as Node's `setImmediate`; the
   * virtual clock does not move for it, and immediates run first come, first served,
   * before the timers due at the same instant.
   *
   * @param {Function} callback
   * @param {...*} args
   * @returns {object} a handle for `clearImmediate`.
   */
  setImmediate(callback, ...args) {
    if (typeof callback !== "function") {
      throw new TypeError(`setImmediate needs a function, got ${typeof callback}`);
    }
    this.#kitCall();
    if (this.#real !== null) return realSetImmediate(callback, ...args);
    const immediate = { callback, args };
    this.#immediates.push(immediate);
    return immediate;
  }

  /** Cancels an immediate made by `setImmediate`; anything else is ignored. */
  clearImmediate(immediate) {
    if (this.#real !== null) {
      realClearImmediate(immediate);
      return;
    }
    const index = this.#immediates.indexOf(immediate);
    if (index >= 0) this.#immediates.splice(index, 1);
  }

  /**
   * An AbortSignal that aborts `ms` virtual ms from now with a DOMException named
   * "TimeoutError", as Node's `AbortSignal.timeout` does on the real clock.
   *
   * @param {number} ms
   * @returns {AbortSignal}
   */
  abortSignalTimeout(ms) {
    const controller = new AbortController();
    this.setTimeout(() => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
    return controller.signal;
  }

  /**
   * Puts the virtual clock on globalThis (see `globals`) and `process.hrtime` in report
   * mode; returns what puts the originals back. The way @sinonjs/fake-timers installs
   * its clock: own properties replaced, then restored (or deleted where there was none).
   */
  #installGlobals() {
    const world = this;
    const hrtime = process.hrtime;
    const readReal = (what) => function readRealClock(...args) {
      world.#realClockRead(what, new Error().stack);
      return what === "process.hrtime.bigint()" ? hrtime.bigint() : hrtime(...args);
    };
    const reportingHrtime = Object.assign(readReal("process.hrtime()"), { bigint: readReal("process.hrtime.bigint()") });
    // Node's timers return a Timeout object that libraries call .unref() on: the handle has
    // ref/unref/hasRef (no effect: a virtual run goes on while a timer is pending) and
    // converts to the id, which the clear functions take too.
    const handle = (id) => ({ ref() { return this; }, unref() { return this; }, hasRef: () => true, [Symbol.toPrimitive]: () => id });
    const clear = (timer) => this.clearTimeout(timer !== null && typeof timer === "object" ? Number(timer) : timer);
    const replacements = [
      [globalThis, "setTimeout", (callback, ms, ...args) => handle(this.setTimeout(callback, ms, ...args))],
      [globalThis, "clearTimeout", clear],
      [globalThis, "setInterval", (callback, ms, ...args) => handle(this.setInterval(callback, ms, ...args))],
      [globalThis, "clearInterval", clear],
      [globalThis, "setImmediate", (callback, ...args) => this.setImmediate(callback, ...args)],
      [globalThis, "clearImmediate", (immediate) => this.clearImmediate(immediate)],
      [Date, "now", this.now],
      [performance, "now", this.now],
      [AbortSignal, "timeout", (ms) => this.abortSignalTimeout(ms)],
      [process, "hrtime", reportingHrtime],
    ];
    const saved = replacements.map(([owner, key, value]) => {
      const own = Object.getOwnPropertyDescriptor(owner, key);
      Object.defineProperty(owner, key, { value, writable: true, configurable: true, enumerable: own?.enumerable ?? false });
      return [owner, key, own];
    });
    return () => {
      for (const [owner, key, own] of saved.reverse()) {
        if (own === undefined) delete owner[key];
        else Object.defineProperty(owner, key, own);
      }
    };
  }

  /**
   * Code read the real clock (`process.hrtime`) during a run with `globals`: the run
   * fails, naming the first frame in a file of the caller's (neither Node's own nor this
   * runtime's; the generated code never reads it): `client.mjs:12` (issue 12).
   */
  #realClockRead(what, stack) {
    const runtime = fileURLToPath(import.meta.url);
    for (const frame of String(stack).split("\n").slice(2)) {
      const match = /(?:^at |\()((?:file:\/\/)?\/[^()]*?):(\d+):\d+\)?$/.exec(frame.trim());
      if (match === null) continue;
      const file = match[1].startsWith("file:") ? fileURLToPath(match[1].replace(/\?.*$/, "")) : match[1];
      if (file === runtime) continue;
      // Named as every crash is, and as the Python target words it (asyncparity_runtime.py).
      this.#halt("crash", `crash: scenario '${this.#id}': user code read the real clock: ${what} at ${basename(file)}:${match[2]}`);
      return;
    }
  }

  /**
   * The class of one error kind: extends ScenarioError, `name` is `kind`, instances carry
   * `kind` and `message`. The same class is returned for the same kind in one world, so
   * operations failing with the kind and `catch` clauses testing for it agree.
   *
   * @param {string} kind e.g. "IOError".
   * @returns {typeof ScenarioError} the error class.
   */
  errorKind(kind) {
    let cls = this.#kinds.get(kind);
    if (cls === undefined) {
      // A computed key names the class after the kind, for stack traces and `show`.
      cls = { [kind]: class extends ScenarioError {} }[kind];
      Object.defineProperty(cls.prototype, "name", {
        value: kind, writable: true, configurable: true,
      });
      this.#kinds.set(kind, cls);
    }
    return cls;
  }

  /**
   * A simulated operation. Each call records `start` with its arguments synchronously,
   * takes the next outcome (the last one repeats), waits `latency` virtual ms (a list: the
   * next one, counted and repeating as the outcomes are), then
   * records `end` (value) or `fail` (error) and fulfils or rejects its promise with the
   * value or an instance of the kind's class.
   *
   * Cancellation: the AbortSignal is how JavaScript asks an operation to stop (as
   * `fetch(url, { signal })` does). When the last argument of a call is an AbortSignal,
   * it is the call's signal, not one of its arguments (the trace does not show it).
   * What an abort does is `onCancel`'s choice (the IR's `on_cancel`):
   * - "stop" (the default): at the abort the operation clears its timer, records
   *   `cancel` at that instant and rejects with a DOMException named "AbortError"
   *   (message "This operation was aborted", what `controller.abort()` gives). A signal
   *   already aborted when the call starts: `start`, then `cancel` at once (a listener
   *   added to an aborted signal would never fire, so the signal is checked first).
   * - "ignore": the signal is never looked at; the operation ends as usual.
   *
   * @param {string} name the operation's name, as in the trace.
   * @param {{latency: number | number[], outcomes: Array<{returns: *} | {fails: {kind: string, message: string}}>, onCancel?: "stop" | "ignore"}} spec
   * @returns {(...args: *[]) => Promise<*>} the operation.
   */
  operation(name, { latency, outcomes, onCancel = "stop" }) {
    if (!Array.isArray(outcomes) || outcomes.length === 0) {
      throw new TypeError(`operation '${name}' needs at least one outcome`);
    }
    const latencies = Array.isArray(latency) ? latency : [latency];
    if (latencies.length === 0 || !latencies.every((ms) => typeof ms === "number" && ms >= 0)) {
      throw new TypeError(`operation '${name}' needs a latency >= 0, or a non-empty list of them, got ${JSON.stringify(latency)}`);
    }
    if (onCancel !== "stop" && onCancel !== "ignore") {
      throw new TypeError(`operation '${name}': onCancel is "stop" or "ignore", got ${JSON.stringify(onCancel)}`);
    }
    let calls = 0;
    const op = (...args) => {
      this.#kitCall();
      const signal = args.length > 0 && args[args.length - 1] instanceof AbortSignal ? args.pop() : null;
      const watch = signal !== null && onCancel === "stop";
      const outcome = outcomes[Math.min(calls, outcomes.length - 1)];
      const delay = latencies[Math.min(calls, latencies.length - 1)]; // as the outcomes: the last one repeats
      calls += 1;
      const pending = { name, args: args.map(toJson), since: this.#time() };
      this.#record({ t: this.#time(), event: "start", op: name, args: pending.args });
      this.#pendingCalls.add(pending);
      return new Promise((resolve, reject) => {
        let timer = null;
        const cancel = () => {
          this.#pendingCalls.delete(pending);
          if (timer !== null) this.#unschedule(timer);
          this.#record({ t: this.#time(), event: "cancel", op: name });
          // What fetch does: reject with the signal's reason (an AbortError DOMException
          // for a plain abort(), whatever was passed to abort(reason) otherwise).
          reject(signal.reason);
        };
        if (watch && signal.aborted) {
          cancel();
          return;
        }
        timer = this.#schedule(delay, () => {
          if (watch) signal.removeEventListener("abort", cancel);
          this.#pendingCalls.delete(pending);
          if (outcome.fails !== undefined) {
            const Kind = this.errorKind(outcome.fails.kind);
            const error = new Kind(outcome.fails.message);
            this.#record({ t: this.#time(), event: "fail", op: name, error: errorRecord(error) });
            reject(error);
          } else {
            // Every call gets its own copy, as a real operation returns fresh data.
            const value = toJson(outcome.returns);
            this.#record({ t: this.#time(), event: "end", op: name, value: toJson(value) });
            resolve(value);
          }
        }, []);
        // `abort()` dispatches its event synchronously: the cancel is recorded at the
        // instant of the abort, before the code after `abort()` runs.
        if (watch) signal.addEventListener("abort", cancel, { once: true });
      });
    };
    // Name the function after the operation, for stack traces.
    Object.defineProperty(op, "name", { value: name });
    return op;
  }

  /**
   * A simulated resource, opened and closed around a block (the scenario's `using`;
   * Python's `async with`). `open(...args)` waits `open` virtual ms on a timer (one even
   * for 0 ms), then records `open` with the arguments and resolves to a ResourceHandle:
   * `handle.value` is the bound value, `"connection#1"`, counted per resource in the run
   * when the open completes; `handle.close()` waits `close` ms, then records `close`.
   * The generated code keeps the two apart and closes in a finally, so the close happens
   * whatever ends the block and an error goes on after it:
   *
   *     const connectionHandle = await connection.open("db");
   *     try {
   *       const conn = connectionHandle.value; // "connection#1"
   *       ...
   *     } finally {
   *       await connectionHandle.close();
   *     }
   *
   * The handle is also async-disposable (`[Symbol.asyncDispose]()` is `close()`, where the
   * runtime has the symbol), so where the compiling Node has the syntax (24+; a syntax
   * error on Node 20 and 22) the js-async target says the same in a block of its own:
   *
   *     {
   *       // await using (Node 24+): disposed at the end of this block
   *       await using connectionHandle = await connection.open("db");
   *       const conn = connectionHandle.value; // "connection#1"
   *       ...
   *     }
   *
   * @param {string} name the resource's name, as in the trace.
   * @param {{open: number, close: number}} spec virtual ms to open and to close, integers >= 0.
   * @returns {{name: string, open: (...args: *[]) => Promise<ResourceHandle>}}
   */
  resource(name, { open, close }) {
    for (const [label, ms] of [["open", open], ["close", close]]) {
      if (!Number.isInteger(ms) || ms < 0) {
        throw new TypeError(`resource '${name}': ${label} must be an integer >= 0 of virtual ms, got ${JSON.stringify(ms)}`);
      }
    }
    const wait = (ms, then) => {
      this.#kitCall();
      return new Promise((resolve) => {
        this.#schedule(ms, () => resolve(then()), []);
      });
    };
    return new Resource(name, {
      open: (args) => {
        const recorded = args.map(toJson);
        return wait(open, () => {
          const count = (this.#opened.get(name) ?? 0) + 1;
          this.#opened.set(name, count);
          this.#record({ t: this.#time(), event: "open", resource: name, args: recorded });
          return new ResourceHandle(name, `${name}#${count}`, () => wait(close, () => {
            this.#record({ t: this.#time(), event: "close", resource: name });
          }));
        });
      },
    });
  }

  /**
   * An async generator for code that cannot write `async function*` (the `js-promise`
   * target has no `async` keyword). `body(emit)` is the generator's body, returning a
   * promise chain; `emit(value)` is its `yield`: it hands `value` to the consumer's
   * `next()` and returns a promise that resolves when the consumer asks for the next
   * value. So `yield n` is written `emit(n).then(() => ...)`:
   *
   *     function ticks(count) {
   *       return world.generator((emit) => {
   *         const loop = (index) => {
   *           if (index < count) return emit(index).then(() => loop(index + 1));
   *           return Promise.resolve();
   *         };
   *         return loop(0).finally(() => log("ticks closed"));
   *       });
   *     }
   *
   * The result behaves as a native async generator object (ECMA-262): the body starts
   * at the first `next()`, synchronously; `next()`s queue up and are answered in order;
   * when the body's chain ends, `next()` gives `{ value: undefined, done: true }`, and
   * when it rejects, that `next()` rejects. `return()` while the body waits at an `emit`
   * closes it: that `emit`'s promise rejects with `emit.closed`, a private signal, so
   * the chain's `.finally` handlers run (and may wait), and once the chain has ended
   * the signal is swallowed and `return()` resolves `{ value, done: true }`. A `.catch`
   * that takes every error must throw `emit.closed` on, as a native `catch` never sees
   * a `return()`: `if (error === emit.closed) throw error;`. `return()` on a generator
   * that never started finishes it without running the body, so its finally handlers
   * never run (a native generator's `finally` does not either).
   *
   * @param {(emit: ((value: *) => Promise<*>) & {closed: Error}) => Promise<*>} body
   * @returns {AsyncGenerator} an async iterator: `next`, `return`, `throw`, `[Symbol.asyncIterator]`.
   */
  generator(body) {
    if (typeof body !== "function") throw new TypeError(`world.generator needs a function, got ${typeof body}`);
    return new PromiseGenerator(body);
  }

  /**
   * A counting semaphore for `map` with a limit: JavaScript has none built in, so this
   * is the kit's own, with asyncio.Semaphore's wake order (first come, first served;
   * bpo-45997 fixed CPython's barging). `use(fn)` waits for a slot, calls `fn`, and
   * releases the slot when fn's promise settles, whichever way. A release hands its slot
   * straight to the first waiter, whose `fn` starts at once: exactly one waiter is woken
   * per release, and a newcomer cannot take a slot while anyone waits. `use(fn, signal)`
   * (a `map` under a timeout) leaves the line when the signal aborts, and `fn` never runs.
   * A declared semaphore (`semaphores:`) is one too, held by a hold step with
   * `acquire(signal?)` and `release()`, in the same line as `use`.
   *
   * @param {number} limit how many `fn` may run at once, an integer >= 1.
   * @returns {Semaphore}
   */
  semaphore(limit) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`a semaphore needs a limit that is an integer >= 1, got ${JSON.stringify(limit)}`);
    }
    const semaphore = new Semaphore(limit, () => this.#kitCall());
    this.#queues.push(semaphore); // for the deadlock message, as a queue's waits
    return semaphore;
  }

  /**
   * An event shared by the tasks of a scenario (asyncio.Event; JavaScript has none):
   * `set()`, `clear()`, `isSet()` and `wait()`, a promise that fulfils once the event is
   * set. `set()` wakes every waiter, first come first served; each goes on in a
   * microtask, as a resolved promise's reaction does (an asyncio waiter at the loop's
   * next turn).
   *
   * @returns {Event}
   */
  event() {
    const event = new Event(() => this.#kitCall());
    this.#queues.push(event); // for the deadlock message, as a queue's waits
    return event;
  }

  /**
   * A lock shared by the tasks of a scenario (asyncio.Lock; JavaScript has none):
   * `acquire(signal?)`, a promise that fulfils once the lock is this caller's, first
   * come first served; `release()`; `locked()`. The generated code holds it for a
   * block: `await guard.acquire(); try { ... } finally { guard.release(); }`.
   *
   * @returns {Lock}
   */
  lock() {
    const lock = new Lock(() => this.#kitCall());
    this.#queues.push(lock); // for the deadlock message, as a queue's waits
    return lock;
  }

  /**
   * A queue shared by the tasks of a scenario: JavaScript has none that waits, so this is
   * the kit's own, with asyncio.Queue's semantics. `put(value)` waits while the queue is
   * full, `get()` while it is empty; waiters are served first come, first served, and
   * each put wakes one waiting getter, each get one waiting putter. A woken waiter's
   * promise is resolved, so it goes on in a microtask (where an asyncio task goes on at
   * the loop's next turn), and checks again: a value taken meanwhile sends it back to
   * the end of the line, as in asyncio. The rest of asyncio.Queue is there under its
   * JavaScript names: `putNowait`, `getNowait` (throwing the world's QueueFull and
   * QueueEmpty kinds), `taskDone`, `join` and `shutdown` (CPython 3.13's, with its
   * QueueShutDown).
   *
   * @param {number | null} [size] the bound; null (or 0, asyncio's maxsize=0) is unbounded.
   * @returns {Queue}
   */
  queue(size = null) {
    if (size !== null && (!Number.isInteger(size) || size < 0)) {
      throw new TypeError(`a queue's size is null (unbounded) or an integer >= 1, got ${JSON.stringify(size)}`);
    }
    const queue = new Queue(size || null, { kitCall: () => this.#kitCall(), errorKind: (kind) => this.errorKind(kind) });
    this.#queues.push(queue);
    return queue;
  }

  /**
   * Records a `log` event at the current virtual time.
   *
   * @param {*} message usually a string; any JSON value is recorded as is.
   */
  log(message) {
    this.#kitCall();
    this.#record({ t: this.#time(), event: "log", message: toJson(message) });
  }

  /**
   * A timer, as Node's `setTimeout`: `callback(...args)` runs `ms` later, where `ms` is
   * what Node makes of it (`nodeDelay`): below 1 ms, or not a number, it is 1 ms (so
   * `setTimeout(a, 1); setTimeout(b, 0)` runs a first), and a fraction is truncated.
   * Timers due in the same millisecond run in Node's order (`NodeTimerLists`).
   *
   * @param {Function} callback
   * @param {number} [ms] the delay in milliseconds.
   * @param {...*} args passed to `callback`.
   * @returns {number} an id for `clearTimeout`.
   */
  setTimeout(callback, ms, ...args) {
    if (typeof callback !== "function") {
      throw new TypeError(`setTimeout needs a function, got ${typeof callback}`);
    }
    this.#kitCall();
    const id = this.#nextTimerId++;
    const timer = this.#schedule(ms, (...values) => {
      this.#publicTimers.delete(id);
      callback(...values);
    }, args);
    this.#publicTimers.set(id, timer);
    return id;
  }

  /**
   * Cancels a timer made by `setTimeout`; an unknown or already fired id is ignored,
   * as in Node.
   *
   * @param {number} id
   */
  clearTimeout(id) {
    const timer = this.#publicTimers.get(id);
    if (timer === undefined) return;
    this.#publicTimers.delete(id);
    this.#unschedule(timer);
  }

  /**
   * @returns {number} the clock, integer milliseconds from 0 (on real time: the
   *   milliseconds of the slowed clock, rounded).
   */
  now() {
    return this.#time();
  }

  /**
   * Runs `main` on the virtual clock until nothing is left to do, and returns the
   * outcome of spec/PROTOCOL.md without `target`: `{status, result, trace, message,
   * stats}`. It never rejects: a failure of the runtime itself is status `crash`.
   *
   * The program ends as a Node process does: when no timer is left (work still running
   * after main settled shows in the trace), or at the first unhandled rejection, whose
   * outcome is `settled` with the result `{uncaught: ERROR}`.
   *
   * @param {() => (Promise<*> | *)} main the main workflow.
   * @returns {Promise<{status: string, result: object|null, trace: object[], message: string|null, stats: object}>}
   */
  async run(main) {
    let others = null;
    let restoreGlobals = null;
    const onUnhandled = (reason) => this.#uncaught(reason);
    try {
      if (this.#started) throw new Error("World.run was called twice on one world");
      this.#started = true;
      if (activeWorld !== null) {
        throw new Error("another World.run is in progress in this process; runs must not overlap");
      }
      activeWorld = this;
      // During the run the world owns 'unhandledRejection', so that the program's
      // unhandled rejection ends the run and not the host (node:test fails the current
      // test from its own listener; with no listener Node 15+ exits, nodejs/node#33021).
      // Node emits it once the microtasks have drained (processPromiseRejections), just
      // where it would raise the uncaught exception. The host's listeners come back after.
      others = process.rawListeners("unhandledRejection");
      process.removeAllListeners("unhandledRejection");
      process.on("unhandledRejection", onUnhandled);

      if (this.wallClockSeconds !== null) this.#deadline = realPerformanceNow() + this.wallClockSeconds * 1000;
      if (this.globals) restoreGlobals = this.#installGlobals();
      this.#start(main);

      for (;;) {
        // Quiescence: a real macrotask runs only once every microtask has drained, and
        // Node emits 'unhandledRejection' right after that drain (before the next
        // macrotask), so an uncaught rejection has stopped the run by now.
        await new Promise((resolve) => realSetImmediate(resolve));
        this.#checkWallClock();
        if (this.#stop !== null) break;
        if (this.#immediates.length > 0) {
          // One immediate a turn: the microtasks it queues drain before the next, as in Node 11+.
          if (!this.#countTurn()) break;
          const { callback, args } = this.#immediates.shift();
          try {
            callback(...args);
          } catch (error) {
            if (!(error instanceof RunawayError)) {
              const { kind, message } = errorRecord(error);
              this.#halt("crash", `crash: scenario '${this.#id}': an immediate threw ${kind}(${JSON.stringify(message)}) at ${this.#now} ms`);
            }
            break;
          }
          continue;
        }
        let timer = this.#timers.take(this.#now);
        if (timer === undefined) {
          const expiry = this.#timers.nextExpiry();
          if (expiry === undefined) {
            if (this.#mainPending) this.#halt("deadlock", this.#deadlockMessage());
            break;
          }
          if (expiry > this.#limits.virtual_time) {
            this.#halt("runaway", `runaway: scenario '${this.#id}' passed virtual time ${this.#limits.virtual_time} ms`);
            break;
          }
          if (this.#firings >= this.#limits.timer_firings) {
            this.#halt("runaway", `runaway: scenario '${this.#id}' passed ${this.#limits.timer_firings} timer firings`);
            break;
          }
          this.#now = expiry;
          this.#turns = 0;
          timer = this.#timers.take(this.#now);
          if (timer === undefined) continue; // the list was rescheduled: Node wakes, finds nothing due
        }
        if (!this.#countTurn()) break;
        this.#firings += 1;
        try {
          timer.callback(...timer.args);
        } catch (error) {
          // In Node a throwing timer callback is an uncaught exception that ends the
          // process; here it ends the run, and a RunawayError has its verdict already.
          if (!(error instanceof RunawayError)) {
            const { kind, message } = errorRecord(error);
            this.#halt("crash", `crash: scenario '${this.#id}': a timer callback threw ${kind}(${JSON.stringify(message)}) at ${this.#now} ms`);
          }
          break;
        }
        this.#timers.finish(timer, this.#now);
      }
    } catch (error) {
      const { kind, message } = errorRecord(error);
      this.#halt("crash", `crash: scenario '${this.#id}': ${kind}: ${message}`);
    } finally {
      restoreGlobals?.();
      if (others !== null) {
        process.off("unhandledRejection", onUnhandled);
        for (const listener of others) process.on("unhandledRejection", listener);
      }
      if (activeWorld === this) activeWorld = null;
      this.#frozen = true;
    }
    return this.#outcome();
  }

  /**
   * Runs `main` and prints the canonical trace, one event a line, then a status line:
   * `settled`, `uncaught` (the program ended at an unhandled rejection), or the message
   * of a deadlock, runaway or crash. Anything but `settled` sets `process.exitCode` to 1.
   * For standalone programs (`node program.mjs`).
   *
   * With `ASYNCPARITY_REAL_TIME` set to a scale in the environment, the program runs on
   * Node's real timers instead, each delay (as Node makes it, `nodeDelay`) multiplied by
   * the scale, and prints the trace with times in the slowed clock's milliseconds when
   * Node's event loop is empty ('beforeExit'), or at an unhandled rejection, which Node
   * then raises as it always does (`uncaughtExceptionMonitor` sees it first).
   *
   * @param {() => (Promise<*> | *)} main the main workflow.
   * @returns {Promise<object>} the outcome, as `run` returns it (on real time: when the
   *   program has ended).
   */
  async runAndPrint(main) {
    const scale = process.env.ASYNCPARITY_REAL_TIME;
    if (scale) return this.#runRealTime(main, Number(scale));
    const outcome = await this.run(main);
    World.#print(outcome);
    return outcome;
  }

  /** Prints an outcome as `runAndPrint` does. */
  static #print(outcome) {
    const lines = outcome.trace.length > 0 ? `${formatTrace(outcome.trace)}\n` : "";
    let status = outcome.status === "settled" ? "settled" : outcome.message;
    if (outcome.result?.uncaught !== undefined) status = "uncaught";
    process.stdout.write(`${lines}${status}\n`);
    if (status !== "settled") process.exitCode = 1;
  }

  /** `runAndPrint` on real time: Node's own timers and its own end of the process. */
  #runRealTime(main, scale) {
    if (!(scale > 0 && Number.isFinite(scale))) {
      throw new TypeError(`ASYNCPARITY_REAL_TIME must be a number > 0 (real ms per virtual ms), got ${JSON.stringify(process.env.ASYNCPARITY_REAL_TIME)}`);
    }
    this.#started = true;
    this.#real = { scale, origin: realPerformanceNow() };
    // The user's code (globals) gets the slowed clock too, so that `asyncparity verify` times it as the kit's own timers.
    const restoreGlobals = this.globals ? this.#installGlobals() : null;
    // Linux lets a wait wake up late by about 0.1% of its length (the timer slack that
    // epoll_wait adds: a setTimeout of 5000 ms here fired 5.3 ms late), which no scale
    // hides: 0.1% of a virtual time. A heartbeat keeps every wait of the event loop under
    // HEARTBEAT_MS; it runs no code of the program and, unref'd, keeps nothing alive.
    const heartbeat = realSetInterval(() => {}, HEARTBEAT_MS);
    heartbeat.unref();
    return new Promise((resolve) => {
      const finish = () => {
        if (this.#frozen) return;
        realClearInterval(heartbeat);
        restoreGlobals?.();
        // Node's event loop is empty and main has not settled: nothing will ever settle
        // it, the deadlock the virtual clock reports at once (the process then exits).
        if (this.#mainPending && this.#stop === null) this.#halt("deadlock", this.#deadlockMessage());
        this.#frozen = true;
        const outcome = this.#outcome();
        World.#print(outcome);
        resolve(outcome);
      };
      process.once("beforeExit", finish);
      process.on("uncaughtExceptionMonitor", (error, origin) => {
        if (origin === "unhandledRejection") this.#uncaught(error);
        finish();
      });
      this.#start(main);
    });
  }

  /** Calls main and records its settling (`return` or `throw`). */
  #start(main) {
    if (typeof main !== "function") throw new TypeError("main is not a function");
    this.#mainPending = true;
    const settle = (settled) => {
      this.#mainPending = false;
      if (this.#result === null) this.#result = settled;
    };
    try {
      Promise.resolve(main()).then(
        (value) => {
          const json = toJson(value);
          this.#record({ t: this.#time(), event: "return", value: json });
          settle({ returns: json });
        },
        (error) => {
          const record = errorRecord(error);
          this.#record({ t: this.#time(), event: "throw", error: record });
          settle({ throws: record });
        },
      ).catch((error) => {
        // A result that is not JSON (a BigInt, a cycle) cannot be reported: without
        // this it would surface as an unhandled rejection and a false deadlock.
        const { kind, message } = errorRecord(error);
        this.#halt("crash", `crash: scenario '${this.#id}': the main workflow's result cannot be reported: ${kind}: ${message}`);
      });
    } catch (error) {
      // A main that throws before returning a promise settles at once, like an async
      // function whose body throws.
      const record = errorRecord(error);
      this.#record({ t: this.#time(), event: "throw", error: record });
      settle({ throws: record });
    }
  }

  /** The program's first unhandled rejection: recorded, and the program ends there. */
  #uncaught(reason) {
    if (this.#stop !== null || this.#frozen) return;
    const record = errorRecord(reason);
    this.#record({ t: this.#time(), event: "unhandled", error: record });
    this.#result = { uncaught: record };
    this.#stop = { status: "settled", message: null };
  }

  /** The outcome of spec/PROTOCOL.md, without `target`. */
  #outcome() {
    const stop = this.#stop;
    const settled = stop === null || stop.status === "settled";
    return {
      status: settled ? "settled" : stop.status,
      result: settled ? this.#result : null,
      trace: this.#trace,
      message: settled ? null : stop.message,
      stats: {
        virtual_time: this.#time(),
        timer_firings: this.#firings,
        max_turns_per_instant: this.#maxTurns,
      },
    };
  }

  /** The clock: virtual ms, or on real time the slowed clock's ms, rounded. */
  #time() {
    const real = this.#real;
    return real === null ? this.#now : Math.round((realPerformanceNow() - real.origin) / real.scale);
  }

  /**
   * Appends an event unless the run has stopped or finished. Past `maxEvents` the run is
   * a runaway (on the virtual clock); the program stops at its next call into the kit or
   * the next turn, as for any other bound. Never throws: it also records from inside the
   * world's own callbacks ('unhandledRejection').
   */
  #record(event) {
    if (this.#frozen || this.#stop !== null) return;
    if (this.#real === null && this.#trace.length >= this.maxEvents) {
      this.#halt("runaway", `runaway: scenario '${this.#id}' passed ${this.maxEvents} trace events at ${this.#now} ms`);
      return;
    }
    this.#trace.push(event);
  }

  /** Past the wall-clock bound, the run is a runaway. */
  #checkWallClock() {
    if (this.#stop === null && realPerformanceNow() > this.#deadline) {
      this.#halt("runaway", `runaway: scenario '${this.#id}' passed ${this.wallClockSeconds} s of wall-clock time at ${this.#now} ms`);
    }
  }

  /** Sets a timer of `ms` as Node would: `nodeDelay(ms)`; on real time, Node's own, scaled. */
  #schedule(ms, callback, args) {
    const delay = nodeDelay(ms);
    const real = this.#real;
    if (real !== null) {
      // On the virtual millisecond grid: a real timer fires a little late, and a chain of
      // sleeps would add those delays up until a trace time is a millisecond off; a
      // deadline computed from the grid lets no lateness carry over to the next timer.
      const elapsed = realPerformanceNow() - real.origin;
      const due = (Math.round(elapsed / real.scale) + delay) * real.scale;
      return { real: realSetTimeout(callback, Math.max(1, due - elapsed), ...args) };
    }
    return this.#timers.insert(delay, this.#now, callback, args);
  }

  /** Clears a timer set by `#schedule`. */
  #unschedule(timer) {
    if (timer.real !== undefined) realClearTimeout(timer.real);
    else this.#timers.clear(timer);
  }

  /** Counts one turn at the current instant; false (and the run stops) past the bound. */
  #countTurn() {
    this.#turns += 1;
    if (this.#turns > this.#maxTurns) this.#maxTurns = this.#turns;
    if (this.#turns > this.#limits.turns_per_instant) {
      this.#halt("runaway", `runaway: scenario '${this.#id}' passed ${this.#limits.turns_per_instant} turns at ${this.#now} ms`);
      return false;
    }
    return true;
  }

  /**
   * Every kit call is a turn, and a look at the wall clock. Past a bound it throws, so
   * that a loop that never yields to the clock stops here (a loop that calls nothing of
   * the kit's either: the worker's watchdog, else the runner's, is the last resort).
   */
  #kitCall() {
    if (this.#real !== null) return;
    this.#checkWallClock();
    if (this.#stop !== null || !this.#countTurn()) {
      throw new RunawayError(this.#stop.message ?? "the run has ended");
    }
  }

  /** Stops the run with a verdict; the first verdict wins and the trace is closed. */
  #halt(status, message) {
    if (this.#stop === null) this.#stop = { status, message };
  }

  /** The deadlock message: the scenario, the time, and what had not finished. */
  #deadlockMessage() {
    const pending = [];
    if (this.#mainPending) pending.push("the main workflow");
    for (const call of this.#pendingCalls) {
      pending.push(`${call.name}(${call.args.map(formatValue).join(",")}) started at ${call.since} ms`);
    }
    for (const queue of this.#queues) pending.push(...queue[WAITING]());
    return `deadlock: scenario '${this.#id}' has not settled at ${this.#time()} ms and no timer is pending; pending: ${pending.join(", ")}`;
  }
}
