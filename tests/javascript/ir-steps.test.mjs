// Tests of javascript/ir-steps.json, the Node testee's copy of the step table, of
// javascript/ir-steps.mjs, which reads it, and that each JavaScript compiler renders every
// step of the table (check-ir.test.mjs checks that every step has its field checks).
// Run: node --test tests/javascript/

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { STEPS, STEP_NAMES, baseType, boundPaths, fieldAt, fieldsOfType } from "../../javascript/ir-steps.mjs";
import { RENDERINGS as ASYNC_RENDERINGS } from "../../javascript/compile-async.mjs";
import { RENDERINGS as PROMISE_RENDERINGS } from "../../javascript/compile-promise.mjs";

const SPEC_TABLE = new URL("../../spec/ir-steps.json", import.meta.url);
const JS_TABLE = new URL("../../javascript/ir-steps.json", import.meta.url);

test("javascript/ir-steps.json is a byte-for-byte copy of spec/ir-steps.json", () => {
  const spec = readFileSync(SPEC_TABLE);
  const copy = readFileSync(JS_TABLE);
  assert.ok(spec.equals(copy), "javascript/ir-steps.json differs from spec/ir-steps.json: copy it "
    + "(cp spec/ir-steps.json javascript/ir-steps.json); the Node testee ships without spec/");
});

test("the module reads the table: every step, frozen, in the table's order", () => {
  const table = JSON.parse(readFileSync(SPEC_TABLE, "utf8"));
  assert.deepEqual(STEP_NAMES, Object.keys(table.steps));
  assert.deepEqual(STEPS, table.steps);
  assert.ok(Object.isFrozen(STEPS.try.blocks[1]));
});

test("fieldAt, baseType, fieldsOfType and boundPaths", () => {
  const step = { step: "try", body: [], catch: { kinds: [], bind: "error", body: [{ step: "log" }] }, finally: null };
  assert.deepEqual(fieldAt(step, "catch.body"), [{ step: "log" }]);
  assert.equal(fieldAt({ ...step, catch: null }, "catch.body"), undefined);
  assert.equal(baseType("name?"), "name");
  assert.equal(baseType("calls"), "calls");
  assert.deepEqual(fieldsOfType({ step: "await", call: null, handle: "t", bind: "x" }, "name"), [["handle", "t"], ["bind", "x"]]);
  assert.deepEqual(fieldsOfType({ step: "no-such-step", bind: "x" }, "name"), []);
  assert.deepEqual(boundPaths({ step: "try" }), ["catch.bind"]);
  assert.deepEqual(boundPaths({ step: "await" }), ["bind"]);
  assert.deepEqual(boundPaths({ step: "using" }), ["bind"]);
});

test("every step of the table has a rendering in each JavaScript compiler, and no other step has one", () => {
  for (const [compiler, renderings] of [["compile-promise.mjs", PROMISE_RENDERINGS], ["compile-async.mjs", ASYNC_RENDERINGS]]) {
    const missing = STEP_NAMES.filter((name) => typeof renderings[name] !== "function");
    assert.deepEqual(missing, [], `${compiler}: add a rendering of each step to its RENDERINGS`);
    const unknown = Object.keys(renderings).filter((name) => !STEP_NAMES.includes(name));
    assert.deepEqual(unknown, [], `${compiler}: RENDERINGS renders steps the table does not declare`);
    assert.ok(Object.isFrozen(renderings), compiler);
  }
});
