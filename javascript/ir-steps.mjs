/**
 * The IR's steps as data: javascript/ir-steps.json, a byte-for-byte copy of
 * spec/ir-steps.json (the Node testee stands alone: the worker ships without spec/;
 * tests/javascript/ir-steps.test.mjs holds the copies equal). For each step it declares
 * its fields and their types, whether it waits, what it binds, which blocks (nested step
 * lists) it holds and whether it loops. The walkers (walk.mjs), the IR check
 * (check-ir.mjs) and the completeness test of the renderings read it, so that a new step
 * is a table row, not a new case in each of them.
 *
 * Standard library only (Node 20+).
 *
 * @module ir-steps
 */

import { readFileSync } from "node:fs";

/** The whole table: `types`, `steps`, `ir` (the IR version it describes). */
const TABLE = JSON.parse(readFileSync(new URL("./ir-steps.json", import.meta.url), "utf8"));

/**
 * Step name -> its row: `fields` ({field: type}), `yaml`, `waits` (true, false or
 * "blocks"), `binds` ("value" or null), `blocks` ([{field, binds}]), `loops`, and
 * `one_of` where a step has one. Frozen.
 *
 * @type {Readonly<Record<string, object>>}
 */
export const STEPS = deepFreeze(TABLE.steps);

/** The field types the table declares, with what each means (frozen). */
export const TYPES = deepFreeze(TABLE.types);

/** The step names, in the table's order. */
export const STEP_NAMES = Object.freeze(Object.keys(STEPS));

/** Step name -> `[field, base type]` of its row's fields, in the table's order (for fieldsOfType). */
const ROW_FIELDS = new Map(Object.entries(STEPS).map(([name, row]) => [name, Object.entries(row.fields).map(([field, type]) => [field, baseType(type)])]));

/** fieldAt's paths, split once each. */
const PATH_PARTS = new Map();

/** The rows by step name, for stepRow. */
const ROWS = new Map(Object.entries(STEPS));

/**
 * The row of a step, or undefined for a step the table does not declare (so that a walk
 * never fails before the IR check can name it).
 *
 * @param {object} step an IR step.
 * @returns {object | undefined}
 */
export function stepRow(step) {
  return ROWS.get(step.step);
}

/**
 * A field of a step by its table path: `body`, or `catch.body` (undefined where a part
 * of the path is absent or null).
 *
 * @param {object} step
 * @param {string} path
 * @returns {*}
 */
export function fieldAt(step, path) {
  let value = step;
  let parts = PATH_PARTS.get(path);
  if (parts === undefined) PATH_PARTS.set(path, (parts = path.split(".")));
  for (const part of parts) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[part];
  }
  return value;
}

/**
 * A declared type without its optional mark: `name?` -> `name`.
 *
 * @param {string} type
 * @returns {string}
 */
export function baseType(type) {
  return type.endsWith("?") ? type.slice(0, -1) : type;
}

/**
 * `[field, value]` for each field of a step declared with one of `types` (the optional
 * mark ignored) and set (neither absent nor null), in the table's order.
 *
 * @param {object} step
 * @param {...string} types
 * @returns {Array<[string, *]>}
 */
export function fieldsOfType(step, ...types) {
  const row = stepRow(step);
  if (row === undefined) return [];
  // The walkers ask this of every step, several times each (issue 13): each row's
  // fields and their base types are listed once.
  const found = [];
  for (const [field, type] of ROW_FIELDS.get(step.step)) if (types.includes(type) && step[field] != null) found.push([field, step[field]]);
  return found;
}

/**
 * The paths of the names a step binds: `bind` where it binds a value for the rest of its
 * function (`binds: "value"`), and what each of its blocks binds for itself (`bind`,
 * `catch.bind`).
 *
 * @param {object} step
 * @returns {string[]}
 */
export function boundPaths(step) {
  const row = stepRow(step);
  if (row === undefined) return [];
  const paths = row.binds === "value" ? ["bind"] : [];
  for (const block of row.blocks) if (block.binds && !paths.includes(block.binds)) paths.push(block.binds);
  return paths;
}

function deepFreeze(value) {
  if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
