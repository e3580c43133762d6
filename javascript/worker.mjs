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
 * The compiler is `compile.mjs` beside this file, unless the environment variable
 * ASYNCPARITY_JS_COMPILER names another module exporting the same
 * `compile(ir, target, options)`. The worker passes `{ awaitUsing: FEATURES.await_using }`:
 * on a Node that has the syntax (24+), js-async renders a `using` step with `await using`,
 * elsewhere with try/finally; the trace is the same.
 *
 * @module worker
 */

import { createInterface } from "node:readline";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { World, ScenarioError } from "./asyncparity-runtime.mjs";

const PROTOCOL_VERSION = 1;
// The targets this testee serves (its hello says so); a compiler named by
// ASYNCPARITY_JS_COMPILER must write both.
const TARGETS = ["js-promise", "js-async"];

// Keep the real writer for protocol lines, then point process.stdout.write at stderr:
// console.log and friends write through it, and a stray line on stdout would
// desynchronise the runner's reader.
const writeProtocol = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);

// Node's default turns an unhandled rejection into a fatal exception (since v15,
// nodejs/node#33021). During a run the World takes the event over and records an
// `unhandled` trace event; this listener only hears rejections outside runs, which are
// diagnostics, and the worker keeps serving.
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
 * Runs the compiled body in-process. The body is the kit's own generated code, in which
 * every string from the scenario is an escaped literal; `World` and `ScenarioError` are
 * passed in because the body is evaluated without the header's import line.
 */
async function runScenario(scenario, target) {
  const { body } = await compileScenario(scenario, target);
  let world;
  let main;
  try {
    ({ world, main } = new Function("World", "ScenarioError", `${body}\nreturn { world, main };`)(World, ScenarioError));
  } catch (error) {
    throw new RequestError(`generated ${target} code for scenario ${JSON.stringify(scenario.id)} failed to load: ${describe(error)}`);
  }
  const outcome = await world.run(main);
  return { target, ...outcome };
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
        reply({ id, type: "outcome", outcome: await runScenario(scenario, target) });
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
lines.on("close", () => {
  queue.then(() => process.exit(0));
});
