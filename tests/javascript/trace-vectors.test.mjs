// The canonical trace text of javascript/asyncparity-runtime.mjs against the shared
// vectors of spec/trace-vectors.json, which hold python/asyncparity_runtime.py's
// renderer (and so the runner's) to the same lines: tests/runner/test_trace.py.
// Run: node --test tests/javascript/

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { formatTrace, traceLines } from "../../javascript/asyncparity-runtime.mjs";

const VECTORS = JSON.parse(readFileSync(new URL("../../spec/trace-vectors.json", import.meta.url), "utf8")).vectors;

test("the vector file has vectors, each with events and as many lines", () => {
  assert.ok(VECTORS.length > 0);
  for (const vector of VECTORS) {
    assert.equal(vector.events.length, vector.lines.length, vector.name);
    if (vector.javascript !== undefined) {
      assert.equal(vector.javascript.length, vector.lines.length, vector.name);
      assert.ok(vector.why, `${vector.name}: a JavaScript override says why`);
    }
  }
});

for (const vector of VECTORS) {
  test(`trace vector: ${vector.name}`, () => {
    const expected = vector.javascript ?? vector.lines;
    assert.deepEqual(traceLines(vector.events), expected);
    assert.equal(formatTrace(vector.events), expected.join("\n"));
  });
}

test("a high and a low surrogate made one string are one character, as UTF-16 has them", () => {
  // Python's canonical_json pairs them too (tests/runner/test_trace.py): a Python str
  // holds them as two code points, which a JSON round trip would pair.
  const high = "\ud83d";
  assert.deepEqual(traceLines([{ t: 0, event: "log", message: high + "\ude00" }]), ['0 log "😀"']);
  assert.deepEqual(traceLines([{ t: 0, event: "log", message: high }]), ['0 log "\\ud83d"']);
});
