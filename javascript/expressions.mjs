/**
 * The IR's expressions, calls and conditions in JavaScript, the same in both renderings:
 * `jsExpr`, `jsCall`, `jsCondition` (an `if`'s condition), the catch's kind filter, and
 * the promises the waiting steps wait for (a sleep, a fan-out, a queue's put or get, a
 * resource's open).
 *
 * Standard library only (Node 20+).
 *
 * @module expressions
 */

import { isExpr, jsObject, jsString, jsValue, templateLiteral } from "./literals.mjs";
import { camelCase } from "./names.mjs";

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
  if ("item" in expr) return jsItem(expr);
  if ("length" in expr) return `${jsOperand(expr.length)}.length`;
  if ("slice" in expr) return `${jsOperand(expr.slice[0])}.slice(${expr.slice.slice(1).map(jsExpr).join(", ")})`;
  // A plain value in a fan-out's list: Promise.all and its kin take it as it is, a
  // promise fulfilled with it (MDN, Promise.all: "non-promise values ... are fulfilled").
  if ("resolved" in expr) return jsExpr(expr.resolved);
  if ("append" in expr) return `[...${jsOperand(expr.append[0])}, ${jsExpr(expr.append[1])}]`;
  throw new TypeError(`malformed expression: ${JSON.stringify(expr)}`);
}

/** An expression as the object of a member access: a calc goes in parentheses. */
function jsOperand(expr) {
  const text = jsExpr(expr);
  return isExpr(expr) && "calc" in expr ? `(${text})` : text;
}

/** A field name JavaScript writes after a dot (the loader's fields all are). */
const DOT_FIELD = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * `{"item": [base, key]}`: `page.next`, `results[0]`, `counts[key]`. A missing field or
 * an index past the end reads `undefined`, where Python raises KeyError or IndexError
 * (spec/LANGUAGE.md "Fields and indexes"). A field keeps its spelling: it is data, not a
 * scenario name, so it is not camelCased.
 *
 * @param {{item: [object, object]}} expr
 * @returns {string}
 */
function jsItem(expr) {
  const [base, key] = expr.item;
  const object = jsExpr(base);
  if (isExpr(key) && "literal" in key && typeof key.literal === "string" && DOT_FIELD.test(key.literal)) {
    return `${object}.${key.literal}`;
  }
  return `${object}[${jsExpr(key)}]`;
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

/** `==` / `!=` negated: `!(a === b)` is written `a !== b`. */
const NEGATED = { "==": "!=", "!=": "==" };

/**
 * The condition of an `if` or a `while` (spec/PROTOCOL.md "Conditions") as JavaScript: a comparison
 * (`==` is `===`, `!=` is `!==`), `&&`, `||` and `!`. An `and` inside an `or` (or the
 * reverse) goes in parentheses, although `&&` binds tighter than `||`, as ESLint's
 * no-mixed-operators asks; an `and` or `or` under `!`, and a comparison under `!`, need
 * them. The negation of `==` or `!=` is the other operator, as a developer writes it,
 * and a double negation is what it negates.
 * Every operand is a comparison or another condition, so JavaScript's truthiness (an
 * empty array is true, where Python's empty list is false) never decides.
 *
 * @param {object} condition
 * @param {string} [around] the connective this condition is an operand of, if any.
 * @returns {string}
 */
export function jsCondition(condition, around = "") {
  if (condition === null || typeof condition !== "object") throw new TypeError(`malformed condition: ${JSON.stringify(condition)}`);
  if ("compare" in condition) {
    const [left, op, right] = condition.compare;
    if (!COMPARISONS[op]) throw new TypeError(`unknown comparison ${JSON.stringify(op)}`);
    return `${jsExpr(left)} ${COMPARISONS[op]} ${jsExpr(right)}`;
  }
  if ("not" in condition) {
    const inner = condition.not;
    // Every condition is a boolean in both languages: !!C is C.
    if (isExpr(inner) && "not" in inner) return jsCondition(inner.not, around);
    if (isExpr(inner) && "compare" in inner && NEGATED[inner.compare[1]]) {
      const [left, op, right] = inner.compare;
      return jsCondition({ compare: [left, NEGATED[op], right] }, around);
    }
    return `!(${jsCondition(inner)})`;
  }
  const connective = "and" in condition ? "and" : "or" in condition ? "or" : null;
  if (connective === null) throw new TypeError(`malformed condition: ${JSON.stringify(condition)}`);
  const text = condition[connective].map((part) => jsCondition(part, connective)).join(connective === "and" ? " && " : " || ");
  return around !== "" && around !== connective ? `(${text})` : text;
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
 * The comment above a catch from_group, in both compilers (no async or await in it).
 */
export const GROUP_CATCH_COMMENT = "// Python's except*: an error of these kinds, out of a group (AggregateError) or alone.";

/**
 * The head of a catch: its parameter; the lines that come first in it (for a catch
 * from_group, Python's `except*`: a comment, and the declaration of the name it binds,
 * the first error of its kinds among a group's, `AggregateError.errors`, or the error
 * itself); and the filter under which the caught error goes on (`if (filter) throw
 * param;`), kindFilter's for a plain catch.
 *
 * @param {{kinds: string[], bind?: string | null, from_group?: boolean}} catchIr
 * @param {Scope} scope the catch block's scope: its names are taken there.
 * @returns {{param: string, lead: string[], filter: string | null}}
 */
export function catchHead(catchIr, scope) {
  if (!catchIr.from_group) {
    const param = catchIr.bind ? camelCase(catchIr.bind) : scope.fresh("error");
    scope.names.add(param);
    return { param, lead: [], filter: kindFilter(catchIr.kinds, param) };
  }
  if (catchIr.bind) scope.names.add(camelCase(catchIr.bind));
  const param = scope.fresh("caught");
  scope.names.add(param);
  const members = `(${param} instanceof AggregateError ? ${param}.errors : [${param}])`;
  const test = catchIr.kinds.map((kind) => `member instanceof ${kind}`).join(" || ");
  if (!catchIr.bind) return { param, lead: [GROUP_CATCH_COMMENT], filter: `!${members}.some((member) => ${test})` };
  const name = camelCase(catchIr.bind);
  const declare = `const ${name} = ${members}.find((member) => ${test});`;
  return { param, lead: [GROUP_CATCH_COMMENT, declare], filter: `${name} === undefined` };
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
export function jsMs(ms) {
  return isExpr(ms) ? jsExpr(ms) : jsValue(ms);
}

/**
 * The `Promise` combinator a fan-out step awaits. `group` (a task group: Python's
 * asyncio.TaskGroup) is `Promise.all`, its nearest JavaScript equivalent: the first
 * failure rejects with the plain error and the siblings keep running, where Python
 * cancels them and raises an ExceptionGroup (a declared divergence).
 *
 * @param {{step: string, calls?: object[], over?: object}} step an all, race, all_settled, any or
 *   group step: its calls, or `over`, an expression of a list of started calls (promises,
 *   which take no signal: `Promise.all([a, b])`, `Promise.all(jobs)`).
 * @param {string | null} [signal] an AbortSignal expression each call takes last (the
 *   deadline of a timeout: asyncio cancels the children of a gather or a task group
 *   with the task that awaits them).
 * @returns {string} e.g. `Promise.allSettled([a(x), b()])`.
 */
export function jsFanOut(step, signal = null) {
  const method = FAN_OUT[step.step];
  if (method === undefined) throw new TypeError(`${JSON.stringify(step.step)} is no fan-out step`);
  if (step.over != null) return `Promise.${method}(${jsExpr(step.over)})`;
  return `Promise.${method}([${step.calls.map((call) => jsCall(call, signal ?? undefined)).join(", ")}])`;
}

const FAN_OUT = { all: "all", race: "race", all_settled: "allSettled", any: "any", group: "all" };

/**
 * The promise a `put`, `get` or `join` step waits for: `jobs.put(job)`, `jobs.get()`,
 * `jobs.join()`.
 *
 * @param {object} step
 * @returns {string}
 */
export function jsQueueCall(step) {
  const queue = camelCase(step.queue);
  if (step.step === "join") return `${queue}.join()`;
  return step.step === "put" ? `${queue}.put(${jsExpr(step.value)})` : `${queue}.get()`;
}

/** The JavaScript names of asyncio.Event's methods, as the kit's event has them. */
const EVENT_METHODS = { set_event: "set", clear_event: "clear", wait_event: "wait", is_set: "isSet" };

/**
 * The call of an event step: `ready.set()`, `ready.clear()`, `ready.wait()` (a promise),
 * `ready.isSet()`.
 *
 * @param {object} step
 * @returns {string}
 */
export function jsEventCall(step) {
  const method = EVENT_METHODS[step.step];
  if (method === undefined) throw new TypeError(`${JSON.stringify(step.step)} is no event step`);
  return `${camelCase(step.event)}.${method}()`;
}

/** The JavaScript names of asyncio.Queue's methods that do not wait, as the kit's queue has them. */
const QUEUE_NOWAIT = { put_nowait: "putNowait", get_nowait: "getNowait", task_done: "taskDone", shutdown: "shutdown" };

/**
 * The call of a queue step that does not wait: `jobs.putNowait(job)`, `jobs.getNowait()`,
 * `jobs.taskDone()`, `jobs.shutdown()`.
 *
 * @param {object} step
 * @returns {string}
 */
export function jsQueueNowait(step) {
  const method = QUEUE_NOWAIT[step.step];
  if (method === undefined) throw new TypeError(`${JSON.stringify(step.step)} is no queue step that does not wait`);
  return `${camelCase(step.queue)}.${method}(${step.step === "put_nowait" ? jsExpr(step.value) : ""})`;
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
