// Tests of tests/javascript/unused-bindings.mjs, the check behind "each JavaScript program
// has no unused binding" (tests/test_lint.py runs it over every program of spec/): it
// finds a planted unused binding of each kind, and nothing in code that reads them all.

import assert from "node:assert/strict";
import { test } from "node:test";

import { compileSource } from "../../javascript/compile.mjs";
import { tokenize, unusedBindings } from "./unused-bindings.mjs";

const found = (source) => unusedBindings(source).map(({ name, line, kind }) => `${line}: ${kind} ${name}`);

test("a planted unused binding of each kind is found, with its line", () => {
  const source = [
    'import { World, Unused } from "./asyncparity-runtime.mjs";', // 1
    "const world = new World(\"x\");", // 2
    "const { log, setTimeout, clearTimeout } = world;", // 3
    "const [first, second] = [1, 2];", // 4
    "function helper(a, b) {", // 5
    "  return a;", // 6
    "}", // 7
    "async function main() {", // 8
    "  const report = await helper(first, 0);", // 9
    "  let later;", // 10
    "  later = 1;", // 11
    "  try { log(1); } catch (error) { log(2); }", // 12
    "  for (const row of [1]) { log(3); }", // 13
    "  return Promise.resolve(1).then((value) => 2).then((x, y) => x);", // 14
    "}", // 15
    "world.runAndPrint(main);", // 16
  ].join("\n");

  assert.deepEqual(found(source), [
    "1: import Unused",
    "3: const setTimeout",
    "3: const clearTimeout",
    "4: const second",
    "5: parameter b",
    "9: const report",
    "10: let later",
    "12: catch error",
    "13: const row",
    "14: parameter value",
    "14: parameter y",
  ]);
});

test("reads count in every place code reads a name, and `_` names and after-used parameters are kept", () => {
  const source = [
    'import { World } from "./asyncparity-runtime.mjs";',
    "const world = new World(\"x\");",
    "const { log, setTimeout } = world;",
    "const _kept = 1;",
    "const limit = 2;",
    "function main() {",
    "  const timer = { limit: 1 };", // `limit:` is a key, not a read of limit...
    "  log(`${limit} ${timer.limit}`);", // ...which a template literal's ${} reads
    "  return new Promise((resolve, reject) => setTimeout(() => reject(new Error(\"x\")), 5))",
    "    .catch((error) => { log(error); for (const item of [1]) log(item); });",
    "}",
    "world.runAndPrint(main);",
  ].join("\n");

  assert.deepEqual(found(source), []);
});

test("strings, comments and property names never count as reads", () => {
  const source = [
    "const a = 1; // a",
    "const b = 2;",
    'const c = "a b";',
    "const d = `a ${c} b`;",
    "/* d */ export const e = { b: 1 }.b + d.length;",
  ].join("\n");

  assert.deepEqual(found(source), ["1: const a", "2: const b"]);
  // A template literal's text is dropped, its `${...}` kept as a bracketed expression.
  assert.deepEqual(tokenize("x = `t${y}u`; // z").map((token) => token.text), ["x", "=", "(", "y", ")", "`", ";"]);
});

test("a program the compiler writes for the seed scenario has none, in both idioms", async () => {
  const { readFileSync } = await import("node:fs");
  const seed = process.env.ASYNCPARITY_SEED_IR;
  if (!seed) return; // outside pytest (tests/javascript/test_node_suite.py sets it)
  const ir = JSON.parse(readFileSync(seed, "utf8"));
  for (const target of ["js-promise", "js-async"]) assert.deepEqual(unusedBindings(compileSource(ir, target)), [], target);
});
