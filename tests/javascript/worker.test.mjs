// Tests of javascript/worker.mjs: the real worker process, spoken to over the JSON-lines
// protocol of spec/PROTOCOL.md. Runs use a stub compiler (ASYNCPARITY_JS_COMPILER) that
// hands back hand-written bodies, so they do not depend on javascript/compile.mjs; the
// last test runs the seed scenario's IR through the real compiler when it exists.
// Run: node --test tests/javascript/

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const WORKER = fileURLToPath(new URL("../../javascript/worker.mjs", import.meta.url));
const COMPILER = fileURLToPath(new URL("../../javascript/compile.mjs", import.meta.url));
const TIMEOUT = { timeout: 20000 };

const stubDir = mkdtempSync(join(tmpdir(), "asyncparity-worker-"));
const STUB = join(stubDir, "stub-compile.mjs");
writeFileSync(STUB, `
// Test stub with the contract of javascript/compile.mjs: the body is carried in the IR.
export function compile(ir, target, options) {
  if (ir.stub_throw) throw new Error(ir.stub_throw);
  if (ir.stub_throw_for === target) throw new Error("not for " + target);
  return {
    header: "// " + ir.id + " (" + target + ")\\n" + (options?.validated ? "// validated\\n" : "")
      + "import { World } from \\"./asyncparity-runtime.mjs\\";\\n",
    body: ir.stub_body,
    footer: "\\nworld.runAndPrint(main);\\n",
  };
}
`);
after(() => rmSync(stubDir, { recursive: true, force: true }));

const workers = [];
after(() => { for (const w of workers) w.child.kill(); });

/**
 * Starts a real worker; `request` sends one line and resolves with the next reply.
 * `node`: the Node binary to run it on (this one by default).
 */
function startWorker(env = {}, node = process.execPath) {
  const child = spawn(node, [WORKER], {
    env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"],
  });
  const lines = [];
  const waiters = [];
  let closed = false;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line); else lines.push(line);
  }).on("close", () => {
    closed = true;
    for (const waiter of waiters.splice(0)) waiter(null);
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const worker = {
    child,
    exited,
    get stderr() { return stderr; },
    send(message) {
      child.stdin.write(`${typeof message === "string" ? message : JSON.stringify(message)}\n`);
    },
    /** The next stdout line as JSON, or null once stdout has closed. */
    async next() {
      const line = lines.length > 0 ? lines.shift() : closed ? null : await new Promise((r) => waiters.push(r));
      return line === null ? null : JSON.parse(line);
    },
    async request(message) {
      worker.send(message);
      return worker.next();
    },
  };
  workers.push(worker);
  return worker;
}

/** A scenario IR for the stub compiler: `body` is the hand-written program body. */
function stubIr(id, body, extra = {}) {
  return { ir: 1, id, stub_body: body, ...extra };
}

const SEED_BODY = `const world = new World("seed-download-fallback", {"virtual_time":3600000,"timer_firings":10000,"turns_per_instant":1000});
const { log, setTimeout, clearTimeout } = world;
const IOError = world.errorKind("IOError");
const downloadData = world.operation("download_data", { latency: 30, outcomes: [{"fails":{"kind":"IOError","message":"connection reset"}}] });
const downloadFallbackData = world.operation("download_fallback_data", { latency: 20, outcomes: [{"returns":"fallback bytes"}] });
const processDataInWorker = world.operation("process_data_in_worker", { latency: 10, outcomes: [{"returns":"processed"}] });
function getProcessedData(url) {
  return downloadData(url)
    .catch((error) => {
      if (!(error instanceof IOError)) throw error;
      return downloadFallbackData(url);
    })
    .then((data) => processDataInWorker(data));
}
function main() {
  return getProcessedData("https://example.com/data").then((result) => {
    log(\`got \${result}\`);
    return result;
  });
}`;

const SEED_TRACE = [
  { t: 0, event: "start", op: "download_data", args: ["https://example.com/data"] },
  { t: 30, event: "fail", op: "download_data", error: { kind: "IOError", message: "connection reset" } },
  { t: 30, event: "start", op: "download_fallback_data", args: ["https://example.com/data"] },
  { t: 50, event: "end", op: "download_fallback_data", value: "fallback bytes" },
  { t: 50, event: "start", op: "process_data_in_worker", args: ["fallback bytes"] },
  { t: 60, event: "end", op: "process_data_in_worker", value: "processed" },
  { t: 60, event: "log", message: "got processed" },
  { t: 60, event: "return", value: "processed" },
];

test("hello names the protocol, the runtime and the targets", TIMEOUT, async () => {
  const worker = startWorker();
  assert.deepEqual(await worker.request({ id: 1, type: "hello" }), {
    id: 1, type: "hello", protocol: 2,
    runtime: { name: "node", version: process.versions.node },
    targets: ["js-promise", "js-async"],
    // Detected by compiling `await using` (a SyntaxError before Node 24) and by looking
    // for Promise.withResolvers (Node 22): the majors decide both.
    features: {
      await_using: Number(process.versions.node.split(".")[0]) >= 24,
      promise_with_resolvers: Number(process.versions.node.split(".")[0]) >= 22,
    },
  });
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("bad requests get an error reply and the worker keeps serving", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  assert.deepEqual(await worker.request("not json"), {
    id: null, type: "error",
    message: "request is not JSON: Unexpected token 'o', \"not json\" is not valid JSON",
  });
  assert.deepEqual(await worker.request("[1, 2]"), { id: null, type: "error", message: "request is not a JSON object" });
  // Every request has an integer id (spec/PROTOCOL.md): a hello without one was answered.
  for (const [request, shown] of [[{ type: "hello" }, "none"], [{ id: "x", type: "hello" }, '"x"'], [{ id: 1.5, type: "hello" }, "1.5"]]) {
    assert.deepEqual(await worker.request(request), { id: null, type: "error", message: `a request needs an integer id, not ${shown}` });
  }
  assert.deepEqual(await worker.request({ id: 2, type: "launch" }), {
    id: 2, type: "error", message: 'unknown request type "launch"; expected hello, compile, run or shutdown',
  });
  assert.deepEqual(await worker.request({ id: 3, type: "run", target: "python", scenario: stubIr("x", "") }), {
    id: 3, type: "error", message: 'unknown target "python"; this testee serves js-promise, js-async',
  });
  assert.deepEqual(await worker.request({ id: 4, type: "run", target: "js-async" }), {
    id: 4, type: "error", message: "request has no scenario IR object",
  });
  assert.deepEqual(await worker.request({ id: 5, type: "compile", target: "js-async", scenario: { ir: 2 } }), {
    id: 5, type: "error", message: "unsupported scenario IR version 2; this testee reads version 1",
  });
  assert.deepEqual(
    await worker.request({ id: 6, type: "run", target: "js-async", scenario: stubIr("boom", "", { stub_throw: "no such step" }) }),
    { id: 6, type: "error", message: 'cannot compile scenario "boom" for js-async: Error: no such step' });
  assert.deepEqual(
    await worker.request({ id: 7, type: "run", target: "js-promise", scenario: stubIr("broken", "const world = ;") }),
    { id: 7, type: "error", message: "generated js-promise code for scenario \"broken\" failed to load: SyntaxError: Unexpected token ';'" });
  // A blank line is no request and gets no reply: the next reply is hello's.
  worker.send("");
  assert.equal((await worker.request({ id: 8, type: "hello" })).type, "hello");
  assert.deepEqual(await worker.request({ id: 9, type: "shutdown" }), { id: 9, type: "bye" });
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("shutdown answers bye, exits 0 and serves nothing after", TIMEOUT, async () => {
  const worker = startWorker();
  worker.send({ id: 1, type: "shutdown" });
  worker.send({ id: 2, type: "hello" });
  assert.deepEqual(await worker.next(), { id: 1, type: "bye" });
  assert.equal(await worker.next(), null);
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a compiler that cannot load is an error reply, not a dead worker", TIMEOUT, async () => {
  const missing = join(stubDir, "missing.mjs");
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: missing });
  const reply = await worker.request({ id: 1, type: "compile", target: "js-async", scenario: stubIr("x", "") });
  assert.equal(reply.type, "error");
  assert.ok(reply.message.startsWith(`the compiler file://${missing} could not be loaded: Error: Cannot find module`), reply.message);
  assert.equal((await worker.request({ id: 2, type: "hello" })).type, "hello");
});

test("compile answers the whole program: header + body + footer", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const reply = await worker.request({ id: 1, type: "compile", target: "js-promise", scenario: stubIr("seed", SEED_BODY) });
  assert.deepEqual(reply, {
    id: 1, type: "compiled",
    source: `// seed (js-promise)\nimport { World } from "./asyncparity-runtime.mjs";\n${SEED_BODY}\nworld.runAndPrint(main);\n`,
  });
});

test("run answers the outcome, with the target first", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const reply = await worker.request({ id: 7, type: "run", target: "js-promise", scenario: stubIr("seed", SEED_BODY) });
  assert.deepEqual(reply, {
    id: 7, type: "outcome",
    outcome: {
      target: "js-promise",
      status: "settled",
      result: { returns: "processed" },
      trace: SEED_TRACE,
      message: null,
      stats: { virtual_time: 60, timer_firings: 3, max_turns_per_instant: 2 },
    },
  });
  assert.deepEqual(Object.keys(reply.outcome), ["target", "status", "result", "trace", "message", "stats"]);
});

test("validated: the compiler is told the IR comes from the kit's loader, on compile and run requests alike", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const scenario = stubIr("seed", SEED_BODY);
  const plain = await worker.request({ id: 1, type: "compile", target: "js-promise", scenario });
  const validated = await worker.request({ id: 2, type: "compile", target: "js-promise", scenario, validated: true });
  assert.ok(!plain.source.includes("// validated"), plain.source);
  assert.ok(validated.source.startsWith("// seed (js-promise)\n// validated\n"), validated.source);
  const run = await worker.request({ id: 3, type: "run", target: "js-promise", scenario, validated: true, return_body: true });
  assert.deepEqual(run.outcome.trace, SEED_TRACE);
});

test("a run request for several targets answers one outcome per target, in the order asked", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const scenario = stubIr("seed", SEED_BODY);
  const single = await Promise.all(["js-async", "js-promise"].map(async (target, index) => {
    worker.send({ id: 10 + index, type: "run", target, scenario });
    return (await worker.next()).outcome;
  }));
  const reply = await worker.request({ id: 1, type: "run", targets: ["js-async", "js-promise"], scenario, validated: true });
  assert.deepEqual(reply, { id: 1, type: "outcomes", outcomes: single });
  assert.deepEqual(reply.outcomes.map((outcome) => outcome.target), ["js-async", "js-promise"]);
  // return_bodies: every body, by target; bodies given back run without compiling (the
  // stub would throw), and a target not given one is compiled.
  const returned = await worker.request({ id: 2, type: "run", targets: ["js-promise", "js-async"], scenario, return_bodies: true });
  assert.deepEqual(returned.bodies, { "js-promise": SEED_BODY, "js-async": SEED_BODY });
  const throwing = stubIr("seed", SEED_BODY, { stub_throw_for: "js-async" });
  const given = await worker.request({ id: 3, type: "run", targets: ["js-promise", "js-async"], scenario: throwing, bodies: returned.bodies });
  assert.deepEqual(given, { id: 3, type: "outcomes", outcomes: [single[1], single[0]] });
  // A target that cannot be compiled is an error outcome of its own, with the message
  // its single-target request gets as an error reply; the other target still runs.
  assert.deepEqual(
    await worker.request({ id: 4, type: "run", targets: ["js-promise", "js-async"], scenario: throwing, bodies: { "js-promise": SEED_BODY } }),
    {
      id: 4, type: "outcomes", outcomes: [single[1], {
        target: "js-async", status: "error", result: null, trace: [],
        message: 'cannot compile scenario "seed" for js-async: Error: not for js-async',
      }],
    },
  );
  assert.deepEqual(
    await worker.request({ id: 5, type: "run", target: "js-async", scenario: throwing }),
    { id: 5, type: "error", message: 'cannot compile scenario "seed" for js-async: Error: not for js-async' },
  );
  // Its body is not given back to be kept; the other target's is.
  const kept = await worker.request({ id: 6, type: "run", targets: ["js-async", "js-promise"], scenario: throwing, return_bodies: true });
  assert.deepEqual(kept.outcomes.map((outcome) => outcome.status), ["error", single[1].status]);
  assert.deepEqual(kept.bodies, { "js-promise": SEED_BODY });
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a run request for several targets that is malformed is one error reply; a target that fails is its outcome", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const scenario = stubIr("seed", SEED_BODY);
  const cases = [
    [{ targets: [] }, "request's targets is not a non-empty list"],
    [{ targets: "js-async" }, "request's targets is not a non-empty list"],
    [{ targets: ["js-async", "python"] }, 'unknown target "python"; this testee serves js-promise, js-async'],
    [{ targets: ["js-async", "js-async"] }, 'request\'s targets repeat a target: ["js-async","js-async"]'],
    [{ targets: ["js-async"], target: "js-async" }, "request has both target and targets"],
    [{ targets: ["js-async"], scenario: null }, "request has no scenario IR object"],
    [{ targets: ["js-async"], bodies: { "js-promise": "x" } }, "request's bodies is not an object of texts by target, for targets of the request"],
    [{ targets: ["js-async"], bodies: { "js-async": 1 } }, "request's bodies is not an object of texts by target, for targets of the request"],
    [{ targets: ["js-async"], bodies: [] }, "request's bodies is not an object of texts by target, for targets of the request"],
  ];
  let id = 0;
  for (const [fields, message] of cases) {
    id += 1;
    assert.deepEqual(await worker.request({ id, type: "run", scenario, ...fields }), { id, type: "error", message });
  }
  // A body that does not load is its target's error outcome; the other target runs.
  const broken = await worker.request({ id: 99, type: "run", targets: ["js-promise", "js-async"], scenario, bodies: { "js-async": "const world = ;" } });
  assert.deepEqual(broken.outcomes[1], {
    target: "js-async", status: "error", result: null, trace: [],
    message: "generated js-async code for scenario \"seed\" failed to load: SyntaxError: Unexpected token ';'",
  });
  assert.equal(broken.outcomes[0].status, "settled");
  assert.equal((await worker.request({ id: 100, type: "hello" })).type, "hello");
});

test("pipelined requests are answered in order, deadlock and unhandled rejections included", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const stuck = `const world = new World("stuck", {});
function main() { return new Promise(() => {}); }`;
  const unhandled = `const world = new World("unhandled", {});
const { setTimeout } = world;
const IOError = world.errorKind("IOError");
async function main() {
  Promise.reject(new IOError("nobody listens"));
  await new Promise((resolve) => setTimeout(resolve, 5));
  return 1;
}`;
  worker.send({ id: 1, type: "run", target: "js-async", scenario: stubIr("stuck", stuck) });
  worker.send({ id: 2, type: "run", target: "js-async", scenario: stubIr("unhandled", unhandled) });
  worker.send({ id: 3, type: "run", target: "js-promise", scenario: stubIr("seed", SEED_BODY) });
  worker.send({ id: 4, type: "hello" });
  const [a, b, c, d] = [await worker.next(), await worker.next(), await worker.next(), await worker.next()];
  assert.equal(a.id, 1);
  assert.equal(a.outcome.status, "deadlock");
  assert.equal(a.outcome.message,
    "deadlock: scenario 'stuck' has not settled at 0 ms and no timer is pending; pending: the main workflow");
  assert.equal(b.id, 2);
  // Node's default for an unhandled rejection: the program ends there.
  assert.deepEqual(b.outcome.trace, [
    { t: 0, event: "unhandled", error: { kind: "IOError", message: "nobody listens" } },
  ]);
  assert.deepEqual(b.outcome.result, { uncaught: { kind: "IOError", message: "nobody listens" } });
  assert.equal(c.id, 3);
  assert.deepEqual(c.outcome.trace, SEED_TRACE);
  assert.deepEqual([d.id, d.type], [4, "hello"]);
});

test("stdout carries protocol only: console.log in scenario code goes to stderr", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const noisy = `const world = new World("noisy", {});
function main() { console.log("noise from a scenario"); process.stdout.write("more noise\\n"); return 1; }`;
  const reply = await worker.request({ id: 1, type: "run", target: "js-promise", scenario: stubIr("noisy", noisy) });
  assert.deepEqual(reply.outcome.result, { returns: 1 });
  worker.child.stdin.end();
  assert.equal(await worker.next(), null, "no line after the reply");
  await worker.exited;
  assert.match(worker.stderr, /noise from a scenario\nmore noise\n/);
});

test("a loop that never calls the kit is a runaway: the run thread is stopped past its bound, and the next run gets a new one", TIMEOUT, async () => {
  // A loop that would run for minutes, blocking its thread; the body lowers the run's
  // wall-clock bound (world.wallClockSeconds, 5 s by default), and the worker stops the
  // thread a grace of a second later.
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const spinning = `const world = new World("spinning", {});
world.wallClockSeconds = 0.2;
async function main() { let n = 0; for (let i = 0; i < 1e7; i++) for (let j = 0; j < 1e7; j++) n = n + 1; return n; }`;
  const started = performance.now();
  worker.send({ id: 1, type: "run", target: "js-async", scenario: stubIr("spinning", spinning) });
  worker.send({ id: 2, type: "run", target: "js-promise", scenario: stubIr("seed", SEED_BODY) });
  const first = await worker.next();
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds >= 1.2 && seconds < 10, `${seconds} s`); // the bound and the grace; seconds, not minutes
  assert.deepEqual(first, {
    id: 1,
    type: "outcome",
    outcome: {
      target: "js-async",
      status: "runaway",
      result: null,
      trace: [],
      message: "runaway: scenario 'spinning' passed 0.2 s of wall-clock time in a loop that never calls the kit "
        + "(the worker stopped it; the trace is lost)",
    },
  });
  const second = await worker.next();
  assert.equal(second.id, 2);
  assert.deepEqual(second.outcome.trace, SEED_TRACE);
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a compiled while that never waits is a runaway on both variants: the worker stops the loop past its bound", TIMEOUT, async () => {
  // The programs the compilers write for `while: [1, "==", 1]` around a `set` (a native
  // `while` in both), the run's wall-clock bound lowered from 5 s as above.
  const { compile } = await import(COMPILER);
  const ir = {
    ir: 1, id: "spinning-while", summary: "s", source: "t.yaml", limits: {}, errors: [], operations: [], functions: [],
    main: [
      { step: "set", bind: "n", value: { literal: 0 }, line: 1 },
      {
        step: "while", condition: { compare: [{ literal: 1 }, "==", { literal: 1 }] }, line: 2,
        body: [{ step: "set", bind: "n", value: { calc: [{ ref: "n" }, "+", { literal: 1 }] }, line: 3 }],
      },
    ],
  };
  const replies = await Promise.all(["js-promise", "js-async"].map(async (target) => {
    const { body } = compile(ir, target);
    assert.match(body, /while \(1 === 1\) \{/);
    const lowered = body.replace(/^(const world = new World\(.*\);)$/m, "$1\nworld.wallClockSeconds = 0.2;");
    const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
    const reply = await worker.request({ id: 1, type: "run", target, scenario: stubIr("spinning-while", lowered) });
    worker.child.stdin.end();
    return reply.outcome;
  }));
  for (const outcome of replies) {
    assert.equal(outcome.status, "runaway");
    assert.equal(outcome.message, "runaway: scenario 'spinning-while' passed 0.2 s of wall-clock time in a loop that never calls "
      + "the kit (the worker stopped it; the trace is lost)");
  }
});

test("a run thread that dies is an error reply for its run, and the worker goes on", TIMEOUT, async () => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const exiting = `const world = new World("exiting", {});
function main() { process.exit(3); }`;
  assert.deepEqual(await worker.request({ id: 1, type: "run", target: "js-promise", scenario: stubIr("exiting", exiting) }), {
    id: 1, type: "error", message: "internal error: Error: the run thread exited (code 3)",
  });
  const next = await worker.request({ id: 2, type: "run", target: "js-promise", scenario: stubIr("seed", SEED_BODY) });
  assert.deepEqual(next.outcome.trace, SEED_TRACE);
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a runaway in the middle of pipelined runs: the runs before it keep their outcomes, the runs after it go to a new thread", TIMEOUT, async () => {
  // The runs are posted to the run thread together (one batch); the watchdog reads which
  // run started when from shared memory, and stops the thread on the one that spins.
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  // It blocks its thread as a loop would, without taking a core from the tests that run
  // beside it on real timers (Atomics.wait; Worker.terminate interrupts it).
  const spinning = `const world = new World("spinning", {});
world.wallClockSeconds = 0.2;
function main() { globalThis.spun = true; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); return 1; }`;
  // A fresh thread has no globalThis.spun: the run after the runaway returns false.
  const fresh = `const world = new World("fresh", {});
function main() { return Promise.resolve(globalThis.spun === true); }`;
  const exiting = `const world = new World("exiting", {});
function main() { process.exit(3); }`;
  const requests = [
    { target: "js-promise", scenario: stubIr("seed", SEED_BODY) },
    { target: "js-async", scenario: stubIr("spinning", spinning) },
    { target: "js-promise", scenario: stubIr("fresh", fresh) },
    { target: "js-promise", scenario: stubIr("seed", SEED_BODY) },
    { target: "js-async", scenario: stubIr("exiting", exiting) },
    { target: "js-async", scenario: stubIr("seed", SEED_BODY) },
  ];
  requests.forEach((request, index) => worker.send({ id: index + 1, type: "run", ...request }));
  const replies = [];
  for (const _ of requests) replies.push(await worker.next());
  assert.deepEqual(replies.map((reply) => reply.id), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(replies[0].outcome.trace, SEED_TRACE);
  assert.equal(replies[1].outcome.status, "runaway");
  assert.equal(replies[1].outcome.message, "runaway: scenario 'spinning' passed 0.2 s of wall-clock time in a loop that never calls "
    + "the kit (the worker stopped it; the trace is lost)");
  assert.deepEqual(replies[2].outcome.result, { returns: false });
  assert.deepEqual(replies[3].outcome.trace, SEED_TRACE);
  assert.deepEqual(replies[4], { id: 5, type: "error", message: "internal error: Error: the run thread exited (code 3)" });
  assert.deepEqual(replies[5].outcome.trace, SEED_TRACE);
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a run without a wall-clock bound is not stopped, however long it takes", TIMEOUT, async () => {
  // world.wallClockSeconds = null: no bound, so the watchdog leaves the run alone (here
  // the thread blocked for 1.5 s, past the grace, by Atomics.wait, which takes no core).
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const slow = `const world = new World("slow", {});
world.wallClockSeconds = null;
function main() { return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); }`;
  const reply = await worker.request({ id: 1, type: "run", target: "js-promise", scenario: stubIr("slow", slow) });
  assert.deepEqual(reply.outcome.result, { returns: "timed-out" });
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

// -- nesting at the limits (issue 9, defect 1): the loader's bounds (runner/model.py,
// MAX_BLOCK_DEPTH and MAX_VALUE_DEPTH). tests/python/test_target.py has the same
// scenarios for the Python targets, and says why 5 (CPython's 20 static blocks).

const BLOCK_DEPTH = 5;
const VALUE_DEPTH = 32;

const lit = (literal) => ({ literal });
const op = (callee, ...args) => ({ callee, callee_kind: "operation", args });
const fn = (callee, ...args) => ({ callee, callee_kind: "function", args });
const logStep = (text) => ({ step: "log", message: lit(text), line: 1 });
const tryStep = (body, catchClause = null, final = null) => ({ step: "try", body, catch: catchClause, finally: final, line: 1 });
const FAIL = { step: "await", call: op("boom"), bind: null, line: 1 };

/** Each puts `inner` at one more level; `d` keeps the names it binds apart. */
const NESTING = {
  "try/catch": (inner, d) => tryStep(inner, { kinds: ["IOError"], bind: `e${d}`, body: [logStep("c")] }),
  "try/catch every error": (inner) => tryStep(inner, { kinds: [], bind: null, body: [logStep("c")] }),
  catch: (inner, d) => tryStep([FAIL], { kinds: ["IOError", "CancelledError"], bind: `e${d}`, body: inner }),
  "try/finally": (inner) => tryStep(inner, null, [logStep("f")]),
  finally: (inner) => tryStep([logStep("b")], null, inner),
  "catch of try/catch/finally": (inner, d) => tryStep([FAIL], { kinds: ["IOError"], bind: `e${d}`, body: inner }, [logStep("f")]),
  "finally of try/catch/finally": (inner, d) => tryStep([logStep("b")], { kinds: ["IOError"], bind: `e${d}`, body: [logStep("c")] }, inner),
  repeat: (inner, d) => ({ step: "repeat", times: 2, bind: `i${d}`, body: inner, line: 1 }),
  timeout: (inner) => ({ step: "timeout", ms: 100000, body: inner, line: 1 }),
  using: (inner, d) => ({ step: "using", resource: "conn", args: [], bind: `c${d}`, body: inner, line: 1 }),
  for_each: (inner, d) => ({ step: "for_each", call: fn("ticks"), bind: `v${d}`, body: inner, line: 1 }),
  if: (inner) => ({ step: "if", condition: { compare: [lit(1), "==", lit(1)] }, then: inner, else: [], line: 1 }),
  else: (inner) => ({ step: "if", condition: { compare: [lit(1), "!=", lit(1)] }, then: [], else: inner, line: 1 }),
};

/** Every step that holds none (but return, throw and cancel). */
const LEAVES = [
  { step: "all", calls: [op("fetch"), fn("work", lit(1))], bind: "a", line: 1 },
  { step: "race", calls: [op("fetch"), op("fetch")], bind: "r", line: 1 },
  { step: "any", calls: [op("fetch"), op("boom")], bind: "y", line: 1 },
  { step: "all_settled", calls: [op("fetch"), op("boom")], bind: "s", line: 1 },
  { step: "group", calls: [op("fetch"), fn("work", lit(1))], bind: "g", line: 1 },
  { step: "map", callee: "work", callee_kind: "function", over: lit([1, 2, 3]), limit: 2, bind: "m", line: 1 },
  { step: "start", call: op("fetch"), bind: "h", line: 1 },
  { step: "await", handle: "h", bind: null, line: 1 },
  { step: "put", queue: "q", value: lit(1), line: 1 },
  { step: "get", queue: "q", bind: "got", line: 1 },
  { step: "sleep", ms: 1, line: 1 },
  { step: "now", bind: "t", line: 1 },
  { step: "set", bind: "n", value: { calc: [lit(1), "+", lit(1)] }, line: 1 },
];

function nestedScenario(id, kinds, leaves, result = lit("done")) {
  let steps = leaves;
  [...kinds].reverse().forEach((kind, depth) => { steps = [NESTING[kind](steps, depth)]; });
  return {
    ir: 1, id, summary: "s", source: "t.yaml",
    limits: { virtual_time: 3600000, timer_firings: 10000, turns_per_instant: 1000 },
    errors: ["TimeoutError", "IOError"],
    operations: [
      { name: "fetch", latency: 5, outcomes: [{ returns: 1 }] },
      { name: "boom", latency: 1, outcomes: [{ fails: { kind: "IOError", message: "x" } }] },
    ],
    functions: [
      { name: "work", params: ["x"], body: [{ step: "return", value: { ref: "x" }, line: 1 }] },
      { name: "ticks", params: [], generator: true, body: [1, 2].map((n) => ({ step: "yield", value: lit(n), line: 1 })) },
    ],
    resources: [{ name: "conn", open: 1, close: 1 }],
    queues: [{ name: "q", size: 1 }],
    main: [...steps, { step: "return", value: result, line: 1 }],
  };
}

function nestedAtTheLimits() {
  const scenarios = Object.keys(NESTING).map((kind) => nestedScenario(`${kind} x${BLOCK_DEPTH}`, Array(BLOCK_DEPTH).fill(kind), LEAVES));
  scenarios.push(
    nestedScenario("try in repeat in timeout in using in for_each", ["for_each", "using", "timeout", "repeat", "try/catch"], LEAVES),
    nestedScenario("catch of try/catch/finally in finally in if in for_each in timeout",
      ["timeout", "for_each", "if", "finally", "catch of try/catch/finally"], LEAVES),
  );
  const values = { list: lit(1), map: lit(1), calc: lit(1) };
  for (let level = 0; level < VALUE_DEPTH; level += 1) {
    values.list = { list: [values.list, lit("x")] };
    values.map = { object: [["k", values.map]] };
    if (level < VALUE_DEPTH / 2) values.calc = { calc: [lit(level), "-", values.calc] }; // a calc is a map holding a list
  }
  for (const [kind, value] of Object.entries(values)) {
    const leaves = [
      { step: "set", bind: "deep", value, line: 1 },
      { step: "log", message: { ref: "deep" }, line: 1 },
      { step: "await", call: fn("work", value), bind: "back", line: 1 },
    ];
    scenarios.push(nestedScenario(`a ${kind} value`, Array(BLOCK_DEPTH).fill("catch of try/catch/finally"), leaves, value));
  }
  return scenarios;
}

async function runNestedAtTheLimits(node) {
  const worker = startWorker({}, node);
  const scenarios = nestedAtTheLimits();
  let id = 0;
  for (const scenario of scenarios) {
    for (const target of ["js-promise", "js-async"]) worker.send({ id: ++id, type: "run", target, scenario });
  }
  for (const scenario of scenarios) {
    for (const target of ["js-promise", "js-async"]) {
      const reply = await worker.next();
      assert.equal(reply.type, "outcome", `${scenario.id} ${target}: ${reply.message}`);
      assert.equal(reply.outcome.status, "settled", `${scenario.id} ${target}: ${reply.outcome.message}`);
      if (!scenario.id.startsWith("a ")) assert.deepEqual(reply.outcome.result, { returns: "done" }, `${scenario.id} ${target}`);
      if (scenario.id === "a list value") {
        let value = reply.outcome.result.returns;
        for (let level = 0; level < VALUE_DEPTH; level += 1) {
          assert.equal(value[1], "x");
          value = value[0];
        }
        assert.equal(value, 1);
      }
    }
  }
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
}

test("programs nested at the limits compile and run: each kind of block 5 deep around every step, mixes, values 32 deep", {
  ...TIMEOUT, skip: existsSync(COMPILER) ? false : "javascript/compile.mjs does not exist yet",
}, async () => {
  await runNestedAtTheLimits(process.execPath);
});

test("on Node 24+ the programs nested at the limits compile and run too", TIMEOUT, async (t) => {
  if (!existsSync(COMPILER)) return t.skip("javascript/compile.mjs does not exist yet");
  const { findNode24 } = await import("./fixtures/node24.mjs");
  const node24 = findNode24();
  if (node24.path === null) return t.skip(node24.reason);
  await runNestedAtTheLimits(node24.path);
});

test("one worker serves hundreds of runs", TIMEOUT, async (t) => {
  const worker = startWorker({ ASYNCPARITY_JS_COMPILER: STUB });
  const count = 500;
  const started = process.hrtime.bigint();
  for (let id = 1; id <= count; id++) {
    worker.send({ id, type: "run", target: id % 2 ? "js-promise" : "js-async", scenario: stubIr("seed", SEED_BODY) });
  }
  for (let id = 1; id <= count; id++) {
    const reply = await worker.next();
    assert.equal(reply.id, id);
    assert.equal(reply.outcome.status, "settled");
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.diagnostic(`${count} runs in ${seconds.toFixed(3)} s: ${Math.round(count / seconds)} runs/s`);
});

test("the seed scenario's IR runs through the real compiler in both targets", {
  ...TIMEOUT,
  skip: existsSync(COMPILER) ? false : "javascript/compile.mjs does not exist yet",
}, async () => {
  const call = (callee, kind, args) => ({ callee, callee_kind: kind, args });
  const ir = {
    ir: 1,
    id: "seed-download-fallback",
    summary: "The download fails with IOError, so getProcessedData falls back and processes the fallback data.",
    source: "spec/seed/download-fallback.yaml",
    limits: { virtual_time: 3600000, timer_firings: 10000, turns_per_instant: 1000 },
    errors: ["IOError"],
    operations: [
      { name: "download_data", latency: 30, outcomes: [{ fails: { kind: "IOError", message: "connection reset" } }] },
      { name: "download_fallback_data", latency: 20, outcomes: [{ returns: "fallback bytes" }] },
      { name: "process_data_in_worker", latency: 10, outcomes: [{ returns: "processed" }] },
    ],
    functions: [{
      name: "get_processed_data",
      params: ["url"],
      body: [
        {
          step: "try", line: 21,
          body: [{ step: "await", line: 22, call: call("download_data", "operation", [{ ref: "url" }]), bind: "data" }],
          catch: {
            kinds: ["IOError"], bind: null,
            body: [{ step: "await", line: 28, call: call("download_fallback_data", "operation", [{ ref: "url" }]), bind: "data" }],
          },
          finally: null,
        },
        { step: "await", line: 31, call: call("process_data_in_worker", "operation", [{ ref: "data" }]), bind: "processed" },
        { step: "return", line: 34, value: { ref: "processed" } },
      ],
    }],
    main: [
      { step: "await", line: 37, call: call("get_processed_data", "function", [{ literal: "https://example.com/data" }]), bind: "result" },
      { step: "log", line: 40, message: { format: ["got ", { ref: "result" }] } },
      { step: "return", line: 41, value: { ref: "result" } },
    ],
  };
  const worker = startWorker();
  for (const [id, target] of [[1, "js-promise"], [2, "js-async"]]) {
    const reply = await worker.request({ id, type: "run", target, scenario: ir });
    assert.equal(reply.type, "outcome", JSON.stringify(reply));
    assert.equal(reply.outcome.target, target);
    assert.equal(reply.outcome.status, "settled");
    assert.deepEqual(reply.outcome.result, { returns: "processed" });
    assert.deepEqual(reply.outcome.trace, SEED_TRACE);
    const compiled = await worker.request({ id: id + 10, type: "compile", target, scenario: ir });
    assert.equal(compiled.type, "compiled");
    assert.match(compiled.source, /import \{ World \} from "\.\/asyncparity-runtime\.mjs";/);
    assert.equal(/\basync\b|\bawait\b/.test(compiled.source.replace(/\/\/.*$/gm, "")), target === "js-async");
  }
});

test("a timeout scenario runs through the real worker: the deadline cancels the slow operation, TimeoutError record", {
  ...TIMEOUT,
  skip: existsSync(COMPILER) ? false : "javascript/compile.mjs does not exist yet",
}, async () => {
  // The IR as the loader writes it for: timeout 50 ms around a slow (80 ms) download.
  const ir = {
    ir: 1,
    id: "timeout-through-worker",
    summary: "The download takes longer than the timeout.",
    source: "tests/javascript/timeout-through-worker.yaml",
    limits: { virtual_time: 3600000, timer_firings: 10000, turns_per_instant: 1000 },
    errors: ["TimeoutError"],
    operations: [{ name: "download", latency: 80, outcomes: [{ returns: "late" }] }],
    functions: [],
    main: [
      {
        step: "timeout", line: 5, ms: 50,
        body: [{ step: "await", line: 6, call: { callee: "download", callee_kind: "operation", args: [] }, bind: "data" }],
      },
      { step: "return", line: 7, value: { ref: "data" } },
    ],
  };
  const worker = startWorker();
  for (const [id, target] of [[1, "js-promise"], [2, "js-async"]]) {
    const reply = await worker.request({ id, type: "run", target, scenario: ir });
    assert.equal(reply.type, "outcome", JSON.stringify(reply));
    assert.equal(reply.outcome.status, "settled");
    assert.deepEqual(reply.outcome.result, { throws: { kind: "TimeoutError", message: "" } });
    assert.deepEqual(reply.outcome.trace, [
      { t: 0, event: "start", op: "download", args: [] },
      { t: 50, event: "cancel", op: "download" },
      { t: 50, event: "throw", error: { kind: "TimeoutError", message: "" } },
    ]);
  }
});

test("a generator and a resource run through the real worker", {
  ...TIMEOUT,
  skip: existsSync(COMPILER) ? false : "javascript/compile.mjs does not exist yet",
}, async () => {
  // The consumer breaks while the generator is inside a using block: for-await closes the
  // generator at the break, so the resource closes (18) before "after loop".
  const { GENERATORS_AND_USING } = await import("./fixtures/scenarios.mjs");
  const { ir } = GENERATORS_AND_USING().find((entry) => entry.ir.id === "generator-using-break");
  const worker = startWorker();
  for (const [id, target] of [[1, "js-promise"], [2, "js-async"]]) {
    const reply = await worker.request({ id, type: "run", target, scenario: ir });
    assert.equal(reply.type, "outcome", JSON.stringify(reply));
    assert.equal(reply.outcome.status, "settled");
    assert.deepEqual(reply.outcome.result, { returns: "done" });
    assert.deepEqual(reply.outcome.trace, [
      { t: 5, event: "open", resource: "connection", args: ["feed"] },
      { t: 15, event: "log", message: "connection#1 row 0" },
      { t: 18, event: "close", resource: "connection" },
      { t: 18, event: "log", message: "after loop" },
      { t: 18, event: "return", value: "done" },
    ], target);
  }
});

// ---- using: try/finally or `await using`, as the worker's own Node allows ----------------

/**
 * Runs using fixtures through a real worker on `node`: the hello's `await_using` decides
 * the js-async rendering (a block with `await using`, or try/finally), js-promise never
 * changes, and every run gives the fixture's trace.
 */
async function usingThroughWorker(node) {
  const { GENERATORS_AND_USING, USING_INTERLEAVINGS } = await import("./fixtures/scenarios.mjs");
  const { formatTrace } = await import("../../javascript/asyncparity-runtime.mjs");
  const ids = ["using-nested", "using-error", "using-return", "generator-using-break", "break-in-using", "using-queue-wakeups-error"];
  const entries = [...GENERATORS_AND_USING(), ...USING_INTERLEAVINGS()].filter((entry) => ids.includes(entry.ir.id));
  assert.equal(entries.length, ids.length);
  const worker = startWorker({}, node);
  const hello = await worker.request({ id: 0, type: "hello" });
  const awaitUsing = hello.features.await_using;
  const major = Number(hello.runtime.version.split(".")[0]);
  assert.equal(awaitUsing, major >= 24, `Node ${hello.runtime.version}: await_using ${awaitUsing}`);
  let id = 1;
  for (const { ir, trace, promiseTrace } of entries) {
    for (const target of ["js-promise", "js-async"]) {
      const compiled = await worker.request({ id: id++, type: "compile", target, scenario: ir });
      assert.equal(compiled.type, "compiled", JSON.stringify(compiled));
      const rendered = /^ *await using \w+ = await \w+\.open\(/m.test(compiled.source);
      const finallyClose = /\} finally \{\n *await \w+Handle\d*\.close\(\);/.test(compiled.source);
      const promiseClose = /\.finally\(\(\) => \w+Handle\d*\.close\(\)\)/.test(compiled.source);
      if (target === "js-promise") {
        assert.deepEqual([rendered, finallyClose, promiseClose], [false, false, true], `${ir.id} ${target}`);
      } else {
        assert.deepEqual([rendered, finallyClose, promiseClose], [awaitUsing, !awaitUsing, false], `${ir.id} ${target}`);
        assert.equal(compiled.source.includes("// await using (Node 24+): disposed at the end of this block"), awaitUsing);
      }
      const reply = await worker.request({ id: id++, type: "run", target, scenario: ir });
      assert.equal(reply.type, "outcome", JSON.stringify(reply));
      assert.equal(reply.outcome.status, "settled", `${ir.id} ${target}: ${reply.outcome.message}`);
      const expected = target === "js-promise" && promiseTrace !== undefined ? promiseTrace : trace;
      assert.equal(formatTrace(reply.outcome.trace), expected.trim(), `${ir.id} ${target} on Node ${hello.runtime.version}`);
    }
  }
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
  return hello;
}

test("the worker renders using for its own Node: try/finally where `await using` is a SyntaxError (Node 20, 22), and the programs run", {
  ...TIMEOUT,
  skip: existsSync(COMPILER) ? false : "javascript/compile.mjs does not exist yet",
}, async () => {
  const hello = await usingThroughWorker(process.execPath);
  assert.equal(hello.runtime.version, process.versions.node);
});

test("on Node 24+ the worker renders using with `await using`, with the same traces", TIMEOUT, async (t) => {
  if (!existsSync(COMPILER)) return t.skip("javascript/compile.mjs does not exist yet");
  const { findNode24 } = await import("./fixtures/node24.mjs");
  const node24 = findNode24();
  if (node24.path === null) return t.skip(node24.reason);
  const hello = await usingThroughWorker(node24.path);
  assert.equal(hello.features.await_using, true, node24.reason);
});

// Issue 12: scenarios bound to the user's own code, through the real compiler and worker.

const userDir = mkdtempSync(join(tmpdir(), "asyncparity-user-"));
after(() => rmSync(userDir, { recursive: true, force: true }));

/** Writes the user's module `name` and returns its absolute path. */
function userFile(name, source) {
  const path = join(userDir, name);
  writeFileSync(path, source);
  return path;
}

/** The IR of a scenario whose `get_json` is the user's (as the loader writes it), awaited by main. */
function boundIr(path, { id = "bound", main } = {}) {
  const call = { callee: "get_json", callee_kind: "function", args: [{ literal: "/orders" }] };
  return {
    ir: 1, id, summary: "user code", source: "bound.yaml", errors: [], queues: [], resources: [],
    operations: [{ name: "http_get", latency: 10, outcomes: [{ returns: "ok" }] }],
    functions: [{ name: "get_json", params: ["url"], body: [], bound: true }],
    bindings: { python: path.replace(/\.\w+$/, ".py"), javascript: path, functions: ["get_json"] },
    main: main ?? [{ step: "await", line: 3, call, bind: "body" }, { step: "return", line: 4, value: { ref: "body" } }],
  };
}

const CLIENT = `
export async function getJson(api, url, signal) {
  api.log(\`get \${url}\`);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const body = await api.httpGet(url, { signal });
  return { body, at: Date.now() };
}
`;

test("a bound function runs the user's export with the world first, on the virtual clock, in both targets", TIMEOUT, async () => {
  const ir = boundIr(userFile("client.mjs", CLIENT));
  const worker = startWorker();
  for (const target of ["js-promise", "js-async"]) {
    const { outcome } = await worker.request({ id: 1, type: "run", target, scenario: ir });
    assert.equal(outcome.status, "settled", outcome.message);
    assert.deepEqual(outcome.result, { returns: { body: "ok", at: 15 } });
    assert.deepEqual(outcome.trace, [
      { t: 0, event: "log", message: "get /orders" },
      { t: 5, event: "start", op: "http_get", args: ["/orders"] },
      { t: 15, event: "end", op: "http_get", value: "ok" },
      { t: 15, event: "return", value: { body: "ok", at: 15 } },
    ]);
  }
  const { source } = await worker.request({ id: 2, type: "compile", target: "js-promise", scenario: ir });
  assert.match(source, /^import \* as userCode from "file:\/\/\/.*\/client\.mjs";$/m);
  assert.ok(source.includes("const api = world.api({ httpGet });\nworld.globals = true;\n"), source);
  assert.ok(source.includes("function getJson(url) {\n  return new Promise((resolve) => resolve(userCode.getJson(api, url)));\n}"), source);
  const async = await worker.request({ id: 3, type: "compile", target: "js-async", scenario: ir });
  assert.ok(async.source.includes("async function getJson(url) {\n  return userCode.getJson(api, url);\n}"), async.source);
});

test("what the user's code prints is its outcome's output, the first 64 KiB; a module that fails to load prints to stderr", TIMEOUT, async () => {
  // It went to the worker's stderr, which the runner does not show: a user's debugging lines were lost.
  const printing = CLIENT.replace("api.log(", 'console.log("fetching", url); process.stderr.write("x".repeat(70000)); api.log(');
  const worker = startWorker();
  const { outcome } = await worker.request({ id: 1, type: "run", target: "js-async", scenario: boundIr(userFile("printing.mjs", printing)) });
  assert.equal(outcome.status, "settled", outcome.message);
  assert.equal(outcome.output, `fetching /orders\n${"x".repeat(65536 - 17)}\n[${70000 - 65536 + 17} more characters not kept]`);
  const plain = await worker.request({ id: 2, type: "run", target: "js-async", scenario: boundIr(userFile("quiet.mjs", CLIENT)) });
  assert.equal("output" in plain.outcome, false);
  const failing = await worker.request({
    id: 3, type: "run", target: "js-async",
    scenario: boundIr(userFile("broken.mjs", 'console.log("loading broken"); throw new Error("no config");')),
  });
  assert.equal(failing.type, "error");
  worker.child.stdin.end();
  await worker.exited;
  assert.match(worker.stderr, /loading broken/);
});

test("the user's code ending the run thread is that scenario's error, naming the module; the next run gets a new thread", TIMEOUT, async () => {
  // It was "internal error: Error: the run thread exited (code 3)", which reads as the kit's bug.
  const exiting = CLIENT.replace("api.log(", "process.exit(3); api.log(");
  const worker = startWorker();
  const reply = await worker.request({ id: 1, type: "run", target: "js-async", scenario: boundIr(userFile("exiting.mjs", exiting)) });
  assert.deepEqual(reply, {
    id: 1, type: "error",
    message: "scenario 'bound': the run thread exited (code 3) while it ran with exiting.mjs (does its code call process.exit?)",
  });
  const next = await worker.request({ id: 2, type: "run", target: "js-async", scenario: boundIr(userFile("fine.mjs", CLIENT)) });
  assert.equal(next.outcome.status, "settled", next.outcome.message);
  worker.child.stdin.end();
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
});

test("a started and cancelled bound function gets the AbortSignal last, as scenario functions do", TIMEOUT, async () => {
  const call = { callee: "get_json", callee_kind: "function", args: [{ literal: "/slow" }] };
  const ir = boundIr(userFile("cancel.mjs", CLIENT), {
    id: "bound-cancel",
    main: [
      { step: "start", line: 3, call, bind: "task" },
      { step: "sleep", line: 4, ms: 8 },
      { step: "cancel", line: 5, handle: "task" },
      { step: "return", line: 6, value: { literal: "cancelled" } },
    ],
  });
  const worker = startWorker();
  for (const target of ["js-promise", "js-async"]) {
    const { outcome } = await worker.request({ id: 1, type: "run", target, scenario: ir });
    assert.equal(outcome.status, "settled", outcome.message);
    // As for a scenario function started and cancelled: nobody awaits the task, so its AbortError is unhandled.
    assert.deepEqual(outcome.trace.map((event) => `${event.t} ${event.event}`), ["0 log", "5 start", "8 cancel", "8 return", "8 unhandled"], target);
    assert.deepEqual(outcome.result, { uncaught: { kind: "AbortError", message: "This operation was aborted" } });
  }
});

test("a user module that fails to load, throws at load or lacks the export is that scenario's error, with the user's frames; the worker goes on", TIMEOUT, async () => {
  const worker = startWorker();
  const thrower = userFile("throws.mjs", 'function connect() {\n  throw new RangeError("no config");\n}\nconnect();\nexport const getJson = () => 1;\n');
  const cases = [
    [join(userDir, "missing.mjs"), /^scenario 'bound': missing\.mjs failed to load: Error: Cannot find module/],
    [userFile("syntax.mjs", "export function getJson() {\n  const x = ;\n}\n"), /^scenario 'bound': syntax\.mjs failed to load: SyntaxError: Unexpected token ';'\n {4}at .*\/syntax\.mjs:2$/],
    [userFile("noexport.mjs", "export const other = 1;\n"), /^scenario 'bound': noexport\.mjs exports no function getJson$/],
  ];
  for (const [path, message] of cases) {
    const reply = await worker.request({ id: 1, type: "run", target: "js-async", scenario: boundIr(path) });
    assert.equal(reply.type, "error");
    assert.match(reply.message, message);
  }
  const reply = await worker.request({ id: 2, type: "run", target: "js-promise", scenario: boundIr(thrower) });
  assert.equal(reply.message, [
    `scenario 'bound': throws.mjs failed to load: RangeError: no config`,
    `    at connect (${thrower}:2:9)`,
    `    at ${thrower}:4:1`,
  ].join("\n"));
  const { outcome } = await worker.request({ id: 3, type: "run", target: "js-async", scenario: boundIr(userFile("ok.mjs", CLIENT)) });
  assert.equal(outcome.status, "settled");
});

test("a bound function that never settles is a deadlock naming the main workflow", TIMEOUT, async () => {
  const ir = boundIr(userFile("never.mjs", "export function getJson(api, url) {\n  return new Promise(() => {});\n}\n"));
  const worker = startWorker();
  const { outcome } = await worker.request({ id: 1, type: "run", target: "js-async", scenario: ir });
  assert.equal(outcome.status, "deadlock");
  assert.equal(outcome.message, "deadlock: scenario 'bound' has not settled at 0 ms and no timer is pending; pending: the main workflow");
});

test("user code that reads process.hrtime fails its run, naming its file and line", TIMEOUT, async () => {
  const ir = boundIr(userFile("clock.mjs", [
    "export async function getJson(api, url) {",
    "  const virtual = [Date.now(), performance.now()];",
    "  const start = process.hrtime.bigint();",
    "  return [virtual, String(start)];",
    "}",
    "",
  ].join("\n")));
  const worker = startWorker();
  for (const target of ["js-promise", "js-async"]) {
    const { outcome } = await worker.request({ id: 1, type: "run", target, scenario: ir });
    assert.equal(outcome.status, "crash");
    assert.equal(outcome.message, "crash: scenario 'bound': user code read the real clock: process.hrtime.bigint() at clock.mjs:3");
  }
});

test("a bound function under a timeout gets the deadline's signal last, and its operation is cancelled at the deadline", TIMEOUT, async () => {
  const call = { callee: "get_json", callee_kind: "function", args: [{ literal: "/orders" }] };
  const ir = {
    ...boundIr(userFile("deadline.mjs", CLIENT), { id: "bound-deadline" }),
    errors: ["TimeoutError"],
    main: [
      {
        step: "try", line: 2, finally: null,
        body: [{ step: "timeout", line: 3, ms: 7, body: [{ step: "await", line: 4, call, bind: "b" }] }],
        catch: { kinds: ["TimeoutError"], bind: "e", body: [{ step: "return", line: 6, value: { literal: "timed out" } }] },
      },
      { step: "return", line: 7, value: { literal: "in time" } },
    ],
  };
  const worker = startWorker();
  for (const target of ["js-promise", "js-async"]) {
    const { outcome } = await worker.request({ id: 1, type: "run", target, scenario: ir });
    assert.deepEqual(outcome.result, { returns: "timed out" }, target);
    assert.deepEqual(outcome.trace.map((event) => `${event.t} ${event.event}`), ["0 log", "5 start", "7 cancel", "7 return"], target);
  }
});
