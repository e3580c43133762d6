/**
 * The `js-promise` renderer: scenario functions as plain functions returning promise
 * chains (`.then`, `.catch`, `.finally`), with no `async` or `await` keyword.
 *
 * The scheme: a step list compiles in continuation-passing style. Steps that do not
 * wait (log, start, set, cancel, throw, return, and if/repeat/try made only of such steps) stay
 * plain statements (`if`, `for`, `try`/`catch`, which catch synchronously as in the
 * async variant); a step that waits ends the statement list with
 * `return <promise>.then((x) => { rest })`.
 * - `if` with waiting branches and steps after it: the steps after become a local
 *   function `const afterIf = () => ...` that each branch calls last.
 * - `repeat` with a waiting body: a local recursive function
 *   `const loop = (attempt) => { if (attempt < n) { body; return loop(attempt + 1); } rest }`.
 * - `try` with waiting steps: `body.catch(...).finally(...)`, then the steps after in
 *   a `.then`. A `return` inside such a try must skip those steps: it resolves to a
 *   completion object `{ value }`, which the `.then` after the try checks first. When
 *   every branch of the try ends by binding the one name the steps after read, the
 *   value flows down the chain instead: `f().catch(...).then((data) => ...)`.
 * - `timeout`: a deadline promise armed first, then
 *   `return Promise.race([deadline, block]).finally(() => clearTimeout(timer))` and the
 *   steps after in a `.then`; a block longer than one chain is a local function
 *   `const timedBlock = () => ...` called inside the race.
 * - `map` with a limit: `const semaphore = world.semaphore(2);` then
 *   `return Promise.all(items.map((item) => semaphore.use(() => f(item)))).then(...)`;
 *   `put` / `get` on a queue: `return jobs.put(v).then(...)`, `jobs.get().then((job) => ...)`.
 * - `set`, `cancel` and a cancellable `start` (an AbortController made just before it)
 *   are plain statements, as in the async variant.
 * - `x = await f(); return x` is `return f()`; `.then((x) => g(x).then(h))` is
 *   flattened to `.then((x) => g(x)).then(h)` when `h` does not read `x`.
 * - A name bound inside a block and read after it is a `let` declared before the
 *   block (emit.mjs `planBindings`).
 * - Code that runs synchronously when the function is called (its "sync" part) never
 *   throws and always returns a promise: `throw` there is `return Promise.reject(...)`,
 *   `return v` is `return Promise.resolve(v)`. So the function's first operation starts
 *   synchronously, as in an async function, and errors still arrive as rejections.
 * - A generator function returns `world.generator((emit) => chain)` (the runtime's async
 *   iterator over a promise-chain body) and `yield v` is `emit(v).then(...)`. A catch of
 *   every error around a yield first throws `emit.closed` on (the signal of a `return()`
 *   that a native catch never sees).
 * - `for_each`: the iterator and a local recursive consumer,
 *   `const nextTick = () => ticksIterator.next().then(({ value: tick, done }) => { if (done) ...; body; return nextTick(); })`,
 *   then `nextTick().catch((error) => ticksIterator.return().finally(() => { throw error; }))`:
 *   an error closes the generator before it goes on, as for-await does. `break` is
 *   `return ticksIterator.return();` (the close at the break, waited for, as for-await
 *   does); a `return` in the body closes it too, then returns. Where the break or return
 *   sits in a try or using with waiting steps, it resolves to a completion (`{ break: true }`,
 *   `{ value }`) that the code after the try acts on, so the try's finally (the close of
 *   a resource) comes first, as in the async variant.
 * - `using`: `connection.open("db").then((connectionHandle) => { const conn =
 *   connectionHandle.value; return block.finally(() => connectionHandle.close()); })`;
 *   `.finally` waits for the close, then passes the block's value or error on. Returns
 *   and breaks inside use the completions of a try.
 *
 * @module compile-promise
 */

import {
  CANCELLED, CANCELLED_COMMENT, GROUP_COMMENT, Scope, abortControllers, arrow, camelCase, cancelLine, chain,
  containsBreak, containsReturn, deadlineStmts, forEachStep, isSyncOnly, jsCall, jsCondition, jsExpr, jsFanOut,
  jsNewError, jsQueueCall, jsResourceOpen, jsSleep, kindFilter, letLines, mapParts, mentionedNames, planBindings,
  raw, renderExpr, renderStmts, startLines, terminates,
} from "./emit.mjs";

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
export function promiseFunction(name, params, steps, root, { generator = false } = {}) {
  const plan = planBindings(steps, params, { carry: true });
  const carriedFinal = new Set();
  for (const [tryStep, carried] of plan.carried) {
    for (const branch of [tryStep.body, tryStep.catch?.body]) {
      const last = branch?.[branch.length - 1];
      if (last && last.bind === carried) carriedFinal.add(last);
    }
  }
  const scope = root.child();
  const cx = { plan, carriedFinal, controllers: abortControllers(steps, scope), emit: null };
  const head = `function ${name}(${params.map(camelCase).join(", ")}) {`;
  if (generator) {
    // The body runs at the first next(): a function of its own, whose value nobody reads.
    cx.emit = scope.fresh("emit");
    const body = compileSteps(steps, 0, { mode: "discard", sync: true, reject: true, tail: END }, scope.child(), cx);
    const param = containsStep(steps, "yield") ? cx.emit : "";
    const stmt = { t: "block", open: `return world.generator((${param}) => {`, body, close: "});" };
    return [head, ...renderStmts([stmt], 1), "}"];
  }
  const body = compileSteps(steps, 0, { mode: "function", sync: true, reject: true, tail: END }, scope, cx);
  return [head, ...renderStmts(body, 1), "}"];
}

// What happens when a step list runs off its end:
// END: the list's value is undefined (in sync code: `return Promise.resolve();`);
// FALL: plain fall-through into the next statement (lists of plain statements only);
// {t: "call", text}: `return <text>;` (the continuation of an if, the next loop round).
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
 * `k.brk`: what a `break` step is, inside a for_each: `{kind: "close", text}` (directly
 * in the loop's callback: `return <text>;`, the generator's return()) or
 * `{kind: "completion"}` (inside a try or using that waits: resolve to `{ break: true }`);
 * absent outside loops. `k.closeFirst`: the iterator a `return` step closes first
 * (directly in a loop's callback), or absent.
 */
function compileSteps(steps, from, k, scope, cx) {
  const out = [];
  const lets = cx.plan.before.get(steps);
  for (let i = from; i < steps.length; i += 1) {
    for (const text of letLines(lets?.get(i), cx.controllers)) out.push(line(text, true));
    const step = steps[i];
    switch (step.step) {
      case "log":
        out.push(line(`log(${jsExpr(step.message)});`, true));
        break;
      case "start":
        for (const text of startLines(step, declare(step, cx), cx.controllers)) out.push(line(text, true));
        break;
      case "set":
        out.push(line(`${declare(step, cx)}${jsExpr(step.value)};`, true));
        break;
      case "cancel":
        out.push(line(cancelLine(step, cx.controllers), true));
        break;
      case "throw":
        out.push(k.reject ? ret(`Promise.reject(${jsNewError(step)})`) : line(`throw ${jsNewError(step)};`));
        return out;
      case "break":
        out.push(breakStmt(k));
        return out;
      case "for_each":
        out.push(...compileForEach(steps, i, k, scope, cx));
        return out;
      case "using":
        out.push(...compileUsing(steps, i, k, scope, cx));
        return out;
      case "return":
        out.push(returnValue(k, step.value == null ? "null" : jsExpr(step.value)));
        return out;
      case "if":
        if (isSyncOnly([step])) {
          out.push(ifStmt(step, { ...k, tail: FALL }, scope, cx));
          break;
        }
        out.push(...compileIf(steps, i, k, scope, cx));
        return out;
      case "repeat":
        if (isSyncOnly(step.body)) {
          const inner = scope.child();
          const counter = step.bind ? camelCase(step.bind) : inner.fresh("attempt");
          out.push({
            t: "for",
            head: `let ${counter} = 0; ${counter} < ${step.times}; ${counter} += 1`,
            body: compileSteps(step.body, 0, { ...k, tail: FALL }, inner, cx),
          });
          break;
        }
        out.push(...compileLoop(steps, i, k, scope, cx));
        return out;
      case "try":
        if (isSyncOnly([step])) {
          out.push(nativeTry(step, k, scope, cx));
          break;
        }
        out.push(...compileTry(steps, i, k, scope, cx));
        return out;
      case "await":
      case "all":
      case "race":
      case "all_settled":
      case "any":
      case "group":
      case "sleep":
      case "map":
      case "put":
      case "get":
      case "yield":
        out.push(...compileWait(steps, i, k, scope, cx, out));
        return out;
      case "timeout":
        out.push(...compileTimeout(steps, i, k, scope, cx));
        return out;
      default:
        throw new TypeError(`unknown step ${JSON.stringify(step.step)}`);
    }
  }
  if (k.tail.t === "end" && k.sync && !terminates(out)) out.push(ret("Promise.resolve()"));
  if (k.tail.t === "call" && !terminates(out)) out.push(ret(k.tail.text));
  return out;
}

/**
 * Whether running a step list can reach its end without waiting, i.e. synchronously
 * (conservative: true when unsure). When it cannot, whatever runs after the list
 * (an if's continuation, the steps after a loop) only ever runs in a callback.
 */
function canEndSync(steps) {
  for (const step of steps) {
    switch (step.step) {
      case "log": case "start": case "set": case "cancel":
        break;
      case "await": case "all": case "race": case "all_settled": case "any": case "group":
      case "sleep": case "timeout": case "return": case "throw": case "map": case "put": case "get":
      case "yield": case "for_each": case "using": case "break":
        return false;
      case "if":
        if (!canEndSync(step.then ?? []) && !canEndSync(step.else ?? [])) return false;
        break;
      case "repeat":
        if (step.times > 0 && !isSyncOnly(step.body) && !canEndSync(step.body)) return false;
        break;
      case "try":
        // A try that waits continues in the `.then` after its chain.
        if (!isSyncOnly([step])) return false;
        break;
      default:
        return true;
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
 * synchronously as the async variant's does. In the synchronous part a throw inside
 * its body is a real throw (the catch is right there); one leaving it is a rejection.
 */
function nativeTry(step, k, scope, cx) {
  const fall = { ...k, tail: FALL };
  const stmt = {
    t: "try",
    body: compileSteps(step.body, 0, step.catch ? { ...fall, reject: false } : fall, scope.child(), cx),
    param: null,
    catch: null,
    finally: null,
  };
  if (step.catch) {
    const inner = scope.child();
    const param = step.catch.bind ? camelCase(step.catch.bind) : inner.fresh("error");
    inner.names.add(param);
    const filter = kindFilter(step.catch.kinds, param);
    const rethrow = k.reject ? `return Promise.reject(${param});` : `throw ${param};`;
    stmt.param = param;
    stmt.catch = [
      ...(step.catch.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []),
      ...(filter ? [shortIf(filter, rethrow)] : []),
      ...compileSteps(step.catch.body, 0, fall, inner, cx),
    ];
  }
  if (step.finally) stmt.finally = compileSteps(step.finally, 0, fall, scope.child(), cx);
  return stmt;
}

/** `return v` as the mode says; see compileSteps. */
function returnValue(k, expr) {
  if (k.mode === "discard") throw new Error("internal: a return step in a block compiled as discarded");
  const value = k.mode !== "completion" ? expr : expr === "value" ? "{ value }" : `{ value: ${expr} }`;
  if (k.closeFirst) {
    // Directly in a for_each's callback: close the generator, then return (for-await does).
    return ret(chain(raw(`${k.closeFirst}.return()`), [then([], [ret(value)])]));
  }
  return ret(k.sync ? `Promise.resolve(${value})` : value);
}

/** A break step as `k.brk` says; see compileSteps. */
function breakStmt(k) {
  if (!k.brk) throw new Error("internal: a break step outside a for_each");
  if (k.brk.kind === "close") return line(`return ${k.brk.text}; // break`);
  return ret(k.sync ? "Promise.resolve({ break: true })" : "{ break: true }");
}

/**
 * What a block that returns or breaks inside passes on, once its chain has resolved to
 * the completion `c` (truthy: a return's `{ value }` or a break's `{ break: true }`):
 * directly in a loop's callback a break closes the generator and a return closes it
 * first; elsewhere a return gives its value (in a function) or the completion itself
 * (inside an enclosing try), and a break is always the completion itself.
 */
function passOn(k, c, { returns, breaks }) {
  if (k.closeFirst) {
    const returnText = `${k.closeFirst}.return().then(() => ${k.mode === "function" ? `${c}.value` : c})`;
    if (breaks && returns) return `${c}.break ? ${k.brk.text} : ${returnText}`;
    return breaks ? k.brk.text : returnText;
  }
  return k.mode === "function" ? `${c}.value` : c;
}

/** `if (completion) return ...;` at the head of the steps after a block: see passOn. */
function completionCheck(k, c, flags) {
  const comment = k.closeFirst && flags.breaks && !flags.returns ? " // break" : "";
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
    return { brk: k.brk, closeFirst: undefined };
  }
  if (mode === "completion") return { brk: k.brk ? { kind: "completion" } : undefined, closeFirst: undefined };
  return { brk: undefined, closeFirst: undefined };
}

/** The declaration prefix of a `start` step (`const t = `, `let t = `, `t = `). */
function declare(step, cx) {
  const name = camelCase(step.bind);
  switch (cx.plan.site.get(step)) {
    case "const": return `const ${name} = `;
    case "let": return `let ${name} = `;
    default: return `${name} = `;
  }
}

/** The promise a waiting step waits for (a map's is made by compileWait). */
function waitHead(step, cx) {
  switch (step.step) {
    case "yield": return `${cx.emit}(${jsExpr(step.value)})`;
    case "await": return step.call ? jsCall(step.call) : camelCase(step.handle);
    case "all": case "race": case "all_settled": case "any": case "group": return jsFanOut(step);
    case "sleep": return jsSleep(step.ms);
    case "put": case "get": return jsQueueCall(step);
    default: throw new Error(`internal: ${step.step} does not wait`);
  }
}

/**
 * A waiting step (await, all, race, all_settled, any, group, sleep, map, put, get) and
 * everything after it: `return head.then((bound) => { rest })`. A group gets its comment
 * first; a map its comment and its semaphore.
 */
function compileWait(steps, i, k, scope, cx, out) {
  const step = steps[i];
  // Hoistable: in a try body these may go in front of the chain, just above its head.
  if (step.step === "map") {
    const { comment, declare: semaphore, promise } = mapParts(step, scope.fresh("semaphore"), scope.child().fresh("item"));
    const stmts = waitStmts(steps, i, k, scope, cx, out, promise);
    return [line(comment, true), line(semaphore, true), ...stmts];
  }
  const stmts = waitStmts(steps, i, k, scope, cx, out, waitHead(step, cx));
  return step.step === "group" ? [line(GROUP_COMMENT, true), ...stmts] : stmts;
}

function waitStmts(steps, i, k, scope, cx, out, headText) {
  const step = steps[i];
  const head = raw(headText);
  if (cx.carriedFinal.has(step)) return [ret(head)]; // the try's value: see planBindings
  const isLast = i === steps.length - 1;
  // A name the plan does not place is a catch's error or a loop counter bound again:
  // assigned, as in the async variant.
  const site = step.bind ? cx.plan.site.get(step) ?? "assign" : undefined;
  const name = step.bind ? camelCase(step.bind) : null;
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
    // The list's value must be undefined unless nobody reads it (a sleep gives undefined).
    // (A yield gives what next() was called with: nothing, in a for_each.)
    if (k.mode === "discard" || step.step === "sleep" || step.step === "put" || step.step === "yield") return [ret(head)];
    return [ret(chain(head, [then([], [ret("undefined")])]))];
  }
  const next = steps[i + 1];
  if (site === "const" && k.mode === "function" && i + 2 === steps.length && next.step === "return"
    && next.value?.ref === step.bind && next.value.member == null) {
    return [ret(head)]; // `x = await f(); return x;` is `return f();`
  }
  const body = [...pre, ...compileSteps(steps, i + 1, inCallback(k), inner, cx)];
  return [ret(thenChain(head, param, body))];
}

/**
 * A timeout step and everything after it. The deadline is armed first (emit.mjs
 * `deadlineStmts`), then the block starts, synchronously as the async variant's arrow
 * does, and the two race; `.finally` clears the timer however the race ends, so a block
 * that finishes in time wastes no virtual time. The block is not cancelled when the
 * deadline wins: its operations run on and end later (Python cancels them: the declared
 * divergence). The block has no `return` (the loader guarantees it), so its value is
 * discarded; names it binds for the steps after are declared before it (planBindings).
 */
function compileTimeout(steps, i, k, scope, cx) {
  const step = steps[i];
  const timer = scope.fresh("timer");
  const deadline = scope.fresh("deadline");
  const out = deadlineStmts(step, timer, deadline);
  const blockStmts = compileSteps(step.body, 0, { mode: "discard", sync: true, reject: true, tail: END }, scope.child(), cx);
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
    cond: jsCondition(step),
    then: compileSteps(step.then ?? [], 0, k, scope.child(), cx),
    else: compileSteps(step.else ?? [], 0, k, scope.child(), cx),
  };
}

/** An if whose branches wait. */
function compileIf(steps, i, k, scope, cx) {
  const step = steps[i];
  if (i === steps.length - 1) return [ifStmt(step, k, scope, cx)];
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

/** A repeat whose body waits: a local recursive function, one call per round. */
function compileLoop(steps, i, k, scope, cx) {
  const step = steps[i];
  const loop = scope.fresh("loop");
  const inner = scope.child();
  const counter = step.bind ? camelCase(step.bind) : inner.fresh("attempt");
  inner.names.add(counter);
  const next = { t: "call", text: `${loop}(${counter} + 1)` };
  const body = compileSteps(step.body, 0, { ...k, tail: next }, inner.child(), cx);
  const out = [];
  let after;
  if (step.bind && mentionedNames(steps.slice(i + 1)).has(step.bind)) {
    // The steps after the loop use the counter's name for something else: they go in a
    // continuation outside the loop function, where the counter is not in scope.
    const cont = scope.fresh("afterLoop");
    out.push({ t: "const", name: cont, expr: arrow([], compileSteps(steps, i + 1, k, scope.child(), cx)), hoistable: true });
    after = [ret(`${cont}()`)];
  } else {
    // When every round waits, the steps after the loop only ever run in a callback.
    const afterK = step.times > 0 && !canEndSync(step.body) ? inCallback(k) : k;
    after = compileSteps(steps, i + 1, afterK, inner, cx);
  }
  const fn = arrow([counter], [{ t: "if", cond: `${counter} < ${step.times}`, then: body, else: null }, ...after]);
  out.push({ t: "const", name: loop, expr: fn, hoistable: true }, ret(`${loop}(0)`));
  return out;
}

/**
 * A try step and everything after it:
 * `return body.catch((error) => ...).finally(() => ...).then(... rest)`.
 */
function compileTry(steps, i, k, scope, cx) {
  const step = steps[i];
  const isLast = i === steps.length - 1;
  // A return or a break in finally replaces what the try did: see below.
  const finallyReturns = containsReturn(step.finally) || containsBreak(step.finally);
  const returns = containsReturn(step.body) || containsReturn(step.catch?.body) || containsReturn(step.finally);
  const breaks = containsBreak([step]);
  const carried = cx.plan.carried.get(step);
  // Direct: nothing follows, so values and returns flow straight out of the chain.
  const direct = isLast && k.tail.t === "end" && !finallyReturns;
  const mode = direct ? k.mode : returns || breaks ? "completion" : "discard";
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
  const bodyStmts = compileSteps(step.body, 0, { mode, sync: true, reject: true, tail: END, ...exits }, scope, cx);
  const bodyExpr = liftBlock(bodyStmts, "tryBlock", out, scope);

  if (step.catch) {
    const inner = scope.child();
    const param = step.catch.bind ? camelCase(step.catch.bind) : inner.fresh("error");
    inner.names.add(param);
    const filter = kindFilter(step.catch.kinds, param);
    // A return() at a yield in the body arrives here as emit.closed: a native catch never
    // sees it, so it goes on (a filter by kind already lets it through).
    const closed = cx.emit !== null && filter === null && containsStep(step.body, "yield");
    const body = [
      ...(closed ? [shortIf(`${param} === ${cx.emit}.closed`, `throw ${param}; // return() is closing the generator`)] : []),
      ...(step.catch.kinds.includes(CANCELLED) ? [line(CANCELLED_COMMENT)] : []),
      ...(filter ? [shortIf(filter, `throw ${param};`)] : []),
      ...compileSteps(step.catch.body, 0, { mode, sync: false, reject: false, tail: END, ...exits }, inner, cx),
    ];
    links.push({ method: "catch", args: [arrow(step.catch.bind || filter || closed ? [param] : [], body)] });
  }

  if (step.finally && !finallyReturns) {
    const body = compileSteps(step.finally, 0, { mode: "discard", sync: false, reject: false, tail: END }, scope.child(), cx);
    links.push({ method: "finally", args: [arrow([], body)] });
  } else if (step.finally) {
    // A return in finally replaces whatever the try did (JS and Python agree), so the
    // finally block resolves to a completion that wins over the try's.
    const fin = scope.fresh("finallyBlock");
    const finK = { mode: "completion", sync: true, reject: true, tail: END, ...leaving(k, "completion", false) };
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
    const restK = inCallback(k);
    if (returns || breaks) {
      // A return inside the try resolved to { value }, a break to { break: true }: skip
      // the steps after the try.
      const completion = after.fresh("completion");
      const body = [
        completionCheck(k, completion, { returns, breaks }),
        ...compileSteps(steps, i + 1, restK, after, cx),
      ];
      links.push(then([completion], body));
    } else {
      if (carryParam) after.names.add(carryParam);
      const body = [...carryPre, ...compileSteps(steps, i + 1, restK, after, cx)];
      links.push(...thenChain(raw(""), carryParam, body).links);
    }
  }
  out.push(ret(chain(bodyExpr, links)));
  return out;
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

/** Whether a step list holds a step of a kind, nested steps included. */
function containsStep(steps, kind) {
  let found = false;
  forEachStep(steps ?? [], (step) => {
    if (step.step === kind) found = true;
  });
  return found;
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
  const direct = isLast && k.tail.t === "end";
  const returns = containsReturn(step.body);
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
    tail: { t: "call", text: `${next}()` },
    brk: { kind: "close", text: mode === "discard" ? close : `${close}.then(() => undefined)` },
    closeFirst: iterator,
  };
  const doneKey = done === "done" ? "done" : `done: ${done}`;
  const valueKey = value === "value" ? "value" : `value: ${value}`;
  const pattern = value !== null ? `{ ${valueKey}, ${doneKey} }` : `{ ${doneKey} }`;
  const callback = [shortIf(done, "return undefined;"), ...compileSteps(step.body, 0, bodyK, inner.child(), cx)];
  const out = [
    line(FOR_EACH_COMMENT, true),
    { t: "const", name: iterator, expr: raw(`${jsCall(step.call)}[Symbol.asyncIterator]()`), hoistable: true },
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
    const after = scope.child();
    const restK = inCallback(k);
    if (returns) {
      const completion = after.fresh("completion");
      const body = [
        completionCheck(k, completion, { returns: true, breaks: false }),
        ...compileSteps(steps, i + 1, restK, after, cx),
      ];
      links.push(then([completion], body));
    } else {
      links.push(...thenChain(raw(""), null, compileSteps(steps, i + 1, restK, after, cx)).links);
    }
  }
  out.push(ret(chain(raw(`${next}()`), links)));
  return out;
}

/**
 * A using step and everything after it: the open, then the block with the close in a
 * `.finally` (which waits for it, then passes the block's value or error on), then the
 * steps after in a `.then`. The block runs in the open's callback and is compiled as a
 * try body is, so it never throws before the `.finally` is attached.
 */
function compileUsing(steps, i, k, scope, cx) {
  const step = steps[i];
  const isLast = i === steps.length - 1;
  const returns = containsReturn(step.body);
  const breaks = containsBreak(step.body);
  const direct = isLast && k.tail.t === "end";
  const mode = direct ? k.mode : returns || breaks ? "completion" : "discard";
  const inner = scope.child();
  const handle = inner.fresh(`${camelCase(step.resource)}Handle`);
  const callback = step.bind ? [line(`const ${camelCase(step.bind)} = ${handle}.value;`)] : [];
  const blockK = { mode, sync: true, reject: true, tail: END, ...leaving(k, mode, direct) };
  const blockExpr = liftBlock(compileSteps(step.body, 0, blockK, inner, cx), "usingBlock", callback, inner);
  if (blockExpr.t === "raw" && blockExpr.text === "Promise.resolve()") {
    // A block that never waits: nothing to wait for but the close (its value, undefined).
    callback.push(ret(`${handle}.close()`));
  } else {
    callback.push(ret(chain(blockExpr, [{ method: "finally", args: [raw(`() => ${handle}.close()`)] }])));
  }
  const head = chain(raw(jsResourceOpen(step)), [then([handle], callback)]);
  if (direct) return [ret(head)];
  const after = scope.child();
  const restK = inCallback(k);
  if (returns || breaks) {
    const completion = after.fresh("completion");
    const body = [
      completionCheck(k, completion, { returns, breaks }),
      ...compileSteps(steps, i + 1, restK, after, cx),
    ];
    return [ret(chain(head, [then([completion], body)]))];
  }
  return [ret(thenChain(head, null, compileSteps(steps, i + 1, restK, after, cx)))];
}
