/**
 * The `js-async` compiler: scenario functions as `async function` with `await`,
 * `try`/`catch`/`finally`, `if` and `for`, one statement per scenario step; each step's
 * rendering is its entry in `RENDERINGS`.
 *
 * Renderings of the steps that have no keyword of their own (both compilers share them,
 * idioms.mjs): `set` is `delay = delay * 2;` (`let` where the name is bound again);
 * `cancel` is `pendingController.abort();`, the AbortController made just before the
 * `start` of that handle, its signal passed to the operation (or function) last; a catch of
 * CancelledError tests `error instanceof DOMException && error.name === "AbortError"`;
 * `map` with a limit is `await Promise.all(items.map((item) => semaphore.use(() => f(item))))` over
 * `world.semaphore(limit)`; `put` / `get` are `await jobs.put(v)` / `await jobs.get()`
 * on a module-level `world.queue(size)`, and asyncio.Queue's other methods are the kit queue's
 * (`jobs.putNowait(v)`, `jobs.getNowait()`, `jobs.taskDone()`, `await jobs.join()`, `jobs.shutdown()`). A `timeout` is a deadline AbortSignal (deadlines.mjs
 * "Timeouts"): `const controller = new AbortController();`, a timer that aborts it with
 * `TimeoutError("")`, and the block in a `try` whose `finally` clears the timer, every
 * wait in it taking `controller.signal`. A `task_group` is `const tasks = [];`, its body
 * as the function's own statements with each start pushed (`tasks.push(user);`), then
 * `await Promise.all(tasks);`; `rethrow` is `throw error;`; a catch `from_group` finds
 * its error among an AggregateError's (expressions.mjs `catchHead`).
 *
 * Generators and resources: a generator function is `async function*` and `yield` is
 * `yield v;`; `for_each` is `for await (const tick of ticks(3)) { ... }` and `break` is
 * `break;` (`while` is `while (cond) { ... }`; `break;` and `continue;` in every loop) (for-await calls the generator's `return()` at the break and waits for it,
 * so the generator's finally runs there). `using` is
 * `const connectionHandle = await connection.open("db");` then
 * `try { const conn = connectionHandle.value; ... } finally { await connectionHandle.close(); }`
 * (the handle keeps `close()`; the bound name gets its value, "connection#1"). With the
 * `awaitUsing` option (the worker sets it where its Node has the syntax, 24+) it is a
 * block of its own instead:
 * `{ await using connectionHandle = await connection.open("db"); const conn = connectionHandle.value; ... }`,
 * the handle's `[Symbol.asyncDispose]()` being its `close()`: disposed where the finally
 * would close it, with the same trace.
 *
 * @module compile-async
 */

import { Scope, camelCase } from "./names.mjs";
import { isSyncOnly } from "./walk.mjs";
import { bindingPrefix, planBindings } from "./bindings.mjs";
import { renderStmts } from "./code.mjs";
import { CANCELLED, catchHead, jsCall, jsCondition, jsEventCall, jsExpr, jsNewError, jsQueueNowait } from "./expressions.mjs";
import {
  AS_COMPLETED_COMMENT, CANCELLED_COMMENT, GROUP_COMMENT, TASK_GROUP_COMMENT, abortControllers, cancelLine, inSettleOrderOf, waitParts,
  letLines, mapParts, repeatHead, setLine, startStepLines, usingNames,
} from "./idioms.mjs";
import {
  ProgramHelpers, awaitedParts, closeCheck, deadlineLines, finallyCheck, openParts, raceDeadlineStmts, signalParam,
  taskGroupParts,
} from "./deadlines.mjs";

/**
 * One scenario function (or `main`) as an async function declaration.
 *
 * @param {string} name the function's JavaScript name.
 * @param {string[]} params the IR parameter names.
 * @param {object[]} steps the IR steps.
 * @param {Scope} root the program scope (every scenario name).
 * @param {{generator?: boolean, awaitUsing?: boolean, takesSignal?: boolean, helpers?: ProgramHelpers}} [options]
 *   `generator`: an `async function*`; `awaitUsing`: a using step as a block with
 *   `await using` (Node 24+), else as try/finally; `takesSignal`: the function is called
 *   under a timeout's deadline and takes its AbortSignal as an optional last parameter,
 *   handed to its own waits (deadlines.mjs, "Timeouts"); `helpers`: the program's helpers for
 *   waits under a deadline.
 * @returns {string[]} the lines of the declaration.
 */
export function asyncFunction(name, params, steps, root, options = {}) {
  const { generator = false, awaitUsing = false, takesSignal = false } = options;
  // A task_group's body is written as the function's own statements (compileTaskGroup).
  const plan = planBindings(steps, params, { inline: ["task_group"] });
  const scope = root.child();
  plan.controllers = abortControllers(steps, scope);
  plan.awaitUsing = awaitUsing;
  plan.helpers = options.helpers ?? new ProgramHelpers(root.child());
  const signal = takesSignal ? scope.fresh("signal") : null;
  const body = block(steps, plan, scope, signal);
  const paramList = [...params.map(camelCase), ...(signal === null ? [] : [signalParam(signal)])].join(", ");
  const head = `async function${generator ? "*" : ""} ${name}(${paramList}) {`;
  return [head, ...renderStmts(body, 1), "}"];
}

const line = (text) => ({ t: "line", text });

/**
 * The statements of a step list. `signal`: the AbortSignal expression of the deadline
 * the steps run under (a timeout block's, or the function's own parameter), or null.
 */
function block(steps, plan, scope, signal) {
  const out = [];
  const lets = plan.before.get(steps);
  steps.forEach((step, index) => {
    for (const text of letLines(lets?.get(index), plan.controllers)) out.push(line(text));
    out.push(...compileStep(step, plan, scope, signal));
  });
  return out;
}

/** A step's rendering, found in RENDERINGS. */
function compileStep(step, plan, scope, signal) {
  if (!Object.hasOwn(RENDERINGS, step.step)) throw new TypeError(`unknown step ${JSON.stringify(step.step)}`);
  return RENDERINGS[step.step](step, plan, scope, signal);
}

/** A step that waits: `await <promise>;`, with a group's comment, a deadline's comment and check. */
function compileWait(step, plan, scope, signal) {
  const { expr, comment, check } = awaitedParts(step, signal, plan.helpers);
  const head = step.step === "group" ? [line(GROUP_COMMENT)] : [];
  const wait = line(`${bindingPrefix(step, plan)}await ${expr};`);
  return [...head, ...(comment ? [line(comment)] : []), wait, ...(check ? [line(check)] : [])];
}

/**
 * The rendering of each step of the table: `(step, plan, scope, signal)` -> statements.
 * A new step is one entry here (tests/javascript/ir-steps.test.mjs checks that every step
 * of the table has one).
 */
export const RENDERINGS = Object.freeze({
  await: compileWait,
  start: (step, plan) =>
    startStepLines(step, bindingPrefix(step, plan), plan.controllers, plan.groups, plan.uses, !plan.cancelOnly.has(step.bind)).map(line),
  return: (step) => [line(`return ${step.value == null ? "null" : jsExpr(step.value)};`)],
  throw: (step) => [line(`throw ${jsNewError(step)};`)],
  try: (step, plan, scope, signal) => [compileTry(step, plan, scope, signal)],
  sleep: compileWait,
  log: (step) => [line(`log(${jsExpr(step.message)});`)],
  all: compileWait,
  race: compileWait,
  if: (step, plan, scope, signal) => [{
    t: "if",
    cond: jsCondition(step.condition),
    then: block(step.then ?? [], plan, scope.child(), signal),
    else: block(step.else ?? [], plan, scope.child(), signal),
  }],
  repeat: (step, plan, scope, signal) => {
    const inner = scope.child();
    return [{ t: "for", head: repeatHead(step, inner).head, body: block(step.body, plan, inner, signal) }];
  },
  all_settled: compileWait,
  any: compileWait,
  timeout: compileTimeout,
  group: compileWait,
  set: (step, plan) => [line(setLine(step, bindingPrefix(step, plan)))],
  cancel: (step, plan) => [line(cancelLine(step, plan.controllers))],
  now: (step, plan) => [line(`${bindingPrefix(step, plan)}world.now();`)],
  map: (step, plan, scope, signal) => {
    const { comment, declare, promise } = mapParts(step, scope.fresh("semaphore"), scope.child().fresh("item"), signal);
    return [line(comment), line(declare), line(`${bindingPrefix(step, plan)}await ${promise};`)];
  },
  put: compileWait,
  get: compileWait,
  put_nowait: (step) => [line(`${jsQueueNowait(step)};`)],
  get_nowait: (step, plan) => [line(`${bindingPrefix(step, plan)}${jsQueueNowait(step)};`)],
  task_done: (step) => [line(`${jsQueueNowait(step)};`)],
  join: compileWait,
  shutdown: (step) => [line(`${jsQueueNowait(step)};`)],
  set_event: (step) => [line(`${jsEventCall(step)};`)],
  clear_event: (step) => [line(`${jsEventCall(step)};`)],
  wait_event: compileWait,
  is_set: (step, plan) => [line(`${bindingPrefix(step, plan)}${jsEventCall(step)};`)],
  hold: compileHold,
  yield: (step) => [line(`yield ${jsExpr(step.value)};`)],
  for_each: (step, plan, scope, signal) => [{
    t: "block",
    open: `for await (const ${step.bind ? camelCase(step.bind) : "_"} of ${jsCall(step.call, signal ?? undefined)}) {`,
    body: block(step.body, plan, scope.child(), signal),
    close: "}",
  }],
  break: () => [line("break;")],
  using: compileUsing,
  while: (step, plan, scope, signal) => [{
    t: "block",
    open: `while (${jsCondition(step.condition)}) {`,
    body: block(step.body, plan, scope.child(), signal),
    close: "}",
  }],
  continue: () => [line("continue;")],
  rethrow: (step) => [line(`throw ${camelCase(step.error)};`)],
  task_group: compileTaskGroup,
  shield: compileWait,
  as_completed: compileAsCompleted,
  wait: compileWaitFor,
});

/**
 * A wait step (asyncio.wait): the calls recorded as they settle, `await` of what `until`
 * names (raced against a timer when there is a timeout), then the bound value.
 */
function compileWaitFor(step, plan, scope, signal) {
  const { comment, declare, wait, value } = waitParts(step, scope, signal, plan.helpers);
  const prefix = bindingPrefix(step, plan);
  return [line(comment), ...declare.map(line), line(`await ${wait};`), ...(prefix ? [line(`${prefix}${value};`)] : [])];
}

/**
 * An as_completed step: a for...of over the calls in the order they settle
 * (`inSettleOrder`), awaiting each and running the block with its value; a rejection
 * leaves the loop with that error, the other calls running on. Under a deadline each
 * wait is abortable (the calls are tasks of their own in Python, which asyncio.timeout
 * does not cancel).
 */
function compileAsCompleted(step, plan, scope, signal) {
  const inner = scope.child();
  const next = inner.fresh("next");
  const wait = signal === null ? next : plan.helpers.abortableCall(next, signal);
  const taken = step.bind ? `const ${camelCase(step.bind)} = await ${wait};` : `await ${wait};`;
  return [
    line(AS_COMPLETED_COMMENT),
    {
      t: "block",
      open: `for (const ${next} of ${inSettleOrderOf(step, plan.helpers)}) {`,
      body: [line(taken), ...block(step.body, plan, inner, signal)],
      close: "}",
    },
  ];
}

/**
 * A task_group step: an array the body's starts push their calls into (groupPushLines),
 * the body as the function's own statements, then `await Promise.all(tasks)`.
 */
function compileTaskGroup(step, plan, scope, signal) {
  const tasks = scope.fresh("tasks");
  plan.groups = [...(plan.groups ?? []), tasks];
  const body = block(step.body, plan, scope, signal);
  plan.groups = plan.groups.slice(0, -1);
  const { expr, comment } = taskGroupParts(tasks, signal, plan.helpers);
  return [
    line(TASK_GROUP_COMMENT),
    line(`const ${tasks} = [];`),
    ...body,
    ...(comment ? [line(comment)] : []),
    line(`await ${expr};`),
  ];
}

/**
 * A timeout step: the deadline armed before the block (deadlines.mjs `deadlineLines`), the
 * block in a try whose finally clears the timer, so that a block that finishes in time
 * leaves no timer behind. Every wait in the block takes the deadline's signal, so at the
 * deadline the wait in progress rejects with the TimeoutError, as asyncio.timeout
 * cancels it. Names bound in the block and read after it are declared before it
 * (planBindings).
 */
function compileTimeout(step, plan, scope, outer) {
  if (step.idiom === "race") return compileRaceTimeout(step, plan, scope, outer);
  const names = { controller: scope.fresh("controller"), timer: scope.fresh("timer"), signal: null };
  if (outer !== null) names.signal = scope.fresh("signal");
  const { lines, signal } = deadlineLines(step, names, outer);
  return [
    ...lines.map(line),
    {
      t: "try",
      body: block(step.body, plan, scope.child(), signal),
      param: null,
      catch: null,
      finally: [line(`clearTimeout(${names.timer});`)],
    },
  ];
}

/**
 * A timeout in the race idiom (`idiom: race`): the block, as an async arrow called at
 * once, raced against a deadline armed before it (deadlines.mjs `raceDeadlineStmts`); the
 * timer is cleared however the race ends. The block is not stopped when the deadline
 * wins: its operations run on and end later, which is the point of this idiom's
 * scenarios. It runs under the deadline of a timeout around it, if any (`outer`).
 */
function compileRaceTimeout(step, plan, scope, outer) {
  const timer = scope.fresh("timer");
  const deadline = scope.fresh("deadline");
  return [
    ...raceDeadlineStmts(step, timer, deadline),
    {
      t: "try",
      body: [{
        t: "block",
        open: `await Promise.race([${deadline}, (async () => {`,
        body: block(step.body, plan, scope.child(), outer),
        close: "})()]);",
      }],
      param: null,
      catch: null,
      finally: [line(`clearTimeout(${timer});`)],
    },
  ];
}

/** The comment opening a using step's block where it is rendered with `await using`. */
export const AWAIT_USING_COMMENT = "// await using (Node 24+): disposed at the end of this block";

/**
 * A using step: the open awaited, then the block in a try whose finally awaits the close,
 * so the close happens whatever ends the block and an error goes on after it. The name
 * the block binds is the handle's value, declared inside the try (a block of its own).
 *
 * With `plan.awaitUsing`, a block `{ ... }` whose first statement is
 * `await using handle = await resource.open(...)`: leaving the block by any completion
 * (its end, an error, return, break, a generator's return()) awaits
 * `handle[Symbol.asyncDispose]()`, which is `handle.close()`, at the point where the
 * finally would run. The trace is the same. Only a close that throws while the block's
 * own error is in flight would differ (a SuppressedError where the finally lets the
 * close's error replace it), and a close throws only once the run has stopped (the
 * RunawayError of a kit call past the bound), when the verdict is already taken.
 */
function compileUsing(step, plan, scope, signal) {
  const open = openParts(step, signal, plan.helpers);
  const openComment = open.comment ? [line(open.comment)] : [];
  // Under a deadline the close is followed by a check of the signal, which `await using`
  // has no place for: there the try/finally form is used whatever the option says.
  if (plan.awaitUsing && signal === null) {
    const inner = scope.child();
    const { handle, bind } = usingNames(step, inner);
    return [{
      t: "block",
      open: "{",
      body: [
        line(AWAIT_USING_COMMENT),
        ...openComment,
        line(`await using ${handle} = await ${open.expr};`),
        ...bind.map(line),
        ...block(step.body, plan, inner, signal),
      ],
      close: "}",
    }];
  }
  const { handle, bind } = usingNames(step, scope);
  const inner = scope.child();
  return [
    ...openComment,
    line(`const ${handle} = await ${open.expr};`),
    {
      t: "try",
      body: [...bind.map(line), ...block(step.body, plan, inner, signal)],
      param: null,
      catch: null,
      finally: [line(`await ${handle}.close();`), ...(signal === null ? [] : [line(closeCheck(signal))])],
    },
  ];
}

/**
 * A hold step: `await guard.acquire();` then the block in a try whose finally releases
 * the lock or semaphore, as `async with guard:` releases it however the block ends. Under a deadline
 * the acquire takes the signal: an aborted wait leaves the lock's line.
 */
function compileHold(step, plan, scope, signal) {
  const sync = camelCase(step.sync);
  return [
    line(`await ${sync}.acquire(${signal ?? ""});`),
    { t: "try", body: block(step.body, plan, scope.child(), signal), param: null, catch: null, finally: [line(`${sync}.release();`)] },
  ];
}

function compileTry(step, plan, scope, signal) {
  const stmt = {
    t: "try", body: block(step.body, plan, scope.child(), signal), param: null, catch: null, finally: null,
  };
  if (step.catch) {
    const inner = scope.child();
    const { param, lead, filter } = catchHead(step.catch, inner);
    // A catch of everything that names nothing binds nothing: `catch {` (ES2019).
    stmt.param = step.catch.bind || filter ? param : null;
    stmt.catch = [
      ...(step.catch.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []),
      ...lead.map(line),
      ...(filter ? [line(`if (${filter}) throw ${param};`)] : []),
      ...block(step.catch.body, plan, inner, signal),
    ];
  }
  if (step.finally && signal !== null && !isSyncOnly(step.finally)) {
    // Clean-up under a deadline: its waits take no signal (deadlines.mjs finallyCheck).
    stmt.finally = [...block(step.finally, plan, scope.child(), null), line(finallyCheck(signal))];
  } else if (step.finally) {
    stmt.finally = block(step.finally, plan, scope.child(), signal);
  }
  return stmt;
}
