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
 * operators), so that no IR can make it emit code that was not generated here.
 *
 * @module compile
 */

import { asyncFunction } from "./compile-async.mjs";
import { promiseFunction } from "./compile-promise.mjs";
import { commentText, jsObject, jsString, jsValue } from "./literals.mjs";
import { camelCase, isReservedName, programScope } from "./names.mjs";
import { containsReturn, containsStep, forEachStep, syncRecursiveFunctions } from "./walk.mjs";
import { CANCELLED } from "./expressions.mjs";
import { SignalHelpers, signalFunctions } from "./deadlines.mjs";

/** The targets this compiler serves. */
export const TARGETS = Object.freeze(["js-promise", "js-async"]);

const RENDERERS = { "js-promise": promiseFunction, "js-async": asyncFunction };

const MAX_LINE = 100;

/**
 * Compiles scenario IR into a program for one target.
 *
 * @param {object} ir the scenario IR, version 1.
 * @param {string} target "js-promise" or "js-async".
 * @param {{awaitUsing?: boolean}} [options] `awaitUsing`: render a `using` step of the
 *   js-async target as a block holding `await using` (Node 24+) instead of try/finally;
 *   the same trace either way. Default false, so the text does not depend on the Node
 *   running the compiler; the worker passes its own `await_using` feature. js-promise
 *   has no `await` keyword and ignores it.
 * @returns {{header: string, body: string, footer: string}} the program's parts;
 *   `header + body + footer` is the standalone program.
 * @throws {Error} for an unknown target or an IR this compiler cannot read.
 */
export function compile(ir, target, options = {}) {
  const render = RENDERERS[target];
  if (!Object.hasOwn(RENDERERS, target)) {
    throw new Error(`unknown target ${JSON.stringify(target)}: the JavaScript compiler serves ${TARGETS.join(" and ")}`);
  }
  const { awaitUsing = false } = options ?? {};
  if (typeof awaitUsing !== "boolean") throw new TypeError(`option awaitUsing must be true or false, got ${JSON.stringify(awaitUsing)}`);
  checkIr(ir);
  const root = programScope(ir);

  const lines = [];
  const limits = ir.limits ? `, ${jsObject(Object.entries(ir.limits).map(([key, value]) => [key, jsValue(value)]))}` : "";
  lines.push(`const world = new World(${jsString(ir.id)}${limits});`);
  lines.push("const { log, setTimeout, clearTimeout } = world; // the virtual clock's timers in place of the real ones");
  if (ir.errors.length > 0) {
    lines.push("");
    for (const kind of ir.errors) lines.push(`const ${kind} = world.errorKind(${jsString(kind)});`);
  }
  if (ir.operations.length > 0) {
    lines.push("");
    for (const op of ir.operations) lines.push(...operationLines(op));
  }
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
  // Functions called under a timeout's deadline take its AbortSignal last (deadlines.mjs,
  // "Timeouts"); the helpers for waits under a deadline come before the functions.
  const signals = signalFunctions(ir);
  const recursive = syncRecursiveFunctions(ir);
  const helpers = new SignalHelpers(root);
  const functions = [];
  for (const fn of ir.functions) {
    const options = {
      generator: fn.generator === true, awaitUsing, takesSignal: signals.has(fn.name), recursive: recursive.has(fn.name), helpers,
    };
    functions.push("", ...render(camelCase(fn.name), fn.params, fn.body, root, options));
  }
  functions.push("", ...render("main", [], ir.main, root, { awaitUsing, helpers }));
  const helperLines = helpers.lines();
  if (helperLines.length > 0) lines.push("", ...helperLines.slice(0, -1));
  lines.push(...functions);
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
    "",
    "",
  ].join("\n");
  return { header, body, footer: "\nworld.runAndPrint(main);\n" };
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
  const oneLine = `${start}{ latency: ${op.latency}, outcomes: [${outcomes.join(", ")}]${onCancel ? `, ${onCancel}` : ""} });`;
  if (oneLine.length <= MAX_LINE) return [oneLine];
  const list = `outcomes: [${outcomes.join(", ")}],`;
  const listLines = list.length + 2 <= MAX_LINE
    ? [`  ${list}`]
    : ["  outcomes: [", ...outcomes.map((outcome) => `    ${outcome},`), "  ],"];
  return [`${start}{`, `  latency: ${op.latency},`, ...listLines, ...(onCancel ? [`  ${onCancel},`] : []), "});"];
}

// ---------------------------------------------------------------------------------
// Checking the IR. Messages name the scenario and the step's YAML line.
// ---------------------------------------------------------------------------------

const NAME = /^[a-z][a-z0-9_]*$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;
const OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const CALC_OPS = new Set(["+", "-", "*"]);
const LIMIT_KEYS = new Set(["virtual_time", "timer_firings", "turns_per_instant"]);
const ON_CANCEL = new Set(["stop", "ignore"]);

class IrError extends Error {}

function checkIr(ir) {
  const fail = (message) => {
    throw new IrError(`malformed IR${typeof ir?.id === "string" ? ` for scenario ${JSON.stringify(ir.id)}` : ""}: ${message}`);
  };
  if (ir === null || typeof ir !== "object" || Array.isArray(ir)) fail("expected an object");
  if (ir.ir !== 1) fail(`unsupported IR version ${JSON.stringify(ir.ir)} (expected 1)`);
  if (typeof ir.id !== "string") fail("id must be a string");
  for (const key of ["summary", "source"]) {
    if (ir[key] != null && typeof ir[key] !== "string") fail(`${key} must be a string`);
  }
  if (ir.limits != null) {
    if (typeof ir.limits !== "object" || Array.isArray(ir.limits)) fail("limits must be an object");
    for (const [key, value] of Object.entries(ir.limits)) {
      if (!LIMIT_KEYS.has(key)) fail(`unknown limit ${JSON.stringify(key)}`);
      if (!Number.isInteger(value) || value < 0) fail(`limits.${key} must be an integer >= 0`);
    }
  }
  for (const key of ["errors", "operations", "functions", "main"]) {
    if (!Array.isArray(ir[key])) fail(`${key} must be a list`);
  }
  if (ir.queues != null && !Array.isArray(ir.queues)) fail("queues must be a list");
  if (ir.resources != null && !Array.isArray(ir.resources)) fail("resources must be a list");
  const name = (value, what) => {
    if (typeof value !== "string" || !NAME.test(value)) fail(`${what} ${JSON.stringify(value)} is not a name (${NAME.source})`);
    if (isReservedName(value)) fail(`${what} ${JSON.stringify(value)} is reserved in JavaScript programs`);
  };
  const kind = (value, what) => {
    if (typeof value !== "string" || !KIND.test(value)) fail(`${what} ${JSON.stringify(value)} is not an error kind (${KIND.source})`);
    if (!ir.errors.includes(value)) fail(`${what} ${JSON.stringify(value)} is not listed in errors`);
  };
  // A catch may name the kit's cancellation, which is each language's own, never listed.
  const caughtKind = (value, what) => {
    if (value !== CANCELLED) kind(value, what);
  };
  const count = (value, what, min) => {
    if (!Number.isInteger(value) || value < min) fail(`${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  };
  const json = (value, what) => {
    try {
      jsValue(value);
    } catch (error) {
      fail(`${what} is not a JSON value: ${error.message}`);
    }
  };
  for (const value of ir.errors) {
    if (typeof value !== "string" || !KIND.test(value)) fail(`error kind ${JSON.stringify(value)} is not a kind (${KIND.source})`);
  }
  for (const op of ir.operations) {
    name(op?.name, "operation name");
    count(op.latency, `operation ${op.name}: latency`, 0);
    if (op.on_cancel != null && !ON_CANCEL.has(op.on_cancel)) fail(`operation ${op.name}: on_cancel is "stop" or "ignore", not ${JSON.stringify(op.on_cancel)}`);
    if (!Array.isArray(op.outcomes) || op.outcomes.length === 0) fail(`operation ${op.name}: outcomes must be a non-empty list`);
    for (const outcome of op.outcomes) {
      if (outcome && typeof outcome === "object" && "returns" in outcome) {
        json(outcome.returns, `operation ${op.name}: returns`);
      } else if (outcome && typeof outcome.fails === "object" && outcome.fails !== null) {
        kind(outcome.fails.kind, `operation ${op.name}: fails.kind`);
        if (typeof outcome.fails.message !== "string") fail(`operation ${op.name}: fails.message must be a string`);
      } else {
        fail(`operation ${op.name}: an outcome is {returns} or {fails}`);
      }
    }
  }

  const queueNames = new Set();
  for (const queue of ir.queues ?? []) {
    name(queue?.name, "queue name");
    if (queue.size != null) count(queue.size, `queue ${queue.name}: size`, 1);
    queueNames.add(queue.name);
  }
  const resourceNames = new Set();
  for (const resource of ir.resources ?? []) {
    name(resource?.name, "resource name");
    count(resource.open, `resource ${resource.name}: open`, 0);
    count(resource.close, `resource ${resource.name}: close`, 0);
    if ([...ir.operations, ...ir.functions, ...(ir.queues ?? [])].some((other) => other?.name === resource.name)) {
      fail(`resource ${JSON.stringify(resource.name)} is also an operation, function or queue`);
    }
    resourceNames.add(resource.name);
  }
  const operationNames = new Set(ir.operations.map((op) => op.name));
  const generators = new Set(ir.functions.filter((fn) => fn?.generator === true).map((fn) => fn.name));
  const queue = (value, where) => {
    name(value, `${where}: queue`);
    if (!queueNames.has(value)) fail(`${where}: queue ${JSON.stringify(value)} is not listed in queues`);
  };

  const expr = (value, where) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) fail(`${where}: malformed expression ${JSON.stringify(value)}`);
    if ("literal" in value) json(value.literal, `${where}: literal`);
    else if ("ref" in value) {
      name(value.ref, `${where}: reference`);
      if (value.member != null && value.member !== "kind" && value.member !== "message") fail(`${where}: unknown member ${JSON.stringify(value.member)}`);
    } else if ("format" in value) {
      if (!Array.isArray(value.format)) fail(`${where}: format must be a list`);
      for (const part of value.format) if (typeof part !== "string") expr(part, where);
    } else if ("list" in value) {
      if (!Array.isArray(value.list)) fail(`${where}: list must be a list`);
      for (const item of value.list) expr(item, where);
    } else if ("object" in value) {
      if (!Array.isArray(value.object)) fail(`${where}: object must be a list of [key, expression]`);
      for (const entry of value.object) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "string") fail(`${where}: object entries are [key, expression]`);
        expr(entry[1], where);
      }
    } else if ("calc" in value) {
      if (!Array.isArray(value.calc) || value.calc.length !== 3) fail(`${where}: calc must be [expression, operator, expression]`);
      if (!CALC_OPS.has(value.calc[1])) fail(`${where}: unknown calc operator ${JSON.stringify(value.calc[1])}`);
      expr(value.calc[0], where);
      expr(value.calc[2], where);
    } else fail(`${where}: malformed expression ${JSON.stringify(value)}`);
  };
  const call = (value, where, forEach = false) => {
    if (!value || typeof value !== "object") fail(`${where}: malformed call`);
    name(value.callee, `${where}: callee`);
    if (forEach && !generators.has(value.callee)) fail(`${where}: ${JSON.stringify(value.callee)} is not a generator function; for_each needs one`);
    if (!forEach && generators.has(value.callee)) fail(`${where}: ${JSON.stringify(value.callee)} is a generator; for_each consumes its values`);
    if (!Array.isArray(value.args ?? [])) fail(`${where}: args must be a list`);
    for (const arg of value.args ?? []) expr(arg, where);
  };
  const optionalName = (value, what) => {
    if (value != null) name(value, what);
  };
  // `inside`: where the list sits. `generator`: in a generator function's body (yield is
  // allowed); `loop`: the innermost of for_each, repeat and timeout around it (a break
  // leaves a for_each, and must not sit in a repeat or a timeout block inside it).
  const steps = (list, where, inside) => {
    if (!Array.isArray(list)) fail(`${where}: steps must be a list`);
    for (const step of list) {
      if (!step || typeof step !== "object") fail(`${where}: malformed step`);
      const at = `${where}, line ${step.line ?? "?"} (${step.step})`;
      switch (step.step) {
        case "await":
          if (step.call) call(step.call, at);
          else name(step.handle, `${at}: handle`);
          optionalName(step.bind, `${at}: bind`);
          break;
        case "start":
          call(step.call, at);
          name(step.bind, `${at}: bind`);
          break;
        case "all":
        case "race":
        case "all_settled":
        case "any":
        case "group":
          if (!Array.isArray(step.calls) || step.calls.length === 0) fail(`${at}: calls must be a non-empty list`);
          for (const item of step.calls) call(item, at);
          optionalName(step.bind, `${at}: bind`);
          break;
        case "return":
          if (inside.generator) fail(`${at}: a generator function has no return step`);
          if (step.value != null) expr(step.value, at);
          break;
        case "throw":
          kind(step.kind, `${at}: kind`);
          expr(step.message, at);
          break;
        case "log":
          expr(step.message, at);
          break;
        case "sleep":
          // An integer, or an expression computing one (a backoff delay).
          if (step.ms !== null && typeof step.ms === "object") expr(step.ms, at);
          else count(step.ms, `${at}: ms`, 0);
          break;
        case "timeout":
          count(step.ms, `${at}: ms`, 0);
          if (step.idiom !== undefined && step.idiom !== "signal" && step.idiom !== "race") {
            fail(`${at}: a timeout's idiom is "signal" or "race", not ${JSON.stringify(step.idiom)}`);
          }
          // The deadline rejects with the scenario's TimeoutError class.
          if (!ir.errors.includes("TimeoutError")) fail(`${at}: a timeout needs "TimeoutError" listed in errors`);
          steps(step.body, at, { ...inside, loop: "timeout", inTimeout: true });
          // The loader guarantees it (the js-promise block's chain has no completion for it).
          if (containsReturn(step.body)) fail(`${at}: a timeout block cannot return`);
          break;
        case "if":
          if (!OPS.has(step.op)) fail(`${at}: unknown comparison ${JSON.stringify(step.op)}`);
          expr(step.left, at);
          expr(step.right, at);
          steps(step.then ?? [], at, inside);
          steps(step.else ?? [], at, inside);
          break;
        case "repeat":
          count(step.times, `${at}: times`, 0);
          optionalName(step.bind, `${at}: bind`);
          steps(step.body, at, { ...inside, loop: "repeat" });
          break;
        case "try":
          steps(step.body, at, inside);
          if (step.catch != null) {
            if (!Array.isArray(step.catch.kinds)) fail(`${at}: catch.kinds must be a list`);
            for (const item of step.catch.kinds) caughtKind(item, `${at}: catch kind`);
            optionalName(step.catch.bind, `${at}: catch bind`);
            steps(step.catch.body, at, inside);
          }
          if (step.finally != null) steps(step.finally, at, inside);
          if (step.catch == null && step.finally == null) fail(`${at}: a try needs a catch or a finally`);
          break;
        case "set":
          name(step.bind, `${at}: bind`);
          expr(step.value, at);
          break;
        case "cancel":
          // Which start it cancels is checked per function below.
          name(step.handle, `${at}: handle`);
          break;
        case "map":
          name(step.callee, `${at}: callee`);
          if (generators.has(step.callee)) fail(`${at}: ${JSON.stringify(step.callee)} is a generator; for_each consumes its values`);
          expr(step.over, at);
          count(step.limit, `${at}: limit`, 1);
          optionalName(step.bind, `${at}: bind`);
          break;
        case "put":
          queue(step.queue, at);
          expr(step.value, at);
          break;
        case "get":
          queue(step.queue, at);
          optionalName(step.bind, `${at}: bind`);
          break;
        case "yield":
          if (!inside.generator) fail(`${at}: yield belongs in a function with generator: true`);
          // The loader guarantees it (a js-promise timeout block may be a function of its own).
          if (inside.inTimeout) fail(`${at}: a timeout block cannot yield`);
          expr(step.value, at);
          break;
        case "for_each":
          call(step.call, at, true);
          optionalName(step.bind, `${at}: bind`);
          steps(step.body, at, { ...inside, loop: "for_each" });
          break;
        case "break":
          if (inside.loop !== "for_each") {
            fail(`${at}: break leaves a for_each; here it is inside ${inside.loop === null ? "no for_each" : `a ${inside.loop}`}`);
          }
          break;
        case "using":
          name(step.resource, `${at}: resource`);
          if (!resourceNames.has(step.resource)) fail(`${at}: ${JSON.stringify(step.resource)} is not listed in resources`);
          if (!Array.isArray(step.args ?? [])) fail(`${at}: args must be a list`);
          for (const arg of step.args ?? []) expr(arg, at);
          optionalName(step.bind, `${at}: bind`);
          steps(step.body, at, inside);
          break;
        default:
          fail(`${at}: unknown step kind ${JSON.stringify(step.step)}`);
      }
    }
  };
  // A cancel needs the handle started from an operation in the same function: that start
  // makes the AbortController whose signal the operation watches.
  const cancels = (body, where) => {
    const started = new Map();
    forEachStep(body, (step) => {
      if (step.step === "start") {
        if (!started.has(step.bind)) started.set(step.bind, new Set());
        started.get(step.bind).add(operationNames.has(step.call.callee) ? "operation" : "function");
      }
    });
    forEachStep(body, (step) => {
      if (step.step !== "cancel") return;
      const kinds = started.get(step.handle);
      if (kinds === undefined) fail(`${where}, line ${step.line ?? "?"} (cancel): no start in this function binds ${JSON.stringify(step.handle)}`);
      if (kinds.has("function")) fail(`${where}, line ${step.line ?? "?"} (cancel): ${JSON.stringify(step.handle)} is started from a function; cancel works on calls started from an operation`);
    });
  };
  for (const fn of ir.functions) {
    name(fn?.name, "function name");
    if (!Array.isArray(fn.params)) fail(`function ${fn.name}: params must be a list`);
    for (const param of fn.params) name(param, `function ${fn.name}: parameter`);
    if (fn.generator != null && typeof fn.generator !== "boolean") fail(`function ${fn.name}: generator must be true or false`);
    steps(fn.body, `function ${fn.name}`, { generator: fn.generator === true, loop: null });
    cancels(fn.body, `function ${fn.name}`);
  }
  steps(ir.main, "main", { generator: false, loop: null });
  cancels(ir.main, "main");
}
