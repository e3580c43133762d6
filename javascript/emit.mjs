/**
 * Shared helpers of the JavaScript compilers (compile-async.mjs, compile-promise.mjs):
 * literal emission, names, a small code model with its printer, and the analysis of
 * where a scenario's bindings are declared.
 *
 * Every string of a scenario reaches the program as an escaped literal, never as code:
 * `jsString` for string literals, `jsValue` for JSON values, `templateText` for the
 * literal parts of a template literal, `commentText` for the few places where scenario
 * text lands in a comment.
 *
 * Standard library only (Node 20+).
 *
 * @module emit
 */

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

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

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

/**
 * A JavaScript string literal whose value is exactly `text`.
 *
 * JSON.stringify escapes quotes, backslashes, control characters (NUL as `\u0000`) and
 * lone surrogates; on top of that U+2028/U+2029 are escaped (line terminators in older
 * engines and in comments), `</` becomes `<\/` and `<!--` becomes `\u003c!--`, so a
 * program can sit inside an HTML `<script>`. Other non-ASCII text is kept as is.
 *
 * @param {string} text
 * @returns {string} the literal, double-quoted.
 */
export function jsString(text) {
  if (typeof text !== "string") throw new TypeError(`expected a string, got ${typeof text}`);
  return escapeForScript(JSON.stringify(text));
}

/** Escapes what JSON.stringify leaves and a script must not contain raw. */
function escapeForScript(literal) {
  return literal
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")
    .replace(/<\//g, "<\\/")
    .replace(/<!--/g, "\\u003c!--");
}

/**
 * A JavaScript expression for a JSON value: `null`, booleans, numbers, strings,
 * arrays `[1, 2]` and objects `{ name: "x", "content-type": "y" }` with keys quoted
 * only where needed. A key `__proto__` is written `["__proto__"]`, so that it makes
 * an own property as JSON.parse does rather than setting the prototype.
 *
 * @param {*} value a JSON value.
 * @returns {string} the expression, on one line.
 */
export function jsValue(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return String(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`not a JSON number: ${value}`);
      return JSON.stringify(value);
    case "string":
      return jsString(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(jsValue).join(", ")}]`;
      return jsObject(Object.entries(value).map(([key, item]) => [key, jsValue(item)]));
    default:
      throw new TypeError(`not a JSON value: ${typeof value}`);
  }
}

/**
 * An object literal from keys and already-emitted value expressions.
 *
 * @param {Array<[string, string]>} entries key (any string) and value expression.
 * @returns {string} `{ a: 1, "b c": x }`, or `{}`.
 */
export function jsObject(entries) {
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([key, expr]) => `${propertyKey(key)}: ${expr}`).join(", ")} }`;
}

/** A property name: bare when it is an identifier name, else a string literal. */
function propertyKey(key) {
  if (key === "__proto__") return `[${jsString(key)}]`;
  return IDENTIFIER.test(key) ? key : jsString(key);
}

/**
 * The literal text of a template literal part: backslashes, backticks and `${` are
 * escaped, and so are control characters, U+2028/U+2029, lone surrogates, `</` and
 * `<!--`, so that the cooked string is exactly `text`.
 *
 * @param {string} text
 * @returns {string} text to place between the backticks.
 */
export function templateText(text) {
  let out = "";
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    const code = text.charCodeAt(i);
    if (ch === "\\") out += "\\\\";
    else if (ch === "`") out += "\\`";
    else if (ch === "$" && text[i + 1] === "{") out += "\\$";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) out += unicodeEscape(code);
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      out += ch + text[i + 1];
      i += 1;
    } else if (code >= 0xd800 && code <= 0xdfff) out += unicodeEscape(code);
    else if (ch === "<" && text[i + 1] === "/") {
      out += "<\\/";
      i += 1;
    }
    else if (ch === "<" && text.startsWith("<!--", i)) out += "\\u003c";
    else out += ch;
  }
  return out;
}

function isLowSurrogate(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}

function unicodeEscape(code) {
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A template literal from literal text parts and already-emitted expressions.
 *
 * @param {Array<{text: string} | {expr: string}>} parts
 * @returns {string} e.g. `` `got ${result}` ``.
 */
export function templateLiteral(parts) {
  return `\`${parts.map((part) => ("text" in part ? templateText(part.text) : `\${${part.expr}}`)).join("")}\``;
}

/**
 * Scenario text made safe for a `//` comment: line terminators (CR, LF, U+2028,
 * U+2029), which would end the comment and let the rest run as code, are written as
 * visible escapes.
 *
 * @param {string} text
 * @returns {string}
 */
export function commentText(text) {
  return String(text)
    .replace(/\r/g, "\\r")
    .replace(/\n/g, "\\n")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * The JavaScript spelling of a snake_case scenario name: `download_data` ->
 * `downloadData`. The same rule as runner/names.py `camel_case`, which the loader uses
 * to reject names that would collide.
 *
 * @param {string} name
 * @returns {string}
 */
export function camelCase(name) {
  const [head, ...rest] = name.split("_");
  return head + rest.map((part) => part.slice(0, 1).toUpperCase() + part.slice(1)).join("");
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
  const names = new Set(PROGRAM_NAMES);
  for (const kind of ir.errors ?? []) names.add(kind);
  for (const op of ir.operations ?? []) names.add(camelCase(op.name));
  for (const queue of ir.queues ?? []) names.add(camelCase(queue.name));
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
  return new Scope(null, names);
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

/** Every identifier a step mentions itself (not in its nested steps). */
function stepNames(step) {
  const names = [];
  if (step.bind) names.push(step.bind);
  if (step.handle) names.push(step.handle);
  if (step.catch?.bind) names.push(step.catch.bind);
  if (step.step === "map") names.push(step.callee);
  if (step.queue) names.push(step.queue);
  if (step.step === "using") names.push(step.resource);
  for (const call of stepCalls(step)) names.push(call.callee);
  for (const expr of stepExprs(step)) forEachRef(expr, (name) => names.push(name));
  return names;
}

/**
 * Calls `visit(step)` for every step of `steps`, nested ones included.
 *
 * @param {object[]} steps
 * @param {(step: object) => void} visit
 */
export function forEachStep(steps, visit) {
  for (const step of steps) {
    visit(step);
    for (const block of childBlocks(step)) forEachStep(block.steps, visit);
  }
}

/**
 * The nested step lists of a step, with the name each one binds for itself (a catch's
 * error, a repeat's counter, a for_each's value, a using's resource value).
 *
 * @param {object} step
 * @returns {Array<{steps: object[], binds: string | null}>}
 */
export function childBlocks(step) {
  switch (step.step) {
    case "try": {
      const blocks = [{ steps: step.body, binds: null }];
      if (step.catch) blocks.push({ steps: step.catch.body, binds: step.catch.bind ?? null });
      if (step.finally) blocks.push({ steps: step.finally, binds: null });
      return blocks;
    }
    case "if":
      return [{ steps: step.then ?? [], binds: null }, { steps: step.else ?? [], binds: null }];
    case "repeat":
      return [{ steps: step.body, binds: step.bind ?? null }];
    case "timeout":
      return [{ steps: step.body, binds: null }];
    case "for_each":
    case "using":
      return [{ steps: step.body, binds: step.bind ?? null }];
    default:
      return [];
  }
}

/** The calls a step makes itself. */
export function stepCalls(step) {
  if (step.call) return [step.call];
  if (step.calls) return step.calls;
  return [];
}

/** The expressions a step evaluates itself (call arguments included). */
function stepExprs(step) {
  const exprs = [];
  for (const call of stepCalls(step)) exprs.push(...call.args);
  if (step.step === "return" && step.value != null) exprs.push(step.value);
  if (step.step === "throw" || step.step === "log") exprs.push(step.message);
  if (step.step === "if") exprs.push(step.left, step.right);
  if (step.step === "sleep" && isExpr(step.ms)) exprs.push(step.ms);
  if (step.step === "set" || step.step === "put" || step.step === "yield") exprs.push(step.value);
  if (step.step === "map") exprs.push(step.over);
  if (step.step === "using") exprs.push(...step.args);
  return exprs;
}

/** Calls `visit(name)` for every name an expression refers to. */
function forEachRef(expr, visit) {
  if (expr === null || typeof expr !== "object") return;
  if ("ref" in expr) visit(expr.ref);
  else if ("format" in expr) for (const part of expr.format) forEachRef(part, visit);
  else if ("list" in expr) for (const item of expr.list) forEachRef(item, visit);
  else if ("object" in expr) for (const [, item] of expr.object) forEachRef(item, visit);
  else if ("calc" in expr) {
    forEachRef(expr.calc[0], visit);
    forEachRef(expr.calc[2], visit);
  }
}

/** Whether an IR value is an expression object (a sleep's `ms` may be one or a number). */
function isExpr(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The names a step reads itself: references in its expressions and an awaited handle.
 *
 * @param {object} step
 * @returns {string[]}
 */
export function stepReads(step) {
  const names = [];
  for (const expr of stepExprs(step)) forEachRef(expr, (name) => names.push(name));
  if (step.handle) names.push(step.handle);
  return names;
}

/**
 * Whether a step list holds a `return` step anywhere, nested ones included.
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsReturn(steps) {
  let found = false;
  forEachStep(steps ?? [], (step) => {
    if (step.step === "return") found = true;
  });
  return found;
}

/**
 * Whether a step list holds a `break` that leaves the for_each around the list: nested
 * steps included, except the bodies of for_each steps inside (their breaks are theirs).
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsBreak(steps) {
  return (steps ?? []).some((step) => step.step === "break"
    || (step.step !== "for_each" && childBlocks(step).some((block) => containsBreak(block.steps))));
}

/**
 * Whether a step list runs without waiting anywhere: only log, start, set, cancel, throw,
 * return, break, and if/repeat/try made of those. Such steps compile to plain statements
 * in both variants. A try holding a break is never one: the break must wait for the
 * try's finally (a for-await's return() comes after it), which only a chain can do.
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function isSyncOnly(steps) {
  return (steps ?? []).every((step) => {
    switch (step.step) {
      case "log": case "start": case "set": case "cancel": case "throw": case "return": case "break": return true;
      case "if": return isSyncOnly(step.then) && isSyncOnly(step.else);
      case "repeat": return isSyncOnly(step.body);
      case "try":
        return isSyncOnly(step.body) && isSyncOnly(step.catch?.body) && isSyncOnly(step.finally)
          && !containsBreak([step]);
      default: return false;
    }
  });
}

/** The steps that wait for a value and may bind it. */
const VALUE_STEPS = new Set(["await", "all", "race", "all_settled", "any", "group", "map", "get"]);

/** Whether a step binds a name of the function's own: a waited value, a start or a set. */
function bindsName(step) {
  return Boolean(step.bind) && (VALUE_STEPS.has(step.step) || step.step === "start" || step.step === "set");
}

/**
 * Where each binding of one function body is declared.
 *
 * A name bound once, directly in the innermost step list that holds all its bindings
 * and uses, is a `const` where it is bound. Any other name (bound inside a block and
 * used after it, or bound more than once, as a `set` binds again) is declared with
 * `let` in that innermost list,
 * just before the first step that binds it: `let` at the binding itself when that step
 * is in the list, else a separate `let name;` before it. Parameters are never declared.
 *
 * With `carry` (the promise variant), a `try` whose every branch ends by binding the
 * same name, which nothing inside the try reads and nothing else binds, counts as the
 * binding: the value flows out of the chain into the next `.then((name) => ...)`.
 *
 * @param {object[]} body the function's steps.
 * @param {string[]} params the function's parameters.
 * @param {{carry?: boolean}} [options]
 * @returns {{
 *   site: Map<object, "const" | "let" | "assign">,
 *   before: Map<object[], Map<number, string[]>>,
 *   carried: Map<object, string>,
 *   uses: Map<string, number>,
 * }} `site`: how each binding step declares its name; `before`: `let` declarations
 *   due before a step index of a step list; `carried`: try step -> carried name;
 *   `uses`: how often each name is read.
 */
export function planBindings(body, params, { carry = false } = {}) {
  const carried = carry ? findCarries(body, params) : new Map();
  const skipped = new Set();
  for (const [tryStep, name] of carried) {
    for (const block of childBlocks(tryStep)) {
      const last = block.steps[block.steps.length - 1];
      if (last && last.bind === name) skipped.add(last);
    }
  }
  const sites = new Map();
  const reads = new Map();
  const push = (map, name, entry) => {
    if (!map.has(name)) map.set(name, []);
    map.get(name).push(entry);
  };
  const walk = (steps, frames, shadow) => {
    steps.forEach((step, index) => {
      const path = [...frames, { steps, index }];
      for (const name of stepReads(step)) {
        if (!shadow.has(name)) push(reads, name, path);
      }
      if (carried.has(step)) push(sites, carried.get(step), { step, path });
      if (bindsName(step) && !skipped.has(step) && !shadow.has(step.bind)) {
        push(sites, step.bind, { step, path });
      }
      for (const block of childBlocks(step)) {
        const inner = block.binds ? new Set([...shadow, block.binds]) : shadow;
        walk(block.steps, path, inner);
      }
    });
  };
  walk(body, [], new Set());

  const site = new Map();
  const before = new Map();
  const uses = new Map();
  for (const [name, list] of reads) uses.set(name, list.length);
  const paramSet = new Set(params);
  for (const [name, list] of sites) {
    if (paramSet.has(name)) {
      for (const entry of list) site.set(entry.step, "assign");
      continue;
    }
    const paths = [...list.map((entry) => entry.path), ...(reads.get(name) ?? [])];
    let depth = 0;
    while (paths.every((path) => path.length > depth + 1 && path[depth + 1].steps === paths[0][depth + 1].steps)) {
      depth += 1;
    }
    const direct = (entry) => entry.path.length === depth + 1;
    if (list.length === 1 && direct(list[0])) {
      site.set(list[0].step, "const");
      continue;
    }
    const first = list[0];
    for (const entry of list) site.set(entry.step, "assign");
    if (direct(first)) {
      site.set(first.step, "let");
    } else {
      const steps = first.path[depth].steps;
      const index = first.path[depth].index;
      if (!before.has(steps)) before.set(steps, new Map());
      const at = before.get(steps);
      if (!at.has(index)) at.set(index, []);
      at.get(index).push(name);
    }
  }
  return { site, before, carried, uses };
}

/** The try steps whose branches all end by binding one name the code after reads. */
function findCarries(body, params) {
  const bindCount = new Map();
  forEachStep(body, (step) => {
    if (bindsName(step)) {
      bindCount.set(step.bind, (bindCount.get(step.bind) ?? 0) + 1);
    }
  });
  const carried = new Map();
  const visit = (steps) => {
    steps.forEach((step, index) => {
      for (const block of childBlocks(step)) visit(block.steps);
      if (step.step !== "try" || index === steps.length - 1) return;
      const branches = [step.body];
      if (step.catch) branches.push(step.catch.body);
      const lasts = branches.map((branch) => branch[branch.length - 1]);
      if (!lasts.every((last) => last && VALUE_STEPS.has(last.step) && last.bind)) return;
      const name = lasts[0].bind;
      if (!lasts.every((last) => last.bind === name)) return;
      if (params.includes(name) || step.catch?.bind === name) return;
      if (bindCount.get(name) !== lasts.length) return;
      if (containsReturn(step.body) || containsReturn(step.catch?.body) || containsReturn(step.finally)) return;
      let readInside = false;
      for (const block of childBlocks(step)) {
        forEachStep(block.steps, (inner) => {
          if (stepReads(inner).includes(name)) readInside = true;
        });
      }
      if (readInside) return;
      let readAfter = false;
      forEachStep(steps.slice(index + 1), (inner) => {
        if (stepReads(inner).includes(name)) readAfter = true;
      });
      if (readAfter) carried.set(step, name);
    });
  };
  visit(body);
  return carried;
}

// ---------------------------------------------------------------------------------
// A small code model and its printer, shared by both renderers.
//
// Statements: {t: "line", text} | {t: "return", expr} | {t: "if", cond, then, else}
//   | {t: "for", head, body} | {t: "try", body, param, catch, finally}
//   | {t: "const", name, expr}
//   | {t: "block", open, body, close}: `open` and `close` lines around an indented body,
//     for a function literal inside a statement (the deadline's executor, the timed block).
// Expressions: {t: "raw", text} | {t: "chain", head, links: [{method, args}]}
//   | {t: "arrow", params, body} where body is a statement list.
// ---------------------------------------------------------------------------------

/** @param {string} text @returns {{t: "raw", text: string}} */
export const raw = (text) => ({ t: "raw", text });

/**
 * A method chain `head.m1(...).m2(...)`; a chain as head is flattened into one, which
 * is the same expression.
 *
 * @param {object} head an expression.
 * @param {Array<{method: string, args: object[]}>} links
 * @returns {object}
 */
export function chain(head, links) {
  if (head.t === "chain") return { t: "chain", head: head.head, links: [...head.links, ...links] };
  return { t: "chain", head, links };
}

/**
 * An arrow function. `concise`: a body that is only `return <chain>` is written as the
 * chain itself even over several lines (`() => it.next().then((x) => {...})`).
 *
 * @param {string[]} params @param {object[]} body @param {{concise?: boolean}} [options]
 * @returns {object} an arrow function.
 */
export const arrow = (params, body, { concise = false } = {}) => ({ t: "arrow", params, body, concise });

const pad = (level) => "  ".repeat(level);

/**
 * Renders statements, one per line (blocks over several lines), at an indent level.
 *
 * @param {object[]} stmts
 * @param {number} level
 * @returns {string[]} the lines, indented.
 */
export function renderStmts(stmts, level) {
  const lines = [];
  for (const stmt of stmts) lines.push(...renderStmt(stmt, level));
  return lines;
}

function renderStmt(stmt, level) {
  const p = pad(level);
  switch (stmt.t) {
    case "line":
      return [p + stmt.text];
    case "return":
      return stmt.expr ? [`${p}return ${renderExpr(stmt.expr, level)};`] : [`${p}return;`];
    case "const":
      return [`${p}const ${stmt.name} = ${renderExpr(stmt.expr, level)};`];
    case "if":
      return renderIf(stmt, level, p);
    case "for":
      return [`${p}for (${stmt.head}) {`, ...renderStmts(stmt.body, level + 1), `${p}}`];
    case "block":
      return [p + stmt.open, ...renderStmts(stmt.body, level + 1), p + stmt.close];
    case "try": {
      const lines = [`${p}try {`, ...renderStmts(stmt.body, level + 1)];
      if (stmt.catch) lines.push(`${p}} catch (${stmt.param}) {`, ...renderStmts(stmt.catch, level + 1));
      if (stmt.finally) lines.push(`${p}} finally {`, ...renderStmts(stmt.finally, level + 1));
      lines.push(`${p}}`);
      return lines;
    }
    default:
      throw new Error(`unknown statement ${stmt.t}`);
  }
}

function renderIf(stmt, level, p) {
  if (stmt.short) return [`${p}if (${stmt.cond}) ${renderStmt(stmt.then[0], 0)[0]}`];
  const lines = [`${p}if (${stmt.cond}) {`, ...renderStmts(stmt.then, level + 1)];
  let rest = stmt.else;
  while (rest && rest.length === 1 && rest[0].t === "if" && !rest[0].short) {
    lines.push(`${p}} else if (${rest[0].cond}) {`, ...renderStmts(rest[0].then, level + 1));
    rest = rest[0].else;
  }
  if (rest && rest.length > 0) lines.push(`${p}} else {`, ...renderStmts(rest, level + 1));
  lines.push(`${p}}`);
  return lines;
}

/**
 * Renders an expression whose first line continues the current line at `level`.
 *
 * @param {object} expr
 * @param {number} level
 * @returns {string} possibly several lines, later ones indented absolutely.
 */
export function renderExpr(expr, level) {
  switch (expr.t) {
    case "raw":
      return expr.text;
    case "arrow":
      return renderArrow(expr, level);
    case "chain":
      return renderChain(expr, level);
    default:
      throw new Error(`unknown expression ${expr.t}`);
  }
}

function renderArrow(fn, level) {
  const params = `(${fn.params.join(", ")})`;
  if (fn.body.length === 0) return `${params} => {}`;
  const only = fn.body[0];
  if (fn.body.length === 1 && only.t === "return" && only.expr) {
    const text = renderExpr(only.expr, level);
    if (!text.includes("\n") || (fn.concise && only.expr.t === "chain")) {
      return `${params} => ${text.startsWith("{") ? `(${text})` : text}`;
    }
  }
  return `${params} => {\n${renderStmts(fn.body, level + 1).join("\n")}\n${pad(level)}}`;
}

function renderChain(expr, level) {
  const head = renderExpr(expr.head, level);
  if (expr.links.length <= 1) {
    return head + expr.links.map((link) => renderLink(link, level)).join("");
  }
  return head + expr.links.map((link) => `\n${pad(level + 1)}${renderLink(link, level + 1)}`).join("");
}

function renderLink(link, level) {
  if (link.args.length <= 1) {
    return `.${link.method}(${link.args.map((arg) => renderExpr(arg, level)).join("")})`;
  }
  const args = link.args.map((arg) => `${pad(level + 1)}${renderExpr(arg, level + 1)},`);
  return `.${link.method}(\n${args.join("\n")}\n${pad(level)})`;
}

/**
 * Whether a statement list ends every path with `return` or `throw`.
 *
 * @param {object[]} stmts
 * @returns {boolean}
 */
export function terminates(stmts) {
  const last = stmts[stmts.length - 1];
  if (!last) return false;
  if (last.t === "return") return true;
  if (last.t === "line") return /^(throw|return)\b/.test(last.text);
  if (last.t === "if") return terminates(last.then) && terminates(last.else ?? []);
  if (last.t === "try") {
    return terminates(last.finally ?? []) || (terminates(last.body) && (!last.catch || terminates(last.catch)));
  }
  return false;
}

// ---------------------------------------------------------------------------------
// Expressions and calls of the IR, the same in both variants.
// ---------------------------------------------------------------------------------

const COMPARISONS = { "==": "===", "!=": "!==", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

/**
 * The JavaScript expression of an IR expression (spec/PROTOCOL.md "Expressions").
 * `format` becomes a template literal: values interpolate with JavaScript's own
 * String conversion (`null`, `true`, `a,b`), which is a real difference from Python's
 * `str`, documented in spec/LANGUAGE.md.
 *
 * @param {object} expr
 * @returns {string}
 */
export function jsExpr(expr) {
  if (expr === null || typeof expr !== "object") throw new TypeError(`malformed expression: ${JSON.stringify(expr)}`);
  if ("literal" in expr) return jsValue(expr.literal);
  if ("ref" in expr) {
    const name = camelCase(expr.ref);
    if (expr.member == null) return name;
    if (expr.member !== "kind" && expr.member !== "message") throw new TypeError(`unknown member ${JSON.stringify(expr.member)}`);
    // An error's kind is its class name: `.name` holds it for the kit's kinds and for
    // native errors alike (an AggregateError has no `.kind`), as type(e).__name__ does in Python.
    return expr.member === "kind" ? `${name}.name` : `${name}.message`;
  }
  if ("format" in expr) {
    const parts = expr.format.map((part) => (typeof part === "string" ? { text: part } : { expr: jsExpr(part) }));
    if (parts.every((part) => "text" in part)) return jsString(parts.map((part) => part.text).join(""));
    return templateLiteral(parts);
  }
  if ("list" in expr) return `[${expr.list.map(jsExpr).join(", ")}]`;
  if ("object" in expr) return jsObject(expr.object.map(([key, item]) => [key, jsExpr(item)]));
  if ("calc" in expr) return jsCalc(expr);
  throw new TypeError(`malformed expression: ${JSON.stringify(expr)}`);
}

/**
 * Binding strength of the `calc` operators, as in ECMA-262 (multiplicative over
 * additive; both left-associative) and in Python, so one tree reads the same in both.
 */
const CALC_PRECEDENCE = { "+": 1, "-": 1, "*": 2 };

/**
 * `{"calc": [a, op, b]}` as `a op b`, parenthesising an operand only where the
 * operators' precedence needs it: `(a + b) * c`, `a - (b - c)`, but `a * b + c` and
 * `a - b - c`. The whole expression needs no parentheses anywhere the compilers put an
 * expression (an argument, an array element, a template substitution, a comparison
 * operand, a return value), since `+ - *` bind tighter than all of those.
 */
function jsCalc(expr) {
  const [left, op, right] = expr.calc;
  const precedence = CALC_PRECEDENCE[op];
  if (precedence === undefined) throw new TypeError(`unknown calc operator ${JSON.stringify(op)}`);
  const operand = (item, isRight) => {
    const text = jsExpr(item);
    if (!isExpr(item) || !("calc" in item)) return text;
    const inner = CALC_PRECEDENCE[item.calc[1]];
    // A right operand of equal precedence needs them too: a - (b - c) is not a - b - c.
    return inner < precedence || (isRight && inner === precedence) ? `(${text})` : text;
  };
  return `${operand(left, false)} ${op} ${operand(right, true)}`;
}

/**
 * A call of an operation or a function: `downloadData(url)`; both return a promise.
 *
 * @param {{callee: string, args: object[]}} call
 * @param {string} [signal] an AbortSignal expression passed last (a cancellable start).
 * @returns {string}
 */
export function jsCall(call, signal) {
  const args = (call.args ?? []).map(jsExpr);
  if (signal !== undefined) args.push(signal);
  return `${camelCase(call.callee)}(${args.join(", ")})`;
}

/**
 * The condition of an `if` step: `==` is `===`, `!=` is `!==`.
 *
 * @param {{left: object, op: string, right: object}} step
 * @returns {string}
 */
export function jsCondition(step) {
  const op = COMPARISONS[step.op];
  if (!op) throw new TypeError(`unknown comparison ${JSON.stringify(step.op)}`);
  return `${jsExpr(step.left)} ${op} ${jsExpr(step.right)}`;
}

/**
 * The kit's name for cancellation in a catch (Python's asyncio.CancelledError); in
 * JavaScript an aborted operation rejects with a DOMException named "AbortError".
 */
export const CANCELLED = "CancelledError";

/**
 * The test that an error is the runtime's cancellation: the rejection of an operation
 * whose AbortSignal was aborted by `controller.abort()`, a DOMException named
 * "AbortError". A scenario's own error kind named AbortError is a ScenarioError
 * subclass, not a DOMException, so it never passes.
 *
 * @param {string} param the catch's binding.
 * @returns {string}
 */
function isCancellation(param) {
  return `${param} instanceof DOMException && ${param}.name === "AbortError"`;
}

/**
 * The error-kind filter at the top of a catch: `!(error instanceof IOError)`, or null
 * when the catch takes every error. The kind CancelledError is the runtime's
 * cancellation, `error instanceof DOMException && error.name === "AbortError"` (a
 * DOMException has no class of the kit's; a scenario kind named AbortError is not one).
 *
 * @param {string[]} kinds
 * @param {string} param the catch's binding.
 * @returns {string | null}
 */
export function kindFilter(kinds, param) {
  if (!kinds || kinds.length === 0) return null;
  if (kinds.length === 1) return kinds[0] === CANCELLED ? `!(${isCancellation(param)})` : `!(${param} instanceof ${kinds[0]})`;
  const test = (kind) => (kind === CANCELLED ? `(${isCancellation(param)})` : `${param} instanceof ${kind}`);
  return `!(${kinds.map(test).join(" || ")})`;
}

/**
 * The comment above a catch of CancelledError, in both variants.
 */
export const CANCELLED_COMMENT = "// A cancelled (aborted) operation rejects with a DOMException named AbortError.";

/**
 * The comment above the start of an operation that is cancelled later, in both variants.
 */
export const ABORT_COMMENT = "// The AbortSignal is how JavaScript asks an operation to stop.";

/**
 * The comment above a `map` with a limit, in both variants. It must not say async or
 * await: js-promise programs carry neither word anywhere.
 */
export const MAP_COMMENT = "// world.semaphore is the kit's own (JavaScript has none): first come, first served, as in asyncio.";

/**
 * The AbortController name of every handle a function cancels: a `start` of such a
 * handle gets a controller, and hands its signal to the operation as the last argument.
 * The names are fresh in `scope` (the function's), so nothing inside shadows them.
 *
 * @param {object[]} steps the function's steps.
 * @param {Scope} scope the function's scope.
 * @returns {Map<string, string>} IR handle name -> controller name.
 */
export function abortControllers(steps, scope) {
  const controllers = new Map();
  forEachStep(steps, (step) => {
    if (step.step === "cancel" && !controllers.has(step.handle)) {
      controllers.set(step.handle, scope.fresh(`${camelCase(step.handle)}Controller`));
    }
  });
  return controllers;
}

/**
 * The statements of a `start` step: the call bound to its handle; for a handle that is
 * cancelled later, an AbortController made just before and its signal passed last.
 *
 * @param {object} step the start step.
 * @param {string} prefix `const x = `, `let x = ` or `x = `, as the binding plan says.
 * @param {Map<string, string>} controllers see `abortControllers`.
 * @returns {string[]} the lines.
 */
export function startLines(step, prefix, controllers) {
  const controller = controllers.get(step.bind);
  if (controller === undefined) return [`${prefix}${jsCall(step.call)};`];
  const declare = prefix.startsWith("const ") ? "const " : prefix.startsWith("let ") ? "let " : "";
  return [
    ABORT_COMMENT,
    `${declare}${controller} = new AbortController();`,
    `${prefix}${jsCall(step.call, `${controller}.signal`)};`,
  ];
}

/**
 * The `let` declarations due before a step, for names bound in a block and read after
 * it (planBindings), with the controller of a cancelled handle beside its handle.
 *
 * @param {string[] | undefined} names IR names.
 * @param {Map<string, string>} controllers see `abortControllers`.
 * @returns {string[]} `let name;` texts.
 */
export function letLines(names, controllers) {
  const out = [];
  for (const name of names ?? []) {
    out.push(`let ${camelCase(name)};`);
    if (controllers.has(name)) out.push(`let ${controllers.get(name)};`);
  }
  return out;
}

/**
 * `pendingController.abort();`: cancels the started call's operation.
 *
 * @param {{handle: string}} step the cancel step.
 * @param {Map<string, string>} controllers see `abortControllers`.
 * @returns {string}
 */
export function cancelLine(step, controllers) {
  const controller = controllers.get(step.handle);
  if (controller === undefined) throw new Error(`internal: no AbortController for ${step.handle}`);
  return `${controller}.abort();`;
}

/**
 * The parts of a `map` step: the semaphore's declaration and the promise of the results,
 * `Promise.all(items.map((item) => semaphore.use(() => fetchPage(item))))`, which keeps
 * the item order whatever order the calls end in. Under a deadline (`signal`), each call
 * takes the signal, and so does the wait for a slot:
 * `semaphore.use(() => fetchPage(item, signal), signal)`, so that a call still waiting for
 * its turn at the deadline never starts (asyncio cancels it at the semaphore).
 *
 * @param {object} step the map step.
 * @param {string} semaphore fresh name of the semaphore.
 * @param {string} item fresh name of the arrow's parameter.
 * @param {string | null} [signal] the deadline's AbortSignal expression, if any.
 * @returns {{comment: string, declare: string, promise: string}}
 */
export function mapParts(step, semaphore, item, signal = null) {
  const over = step.over;
  const listy = isExpr(over) && ("ref" in over || "list" in over || ("literal" in over && Array.isArray(over.literal)));
  const items = listy ? jsExpr(over) : `(${jsExpr(over)})`;
  const callee = camelCase(step.callee);
  const use = signal === null
    ? `${semaphore}.use(() => ${callee}(${item}))`
    : `${semaphore}.use(() => ${callee}(${item}, ${signal}), ${signal})`;
  return {
    comment: MAP_COMMENT,
    declare: `const ${semaphore} = world.semaphore(${jsValue(step.limit)});`,
    promise: `Promise.all(${items}.map((${item}) => ${use}))`,
  };
}

/**
 * The promise a `put` or `get` step waits for: `jobs.put(job)`, `jobs.get()`.
 *
 * @param {object} step
 * @returns {string}
 */
export function jsQueueCall(step) {
  const queue = camelCase(step.queue);
  return step.step === "put" ? `${queue}.put(${jsExpr(step.value)})` : `${queue}.get()`;
}

/**
 * The promise a `using` step opens its resource with: `connection.open("db")`.
 *
 * @param {{resource: string, args: object[]}} step
 * @returns {string}
 */
export function jsResourceOpen(step) {
  return `${camelCase(step.resource)}.open(${(step.args ?? []).map(jsExpr).join(", ")})`;
}

/**
 * `new IOError(message)` for a throw step.
 *
 * @param {{kind: string, message: object}} step
 * @returns {string}
 */
export function jsNewError(step) {
  return `new ${step.kind}(${jsExpr(step.message)})`;
}

/**
 * A promise that settles after `ms` virtual milliseconds: DESIGN.md's "ordinary code",
 * `setTimeout` being the world's virtual one.
 *
 * @param {number | object} ms an integer, or an IR expression giving one (a computed
 *   delay such as a backoff: `new Promise((resolve) => setTimeout(resolve, delay * 2))`).
 * @returns {string}
 */
export function jsSleep(ms) {
  return `new Promise((resolve) => setTimeout(resolve, ${jsMs(ms)}))`;
}

/** The delay of a sleep: an integer literal, or the expression computing it. */
function jsMs(ms) {
  return isExpr(ms) ? jsExpr(ms) : jsValue(ms);
}

/**
 * The `Promise` combinator a fan-out step awaits. `group` (a task group: Python's
 * asyncio.TaskGroup) is `Promise.all`, its nearest JavaScript equivalent: the first
 * failure rejects with the plain error and the siblings keep running, where Python
 * cancels them and raises an ExceptionGroup (a declared divergence).
 *
 * @param {{step: string, calls: object[]}} step an all, race, all_settled, any or group step.
 * @param {string | null} [signal] an AbortSignal expression each call takes last (the
 *   deadline of a timeout: asyncio cancels the children of a gather or a task group
 *   with the task that awaits them).
 * @returns {string} e.g. `Promise.allSettled([a(x), b()])`.
 */
export function jsFanOut(step, signal = null) {
  const method = FAN_OUT[step.step];
  if (method === undefined) throw new TypeError(`${JSON.stringify(step.step)} is no fan-out step`);
  return `Promise.${method}([${step.calls.map((call) => jsCall(call, signal ?? undefined)).join(", ")}])`;
}

const FAN_OUT = { all: "all", race: "race", all_settled: "allSettled", any: "any", group: "all" };

/**
 * The comment written above a `group` step in both variants, saying why it is Promise.all.
 * It must not say async or await: js-promise programs carry neither word anywhere.
 */
export const GROUP_COMMENT = "// A task group: Promise.all is the nearest JavaScript equivalent (siblings are not cancelled).";

// ---------------------------------------------------------------------------------
// Timeouts: asyncio.timeout in JavaScript is a deadline AbortSignal.
//
// `asyncio.timeout(0.05)` cancels whatever the task awaits at the deadline: an
// operation, a sleep, an operation awaited inside a function called from the block, the
// children of a gather or task group. JavaScript cannot cancel a promise; it asks work
// to stop through an AbortSignal, as `fetch(url, { signal: AbortSignal.timeout(50) })`
// does. So a timeout step is a deadline signal of AbortSignal.timeout's shape, on the
// virtual clock:
//
//     const controller = new AbortController();
//     const timer = setTimeout(() => controller.abort(new TimeoutError("")), 50);
//     try {
//       ...every wait of the block takes controller.signal...
//     } finally {
//       clearTimeout(timer);
//     }
//
// and the signal is handed to every wait inside the block, where it rejects with
// `signal.reason`, the TimeoutError (what fetch does): an operation takes it as its last
// argument; a sleep is the program's signal-aware `sleep(ms, signal)`; a function
// called from the block takes it as an optional last parameter and hands it to its own
// waits (the set `signalFunctions`); `all`, `all_settled`, `group` and `map` hand it to
// each call (asyncio cancels a gather's children); a nested timeout combines it with
// its own, `AbortSignal.any([signal, controller.signal])` (Node 20.3+). Calls started
// with `start` inside the block are other tasks, which asyncio.timeout does not cancel:
// they get no signal. What cannot take a signal (a started call awaited, a race or any,
// whose calls are tasks asyncio.wait leaves running, a queue's put or get, a resource's
// open) is waited for through `abortable(promise, signal)`, so that the block still
// ends at the deadline; a comment says what goes on running.
// ---------------------------------------------------------------------------------

/**
 * The scenario functions that take a deadline signal: every function called from inside
 * a timeout block by a wait that hands the signal on (an awaited call, a call of `all`,
 * `all_settled` or `group`, a `map`'s callee, a `for_each`'s generator), and, since a
 * function's every wait then runs under the deadline, every function such a function
 * calls in those ways, transitively. A call made by `start`, `race` or `any` is another
 * task (asyncio.timeout does not cancel it), so it does not count.
 *
 * @param {object} ir the scenario IR.
 * @returns {Set<string>} IR names of the functions taking a signal.
 */
export function signalFunctions(ir) {
  const byName = new Map((ir.functions ?? []).map((fn) => [fn.name, fn]));
  const taking = new Set();
  const pending = [];
  const add = (name) => {
    if (byName.has(name) && !taking.has(name)) {
      taking.add(name);
      pending.push(name);
    }
  };
  const visit = (steps, underDeadline) => {
    for (const step of steps) {
      if (underDeadline) for (const callee of signalCallees(step)) add(callee);
      const deadline = step.step === "timeout" && step.idiom !== "race";
      for (const block of childBlocks(step)) visit(block.steps, underDeadline || deadline);
    }
  };
  for (const fn of ir.functions ?? []) visit(fn.body, false);
  visit(ir.main ?? [], false);
  while (pending.length > 0) visit(byName.get(pending.pop()).body, true);
  return taking;
}

/** The callees a step hands a deadline signal to (operations included). */
function signalCallees(step) {
  switch (step.step) {
    case "await": return step.call ? [step.call.callee] : [];
    case "all": case "all_settled": case "group": return step.calls.map((call) => call.callee);
    case "map": return [step.callee];
    case "for_each": return [step.call.callee];
    default: return [];
  }
}

/**
 * The scenario functions that can call themselves again before their first wait: those
 * on a cycle of calls made in the functions' synchronous parts (a call is made when its
 * step starts, even one whose result is waited for). Deep recursion through them grows
 * the stack, and can exhaust it, in a function's synchronous part. A call made after a
 * wait runs on a fresh stack, in a callback, so recursion after a sleep does not count.
 * Over-approximated where unsure (a try's catch and finally count as synchronous).
 *
 * @param {object} ir the scenario IR.
 * @returns {Set<string>} IR names of those functions.
 */
export function syncRecursiveFunctions(ir) {
  const names = new Set((ir.functions ?? []).map((fn) => fn.name));
  const callees = new Map();
  for (const fn of ir.functions ?? []) {
    const out = new Set();
    syncCalls(fn.body, (name) => {
      if (names.has(name)) out.add(name);
    });
    callees.set(fn.name, out);
  }
  const recursive = new Set();
  for (const start of names) {
    const seen = new Set();
    const stack = [...callees.get(start)];
    while (stack.length > 0) {
      const name = stack.pop();
      if (name === start) {
        recursive.add(start);
        break;
      }
      if (seen.has(name)) continue;
      seen.add(name);
      stack.push(...callees.get(name));
    }
  }
  return recursive;
}

/**
 * Calls `visit(callee)` for every call a step list makes before its first wait, and says
 * whether the list can reach its end without waiting (conservatively: yes when unsure).
 */
function syncCalls(steps, visit) {
  for (const step of steps) {
    for (const call of stepCalls(step)) visit(call.callee);
    if (step.step === "map") visit(step.callee);
    switch (step.step) {
      case "log": case "start": case "set": case "cancel":
        break;
      case "return": case "throw": case "break":
        return false;
      case "timeout":
        if (!syncCalls(step.body, visit)) return false;
        break;
      case "if": {
        const a = syncCalls(step.then ?? [], visit);
        const b = syncCalls(step.else ?? [], visit);
        if (!a && !b) return false;
        break;
      }
      case "repeat":
        if (!syncCalls(step.body, visit) && step.times > 0) return false;
        break;
      case "try":
        syncCalls(step.body, visit);
        if (step.catch) syncCalls(step.catch.body, visit);
        if (step.finally) syncCalls(step.finally, visit);
        break;
      default:
        return false; // a wait: what follows runs in a callback
    }
  }
  return true;
}

/**
 * The parameter a function of `signalFunctions` takes last: its deadline, or, called
 * from outside any timeout, a signal that never aborts.
 *
 * @param {string} name the parameter's fresh name.
 * @returns {string} `signal = new AbortController().signal`
 */
export function signalParam(name) {
  return `${name} = new AbortController().signal`;
}

/**
 * The comment above a timeout's deadline, in both variants. It must not say async or
 * await: js-promise programs carry neither word anywhere.
 */
export const TIMEOUT_COMMENT = "// The deadline: AbortSignal.timeout's shape on the virtual clock; every wait in the block takes its signal.";

/**
 * The statements that arm a timeout step's deadline, before the block starts: Python's
 * `asyncio.timeout` arms its timer on entry, and same-instant timers fire
 * first-scheduled first, so a block that ends exactly at the deadline times out in both
 * languages. Inside an enclosing deadline (`outer`), the block's signal is both:
 * `const signal2 = AbortSignal.any([signal, controller.signal]);`.
 *
 * @param {{ms: number}} step the timeout step.
 * @param {{controller: string, timer: string, signal: string | null}} names fresh names;
 *   `signal` only when there is an `outer` signal.
 * @param {string | null} outer the enclosing deadline's signal expression, if any.
 * @returns {{lines: string[], signal: string}} the statements, and the block's signal expression.
 */
/** The comment over a timeout in the race idiom (`idiom: race`). */
export const RACE_COMMENT = "// The Promise.race idiom: the deadline rejects, but the block is not stopped and runs on.";

/**
 * The deadline of a timeout in the race idiom: a promise that rejects with the
 * scenario's TimeoutError when a timer armed before the block fires. The block is raced
 * against it and never told: its operations run on (a timeout written this way does not
 * cancel, unlike asyncio.timeout and unlike the signal idiom).
 *
 * @param {object} step the timeout step.
 * @param {string} timer the timer's variable.
 * @param {string} deadline the deadline promise's variable.
 * @returns {Array<object>} statements (hoistable: a try around the timeout may lift them).
 */
export function raceDeadlineStmts(step, timer, deadline) {
  return [
    { t: "line", text: RACE_COMMENT, hoistable: true },
    { t: "line", text: `let ${timer};`, hoistable: true },
    {
      t: "block",
      open: `const ${deadline} = new Promise((resolve, reject) => {`,
      body: [{ t: "line", text: `${timer} = setTimeout(() => reject(new TimeoutError("")), ${jsValue(step.ms)});` }],
      close: "});",
      hoistable: true,
    },
  ];
}

export function deadlineLines(step, names, outer) {
  const { controller, timer } = names;
  const lines = [
    TIMEOUT_COMMENT,
    `const ${controller} = new AbortController();`,
    `const ${timer} = setTimeout(() => ${controller}.abort(new TimeoutError("")), ${jsValue(step.ms)});`,
  ];
  if (outer === null) return { lines, signal: `${controller}.signal` };
  lines.push(`const ${names.signal} = AbortSignal.any([${outer}, ${controller}.signal]);`);
  return { lines, signal: names.signal };
}

/**
 * The program's helper functions for waits under a deadline, each declared (once, above
 * the scenario functions) only if a program uses it. Their names, and their parameters'
 * and locals', are fresh in the program scope, so that none shadows a scenario name.
 */
export class SignalHelpers {
  /** @param {Scope} root the program scope. */
  constructor(root) {
    /** @type {string} */
    this.sleep = root.fresh("sleep");
    /** @type {string} */
    this.abortable = root.fresh("abortable");
    /** @type {Set<string>} which helpers the program uses: "sleep", "abortable". */
    this.used = new Set();
    const locals = root.child();
    this.locals = {
      ms: locals.fresh("ms"),
      signal: locals.fresh("signal"),
      onAbort: locals.fresh("onAbort"),
      timer: locals.fresh("timer"),
      promise: locals.fresh("promise"),
    };
  }

  /**
   * A sleep under a deadline: `sleep(200, signal)`.
   *
   * @param {number | object} ms as for `jsSleep`.
   * @param {string} signal the AbortSignal expression.
   * @returns {string}
   */
  sleepCall(ms, signal) {
    this.used.add("sleep");
    return `${this.sleep}(${jsMs(ms)}, ${signal})`;
  }

  /**
   * A wait that ends at the deadline, although the work behind it cannot take the
   * signal: `abortable(promise, signal)`.
   *
   * @param {string} promise
   * @param {string} signal the AbortSignal expression.
   * @returns {string}
   */
  abortableCall(promise, signal) {
    this.used.add("abortable");
    return `${this.abortable}(${promise}, ${signal})`;
  }

  /**
   * The declarations of the helpers used, in a fixed order, each preceded by its comment.
   *
   * @returns {string[]} lines, with an empty line after each declaration.
   */
  lines() {
    const { ms, signal, onAbort, timer, promise } = this.locals;
    const out = [];
    if (this.used.has("sleep")) {
      out.push(
        "// A sleep a timeout's AbortSignal cuts short: it rejects with signal.reason, as an aborted fetch does.",
        `function ${this.sleep}(${ms}, ${signal}) {`,
        "  return new Promise((resolve, reject) => {",
        `    ${signal}.throwIfAborted();`,
        `    const ${onAbort} = () => {`,
        `      clearTimeout(${timer});`,
        `      reject(${signal}.reason);`,
        "    };",
        `    const ${timer} = setTimeout(() => {`,
        `      ${signal}.removeEventListener("abort", ${onAbort});`,
        "      resolve();",
        `    }, ${ms});`,
        `    ${signal}.addEventListener("abort", ${onAbort}, { once: true });`,
        "  });",
        "}",
        "",
      );
    }
    if (this.used.has("abortable")) {
      out.push(
        "// Settles as the promise does, or rejects with signal.reason when the signal aborts first:",
        "// the wait ends at the deadline, while the work behind the promise goes on.",
        `function ${this.abortable}(${promise}, ${signal}) {`,
        "  return new Promise((resolve, reject) => {",
        `    const ${onAbort} = () => reject(${signal}.reason);`,
        `    ${signal}.addEventListener("abort", ${onAbort}, { once: true });`,
        `    if (${signal}.aborted) ${onAbort}();`,
        `    ${promise}.then(resolve, reject).finally(() => ${signal}.removeEventListener("abort", ${onAbort}));`,
        "  });",
        "}",
        "",
      );
    }
    return out;
  }
}

/** Comments above a wait under a deadline whose work goes on. None says async or await. */
const ABORTABLE_COMMENTS = {
  handle: "// The deadline ends this wait; the started call itself runs on (Python cancels a task it awaits).",
  race: "// The deadline ends this wait; the calls run on, as asyncio.wait leaves its tasks running.",
  put: "// The deadline ends this wait; the put stays in the queue's line (asyncio's is withdrawn).",
  get: "// The deadline ends this wait; the get stays in the queue's line and takes a later value (asyncio's is withdrawn).",
  open: "// The deadline ends this wait; the open goes on (asyncio's is cancelled) and its handle is never closed.",
};

/**
 * The statement after a resource's close under a deadline: the close takes no signal
 * (clean-up always completes), so a deadline that passed while it ran ends the block
 * there, as asyncio.timeout would have cancelled the close and ended it.
 *
 * @param {string} signal the deadline's AbortSignal expression.
 * @returns {string}
 */
export function closeCheck(signal) {
  return `${signal}.throwIfAborted(); // the close always completes: a deadline passed meanwhile ends the block here`;
}

/**
 * The statement that ends a `finally` block with waits under a deadline. A finally is
 * clean-up: its waits take no signal, so that they run even when the deadline has passed
 * (asyncio delivers a cancellation once: the awaits of a finally run after it), and a
 * deadline that passed while they ran ends the block after them.
 *
 * @param {string} signal the deadline's AbortSignal expression.
 * @returns {string}
 */
export function finallyCheck(signal) {
  return `${signal}.throwIfAborted(); // clean-up takes no signal: a deadline passed meanwhile ends the block here`;
}

/**
 * The comment written after an `all_settled` under a deadline, beside the check.
 */
export const SETTLED_CHECK_COMMENT = "// allSettled never rejects: at the deadline the block ends here";

/**
 * What a waiting step waits for, as an expression, in a context whose deadline signal
 * is `signal` (null outside every timeout). Outside one, the plain promise; under one,
 * the signal handed to what can take it, and `abortable` around what cannot.
 *
 * @param {object} step an await, all, race, all_settled, any, group, sleep, put or get step.
 * @param {string | null} signal the deadline's AbortSignal expression.
 * @param {SignalHelpers} helpers the program's helpers.
 * @returns {{expr: string, comment: string | null, check: string | null}} the promise;
 *   a comment line to write above the wait; a statement to run right after it (for
 *   all_settled: `signal.throwIfAborted();`, which never rejects by itself).
 */
export function awaitedParts(step, signal, helpers) {
  const plain = { comment: null, check: null };
  switch (step.step) {
    case "await":
      if (step.call) return { ...plain, expr: jsCall(step.call, signal ?? undefined) };
      if (signal === null) return { ...plain, expr: camelCase(step.handle) };
      return { ...plain, expr: helpers.abortableCall(camelCase(step.handle), signal), comment: ABORTABLE_COMMENTS.handle };
    case "all":
    case "group":
      return { ...plain, expr: jsFanOut(step, signal) };
    case "all_settled":
      return {
        ...plain,
        expr: jsFanOut(step, signal),
        check: signal === null ? null : `${signal}.throwIfAborted(); ${SETTLED_CHECK_COMMENT}`,
      };
    case "race":
    case "any":
      if (signal === null) return { ...plain, expr: jsFanOut(step) };
      return { ...plain, expr: helpers.abortableCall(jsFanOut(step), signal), comment: ABORTABLE_COMMENTS.race };
    case "sleep":
      return { ...plain, expr: signal === null ? jsSleep(step.ms) : helpers.sleepCall(step.ms, signal) };
    case "put":
    case "get":
      if (signal === null) return { ...plain, expr: jsQueueCall(step) };
      return { ...plain, expr: helpers.abortableCall(jsQueueCall(step), signal), comment: ABORTABLE_COMMENTS[step.step] };
    default:
      throw new Error(`internal: ${step.step} is not a wait of awaitedParts`);
  }
}

/**
 * The promise a `using` step opens its resource with, under a deadline or not; see
 * `awaitedParts`.
 *
 * @param {object} step the using step.
 * @param {string | null} signal
 * @param {SignalHelpers} helpers
 * @returns {{expr: string, comment: string | null}}
 */
export function openParts(step, signal, helpers) {
  if (signal === null) return { expr: jsResourceOpen(step), comment: null };
  return { expr: helpers.abortableCall(jsResourceOpen(step), signal), comment: ABORTABLE_COMMENTS.open };
}
