// Tests of javascript/check-ir.mjs: the IR check the step table drives. Every step of the
// table is checked field by field (a missing field, an undeclared one, one_of), every
// field type has its check, and the rules that cross steps keep their messages
// (compile.test.mjs holds most of those).
// Run: node --test tests/javascript/

import { test } from "node:test";
import assert from "node:assert/strict";

import { compile } from "../../javascript/compile.mjs";
import { checkIr, FIELD_TYPES } from "../../javascript/check-ir.mjs";
import { STEPS, STEP_NAMES, TYPES, baseType } from "../../javascript/ir-steps.mjs";
import {
  all, allSettled, anyOf, awaitCall, brk, call, cancel, catcher, forEach, get, group, ifStep, lit, log, mapStep, op,
  put, race, raise, ref, repeat, ret, returns, scenario, set, sleep, start, timeout, tryStep, using, yieldStep,
} from "./fixtures/scenarios.mjs";

/**
 * One valid example of each step of the table, and where it goes: `main` (with steps
 * before it, `before`), inside a for_each (`inLoop`), or in the generator's body.
 */
const SAMPLES = {
  await: () => ({ step: awaitCall(call("f"), "x") }),
  start: () => ({ step: start(call("f"), "t") }),
  return: () => ({ step: ret(1) }),
  throw: () => ({ step: raise("IOError", "no") }),
  try: () => ({ step: tryStep([log("a")], catcher(["IOError"], "e", [log(ref("e", "message"))]), [log("c")]) }),
  sleep: () => ({ step: sleep(5) }),
  log: () => ({ step: log("x") }),
  all: () => ({ step: all([call("f"), call("f")], "x") }),
  race: () => ({ step: race([call("f"), call("f")], "x") }),
  if: () => ({ step: ifStep(lit(1), "==", lit(1), [log("a")], [log("b")]) }),
  repeat: () => ({ step: repeat(2, "i", [log(ref("i"))]) }),
  all_settled: () => ({ step: allSettled([call("f"), call("f")], "x") }),
  any: () => ({ step: anyOf([call("f"), call("f")], "x") }),
  timeout: () => ({ step: { ...timeout(5, [sleep(1)]), idiom: "race" } }),
  group: () => ({ step: group([call("f"), call("f")], "x") }),
  set: () => ({ step: set("x", 1) }),
  cancel: () => ({ step: cancel("t"), before: [start(call("f"), "t")] }),
  map: () => ({ step: mapStep("f", lit([1, 2]), 1, "x") }),
  put: () => ({ step: put("jobs", 1) }),
  get: () => ({ step: get("jobs", "x") }),
  yield: () => ({ step: yieldStep(1), inGenerator: true }),
  for_each: () => ({ step: forEach(call("gen"), "v", [log(ref("v"))]) }),
  break: () => ({ step: brk(), inLoop: true }),
  using: () => ({ step: using("connection", ["db"], "c", [log(ref("c"))]) }),
  now: () => ({ step: { step: "now", bind: "x" } }),
  while: () => ({ step: { step: "while", condition: { compare: [ref("x"), "<", lit(3)] }, body: [set("x", { calc: [ref("x"), "+", lit(1)] })] }, before: [set("x", 0)] }),
  continue: () => ({ step: { step: "continue" }, inLoop: true }),
  rethrow: () => ({ step: { step: "rethrow", error: "x" } }),
  task_group: () => ({ step: { step: "task_group", body: [start(call("f"), "t")] } }),
  shield: () => ({ step: { step: "shield", call: call("f"), bind: "x" } }),
  as_completed: () => ({ step: { step: "as_completed", calls: [call("f"), call("f")], bind: "v", body: [log(ref("v"))] } }),
  wait: () => ({ step: { step: "wait", calls: [call("f"), call("f")], until: "first_exception", timeout: 50, bind: "x" } }),
  put_nowait: () => ({ step: { step: "put_nowait", queue: "jobs", value: lit(1) } }),
  get_nowait: () => ({ step: { step: "get_nowait", queue: "jobs", bind: "x" } }),
  task_done: () => ({ step: { step: "task_done", queue: "jobs" } }),
  join: () => ({ step: { step: "join", queue: "jobs" } }),
  shutdown: () => ({ step: { step: "shutdown", queue: "jobs" } }),
  set_event: () => ({ step: { step: "set_event", event: "ready" } }),
  clear_event: () => ({ step: { step: "clear_event", event: "ready" } }),
  wait_event: () => ({ step: { step: "wait_event", event: "ready" }, before: [{ step: "set_event", event: "ready" }] }),
  is_set: () => ({ step: { step: "is_set", event: "ready", bind: "x" } }),
  hold: () => ({ step: { step: "hold", sync: "guard", body: [] } }),
};

/** A scenario holding the sample of `name`; returns it with the sample step itself. */
function sampleIr(name) {
  const { step, before = [], inLoop = false, inGenerator = false } = SAMPLES[name]();
  const main = [...before, ...(inLoop ? [forEach(call("gen"), null, [step])] : inGenerator ? [] : [step])];
  const ir = scenario({
    id: `sample-${name}`,
    operations: [op("f", 1, returns(1))],
    functions: { gen: { params: [], generator: true, body: inGenerator ? [step] : [yieldStep(1)] } },
    queues: [{ name: "jobs", size: 1 }],
    events: [{ name: "ready" }],
    locks: [{ name: "guard" }],
    semaphores: [{ name: "slots", value: 2 }],
    resources: [{ name: "connection", open: 1, close: 1 }],
    main: [...main, ...(inGenerator ? [forEach(call("gen"), null, [])] : [])],
  });
  if (!ir.errors.includes("IOError")) ir.errors.push("IOError");
  if (!ir.errors.includes("TimeoutError")) ir.errors.push("TimeoutError");
  return { ir, step };
}

test("every step of the table has a sample here, and each sample compiles", () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...STEP_NAMES].sort(), "add a sample of the new step to SAMPLES");
  for (const name of STEP_NAMES) {
    const { ir } = sampleIr(name);
    assert.doesNotThrow(() => checkIr(ir), name);
    for (const target of ["js-promise", "js-async"]) assert.doesNotThrow(() => compile(ir, target), `${name} ${target}`);
  }
});

test("every field type of the table has a check, and every declared field has a type of the table", () => {
  assert.deepEqual(Object.keys(FIELD_TYPES).sort(), Object.keys(TYPES).sort());
  for (const [name, row] of Object.entries(STEPS)) {
    for (const [field, type] of Object.entries(row.fields)) assert.ok(Object.hasOwn(TYPES, baseType(type)), `${name}.${field}: ${type}`);
  }
});

test("each step: a field the table does not declare is an error", () => {
  for (const name of STEP_NAMES) {
    const { ir, step } = sampleIr(name);
    step.extra = 1;
    assert.throws(() => checkIr(ir), new RegExp(`\\(${name}\\): unknown field "extra"`), name);
  }
});

test("each step: every field the table declares without ? is required", () => {
  let checked = 0;
  for (const name of STEP_NAMES) {
    const row = STEPS[name];
    for (const [field, type] of Object.entries(row.fields)) {
      if (type.endsWith("?") || row.one_of?.includes(field)) continue;
      for (const missing of [undefined, null]) {
        const { ir, step } = sampleIr(name);
        if (missing === undefined) delete step[field];
        else step[field] = null;
        assert.throws(() => checkIr(ir), /^Error: malformed IR for scenario "sample-/, `${name}.${field} = ${missing}`);
        checked += 1;
      }
    }
  }
  assert.ok(checked > 40, `${checked}`);
});

test("each step: fields of type ? may be absent or null; one_of holds exactly one", () => {
  for (const name of STEP_NAMES) {
    const row = STEPS[name];
    for (const [field, type] of Object.entries(row.fields)) {
      if (!type.endsWith("?") || row.one_of?.includes(field) || (name === "try" && field !== "finally")) continue;
      for (const missing of [undefined, null]) {
        const { ir, step } = sampleIr(name);
        if (missing === undefined) delete step[field];
        else step[field] = null;
        assert.doesNotThrow(() => checkIr(ir), `${name}.${field} = ${missing}`);
      }
    }
  }
  const both = sampleIr("await");
  both.step.handle = "t";
  assert.throws(() => checkIr(both.ir), /line \d+ \(await\): needs exactly one of call and handle/);
  const neither = sampleIr("await");
  neither.step.call = null;
  assert.throws(() => checkIr(neither.ir), /needs exactly one of call and handle/);
});

test("a fan-out takes calls or started calls (over), not both", () => {
  for (const name of ["all", "race", "all_settled", "any"]) {
    const { ir, step } = sampleIr(name);
    ir.main.unshift(start(call("f"), "t"));
    step.over = { list: [ref("t")] };
    assert.throws(() => checkIr(ir), new RegExp(`\\(${name}\\): needs exactly one of calls and over`));
    delete step.calls;
    assert.doesNotThrow(() => checkIr(ir), name);
    step.over = { ref: "t); evil(" };
    assert.throws(() => checkIr(ir), /is not a name/);
  }
});

test("the field checks keep what lands in a program as code out", () => {
  const bad = (name, mutate, pattern) => {
    const { ir, step } = sampleIr(name);
    mutate(step);
    assert.throws(() => checkIr(ir), pattern);
  };
  bad("map", (step) => { step.callee_kind = "x); evil("; }, /callee_kind is "operation" or "function", not "x\); evil\("/);
  bad("map", (step) => { step.callee = "x); evil("; }, /callee "x\); evil\(" is not a name/);
  bad("using", (step) => { step.args = null; }, /\(using\): args must be a list/);
  bad("if", (step) => { delete step.else; }, /\(if\): else must be a list of steps/);
  bad("try", (step) => { step.catch = "x"; }, /catch must be \{kinds, bind, body\}/);
  bad("try", (step) => { step.catch.bind = "class"; }, /catch bind "class" is reserved in JavaScript/);
  bad("try", (step) => { step.catch.from_group = "yes"; }, /catch.from_group is true, with kinds, or absent/);
  bad("try", (step) => { step.catch.kinds = []; step.catch.from_group = true; }, /catch.from_group is true, with kinds, or absent/);
  bad("get", (step) => { step.queue = "nowhere"; }, /queue "nowhere" is not listed in queues/);
  bad("sleep", (step) => { step.ms = -1; }, /ms must be an integer >= 0, got -1/);
  bad("repeat", (step) => { step.times = "3; evil()"; }, /times must be an integer >= 0/);
  bad("throw", (step) => { step.kind = "Missing"; }, /kind "Missing" is not listed in errors/);
  const race = sampleIr("timeout");
  race.step.idiom = null; // the default idiom, signal
  assert.doesNotThrow(() => checkIr(race.ir));
});

test("a return in a timeout block is an error at the return", () => {
  const { ir, step } = sampleIr("timeout");
  step.body.push({ step: "return", line: 99, value: null });
  assert.throws(() => checkIr(ir), /line \d+ \(timeout\), line 99 \(return\): a timeout block cannot return/);
});

test("bindings and bound functions: the same cases and messages as the Python check", async () => {
  // tests/python/test_check.py runs these cases on asyncparity_python/check.py.
  const { readFileSync } = await import("node:fs");
  const vectors = JSON.parse(readFileSync(new URL("./fixtures/bindings-ir-cases.json", import.meta.url), "utf8"));
  checkIr(structuredClone(vectors.ir));
  for (const change of vectors.cases) {
    const ir = structuredClone(vectors.ir);
    for (const [path, value] of change.set ?? []) path.slice(0, -1).reduce((at, key) => at[key], ir)[path.at(-1)] = value;
    for (const path of change.delete ?? []) delete path.slice(0, -1).reduce((at, key) => at[key], ir)[path.at(-1)];
    assert.throws(() => checkIr(ir), { message: `malformed IR for scenario "bound-get": ${change.message}` }, JSON.stringify(change));
  }
});
