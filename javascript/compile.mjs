/**
 * The JavaScript compiler of asyncparity: scenario IR (spec/PROTOCOL.md) in, program
 * text out, for the `js-promise` (promise chains, no `async`/`await` keyword) and
 * `js-async` (async functions) targets.
 *
 * A program has three parts. `header`: comments and the runtime import, for a saved
 * standalone program. `body`: the world, the error kinds, the operations, the resources,
 * the queues, the scenario functions and `main`; the worker evaluates it with
 * `new Function("World", "ScenarioError", body + "\nreturn { world, main };")`.
 * `footer`: `world.runAndPrint(main);`.
 *
 * The IR comes from the loader, which checks names; the compiler checks again every
 * piece that lands in the program as code (identifiers, kinds, numbers, comparison
 * operators), so that no IR can make it emit code that was not generated here
 * (check-ir.mjs); the option `validated` skips that check for an IR the kit's own
 * loader made (spec/PROTOCOL.md, "validated").
 *
 * @module compile
 */

import { asyncFunction } from "./compile-async.mjs";
import { checkIr } from "./check-ir.mjs";
import { promiseFunction } from "./compile-promise.mjs";
import { commentText, jsObject, jsString, jsValue } from "./literals.mjs";
import { Scope, camelCase, programNames } from "./names.mjs";
import { containsStep, forEachStep, syncRecursiveFunctions } from "./walk.mjs";
import { ProgramHelpers, signalFunctions, signalParam } from "./deadlines.mjs";
import { pathToFileURL } from "node:url";

/** The targets this compiler serves. */
export const TARGETS = Object.freeze(["js-promise", "js-async"]);

const RENDERERS = { "js-promise": promiseFunction, "js-async": asyncFunction };

const MAX_LINE = 100;

/**
 * Compiles scenario IR into a program for one target.
 *
 * @param {object} ir the scenario IR, version 1.
 * @param {string} target "js-promise" or "js-async".
 * @param {{awaitUsing?: boolean, validated?: boolean, shared?: object}} [options] `awaitUsing`: render a
 *   `using` step of the js-async target as a block holding `await using` (Node 24+)
 *   instead of try/finally; the same trace either way. Default false, so the text does
 *   not depend on the Node running the compiler; the worker passes its own `await_using`
 *   feature. js-promise has no `await` keyword and ignores it. `validated`: the IR comes
 *   from the kit's loader, which checked it, so the IR check (check-ir.mjs) is skipped;
 *   default false. The program is the same text either way. `shared`: an object the
 *   caller passes to each compile of one IR (the worker: both targets of one request),
 *   in which the analyses that do not depend on the target are kept, so that they are
 *   made once (issue 13); the IR must not change between those compiles.
 * @returns {{header: string, body: string, footer: string, bound?: object}} the program's parts;
 *   `header + body + footer` is the standalone program. A scenario bound to the user's
 *   code (issue 12) also has `bound: {name, url, path, exports}`: the body expects the
 *   user's module (imported from `url`) under `name`, exporting `exports`.
 * @throws {Error} for an unknown target or an IR this compiler cannot read.
 */
export function compile(ir, target, options = {}) {
  const render = RENDERERS[target];
  if (!Object.hasOwn(RENDERERS, target)) {
    throw new Error(`unknown target ${JSON.stringify(target)}: the JavaScript compiler serves ${TARGETS.join(" and ")}`);
  }
  const { awaitUsing = false, validated = false, shared = {} } = options ?? {};
  if (typeof awaitUsing !== "boolean") throw new TypeError(`option awaitUsing must be true or false, got ${JSON.stringify(awaitUsing)}`);
  // The kit's loader (runner/load.py) validated the IR it sends with `validated: true`
  // (spec/PROTOCOL.md); its own check was 7.7% of the worker's time (issue 13).
  if (validated !== true && shared.checked !== true) {
    checkIr(ir);
    shared.checked = true;
  }
  // What does not depend on the target is worked out once for both (`shared`).
  shared.names ??= programNames(ir);
  const root = new Scope(null, shared.names);

  const lines = [];
  const limits = ir.limits ? `, ${jsObject(Object.entries(ir.limits).map(([key, value]) => [key, jsValue(value)]))}` : "";
  lines.push(`const world = new World(${jsString(ir.id)}${limits});`);
  const worldNames = lines.length; // where the timers and the error kinds go, once the code says which it uses
  const operationsAt = lines.length; // where the operations go, once the code says which it calls
  if ((ir.resources ?? []).length > 0) {
    lines.push("", RESOURCE_COMMENT);
    for (const resource of ir.resources) {
      lines.push(`const ${camelCase(resource.name)} = world.resource(${jsString(resource.name)}, { open: ${resource.open}, close: ${resource.close} });`);
    }
  }
  if ((ir.queues ?? []).length > 0) {
    lines.push("", QUEUE_COMMENT);
    for (const queue of ir.queues) lines.push(`const ${camelCase(queue.name)} = world.queue(${jsValue(queue.size ?? null)});`);
  }
  if ((ir.events ?? []).length > 0) {
    lines.push("", EVENT_COMMENT);
    for (const event of ir.events) lines.push(`const ${camelCase(event.name)} = world.event();`);
  }
  if ((ir.locks ?? []).length > 0) {
    lines.push("", LOCK_COMMENT);
    for (const lock of ir.locks) lines.push(`const ${camelCase(lock.name)} = world.lock();`);
  }
  if ((ir.semaphores ?? []).length > 0) {
    lines.push("", SEMAPHORE_COMMENT);
    for (const semaphore of ir.semaphores) lines.push(`const ${camelCase(semaphore.name)} = world.semaphore(${jsValue(semaphore.value)});`);
  }
  // Functions called under a timeout's deadline take its AbortSignal last (deadlines.mjs,
  // "Timeouts"); the program's helpers (ProgramHelpers) come before the functions.
  const signals = (shared.signals ??= signalFunctions(ir));
  const recursive = (shared.recursive ??= syncRecursiveFunctions(ir));
  const helpers = new ProgramHelpers(root);
  // A put_nowait cannot fail on an unbounded queue that no step shuts down.
  const shut = (shared.shut ??= shutQueues(ir));
  const queueCannotFail = (name) => !shut.has(name) && (ir.queues ?? []).some((queue) => queue.name === name && queue.size == null);
  const functions = [];
  const bound = boundCode(ir, root);
  if (bound !== null) functions.push("", ...bound.lines);
  for (const fn of ir.functions) {
    if (fn.bound === true) {
      functions.push("", ...boundFunction(fn, bound, target, signals.has(fn.name), root));
      continue;
    }
    const options = {
      generator: fn.generator === true, awaitUsing, takesSignal: signals.has(fn.name), recursive: recursive.has(fn.name), helpers,
      queueCannotFail,
    };
    functions.push("", ...render(camelCase(fn.name), fn.params, fn.body, root, options));
  }
  functions.push("", ...render("main", [], ir.main, root, { awaitUsing, helpers, queueCannotFail }));
  const helperLines = helpers.lines();
  if (helperLines.length > 0) lines.push("", ...helperLines.slice(0, -1));
  lines.push(...functions);
  // An operation no step can call (a fan-out over an empty list, say) is not declared:
  // its const would be an unused binding.
  const called = namesIn(functions.join("\n"));
  const operations = ir.operations.filter((op) => called.has(camelCase(op.name)));
  if (operations.length > 0) lines.splice(operationsAt, 0, "", ...operations.flatMap(operationLines));
  // Only what the program uses is bound (an unused binding is a lint error: issue 10);
  // an operation makes its error kinds itself (world.operation), so a kind the code
  // never names needs no declaration.
  const used = namesIn(lines.slice(worldNames).join("\n"));
  const kindLines = ir.errors.filter((kind) => used.has(kind)).map((kind) => `const ${kind} = world.errorKind(${jsString(kind)});`);
  lines.splice(worldNames, 0, ...(kindLines.length > 0 ? ["", ...kindLines] : []));
  const timers = ["log", "setTimeout", "clearTimeout"].filter((name) => used.has(name));
  if (timers.length > 0) {
    const comment = timers.some((name) => name !== "log") ? " // the virtual clock's timers in place of the real ones" : "";
    lines.splice(worldNames, 0, `const { ${timers.join(", ")} } = world;${comment}`);
  }
  const body = `${lines.join("\n")}\n`;
  // A program holding `await using` is a SyntaxError before Node 24: the header says so.
  // AbortSignal.any (nested deadlines) is Node 20.3+.
  let needs = "";
  if (awaitUsing && target === "js-async" && hasUsing(ir)) needs = " (Node 24 or later: it uses await using)";
  else if (body.includes("AbortSignal.any(")) needs = " (Node 20.3 or later: it uses AbortSignal.any)";
  const header = [
    `// ${commentText(ir.id)}: ${commentText(ir.summary ?? "")}`.trimEnd(),
    `// Generated by asyncparity from ${commentText(ir.source ?? "a scenario")} (target ${target}).`,
    `// Save javascript/asyncparity-runtime.mjs beside it and run: node program.mjs${needs}`,
    'import { World } from "./asyncparity-runtime.mjs";',
    ...(bound === null ? [] : [`import * as ${bound.module} from ${jsString(bound.url)};`]),
    "",
    "",
  ].join("\n");
  const parts = { header, body, footer: "\nworld.runAndPrint(main);\n" };
  // The worker imports the user's module and hands it to the body under this name.
  if (bound !== null) parts.bound = { name: bound.module, url: bound.url, path: bound.path, exports: bound.exports };
  return parts;
}

/**
 * What a scenario bound to the user's code (the IR's `bindings`, issue 12) declares once:
 * the names of the user's module and of the world handed to it, and the lines making
 * that world (every operation of the scenario, camelCase) and putting the virtual clock
 * on globalThis for the run. Null when nothing is bound.
 */
function boundCode(ir, root) {
  if (ir.bindings == null) return null;
  const path = ir.bindings.javascript;
  if (path == null) {
    throw new Error(`scenario ${JSON.stringify(ir.id)} binds ${ir.bindings.functions.join(", ")} to a Python file only; the JavaScript targets need bind.javascript`);
  }
  const module = root.fresh("userCode");
  const api = root.fresh("api");
  const ops = ir.operations.map((op) => camelCase(op.name));
  return {
    module, api, path,
    url: pathToFileURL(path).href,
    exports: ir.bindings.functions.map(camelCase),
    lines: [
      `// Your code (${commentText(path)}) gets the world's operations, log and now as ${api};`,
      "// its setTimeout, Date.now, performance.now... are the virtual clock's for the run.",
      `const ${api} = world.api(${ops.length > 0 ? `{ ${ops.join(", ")} }` : "{}"});`,
      "world.globals = true;",
    ],
  };
}

/**
 * A function bound to the user's code: a wrapper calling the user's export of the same
 * (camelCase) name with the world first, then the scenario's arguments, and the
 * AbortSignal last where scenario functions take one (a start that is cancelled, a
 * deadline). js-promise turns a synchronous throw into a rejection with a Promise, as an
 * async function does in js-async.
 */
function boundFunction(fn, bound, target, takesSignal, root) {
  const name = camelCase(fn.name);
  const scope = root.child();
  const params = fn.params.map(camelCase);
  const signal = takesSignal ? scope.fresh("signal") : null;
  const paramList = [...params, ...(signal === null ? [] : [signalParam(signal)])].join(", ");
  const call = `${bound.module}.${name}(${[bound.api, ...params, ...(signal === null ? [] : [signal])].join(", ")})`;
  if (target === "js-async") return [`async function ${name}(${paramList}) {`, `  return ${call};`, "}"];
  // `resolve` is one of the program's own names (names.mjs): no scenario name is it.
  return [`function ${name}(${paramList}) {`, `  return new Promise((resolve) => resolve(${call}));`, "}"];
}

/**
 * The identifiers generated code mentions as names: not inside a string or a comment,
 * not as a property (`.name`). Template literals' `${...}` parts are code.
 *
 * @param {string} code
 * @returns {Set<string>}
 */
function namesIn(code) {
  const names = new Set();
  const depth = []; // per open template literal, the brace depth of its `${`
  let braces = 0;
  let index = 0;
  const skipTemplateText = () => {
    while (index < code.length && code[index] !== "`" && !code.startsWith("${", index)) index += code[index] === "\\" ? 2 : 1;
    if (code[index] === "`") index += 1;
    else if (index < code.length) {
      index += 2;
      depth.push(braces);
      braces += 1;
    }
  };
  while (index < code.length) {
    const char = code[index];
    if (char === '"' || char === "'") {
      index += 1;
      while (index < code.length && code[index] !== char) index += code[index] === "\\" ? 2 : 1;
      index += 1;
    } else if (char === "`") {
      index += 1;
      skipTemplateText();
    } else if (code.startsWith("//", index)) {
      while (index < code.length && code[index] !== "\n") index += 1;
    } else if (identifierStart(code.charCodeAt(index))) {
      const start = index;
      index += 1;
      while (identifierStart(code.charCodeAt(index)) || digit(code.charCodeAt(index))) index += 1;
      if (code[start - 1] !== ".") names.add(code.slice(start, index));
    } else {
      if (char === "{") braces += 1;
      if (char === "}") {
        braces -= 1;
        if (depth.length > 0 && depth[depth.length - 1] === braces) {
          depth.pop();
          index += 1;
          skipTemplateText();
          continue;
        }
      }
      index += 1;
    }
  }
  return names;
}

/** Whether a UTF-16 code is one of `[A-Za-z_$]` (NaN, past the end, is not). */
function identifierStart(code) {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || code === 36;
}

/** Whether a UTF-16 code is one of `[0-9]`. */
function digit(code) {
  return code >= 48 && code <= 57;
}

/** The queues some step shuts down. */
function shutQueues(ir) {
  const shut = new Set();
  for (const steps of [ir.main, ...ir.functions.map((fn) => fn.body)]) {
    forEachStep(steps, (step) => { if (step.step === "shutdown") shut.add(step.queue); });
  }
  return shut;
}

/** Whether any function of the scenario, or main, has a using step. */
function hasUsing(ir) {
  return [ir.main, ...ir.functions.map((fn) => fn.body)].some((steps) => containsStep(steps, "using"));
}

/**
 * The standalone program text: `header + body + footer` of `compile`.
 *
 * @param {object} ir the scenario IR, version 1.
 * @param {string} target "js-promise" or "js-async".
 * @param {{awaitUsing?: boolean}} [options] as for `compile`.
 * @returns {string}
 */
export function compileSource(ir, target, options = {}) {
  const { header, body, footer } = compile(ir, target, options);
  return header + body + footer;
}

/**
 * The comment above the resources: what `open` resolves to. It must not say async or
 * await: js-promise programs carry neither word anywhere.
 */
const RESOURCE_COMMENT = "// open() resolves to a handle: handle.value (\"name#1\", \"name#2\"...) is what a block binds; handle.close() closes it.";

/** The comment above the events: JavaScript has no asyncio.Event. */
const EVENT_COMMENT = "// world.event is the kit's own (JavaScript has none): asyncio.Event's set, clear, wait and is_set.";

/** The comment above the locks: JavaScript has no asyncio.Lock. */
const LOCK_COMMENT = "// world.lock is the kit's own (JavaScript has none): asyncio.Lock's acquire and release, first come, first served.";

/** The comment above the semaphores: JavaScript has no asyncio.Semaphore. */
const SEMAPHORE_COMMENT = "// world.semaphore is the kit's own (JavaScript has none): asyncio.Semaphore's acquire and release, first come, first served.";

/** The comment above the queues: JavaScript has no queue that waits. */
const QUEUE_COMMENT = "// world.queue is the kit's own (JavaScript has none that waits): first come, first served, as in asyncio.";

/**
 * `const downloadData = world.operation("download_data", { latency: 30, outcomes: [...] });`,
 * with `onCancel: "ignore"` for an operation that never looks at its AbortSignal.
 */
function operationLines(op) {
  const outcomes = op.outcomes.map((outcome) => (
    "fails" in outcome
      ? jsObject([["fails", jsObject([["kind", jsString(outcome.fails.kind)], ["message", jsString(outcome.fails.message)]])]])
      : jsObject([["returns", jsValue(outcome.returns)]])
  ));
  const start = `const ${camelCase(op.name)} = world.operation(${jsString(op.name)}, `;
  const onCancel = op.on_cancel != null && op.on_cancel !== "stop" ? `onCancel: ${jsString(op.on_cancel)}` : null;
  const latency = jsValue(op.latency); // a number, or a list taken one per call
  const oneLine = `${start}{ latency: ${latency}, outcomes: [${outcomes.join(", ")}]${onCancel ? `, ${onCancel}` : ""} });`;
  if (oneLine.length <= MAX_LINE) return [oneLine];
  const list = `outcomes: [${outcomes.join(", ")}],`;
  const listLines = list.length + 2 <= MAX_LINE
    ? [`  ${list}`]
    : ["  outcomes: [", ...outcomes.map((outcome) => `    ${outcome},`), "  ],"];
  return [`${start}{`, `  latency: ${latency},`, ...listLines, ...(onCancel ? [`  ${onCancel},`] : []), "});"];
}
