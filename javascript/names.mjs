/**
 * Names in the generated programs: the JavaScript spelling of scenario names
 * (`camelCase`), the names no scenario may take (`isReservedName`), and the lexical
 * scopes from which temp names are chosen so that none shadows a scenario name
 * (`Scope`, `programScope`).
 *
 * Standard library only (Node 20+).
 *
 * @module names
 */

import { forEachStep, stepNames } from "./walk.mjs";

// ECMAScript reserved words, strict-mode and module reserved words, literals and names
// with special meaning (ECMA-262 "Keywords and Reserved Words"): a temp name is never one.
const JS_RESERVED = new Set([
  "arguments", "async", "await", "break", "case", "catch", "class", "const", "continue",
  "debugger", "default", "delete", "do", "else", "enum", "eval", "export", "extends",
  "false", "finally", "for", "function", "if", "implements", "import", "in",
  "instanceof", "interface", "let", "new", "null", "of", "package", "private",
  "protected", "public", "return", "static", "super", "switch", "this", "throw",
  "true", "try", "typeof", "undefined", "var", "void", "while", "with", "yield",
]);

// Names the generated programs define or use themselves; a temp name is never one.
const PROGRAM_NAMES = [
  "world", "log", "setTimeout", "clearTimeout", "main", "World", "ScenarioError",
  "Promise", "resolve", "reject", "Error", "String", "JSON", "Object", "Array",
  "globalThis", "process", "console", "NaN", "Infinity",
];

/**
 * Whether a scenario name cannot be used in JavaScript: its camelCase spelling is a
 * reserved word or a name the generated programs use themselves. The loader rejects
 * such names (runner/names.py); the compiler checks again.
 *
 * @param {string} name a snake_case scenario name.
 * @returns {boolean}
 */
export function isReservedName(name) {
  const js = camelCase(name);
  return JS_RESERVED.has(js) || PROGRAM_NAMES.includes(js);
}

/** camelCase's spellings, by name (the compilers spell each name many times: issue 13). */
const CAMEL_CASE = new Map();
const CAMEL_CASE_CAP = 10000;

/**
 * The JavaScript spelling of a snake_case scenario name: `download_data` ->
 * `downloadData`. The same rule as runner/names.py `camel_case`, which the loader uses
 * to reject names that would collide.
 *
 * @param {string} name
 * @returns {string}
 */
export function camelCase(name) {
  let spelt = CAMEL_CASE.get(name);
  if (spelt === undefined) {
    const [head, ...rest] = name.split("_");
    spelt = head + rest.map((part) => part.slice(0, 1).toUpperCase() + part.slice(1)).join("");
    // A worker lives for a whole suite, whose scenarios' names are many but bounded;
    // past the cap the cache starts again rather than grow without end.
    if (CAMEL_CASE.size >= CAMEL_CASE_CAP) CAMEL_CASE.clear();
    CAMEL_CASE.set(name, spelt);
  }
  return spelt;
}

/**
 * A lexical scope of names, for choosing temp names that shadow nothing visible.
 * A child scope sees its parents' names; `fresh` declares a new name in this scope.
 */
export class Scope {
  /**
   * @param {Scope | null} parent
   * @param {Iterable<string>} [names] names declared here from the start.
   */
  constructor(parent, names = []) {
    /** @type {Scope | null} */
    this.parent = parent;
    /** @type {Set<string>} */
    this.names = new Set(names);
  }

  /**
   * @param {string} name
   * @returns {boolean} whether `name` is visible here.
   */
  has(name) {
    for (let scope = this; scope !== null; scope = scope.parent) {
      if (scope.names.has(name)) return true;
    }
    return false;
  }

  /** @returns {Scope} a new scope nested in this one. */
  child() {
    return new Scope(this);
  }

  /**
   * Declares and returns a fresh name: `base` if nothing visible uses it, else `base2`,
   * `base3`...
   *
   * @param {string} base a camelCase identifier.
   * @returns {string}
   */
  fresh(base) {
    let name = base;
    for (let n = 2; this.has(name) || JS_RESERVED.has(name); n += 1) name = `${base}${n}`;
    this.names.add(name);
    return name;
  }
}

/**
 * The root scope of one program: every identifier the scenario uses (in its JavaScript
 * spelling), every error kind, and the names the program itself uses. Temp names are
 * chosen to avoid all of them, so a temp never shadows a scenario name.
 *
 * @param {object} ir the scenario IR.
 * @returns {Scope}
 */
export function programScope(ir) {
  return new Scope(null, programNames(ir));
}

/**
 * The names of programScope: every identifier the scenario uses (JavaScript spelling),
 * every error kind, and the program's own names. A Scope copies them, so that one set
 * can seed the root scopes of both targets' programs.
 *
 * @param {object} ir the scenario IR.
 * @returns {Set<string>}
 */
export function programNames(ir) {
  const names = new Set(PROGRAM_NAMES);
  for (const kind of ir.errors ?? []) names.add(kind);
  for (const op of ir.operations ?? []) names.add(camelCase(op.name));
  for (const queue of ir.queues ?? []) names.add(camelCase(queue.name));
  for (const event of ir.events ?? []) names.add(camelCase(event.name));
  for (const lock of ir.locks ?? []) names.add(camelCase(lock.name));
  for (const semaphore of ir.semaphores ?? []) names.add(camelCase(semaphore.name));
  for (const resource of ir.resources ?? []) names.add(camelCase(resource.name));
  const addSteps = (steps) => forEachStep(steps, (step) => {
    for (const name of stepNames(step)) names.add(camelCase(name));
  });
  for (const fn of ir.functions ?? []) {
    names.add(camelCase(fn.name));
    for (const param of fn.params ?? []) names.add(camelCase(param));
    addSteps(fn.body);
  }
  addSteps(ir.main ?? []);
  return names;
}

/**
 * Every scenario name a step list mentions (bindings, reads, callees), nested steps
 * included.
 *
 * @param {object[]} steps
 * @returns {Set<string>} the names, as the IR spells them.
 */
export function mentionedNames(steps) {
  const names = new Set();
  forEachStep(steps, (step) => {
    for (const name of stepNames(step)) names.add(name);
  });
  return names;
}
