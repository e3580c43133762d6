/**
 * The `js-promise` compiler: scenario functions as plain functions returning promise
 * chains (`.then`, `.catch`, `.finally`), with no `async` or `await` keyword.
 *
 * The scheme: a step list compiles in continuation-passing style. Steps that do not
 * wait (log, start, set, cancel, throw, return, and if/repeat/try made only of such steps) stay
 * plain statements (`if`, `for`, `try`/`catch`, which catch synchronously as in the
 * js-async); a step that waits ends the statement list with
 * `return <promise>.then((x) => { rest })`. Each step's rendering is its entry in
 * `RENDERINGS`.
 * - `if` with waiting branches and steps after it: the steps after become a local
 *   function `const afterIf = () => ...` that each branch calls last; but when one
 *   branch always leaves (an early return or throw) and the other never waits, the
 *   steps after simply follow the if, as written by hand (one stack frame per level of
 *   a recursion through them, not two).
 * - `repeat` and `while` with a waiting body: a local recursive function
 *   `const loop = (attempt) => { if (attempt < n) { body; return loop(attempt + 1); } rest }`
 *   (`const loop = () => { if (cond) { body; return loop(); } rest }`); `continue` is
 *   `return loop(attempt + 1); // continue`, and `break` `return afterLoop(); // break`,
 *   the steps after the loop being a local continuation. A body that never waits is a
 *   native `for` or `while`, with `break;` and `continue;`.
 * - `try` with waiting steps: `body.catch(...).finally(...)`, then the steps after in
 *   a `.then`. When every branch of the try ends by binding the one name the steps
 *   after read, the value flows down the chain: `f().catch(...).then((data) => ...)`.
 *   Where the body always leaves, the steps after go into the catch (restIntoCatch; in
 *   a loop, the next round ends the catch); where the catch always leaves, they are the
 *   first callback of `.then(rest, onError)`; a `return x` after a try with a finally
 *   moves into it (returnIntoTry). Otherwise a `return` inside such a try must skip the
 *   steps after: it resolves to a completion object `{ value }`, which the `.then`
 *   after the try checks first.
 * - A `try` whose body never waits (but whose catch or finally does) is a plain `try`
 *   statement, so that its catch starts at once, as js-async's does; the
 *   catch's waits chain inside the catch block, and a finally that waits is a local
 *   function `finallyBlock` run before whatever leaves the try (compileSyncBodyTry).
 * - `timeout`: the deadline, an AbortController a timer aborts with TimeoutError
 *   (deadlines.mjs "Timeouts"), then the block with every wait taking its signal, then
 *   `.finally(() => clearTimeout(timer))` and the steps after in a `.then`; a block
 *   longer than one chain is a local function `const timedBlock = () => ...`.
 * - `map` with a limit: `const semaphore = world.semaphore(2);` then
 *   `return Promise.all(items.map((item) => semaphore.use(() => f(item)))).then(...)`;
 *   `put` / `get` on a queue: `return jobs.put(v).then(...)`, `jobs.get().then((job) => ...)`.
 * - `task_group`: `const tasks = [];`, the body (its starts pushed into the array) as a
 *   timeout's block is, then `.then(() => Promise.all(tasks))` and the steps after;
 *   `rethrow` is `throw error` (in the synchronous part `return Promise.reject(error)`).
 * - `set`, `cancel` and a cancellable `start` (an AbortController made just before it)
 *   are plain statements, as in js-async.
 * - `x = await f(); return x` is `return f()`; `.then((x) => g(x).then(h))` is
 *   flattened to `.then((x) => g(x)).then(h)` when `h` does not read `x`.
 * - A name bound inside a block and read after it is a `let` declared before the
 *   block (bindings.mjs `planBindings`).
 * - Code that runs synchronously when the function is called (its "sync" part) never
 *   throws and always returns a promise: `throw` there is `return Promise.reject(...)`,
 *   `return v` is `return Promise.resolve(v)`. So the function's first operation starts
 *   synchronously, as in an async function, and errors still arrive as rejections.
 *   Where the sync part can throw by itself (deep recursion before the first wait, a
 *   map over a value that is no list), it sits in
 *   `try { ... } catch (error) { return Promise.reject(error); }`.
 * - A generator function returns `world.generator((emit) => chain)` (the runtime's async
 *   iterator over a promise-chain body) and `yield v` is `emit(v).then(...)`. A catch of
 *   every error around a yield first throws `emit.closed` on (the signal of a `return()`
 *   that a native catch never sees).
 * - `for_each`: the iterator and a local recursive consumer,
 *   `const nextTick = () => ticksIterator.next().then(({ value: tick, done }) => { if (done) ...; body; return nextTick(); })`,
 *   then `nextTick().catch((error) => ticksIterator.return().finally(() => { throw error; }))`:
 *   an error closes the generator before it goes on, as for-await does. `break` is
 *   `return ticksIterator.return();` (the close at the break, waited for, as for-await
 *   does), and `continue` `return nextTick();`; a `return` in the body closes it too,
 *   then returns. Where a break, continue or return sits in a try or using with waiting
 *   steps, it resolves to a completion (`{ break: true }`, `{ continue: true }`,
 *   `{ value }`) that the code after the try acts on, so the try's finally (the close of
 *   a resource) comes first, as in js-async.
 * - `using`: `connection.open("db").then((connectionHandle) => { const conn =
 *   connectionHandle.value; return block.finally(() => connectionHandle.close()); })`;
 *   `.finally` waits for the close, then passes the block's value or error on. Returns
 *   and breaks inside use the completions of a try.
 *
 * @module compile-promise
 */

import { Scope, camelCase, mentionedNames } from "./names.mjs";
import { stepRow } from "./ir-steps.mjs";
import {
  containsBreak, containsContinue, containsJump, containsReturn, containsStep, forEachStep, isSyncOnly, leaves,
} from "./walk.mjs";
import { bindingPrefix, planBindings } from "./bindings.mjs";
import { arrow, chain, raw, renderExpr, renderStmts, terminates } from "./code.mjs";
import { CANCELLED, catchHead, jsCall, jsCondition, jsEventCall, jsExpr, jsNewError, jsQueueNowait } from "./expressions.mjs";
import {
  AS_COMPLETED_COMMENT, CANCELLED_COMMENT, GROUP_COMMENT, TASK_GROUP_COMMENT, abortControllers, cancelLine, inSettleOrderOf, waitParts,
  letLines, mapParts, repeatCount, repeatHead, setLine, startStepLines, usingNames,
} from "./idioms.mjs";
import {
  ProgramHelpers, awaitedParts, closeCheck, deadlineLines, finallyCheck, openParts, raceDeadlineStmts, signalParam,
  taskGroupParts,
} from "./deadlines.mjs";

/**
 * One scenario function (or `main`) as a function declaration returning a promise.
 *
 * @param {string} name the function's JavaScript name.
 * @param {string[]} params the IR parameter names.
 * @param {object[]} steps the IR steps.
 * @param {Scope} root the program scope (every scenario name).
 * @param {{generator?: boolean}} [options] `generator`: a function returning
 *   `world.generator((emit) => ...)`.
 * @returns {string[]} the lines of the declaration.
 */
export function promiseFunction(name, params, steps, root, options = {}) {
  const { generator = false, takesSignal = false } = options;
  if (!generator) steps = restIntoCatch(steps);
  const plan = planBindings(steps, params, { carry: true });
  const carriedFinal = new Set();
  for (const [tryStep, carried] of plan.carried) {
    for (const branch of [tryStep.body, tryStep.catch?.body]) {
      const last = branch?.[branch.length - 1];
      if (last && last.bind === carried) carriedFinal.add(last);
    }
  }
  const scope = root.child();
  const cx = {
    plan, carriedFinal, controllers: abortControllers(steps, scope), emit: null,
    helpers: options.helpers ?? new ProgramHelpers(root.child()),
    queueCannotFail: options.queueCannotFail ?? (() => false),
  };
  const signal = takesSignal ? scope.fresh("signal") : null;
  const paramList = [...params.map(camelCase), ...(signal === null ? [] : [signalParam(signal)])].join(", ");
  const head = `function ${name}(${paramList}) {`;
  if (generator) {
    // The body runs at the first next(): a function of its own, whose value nobody reads.
    cx.emit = scope.fresh("emit");
    const body = compileSteps(steps, 0, { mode: "discard", sync: true, reject: true, tail: END, signal }, scope.child(), cx);
    const param = containsStep(steps, "yield") ? cx.emit : "";
    const stmt = { t: "block", open: `return world.generator((${param}) => {`, body, close: "});" };
    return [head, ...renderStmts([stmt], 1), "}"];
  }
  const body = compileSteps(steps, 0, { mode: "function", sync: true, reject: true, tail: END, signal }, scope, cx);
  // What can throw in the synchronous part: deep recursion before the first wait (a
  // stack overflow: walk.mjs syncRecursiveFunctions), a map over a value that is not a
  // list. There it is caught and returned as a rejection, as an async function's error
  // is, so that the call never throws and the caller's next steps still run. (Throw
  // steps there are rejections already.)
  const risks = [
    ...(options.recursive ? ["a stack overflow in deep recursion"] : []),
    ...(cx.syncMap ? ["a map over a value that is no list"] : []),
    ...(cx.syncQueue ? ["a queue's error"] : []),
  ];
  if (risks.length === 0) return [head, ...renderStmts(body, 1), "}"];
  const error = scope.child().fresh("error");
  const guarded = {
    t: "try",
    body,
    param: error,
    catch: [
      line(`// An error of the synchronous part (${risks.join(", ")}) is a rejection: the call never throws.`),
      ret(`Promise.reject(${error})`),
    ],
    finally: null,
  };
  return [head, ...renderStmts([guarded], 1), "}"];
}

// What happens when a step list runs off its end:
// END: the list's value is undefined (in sync code: `return Promise.resolve();`);
// FALL: plain fall-through into the next statement (lists of plain statements only);
// {t: "call", text}: `return <text>;` (the continuation of an if, the next loop round);
// {t: "stmt", text}: the statement `<text>` last, then the list's value is undefined (the
// check of the deadline's signal at the end of a finally block that waits).
const END = { t: "end" };
const FALL = { t: "fall" };

const line = (text, hoistable = false) => ({ t: "line", text, hoistable });
const ret = (expr) => ({ t: "return", expr: typeof expr === "string" ? raw(expr) : expr });
const shortIf = (cond, text) => ({ t: "if", cond, then: [line(text)], else: null, short: true });

/**
 * Compiles `steps[from..]`.
 *
 * `k.mode` says what a `return` step means: "function" (return the value),
 * "completion" (inside a try whose continuation must be skipped: resolve to
 * `{ value }`), "discard" (no return inside, and the list's value is not used).
 * `k.sync`: this code runs in the function's synchronous part (see the module doc), so
 * it must return a promise; `k.reject`: a throw here must become a rejection (in the
 * synchronous part, except inside a plain try that catches it).
 * `k.tail`: END, FALL or a continuation call.
 * `k.brk`, `k.cont`: what a `break` and a `continue` step are, inside a loop:
 * `{kind: "jump", text}` (directly in the loop's body: `return <text>;`, the generator's
 * return(), the steps after the loop, the next round), `{kind: "native"}` (in a native
 * `for` or `while`: `break;`, `continue;`) or `{kind: "completion"}` (inside a try or
 * using that waits: resolve to `{ break: true }`, `{ continue: true }`); absent outside
 * loops. `k.closeFirst`: the iterator a `return` step closes first (in a for_each's
 * body), or absent.
 */
function compileSteps(steps, from, k, scope, cx) {
  const out = [];
  const lets = cx.plan.before.get(steps);
  for (let i = from; i < steps.length; i += 1) {
    for (const text of letLines(lets?.get(i), cx.controllers)) out.push(line(text, true));
    if (!Object.hasOwn(RENDERINGS, steps[i].step)) throw new TypeError(`unknown step ${JSON.stringify(steps[i].step)}`);
    if (RENDERINGS[steps[i].step](steps, i, k, scope, cx, out)) return out;
  }
  if (k.tail.t === "end" && k.sync && !terminates(out)) out.push(ret("Promise.resolve()"));
  if (k.tail.t === "call" && !terminates(out)) out.push(ret(k.tail.text));
  if (k.tail.t === "stmt" && !terminates(out)) {
    out.push(line(k.tail.text));
    if (k.sync) out.push(ret("Promise.resolve()"));
  }
  return out;
}

/** Pushes `stmts` onto `out`; the steps after come next (see RENDERINGS). */
function goesOn(out, stmts) {
  out.push(...stmts);
  return false;
}

/** Pushes `stmts` onto `out`, which render the steps after as well: the list ends here. */
function endsList(out, stmts) {
  out.push(...stmts);
  return true;
}

/** A step that waits, and everything after it. */
const wait = (steps, i, k, scope, cx, out) => endsList(out, compileWait(steps, i, k, scope, cx, out));

/**
 * The rendering of each step of the table: `(steps, i, k, scope, cx, out)` pushes the
 * statements of `steps[i]` onto `out`, and returns true when they render the steps after
 * it too (a wait's `.then`, a throw, a try that waits), so that the list ends there. A
 * new step is one entry here (tests/javascript/ir-steps.test.mjs checks that every step
 * of the table has one).
 */
export const RENDERINGS = Object.freeze({
  await: wait,
  start: (steps, i, k, scope, cx, out) => {
    const texts = startStepLines(
      steps[i], bindingPrefix(steps[i], cx.plan), cx.controllers, cx.groups, cx.plan.uses, !cx.plan.cancelOnly.has(steps[i].bind),
    );
    return goesOn(out, texts.map((text) => line(text, true)));
  },
  return: (steps, i, k, scope, cx, out) => endsList(out, returnValue(k, steps[i].value == null ? "null" : jsExpr(steps[i].value))),
  throw: (steps, i, k, scope, cx, out) => {
    const error = jsNewError(steps[i]);
    return endsList(out, k.reject ? rejectStmts(k, error) : [line(`throw ${error};`)]);
  },
  try: (steps, i, k, scope, cx, out) => {
    if (isSyncOnlyTry(steps[i])) return goesOn(out, [nativeTry(steps[i], k, scope, cx)]);
    if (syncBodyTry(steps[i], k) !== null) return endsList(out, compileSyncBodyTry(steps, i, k, scope, cx));
    return endsList(out, compileTry(steps, i, k, scope, cx));
  },
  sleep: wait,
  log: (steps, i, k, scope, cx, out) => goesOn(out, [line(`log(${jsExpr(steps[i].message)});`, true)]),
  all: wait,
  race: wait,
  if: (steps, i, k, scope, cx, out) => {
    if (isSyncOnly([steps[i]])) return goesOn(out, [ifStmt(steps[i], { ...k, tail: FALL }, scope, cx)]);
    return endsList(out, compileIf(steps, i, k, scope, cx));
  },
  repeat: (steps, i, k, scope, cx, out) => {
    if (!isSyncOnly(steps[i].body)) return endsList(out, compileLoop(steps, i, k, scope, cx));
    const inner = scope.child();
    const { head } = repeatHead(steps[i], inner);
    return goesOn(out, [{ t: "for", head, body: compileSteps(steps[i].body, 0, nativeLoop(k), inner, cx) }]);
  },
  all_settled: wait,
  any: wait,
  timeout: (steps, i, k, scope, cx, out) => endsList(out, compileTimeout(steps, i, k, scope, cx)),
  group: wait,
  set: (steps, i, k, scope, cx, out) => goesOn(out, [line(setLine(steps[i], bindingPrefix(steps[i], cx.plan)), true)]),
  cancel: (steps, i, k, scope, cx, out) => goesOn(out, [line(cancelLine(steps[i], cx.controllers), true)]),
  now: (steps, i, k, scope, cx, out) => goesOn(out, [line(`${bindingPrefix(steps[i], cx.plan)}world.now();`, true)]),
  map: wait,
  put: wait,
  get: wait,
  put_nowait: (steps, i, k, scope, cx, out) => goesOn(out, queueNowait(steps[i], k, cx)),
  get_nowait: (steps, i, k, scope, cx, out) => goesOn(out, queueNowait(steps[i], k, cx)),
  task_done: (steps, i, k, scope, cx, out) => goesOn(out, queueNowait(steps[i], k, cx)),
  join: wait,
  shutdown: (steps, i, k, scope, cx, out) => goesOn(out, [line(`${jsQueueNowait(steps[i])};`, true)]),
  set_event: (steps, i, k, scope, cx, out) => goesOn(out, [line(`${jsEventCall(steps[i])};`, true)]),
  clear_event: (steps, i, k, scope, cx, out) => goesOn(out, [line(`${jsEventCall(steps[i])};`, true)]),
  wait_event: wait,
  is_set: (steps, i, k, scope, cx, out) => goesOn(out, [line(`${bindingPrefix(steps[i], cx.plan)}${jsEventCall(steps[i])};`, true)]),
  hold: (steps, i, k, scope, cx, out) => endsList(out, compileHold(steps, i, k, scope, cx)),
  yield: wait,
  for_each: (steps, i, k, scope, cx, out) => endsList(out, compileForEach(steps, i, k, scope, cx)),
  break: (steps, i, k, scope, cx, out) => endsList(out, [jumpStmt(k, "break")]),
  using: (steps, i, k, scope, cx, out) => endsList(out, compileUsing(steps, i, k, scope, cx)),
  while: (steps, i, k, scope, cx, out) => {
    if (!isSyncOnly(steps[i].body)) return endsList(out, compileLoop(steps, i, k, scope, cx));
    const body = compileSteps(steps[i].body, 0, nativeLoop(k), scope.child(), cx);
    return goesOn(out, [{ t: "block", open: `while (${jsCondition(steps[i].condition)}) {`, body, close: "}" }]);
  },
  continue: (steps, i, k, scope, cx, out) => endsList(out, [jumpStmt(k, "continue")]),
  rethrow: (steps, i, k, scope, cx, out) => {
    const error = camelCase(steps[i].error);
    return endsList(out, k.reject ? rejectStmts(k, error) : [line(`throw ${error};`)]);
  },
  task_group: (steps, i, k, scope, cx, out) => endsList(out, compileTaskGroup(steps, i, k, scope, cx)),
  shield: wait,
  as_completed: (steps, i, k, scope, cx, out) => endsList(out, compileAsCompleted(steps, i, k, scope, cx)),
  wait: (steps, i, k, scope, cx, out) => endsList(out, compileWaitFor(steps, i, k, scope, cx, out)),
});

/**
 * A wait step (asyncio.wait) and everything after it: the calls recorded as they settle,
 * then the wait for what `until` names, whose `.then` gives the bound value to the rest
 * (waitStmts). The statements before the chain are hoistable, as a map's are.
 */
function compileWaitFor(steps, i, k, scope, cx, out) {
  const step = steps[i];
  const { comment, declare, wait, value } = waitParts(step, scope, k.signal ?? null, cx.helpers);
  const head = step.bind && !cx.plan.unread.has(step.bind) ? `${wait}.then(() => (${value}))` : wait;
  return [line(comment, true), ...declare.map((text) => line(text, true)), ...waitStmts(steps, i, k, scope, cx, out, head, null)];
}

/** The continuation of the body of a native loop (`for`, `while`: a body that never waits). */
function nativeLoop(k) {
  return { ...k, tail: FALL, brk: { kind: "native" }, cont: { kind: "native" } };
}

/** Whether a repeat runs a fixed number of rounds, at least one (not a computed count). */
function fixedRounds(step) {
  return typeof step.times === "number" && step.times > 0;
}

/**
 * An as_completed step and everything after it, as a repeat that waits is (compileLoop):
 * the calls in the order they settle (`inSettleOrder`), then a local recursive function
 * that, while some are left, takes the next, runs the block with its value and calls
 * itself again; then the steps after.
 *
 *     const pending = inSettleOrder([a(), b()]);
 *     const nextSettled = () => {
 *       if (pending.length > 0) {
 *         return pending.shift().then((value) => { body; return nextSettled(); });
 *       }
 *       rest
 *     };
 *     return nextSettled();
 */
function compileAsCompleted(steps, i, k, scope, cx) {
  const step = steps[i];
  const pending = scope.fresh("pending");
  const loop = scope.fresh("nextSettled");
  const inner = scope.child();
  const next = `${pending}.shift()`;
  const wait = k.signal == null ? next : cx.helpers.abortableCall(next, k.signal);
  if (step.bind) inner.names.add(camelCase(step.bind));
  const body = compileSteps(step.body, 0, { ...inCallback(k), tail: { t: "call", text: `${loop}()` } }, inner.child(), cx);
  const round = chain(raw(wait), [then(step.bind ? [camelCase(step.bind)] : [], body)]);
  const after = compileSteps(steps, i + 1, inCallback(k), scope.child(), cx);
  const fn = arrow([], [{ t: "if", cond: `${pending}.length > 0`, then: [ret(round)], else: null }, ...after]);
  return [
    line(AS_COMPLETED_COMMENT, true),
    line(`const ${pending} = ${inSettleOrderOf(step, cx.helpers)};`, true),
    { t: "const", name: loop, expr: fn, hoistable: true },
    ret(`${loop}()`),
  ];
}

/**
 * A task_group step and everything after it: an array the body's starts push their
 * calls into (groupPushLines), the body (plain statements when it never waits, else its
 * chain, as a timeout's block), then `Promise.all(tasks)` and the steps after in a
 * `.then`. The body has no return (the loader guarantees it), so its value is discarded;
 * names it binds for the steps after are declared before it (planBindings).
 */
function compileTaskGroup(steps, i, k, scope, cx) {
  const step = steps[i];
  const tasks = scope.fresh("tasks");
  const out = [line(TASK_GROUP_COMMENT, true), line(`const ${tasks} = [];`, true)];
  const { expr, comment } = taskGroupParts(tasks, k.signal ?? null, cx.helpers);
  cx.groups = [...(cx.groups ?? []), tasks];
  let head;
  if (isSyncOnly(step.body)) {
    out.push(...compileSteps(step.body, 0, { ...k, tail: FALL }, scope, cx));
    head = raw(expr);
  } else {
    const blockK = { mode: "discard", sync: true, reject: true, tail: END, signal: k.signal ?? null };
    const blockExpr = liftBlock(compileSteps(step.body, 0, blockK, scope, cx), "groupBody", out, scope);
    head = chain(blockExpr, [then([], [ret(expr)])]);
  }
  cx.groups = cx.groups.slice(0, -1);
  if (comment) out.push(line(comment));
  const links = [];
  if (i === steps.length - 1 && k.tail.t === "end") {
    if (k.mode !== "discard") links.push(then([], [ret("undefined")]));
  } else {
    links.push(...thenChain(raw(""), null, compileSteps(steps, i + 1, inCallback(k), scope.child(), cx)).links);
  }
  out.push(ret(links.length ? chain(head, links) : head));
  return out;
}

/**
 * A queue step that does not wait (put_nowait, get_nowait, task_done): one statement.
 * Its error (QueueFull, QueueEmpty, QueueShutDown, task_done's ValueError) is thrown
 * synchronously; in the synchronous part of a function, outside a try that catches,
 * it is one of the risks the function's guard turns into a rejection (see
 * promiseFunction), as an async function's error is. A put_nowait into an unbounded queue that no step shuts down cannot fail.
 */
function queueNowait(step, k, cx) {
  // As a throw step's: a throw where `k.reject` is false is caught by the try around it.
  if (k.sync && k.reject && !(step.step === "put_nowait" && cx.queueCannotFail(step.queue))) cx.syncQueue = true;
  return [line(`${bindingPrefix(step, cx.plan)}${jsQueueNowait(step)};`, true)];
}

/**
 * Whether running a step list can reach its end without waiting, i.e. synchronously
 * (conservative: true when unsure). When it cannot, whatever runs after the list
 * (an if's continuation, the steps after a loop) only ever runs in a callback.
 */
function canEndSync(steps) {
  for (const step of steps) {
    switch (step.step) {
      case "timeout":
        // A block that never waits is a plain try/finally; the steps after follow at once.
        if (!isSyncOnly(step.body)) return false;
        break;
      case "if":
        if (!canEndSync(step.then ?? []) && !canEndSync(step.else ?? [])) return false;
        break;
      case "repeat":
        // A computed count may be 0, and a break or continue may end a round before its first wait.
        if (fixedRounds(step) && !isSyncOnly(step.body) && !canEndSync(step.body) && !containsJump(step.body)) return false;
        break;
      case "try":
        // A try whose body never waits ends its normal path at once when it has no
        // finally that waits (compileSyncBodyTry); a try that waits continues in the
        // `.then` after its chain.
        if (!isSyncOnlyTry(step) && syncBodyTry(step, null) !== "catch") return false;
        break;
      default:
        // A step that waits (the table's `waits: true`) or leaves.
        if (leaves(step) || stepRow(step)?.waits === true) return false;
    }
  }
  return true;
}

/** The same continuation, for code in a `.then`/`.catch` callback. */
function inCallback(k) {
  return { ...k, sync: false, reject: false };
}

/**
 * A try made only of steps that do not wait: a plain try statement, which catches
 * synchronously as js-async's does. In the synchronous part a throw inside
 * its body is a real throw (the catch is right there); one leaving it is a rejection.
 */
function nativeTry(step, k, scope, cx) {
  // A finally that may leave (return, throw) replaces whatever the body or the catch did:
  // there their errors are plain throws, for a rejected promise they returned would be
  // dropped unhandled. Where the finally may also end normally, a throw then goes on out
  // of the try, which in the synchronous part a catch around it turns into a rejection.
  const fin = live(step.finally);
  const mayLeave = step.finally != null && (containsReturn(fin) || containsStep(fin, "throw") || containsStep(fin, "rethrow"));
  const fall = mayLeave ? { ...k, tail: FALL, reject: false } : { ...k, tail: FALL };
  const stmt = {
    t: "try",
    body: compileSteps(step.body, 0, step.catch ? { ...fall, reject: false } : fall, scope.child(), cx),
    param: null,
    catch: null,
    finally: null,
  };
  if (step.catch) {
    const inner = scope.child();
    const { param, lead, filter } = catchHead(step.catch, inner);
    stmt.param = param;
    stmt.catch = [
      ...(step.catch.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []),
      ...lead.map((text) => line(text)),
      ...(filter ? [leaveIf(filter, fall.reject ? rejectStmts(k, param) : [line(`throw ${param};`)])] : []),
      ...compileSteps(step.catch.body, 0, fall, inner, cx),
    ];
  }
  if (step.finally) stmt.finally = compileSteps(step.finally, 0, { ...k, tail: FALL }, scope.child(), cx);
  if (!mayLeave || !k.reject || alwaysExits(fin)) return stmt;
  const error = scope.child().fresh("error");
  return { t: "try", body: [stmt], param: error, catch: rejectStmts(k, error), finally: null };
}

/**
 * Which rendering a try whose body never waits (but whose catch or finally does) gets
 * (compileSyncBodyTry), or null for the chain of compileTry:
 * - "catch": a catch that waits and no finally;
 * - "finally": a finally (with no return in it), and a catch or not; a return or throw
 *   leaving the try runs the finally first.
 * A try holding a break is never one (see isSyncOnly), nor, directly in a for_each's
 * callback (`k.closeFirst`), one with a return and a finally.
 *
 * @param {object} step the try step.
 * @param {object | null} k the continuation (null: answer as if no return closed a loop).
 * @returns {"catch" | "finally" | null}
 */
function syncBodyTry(step, k) {
  if (!isSyncOnly(live(step.body)) || containsJump([step]) || isSyncOnlyTry(step)) return null;
  if (step.finally == null) return "catch";
  if (containsReturn(step.finally) || containsJump(step.finally)) return null;
  const parts = [live(step.body), live(step.catch?.body)];
  const returns = parts.some((steps) => containsReturn(steps));
  if (returns && k?.closeFirst) return null;
  // A return inside a try nested here would run that try's finally after this one's.
  if (returns && parts.some((steps) => nestedTryReturns(steps))) return null;
  return "finally";
}

/**
 * The steps of a list that can run: up to its first return, throw or break (the steps
 * after one are dead, and compileSteps stops there).
 */
function live(steps) {
  const end = (steps ?? []).findIndex(leaves);
  return end < 0 ? steps ?? [] : steps.slice(0, end + 1);
}

/**
 * Whether a try is made only of steps that do not wait, dead steps not counted: a plain
 * try statement (nativeTry).
 */
function isSyncOnlyTry(step) {
  return !containsJump([step]) && isSyncOnly(live(step.body)) && isSyncOnly(live(step.catch?.body))
    && isSyncOnly(live(step.finally));
}

/** Whether a step list holds a try with a finally that holds a return. */
function nestedTryReturns(steps) {
  let found = false;
  forEachStep(steps, (inner) => {
    if (inner.step === "try" && inner.finally != null && containsReturn([inner])) found = true;
  });
  return found;
}

/**
 * The statements of a throw of `error` leaving code that must return a promise: a
 * returned rejection; in a try whose finally runs first (`k.finallyFirst`, see
 * compileSyncBodyTry), after the finally.
 */
function rejectStmts(k, error) {
  const fin = k.finallyFirst;
  if (!fin) return [ret(`Promise.reject(${error})`)];
  if (fin.plain) return [line(`${fin.name}();`), ret(`Promise.reject(${error})`)];
  return [ret(`${fin.name}().then(() => Promise.reject(${error}))`)];
}

/** `if (cond) <stmts>`, on one line when it is one statement. */
function leaveIf(cond, stmts) {
  if (stmts.length === 1) return { t: "if", cond, then: stmts, else: null, short: true };
  return { t: "if", cond, then: stmts, else: null };
}

/**
 * A try whose body never waits, and everything after it: what a careful developer
 * writes, a plain `try` statement, so that the body's error is caught at once and the
 * catch (or the finally) starts right away, as in js-async, where a chain's
 * `.catch` and `.finally` would run a microtask later.
 *
 * "catch" (see syncBodyTry): the catch's waits chain inside the catch block; the steps
 * after the try follow it, or, when the catch can go on after waiting, are a local
 * continuation both paths call:
 *
 *     const afterTry = () => rest;
 *     try {
 *       body;
 *     } catch (error) {
 *       if (!(error instanceof IOError)) return Promise.reject(error);
 *       return fallback().then(() => afterTry());
 *     }
 *     return afterTry();
 *
 * "finally": the finally is a local function, run after the body, after the catch, or
 * before the error goes on:
 *
 *     const finallyBlock = () => cleanUp();
 *     try {
 *       body;
 *     } catch (error) {
 *       return finallyBlock().then(() => Promise.reject(error));
 *     }
 *     return finallyBlock().then(() => rest);
 */
function compileSyncBodyTry(steps, i, k, scope, cx) {
  const step = steps[i];
  const kind = syncBodyTry(step, k);
  const out = [];
  const stmt = {
    t: "try",
    body: compileSteps(step.body, 0, { ...k, tail: FALL, reject: false }, scope.child(), cx),
    param: null,
    catch: null,
    finally: null,
  };
  const inner = scope.child();
  const { param, lead, filter } = catchHead(step.catch ?? { kinds: [] }, inner);
  stmt.param = param;
  const cancelled = [
    ...(step.catch?.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []), ...lead.map((text) => line(text)),
  ];
  const rest = i < steps.length - 1;
  if (kind === "catch") {
    let after;
    let catchK = k;
    if (rest && !alwaysExits(step.catch.body)) {
      const cont = scope.fresh("afterTry");
      out.push({ t: "const", name: cont, expr: arrow([], compileSteps(steps, i + 1, k, scope.child(), cx)), hoistable: true });
      catchK = { ...k, tail: { t: "call", text: `${cont}()` } };
      after = [ret(`${cont}()`)];
    } else {
      // The steps after (or, with none, the list's own end: its tail) follow the try.
      after = compileSteps(steps, i + 1, k, scope, cx);
    }
    stmt.catch = [
      ...cancelled,
      ...(filter ? [shortIf(filter, k.reject ? `return Promise.reject(${param});` : `throw ${param};`)] : []),
      ...compileSteps(step.catch.body, 0, catchK, inner, cx),
    ];
    // Nothing follows a try statement that returns on every path.
    out.push(stmt, ...(terminates([stmt]) ? [] : after));
    return out;
  }
  // "finally": the finally as a local function, run before the steps after, or before
  // an error or a return goes on (`finallyFirst`). It returns its promise; a finally that
  // neither waits nor throws is plain statements (beside a catch that waits, the only
  // case where it is not a plain try), so that the steps after it follow at once.
  const plain = isSyncOnly(live(step.finally)) && !containsStep(step.finally, "throw") && !containsStep(step.finally, "rethrow");
  const fin = { name: scope.fresh("finallyBlock"), plain };
  const finK = fin.plain
    ? { mode: "discard", sync: false, reject: false, tail: FALL, signal: k.signal }
    : { mode: "discard", sync: true, reject: true, ...cleanUp(step.finally, k) };
  out.push({ t: "const", name: fin.name, expr: arrow([], compileSteps(step.finally, 0, finK, scope.child(), cx)), hoistable: true });
  stmt.body = compileSteps(step.body, 0, { ...k, tail: FALL, reject: false, finallyFirst: fin }, scope.child(), cx);
  const leave = { ...k, tail: FALL, reject: true, finallyFirst: fin };
  const rethrow = rejectStmts(leave, param);
  // After the finally: the steps after, in a callback of its promise, or at once.
  let restBody = compileSteps(steps, i + 1, fin.plain ? k : inCallback(k), scope.child(), cx);
  if (!step.catch) {
    stmt.catch = rethrow;
  } else if (isSyncOnly(live(step.catch.body))) {
    // A catch that never waits falls through to the finally after the try statement.
    stmt.catch = [
      ...cancelled,
      ...(filter ? [leaveIf(filter, rethrow)] : []),
      ...compileSteps(step.catch.body, 0, leave, inner, cx),
    ];
  } else {
    // A catch that waits: its chain, then the finally however it ended, then the steps
    // after (a local continuation, as the path without an error goes on to them too).
    if (restBody.length > 0) {
      const cont = scope.fresh("afterTry");
      out.push({ t: "const", name: cont, expr: arrow([], restBody), hoistable: true });
      restBody = [ret(`${cont}()`)];
    }
    const returns = containsReturn(step.catch.body);
    const catchK = { mode: returns ? "completion" : "discard", sync: true, reject: true, tail: END, signal: k.signal };
    const catchOut = [...cancelled, ...(filter ? [leaveIf(filter, rethrow)] : [])];
    const catchExpr = liftBlock(compileSteps(step.catch.body, 0, catchK, inner, cx), "catchBlock", catchOut, inner);
    const links = [{ method: "finally", args: [raw(fin.name)] }];
    if (returns) {
      const completion = inner.child().fresh("completion");
      links.push(then([completion], [completionCheck(k, completion, { returns: true, breaks: false }), ...restBody]));
    } else if (restBody.length > 0 || k.mode !== "discard") {
      links.push(then([], restBody));
    }
    catchOut.push(ret(chain(catchExpr, links)));
    stmt.catch = catchOut;
  }
  out.push(stmt);
  if (terminates([stmt])) return out; // the body and the catch return on every path
  if (fin.plain) {
    out.push(line(`${fin.name}();`), ...restBody);
  } else if (restBody.length === 0 && k.mode === "discard") {
    out.push(ret(`${fin.name}()`));
  } else {
    out.push(ret(thenChain(raw(`${fin.name}()`), null, restBody)));
  }
  return out;
}

/** `return v` as the mode says; see compileSteps. */
function returnValue(k, expr) {
  if (k.mode === "discard") throw new Error("internal: a return step in a block compiled as discarded");
  const value = k.mode !== "completion" ? expr : expr === "value" ? "{ value }" : `{ value: ${expr} }`;
  const fin = k.finallyFirst;
  if (fin && !fin.plain) {
    // In a try whose finally waits (compileSyncBodyTry): the finally, then the return.
    return [ret(chain(raw(`${fin.name}()`), [then([], [ret(value)])]))];
  }
  const before = fin ? [line(`${fin.name}();`)] : [];
  if (k.closeFirst) {
    // Directly in a for_each's callback: close the generator, then return (for-await does).
    return [...before, ret(chain(raw(`${k.closeFirst}.return()`), [then([], [ret(value)])]))];
  }
  return [...before, ret(k.sync ? `Promise.resolve(${value})` : value)];
}

/** A break or a continue step (`head`) as `k.brk` or `k.cont` says; see compileSteps. */
function jumpStmt(k, head) {
  const target = head === "break" ? k.brk : k.cont;
  if (!target) throw new Error(`internal: a ${head} step outside a loop`);
  if (target.kind === "native") return line(`${head};`);
  if (target.kind === "jump") return line(`return ${target.text}; // ${head}`);
  return ret(k.sync ? `Promise.resolve({ ${head}: true })` : `{ ${head}: true }`);
}

/**
 * What a block that returns, breaks or continues inside passes on, once its chain has
 * resolved to the completion `c` (truthy: a return's `{ value }`, a break's
 * `{ break: true }`, a continue's `{ continue: true }`): directly in a loop's body a
 * break and a continue jump (`k.brk`, `k.cont`: the generator's close, the steps after
 * the loop, the next round); a return closes a for_each's generator first; elsewhere a
 * return gives its value (in a function) or the completion itself (inside an enclosing
 * try), and a break or continue is the completion itself.
 */
function passOn(k, c, { returns, breaks, continues }) {
  const value = k.mode === "function" ? `${c}.value` : c;
  const options = [];
  if (breaks) options.push(["break", k.brk?.kind === "jump" ? k.brk.text : c]);
  if (continues) options.push(["continue", k.cont?.kind === "jump" ? k.cont.text : c]);
  if (returns) options.push(["value", k.closeFirst ? `${k.closeFirst}.return().then(() => ${value})` : value]);
  let text = options[options.length - 1][1];
  for (const [key, option] of options.slice(0, -1).reverse()) {
    if (option !== text) text = `${c}.${key} ? ${option} : ${text}`;
  }
  return text;
}

/**
 * The links that run the steps after a block (a try, a for_each, a using) once its chain
 * has resolved. A block that returns or breaks inside (`flags`) resolved to a completion
 * (`{ value }`, `{ break: true }`): the `.then` acts on it first, skipping the steps after
 * (completionCheck). Otherwise the steps after, in a `.then` taking `param` (the value a
 * try carries, see planBindings) and running `pre` first.
 */
function afterBlock(steps, i, k, after, cx, flags, param = null, pre = []) {
  const rest = () => compileSteps(steps, i + 1, inCallback(k), after, cx);
  if (flags.returns || flags.breaks || flags.continues) {
    const restStmts = rest();
    const only = restStmts.length === 1 && restStmts[0].t === "return" && restStmts[0].expr?.t === "raw" ? restStmts[0].expr.text : null;
    if (!flags.returns && !flags.breaks && k.cont?.kind === "jump" && only === k.cont.text) {
      // A continue goes where the round goes anyway: nothing to check.
      return [then([], restStmts)];
    }
    const completion = after.fresh("completion");
    return [then([completion], [completionCheck(k, completion, flags), ...restStmts])];
  }
  if (param) after.names.add(param);
  const body = [...pre, ...rest()];
  if (param && body.length === 1 && body[0].t === "return" && body[0].expr.t === "raw" && body[0].expr.text === param) {
    // `.then((price) => price)` does nothing: the chain already resolves to the value.
    return [];
  }
  return thenChain(raw(""), param, body).links;
}

/** `if (completion) return ...;` at the head of the steps after a block: see passOn. */
function completionCheck(k, c, flags) {
  const jumps = [["break", flags.breaks, k.brk], ["continue", flags.continues, k.cont]].filter(([, has]) => has);
  const only = !flags.returns && jumps.length === 1 && jumps[0][2]?.kind === "jump" ? jumps[0][0] : null;
  const comment = only ? ` // ${only}` : "";
  return shortIf(c, `return ${passOn(k, c, flags)};${comment}`);
}

/**
 * The continuation fields of a block compiled in `mode` inside `k` (a try's or a
 * using's): passed through when the block is direct (its chain is the list's value);
 * in completion mode a break becomes a completion and a return does not close (the code
 * after the block does that); in discard mode neither happens.
 */
function leaving(k, mode, direct) {
  if (direct) {
    // Never directly in a loop's callback, whose tail is the next round: a break there
    // must not close the generator before the block's own clean-up has run.
    if (k.closeFirst) throw new Error("internal: a direct block in a for_each's callback");
    return { brk: k.brk, cont: k.cont, closeFirst: undefined };
  }
  if (mode === "completion") {
    const completion = (target) => (target ? { kind: "completion" } : undefined);
    return { brk: completion(k.brk), cont: completion(k.cont), closeFirst: undefined };
  }
  return { brk: undefined, cont: undefined, closeFirst: undefined };
}

/**
 * A waiting step (await, all, race, all_settled, any, group, sleep, map, put, get,
 * yield) and everything after it: `return head.then((bound) => { rest })`. A group gets
 * its comment first; a map its comment and its semaphore. Under a deadline (`k.signal`)
 * the wait takes the signal (deadlines.mjs `awaitedParts`).
 */
function compileWait(steps, i, k, scope, cx, out) {
  const step = steps[i];
  // Hoistable: in a try body these may go in front of the chain, just above its head.
  if (step.step === "map") {
    const over = step.over;
    if (k.sync && !("list" in over || ("literal" in over && Array.isArray(over.literal)))) cx.syncMap = true;
    const { comment, declare: semaphore, promise } = mapParts(step, scope.fresh("semaphore"), scope.child().fresh("item"), k.signal);
    const stmts = waitStmts(steps, i, k, scope, cx, out, promise, null);
    return [line(comment, true), line(semaphore, true), ...stmts];
  }
  if (step.step === "yield") return waitStmts(steps, i, k, scope, cx, out, `${cx.emit}(${jsExpr(step.value)})`, null);
  const { expr, comment, check } = awaitedParts(step, k.signal, cx.helpers);
  const stmts = waitStmts(steps, i, k, scope, cx, out, expr, check);
  return [
    ...(step.step === "group" ? [line(GROUP_COMMENT, true)] : []),
    ...(comment ? [line(comment, true)] : []),
    ...stmts,
  ];
}

/**
 * The statements of a wait whose promise is `headText`. `check`: a statement to run
 * first when it resolves (an all_settled's `signal.throwIfAborted();`), or null.
 */
function waitStmts(steps, i, k, scope, cx, out, headText, check) {
  const step = steps[i];
  const head = raw(headText);
  const checkLines = check === null ? [] : [line(check)];
  if (cx.carriedFinal.has(step)) {
    // the try's value: see planBindings
    if (check === null) return [ret(head)];
    const value = scope.child().fresh("value");
    return [ret(chain(head, [then([value], [...checkLines, ret(value)])]))];
  }
  const isLast = i === steps.length - 1;
  // A name the plan does not place is a catch's error or a loop counter bound again:
  // assigned, as in js-async.
  // A name nobody reads is not bound at all (planBindings `unread`).
  const bound = step.bind && !cx.plan.unread.has(step.bind) ? step.bind : null;
  const site = bound ? cx.plan.site.get(step) ?? "assign" : undefined;
  const name = bound ? camelCase(bound) : null;
  const inner = scope.child();
  let param = null;
  const pre = [];
  if (site === "const") {
    if ((cx.plan.uses.get(step.bind) ?? 0) > 0) {
      param = name;
      inner.names.add(name);
    }
  } else if (site === "let" || site === "assign") {
    if (site === "let") out.push(line(`let ${name};`, true));
    param = inner.fresh("value");
    pre.push(line(`${name} = ${param};`));
  }
  if (isLast && k.tail.t === "end" && pre.length === 0) {
    if (check !== null) return [ret(chain(head, [then([], checkLines)]))];
    // The list's value must be undefined unless nobody reads it (a sleep gives undefined).
    // (A yield gives what next() was called with: nothing, in a for_each.)
    if (k.mode === "discard" || step.step === "sleep" || step.step === "put" || step.step === "join" || step.step === "yield") return [ret(head)];
    return [ret(chain(head, [then([], [ret("undefined")])]))];
  }
  const next = steps[i + 1];
  if (check === null && site === "const" && k.mode === "function" && i + 2 === steps.length && next.step === "return"
    && next.value?.ref === step.bind && next.value.member == null) {
    return [ret(head)]; // `x = await f(); return x;` is `return f();`
  }
  const body = [...pre, ...checkLines, ...compileSteps(steps, i + 1, inCallback(k), inner, cx)];
  return [ret(thenChain(head, param, body))];
}

/**
 * A timeout step and everything after it. The deadline is armed first (deadlines.mjs
 * `deadlineLines`: an AbortController whose signal a timer aborts with TimeoutError),
 * then the block starts, synchronously as js-async's does, with every wait in
 * it taking the signal; `.finally` clears the timer however the block ends, so a block
 * that finishes in time leaves no timer behind. A block that never waits is a plain
 * `try`/`finally`, so the steps after it run at once, as in js-async. The
 * block has no `return` (the loader guarantees it), so its value is discarded; names
 * it binds for the steps after are declared before it (planBindings).
 */
function compileTimeout(steps, i, k, scope, cx) {
  const step = steps[i];
  if (step.idiom === "race") return compileRaceTimeout(steps, i, k, scope, cx);
  const names = {
    controller: scope.fresh("controller"),
    timer: scope.fresh("timer"),
    signal: k.signal === null || k.signal === undefined ? null : scope.fresh("signal"),
  };
  const { lines, signal } = deadlineLines(step, names, k.signal ?? null);
  const out = lines.map((text) => line(text, true));
  const clear = `clearTimeout(${names.timer})`;
  if (isSyncOnly(step.body)) {
    out.push({
      t: "try",
      body: compileSteps(step.body, 0, { ...k, tail: FALL, signal }, scope.child(), cx),
      param: null,
      catch: null,
      finally: [line(`${clear};`)],
    });
    out.push(...compileSteps(steps, i + 1, k, scope, cx));
    return out;
  }
  // The block runs synchronously here, compiled in the enclosing scope because its
  // leading declarations are lifted out in front of the chain (as a try body's are).
  const blockK = { mode: "discard", sync: true, reject: true, tail: END, signal };
  const blockExpr = liftBlock(compileSteps(step.body, 0, blockK, scope, cx), "timedBlock", out, scope);
  const links = [{ method: "finally", args: [arrow([], [ret(clear)])] }];
  if (i === steps.length - 1 && k.tail.t === "end") {
    // The block's chain resolves to its last value; the list's value must be undefined.
    if (k.mode !== "discard") links.push(then([], [ret("undefined")]));
  } else {
    links.push(...thenChain(raw(""), null, compileSteps(steps, i + 1, inCallback(k), scope.child(), cx)).links);
  }
  out.push(ret(chain(blockExpr, links)));
  return out;
}

/**
 * A timeout in the race idiom (`idiom: race`) and everything after it. The deadline is
 * armed first (deadlines.mjs `raceDeadlineStmts`), then the block starts, synchronously as the
 * js-async's arrow does, and the two race; `.finally` clears the timer however the
 * race ends. The block is not stopped when the deadline wins: its operations run on and
 * end later. The block has no `return` (the loader guarantees it), so its value is
 * discarded; names it binds for the steps after are declared before it (planBindings).
 */
function compileRaceTimeout(steps, i, k, scope, cx) {
  const step = steps[i];
  const timer = scope.fresh("timer");
  const deadline = scope.fresh("deadline");
  const out = raceDeadlineStmts(step, timer, deadline);
  const blockK = { mode: "discard", sync: true, reject: true, tail: END, signal: k.signal ?? null };
  const blockStmts = compileSteps(step.body, 0, blockK, scope.child(), cx);
  let blockText = null;
  if (blockStmts.length === 1 && blockStmts[0].t === "return" && blockStmts[0].expr) {
    const text = renderExpr(blockStmts[0].expr, 0);
    if (!text.includes("\n")) blockText = text;
  }
  if (blockText === null) {
    // Longer than one line: a local function, called inside the race (after the deadline).
    // Declaring it has no effect, so a try around the timeout may lift it with the deadline.
    const name = scope.fresh("timedBlock");
    out.push({ t: "const", name, expr: arrow([], blockStmts), hoistable: true });
    blockText = `${name}()`;
  }
  const links = [{ method: "finally", args: [arrow([], [ret(`clearTimeout(${timer})`)])] }];
  if (i === steps.length - 1 && k.tail.t === "end") {
    // The race resolves to the block's last value; the list's value must be undefined.
    if (k.mode !== "discard") links.push(then([], [ret("undefined")]));
  } else {
    links.push(...thenChain(raw(""), null, compileSteps(steps, i + 1, inCallback(k), scope.child(), cx)).links);
  }
  out.push(ret(chain(raw(`Promise.race([${deadline}, ${blockText}])`), links)));
  return out;
}

/** A `.then` link with an arrow function. */
function then(params, body) {
  return { method: "then", args: [arrow(params, body)] };
}

/**
 * `head.then((param) => { body })`; when the body is only `return next.then(...)...`
 * and the later links do not read `param`, the chain is flattened:
 * `head.then((param) => next).then(...)`, which is the same computation.
 */
function thenChain(head, param, body) {
  const params = param ? [param] : [];
  const only = body.length === 1 && body[0].t === "return" ? body[0].expr : null;
  if (only && only.t === "chain" && only.links.every((link) => link.method === "then" && link.args.length === 1)) {
    const later = only.links.map((link) => renderExpr(link.args[0], 0)).join("\n");
    if (!param || !mentions(later, param)) {
      return chain(head, [then(params, [ret(only.head)]), ...only.links]);
    }
  }
  return chain(head, [then(params, body)]);
}

/** Whether generated text mentions an identifier (strings may give a false yes). */
function mentions(text, name) {
  return new RegExp(`(^|[^A-Za-z0-9_$])${name.replace(/\$/g, "\\$")}($|[^A-Za-z0-9_$])`).test(text);
}

/** An if statement whose branches are compiled with `k`. */
function ifStmt(step, k, scope, cx) {
  return {
    t: "if",
    cond: jsCondition(step.condition),
    then: compileSteps(step.then ?? [], 0, k, scope.child(), cx),
    else: compileSteps(step.else ?? [], 0, k, scope.child(), cx),
  };
}

/**
 * Whether every path through a step list leaves it by `return`, `throw` or `break`, so
 * that no step after the list runs after it.
 */
function alwaysExits(steps) {
  const last = steps?.[steps.length - 1];
  if (!last) return false;
  if (leaves(last)) return true;
  if (last.step === "if") return alwaysExits(last.then) && alwaysExits(last.else);
  return false;
}

/**
 * An if whose branches wait. When one branch always leaves the function (an early
 * `return` or `throw`) and the other never waits, the steps after the if simply follow
 * it, as a hand-written early return does: `if (n === 0) { return ...; } return rest`.
 * Otherwise the steps after run after whichever branch ran, in a local continuation
 * `const afterIf = () => ...` that each branch calls last. The early-return form matters
 * beyond looks: a function recursing through the steps after the if adds one stack
 * frame per level, where the continuation would add two.
 */
function compileIf(steps, i, k, scope, cx) {
  const step = steps[i];
  if (i === steps.length - 1) return [ifStmt(step, k, scope, cx)];
  const thenExits = alwaysExits(step.then);
  const elseExits = alwaysExits(step.else);
  if ((thenExits && isSyncOnly(step.else)) || (elseExits && isSyncOnly(step.then))) {
    const stmt = {
      t: "if",
      cond: jsCondition(step.condition),
      then: compileSteps(step.then ?? [], 0, thenExits ? k : { ...k, tail: FALL }, scope.child(), cx),
      else: compileSteps(step.else ?? [], 0, elseExits ? k : { ...k, tail: FALL }, scope.child(), cx),
    };
    return [stmt, ...compileSteps(steps, i + 1, k, scope, cx)];
  }
  // The steps after the if run after whichever branch ran: a local continuation.
  const cont = scope.fresh("afterIf");
  // When both branches wait before they end, the continuation only ever runs in a callback.
  const contK = canEndSync(step.then ?? []) || canEndSync(step.else ?? []) ? k : inCallback(k);
  const contBody = compileSteps(steps, i + 1, contK, scope.child(), cx);
  const stmt = ifStmt(step, { ...k, tail: { t: "call", text: `${cont}()` } }, scope, cx);
  const out = [{ t: "const", name: cont, expr: arrow([], contBody), hoistable: true }];
  // Every path of a branch ends in a return here; an else that is only `return x;`
  // reads better after the if.
  if (stmt.else.length === 1 && stmt.else[0].t === "return") {
    out.push({ ...stmt, else: null }, stmt.else[0]);
  } else {
    out.push(stmt);
  }
  return out;
}

/**
 * A repeat or a while whose body waits: a local recursive function, one call per round,
 * `const loop = (attempt) => { if (attempt < 3) { body; return loop(attempt + 1); } rest }`
 * (a while: `const loop = () => { if (cond) { body; return loop(); } rest }`). A
 * `continue` is the next round's call, `return loop(attempt + 1); // continue`; where the
 * body breaks, the steps after the loop are a local continuation,
 * `const afterLoop = () => rest`, which a `break` returns: `return afterLoop(); // break`.
 */
function compileLoop(steps, i, k, scope, cx) {
  const step = steps[i];
  const loop = scope.fresh("loop");
  const inner = scope.child();
  let params = [];
  let cond;
  let next = `${loop}()`;
  let first = next;
  if (step.step === "repeat") {
    const { counter } = repeatHead(step, inner);
    inner.names.add(counter);
    params = [counter];
    cond = `${counter} < ${repeatCount(step)}`;
    next = `${loop}(${counter} + 1)`;
    first = `${loop}(0)`;
  } else {
    cond = jsCondition(step.condition);
  }
  const out = [];
  let after;
  let brk;
  if (containsBreak(step.body) || (step.bind && mentionedNames(steps.slice(i + 1)).has(step.bind))) {
    // A break goes on with the steps after the loop; or those use the counter's name for
    // something else. They go in a continuation outside the loop function.
    const cont = scope.fresh("afterLoop");
    out.push({ t: "const", name: cont, expr: arrow([], compileSteps(steps, i + 1, k, scope.child(), cx)), hoistable: true });
    after = [ret(`${cont}()`)];
    brk = { kind: "jump", text: `${cont}()` };
  } else {
    // When every round waits, the steps after the loop only ever run in a callback.
    const afterK = fixedRounds(step) && !canEndSync(step.body) && !containsJump(step.body) ? inCallback(k) : k;
    after = compileSteps(steps, i + 1, afterK, inner, cx);
  }
  const tail = { t: "call", text: next };
  const bodyK = { ...k, tail, brk, cont: { kind: "jump", text: next } };
  const body = compileSteps(step.body, 0, bodyK, inner.child(), cx);
  const fn = arrow(params, [{ t: "if", cond, then: body, else: null }, ...after]);
  out.push({ t: "const", name: loop, expr: fn, hoistable: true }, ret(first));
  return out;
}

/**
 * The steps after a try whose body always returns or throws run only when its catch
 * ends normally: they move into the catch, as a developer of promise chains writes it
 * (`fetch().catch((error) => { log(error); return fallback(); })`), and no completion
 * record has to say whether the body returned. The same program in every other respect;
 * not where a finally runs between, a break or continue leaves the steps after, or they
 * bind the catch's own name. Applied to a function's steps, the branches of an if and
 * the bodies of repeat and while.
 *
 * @param {object[]} steps
 * @returns {object[]}
 */
function restIntoCatch(steps) {
  const out = [];
  for (let i = 0; i < steps.length; i += 1) {
    const step = steps[i];
    if (step.step === "if") {
      out.push({ ...step, then: restIntoCatch(step.then ?? []), else: step.else && restIntoCatch(step.else) });
      continue;
    }
    if (step.step === "repeat" || step.step === "while") {
      out.push({ ...step, body: restIntoCatch(step.body) });
      continue;
    }
    const rest = steps.slice(i + 1);
    if (returnIntoTry(step, rest)) {
      // `try: x = await f() ... finally: ...` then `return x`: the return moves into the
      // body (and the end of a catch that can end normally), so that the chain's value
      // is the function's, `f().catch(...).finally(...)`, with no record of which ran.
      const back = rest[0];
      const catchBody = alwaysExits(step.catch.body) ? step.catch.body : [...step.catch.body, back];
      out.push({ ...step, body: [...step.body, back], catch: { ...step.catch, body: catchBody } });
      break;
    }
    const movable = step.step === "try" && step.catch && !step.finally && rest.length > 0 && returnsOrThrows(step.body)
      && !containsJump(rest) && !(step.catch.bind && mentionedNames(rest).has(step.catch.bind));
    if (!movable) {
      out.push(step);
      continue;
    }
    out.push({ ...step, catch: { ...step.catch, body: restIntoCatch([...step.catch.body, ...rest]) } });
    break;
  }
  return out;
}

/**
 * Whether the steps after a try with a finally are one return that may move into it
 * (restIntoCatch): a return of a literal or a name, which cannot throw, where the finally
 * neither leaves nor mentions that name (it would change the value before the return
 * reads it), and no break or continue leaves the try. Not the catch's own name, which
 * Python unbinds at the end of the except clause.
 */
function returnIntoTry(step, rest) {
  if (step.step !== "try" || !step.catch || !step.finally || rest.length !== 1 || rest[0].step !== "return") return false;
  const value = rest[0].value;
  const name = value != null && "ref" in value && value.member == null ? value.ref : null;
  if (!(value == null || "literal" in value || name !== null) || name === step.catch.bind) return false;
  if (containsJump([step]) || containsReturn(step.finally)) return false;
  return name === null || !mentionedNames(step.finally).has(name);
}

/** Whether every path through a step list ends in a return or a throw (not a break). */
function returnsOrThrows(steps) {
  const last = steps?.[steps.length - 1];
  if (!last) return false;
  if (last.step === "return" || last.step === "throw" || last.step === "rethrow") return true;
  return last.step === "if" && returnsOrThrows(last.then) && returnsOrThrows(last.else);
}

/**
 * A try step and everything after it:
 * `return body.catch((error) => ...).finally(() => ...).then(... rest)`.
 */
function compileTry(steps, i, k, scope, cx) {
  const step = steps[i];
  const isLast = i === steps.length - 1;
  // A return or a break in finally replaces what the try did: see below.
  const finallyReturns = containsReturn(step.finally) || containsJump(step.finally);
  const returns = containsReturn(step.body) || containsReturn(step.catch?.body) || containsReturn(step.finally);
  const breaks = containsBreak([step]);
  const continues = containsContinue([step]);
  const carried = cx.plan.carried.get(step);
  const plainCatch = step.catch && !step.finally && !k.closeFirst;
  // The try ends a list that goes on to a call (the next round of a loop, the steps
  // after an if) and its body always leaves: that call follows the catch alone, as in
  // `fetch().catch((error) => { log(error); return loop(attempt + 1); })`.
  // A break or continue that ends the body jumps from the body's own `.then`, beside
  // the catch (`.then(() => afterLoop(), onError)`): a catch before it would cover the
  // jump's continuation.
  const lastStep = step.body[step.body.length - 1];
  const jumpAfterBody = plainCatch && isLast && k.tail.t === "call" && (lastStep.step === "break" || lastStep.step === "continue")
    && !containsReturn(step.body) && !containsJump(step.body.slice(0, -1)) && !carried;
  const callAfterCatch = plainCatch && isLast && k.tail.t === "call"
    && (jumpAfterBody || (alwaysExits(step.body) && !containsJump(step.body)));
  // The catch always leaves and the body never does: the steps after follow the body
  // alone, the two callbacks of one `.then(rest, onError)` (MDN, Promise.prototype.then),
  // where a `.catch` before the rest would have to say that the catch returned.
  const restAfterBody = plainCatch && !callAfterCatch && !(isLast && k.tail.t === "end") && !carried
    && alwaysExits(step.catch.body) && !containsReturn(step.body) && !containsJump(step.body);
  // Direct: nothing follows, so values and returns flow straight out of the chain.
  const direct = (isLast && k.tail.t === "end" && !finallyReturns) || callAfterCatch;
  const mode = direct && !jumpAfterBody ? k.mode : restAfterBody || jumpAfterBody ? "discard" : returns || breaks || continues ? "completion" : "discard";
  const exits = leaving(k, mode, direct);
  const out = [];
  const links = [];

  let carryParam = null;
  const carryPre = [];
  const after = scope.child();
  if (carried) {
    const site = cx.plan.site.get(step);
    if (site === "const") {
      carryParam = camelCase(carried);
    } else {
      carryParam = after.fresh("value");
      carryPre.push(line(`${camelCase(carried)} = ${carryParam};`));
    }
  }

  // The body runs synchronously here; it is compiled in the enclosing scope because its
  // leading declarations are lifted out in front of the chain.
  const bodySteps = jumpAfterBody ? step.body.slice(0, -1) : step.body;
  const bodyStmts = compileSteps(bodySteps, 0, { mode, sync: true, reject: true, tail: END, signal: k.signal, ...exits }, scope, cx);
  const bodyExpr = liftBlock(bodyStmts, "tryBlock", out, scope);

  if (step.catch) {
    const inner = scope.child();
    const { param, lead, filter } = catchHead(step.catch, inner);
    // Beside the body's `.then` (restAfterBody, jumpAfterBody) the catch's value is the
    // chain's, so a return in it is the list's own (a `catch: [return: 0]` beside a
    // body that breaks, found by tests/test_fuzz.py).
    const catchK = restAfterBody || jumpAfterBody
      ? { mode: k.mode, sync: false, reject: false, tail: jumpAfterBody ? k.tail : END, signal: k.signal, ...leaving(k, k.mode, true) }
      : { mode, sync: false, reject: false, tail: callAfterCatch ? k.tail : END, signal: k.signal, ...exits };
    // A return() at a yield in the body arrives here as emit.closed: a native catch never
    // sees it, so it goes on (a filter by kind already lets it through).
    const closed = cx.emit !== null && filter === null && containsStep(step.body, "yield");
    const body = [
      ...(closed ? [shortIf(`${param} === ${cx.emit}.closed`, `throw ${param}; // return() is closing the generator`)] : []),
      ...(step.catch.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []),
      ...lead.map((text) => line(text)),
      ...(filter ? [shortIf(filter, `throw ${param};`)] : []),
      ...compileSteps(step.catch.body, 0, catchK, inner, cx),
    ];
    const onError = arrow(step.catch.bind || filter || closed ? [param] : [], body);
    if (restAfterBody || jumpAfterBody) {
      const rest = jumpAfterBody ? [jumpStmt(k, lastStep.step)] : compileSteps(steps, i + 1, inCallback(k), after, cx);
      links.push({ method: "then", args: [arrow([], rest), onError] });
      out.push(ret(chain(bodyExpr, links)));
      return out;
    }
    links.push({ method: "catch", args: [onError] });
  }

  if (step.finally && !finallyReturns) {
    const body = compileSteps(step.finally, 0, { mode: "discard", sync: false, reject: false, ...cleanUp(step.finally, k) }, scope.child(), cx);
    links.push({ method: "finally", args: [arrow([], body)] });
  } else if (step.finally) {
    // A return in finally replaces whatever the try did (JS and Python agree), so the
    // finally block resolves to a completion that wins over the try's.
    const fin = scope.fresh("finallyBlock");
    const finK = { mode: "completion", sync: true, reject: true, ...cleanUp(step.finally, k), ...leaving(k, "completion", false) };
    out.push({
      t: "const",
      name: fin,
      expr: arrow([], compileSteps(step.finally, 0, finK, scope.child(), cx)),
    });
    const ok = scope.child();
    const completion = ok.fresh("completion");
    const finalOk = ok.fresh("finallyCompletion");
    const bad = scope.child();
    const error = bad.fresh("error");
    const finalBad = bad.fresh("finallyCompletion");
    links.push({
      method: "then",
      args: [
        arrow([completion], [ret(chain(raw(`${fin}()`), [then([finalOk], [ret(`${finalOk} || ${completion}`)])]))]),
        arrow([error], [ret(chain(raw(`${fin}()`), [then([finalBad], [
          shortIf(finalBad, `return ${finalBad};`),
          line(`throw ${error};`),
        ])]))]),
      ],
    });
  }

  if (!direct) {
    links.push(...afterBlock(steps, i, k, after, cx, { returns, breaks, continues }, carryParam, carryPre));
  }
  out.push(ret(chain(bodyExpr, links)));
  return out;
}

/**
 * The tail and signal of a finally block: under a deadline, a finally that waits is
 * clean-up, whose waits take no signal, ended by a check of the signal (deadlines.mjs
 * finallyCheck); otherwise as it is.
 */
function cleanUp(steps, k) {
  if (k.signal == null || isSyncOnly(steps)) return { tail: END, signal: k.signal };
  return { tail: { t: "stmt", text: finallyCheck(k.signal) }, signal: null };
}

/**
 * The expression of a block compiled in sync mode (it always returns a promise): its
 * leading hoistable statements go to `out`, in front of the chain; the rest is one
 * returned expression, or else a local function `name` called in its place.
 */
function liftBlock(stmts, name, out, scope) {
  let lead = 0;
  while (lead < stmts.length && stmts[lead].hoistable) lead += 1;
  out.push(...stmts.slice(0, lead));
  const rest = stmts.slice(lead);
  if (rest.length === 1 && rest[0].t === "return" && rest[0].expr) return rest[0].expr;
  const fresh = scope.fresh(name);
  out.push({ t: "const", name: fresh, expr: arrow([], rest) });
  return raw(`${fresh}()`);
}

/** `tick` -> `Tick`. */
function pascalCase(name) {
  const camel = camelCase(name);
  return camel.slice(0, 1).toUpperCase() + camel.slice(1);
}

/** The comment above a for_each's iterator. It must not say async or await. */
const FOR_EACH_COMMENT = "// The generator's values one by one: next() until done; return() closes it early (break, return, error).";

/**
 * A for_each step and everything after it: the generator's iterator, a local recursive
 * function taking one value per call, and the steps after in a `.then`.
 *
 *     const ticksIterator = ticks(3)[Symbol.asyncIterator]();
 *     const nextTick = () => ticksIterator.next().then(({ value: tick, done }) => {
 *       if (done) return undefined;
 *       ...body, `return ticksIterator.return();` for a break...
 *       return nextTick();
 *     });
 *     return nextTick()
 *       .catch((error) => ticksIterator.return().finally(() => { throw error; }))
 *       .then(() => ...);
 *
 * An error in the body (or one from next(): return() on a finished generator does
 * nothing) closes the generator and goes on, its own close error dropped, as for-await
 * does; in a generator, its own return() at a yield in the body (`emit.closed`) is no
 * error but a return: there a close error replaces it. When the loop's value is read
 * (the list's last step, or a body holding a return), a break resolves to undefined,
 * and a return closes the generator, then resolves to the value (or its completion,
 * which the steps after check).
 */
function compileForEach(steps, i, k, scope, cx) {
  const step = steps[i];
  const isLast = i === steps.length - 1;
  const returns = containsReturn(step.body);
  // A loop that returns from inside, followed only by a return of a plain value: that
  // return is what the loop gives when the generator is done (`if (done) return null;`),
  // as a hand-written loop says it, with no completion record to tell the two apart.
  // Not the loop's own name: after a for-await it holds the last value, in the done
  // callback nothing.
  const after = steps.slice(i + 1);
  const plain = (value) => value == null || "literal" in value || ("ref" in value && value.member == null && value.ref !== step.bind);
  const returnWhenDone = returns && k.mode === "function" && k.tail.t === "end" && !containsBreak(step.body)
    && after.length === 1 && after[0].step === "return" && plain(after[0].value);
  const direct = (isLast && k.tail.t === "end") || returnWhenDone;
  const mode = direct ? k.mode : returns ? "completion" : "discard";
  const iterator = scope.fresh(`${camelCase(step.call.callee)}Iterator`);
  const next = scope.fresh(`next${pascalCase(step.bind ?? "value")}`);
  const inner = scope.child();
  const value = step.bind ? camelCase(step.bind) : null;
  if (value !== null) inner.names.add(value);
  const done = inner.fresh("done");
  const close = `${iterator}.return()`;
  const bodyK = {
    mode,
    sync: false,
    reject: false,
    signal: k.signal,
    tail: { t: "call", text: `${next}()` },
    brk: { kind: "jump", text: mode === "discard" ? close : `${close}.then(() => undefined)` },
    cont: { kind: "jump", text: `${next}()` },
    closeFirst: iterator,
  };
  const doneKey = done === "done" ? "done" : `done: ${done}`;
  const valueKey = value === "value" ? "value" : `value: ${value}`;
  const pattern = value !== null ? `{ ${valueKey}, ${doneKey} }` : `{ ${doneKey} }`;
  const whenDone = returnWhenDone ? (after[0].value == null ? "null" : jsExpr(after[0].value)) : "undefined";
  const callback = [shortIf(done, `return ${whenDone};`), ...compileSteps(step.body, 0, bodyK, inner.child(), cx)];
  const out = [
    line(FOR_EACH_COMMENT, true),
    { t: "const", name: iterator, expr: raw(`${jsCall(step.call, k.signal ?? undefined)}[Symbol.asyncIterator]()`), hoistable: true },
    {
      t: "const",
      name: next,
      expr: arrow([], [ret(chain(raw(`${iterator}.next()`), [then([pattern], callback)]))], { concise: true }),
      hoistable: true,
    },
  ];
  const error = scope.child().fresh("error");
  let onError = `${close}.finally(() => { throw ${error}; })`;
  if (cx.emit !== null && containsStep(step.body, "yield")) {
    // A return() of this generator at a yield in the body leaves the loop as a return
    // does: an error from closing the inner generator then replaces it.
    onError = `(${error} === ${cx.emit}.closed ? ${close}.then(() => { throw ${error}; }) : ${onError})`;
  }
  const links = [{ method: "catch", args: [raw(`(${error}) => ${onError}`)] }];
  if (!direct) {
    links.push(...afterBlock(steps, i, k, scope.child(), cx, { returns, breaks: false }));
  }
  out.push(ret(chain(raw(`${next}()`), links)));
  return out;
}

/**
 * How a block step that holds something for its block (hold, using) ends: whether its
 * block returns, breaks or continues (`flags`, for afterBlock); whether nothing follows
 * it, so that its value flows straight out (`direct`); and the block's mode: the
 * function's own when direct, a completion record when the block can leave early, else
 * discarded.
 */
function blockExits(steps, i, k) {
  const { body } = steps[i];
  const flags = { returns: containsReturn(body), breaks: containsBreak(body), continues: containsContinue(body) };
  const direct = i === steps.length - 1 && k.tail.t === "end";
  const mode = direct ? k.mode : flags.returns || flags.breaks || flags.continues ? "completion" : "discard";
  return { flags, direct, mode };
}

/**
 * A hold step and everything after it: the lock's or semaphore's acquire, then the block with the
 * release in a `.finally` (which passes the block's value or error on), then the steps
 * after in a `.then`, as a using step's open and close. Under a deadline,
 * `lock.use(() => block, signal)`: an aborted wait leaves the lock's line.
 */
function compileHold(steps, i, k, scope, cx) {
  const step = steps[i];
  const { flags, direct, mode } = blockExits(steps, i, k);
  const inner = scope.child();
  const sync = camelCase(step.sync);
  // The block runs in a callback (acquire's, or use's), where a throw is a rejection.
  const blockK = { mode, sync: false, reject: false, tail: END, signal: k.signal, ...leaving(k, mode, direct) };
  const body = compileSteps(step.body, 0, blockK, inner, cx);
  const release = { method: "finally", args: [arrow([], [line(`${sync}.release();`)])] };
  let head;
  if (k.signal == null) {
    // The acquire never rejects: the release goes after the block's callback, so that it
    // runs whatever the block does, a queue call that throws included.
    head = chain(raw(`${sync}.acquire()`), [then([], body), release]);
  } else {
    // An acquire aborted by the deadline holds nothing to release, so no .finally after
    // it: `use(fn, signal)` acquires, runs the block and releases once the block's promise
    // settles, a synchronous throw included (as async-mutex's runExclusive does).
    head = chain(raw(sync), [{ method: "use", args: [arrow([], body), raw(k.signal)] }]);
  }
  if (direct) return [ret(head)];
  return [ret(chain(head, afterBlock(steps, i, k, scope.child(), cx, flags)))];
}

/**
 * A using step and everything after it: the open, then the block with the close in a
 * `.finally` (which waits for it, then passes the block's value or error on), then the
 * steps after in a `.then`. The block runs in the open's callback and is compiled as a
 * try body is, so it never throws before the `.finally` is attached.
 */
function compileUsing(steps, i, k, scope, cx) {
  const step = steps[i];
  const { flags, direct, mode } = blockExits(steps, i, k);
  const inner = scope.child();
  const { handle, bind } = usingNames(step, inner);
  const callback = bind.map((text) => line(text));
  const blockK = { mode, sync: true, reject: true, tail: END, signal: k.signal, ...leaving(k, mode, direct) };
  const blockExpr = liftBlock(compileSteps(step.body, 0, blockK, inner, cx), "usingBlock", callback, inner);
  // Under a deadline the close is followed by a check of the signal (deadlines.mjs closeCheck).
  const close = k.signal == null
    ? raw(`${handle}.close()`)
    : chain(raw(`${handle}.close()`), [then([], [line(closeCheck(k.signal))])]);
  if (blockExpr.t === "raw" && blockExpr.text === "Promise.resolve()") {
    // A block that never waits: nothing to wait for but the close (its value, undefined).
    callback.push(ret(close));
  } else {
    callback.push(ret(chain(blockExpr, [{ method: "finally", args: [arrow([], [ret(close)])] }])));
  }
  const open = openParts(step, k.signal, cx.helpers);
  const head = chain(raw(open.expr), [then([handle], callback)]);
  const lead = open.comment ? [line(open.comment, true)] : [];
  if (direct) return [...lead, ret(head)];
  return [...lead, ret(chain(head, afterBlock(steps, i, k, scope.child(), cx, flags)))];
}
