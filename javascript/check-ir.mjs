/**
 * The check of a scenario IR (spec/PROTOCOL.md) before the compilers read it. The IR
 * comes from the loader, which checks it; this checks again every piece that lands in a
 * program as code (identifiers, kinds, numbers, comparison operators), so that no IR can
 * make the compilers emit code that was not generated here. Messages name the scenario
 * and the step's YAML line.
 *
 * Steps are checked by the step table (ir-steps.mjs): an unknown step is an error; each
 * field the table declares is checked by its type (`FIELD_TYPES`; a type ending in `?`
 * may be absent or null), no field it does not declare may be there (besides `step` and
 * `line`), and exactly one of a `one_of` is set. On top of that come the few rules that
 * cross steps (`STEP_RULES`, `blockContext`, `checkCancels`): yield and return in
 * generators and timeout blocks, for_each on generators only, break inside a for_each
 * only, a timeout's TimeoutError, a try's catch or finally, a cancel's start.
 *
 * Standard library only (Node 20+).
 *
 * @module check-ir
 */

import { isAbsolute } from "node:path";
import { STEPS, baseType, fieldAt } from "./ir-steps.mjs";
import { jsValue } from "./literals.mjs";
import { isReservedName } from "./names.mjs";
import { CANCELLED } from "./expressions.mjs";
import { forEachStep, stepCallees } from "./walk.mjs";

const NAME = /^[a-z][a-z0-9_]*$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;
const OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const CALC_OPS = new Set(["+", "-", "*"]);
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/; // an item's field: written bare after a dot, quoted in a Python f-string
const LIMIT_KEYS = new Set(["virtual_time", "timer_firings", "turns_per_instant"]);
const ON_CANCEL = new Set(["stop", "ignore"]);
// The files of `bindings` (spec/PROTOCOL.md) and the suffixes each may have.
const BINDING_KEYS = { python: [".py"], javascript: [".mjs", ".js", ".ts"] };

/** An IR the compilers cannot read. */
class IrError extends Error {}

/**
 * Checks a scenario IR.
 *
 * @param {*} ir what should be a scenario IR, version 1.
 * @throws {Error} naming the scenario and the step's line, for an IR the compilers
 *   cannot read.
 */
export function checkIr(ir) {
  const check = new Checker(ir);
  check.declarations();
  check.bindings();
  for (const fn of ir.functions) {
    check.name(fn?.name, "function name");
    if (!Array.isArray(fn.params)) check.fail(`function ${fn.name}: params must be a list`);
    for (const param of fn.params) check.name(param, `function ${fn.name}: parameter`);
    if (fn.generator != null && typeof fn.generator !== "boolean") check.fail(`function ${fn.name}: generator must be true or false`);
    check.steps(fn.body, `function ${fn.name}`, { generator: fn.generator === true, loop: null, inTimeout: false });
    check.cancels(fn.body, `function ${fn.name}`);
  }
  check.steps(ir.main, "main", { generator: false, loop: null, inTimeout: false });
  check.cancels(ir.main, "main");
}

/**
 * The check of each field type of the table: `(check, value, at, field)`, where `at`
 * names the step (`main, line 3 (await)`) and `field` the field. A new type in the table
 * needs one (tests/javascript/check-ir.test.mjs).
 */
export const FIELD_TYPES = Object.freeze({
  name: (check, value, at, field) => check.name(value, `${at}: ${field}`),
  callee: (check, value, at, field) => check.name(value, `${at}: ${field}`),
  kind: (check, value, at, field) => check.kind(value, `${at}: ${field}`),
  expr: (check, value, at) => check.expr(value, at),
  exprs: (check, value, at, field) => {
    if (!Array.isArray(value)) check.fail(`${at}: ${field} must be a list`);
    for (const item of value) check.expr(item, at);
  },
  call: (check, value, at) => check.call(value, at),
  calls: (check, value, at, field) => {
    if (!Array.isArray(value) || value.length === 0) check.fail(`${at}: ${field} must be a non-empty list`);
    for (const item of value) check.call(item, at);
  },
  // The steps themselves are checked as the step's blocks (Checker.step).
  steps: (check, value, at, field) => {
    if (!Array.isArray(value)) check.fail(`${at}: ${field} must be a list of steps`);
  },
  catch: (check, value, at) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) check.fail(`${at}: catch must be {kinds, bind, body}`);
    if (!Array.isArray(value.kinds)) check.fail(`${at}: catch.kinds must be a list`);
    // A catch may name the kit's cancellation, which is each language's own, never listed.
    for (const kind of value.kinds) if (kind !== CANCELLED) check.kind(kind, `${at}: catch kind`);
    if (value.bind != null) check.name(value.bind, `${at}: catch bind`);
    if (!Array.isArray(value.body)) check.fail(`${at}: catch.body must be a list of steps`);
    // except*: kinds taken out of a group; true, with kinds, or absent.
    if (value.from_group != null && (value.from_group !== true || value.kinds.length === 0)) {
      check.fail(`${at}: catch.from_group is true, with kinds, or absent`);
    }
  },
  "integer>=0": (check, value, at, field) => check.count(value, `${at}: ${field}`, 0),
  "integer>=1": (check, value, at, field) => check.count(value, `${at}: ${field}`, 1),
  // An integer, or an expression computing one (a backoff delay).
  "integer>=0|expr": (check, value, at, field) => {
    if (value !== null && typeof value === "object") check.expr(value, at);
    else check.count(value, `${at}: ${field}`, 0);
  },
  condition: (check, value, at) => check.condition(value, at),
  queue: (check, value, at, field) => {
    check.name(value, `${at}: ${field}`);
    if (!check.queueNames.has(value)) check.fail(`${at}: queue ${JSON.stringify(value)} is not listed in queues`);
  },
  event: (check, value, at, field) => {
    check.name(value, `${at}: ${field}`);
    if (!check.eventNames.has(value)) check.fail(`${at}: event ${JSON.stringify(value)} is not listed in events`);
  },
  sync: (check, value, at, field) => {
    check.name(value, `${at}: ${field}`);
    if (!check.lockNames.has(value) && !check.semaphoreNames.has(value)) {
      check.fail(`${at}: ${JSON.stringify(value)} is not listed in locks or semaphores`);
    }
  },
  resource: (check, value, at, field) => {
    check.name(value, `${at}: ${field}`);
    if (!check.resourceNames.has(value)) check.fail(`${at}: ${JSON.stringify(value)} is not listed in resources`);
  },
  callee_kind: (check, value, at, field) => {
    if (value !== "operation" && value !== "function") {
      check.fail(`${at}: ${field} is "operation" or "function", not ${JSON.stringify(value)}`);
    }
  },
  timeout_idiom: (check, value, at) => {
    if (value !== "signal" && value !== "race") check.fail(`${at}: a timeout's idiom is "signal" or "race", not ${JSON.stringify(value)}`);
  },
  wait_until: (check, value, at) => {
    if (!["first_completed", "first_exception", "all_completed"].includes(value)) {
      check.fail(`${at}: a wait's until is "first_completed", "first_exception" or "all_completed", not ${JSON.stringify(value)}`);
    }
  },
  // Python's rendering only: for await closes the generator at a break either way.
  for_each_idiom: (check, value, at) => {
    if (value !== "async_for" && value !== "aclosing") check.fail(`${at}: a for_each's idiom is "async_for" or "aclosing", not ${JSON.stringify(value)}`);
  },
});

/**
 * The rules of single steps that cross steps, checked after the fields:
 * `(check, step, at, inside)`, `inside` being where the step sits (see `blockContext`).
 */
const STEP_RULES = {
  return: (check, step, at, inside) => {
    if (inside.generator) check.fail(`${at}: a generator function has no return step`);
    // The loader guarantees it (the js-promise block's chain has no completion for it).
    if (inside.inTimeout) check.fail(`${at}: a timeout block cannot return`);
  },
  yield: (check, step, at, inside) => {
    if (!inside.generator) check.fail(`${at}: yield belongs in a function with generator: true`);
    // The loader guarantees it (a js-promise timeout block may be a function of its own).
    if (inside.inTimeout) check.fail(`${at}: a timeout block cannot yield`);
  },
  // The deadline rejects with the scenario's TimeoutError class.
  timeout: (check, step, at) => {
    if (!check.ir.errors.includes("TimeoutError")) check.fail(`${at}: a timeout needs "TimeoutError" listed in errors`);
  },
  try: (check, step, at) => {
    if (step.catch == null && step.finally == null) check.fail(`${at}: a try needs a catch or a finally`);
  },
  break: (check, step, at, inside) => loopJump(check, "break", at, inside),
  continue: (check, step, at, inside) => loopJump(check, "continue", at, inside),
};

/** A break or a continue belongs in a loop, not in a timeout block inside one (the loader guarantees it). */
function loopJump(check, head, at, inside) {
  if (inside.loop === null || inside.loop === "timeout") {
    check.fail(`${at}: ${head} belongs in a loop (repeat, while or for_each); here it is inside ${inside.loop === null ? "no loop" : "a timeout block"}`);
  }
}

/**
 * Where the steps of a step's blocks sit: `loop` is the innermost of the table's loops
 * (repeat, while, for_each) and timeout around them, for a break or a continue leaves a
 * loop and must not sit in a timeout block inside it; `inTimeout`, inside a timeout block.
 */
function blockContext(step, inside) {
  if (!STEPS[step.step].loops && step.step !== "timeout") return inside;
  return { ...inside, loop: step.step, inTimeout: inside.inTimeout || step.step === "timeout" };
}

/** The state of one check: the IR, the names it declares, and the checks of values. */
class Checker {
  constructor(ir) {
    this.ir = ir;
    if (ir === null || typeof ir !== "object" || Array.isArray(ir)) this.fail("expected an object");
  }

  fail(message) {
    const ir = this.ir;
    throw new IrError(`malformed IR${typeof ir?.id === "string" ? ` for scenario ${JSON.stringify(ir.id)}` : ""}: ${message}`);
  }

  name(value, what) {
    if (typeof value !== "string" || !NAME.test(value)) this.fail(`${what} ${JSON.stringify(value)} is not a name (${NAME.source})`);
    if (isReservedName(value)) this.fail(`${what} ${JSON.stringify(value)} is reserved in JavaScript programs`);
  }

  kind(value, what) {
    if (typeof value !== "string" || !KIND.test(value)) this.fail(`${what} ${JSON.stringify(value)} is not an error kind (${KIND.source})`);
    if (!this.ir.errors.includes(value)) this.fail(`${what} ${JSON.stringify(value)} is not listed in errors`);
  }

  count(value, what, min) {
    if (!Number.isInteger(value) || value < min) this.fail(`${what} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }

  json(value, what) {
    try {
      jsValue(value);
    } catch (error) {
      this.fail(`${what} is not a JSON value: ${error.message}`);
    }
  }

  /** `bindings` and the `bound` functions agree (asyncparity_python/check.py says the same). */
  bindings() {
    const ir = this.ir;
    const bindings = ir.bindings;
    let boundNames = [];
    const keys = [...Object.keys(BINDING_KEYS), "functions"];
    if (bindings != null) {
      const plain = typeof bindings === "object" && !Array.isArray(bindings);
      const unknown = plain ? Object.keys(bindings).filter((key) => !keys.includes(key)).sort() : [];
      if (unknown.length) this.fail(`unknown key ${JSON.stringify(unknown[0])} in bindings`);
      if (!plain || !keys.every((key) => Object.hasOwn(bindings, key))) this.fail("bindings must be an object with python, javascript and functions");
      for (const [key, suffixes] of Object.entries(BINDING_KEYS)) {
        const file = bindings[key];
        if (typeof file !== "string" || !isAbsolute(file) || !suffixes.some((suffix) => file.endsWith(suffix))) {
          this.fail(`bindings.${key} must be an absolute path to a ${suffixes.join(" or ")} file`);
        }
      }
      boundNames = bindings.functions;
      if (!Array.isArray(boundNames) || boundNames.length === 0) this.fail("bindings.functions must be a non-empty list of function names");
      for (const name of boundNames) {
        if (!ir.functions.some((fn) => fn?.name === name)) this.fail(`bindings.functions names ${JSON.stringify(name)}, which is not a function`);
      }
    }
    for (const fn of ir.functions) {
      const bound = fn?.bound ?? false;
      if (typeof bound !== "boolean") this.fail(`function ${JSON.stringify(fn.name)}: bound must be true or false`);
      if (bound !== boundNames.includes(fn.name)) this.fail(`function ${JSON.stringify(fn.name)}: bound is true exactly when bindings.functions names it`);
      if (bound && ((Array.isArray(fn.body) && fn.body.length > 0) || fn.generator === true)) {
        this.fail(`function ${JSON.stringify(fn.name)}: a bound function has no steps and is no generator`);
      }
    }
  }

  /** The IR's declarations: version, limits, errors, operations, queues, events, locks, semaphores, resources. */
  declarations() {
    const ir = this.ir;
    if (ir.ir !== 1) this.fail(`unsupported IR version ${JSON.stringify(ir.ir)} (expected 1)`);
    if (typeof ir.id !== "string") this.fail("id must be a string");
    for (const key of ["summary", "source"]) {
      if (ir[key] != null && typeof ir[key] !== "string") this.fail(`${key} must be a string`);
    }
    if (ir.limits != null) {
      if (typeof ir.limits !== "object" || Array.isArray(ir.limits)) this.fail("limits must be an object");
      for (const [key, value] of Object.entries(ir.limits)) {
        if (!LIMIT_KEYS.has(key)) this.fail(`unknown limit ${JSON.stringify(key)}`);
        if (!Number.isInteger(value) || value < 0) this.fail(`limits.${key} must be an integer >= 0`);
      }
    }
    for (const key of ["errors", "operations", "functions", "main"]) {
      if (!Array.isArray(ir[key])) this.fail(`${key} must be a list`);
    }
    if (ir.queues != null && !Array.isArray(ir.queues)) this.fail("queues must be a list");
    if (ir.resources != null && !Array.isArray(ir.resources)) this.fail("resources must be a list");
    for (const value of ir.errors) {
      if (typeof value !== "string" || !KIND.test(value)) this.fail(`error kind ${JSON.stringify(value)} is not a kind (${KIND.source})`);
    }
    for (const op of ir.operations) this.operation(op);
    this.queueNames = new Set();
    for (const queue of ir.queues ?? []) {
      this.name(queue?.name, "queue name");
      if (queue.size != null) this.count(queue.size, `queue ${queue.name}: size`, 1);
      this.queueNames.add(queue.name);
    }
    if (ir.events != null && !Array.isArray(ir.events)) this.fail("events must be a list");
    this.eventNames = new Set();
    for (const event of ir.events ?? []) {
      this.name(event?.name, "event name");
      if ([...ir.operations, ...ir.functions, ...(ir.queues ?? []), ...(ir.resources ?? [])].some((other) => other?.name === event.name)) {
        this.fail(`event ${JSON.stringify(event.name)} is also an operation, function, queue or resource`);
      }
      this.eventNames.add(event.name);
    }
    if (ir.locks != null && !Array.isArray(ir.locks)) this.fail("locks must be a list");
    this.lockNames = new Set();
    for (const lock of ir.locks ?? []) {
      this.name(lock?.name, "lock name");
      if ([...ir.operations, ...ir.functions, ...(ir.queues ?? []), ...(ir.resources ?? []), ...(ir.events ?? [])].some((other) => other?.name === lock.name)) {
        this.fail(`lock ${JSON.stringify(lock.name)} is also an operation, function, queue, resource or event`);
      }
      this.lockNames.add(lock.name);
    }
    if (ir.semaphores != null && !Array.isArray(ir.semaphores)) this.fail("semaphores must be a list");
    this.semaphoreNames = new Set();
    for (const semaphore of ir.semaphores ?? []) {
      this.name(semaphore?.name, "semaphore name");
      const others = [...ir.operations, ...ir.functions, ...(ir.queues ?? []), ...(ir.resources ?? []), ...(ir.events ?? []), ...(ir.locks ?? [])];
      if (others.some((other) => other?.name === semaphore.name)) {
        this.fail(`semaphore ${JSON.stringify(semaphore.name)} is also an operation, function, queue, resource, event or lock`);
      }
      this.count(semaphore.value, `semaphore ${semaphore.name}: value`, 1);
      this.semaphoreNames.add(semaphore.name);
    }
    this.resourceNames = new Set();
    for (const resource of ir.resources ?? []) {
      this.name(resource?.name, "resource name");
      this.count(resource.open, `resource ${resource.name}: open`, 0);
      this.count(resource.close, `resource ${resource.name}: close`, 0);
      if ([...ir.operations, ...ir.functions, ...(ir.queues ?? [])].some((other) => other?.name === resource.name)) {
        this.fail(`resource ${JSON.stringify(resource.name)} is also an operation, function or queue`);
      }
      this.resourceNames.add(resource.name);
    }
    this.generators = new Set(ir.functions.filter((fn) => fn?.generator === true).map((fn) => fn.name));
  }

  operation(op) {
    this.name(op?.name, "operation name");
    if (Array.isArray(op.latency)) {
      // One a call, as the outcomes (issue 10): a non-empty list.
      if (op.latency.length === 0) this.fail(`operation ${op.name}: latency must be an integer >= 0 or a non-empty list of them`);
      op.latency.forEach((ms, index) => this.count(ms, `operation ${op.name}: latency ${index}`, 0));
    } else {
      this.count(op.latency, `operation ${op.name}: latency`, 0);
    }
    if (op.on_cancel != null && !ON_CANCEL.has(op.on_cancel)) this.fail(`operation ${op.name}: on_cancel is "stop" or "ignore", not ${JSON.stringify(op.on_cancel)}`);
    if (!Array.isArray(op.outcomes) || op.outcomes.length === 0) this.fail(`operation ${op.name}: outcomes must be a non-empty list`);
    for (const outcome of op.outcomes) {
      if (outcome && typeof outcome === "object" && "returns" in outcome) {
        this.json(outcome.returns, `operation ${op.name}: returns`);
      } else if (outcome && typeof outcome.fails === "object" && outcome.fails !== null) {
        this.kind(outcome.fails.kind, `operation ${op.name}: fails.kind`);
        if (typeof outcome.fails.message !== "string") this.fail(`operation ${op.name}: fails.message must be a string`);
      } else {
        this.fail(`operation ${op.name}: an outcome is {returns} or {fails}`);
      }
    }
  }

  expr(value, where) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) this.fail(`${where}: malformed expression ${JSON.stringify(value)}`);
    if ("literal" in value) this.json(value.literal, `${where}: literal`);
    else if ("ref" in value) {
      this.name(value.ref, `${where}: reference`);
      if (value.member != null && value.member !== "kind" && value.member !== "message") this.fail(`${where}: unknown member ${JSON.stringify(value.member)}`);
    } else if ("format" in value) {
      if (!Array.isArray(value.format)) this.fail(`${where}: format must be a list`);
      for (const part of value.format) if (typeof part !== "string") this.expr(part, where);
    } else if ("list" in value) {
      if (!Array.isArray(value.list)) this.fail(`${where}: list must be a list`);
      for (const item of value.list) this.expr(item, where);
    } else if ("object" in value) {
      if (!Array.isArray(value.object)) this.fail(`${where}: object must be a list of [key, expression]`);
      for (const entry of value.object) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "string") this.fail(`${where}: object entries are [key, expression]`);
        this.expr(entry[1], where);
      }
    } else if ("calc" in value) {
      if (!Array.isArray(value.calc) || value.calc.length !== 3) this.fail(`${where}: calc must be [expression, operator, expression]`);
      if (!CALC_OPS.has(value.calc[1])) this.fail(`${where}: unknown calc operator ${JSON.stringify(value.calc[1])}`);
      this.expr(value.calc[0], where);
      this.expr(value.calc[2], where);
    } else if ("item" in value) {
      this.item(value.item, where);
    } else if ("length" in value) {
      this.expr(value.length, where);
    } else if ("resolved" in value) {
      this.expr(value.resolved, where);
    } else if ("slice" in value || "append" in value) {
      const form = "slice" in value ? "slice" : "append";
      const sizes = form === "slice" ? [2, 3] : [2];
      if (!Array.isArray(value[form]) || !sizes.includes(value[form].length)) this.fail(`${where}: ${form} is a list of ${sizes.join(" or ")} expressions`);
      for (const part of value[form]) this.expr(part, where);
    } else this.fail(`${where}: malformed expression ${JSON.stringify(value)}`);
  }

  /**
   * A condition (spec/PROTOCOL.md "Conditions"): a comparison of two expressions, or
   * `and` / `or` of two or more conditions, or `not` of one.
   */
  condition(value, where) {
    if (value === null || typeof value !== "object" || Array.isArray(value) || Object.keys(value).length !== 1) {
      this.fail(`${where}: malformed condition ${JSON.stringify(value)}`);
    }
    if ("compare" in value) {
      if (!Array.isArray(value.compare) || value.compare.length !== 3) this.fail(`${where}: compare must be [expression, comparison, expression]`);
      if (!OPS.has(value.compare[1])) this.fail(`${where}: unknown comparison ${JSON.stringify(value.compare[1])}`);
      this.expr(value.compare[0], where);
      this.expr(value.compare[2], where);
    } else if ("and" in value || "or" in value) {
      const parts = value.and ?? value.or;
      if (!Array.isArray(parts) || parts.length < 2) this.fail(`${where}: ${"and" in value ? "and" : "or"} takes two or more conditions`);
      for (const part of parts) this.condition(part, where);
    } else if ("not" in value) {
      this.condition(value.not, where);
    } else this.fail(`${where}: malformed condition ${JSON.stringify(value)}`);
  }

  /**
   * `[base, key]` of an item: the base a name or another item; the key a field name, an
   * index >= 0, a name or an item (spec/PROTOCOL.md "Expressions").
   */
  item(value, where) {
    if (!Array.isArray(value) || value.length !== 2 || !value.every((part) => part && typeof part === "object" && !Array.isArray(part))) {
      this.fail(`${where}: an item is [expression, key]`);
    }
    const [base, key] = value;
    const isName = (expr) => "ref" in expr && expr.member == null;
    if (!("item" in base) && !isName(base)) this.fail(`${where}: an item is taken from a name or another item`);
    this.expr(base, where);
    if ("literal" in key) {
      const field = typeof key.literal === "string" && FIELD.test(key.literal);
      const index = Number.isSafeInteger(key.literal) && key.literal >= 0;
      if (!field && !index) this.fail(`${where}: an item's key is a field name or an integer >= 0, not ${JSON.stringify(key.literal)}`);
    } else if ("item" in key || isName(key)) {
      this.expr(key, where);
    } else this.fail(`${where}: an item's key is a field, an index, a name or an item`);
  }

  call(value, where) {
    if (!value || typeof value !== "object") this.fail(`${where}: malformed call`);
    this.name(value.callee, `${where}: callee`);
    if (!Array.isArray(value.args ?? [])) this.fail(`${where}: args must be a list`);
    for (const arg of value.args ?? []) this.expr(arg, where);
  }

  /**
   * A step list. `inside`: where the list sits. `generator`: in a generator function's
   * body (yield is allowed); `loop` and `inTimeout`: see `blockContext`.
   */
  steps(list, where, inside) {
    if (!Array.isArray(list)) this.fail(`${where}: steps must be a list`);
    for (const step of list) this.step(step, where, inside);
  }

  step(step, where, inside) {
    if (!step || typeof step !== "object") this.fail(`${where}: malformed step`);
    const at = `${where}, line ${step.line ?? "?"} (${step.step})`;
    if (!Object.hasOwn(STEPS, step.step)) this.fail(`${at}: unknown step kind ${JSON.stringify(step.step)}`);
    const row = STEPS[step.step];
    for (const key of Object.keys(step)) {
      if (key !== "step" && key !== "line" && !Object.hasOwn(row.fields, key)) this.fail(`${at}: unknown field ${JSON.stringify(key)}`);
    }
    if (row.one_of && row.one_of.filter((field) => step[field] != null).length !== 1) {
      this.fail(`${at}: needs exactly one of ${row.one_of.join(" and ")}`);
    }
    for (const [field, type] of Object.entries(row.fields)) {
      if (step[field] == null && type.endsWith("?")) continue;
      FIELD_TYPES[baseType(type)](this, step[field], at, field);
    }
    // A generator's values are consumed by for_each only, and for_each consumes nothing else.
    for (const callee of stepCallees(step)) {
      const generator = this.generators.has(callee);
      if (step.step === "for_each" && !generator) this.fail(`${at}: ${JSON.stringify(callee)} is not a generator function; for_each needs one`);
      if (step.step !== "for_each" && generator) this.fail(`${at}: ${JSON.stringify(callee)} is a generator; for_each consumes its values`);
    }
    STEP_RULES[step.step]?.(this, step, at, inside);
    const context = blockContext(step, inside);
    for (const block of row.blocks) {
      const steps = fieldAt(step, block.field);
      if (steps != null) this.steps(steps, at, context);
    }
  }

  /**
   * A cancel needs the handle started in the same function: that start makes the
   * AbortController whose signal the operation, or the function, watches.
   */
  cancels(body, where) {
    const started = new Set();
    forEachStep(body, (step) => {
      if (step.step === "start") started.add(step.bind);
    });
    forEachStep(body, (step) => {
      if (step.step !== "cancel") return;
      if (!started.has(step.handle)) this.fail(`${where}, line ${step.line ?? "?"} (cancel): no start in this function binds ${JSON.stringify(step.handle)}`);
    });
  }
}
