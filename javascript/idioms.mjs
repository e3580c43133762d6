/**
 * The idioms both renderings share for the steps that have no keyword of their own:
 * the AbortController of a started call that is cancelled later (`start`, `cancel`),
 * the `let` declarations a binding plan puts before a step, `map` over a semaphore, a
 * repeat's counter, a using's handle, and the comments above a group, a map and a catch
 * of CancelledError.
 *
 * Standard library only (Node 20+).
 *
 * @module idioms
 */

import { isExpr, jsValue } from "./literals.mjs";
import { jsCall, jsExpr } from "./expressions.mjs";
import { camelCase } from "./names.mjs";
import { forEachStep } from "./walk.mjs";

/**
 * The comment above a catch of CancelledError, in both compilers.
 */
export const CANCELLED_COMMENT = "// A cancelled (aborted) operation rejects with a DOMException named AbortError.";

/**
 * The comment above the start of an operation that is cancelled later, in both compilers.
 */
export const ABORT_COMMENT = "// The AbortSignal is how JavaScript asks an operation to stop.";

/**
 * The comment above the start of a scenario function that is cancelled later, in both
 * compilers: the function takes the signal last and hands it to its waits.
 */
export const ABORT_FUNCTION_COMMENT = "// The AbortSignal is how JavaScript asks a call to stop: the function hands it to each of its waits.";

/**
 * The comment above a `map` with a limit, in both compilers. It must not say async or
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
 * @param {boolean} [handleRead] whether anything but a cancel reads the handle.
 * @returns {string[]} the lines.
 */
export function startLines(step, prefix, controllers, handleRead = true) {
  const controller = controllers.get(step.bind);
  if (controller === undefined) return [`${prefix}${jsCall(step.call)};`];
  const declare = prefix.startsWith("const ") ? "const " : prefix.startsWith("let ") ? "let " : "";
  return [
    step.call.callee_kind === "function" ? ABORT_FUNCTION_COMMENT : ABORT_COMMENT,
    `${declare}${controller} = new AbortController();`,
    // A handle only ever cancelled is not kept: the cancel aborts its controller.
    `${handleRead ? prefix : ""}${jsCall(step.call, `${controller}.signal`)};`,
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
  const listy = isExpr(over) && ("ref" in over || "item" in over || "slice" in over || "append" in over || "list" in over || ("literal" in over && Array.isArray(over.literal)));
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
 * The comment written above a `group` step in both compilers, saying why it is Promise.all.
 * It must not say async or await: js-promise programs carry neither word anywhere.
 */
export const GROUP_COMMENT = "// A task group: Promise.all is the nearest JavaScript equivalent (siblings are not cancelled).";

/**
 * The comment written above a `task_group` step in both compilers: the calls its body
 * starts are collected, then settled together. No async or await in it (js-promise).
 */
export const TASK_GROUP_COMMENT =
  "// A task group: the calls started in its body, settled together by Promise.all (siblings are not cancelled).";

/**
 * The comment above an `as_completed` loop, in both compilers (no async or await in it).
 */
export const AS_COMPLETED_COMMENT = "// asyncio.as_completed: the calls in the order they settle, each taken in turn.";

/**
 * The calls of an `as_completed` step in the order they settle, both compilers'
 * expression for them: `inSettleOrder([a(), b()])` (ProgramHelpers).
 *
 * @param {object} step the as_completed step.
 * @param {ProgramHelpers} helpers the program's helpers.
 * @returns {string}
 */
export function inSettleOrderOf(step, helpers) {
  return helpers.inSettleOrderCall(step.calls.map((call) => jsCall(call)));
}

/**
 * The statements of a `start` step, in both compilers: startLines; inside a task_group's
 * body (`groups`: the arrays of the task groups around it, innermost last) the call is
 * added to the innermost one too, directly (`tasks.push(fetchUser(7));`) when nothing
 * reads its handle (`uses`: the binding plan's read counts).
 *
 * @param {object} step the start step.
 * @param {string} prefix as for startLines.
 * @param {Map<string, string>} controllers see `abortControllers`.
 * @param {string[] | undefined} groups
 * @param {Map<string, number>} uses
 * @param {boolean} handleRead as for startLines; a task of a group keeps its handle.
 * @returns {string[]} the lines.
 */
export function startStepLines(step, prefix, controllers, groups, uses, handleRead = true) {
  if (!groups?.length) return startLines(step, prefix, controllers, handleRead);
  const tasks = groups[groups.length - 1];
  if (!uses.get(step.bind) && !controllers.has(step.bind)) return [`${tasks}.push(${jsCall(step.call)});`];
  return [...startLines(step, prefix, controllers), `${tasks}.push(${camelCase(step.bind)});`];
}

/**
 * The counter of a repeat step and the head of its `for` loop, in both compilers: the
 * bound name, or a fresh `attempt` in the loop's scope.
 *
 * @param {{bind: string | null, times: number}} step the repeat step.
 * @param {Scope} inner the loop's scope.
 * @returns {{counter: string, head: string}} `head`: `let i = 0; i < 3; i += 1`.
 */
export function repeatHead(step, inner) {
  const counter = step.bind ? camelCase(step.bind) : inner.fresh("attempt");
  return { counter, head: `let ${counter} = 0; ${counter} < ${repeatCount(step)}; ${counter} += 1` };
}

/**
 * A repeat's count as JavaScript: an integer, or the expression computing it (a name, a
 * calc), compared with `<` each round as a hand-written `for` does: 0 or less runs no
 * round, and a fraction runs up to the next integer (spec/LANGUAGE.md, `repeat`).
 *
 * @param {{times: number | object}} step the repeat step.
 * @returns {string}
 */
export function repeatCount(step) {
  return typeof step.times === "object" && step.times !== null ? jsExpr(step.times) : String(step.times);
}

/**
 * The names of a `using` step's block in both compilers: the handle `open` resolves to,
 * fresh in `scope`, and the statement binding the block's name to its value, if any.
 *
 * @param {{resource: string, bind: string | null}} step the using step.
 * @param {Scope} scope where the handle is declared.
 * @returns {{handle: string, bind: string[]}} `bind`: `const conn = connectionHandle.value;`, or none.
 */
export function usingNames(step, scope) {
  const handle = scope.fresh(`${camelCase(step.resource)}Handle`);
  return { handle, bind: step.bind ? [`const ${camelCase(step.bind)} = ${handle}.value;`] : [] };
}

/**
 * A set step's statement, in both compilers: `const total = a + b;`. When nothing reads
 * the name (`prefix` is empty), the value alone, still computed as Python computes it
 * (reading a field of null throws in both languages); an object literal then goes in
 * parentheses, since at the start of a statement `{` opens a block.
 *
 * @param {object} step the set step.
 * @param {string} prefix bindingPrefix's text for it.
 * @returns {string}
 */
export function setLine(step, prefix) {
  const value = jsExpr(step.value);
  return `${prefix}${prefix === "" && value.startsWith("{") ? `(${value})` : value};`;
}

/** What a wait's `until` waits for, as asyncio.wait's return_when says it. */
const WAIT_COMMENTS = {
  all_completed: "every call has settled",
  first_completed: "the first call settles",
  first_exception: "the first call fails (or every one has settled)",
};

/**
 * The parts of a `wait` step (asyncio.wait) both compilers write: each call's
 * settlement recorded in an array at its index as it comes; a wait for what `until`
 * names (`Promise.allSettled`, `Promise.race`, `Promise.all` of the recordings, which
 * rethrow a rejection so that the first failure ends a race or an all), raced against a
 * timer of the world when there is a timeout; then the bound value
 * `{ done: Object.values(records), pending: N }` (an array's values come in index
 * order: the records in call order, as Python makes them). The calls take no signal
 * and run on, as asyncio.wait's tasks do; under a deadline only the wait ends.
 *
 * @param {object} step the wait step.
 * @param {Scope} scope the scope the wait is written in.
 * @param {string | null} signal the deadline's AbortSignal expression.
 * @param {{abortableCall: (promise: string, signal: string) => string}} helpers
 * @returns {{comment: string, declare: string[], wait: string, value: string}} the
 *   comment, the statements before the wait, the promise waited for (it rejects only
 *   at a deadline's abort) and the expression of the bound value.
 */
export function waitParts(step, scope, signal, helpers) {
  const records = scope.fresh("records");
  const settlements = scope.fresh("settlements");
  const inner = scope.child();
  const [promise, index] = [inner.fresh("promise"), inner.fresh("index")];
  const calls = step.over != null ? jsExpr(step.over) : `[${step.calls.map((call) => jsCall(call)).join(", ")}]`;
  const until = step.until ?? "all_completed";
  const declare = [
    `const ${records} = [];`,
    `const ${settlements} = ${calls}.map((${promise}, ${index}) => ${promise}.then(`
      + `(value) => { ${records}[${index}] = { status: "fulfilled", value }; }, `
      + `(reason) => { ${records}[${index}] = { status: "rejected", reason }; throw reason; }));`,
  ];
  const goal = { all_completed: "allSettled", first_completed: "race", first_exception: "all" }[until];
  let wait = `Promise.${goal}(${settlements})`;
  // The first failure ends a race or an all; asyncio.wait raises nothing, the error is in its record.
  if (until !== "all_completed") wait = `${wait}.catch(() => {})`;
  const timed = step.timeout != null;
  let timer = null;
  if (timed) {
    timer = scope.fresh("timer");
    const deadline = scope.fresh("deadline");
    declare.push(`let ${timer};`, `const ${deadline} = new Promise((resolve) => { ${timer} = setTimeout(resolve, ${step.timeout}); });`);
    wait = `Promise.race([${wait}, ${deadline}])`;
  }
  // Under a deadline only the wait ends, rejecting with the deadline's TimeoutError.
  if (signal !== null) wait = helpers.abortableCall(wait, signal);
  if (timed) wait = `${wait}.finally(() => clearTimeout(${timer}))`;
  const comment = `// asyncio.wait: record each call as it settles and wait until ${WAIT_COMMENTS[until]}`
    + `${timed ? `, at most ${step.timeout} ms` : ""}; the calls still pending run on.`;
  return { comment, declare, wait, value: `{ done: Object.values(${records}), pending: ${settlements}.length - Object.keys(${records}).length }` };
}
