// Tests of the js-async target's two renderings of a `using` step: try/finally (every
// Node) and a block holding `await using` (the `awaitUsing` option of compile(), which
// the worker sets where its Node has the syntax, 24+). The text tests run anywhere; the
// runs of `await using` programs need a Node 24+ binary (fixtures/node24.mjs says where
// it is looked for) and are skipped, saying why, without one.
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
import { forEachStep } from "../../javascript/walk.mjs";
import { World, ScenarioError, formatTrace } from "../../javascript/asyncparity-runtime.mjs";
import { GENERATORS_AND_USING, TRACED, USING_INTERLEAVINGS, matrix, nastyScenario } from "./fixtures/scenarios.mjs";
import { findNode24 } from "./fixtures/node24.mjs";
import { usingStepsUnderDeadline } from "./fixtures/using-steps.mjs";

const run = promisify(execFile);
const RUNTIME = fileURLToPath(new URL("../../javascript/asyncparity-runtime.mjs", import.meta.url));
const COMPARE = fileURLToPath(new URL("./fixtures/compare-using.mjs", import.meta.url));
const COMMENT = "// await using (Node 24+): disposed at the end of this block";

/** How many using steps the scenario has, in all its functions. */
function usingSteps(ir) {
  let count = 0;
  for (const steps of [ir.main, ...ir.functions.map((fn) => fn.body)]) {
    forEachStep(steps, (step) => {
      if (step.step === "using") count += 1;
    });
  }
  return count;
}

/** The fixtures with a known trace and a using step: the programs run standalone below. */
const USING_TRACED = [...GENERATORS_AND_USING(), ...USING_INTERLEAVINGS()].filter(({ ir }) => usingSteps(ir) > 0);

/** Every fixture with a using step, known trace or not (the generated matrix included). */
const ALL_USING = [
  ...USING_TRACED.map((entry) => entry.ir),
  ...[...TRACED.map((entry) => entry.ir), nastyScenario(), ...matrix(), ...matrix(2)].filter((ir) => usingSteps(ir) > 0),
];

/** From `head` (a line of the body) to the closing brace at column 0. */
function functionText(body, head) {
  const start = body.indexOf(`${head}(`);
  assert.ok(start >= 0, `no ${head} in:\n${body}`);
  return body.slice(start, body.indexOf("\n}", start) + 2);
}

/** Whether the Node running the tests parses `await using` (the worker's own probe). */
function parsesAwaitUsing() {
  try {
    new Function("async function probe() { await using resource = null; }");
    return true;
  } catch {
    return false;
  }
}

/** Runs a program body in-process exactly as javascript/worker.mjs does. */
async function runBody(ir, target, options) {
  const { body } = compile(ir, target, options);
  const { world, main } = new Function("World", "ScenarioError", `${body}\nreturn { world, main };`)(World, ScenarioError);
  return world.run(main);
}

// ---- the text, on any Node ----------------------------------------------------------------

test("await using: exact js-async text, a block per using step, disposed where the finally closed", () => {
  const ir = GENERATORS_AND_USING().find((entry) => entry.ir.id === "using-error").ir;
  const { header, body } = compile(ir, "js-async", { awaitUsing: true });
  assert.equal(header.split("\n")[2], "// Save javascript/asyncparity-runtime.mjs beside it and run: node program.mjs (Node 24 or later: it uses await using)");
  assert.equal(functionText(body, "async function main"), `\
async function main() {
  try {
    {
      ${COMMENT}
      await using connectionHandle = await connection.open("db");
      const conn = connectionHandle.value;
      await query(conn);
      log("not reached");
    }
  } catch (error) {
    if (!(error instanceof IOError)) throw error;
    log(\`caught \${error.message}\`);
  }
  {
    ${COMMENT}
    await using connectionHandle = await connection.open("db", 2);
    await query("again");
  }
  return "unreachable";
}`);
});

test("await using: nested blocks (LIFO disposal), in a generator, and a return inside", () => {
  const byId = (id) => USING_TRACED.find((entry) => entry.ir.id === id).ir;
  assert.equal(functionText(compile(byId("using-nested"), "js-async", { awaitUsing: true }).body, "async function main"), `\
async function main() {
  {
    ${COMMENT}
    await using connectionHandle = await connection.open("db");
    const conn = connectionHandle.value;
    {
      ${COMMENT}
      await using lockHandle = await lock.open("rows");
      const guard = lockHandle.value;
      log(\`\${conn} \${guard}\`);
      const result = await query(conn);
      log(\`got \${result}\`);
    }
    log("lock released");
  }
  {
    ${COMMENT}
    await using connectionHandle = await connection.open("cache");
    const cache = connectionHandle.value;
    log(cache);
  }
  return "done";
}`);
  assert.equal(functionText(compile(byId("generator-using-break"), "js-async", { awaitUsing: true }).body, "async function* rows"), `\
async function* rows() {
  {
    ${COMMENT}
    await using connectionHandle = await connection.open("feed");
    const conn = connectionHandle.value;
    for (let n = 0; n < 3; n += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      yield \`\${conn} row \${n}\`;
    }
  }
}`);
  assert.match(compile(byId("using-return"), "js-async", { awaitUsing: true }).body,
    /\{\n {4}\/\/ await using \(Node 24\+\): disposed at the end of this block\n {4}await using connectionHandle = await connection\.open\("db"\);\n {4}const conn = connectionHandle\.value;\n {4}const rows = await query\(conn\);\n {4}return `\$\{conn\}: \$\{rows\}`;\n {2}\}\n/);
});

test("the option: default false (try/finally); js-promise and programs without using never change", () => {
  assert.ok(ALL_USING.length > 2000, `${ALL_USING.length} fixtures with a using step`);
  for (const ir of ALL_USING) {
    const plain = compile(ir, "js-async");
    assert.deepEqual(compile(ir, "js-async", {}), plain, ir.id);
    assert.deepEqual(compile(ir, "js-async", { awaitUsing: false }), plain, ir.id);
    assert.doesNotMatch(plain.body, /\bawait using\b/, ir.id);
    assert.equal(plain.body.match(/^ *\} finally \{\n *await \w+\.close\(\);$/gm)?.length, usingSteps(ir), ir.id);
    const rendered = compile(ir, "js-async", { awaitUsing: true }).body;
    const underDeadline = usingStepsUnderDeadline(ir);
    assert.equal(rendered.match(/^ *await using \w+ = await \w+\.open\(/gm)?.length ?? 0, usingSteps(ir) - underDeadline, ir.id);
    assert.equal(rendered.split(COMMENT).length - 1, usingSteps(ir) - underDeadline, ir.id);
    assert.equal(rendered.match(/\.close\(\);/g)?.length ?? 0, underDeadline, ir.id);
    assert.equal(compileSource(ir, "js-promise", { awaitUsing: true }), compileSource(ir, "js-promise"), ir.id);
  }
  for (const ir of [...TRACED.map((entry) => entry.ir), ...matrix()].filter((item) => usingSteps(item) === 0)) {
    for (const target of TARGETS) {
      assert.equal(compileSource(ir, target, { awaitUsing: true }), compileSource(ir, target), `${ir.id} ${target}`);
    }
  }
});

test("the option must be true or false", () => {
  const ir = USING_TRACED[0].ir;
  for (const bad of ["yes", 1, null]) {
    assert.throws(() => compile(ir, "js-async", { awaitUsing: bad }), /^TypeError: option awaitUsing must be true or false, got /);
  }
  assert.doesNotThrow(() => compile(ir, "js-async", undefined));
  assert.doesNotThrow(() => compile(ir, "js-async", null));
});

test("a program with `await using` loads exactly where the worker's probe finds the syntax (a SyntaxError on Node 20 and 22)", () => {
  const load = (body) => () => new Function("World", "ScenarioError", `${body}\nreturn { world, main };`);
  for (const { ir } of USING_TRACED) {
    assert.doesNotThrow(load(compile(ir, "js-async").body), ir.id);
    const rendered = compile(ir, "js-async", { awaitUsing: true }).body;
    if (parsesAwaitUsing() || usingSteps(ir) === usingStepsUnderDeadline(ir)) assert.doesNotThrow(load(rendered), ir.id);
    else assert.throws(load(rendered), SyntaxError, ir.id);
  }
});

test("using blocks among other tasks at the same instant: the traces, try/finally, both targets, this Node", async () => {
  for (const { ir, trace, promiseTrace } of USING_INTERLEAVINGS()) {
    for (const target of TARGETS) {
      const outcome = await runBody(ir, target);
      assert.equal(outcome.status, "settled", `${ir.id} ${target}: ${outcome.message}`);
      const expected = target === "js-promise" && promiseTrace !== undefined ? promiseTrace : trace;
      assert.equal(formatTrace(outcome.trace), expected.trim(), `${ir.id} ${target}`);
    }
  }
});

// ---- the runs, on Node 24+ ----------------------------------------------------------------

test("on Node 24+: every fixture with a using step gives the same outcome both ways (status, result, trace, stats)", { timeout: 180000 }, async (t) => {
  const node24 = findNode24();
  if (node24.path === null) return t.skip(node24.reason);
  const { stdout } = await run(node24.path, [COMPARE], { timeout: 170000, maxBuffer: 64 * 1024 * 1024 });
  const report = JSON.parse(stdout);
  assert.equal(Number(report.node.slice(1).split(".")[0]) >= 24, true, report.node);
  // The driver's fixtures are these, the known traces counted once more (TRACED holds
  // GENERATORS_AND_USING), each compared as try/finally and as await using.
  const expected = [...GENERATORS_AND_USING(), ...USING_INTERLEAVINGS(), ...TRACED].filter(({ ir }) => usingSteps(ir) > 0).length
    + [nastyScenario(), ...matrix(), ...matrix(2)].filter((ir) => usingSteps(ir) > 0).length;
  assert.equal(report.compared, expected);
  assert.deepEqual(report.notRendered, []);
  assert.deepEqual(report.differences.slice(0, 5), [], `${report.differences.length} differences on ${report.node}`);
  assert.deepEqual(report.missed, [], `known traces missed on ${report.node}`);
});

test("on Node 24+: the programs run standalone both ways and print the same trace", { timeout: 180000 }, async (t) => {
  const node24 = findNode24();
  if (node24.path === null) return t.skip(node24.reason);
  const dir = mkdtempSync(join(tmpdir(), "asyncparity-await-using-"));
  try {
    copyFileSync(RUNTIME, join(dir, "asyncparity-runtime.mjs"));
    await Promise.all(USING_TRACED.flatMap(({ ir, trace }) => [false, true].map(async (awaitUsing) => {
      const file = join(dir, `${ir.id}.${awaitUsing ? "await-using" : "try-finally"}.mjs`);
      writeFileSync(file, compileSource(ir, "js-async", { awaitUsing }));
      const { stdout } = await run(node24.path, [file], { timeout: 60000 });
      assert.equal(stdout, `${trace.trim()}\nsettled\n`, `${ir.id} ${awaitUsing ? "await using" : "try/finally"} on ${node24.version}`);
    })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
