/**
 * The JavaScript testee: one long-lived Node process serving the `js-promise` and
 * `js-async` targets over the JSON-lines protocol of spec/PROTOCOL.md (hello, compile,
 * run, shutdown). The runner starts it as `node javascript/worker.mjs` and keeps it for
 * a whole suite, so a scenario costs a compile and a run, not a process start.
 *
 * Requests are answered strictly in the order received (the runner may pipeline).
 * stdout carries protocol lines only; anything else (a stray console.log from scenario
 * code included) goes to stderr, which is diagnostics.
 *
 * A program runs in a worker thread (this same file, `isMainThread` false), so that a
 * loop that never calls the kit, which blocks its thread for good, can be stopped: past
 * the run's wall-clock bound (`world.wallClockSeconds`, 5 s) and a second's grace the
 * thread is terminated, the reply is a `runaway` outcome (its trace is lost with the
 * thread), and the next run gets a new thread. The protocol itself is served here, on
 * the main thread, which stays free to do so.
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
import { createInterface } from "node:readline";
import { basename, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { World, ScenarioError, WALL_CLOCK_SECONDS } from "./asyncparity-runtime.mjs";

const PROTOCOL_VERSION = 1;
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

/** Writes one reply as one JSON line. */
function reply(message) {
  writeProtocol(`${JSON.stringify(message)}\n`);
}

/** Checks target and scenario of a compile or run request; returns both. */
function checkScenarioRequest(request) {
  const { target, scenario } = request;
  if (!TARGETS.includes(target)) {
    throw new RequestError(`unknown target ${JSON.stringify(target)}; this testee serves ${TARGETS.join(", ")}`);
  }
  if (scenario === null || typeof scenario !== "object" || Array.isArray(scenario)) {
    throw new RequestError("request has no scenario IR object");
  }
  if (scenario.ir !== 1) {
    throw new RequestError(`unsupported scenario IR version ${JSON.stringify(scenario.ir)}; this testee reads version 1`);
  }
  return { target, scenario };
}

/**
 * What the worker asks of the compiler: `await using` (js-async's rendering of a using
 * step) only where this Node parses it. The program is compiled here and run here, so
 * the choice always fits the Node that runs it.
 */
const COMPILE_OPTIONS = Object.freeze({ awaitUsing: FEATURES.await_using });

/** Compiles a scenario, naming the failure if the compiler cannot serve it. */
async function compileScenario(scenario, target) {
  let compile;
  try {
    compile = await loadCompile();
  } catch (error) {
    compilePromise = null;
    throw new RequestError(`the compiler ${COMPILER} could not be loaded: ${describe(error)}`);
  }
  try {
    return compile(scenario, target, COMPILE_OPTIONS);
  } catch (error) {
    throw new RequestError(`cannot compile scenario ${JSON.stringify(scenario.id)} for ${target}: ${describe(error)}`);
  }
}

/**
 * Compiles a scenario here and runs its body in the run thread; the outcome, and the
 * body it ran. `given`: a body this worker compiled for the same scenario and target
 * before (the runner's content cache, issue 13), run without compiling again; never
 * one with a user's module (the runner does not cache those).
 */
async function runScenario(scenario, target, given = null) {
  const { body, bound = null } = given !== null ? { body: given } : await compileScenario(scenario, target);
  let stripTypes = false;
  if (bound !== null && /\.[cm]?ts$/.test(bound.path)) {
    const typescript = typeScriptSupport();
    if (typescript === null) {
      const file = bound.path.slice(bound.path.lastIndexOf("/") + 1);
      const outcome = {
        target, status: "skipped", result: null, trace: [],
        message: `needs Node 22.6 or later to run TypeScript (${file}); this is Node ${process.versions.node}`,
      };
      return { outcome, body: null };
    }
    stripTypes = typescript === "flag";
  }
  const outcome = await RunThread.run(body, target, scenario.id, bound, stripTypes);
  return { outcome: { target, ...outcome }, body: bound === null ? body : null };
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
 */
class RunThread {
  /** Seconds a run may overrun its own bound, whose check needs a call into the kit or a turn. */
  static GRACE_MS = 1000;

  static #current = null;

  /** Starts the thread early, while the runner is still loading scenarios. */
  static warm() {
    RunThread.#current ??= new RunThread();
  }

  /**
   * Runs one body: resolves with its outcome, or rejects with a RequestError (the body
   * or the user's module does not load) or another error (the thread died). `bound`:
   * the user's module the body expects (compile's `bound`), or null; `stripTypes`: the
   * thread needs --experimental-strip-types for it (a thread without it is replaced).
   */
  static run(body, target, id, bound = null, stripTypes = false) {
    if (RunThread.#current !== null && RunThread.#current.#stripTypes !== stripTypes) RunThread.#current.#retire();
    RunThread.#current ??= new RunThread(stripTypes);
    return RunThread.#current.#run(body, target, id, bound);
  }

  #thread;
  #stripTypes;
  #pending = null; // {resolve, reject, target, id, timer}

  constructor(stripTypes = false) {
    this.#stripTypes = stripTypes;
    // The flag is one a worker thread accepts in its execArgv (Node 22.6+).
    const execArgv = stripTypes ? [...process.execArgv, "--experimental-strip-types"] : undefined;
    this.#thread = new Worker(new URL(import.meta.url), { stdout: true, stderr: true, execArgv });
    // The thread sends what it prints as messages (serveRuns); anything on its streams
    // still (Node's own warnings) is diagnostics too.
    this.#thread.stdout.on("data", (chunk) => process.stderr.write(chunk));
    this.#thread.stderr.on("data", (chunk) => process.stderr.write(chunk));
    this.#thread.unref(); // an idle thread must not keep the worker alive at the end of input
    this.#thread.on("message", (message) => this.#message(message));
    this.#thread.on("error", (error) => this.#end(new Error(`the run thread failed: ${describe(error)}`)));
    this.#thread.on("exit", (code) => this.#end(new Error(`the run thread exited (code ${code})`)));
  }

  #run(body, target, id, bound) {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject, target, id, timer: null };
      this.#thread.postMessage({ body, target, id, bound });
    });
  }

  #message(message) {
    if ("stderr" in message) {
      process.stderr.write(message.stderr);
      return;
    }
    const pending = this.#pending;
    if (pending === null) return;
    if ("started" in message) {
      // The run's own bound, as the body set it (world.wallClockSeconds); null: none.
      // (A bound scenario says it twice: before the user's module loads, then the world's.)
      if (pending.timer !== null) clearTimeout(pending.timer);
      pending.timer = null;
      if (message.started !== null) {
        pending.timer = setTimeout(() => this.#stop(message.started), message.started * 1000 + RunThread.GRACE_MS);
      }
      return;
    }
    this.#settle();
    if ("outcome" in message) pending.resolve(message.outcome);
    else pending.reject(new RequestError(message.error));
  }

  /** The run is stuck past its bound: the thread goes, and the run is a runaway. */
  #stop(seconds) {
    const pending = this.#pending;
    this.#settle();
    this.#retire();
    pending.resolve({
      status: "runaway",
      result: null,
      trace: [],
      message: `runaway: scenario '${pending.id}' passed ${seconds} s of wall-clock time in a loop that never calls the kit `
        + "(the worker stopped it; the trace is lost)",
    });
  }

  /** The thread died: the run in flight (if any) fails, and the next run gets a new thread. */
  #end(error) {
    const pending = this.#pending;
    this.#retire();
    if (pending === null) return;
    this.#settle();
    pending.reject(error);
  }

  #settle() {
    if (this.#pending?.timer) clearTimeout(this.#pending.timer);
    this.#pending = null;
  }

  #retire() {
    if (RunThread.#current === this) RunThread.#current = null;
    this.#thread.removeAllListeners("exit");
    this.#thread.removeAllListeners("error");
    this.#thread.on("error", () => {}); // a late error of a thread being terminated is moot
    this.#thread.terminate();
  }
}

/**
 * The run thread's side: loads each body and runs it. The body is the kit's own
 * generated code, in which every string from the scenario is an escaped literal;
 * `World` and `ScenarioError` are passed in because the body is evaluated without the
 * header's import line.
 */
function serveRuns() {
  // What the program prints goes to the main thread as messages, in order with the
  // outcome (the thread's own stdio streams arrive on their own schedule, after it maybe).
  const forward = (chunk, encoding, callback) => {
    parentPort.postMessage({ stderr: String(chunk) });
    (typeof encoding === "function" ? encoding : callback)?.();
    return true;
  };
  process.stdout.write = forward;
  process.stderr.write = forward;
  let loads = 0;
  parentPort.on("message", async ({ body, target, id, bound }) => {
    let world;
    let main;
    let userModule = null;
    if (bound != null) {
      // The user's module loads under the run's wall-clock bound: a loop at its top level is stopped too.
      parentPort.postMessage({ started: WALL_CLOCK_SECONDS });
      try {
        // A fresh instance each run (the query makes it another module): state the
        // module keeps (a circuit breaker's) does not carry over from one scenario to the next.
        loads += 1;
        userModule = await import(`${bound.url}?asyncparity-run=${loads}`);
      } catch (error) {
        // The same shape as the Python target's (asyncparity_runtime.World.user_module).
        parentPort.postMessage({ error: `scenario '${id}': ${basename(bound.path)} failed to load: ${userStack(error, bound.path)}` });
        return;
      }
      const missing = bound.exports.filter((name) => typeof userModule[name] !== "function");
      if (missing.length > 0) {
        parentPort.postMessage({ error: `scenario '${id}': ${basename(bound.path)} exports no function ${missing.join(", ")}` });
        return;
      }
    }
    try {
      const params = ["World", "ScenarioError", ...(bound != null ? [bound.name] : [])];
      ({ world, main } = new Function(...params, `${body}\nreturn { world, main };`)(World, ScenarioError, userModule));
    } catch (error) {
      parentPort.postMessage({ error: `generated ${target} code for scenario ${JSON.stringify(id)} failed to load: ${describe(error)}` });
      return;
    }
    parentPort.postMessage({ started: world.wallClockSeconds ?? null });
    const outcome = await world.run(main);
    try {
      parentPort.postMessage({ outcome });
    } catch (error) {
      parentPort.postMessage({ error: `the outcome of scenario ${JSON.stringify(id)} cannot be sent: ${describe(error)}` });
    }
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

/** Serves one request line; every path writes exactly one reply, or exits on shutdown. */
async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    reply({ id: null, type: "error", message: `request is not JSON: ${error.message}` });
    return;
  }
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    reply({ id: null, type: "error", message: "request is not a JSON object" });
    return;
  }
  const id = request.id ?? null;
  try {
    switch (request.type) {
      case "hello":
        reply({
          id, type: "hello", protocol: PROTOCOL_VERSION,
          runtime: { name: "node", version: process.versions.node },
          targets: TARGETS,
          features: FEATURES,
        });
        return;
      case "compile": {
        const { target, scenario } = checkScenarioRequest(request);
        const { header, body, footer } = await compileScenario(scenario, target);
        reply({ id, type: "compiled", source: header + body + footer });
        return;
      }
      case "run": {
        const { target, scenario } = checkScenarioRequest(request);
        if (request.body !== undefined && typeof request.body !== "string") throw new RequestError("request's body is not text");
        const { outcome, body } = await runScenario(scenario, target, request.body ?? null);
        // The body goes back only when asked for, and only one the runner may keep.
        reply(request.return_body === true && body !== null ? { id, type: "outcome", outcome, body } : { id, type: "outcome", outcome });
        return;
      }
      case "shutdown":
        writeProtocol(`${JSON.stringify({ id, type: "bye" })}\n`, () => process.exit(0));
        // Serve nothing after shutdown while the reply drains.
        await new Promise(() => {});
        return;
      default:
        throw new RequestError(`unknown request type ${JSON.stringify(request.type)}; expected hello, compile, run or shutdown`);
    }
  } catch (error) {
    const message = error instanceof RequestError ? error.message : `internal error: ${describe(error)}`;
    reply({ id, type: "error", message });
  }
}

/** The main thread's side: the protocol on stdin and stdout. */
function serveProtocol() {
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    // A blank line is no request: answering it would shift every later reply.
    if (line.trim() === "") return;
    queue = queue.then(() => handle(line)).catch((error) => {
      // handle() answers every failure itself; reaching this means a reply could not be
      // written, and the queue must still go on to the next request.
      process.stderr.write(`asyncparity worker: ${describe(error)}\n`);
    });
  });
  loadCompile().catch(() => {
    compilePromise = null; // the first request imports again and answers with the error
  });
  RunThread.warm();
  lines.on("close", () => {
    queue.then(() => process.exit(0));
  });
}

if (isMainThread) serveProtocol();
else serveRuns();
