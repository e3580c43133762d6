/**
 * The JavaScript testee: one long-lived Node process serving the `js-promise` and
 * `js-async` targets over the JSON-lines protocol of spec/PROTOCOL.md (hello, compile,
 * run, shutdown). The runner starts it as `node javascript/worker.mjs` and keeps it for
 * a whole suite, so a scenario costs a compile and a run, not a process start.
 *
 * Requests are answered strictly in the order received (the runner may pipeline), but
 * served as they arrive: a request is compiled while earlier ones still run, and the
 * replies that are ready are written together, one write for many (issue 13). Input is
 * read in the stream's chunks and split into lines here; past MAX_IN_FLIGHT requests
 * not yet answered, the worker stops reading until half of them are, so that its memory
 * does not grow with a fast writer (a file of requests).
 * stdout carries protocol lines only; anything else (a stray console.log from scenario
 * code included) goes to stderr, which is diagnostics.
 *
 * A program runs in a worker thread (this same file, `isMainThread` false), so that a
 * loop that never calls the kit, which blocks its thread for good, can be stopped: past
 * the run's wall-clock bound (`world.wallClockSeconds`, 5 s) and a second's grace the
 * thread is terminated, the reply is a `runaway` outcome (its trace is lost with the
 * thread), and the runs after it go to a new thread. Runs go to the thread in batches,
 * it answers each with one message, and it publishes which run started when (and its
 * bound) in shared memory, which the main thread's watchdog reads (RunThread). The
 * protocol itself is served here, on the main thread, which stays free to do so.
 *
 * The compiler is `compile.mjs` beside this file, unless the environment variable
 * ASYNCPARITY_JS_COMPILER names another module exporting the same
 * `compile(ir, target, options)`. The worker passes `{ awaitUsing: FEATURES.await_using }`:
 * on a Node that has the syntax (24+), js-async renders a `using` step with `await using`,
 * elsewhere with try/finally; the trace is the same.
 *
 * @module worker
 */

import { spawnSync } from "node:child_process";
import { basename, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { setFlagsFromString } from "node:v8";
import { World, ScenarioError, WALL_CLOCK_SECONDS } from "./asyncparity-runtime.mjs";

/** The protocol this worker speaks; 2 takes a run request for several targets (spec/PROTOCOL.md). */
const PROTOCOL_VERSION = 2;
// The targets this testee serves (its hello says so); a compiler named by
// ASYNCPARITY_JS_COMPILER must write both.
const TARGETS = ["js-promise", "js-async"];

// Keep the real writer for protocol lines, then point process.stdout.write at stderr:
// console.log and friends write through it, and a stray line on stdout would
// desynchronise the runner's reader. (In the run thread, process.stdout is a stream to
// this thread, which sends it on to stderr: see RunThread.)
const writeProtocol = process.stdout.write.bind(process.stdout);
if (isMainThread) process.stdout.write = process.stderr.write.bind(process.stderr);

// Node's default turns an unhandled rejection into a fatal exception (since v15,
// nodejs/node#33021), of a worker thread too. During a run the World takes the event
// over and records an `unhandled` trace event; this listener only hears rejections
// outside runs, which are diagnostics, and the worker keeps serving.
process.on("unhandledRejection", (reason) => {
  process.stderr.write(`asyncparity worker: unhandled rejection outside a run: ${describe(reason)}\n`);
});

// ASYNCPARITY_JS_COMPILER names another module exporting `compile(ir, target, options)`: the
// worker's own tests use it to run hand-written bodies through the real protocol.
const COMPILER = process.env.ASYNCPARITY_JS_COMPILER
  ? pathToFileURL(resolve(process.env.ASYNCPARITY_JS_COMPILER)).href
  : new URL("./compile.mjs", import.meta.url).href;

/**
 * What this Node can do, for `requires:` in scenarios (spec/PROTOCOL.md, hello). Syntax is
 * detected by compiling a snippet, never by looking for a symbol: Node 20 and 22 have
 * `Symbol.asyncDispose` but reject `await using` (notes: async-semantics, section 10).
 * @type {Record<string, boolean>}
 */
const FEATURES = {
  await_using: compiles("async function probe() { await using resource = null; }"),
  promise_with_resolvers: typeof Promise.withResolvers === "function",
};

/**
 * Whether `source` parses as a function body here (the snippet is the worker's own).
 * @param {string} source
 * @returns {boolean}
 */
function compiles(source) {
  try {
    new Function(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * Import started when the worker starts (the runner is still loading scenarios then);
 * a failure is reported to the first compile or run request, so hello and shutdown work
 * even when the compiler cannot load.
 */
let compilePromise = null;

/** The compiler's `compile(ir, target, options)`, imported once. */
function loadCompile() {
  compilePromise ??= import(COMPILER).then((module) => {
    if (typeof module.compile !== "function") throw new TypeError(`${COMPILER} exports no compile function`);
    return module.compile;
  });
  return compilePromise;
}

/** One line of diagnostics for any thrown value. */
function describe(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** An error the requester caused (bad target, bad IR), answered as a protocol error. */
class RequestError extends Error {}

/** Checks one target name of a compile or run request. */
function checkTarget(target) {
  if (!TARGETS.includes(target)) {
    throw new RequestError(`unknown target ${JSON.stringify(target)}; this testee serves ${TARGETS.join(", ")}`);
  }
  return target;
}

/** Checks target and scenario of a compile or single-target run request; returns both. */
function checkScenarioRequest(request) {
  const target = checkTarget(request.target);
  return { target, scenario: checkScenario(request.scenario) };
}

/** Checks the scenario IR object of a request (its content is the compiler's to check). */
function checkScenario(scenario) {
  if (scenario === null || typeof scenario !== "object" || Array.isArray(scenario)) {
    throw new RequestError("request has no scenario IR object");
  }
  if (scenario.ir !== 1) {
    throw new RequestError(`unsupported scenario IR version ${JSON.stringify(scenario.ir)}; this testee reads version 1`);
  }
  return scenario;
}

/**
 * The targets of a run request that names several (`targets`, spec/PROTOCOL.md): a
 * non-empty list of distinct targets this testee serves.
 */
function checkTargets(targets) {
  if (!Array.isArray(targets) || targets.length === 0) throw new RequestError("request's targets is not a non-empty list");
  for (const target of targets) checkTarget(target);
  if (new Set(targets).size !== targets.length) throw new RequestError(`request's targets repeat a target: ${JSON.stringify(targets)}`);
  return targets;
}

/**
 * What the worker asks of the compiler: `await using` (js-async's rendering of a using
 * step) only where this Node parses it. The program is compiled here and run here, so
 * the choice always fits the Node that runs it. `validated`: the IR comes from the
 * kit's loader, which checked it, so the compiler may skip its own check.
 */
const COMPILE_OPTIONS = Object.freeze({ awaitUsing: FEATURES.await_using });
const VALIDATED_OPTIONS = Object.freeze({ awaitUsing: FEATURES.await_using, validated: true });

/**
 * Compiles a scenario, naming the failure if the compiler cannot serve it. `shared`:
 * the same object for each target of one request (the compiler keeps there what the
 * targets share; a compiler that does not know the option ignores it).
 */
async function compileScenario(scenario, target, validated = false, shared = {}) {
  let compile;
  try {
    compile = await loadCompile();
  } catch (error) {
    compilePromise = null;
    throw new RequestError(`the compiler ${COMPILER} could not be loaded: ${describe(error)}`);
  }
  try {
    return compile(scenario, target, { ...(validated ? VALIDATED_OPTIONS : COMPILE_OPTIONS), shared });
  } catch (error) {
    throw new RequestError(`cannot compile scenario ${JSON.stringify(scenario.id)} for ${target}: ${describe(error)}`);
  }
}

/**
 * Compiles a scenario for one target (unless `given` is a body this worker compiled for
 * the same scenario and target before: the runner's content cache, issue 13; never one
 * with a user's module, which the runner does not cache): either an outcome already
 * (a TypeScript module this Node cannot run), or what the run thread needs.
 */
async function prepareRun(scenario, target, given, validated, shared) {
  const { body, bound = null } = given != null ? { body: given } : await compileScenario(scenario, target, validated, shared);
  let stripTypes = false;
  if (bound !== null && /\.[cm]?ts$/.test(bound.path)) {
    const typescript = typeScriptSupport();
    if (typescript === null) {
      const file = bound.path.slice(bound.path.lastIndexOf("/") + 1);
      const outcome = {
        target, status: "skipped", result: null, trace: [],
        message: `needs Node 22.6 or later to run TypeScript (${file}); this is Node ${process.versions.node}`,
      };
      return { outcome };
    }
    stripTypes = typescript === "flag";
  }
  return { outcome: null, body, bound, stripTypes };
}

/**
 * Runs a scenario on each of `targets`, in that order: the outcomes as JSON texts (the
 * run thread sends its outcome as text, which goes into the reply as it is: no
 * structured clone of the trace, no second stringify), the bodies the runner may
 * keep (null for a scenario with a user's module), and what failed for each target
 * (null, or the message a single-target request would get as its error reply). A target
 * that fails (its program cannot be compiled or loaded) has an `error` outcome with that
 * message, and the other targets run all the same (spec/PROTOCOL.md, "Several targets in
 * one request"). Every target is compiled before any runs. `given`: bodies by target,
 * as in prepareRun.
 */
async function runScenario(scenario, targets, given, validated) {
  const prepared = [];
  const shared = {};
  for (const target of targets) {
    try {
      prepared.push(await prepareRun(scenario, target, given?.[target], validated, shared));
    } catch (error) {
      prepared.push({ failure: failureMessage(error) });
    }
  }
  const failures = prepared.map((run) => run.failure ?? null);
  const outcomes = await Promise.all(prepared.map(async (run, index) => {
    const target = targets[index];
    if (run.failure === undefined) {
      if (run.outcome !== null) return JSON.stringify(run.outcome);
      try {
        const outcome = await RunThread.run(run.body, target, scenario.id, run.bound, run.stripTypes);
        // The target comes first, as in `{ target, ...outcome }`; an outcome always has a status.
        if (typeof outcome === "string") return `{"target":${JSON.stringify(target)},${outcome.slice(1)}`;
        return JSON.stringify({ target, ...outcome });
      } catch (error) {
        failures[index] = failureMessage(error);
      }
    }
    return JSON.stringify({ target, status: "error", result: null, trace: [], message: failures[index] });
  }));
  const bodies = prepared.map((run, index) => (failures[index] === null && run.outcome === null && run.bound === null ? run.body : null));
  return { outcomes, bodies, failures };
}

/** What a request that failed with `error` is answered: its own message, or an internal error's. */
function failureMessage(error) {
  return error instanceof RequestError ? error.message : `internal error: ${describe(error)}`;
}

/**
 * How this Node runs a .ts file (issue 12): "default" where it strips types unflagged
 * (process.features.typescript, Node 22.18+ and 23.6+), "flag" where it needs
 * --experimental-strip-types (22.6 and later; also a Node started with
 * --no-experimental-strip-types), null before 22.6.
 * https://nodejs.org/api/typescript.html#type-stripping
 *
 * @returns {"default" | "flag" | null}
 */
export function typeScriptSupport() {
  if (process.features.typescript) return "default";
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 6) ? "flag" : null;
}

/**
 * The run thread, seen from the main thread: one at a time, made when needed, and
 * terminated (then made again) when a run passes its wall-clock bound and a grace
 * without coming back to the kit, or when it dies.
 *
 * Runs are posted in batches (the ones asked for in one turn of the main thread), and
 * the thread runs them one after another, in order, answering each with one message;
 * so the oldest run not answered yet is always the one running. The thread publishes
 * the start of the run in hand, and its bound, in a small SharedArrayBuffer (RunState),
 * which the watchdog reads: no message per start, and a watchdog timer that fires about
 * once per bound instead of being set and cleared for every run.
 */
class RunThread {
  /** Milliseconds a run may overrun its own bound, whose check needs a call into the kit or a turn. */
  static GRACE_MS = 1000;

  /** The run thread's young generation, in MiB (V8's resourceLimits.maxYoungGenerationSizeMb). */
  static YOUNG_GENERATION_MB = 6;

  static #current = null;
  /** Runs asked for and not yet posted to a thread, in order: {body, target, id, bound, stripTypes, resolve, reject}. */
  static #waiting = [];
  static #dispatchQueued = false;

  /** Starts the thread early, while the runner is still loading scenarios. */
  static warm() {
    RunThread.#current ??= new RunThread();
  }

  /**
   * Runs one body: resolves with its outcome (as JSON text from the thread, or an
   * object: a runaway), or rejects with a RequestError (the body
   * or the user's module does not load) or another error (the thread died). `bound`:
   * the user's module the body expects (compile's `bound`), or null; `stripTypes`: the
   * thread needs --experimental-strip-types for it (a thread without it is replaced).
   */
  static run(body, target, id, bound = null, stripTypes = false) {
    return new Promise((resolve, reject) => {
      RunThread.#waiting.push({ body, target, id, bound, stripTypes, resolve, reject });
      RunThread.#queueDispatch();
    });
  }

  /** Posts the waiting runs once this turn's requests have all asked (one batch). */
  static #queueDispatch() {
    if (RunThread.#dispatchQueued) return;
    RunThread.#dispatchQueued = true;
    setImmediate(() => {
      RunThread.#dispatchQueued = false;
      RunThread.#dispatch();
    });
  }

  /**
   * Posts waiting runs to the current thread. A run that needs another kind of thread
   * (strip types or not) waits until the thread has answered all it was given, and
   * then gets a new one.
   */
  static #dispatch() {
    const waiting = RunThread.#waiting;
    if (waiting.length === 0) return;
    let thread = RunThread.#current;
    const kind = waiting[0].stripTypes;
    if (thread !== null && thread.#stripTypes !== kind) {
      if (thread.#runs.length > 0) return; // #message dispatches again once the thread is idle
      thread.#retire();
      thread = null;
    }
    thread ??= RunThread.#current = new RunThread(kind);
    let count = 0;
    while (count < waiting.length && waiting[count].stripTypes === kind) count += 1;
    thread.#post(waiting.splice(0, count));
    if (waiting.length > 0) RunThread.#queueDispatch();
  }

  #thread;
  #stripTypes;
  #state = new RunState();
  /** Runs posted and not answered, oldest (the one running) first. */
  #runs = [];
  #posted = 0;
  #watchdog = null;

  constructor(stripTypes = false) {
    this.#stripTypes = stripTypes;
    // The flag is one a worker thread accepts in its execArgv (Node 22.6+). V8's own flags
    // (the runner's --expose-gc and --max-semi-space-size) are refused there
    // (ERR_WORKER_INVALID_EXEC_ARGV): they are the process's, and the thread has them anyway.
    const nodeFlags = process.execArgv.filter((flag) => !V8_FLAGS.some((v8) => flag.startsWith(v8)));
    const execArgv = stripTypes ? [...nodeFlags, "--experimental-strip-types"] : undefined;
    // A small young generation: V8 grows it with the allocation rate, up to 48 MiB (what
    // a thread without limits reports in worker_threads.resourceLimits on Node 20), and
    // that growth was most of the run thread's from 1,000 to 10,000 scenarios
    // (benchmarks/node_worker.py --memory); a run's garbage is short-lived.
    // https://nodejs.org/api/worker_threads.html#new-workerfilename-options
    this.#thread = new Worker(new URL(import.meta.url), {
      stdout: true, stderr: true, execArgv, workerData: { state: this.#state.buffer },
      resourceLimits: { maxYoungGenerationSizeMb: RunThread.YOUNG_GENERATION_MB },
    });
    // The thread sends what it prints as messages (serveRuns); anything on its streams
    // still (Node's own warnings) is diagnostics too.
    this.#thread.stdout.on("data", (chunk) => process.stderr.write(chunk));
    this.#thread.stderr.on("data", (chunk) => process.stderr.write(chunk));
    this.#thread.unref(); // an idle thread must not keep the worker alive at the end of input
    this.#thread.on("message", (message) => this.#message(message));
    this.#thread.on("error", (error) => this.#end(`the run thread failed: ${describe(error)}`));
    this.#thread.on("exit", (code) => this.#end(`the run thread exited (code ${code})`));
  }

  #post(runs) {
    for (const run of runs) {
      this.#posted += 1;
      run.seq = this.#posted;
      this.#runs.push(run);
    }
    this.#thread.postMessage(runs.map(({ seq, body, target, id, bound }) => ({ seq, body, target, id, bound })));
    this.#watchdog ??= setTimeout(() => this.#watch(), RunThread.GRACE_MS);
  }

  #message(message) {
    if ("stderr" in message) {
      process.stderr.write(message.stderr);
      return;
    }
    const run = this.#runs[0];
    if (run === undefined || run.seq !== message.seq) return; // a run already settled by the watchdog
    this.#runs.shift();
    if (this.#runs.length === 0) this.#disarm();
    if ("outcome" in message) run.resolve(message.outcome);
    else run.reject(new RequestError(message.error));
    if (this.#runs.length === 0 && RunThread.#waiting.length > 0) RunThread.#queueDispatch();
  }

  /**
   * The watchdog: stops the run in hand once it is GRACE_MS past its bound. Until the
   * run has published its start (it is still loading) or when it has no bound, it looks
   * again a grace later, which is soon enough: a start is at least a grace before its
   * deadline.
   */
  #watch() {
    this.#watchdog = null;
    const run = this.#runs[0];
    if (run === undefined) return;
    const started = this.#state.read();
    let wait = RunThread.GRACE_MS;
    if (started !== null && started.seq === run.seq && started.seconds !== null) {
      wait = started.at + started.seconds * 1000 + RunThread.GRACE_MS - RunState.now();
      if (wait <= 0) {
        this.#stop(started.seconds);
        return;
      }
    }
    this.#watchdog = setTimeout(() => this.#watch(), wait);
  }

  #disarm() {
    if (this.#watchdog !== null) clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  /** The run is stuck past its bound: the thread goes, the run is a runaway, the runs after it go to a new thread. */
  #stop(seconds) {
    const [run] = this.#runs;
    this.#retire();
    run.resolve({
      status: "runaway",
      result: null,
      trace: [],
      message: `runaway: scenario '${run.id}' passed ${seconds} s of wall-clock time in a loop that never calls the kit `
        + "(the worker stopped it; the trace is lost)",
    });
  }

  /**
   * The thread died: the run in hand (if any) fails, and the runs after it go to a new
   * thread. With the user's module in it, the user's code is the likely cause (a
   * `process.exit` ends the thread), and the scenario's error says so; without, the
   * kit's generated code never ends its thread, and it is the worker's internal error.
   */
  #end(what) {
    const run = this.#runs[0];
    this.#retire();
    if (run?.bound != null) {
      run.reject(new RequestError(`scenario '${run.id}': ${what} while it ran with ${basename(run.bound.path)} (does its code call process.exit?)`));
    } else {
      run?.reject(new Error(what));
    }
  }

  /** Terminates the thread; the runs it was given after the one in hand wait for the next. */
  #retire() {
    if (RunThread.#current === this) RunThread.#current = null;
    this.#disarm();
    const again = this.#runs.splice(0).slice(1);
    if (again.length > 0) {
      RunThread.#waiting.unshift(...again);
      RunThread.#queueDispatch();
    }
    this.#thread.removeAllListeners("exit");
    this.#thread.removeAllListeners("error");
    this.#thread.removeAllListeners("message");
    this.#thread.on("error", () => {}); // a late error of a thread being terminated is moot
    this.#thread.terminate();
  }
}

/**
 * Which run a run thread is in and since when, in shared memory: the thread writes,
 * the main thread's watchdog reads. A sequence lock keeps the three values together:
 * the writer makes the count odd while it writes, and a reader that sees it odd or
 * changed reads again (a few times at most; failing that, the watchdog looks later).
 */
class RunState {
  constructor(buffer = new SharedArrayBuffer(24)) {
    this.buffer = buffer;
    this.counts = new Int32Array(buffer, 0, 2); // [write count, run's seq]
    this.values = new Float64Array(buffer, 8, 2); // [start (RunState.now), bound in seconds or NaN]
  }

  /** Milliseconds on a clock both threads share (each thread's performance.now counts from its own origin). */
  static now() {
    return performance.timeOrigin + performance.now();
  }

  /** The thread's side: run `seq` starts now, under a bound of `seconds` (null: none). */
  publish(seq, seconds) {
    Atomics.add(this.counts, 0, 1);
    Atomics.store(this.counts, 1, seq);
    this.values[0] = RunState.now();
    this.values[1] = seconds ?? Number.NaN;
    Atomics.add(this.counts, 0, 1);
  }

  /** The watchdog's side: `{seq, at, seconds}` of the last start published, or null. */
  read() {
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const before = Atomics.load(this.counts, 0);
      if (before === 0) return null;
      if (before % 2 === 1) continue;
      const seq = Atomics.load(this.counts, 1);
      const [at, seconds] = this.values;
      if (Atomics.load(this.counts, 0) === before) return { seq, at, seconds: Number.isNaN(seconds) ? null : seconds };
    }
    return null;
  }
}

/**
 * The run thread's side: loads each body and runs it, one at a time, in the order
 * posted. The body is the kit's own generated code, in which every string from the
 * scenario is an escaped literal; `World` and `ScenarioError` are passed in because
 * the body is evaluated without the header's import line.
 */
function serveRuns() {
  // What the user's own code prints while its run is in hand is that outcome's `output`
  // (its first OUTPUT_LIMIT characters, as the Python target keeps them:
  // asyncparity_python/target.py). Anything else printed goes to the main thread as
  // messages, in order with the outcomes (the thread's own stdio streams arrive on their
  // own schedule, after it maybe), and on to the worker's stderr.
  let output = null; // {parts, kept, dropped} while a run with the user's code is in hand
  const forward = (chunk, encoding, callback) => {
    const text = String(chunk);
    if (output === null) {
      parentPort.postMessage({ stderr: text });
    } else {
      const room = OUTPUT_LIMIT - output.kept;
      if (room > 0) output.parts.push(text.slice(0, room));
      output.kept += Math.min(text.length, Math.max(room, 0));
      output.dropped += Math.max(0, text.length - Math.max(room, 0));
    }
    (typeof encoding === "function" ? encoding : callback)?.();
    return true;
  };
  /** What the run in hand printed, as text (null for nothing); capturing stops. */
  const printed = () => {
    const captured = output;
    output = null;
    if (captured === null || captured.kept === 0) return null;
    return captured.parts.join("") + (captured.dropped > 0 ? `\n[${captured.dropped} more characters not kept]` : "");
  };
  process.stdout.write = forward;
  process.stderr.write = forward;
  const state = new RunState(workerData.state);
  const batches = []; // posted and not yet run, in order
  let running = false;
  let loads = 0;

  /** Runs one posted run; the message that answers it. */
  const runOne = async (run) => {
    let message;
    try {
      message = await runCapturing(run);
    } finally {
      // A run that ended without an outcome: what it printed goes to stderr, not lost.
      const text = printed();
      if (text !== null) parentPort.postMessage({ stderr: text });
    }
    return message;
  };

  /** Runs one posted run, what the user's code prints kept in `output`; the message that answers it. */
  const runCapturing = async ({ seq, body, target, id, bound }) => {
    collectNow();
    if (bound != null) output = { parts: [], kept: 0, dropped: 0 };
    let world;
    let main;
    let userModule = null;
    if (bound != null) {
      // The user's module loads under the run's wall-clock bound: a loop at its top level is stopped too.
      state.publish(seq, WALL_CLOCK_SECONDS);
      try {
        // A fresh instance each run (the query makes it another module): state the
        // module keeps (a circuit breaker's) does not carry over from one scenario to the next.
        loads += 1;
        userModule = await import(`${bound.url}?asyncparity-run=${loads}`);
      } catch (error) {
        // The same shape as the Python target's (asyncparity_runtime.World.user_module).
        return { seq, error: `scenario '${id}': ${basename(bound.path)} failed to load: ${userStack(error, bound.path)}` };
      }
      const missing = bound.exports.filter((name) => typeof userModule[name] !== "function");
      if (missing.length > 0) {
        return { seq, error: `scenario '${id}': ${basename(bound.path)} exports no function ${missing.join(", ")}` };
      }
    }
    try {
      const params = ["World", "ScenarioError", ...(bound != null ? [bound.name] : [])];
      ({ world, main } = new Function(...params, `${body}\nreturn { world, main };`)(World, ScenarioError, userModule));
    } catch (error) {
      return { seq, error: `generated ${target} code for scenario ${JSON.stringify(id)} failed to load: ${describe(error)}` };
    }
    state.publish(seq, world.wallClockSeconds ?? null);
    const outcome = await world.run(main);
    const text = printed();
    if (text !== null) outcome.output = text;
    try {
      return { seq, outcome: JSON.stringify(outcome) };
    } catch (error) {
      return { seq, error: `the outcome of scenario ${JSON.stringify(id)} cannot be sent: ${describe(error)}` };
    }
  };

  /** Runs what is queued, in order (a world's run awaits real turns, and runs must not overlap). */
  const drain = async () => {
    running = true;
    while (batches.length > 0) {
      for (const run of batches.shift()) {
        let message;
        try {
          message = await runOne(run);
        } catch (error) {
          // World.run never rejects; this keeps the queue going if something else does.
          message = { seq: run.seq, error: `internal error: ${describe(error)}` };
        }
        try {
          parentPort.postMessage(message);
        } catch (error) {
          parentPort.postMessage({ seq: run.seq, error: `the outcome of scenario ${JSON.stringify(run.id)} cannot be sent: ${describe(error)}` });
        }
      }
    }
    running = false;
  };

  parentPort.on("message", (runs) => {
    batches.push(runs);
    if (!running) drain();
  });
}

/**
 * A thrown value as the user should see it: `Kind: message`, then the stack's frames
 * that are the user's (file paths without the run's query), not Node's or the kit's.
 */
function userStack(error, path) {
  if (!(error instanceof Error)) return describe(error);
  // An import's SyntaxError has only Node's frames (the line is in a hidden arrow message
  // printed for uncaught errors): `node --check` names the line, for the module's own file.
  if (error instanceof SyntaxError) {
    const checked = spawnSync(process.execPath, [...process.execArgv, "--check", path], { encoding: "utf8", timeout: 10000 });
    const where = String(checked.stderr ?? "").split("\n")[0];
    if (/^\/.*:\d+$/.test(where)) return `${describe(error)}\n    at ${where}`;
  }
  const kit = fileURLToPath(new URL(".", import.meta.url));
  const frames = String(error.stack ?? "").split("\n").slice(1)
    .map((line) => line.trim())
    .filter((line) => line.startsWith("at ") && !line.includes("node:") && !line.includes(kit) && !line.includes(pathToFileURL(kit).href))
    .map((line) => line.replace(/file:\/\/(\/[^:?)]*)(\?asyncparity-run=\d+)?/g, (_, path) => decodeURIComponent(path)));
  return [describe(error), ...frames.map((frame) => `    ${frame}`)].join("\n");
}

/** Serves one request line: resolves with its reply (null after shutdown, which exits). */
async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    return { id: null, type: "error", message: `request is not JSON: ${error.message}` };
  }
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    return { id: null, type: "error", message: "request is not a JSON object" };
  }
  // spec/PROTOCOL.md: every request has an integer id (the Python worker says the same).
  if (!Number.isInteger(request.id)) {
    return { id: null, type: "error", message: `a request needs an integer id, not ${JSON.stringify(request.id) ?? "none"}` };
  }
  const id = request.id;
  try {
    switch (request.type) {
      case "hello":
        return {
          id, type: "hello", protocol: PROTOCOL_VERSION,
          runtime: { name: "node", version: process.versions.node },
          targets: TARGETS,
          features: FEATURES,
        };
      case "compile": {
        const { target, scenario } = checkScenarioRequest(request);
        const { header, body, footer } = await compileScenario(scenario, target, request.validated === true);
        return { id, type: "compiled", source: header + body + footer };
      }
      case "run":
        return await handleRun(request, id);
      case "shutdown":
        return { id, type: "bye", shutdown: true };
      default:
        throw new RequestError(`unknown request type ${JSON.stringify(request.type)}; expected hello, compile, run or shutdown`);
    }
  } catch (error) {
    return { id, type: "error", message: failureMessage(error) };
  }
}

/** A run request: one target (`target`, reply `outcome`) or several (`targets`, reply `outcomes`). */
async function handleRun(request, id) {
  collectNow();
  const validated = request.validated === true;
  if (request.targets === undefined) {
    const { target, scenario } = checkScenarioRequest(request);
    if (request.body !== undefined && typeof request.body !== "string") throw new RequestError("request's body is not text");
    const given = request.body === undefined ? null : { [target]: request.body };
    const { outcomes: [outcome], bodies: [body], failures: [failure] } = await runScenario(scenario, [target], given, validated);
    if (failure !== null) return { id, type: "error", message: failure };
    // The body goes back only when asked for, and only one the runner may keep.
    const withBody = request.return_body === true && body !== null ? `,"body":${JSON.stringify(body)}` : "";
    return new ReplyText(`{"id":${JSON.stringify(id)},"type":"outcome","outcome":${outcome}${withBody}}`);
  }
  if (request.target !== undefined) throw new RequestError("request has both target and targets");
  const targets = checkTargets(request.targets);
  const scenario = checkScenario(request.scenario);
  const given = request.bodies;
  if (given !== undefined) {
    const texts = given !== null && typeof given === "object" && !Array.isArray(given)
      && Object.entries(given).every(([target, body]) => targets.includes(target) && typeof body === "string");
    if (!texts) throw new RequestError("request's bodies is not an object of texts by target, for targets of the request");
  }
  const { outcomes, bodies } = await runScenario(scenario, targets, given ?? null, validated);
  const head = `{"id":${JSON.stringify(id)},"type":"outcomes","outcomes":[${outcomes.join(",")}]`;
  if (request.return_bodies !== true) return new ReplyText(`${head}}`);
  // Every body the runner may keep (none for a scenario with a user's module).
  const kept = {};
  targets.forEach((target, index) => { if (bodies[index] !== null) kept[target] = bodies[index]; });
  return new ReplyText(`${head},"bodies":${JSON.stringify(kept)}}`);
}

/** A reply already written as JSON (what JSON.stringify would write for it), without the newline. */
class ReplyText {
  constructor(text) {
    this.text = text;
  }
}

/** Requests read and not answered yet past which the worker stops reading (until half are). */
const MAX_IN_FLIGHT = 32;

/**
 * The replies, in the order of the requests: each request takes a slot when it is
 * read, the slot is filled when its reply is ready, and the filled slots at the head
 * go out together in one write, once the turn's work is done.
 */
class Replies {
  /** @type {Array<{text: string | null, exit: boolean}>} */
  #slots = [];
  #head = 0;
  #out = [];
  #flushQueued = false;
  #closed = false;
  /** Called with the number of requests not answered yet, after each change. */
  onInFlight = () => {};

  get inFlight() {
    return this.#slots.length - this.#head;
  }

  /** Takes the next slot for a reply that `pending` resolves with. */
  add(pending) {
    const slot = { text: null, exit: false };
    this.#slots.push(slot);
    this.onInFlight(this.inFlight);
    pending.then((message) => {
      if (message instanceof ReplyText) {
        slot.text = `${message.text}\n`;
        return;
      }
      slot.exit = message.shutdown === true;
      if (slot.exit) delete message.shutdown;
      slot.text = `${JSON.stringify(message)}\n`;
    }, (error) => {
      // handle() answers every failure itself; this is a reply that cannot be written
      // (a value JSON cannot hold), and the requests after it must still be answered.
      process.stderr.write(`asyncparity worker: ${describe(error)}\n`);
      slot.text = `${JSON.stringify({ id: null, type: "error", message: `internal error: ${describe(error)}` })}\n`;
    }).then(() => this.#advance());
  }

  /** Whether every request read has been answered and written. */
  get done() {
    return this.inFlight === 0 && this.#out.length === 0;
  }

  #advance() {
    if (this.#closed) return;
    while (this.#head < this.#slots.length && this.#slots[this.#head].text !== null) {
      const slot = this.#slots[this.#head];
      this.#slots[this.#head] = null;
      this.#head += 1;
      this.#out.push(slot.text);
      if (slot.exit) {
        // Serve nothing after shutdown: bye is the last line, then the worker exits.
        this.#closed = true;
        writeProtocol(this.#out.join(""), () => process.exit(0));
        return;
      }
    }
    if (this.#head === this.#slots.length) {
      this.#slots = [];
      this.#head = 0;
    }
    this.onInFlight(this.inFlight);
    if (!this.#flushQueued && this.#out.length > 0) {
      this.#flushQueued = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush() {
    this.#flushQueued = false;
    if (this.#closed || this.#out.length === 0) return;
    writeProtocol(this.#out.join(""));
    this.#out = [];
    if (this.#whenDone !== null && this.done) this.#whenDone();
  }

  #whenDone = null;

  /** Calls `callback` once every reply has been written (at once if they have). */
  whenDone(callback) {
    this.#whenDone = callback;
    if (this.done) callback();
  }
}

/**
 * V8 optimises a function once it has run for a while; the kit's programs each run once,
 * so optimising them is work thrown away, and it was a third of the worker's CPU on
 * 1,000 scenarios (issue 13). These flags make V8 wait ten times as long, as the runtime
 * module's own hot functions still reach it. Set here, not on the command line: the
 * flags differ between V8 versions (Node 20's V8 11.3 counts an interrupt budget, 12 and
 * later count invocations), and a command line with a flag V8 does not know is refused.
 * They are V8's, the process's: the run thread has them too.
 * https://nodejs.org/api/v8.html#v8setflagsfromstringflags
 */
function tierUpLater() {
  const major = Number(process.versions.v8.split(".")[0]);
  const flags = major >= 12
    ? ["--invocation-count-for-maglev=4000", "--invocation-count-for-turbofan=30000"]
    : ["--interrupt-budget=1000000"];
  for (const flag of flags) setFlagsFromString(flag);
}

/** The V8 flags the runner starts Node with (runner/testees.py, NodeTestee). */
const V8_FLAGS = ["--expose-gc", "--max-semi-space-size"];

/**
 * Runs between full garbage collections, in each thread, when the runner started Node
 * with --expose-gc (runner/testees.py). V8 lets garbage pile up in its old generation
 * until the heap nears a limit it raises as the heap grows: the worker's resident
 * memory grew by a sixth from 1,000 scenarios to 10,000 with a flat live heap (issue 13).
 * A full collection of the worker's few MiB every so many runs keeps it flat, for a
 * few milliseconds each.
 */
const COLLECT_EVERY = 500;
/** Characters of what the user's code prints that an outcome keeps (its `output`). */
const OUTPUT_LIMIT = 64 * 1024;
let runsSinceCollection = 0;

/** Counts a run; every COLLECT_EVERY, a full garbage collection (if gc is exposed). */
function collectNow() {
  runsSinceCollection += 1;
  if (runsSinceCollection >= COLLECT_EVERY && typeof globalThis.gc === "function") {
    runsSinceCollection = 0;
    globalThis.gc();
  }
}

/** The main thread's side: the protocol on stdin and stdout. */
function serveProtocol() {
  const replies = new Replies();
  const input = process.stdin;
  let paused = false;
  replies.onInFlight = (count) => {
    if (!paused && count >= MAX_IN_FLIGHT) {
      paused = true;
      input.pause();
    } else if (paused && count <= MAX_IN_FLIGHT / 2) {
      paused = false;
      input.resume();
    }
  };
  const serve = (line) => {
    // A blank line is no request: answering it would shift every later reply.
    if (line.trim() === "") return;
    replies.add(handle(line));
  };
  let rest = "";
  input.setEncoding("utf8");
  input.on("data", (chunk) => {
    const text = rest + chunk;
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      serve(text.slice(start, text[end - 1] === "\r" ? end - 1 : end));
      start = end + 1;
    }
    rest = text.slice(start);
  });
  loadCompile().catch(() => {
    compilePromise = null; // the first request imports again and answers with the error
  });
  RunThread.warm();
  input.on("end", () => {
    serve(rest);
    replies.whenDone(() => process.exit(0));
  });
}

if (isMainThread) {
  tierUpLater();
  serveProtocol();
} else {
  serveRuns();
}
