// Tests of javascript/ir-steps.json, the Node testee's copy of the step table, and of
// javascript/ir-steps.mjs, which reads it.
// Run: node --test tests/javascript/

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { STEPS, STEP_NAMES, baseType, fieldAt, fieldsOfType } from "../../javascript/ir-steps.mjs";

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

test("fieldAt, baseType and fieldsOfType", () => {
  const step = { step: "try", body: [], catch: { kinds: [], bind: "error", body: [{ step: "log" }] }, finally: null };
  assert.deepEqual(fieldAt(step, "catch.body"), [{ step: "log" }]);
  assert.equal(fieldAt({ ...step, catch: null }, "catch.body"), undefined);
  assert.equal(baseType("name?"), "name");
  assert.equal(baseType("calls"), "calls");
  assert.deepEqual(fieldsOfType({ step: "await", call: null, handle: "t", bind: "x" }, "name"), [["handle", "t"], ["bind", "x"]]);
  assert.deepEqual(fieldsOfType({ step: "no-such-step", bind: "x" }, "name"), []);
});
