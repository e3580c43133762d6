/**
 * Timeouts: asyncio.timeout in JavaScript is a deadline AbortSignal.
 *
 * `asyncio.timeout(0.05)` cancels whatever the task awaits at the deadline: an
 * operation, a sleep, an operation awaited inside a function called from the block, the
 * children of a gather or task group. JavaScript cannot cancel a promise; it asks work
 * to stop through an AbortSignal, as `fetch(url, { signal: AbortSignal.timeout(50) })`
 * does. So a timeout step is a deadline signal of AbortSignal.timeout's shape, on the
 * virtual clock:
 *
 *     const controller = new AbortController();
 *     const timer = setTimeout(() => controller.abort(new TimeoutError("")), 50);
 *     try {
 *       ...every wait of the block takes controller.signal...
 *     } finally {
 *       clearTimeout(timer);
 *     }
 *
 * and the signal is handed to every wait inside the block, where it rejects with
 * `signal.reason`, the TimeoutError (what fetch does): an operation takes it as its last
 * argument; a sleep is the program's signal-aware `sleep(ms, signal)`; a function
 * called from the block takes it as an optional last parameter and hands it to its own
 * waits (the set `signalFunctions`); `all`, `all_settled`, `group` and `map` hand it to
 * each call (asyncio cancels a gather's children); a nested timeout combines it with
 * its own, `AbortSignal.any([signal, controller.signal])` (Node 20.3+). Calls started
 * with `start` inside the block are other tasks, which asyncio.timeout does not cancel:
 * they get no signal. What cannot take a signal (a started call awaited, a race or any,
 * whose calls are tasks asyncio.wait leaves running, a queue's put or get, a resource's
 * open) is waited for through `abortable(promise, signal)`, so that the block still
 * ends at the deadline; a comment says what goes on running.
 *
 * This module holds that idiom: which functions take the signal (`signalFunctions`), the
 * deadline's statements (`deadlineLines`, and `raceDeadlineStmts` for the Promise.race
 * idiom), the program's helper functions (`ProgramHelpers`: those for waits under a
 * deadline, and the one that puts an as_completed's calls in the order they settle),
 * and what each waiting step waits for under a deadline (`awaitedParts`, `openParts`).
 *
 * Standard library only (Node 20+).
 *
 * @module deadlines
 */

import { jsValue } from "./literals.mjs";
import { camelCase } from "./names.mjs";
import { jsCall, jsEventCall, jsFanOut, jsMs, jsQueueCall, jsResourceOpen, jsSleep } from "./expressions.mjs";
import { childBlocks, forEachStep, stepCallees } from "./walk.mjs";

/**
 * The scenario functions that take a deadline signal: every function called from inside
 * a timeout block by a wait that hands the signal on (an awaited call, a call of `all`,
 * `all_settled` or `group`, a `map`'s callee, a `for_each`'s generator), every function
 * started by a `start` whose handle is cancelled (its AbortController's signal), and, since a
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
  // A function started and then cancelled takes its caller's AbortController's signal,
  // the way a cancellable fetch does: Task.cancel() throws into whatever the task awaits.
  for (const steps of [...(ir.functions ?? []).map((fn) => fn.body), ir.main ?? []]) {
    for (const callee of cancelledCallees(steps)) add(callee);
  }
  while (pending.length > 0) visit(byName.get(pending.pop()).body, true);
  return taking;
}

/**
 * The callees of the `start` steps of one function whose handle a `cancel` of the same
 * function cancels: the start hands them an AbortController's signal (idioms.mjs
 * `startLines`).
 *
 * @param {object[]} steps a function's body.
 * @returns {string[]} IR names (operations included).
 */
function cancelledCallees(steps) {
  const cancelled = new Set();
  forEachStep(steps, (step) => {
    if (step.step === "cancel") cancelled.add(step.handle);
  });
  const callees = [];
  forEachStep(steps, (step) => {
    if (step.step === "start" && cancelled.has(step.bind)) callees.push(step.call.callee);
  });
  return callees;
}

/**
 * The steps that hand a deadline signal on to what they call (operations included): the
 * waits asyncio.timeout cancels with the task. A start, a race's or an any's calls are
 * other tasks, which it leaves running.
 */
const SIGNAL_STEPS = new Set(["await", "all", "all_settled", "group", "map", "for_each"]);

/** The callees a step hands a deadline signal to (operations included). */
function signalCallees(step) {
  return SIGNAL_STEPS.has(step.step) ? stepCallees(step) : [];
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
 * The comment above a timeout's deadline, in both compilers. It must not say async or
 * await: js-promise programs carry neither word anywhere.
 */
export const TIMEOUT_COMMENT = "// The deadline: AbortSignal.timeout's shape on the virtual clock; every wait in the block takes its signal.";

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
 * The program's helper functions, each declared (once, above the scenario functions)
 * only if a program uses it: `sleep` and `abortable` for waits under a deadline, and
 * `inSettleOrder` for as_completed. Their names, and their parameters' and locals', are
 * fresh in the program scope, so that none shadows a scenario name.
 */
export class ProgramHelpers {
  /** @param {Scope} root the program scope. */
  constructor(root) {
    /** @type {string} */
    this.sleep = root.fresh("sleep");
    /** @type {string} */
    this.abortable = root.fresh("abortable");
    /** @type {string} */
    this.inSettleOrder = root.fresh("inSettleOrder");
    /** @type {Set<string>} which helpers the program uses: "sleep", "abortable", "inSettleOrder". */
    this.used = new Set();
    const locals = root.child();
    this.locals = {
      ms: locals.fresh("ms"),
      signal: locals.fresh("signal"),
      onAbort: locals.fresh("onAbort"),
      timer: locals.fresh("timer"),
      promise: locals.fresh("promise"),
      promises: locals.fresh("promises"),
      fills: locals.fresh("fills"),
      slots: locals.fresh("slots"),
      slot: locals.fresh("slot"),
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
   * The calls of an as_completed step in the order they settle, as asyncio.as_completed
   * yields them: `inSettleOrder([a(), b()])`, an array whose n-th promise settles as the
   * n-th call to settle did.
   *
   * @param {string[]} calls the call expressions.
   * @returns {string}
   */
  inSettleOrderCall(calls) {
    this.used.add("inSettleOrder");
    return `${this.inSettleOrder}([${calls.join(", ")}])`;
  }

  /**
   * The declarations of the helpers used, in a fixed order, each preceded by its comment.
   *
   * @returns {string[]} lines, with an empty line after each declaration.
   */
  lines() {
    const { ms, signal, onAbort, timer, promise, promises, fills, slots, slot } = this.locals;
    const out = [];
    if (this.used.has("sleep")) {
      out.push(
        "// A sleep an AbortSignal cuts short (a deadline, a cancel): it rejects with signal.reason, as an aborted fetch does.",
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
    if (this.used.has("inSettleOrder")) {
      // Promise.race over the pending calls is not this: of calls already settled when it
      // is called, it takes the first in its list, not the first to settle.
      out.push(
        "// The promises in the order they settle, as asyncio.as_completed yields them: the n-th",
        "// settles as the n-th of them to settle did. A slot the caller never awaits reports nothing.",
        `function ${this.inSettleOrder}(${promises}) {`,
        `  const ${fills} = [];`,
        `  const ${slots} = ${promises}.map(() => new Promise((resolve, reject) => ${fills}.push({ resolve, reject })));`,
        `  for (const ${promise} of ${promises}) {`,
        `    ${promise}.then((value) => ${fills}.shift().resolve(value), (error) => ${fills}.shift().reject(error));`,
        "  }",
        `  for (const ${slot} of ${slots}) ${slot}.catch(() => {});`,
        `  return ${slots};`,
        "}",
        "",
      );
    }
    return out;
  }
}

/** Comments above a wait under a deadline whose work goes on. None says async or await. */
const ABORTABLE_COMMENTS = {
  handle: "// The AbortSignal ends this wait; the started call itself runs on (Python cancels a task it awaits).",
  race: "// The AbortSignal ends this wait; the calls run on, as asyncio.wait leaves its tasks running.",
  over: "// The AbortSignal ends this wait; the started calls run on (Python's gather cancels the tasks it awaits).",
  put: "// The AbortSignal ends this wait; the put stays in the queue's line (asyncio's is withdrawn).",
  get: "// The AbortSignal ends this wait; the get stays in the queue's line and takes a later value (asyncio's is withdrawn).",
  open: "// The AbortSignal ends this wait; the open goes on (asyncio's is cancelled) and its handle is never closed.",
  wait_event: "// The AbortSignal ends this wait; the event is left as it is (asyncio's wait is withdrawn).",
  join: "// The AbortSignal ends this wait; the queue is left as it is (asyncio's join is withdrawn).",
  shield: "// The AbortSignal ends this wait; the shielded call runs on, as asyncio.shield keeps it running.",
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
 * @param {object} step an await, all, race, all_settled, any, group, sleep, put, get, join or wait_event step.
 * @param {string | null} signal the deadline's AbortSignal expression.
 * @param {ProgramHelpers} helpers the program's helpers.
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
    case "all_settled":
      if (step.over != null && signal !== null) {
        return { ...plain, expr: helpers.abortableCall(jsFanOut(step), signal), comment: ABORTABLE_COMMENTS.over };
      }
      if (step.step === "all") return { ...plain, expr: jsFanOut(step, signal) };
      return {
        ...plain,
        expr: jsFanOut(step, signal),
        check: signal === null ? null : `${signal}.throwIfAborted(); ${SETTLED_CHECK_COMMENT}`,
      };
    case "group":
      return { ...plain, expr: jsFanOut(step, signal) };
    case "race":
    case "any":
      if (signal === null) return { ...plain, expr: jsFanOut(step) };
      return { ...plain, expr: helpers.abortableCall(jsFanOut(step), signal), comment: ABORTABLE_COMMENTS.race };
    case "shield": {
      // The call never takes the signal: only the wait ends at the deadline.
      const promise = step.call ? jsCall(step.call) : camelCase(step.handle);
      if (signal === null) return { ...plain, expr: promise };
      return { ...plain, expr: helpers.abortableCall(promise, signal), comment: ABORTABLE_COMMENTS.shield };
    }
    case "sleep":
      return { ...plain, expr: signal === null ? jsSleep(step.ms) : helpers.sleepCall(step.ms, signal) };
    case "wait_event":
      if (signal === null) return { ...plain, expr: jsEventCall(step) };
      return { ...plain, expr: helpers.abortableCall(jsEventCall(step), signal), comment: ABORTABLE_COMMENTS.wait_event };
    case "put":
    case "get":
    case "join":
      if (signal === null) return { ...plain, expr: jsQueueCall(step) };
      return { ...plain, expr: helpers.abortableCall(jsQueueCall(step), signal), comment: ABORTABLE_COMMENTS[step.step] };
    default:
      throw new Error(`internal: ${step.step} is not a wait of awaitedParts`);
  }
}

/**
 * The promise a `task_group` step waits for once its body has run: `Promise.all` of the
 * array `tasks`; under a deadline, a wait the deadline ends while the calls run on (as
 * for a race: JavaScript cannot cancel them). See `awaitedParts`.
 *
 * @param {string} tasks the array's name.
 * @param {string | null} signal
 * @param {ProgramHelpers} helpers
 * @returns {{expr: string, comment: string | null}}
 */
export function taskGroupParts(tasks, signal, helpers) {
  const all = `Promise.all(${tasks})`;
  if (signal === null) return { expr: all, comment: null };
  return { expr: helpers.abortableCall(all, signal), comment: ABORTABLE_COMMENTS.race };
}

/**
 * The promise a `using` step opens its resource with, under a deadline or not; see
 * `awaitedParts`.
 *
 * @param {object} step the using step.
 * @param {string | null} signal
 * @param {ProgramHelpers} helpers
 * @returns {{expr: string, comment: string | null}}
 */
export function openParts(step, signal, helpers) {
  if (signal === null) return { expr: jsResourceOpen(step), comment: null };
  return { expr: helpers.abortableCall(jsResourceOpen(step), signal), comment: ABORTABLE_COMMENTS.open };
}
