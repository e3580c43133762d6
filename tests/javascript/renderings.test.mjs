// Tests of the JavaScript renderings that make js-promise and js-async behave as the
// Python program does, and as each other: timeouts as deadline AbortSignals, the
// runtime's cancellation apart from a scenario kind named AbortError, a try whose body
// never waits as a plain try statement, a synchronous part that never throws, recursion
// that does not cost two stack frames a level, and a differential run of both variants
// over random scenarios.
// Run: node --test tests/javascript/

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { TARGETS, compile, compileSource } from "../../javascript/compile.mjs";
import { forEachStep, isSyncOnly, syncRecursiveFunctions } from "../../javascript/walk.mjs";
import { signalFunctions } from "../../javascript/deadlines.mjs";
import { World, ScenarioError, formatTrace } from "../../javascript/asyncparity-runtime.mjs";
import {
  all, allSettled, anyOf, awaitCall, awaitHandle, brk, calc, call, cancel, catcher, cont, fails, fmt, forEach, group, ifStep,
  list, log, mapStep, op, race, raise, ref, repeat, ret, returns, scenario, set, sleep, start, timeout, tryStep, using,
  whileStep, yieldStep,
} from "./fixtures/scenarios.mjs";
import { DEADLINES } from "./fixtures/deadlines.mjs";
import { randomScenarios } from "./fixtures/random-scenarios.mjs";
import { findNode24 } from "./fixtures/node24.mjs";

const run = promisify(execFile);
const RUNTIME = fileURLToPath(new URL("../../javascript/asyncparity-runtime.mjs", import.meta.url));

/** Runs a program body in-process exactly as javascript/worker.mjs does. */
async function runBody(ir, target) {
  const { body } = compile(ir, target);
  const { world, main } = new Function("World", "ScenarioError", `${body}\nreturn { world, main };`)(World, ScenarioError);
  return world.run(main);
}

/** The text of one function declaration in a compiled body. */
function functionText(body, head) {
  const from = body.indexOf(head);
  assert.ok(from >= 0, `no ${head} in:\n${body}`);
  return body.slice(from, body.indexOf("\n}\n", from) + 2);
}

/** Asserts that both targets give `trace` (and `result`, if given). */
async function assertTrace(ir, trace, result) {
  for (const target of TARGETS) {
    const outcome = await runBody(ir, target);
    assert.equal(outcome.status, "settled", `${ir.id} ${target}: ${outcome.message}`);
    assert.equal(formatTrace(outcome.trace), trace.trim(), `${ir.id} ${target}`);
    if (result !== undefined) assert.deepEqual(outcome.result, result, `${ir.id} ${target}`);
  }
}

const TIMEOUT_COMMENT = "// The deadline: AbortSignal.timeout's shape on the virtual clock; every wait in the block takes its signal.";

// ---- timeouts: a deadline AbortSignal handed to every wait of the block ------------------

/** A timeout block with a function call, a started call, a race, an all and a handle. */
function deadlineTextIr() {
  return scenario({
    id: "deadline-text",
    operations: [op("fetch", 30, returns("f")), op("slow", 100, returns("s"))],
    functions: {
      work: { params: ["x"], body: [awaitCall(call("fetch", ref("x"))), sleep(10), awaitCall(call("slow", ref("x"))), ret("w")] },
      helper: { body: [awaitCall(call("fetch", "h")), ret("h")] },
    },
    main: [
      timeout(60, [
        awaitCall(call("work", "a"), "r"),
        start(call("slow", "bg"), "bg"),
        race([call("fetch", 1), call("helper")]),
        all([call("fetch", 2), call("work", "b")]),
        awaitHandle("bg"),
      ]),
      ret(ref("r")),
    ],
  });
}

test("timeout: exact js-async text (the signal to every wait; a function takes it as a last parameter; started calls and a race's calls do not)", () => {
  const { body } = compile(deadlineTextIr(), "js-async");
  assert.equal(functionText(body, "async function work("), `\
async function work(x, signal = new AbortController().signal) {
  await fetch(x, signal);
  await sleep(10, signal);
  await slow(x, signal);
  return "w";
}`);
  // helper is called from the block only through a race: another task, no signal.
  assert.match(body, /^async function helper\(\) \{$/m);
  assert.equal(functionText(body, "async function main("), `\
async function main() {
  let r;
  ${TIMEOUT_COMMENT}
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutError("")), 60);
  try {
    r = await work("a", controller.signal);
    const bg = slow("bg");
    // The AbortSignal ends this wait; the calls run on, as asyncio.wait leaves its tasks running.
    await abortable(Promise.race([fetch(1), helper()]), controller.signal);
    await Promise.all([fetch(2, controller.signal), work("b", controller.signal)]);
    // The AbortSignal ends this wait; the started call itself runs on (Python cancels a task it awaits).
    await abortable(bg, controller.signal);
  } finally {
    clearTimeout(timer);
  }
  return r;
}`);
});

test("timeout: exact js-promise text (the same waits in one chain, the timer cleared in .finally)", () => {
  const { body } = compile(deadlineTextIr(), "js-promise");
  assert.equal(functionText(body, "function work("), `\
function work(x, signal = new AbortController().signal) {
  return fetch(x, signal)
    .then(() => sleep(10, signal))
    .then(() => slow(x, signal))
    .then(() => "w");
}`);
  assert.equal(functionText(body, "function main("), `\
function main() {
  let r;
  ${TIMEOUT_COMMENT}
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutError("")), 60);
  return work("a", controller.signal)
    .then((value) => {
      r = value;
      const bg = slow("bg");
      // The AbortSignal ends this wait; the calls run on, as asyncio.wait leaves its tasks running.
      return abortable(Promise.race([fetch(1), helper()]), controller.signal)
        .then(() => Promise.all([fetch(2, controller.signal), work("b", controller.signal)]))
        .then(() => {
          // The AbortSignal ends this wait; the started call itself runs on (Python cancels a task it awaits).
          return abortable(bg, controller.signal);
        });
    })
    .finally(() => clearTimeout(timer))
    .then(() => r);
}`);
});

test("timeout: the helpers are declared once, above the functions, only in programs that use them", () => {
  for (const target of TARGETS) {
    const { body } = compile(deadlineTextIr(), target);
    assert.equal(body.split("\nfunction sleep(ms, signal) {\n").length, 2, target);
    assert.equal(body.split("\nfunction abortable(promise, signal) {\n").length, 2, target);
    assert.ok(body.indexOf("function abortable(") < body.indexOf("function work("), target);
    assert.match(body, /signal\.throwIfAborted\(\);\n {4}const onAbort = \(\) => \{\n {6}clearTimeout\(timer\);\n {6}reject\(signal\.reason\);/);
    // No timeout: no helper, no signal anywhere.
    const plain = compile(scenario({ id: "no-deadline", operations: [op("a", 1, returns(1))], main: [sleep(5), awaitCall(call("a")), ret(1)] }), target).body;
    assert.doesNotMatch(plain, /signal|abortable|function sleep/, target);
  }
  // Helper names step aside for scenario names.
  const ir = scenario({
    id: "helper-names",
    operations: [op("sleep", 1, returns(1)), op("abortable", 1, returns(1))],
    main: [timeout(10, [sleep(1), race([call("sleep"), call("abortable")])]), ret(1)],
  });
  for (const target of TARGETS) {
    const { body } = compile(ir, target);
    assert.match(body, /^function sleep2\(ms, signal\) \{$/m, target);
    assert.match(body, /^function abortable2\(promise, signal\) \{$/m, target);
    assert.match(body, /abortable2\(Promise\.race\(\[sleep\(\), abortable\(\)\]\), controller\.signal\)/, target);
  }
});

test("timeout: which functions take the deadline's signal (awaited, all, group, all_settled, map, for_each; transitively; not start, race, any)", () => {
  const fn = (body = [awaitCall(call("op"))]) => ({ body });
  const ir = scenario({
    id: "signal-functions",
    operations: [op("op", 1, returns(1))],
    functions: {
      awaited: fn([awaitCall(call("inner"))]),
      inner: fn(),
      in_all: fn(),
      in_group: fn(),
      in_settled: fn(),
      mapped: { body: [awaitCall(call("op"))], params: ["x"] },
      gen: { generator: true, body: [yieldStep(1)] },
      started: fn([awaitCall(call("called_by_started"))]),
      called_by_started: fn(),
      raced: fn(),
      anyone: fn(),
      outside: fn(),
    },
    main: [
      timeout(10, [
        awaitCall(call("awaited")),
        all([call("in_all"), call("op")]),
        group([call("in_group"), call("op")]),
        allSettled([call("in_settled"), call("op")]),
        mapStep("mapped", list(1, 2), 1),
        forEach(call("gen"), "v", [log(ref("v"))]),
        start(call("started"), "s"),
        race([call("raced"), call("op")]),
        anyOf([call("anyone"), call("op")]),
      ]),
      awaitCall(call("outside")),
      ret(1),
    ],
  });
  assert.deepEqual([...signalFunctions(ir)].sort(), ["awaited", "gen", "in_all", "in_group", "in_settled", "inner", "mapped"]);
});

test("timeout: a program that combines deadlines says it needs Node 20.3 (AbortSignal.any)", () => {
  const nested = scenario({
    id: "nested-header",
    operations: [op("a", 1, returns(1))],
    main: [timeout(5, [timeout(3, [awaitCall(call("a"))])]), ret(1)],
  });
  const single = scenario({ id: "single-header", operations: [op("a", 1, returns(1))], main: [timeout(5, [awaitCall(call("a"))]), ret(1)] });
  for (const target of TARGETS) {
    assert.match(compile(nested, target).header, /run: node program\.mjs \(Node 20\.3 or later: it uses AbortSignal\.any\)\n/, target);
    assert.match(compile(single, target).header, /run: node program\.mjs\n/, target);
  }
});

for (const { ir, trace } of DEADLINES()) {
  test(`deadline trace of ${ir.id}: both variants give the trace derived by hand`, async () => {
    await assertTrace(ir, trace);
  });
}

test("deadline: what is left running is still running after the throw (a started call, a race's loser)", async () => {
  const ir = scenario({
    id: "deadline-leaves-running",
    operations: [op("slow", 100, returns("s")), op("fast", 10, returns("f"))],
    main: [start(call("slow", 1), "bg"), timeout(50, [race([call("slow", 2), call("fast")]), awaitCall(call("slow", 3))]), ret("never")],
  });
  await assertTrace(ir, `
0 start slow(1)
0 start slow(2)
0 start fast()
10 end fast -> "f"
10 start slow(3)
50 cancel slow
50 throw TimeoutError("")
100 end slow -> "s"
100 end slow -> "s"`);
});

test("wait under a deadline: the deadline ends the wait with TimeoutError, the first failure does not, the calls run on", async () => {
  const ir = scenario({
    id: "wait-under-deadline",
    operations: [op("slow", 100, returns("s")), op("fast", 10, returns("f"))],
    main: [
      tryStep([timeout(40, [{ step: "wait", calls: [call("fast"), call("slow")], until: "first_exception", bind: "batch" }, log(ref("batch"))])],
        catcher(["TimeoutError"], null, [log("timed out")])),
      { step: "wait", calls: [call("slow", 2), call("fast", 2)], until: "first_completed", timeout: 80, bind: "first" },
      log(ref("first")), sleep(100), ret("done"),
    ],
  });
  assert.match(compile(ir, "js-async").body, /await abortable\(Promise\.all\(settlements\)\.catch\(\(\) => \{\}\), controller\.signal\);/);
  await assertTrace(ir, `
0 start fast()
0 start slow()
10 end fast -> "f"
40 log "timed out"
40 start slow(2)
40 start fast(2)
50 end fast -> "f"
50 log {"done":[{"status":"fulfilled","value":"f"}],"pending":1}
100 end slow -> "s"
140 end slow -> "s"
150 return "done"`);
});

test("timeout in the race idiom: Promise.race against a deadline, no signal anywhere, and the block runs on", async () => {
  const ir = scenario({
    id: "race-idiom",
    operations: [op("slow", 100, returns("s"))],
    functions: { work: { params: [], body: [awaitCall(call("slow", 1)), log("work done")] } },
    main: [tryStep([{ ...timeout(50, [awaitCall(call("work"))]), idiom: "race" }], catcher(["TimeoutError"], null, [log("too slow")])),
      sleep(60), ret("done")],
  });
  const asyncBody = compile(ir, "js-async").body;
  assert.match(asyncBody, /\/\/ The Promise\.race idiom: the deadline rejects, but the block is not stopped and runs on\.\n {4}let timer;\n {4}const deadline = new Promise\(\(resolve, reject\) => \{\n {6}timer = setTimeout\(\(\) => reject\(new TimeoutError\(""\)\), 50\);\n {4}\}\);\n {4}try \{\n {6}await Promise\.race\(\[deadline, \(async \(\) => \{\n {8}await work\(\);\n {6}\}\)\(\)\]\);\n {4}\} finally \{\n {6}clearTimeout\(timer\);/);
  assert.match(compile(ir, "js-promise").body, /return Promise\.race\(\[deadline, work\(\)\]\)\n {4}\.finally\(\(\) => clearTimeout\(timer\)\)/);
  for (const target of TARGETS) assert.doesNotMatch(compile(ir, target).body, /AbortController|signal/, target);
  assert.deepEqual([...signalFunctions(ir)], []);
  await assertTrace(ir, `
0 start slow(1)
50 log "too slow"
100 end slow -> "s"
100 log "work done"
110 return "done"`);
  assert.throws(() => compile({ ...ir, main: [{ ...timeout(5, []), idiom: "cancel" }] }, "js-async"),
    /a timeout's idiom is "signal" or "race", not "cancel"/);
});

test("runtime: semaphore.use(fn, signal) leaves the line when the signal aborts, and fn never runs", async () => {
  const world = new World("semaphore-signal");
  const { setTimeout } = world;
  const events = [];
  const outcome = await world.run(() => {
    const semaphore = world.semaphore(1);
    const controller = new AbortController();
    const first = semaphore.use(() => new Promise((resolve) => setTimeout(() => resolve("first"), 20)));
    const second = semaphore.use(() => events.push("second ran"), controller.signal);
    const third = semaphore.use(() => "third");
    setTimeout(() => controller.abort(new Error("deadline")), 5);
    const before = controller.signal;
    const late = semaphore.use(() => events.push("late ran"), AbortSignal.abort(new Error("already")));
    return Promise.allSettled([first, second, third, late]).then((settled) => {
      events.push(...settled.map((item) => (item.status === "fulfilled" ? item.value : item.reason.message)));
      return before.aborted;
    });
  });
  assert.deepEqual(outcome.result, { returns: true });
  // The aborted waiter is out of the line: the third gets the slot after the first.
  assert.deepEqual(events, ["first", "deadline", "third", "already"]);
});

// ---- CancelledError is the runtime's cancellation only ------------------------------------

test("a catch of CancelledError takes an aborted operation's DOMException, not a scenario kind named AbortError", async () => {
  const ir = scenario({
    id: "abort-error-kind-is-no-cancellation",
    operations: [op("download", 30, returns("data")), op("fails_abort", 10, fails("AbortError", "mine"))],
    main: [
      start(call("download", "x"), "d"),
      tryStep([tryStep([awaitCall(call("fails_abort"))], catcher(["CancelledError"], null, [log("wrongly caught")]))],
        catcher(["AbortError"], "e", [log(fmt("scenario AbortError: ", ref("e", "message")))])),
      cancel("d"),
      tryStep([awaitHandle("d")], catcher(["CancelledError"], "e", [log(fmt("cancelled: ", ref("e", "kind")))])),
      ret("done"),
    ],
  });
  await assertTrace(ir, `
0 start download("x")
0 start fails_abort()
10 fail fails_abort AbortError("mine")
10 log "scenario AbortError: mine"
10 cancel download
10 log "cancelled: AbortError"
10 return "done"`);
  for (const target of TARGETS) {
    const { body } = compile(ir, target);
    assert.match(body, /if \(!\(error instanceof DOMException && error\.name === "AbortError"\)\) (throw error|return Promise\.reject\(error\));/, target);
    assert.match(body, /if \(!\(e instanceof DOMException && e\.name === "AbortError"\)\) throw e;/, target);
    assert.doesNotMatch(body, /\.name !== "AbortError"/, target);
  }
});

// ---- js-promise: a try whose body never waits is a plain try statement ----------------------

test("js-promise: a try whose body never waits catches at once; its catch's waits chain inside the catch block", async () => {
  const ir = scenario({
    id: "sync-body-try-catch-waits",
    operations: [op("a", 2, returns("a")), op("b", 3, returns("b"))],
    functions: {
      f: { params: ["p"], body: [tryStep([log("in f"), raise("IOError", "x")], catcher(["IOError"], null, [awaitCall(call("a", ref("p")))])), log("f after"), ret("f")] },
    },
    main: [start(call("f", 1), "hf"), start(call("b", 0), "hb"), awaitHandle("hf", "r"), awaitHandle("hb"), ret(ref("r"))],
  });
  // a(1) starts inside f's start step, before b(0): the catch ran at once (Python too).
  await assertTrace(ir, `
0 log "in f"
0 start a(1)
0 start b(0)
2 end a -> "a"
2 log "f after"
3 end b -> "b"
3 return "f"`);
  assert.equal(functionText(compile(ir, "js-promise").body, "function f("), `\
function f(p) {
  try {
    log("in f");
    throw new IOError("x");
  } catch (error) {
    if (!(error instanceof IOError)) return Promise.reject(error);
    return a(p).then(() => {
      log("f after");
      return "f";
    });
  }
}`);
});

test("js-promise: a try whose body never waits, with a finally that waits: the finally starts at once on every path", async () => {
  const ir = scenario({
    id: "sync-body-try-finally-waits",
    operations: [op("a", 2, returns("a")), op("b", 3, returns("b"))],
    functions: {
      g: { params: ["p"], body: [tryStep([log("in g")], null, [awaitCall(call("b", ref("p")))]), log("g after"), ret("g")] },
      h: {
        params: ["p"],
        body: [tryStep([log("in h"), ifStep(ref("p"), "==", 1, [raise("ValueError", "v")])], catcher(["IOError"], null, [log("h caught")]), [awaitCall(call("b", ref("p")))]), ret("h")],
      },
    },
    main: [
      start(call("g", 2), "hg"), start(call("h", 1), "hh"), start(call("a", 0), "ha"),
      awaitHandle("hg"), tryStep([awaitHandle("hh")], catcher([], "e", [log(fmt("h failed ", ref("e", "kind")))])), awaitHandle("ha"), ret("done"),
    ],
  });
  await assertTrace(ir, `
0 log "in g"
0 start b(2)
0 log "in h"
0 start b(1)
0 start a(0)
2 end a -> "a"
3 end b -> "b"
3 log "g after"
3 end b -> "b"
3 log "h failed ValueError"
3 return "done"`);
  assert.equal(functionText(compile(ir, "js-promise").body, "function h("), `\
function h(p) {
  const finallyBlock = () => b(p);
  try {
    log("in h");
    if (p === 1) {
      throw new ValueError("v");
    }
  } catch (error) {
    if (!(error instanceof IOError)) return finallyBlock().then(() => Promise.reject(error));
    log("h caught");
  }
  return finallyBlock().then(() => "h");
}`);
});

test("js-promise: a try whose body never waits, with a catch that waits and a finally: returns and errors pass the finally first", async () => {
  const ir = scenario({
    id: "sync-body-try-catch-and-finally",
    operations: [op("a", 2, returns("a")), op("b", 3, returns("b"))],
    functions: {
      k: {
        params: ["p"],
        body: [
          tryStep([log("in k"), ifStep(ref("p"), "==", 1, [raise("IOError", "x")]), ret("early")],
            catcher(["IOError"], null, [awaitCall(call("a", ref("p"))), ifStep(ref("p"), "==", 1, [ret("recovered")])]),
            [log("k finally"), awaitCall(call("b", ref("p")))]),
          log("k after"), ret("k"),
        ],
      },
      m: { params: ["p"], body: [tryStep([log("in m"), raise("IOError", "x")], catcher(["IOError"], null, [awaitCall(call("a", ref("p")))]), [log("m finally")]), log("m after"), ret("m")] },
    },
    main: [start(call("k", 1), "h1"), start(call("k", 2), "h2"), start(call("m", 3), "h3"), log("started"),
      awaitHandle("h1", "r1"), awaitHandle("h2", "r2"), awaitHandle("h3", "r3"), ret(list(ref("r1"), ref("r2"), ref("r3")))],
  });
  await assertTrace(ir, `
0 log "in k"
0 start a(1)
0 log "in k"
0 log "k finally"
0 start b(2)
0 log "in m"
0 start a(3)
0 log "started"
2 end a -> "a"
2 log "k finally"
2 start b(1)
2 end a -> "a"
2 log "m finally"
2 log "m after"
3 end b -> "b"
5 end b -> "b"
5 return ["recovered","early","m"]`);
  const { body } = compile(ir, "js-promise");
  assert.equal(functionText(body, "function m("), `\
function m(p) {
  const finallyBlock = () => {
    log("m finally");
  };
  const afterTry = () => {
    log("m after");
    return Promise.resolve("m");
  };
  try {
    log("in m");
    throw new IOError("x");
  } catch (error) {
    if (!(error instanceof IOError)) {
      finallyBlock();
      return Promise.reject(error);
    }
    return a(p)
      .finally(finallyBlock)
      .then(() => afterTry());
  }
}`);
  assert.match(functionText(body, "function k("), /    return finallyBlock\(\)\.then\(\(\) => "early"\);\n/);
});

test("js-promise: a finally that throws replaces an error of the body, with no rejection left unhandled", async () => {
  const ir = scenario({
    id: "finally-throw-replaces-sync-error",
    functions: {
      f: { params: ["p"], body: [tryStep([raise("IOError", "first")], null, [log("finally"), ifStep(ref("p"), "==", 1, [raise("ValueError", "second")])]), ret("not reached")] },
      g: { body: [tryStep([raise("IOError", "first")], null, [log("g finally"), raise("ValueError", "second")]), ret("not reached")] },
    },
    main: [
      start(call("f", 1), "h1"), start(call("f", 2), "h2"), start(call("g"), "h3"), log("started"),
      tryStep([awaitHandle("h1")], catcher([], "e", [log(fmt("h1 ", ref("e", "kind")))])),
      tryStep([awaitHandle("h2")], catcher([], "e", [log(fmt("h2 ", ref("e", "kind")))])),
      tryStep([awaitHandle("h3")], catcher([], "e", [log(fmt("h3 ", ref("e", "kind")))])),
      ret("done"),
    ],
  });
  // Before: `try { return Promise.reject(first) } finally { return Promise.reject(second) }`
  // left the first rejection unhandled, which ended the program.
  await assertTrace(ir, `
0 log "finally"
0 log "finally"
0 log "g finally"
0 log "started"
0 log "h1 ValueError"
0 log "h2 IOError"
0 log "h3 ValueError"
0 return "done"`, { returns: "done" });
});

// ---- js-promise: the synchronous part of a function never throws ------------------------------

test("js-promise: an error of a function's synchronous part (a stack overflow, a map over no list) is a rejection; the caller goes on", { timeout: 120000 }, async () => {
  const ir = scenario({
    id: "sync-part-errors-are-rejections",
    operations: [op("fetch", 1, returns("abc"))],
    functions: {
      dive: { params: ["n"], body: [ifStep(ref("n"), "==", 0, [ret(0)]), awaitCall(call("dive", calc(ref("n"), "-", 1)), "d"), ret(calc(ref("d"), "+", 1))] },
      pages: { params: ["items"], body: [mapStep("fetch", ref("items"), 2, "got"), ret(ref("got"))] },
    },
    main: [
      start(call("dive", 1000000), "h"), log("after start"),
      tryStep([awaitHandle("h")], catcher([], "error", [log(fmt("failed ", ref("error", "kind")))])),
      awaitCall(call("fetch"), "text"), start(call("pages", ref("text")), "p"), log("after pages"),
      tryStep([awaitHandle("p")], catcher([], "error", [log(fmt("failed ", ref("error", "kind")))])),
      ret("done"),
    ],
  });
  // Standalone, in a process of its own: a stack overflow inside node:test's process can
  // hit one of its async hooks, and an error there ends the process (exit code 7).
  const dir = mkdtempSync(join(tmpdir(), "asyncparity-sync-part-"));
  try {
    copyFileSync(RUNTIME, join(dir, "asyncparity-runtime.mjs"));
    for (const target of TARGETS) {
      const file = join(dir, `${target}.mjs`);
      writeFileSync(file, compileSource(ir, target));
      const { stdout } = await run(process.execPath, [file], { timeout: 60000, maxBuffer: 16 * 1024 * 1024 });
      assert.equal(stdout, `\
0 log "after start"
0 log "failed RangeError"
0 start fetch()
1 end fetch -> "abc"
1 log "after pages"
1 log "failed TypeError"
1 return "done"
settled
`, target);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { body } = compile(ir, "js-promise");
  assert.equal(functionText(body, "function dive("), `\
function dive(n) {
  try {
    if (n === 0) {
      return Promise.resolve(0);
    }
    return dive(n - 1).then((d) => d + 1);
  } catch (error2) {
    // An error of the synchronous part (a stack overflow in deep recursion) is a rejection: the call never throws.
    return Promise.reject(error2);
  }
}`);
  assert.match(functionText(body, "function pages("), /\/\/ An error of the synchronous part \(a map over a value that is no list\) is a rejection: the call never throws\./);
  // main neither recurses nor maps: no guard.
  assert.doesNotMatch(functionText(body, "function main("), /catch \(error/);
});

test("js-promise: a queue's error in a function's synchronous part is a rejection, unless a try there catches it or it cannot happen", async () => {
  const nowait = (stepName, extra = {}) => ({ step: stepName, queue: "jobs", ...extra });
  const ir = scenario({
    id: "sync-queue-errors",
    queues: [{ name: "jobs", size: 1 }, { name: "inbox", size: null }],
    functions: {
      take: { body: [{ ...nowait("get_nowait"), bind: "job" }, ret(ref("job"))] },
      caught: { body: [tryStep([nowait("get_nowait", { bind: null })], catcher(["QueueEmpty"], null, [log("empty")])), ret(1)] },
      feed: { body: [{ step: "put_nowait", queue: "inbox", value: { literal: 1 } }, ret(2)] },
      other: { body: [log("other runs")] },
    },
    main: [
      tryStep([all([call("take"), call("other")], "x")], catcher(["QueueEmpty"], "error", [log(fmt("failed ", ref("error", "kind")))])),
      awaitCall(call("caught")),
      awaitCall(call("feed")),
      ret("done"),
    ],
  });
  const { body } = compile(ir, "js-promise");
  assert.equal(functionText(body, "function take("), `\
function take() {
  try {
    const job = jobs.getNowait();
    return Promise.resolve(job);
  } catch (error2) {
    // An error of the synchronous part (a queue's error) is a rejection: the call never throws.
    return Promise.reject(error2);
  }
}`);
  assert.doesNotMatch(functionText(body, "function caught("), /synchronous part/);
  assert.doesNotMatch(functionText(body, "function feed("), /synchronous part/); // an unbounded queue nothing shuts
  for (const target of TARGETS) {
    const outcome = await runBody(ir, target);
    assert.equal(formatTrace(outcome.trace), '0 log "other runs"\n0 log "failed QueueEmpty"\n0 log "empty"\n0 return "done"', target);
  }
});

test("js-promise: only functions that can recurse before their first wait are guarded", () => {
  const ir = scenario({
    id: "sync-recursion",
    operations: [op("a", 1, returns(1))],
    functions: {
      direct: { params: ["n"], body: [awaitCall(call("direct", ref("n")))] },
      ping: { body: [start(call("pong"), "x"), awaitCall(call("a"))] },
      pong: { body: [log("pong"), awaitCall(call("ping"))] },
      after_wait: { params: ["n"], body: [awaitCall(call("a")), awaitCall(call("after_wait", ref("n")))] },
      leaf: { body: [awaitCall(call("a"))] },
    },
    main: [awaitCall(call("direct", 1)), ret(1)],
  });
  assert.deepEqual([...syncRecursiveFunctions(ir)].sort(), ["direct", "ping", "pong"]);
});

// ---- js-promise: deep recursion ----------------------------------------------------------------

/** A function recursing `levels` deep before its first wait, as an async function can. */
function recursionIr(levels) {
  return {
    ...scenario({
      id: "deep-recursion",
      operations: [op("announce", 1, returns("ok"))],
      functions: {
        countdown: {
          params: ["n"],
          body: [
            ifStep(ref("n"), "==", 0, [awaitCall(call("announce", ref("n"))), ret(0)]),
            awaitCall(call("countdown", calc(ref("n"), "-", 1)), "counted"),
            ret(calc(ref("counted"), "+", 1)),
          ],
        },
      },
      main: [awaitCall(call("countdown", levels), "count"), ret(ref("count"))],
    }),
    limits: { virtual_time: 3600000, timer_firings: 10000, turns_per_instant: 100000 },
  };
}

test("js-promise: recursion costs one stack frame a level: an early return is an if, with the steps after it after it", () => {
  assert.equal(functionText(compile(recursionIr(3), "js-promise").body, "function countdown("), `\
function countdown(n) {
  try {
    if (n === 0) {
      return announce(n).then(() => 0);
    }
    return countdown(n - 1).then((counted) => counted + 1);
  } catch (error) {
    // An error of the synchronous part (a stack overflow in deep recursion) is a rejection: the call never throws.
    return Promise.reject(error);
  }
}`);
});

test("js-promise and js-async: 6,000 levels of recursion return, standalone on this Node and on Node 24", { timeout: 120000 }, async () => {
  const nodes = [process.execPath];
  const node24 = findNode24();
  if (node24.path !== null && node24.path !== process.execPath) nodes.push(node24.path);
  const dir = mkdtempSync(join(tmpdir(), "asyncparity-recursion-"));
  try {
    copyFileSync(RUNTIME, join(dir, "asyncparity-runtime.mjs"));
    for (const target of TARGETS) {
      const file = join(dir, `${target}.mjs`);
      writeFileSync(file, compileSource(recursionIr(6000), target));
      for (const node of nodes) {
        const { stdout } = await run(node, [file], { timeout: 60000, maxBuffer: 16 * 1024 * 1024 });
        assert.equal(stdout, "0 start announce(0)\n1 end announce -> \"ok\"\n1 return 6000\nsettled\n", `${target} on ${node}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- both variants agree on random scenarios ------------------------------------------------

/** The steps of a list that can run: up to its first return, throw or break. */
function live(steps) {
  const end = steps.findIndex((step) => step.step === "return" || step.step === "throw" || step.step === "break");
  return end < 0 ? steps : steps.slice(0, end + 1);
}

/** Whether some path through a step list exits, or reaches its end, without waiting. */
function pathsWithoutWaiting(steps) {
  let exits = false;
  for (const step of steps) {
    switch (step.step) {
      case "log": case "start": case "set": case "cancel":
        break;
      case "return": case "throw": case "break":
        return { exits: true, falls: false };
      case "if": {
        const a = pathsWithoutWaiting(step.then ?? []);
        const b = pathsWithoutWaiting(step.else ?? []);
        exits ||= a.exits || b.exits;
        if (!a.falls && !b.falls) return { exits, falls: false };
        break;
      }
      case "repeat": {
        if (step.times === 0) break;
        const body = pathsWithoutWaiting(step.body);
        exits ||= body.exits;
        if (!body.falls) return { exits, falls: false };
        break;
      }
      case "try": {
        const body = pathsWithoutWaiting(step.body);
        const caught = step.catch ? pathsWithoutWaiting(step.catch.body) : { exits: false, falls: false };
        const fin = step.finally ? pathsWithoutWaiting(step.finally) : { exits: false, falls: true };
        exits ||= body.exits || caught.exits || fin.exits;
        if (!((body.falls || caught.falls) && fin.falls)) return { exits, falls: false };
        break;
      }
      case "timeout": {
        const block = pathsWithoutWaiting(step.body);
        exits ||= block.exits;
        if (!block.falls) return { exits, falls: false };
        break;
      }
      default:
        return { exits, falls: false }; // a wait
    }
  }
  return { exits, falls: true };
}

/**
 * Whether a scenario holds a try that the promise chain renders as a chain although its
 * body can end without waiting: a body that waits on some paths only (the idiom's
 * `.catch`/`.finally` run a microtask late on the others, a property of promise chains),
 * or a finally that returns (left as a chain: a return in finally is what
 * no-unsafe-finally forbids).
 */
function chainRunsLate(ir) {
  let found = false;
  for (const steps of [ir.main, ...ir.functions.map((fn) => fn.body)]) {
    forEachStep(steps, (step) => {
      if (step.step !== "try") return;
      let returnsInFinally = false;
      forEachStep(step.finally ?? [], (inner) => {
        if (inner.step === "return") returnsInFinally = true;
      });
      if (returnsInFinally) found = true;
      if (isSyncOnly(live(step.body))) return;
      const paths = pathsWithoutWaiting(live(step.body));
      if (paths.exits || paths.falls) found = true;
    });
  }
  return found;
}

test("random scenarios: js-promise and js-async give the same outcome (tries whose chain runs late on some paths aside)", { timeout: 120000 }, async () => {
  let compared = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    for (const ir of randomScenarios(seed, 500)) {
      if (chainRunsLate(ir)) continue;
      compared += 1;
      const [asyncOutcome, promiseOutcome] = [await runBody(ir, "js-async"), await runBody(ir, "js-promise")];
      assert.equal(asyncOutcome.status, "settled", `${ir.id}: ${asyncOutcome.message}`);
      assert.equal(formatTrace(promiseOutcome.trace), formatTrace(asyncOutcome.trace), ir.id);
      assert.deepEqual(promiseOutcome.result, asyncOutcome.result, ir.id);
    }
  }
  assert.ok(compared > 2700, `${compared} compared`);
});

// ---- loops: while, break and continue in every loop, computed counts (issue 10) -------------

test("while: a native while where the body never waits, a recursive loop function where it does", () => {
  const ir = scenario({
    id: "while-text",
    operations: [op("status", 5, returns("queued"), returns("done"))],
    main: [
      set("n", 0),
      whileStep(ref("n"), "<", 3, [set("n", calc(ref("n"), "+", 1)), ifStep(ref("n"), "==", 2, [cont()]), log(ref("n"))]),
      awaitCall(call("status"), "state"),
      whileStep(ref("state"), "!=", "done", [sleep(100), awaitCall(call("status"), "state")]),
      ret(ref("state")),
    ],
  });
  const promise = compile(ir, "js-promise").body;
  assert.ok(promise.includes(`
  let n = 0;
  while (n < 3) {
    n = n + 1;
    if (n === 2) {
      continue;
    }
    log(n);
  }
  let state;
  return status().then((value) => {
    state = value;
    const loop = () => {
      if (state !== "done") {
        return new Promise((resolve) => setTimeout(resolve, 100))
          .then(() => status())
          .then((value2) => {
            state = value2;
            return loop();
          });
      }
      return state;
    };
    return loop();
  });
`), promise);
  const asyncBody = compile(ir, "js-async").body;
  assert.ok(asyncBody.includes(`
  while (state !== "done") {
    await new Promise((resolve) => setTimeout(resolve, 100));
    state = await status();
  }
`), asyncBody);
});

test("break and continue in repeat, while and for_each: through a try's finally and a resource's close, on both variants", async () => {
  // Each loop's second round continues and its third breaks, inside a try whose finally
  // waits, inside a using: the finally, then the close, then the jump (as js-async's
  // native break and continue do). Traces derived by hand: open 2, close 1, sleeps 1.
  const round = (counter) => [
    using("pool", [ref(counter)], null, [
      tryStep(
        [sleep(1), ifStep(ref(counter), "==", 1, [cont()]), ifStep(ref(counter), "==", 2, [brk()]), log(fmt("round ", ref(counter)))],
        null,
        [sleep(1), log(fmt("finally ", ref(counter)))],
      ),
    ]),
    log(fmt("after using ", ref(counter))),
  ];
  const ir = scenario({
    id: "jumps-everywhere",
    resources: [{ name: "pool", open: 2, close: 1 }],
    functions: { gen: { params: [], generator: true, body: [repeat(5, "g", [yieldStep(ref("g"))])] } },
    main: [
      repeat(5, "r", round("r")),
      log("after repeat"),
      set("w", 0),
      whileStep(ref("w"), "<", 5, [set("w", calc(ref("w"), "+", 1)), set("v", calc(ref("w"), "-", 1)), ...round("v")]),
      log("after while"),
      forEach(call("gen"), "e", round("e")),
      log("after for_each"),
      ret("done"),
    ],
  });
  const loop = (t, what) => `
${t + 2} open pool(0)
${t + 3} log "round 0"
${t + 4} log "finally 0"
${t + 5} close pool
${t + 5} log "after using 0"
${t + 7} open pool(1)
${t + 9} log "finally 1"
${t + 10} close pool
${t + 12} open pool(2)
${t + 14} log "finally 2"
${t + 15} close pool
${t + 15} log "after ${what}"`.trim();
  await assertTrace(ir, `${loop(0, "repeat")}
${loop(15, "while")}
${loop(30, "for_each")}
45 return "done"`, { returns: "done" });
});

test("a repeat of a computed count: the value compared before every round, 0 or less runs none, a fraction up to the next integer", async () => {
  const counted = (value) => scenario({
    id: "computed-count",
    main: [set("n", value), repeat(ref("n"), "i", [log(ref("i"))]), repeat(calc(ref("n"), "-", 5), null, [log("never")]), ret("done")],
  });
  assert.ok(compile(counted(2), "js-async").body.includes("for (let i = 0; i < n; i += 1) {"));
  assert.ok(compile(counted(2), "js-async").body.includes("for (let attempt = 0; attempt < n - 5; attempt += 1) {"));
  await assertTrace(counted(2), '0 log 0\n0 log 1\n0 return "done"');
  await assertTrace(counted(-1), '0 return "done"');
  // Python's range() raises TypeError here (spec/divergences/repeat-count-not-an-integer.yaml).
  await assertTrace(counted(2.5), '0 log 0\n0 log 1\n0 log 2\n0 return "done"');
});

test("a while that never ends is a runaway naming the scenario on both variants: at the scenario's bounds, or at the event bound", async () => {
  const forever = (body, limits) => {
    const ir = scenario({ id: "forever", main: [set("n", 0), whileStep(1, "==", 1, body)] });
    Object.assign(ir.limits, limits);
    return ir;
  };
  for (const target of TARGETS) {
    const waiting = await runBody(forever([sleep(10)], { timer_firings: 50 }), target);
    assert.deepEqual([waiting.status, waiting.message], ["runaway", "runaway: scenario 'forever' passed 50 timer firings"], target);
    // A call into the kit is a turn here (spec/RUNTIME.md, runaway bounds), so a loop of
    // logs passes turns_per_instant first; Python, where it is no turn, stops at the event bound.
    const logging = await runBody(forever([log(ref("n"))], {}), target);
    assert.deepEqual([logging.status, logging.message], ["runaway", "runaway: scenario 'forever' passed 1000 turns at 0 ms"], target);
    const unbounded = await runBody(forever([log(ref("n"))], { turns_per_instant: 1e9 }), target);
    assert.deepEqual([unbounded.status, unbounded.message], ["runaway", "runaway: scenario 'forever' passed 100000 trace events at 0 ms"], target);
  }
});

// ---- task_group and rethrow ---------------------------------------------------------------

test("task_group: each start in the body joins the innermost group's array, by name where its handle is read; Promise.all after the body", async () => {
  const ir = scenario({
    id: "task-group-nested",
    operations: [op("a", 20, returns("a")), op("b", 5, returns("b"))],
    main: [
      { step: "task_group", body: [
        start(call("a", 1), "first"),
        { step: "task_group", body: [start(call("b", 2), "second")] },
        log("inner done"),
        start(call("b", 3), "third"),
      ] },
      awaitHandle("first", "x"),
      ret(ref("x")),
    ],
  });
  await assertTrace(ir, `
0 start a(1)
0 start b(2)
5 end b -> "b"
5 log "inner done"
5 start b(3)
10 end b -> "b"
20 end a -> "a"
20 return "a"`, { returns: "a" });
  assert.equal(functionText(compile(ir, "js-async").body, "async function main("), `\
async function main() {
  // A task group: the calls started in its body, settled together by Promise.all (siblings are not cancelled).
  const tasks = [];
  const first = a(1);
  tasks.push(first);
  // A task group: the calls started in its body, settled together by Promise.all (siblings are not cancelled).
  const tasks2 = [];
  tasks2.push(b(2));
  await Promise.all(tasks2);
  log("inner done");
  tasks.push(b(3));
  await Promise.all(tasks);
  const x = await first;
  return x;
}`);
});

test("rethrow: the caught error itself goes on, a rejection in js-promise's synchronous part", async () => {
  const ir = scenario({
    id: "rethrow-sync",
    operations: [op("a", 5, returns("a"))],
    functions: {
      f: { body: [tryStep([raise("IOError", "x")], catcher([], "error", [log("cleaning up"), { step: "rethrow", error: "error" }])), ret("f")] },
    },
    main: [
      tryStep([awaitCall(call("f"))], catcher(["IOError"], "again", [ret(ref("again", "message"))])),
      ret("not reached"),
    ],
  });
  await assertTrace(ir, `
0 log "cleaning up"
0 return "x"`, { returns: "x" });
  assert.equal(functionText(compile(ir, "js-promise").body, "function f("), `\
function f() {
  try {
    throw new IOError("x");
  } catch (error) {
    log("cleaning up");
    return Promise.reject(error);
  }
}`);
  assert.match(functionText(compile(ir, "js-async").body, "async function f("), /\n {4}throw error;\n/);
});

test("catch from_group: the first error of the kinds among an AggregateError's, or the error itself; none: the caught error goes on", async () => {
  const fromGroup = (bind, body) => ({ ...catcher(["IOError"], bind, body), from_group: true });
  const ir = scenario({
    id: "catch-from-group",
    operations: [
      op("a", 5, fails("IOError", "first")), op("b", 10, fails("IOError", "second")), op("c", 15, fails("DbError", "locked")),
    ],
    functions: {
      plain: { body: [tryStep([awaitCall(call("c"))], fromGroup(null, [log("not here")])), ret("no")] },
    },
    main: [
      tryStep([anyOf([call("b"), call("a")], "x")], fromGroup("error", [log(ref("error", "message"))])),
      tryStep([awaitCall(call("plain"))], catcher(["DbError"], "other", [log(ref("other", "message"))])),
      ret("done"),
    ],
  });
  await assertTrace(ir, `
0 start b()
0 start a()
5 fail a IOError("first")
10 fail b IOError("second")
10 log "second"
10 start c()
25 fail c DbError("locked")
25 log "locked"
25 return "done"`, { returns: "done" });
  assert.equal(functionText(compile(ir, "js-async").body, "async function plain("), `\
async function plain() {
  try {
    await c();
  } catch (caught) {
    // Python's except*: an error of these kinds, out of a group (AggregateError) or alone.
    if (!(caught instanceof AggregateError ? caught.errors : [caught]).some((member) => member instanceof IOError)) throw caught;
    log("not here");
  }
  return "no";
}`);
});

test("shield: a plain wait outside a deadline; under one, abortable(call, signal), the call and a shielded function taking no signal", async () => {
  const ir = scenario({
    id: "shield-deadline",
    operations: [op("save", 80, returns("saved"))],
    functions: { store: { body: [awaitCall(call("save", 1)), ret("stored")] } },
    main: [
      { step: "shield", call: call("save", 0), bind: "first" },
      tryStep([timeout(50, [{ step: "shield", call: call("store"), bind: null }])], catcher(["TimeoutError"], null, [log("gave up")])),
      sleep(50),
      ret(ref("first")),
    ],
  });
  await assertTrace(ir, `
0 start save(0)
80 end save -> "saved"
80 start save(1)
130 log "gave up"
160 end save -> "saved"
180 return "saved"`, { returns: "saved" });
  const text = compile(ir, "js-async").body;
  assert.match(text, /\n {2}const first = await save\(0\);\n/);
  assert.match(text, /\n {6}await abortable\(store\(\), controller\.signal\);\n/);
  assert.match(text, /\nasync function store\(\) \{\n/); // no signal parameter
  assert.deepEqual([...signalFunctions(ir)], []);
});

test("as_completed: the block in finish order, with and without a name; each call awaited in turn", async () => {
  const ir = scenario({
    id: "as-completed-no-name",
    operations: [op("a", 30, returns("a")), op("b", 10, returns("b"))],
    main: [
      { step: "as_completed", calls: [call("a"), call("b")], bind: null, body: [log("one done")] },
      { step: "as_completed", calls: [call("a"), call("b")], bind: "v", body: [log(ref("v"))] },
      ret("end"),
    ],
  });
  await assertTrace(ir, `
0 start a()
0 start b()
10 end b -> "b"
10 log "one done"
30 end a -> "a"
30 log "one done"
30 start a()
30 start b()
40 end b -> "b"
40 log "b"
60 end a -> "a"
60 log "a"
60 return "end"`, { returns: "end" });
  const text = compile(ir, "js-async").body;
  assert.match(text, /\n {2}for \(const next of inSettleOrder\(\[a\(\), b\(\)\]\)\) \{\n {4}await next;\n/);
  assert.match(text, /\n {4}const v = await next;\n/);
  assert.equal(text.split("\nfunction inSettleOrder(promises) {\n").length, 2); // declared once
});

// Promise.race over the pending calls took, of those already settled, the first in its
// list: this scenario gave "slow" before "medium" in both JavaScript targets, where
// asyncio.as_completed (checked on CPython 3.11 with real timers) gives finish order.
test("as_completed: calls that settle while the block waits are taken in the order they settled, not the order they were made", async () => {
  const ir = scenario({
    id: "as-completed-settled-while-waiting",
    operations: [op("slow", 50, returns("slow")), op("fast", 10, returns("fast")), op("medium", 20, returns("medium"))],
    main: [{ step: "as_completed", calls: [call("slow"), call("fast"), call("medium")], bind: "v", body: [log(ref("v")), sleep(100)] }],
  });
  await assertTrace(ir, `
0 start slow()
0 start fast()
0 start medium()
10 end fast -> "fast"
10 log "fast"
20 end medium -> "medium"
50 end slow -> "slow"
110 log "medium"
210 log "slow"
310 return null`);
});

// Found by tests/test_fuzz.py: a try that ends a loop's round with a break, whose catch
// returns. The catch is the second callback beside the break's (`.then(() => afterLoop(),
// onError)`), so its return is the function's; js-promise refused to compile it
// ("internal: a return step in a block compiled as discarded").
test("a loop's try that breaks, with a catch that returns: the catch's return is the function's", async () => {
  const ir = scenario({
    id: "break-or-return",
    operations: [op("flaky", 5, fails("IOError", "x"), returns("ok"))],
    functions: {
      attempt: {
        body: [
          set("w", 0),
          whileStep(ref("w"), "<", 2, [
            set("w", calc(ref("w"), "+", 1)),
            tryStep([awaitCall(call("flaky")), brk()], catcher([], null, [ret("caught")])),
          ]),
          ret("done"),
        ],
      },
    },
    main: [awaitCall(call("attempt"), "a"), awaitCall(call("attempt"), "b"), ret(list(ref("a"), ref("b")))],
  });
  await assertTrace(ir, `
0 start flaky()
5 fail flaky IOError("x")
5 start flaky()
10 end flaky -> "ok"
10 return ["caught","done"]`, { returns: ["caught", "done"] });
});
