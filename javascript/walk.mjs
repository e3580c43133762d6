/**
 * Walks over IR step lists: the blocks a step holds, the calls, expressions and names it
 * uses itself, whether a list returns, breaks or runs without waiting, and which
 * functions can recurse before their first wait. What a step holds, uses, binds and
 * whether it waits come from the step table (ir-steps.mjs), so a new step needs no case
 * here; the few rules that are the language's, not the table's, are written out where
 * they apply.
 *
 * Standard library only (Node 20+).
 *
 * @module walk
 */

import { isExpr } from "./literals.mjs";
import { boundPaths, fieldAt, fieldsOfType, stepRow } from "./ir-steps.mjs";

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
 * The nested step lists of a step (the table's `blocks` that are set), with the name each
 * one binds for itself (a catch's error, a repeat's counter, a for_each's value, a
 * using's resource value) or null.
 *
 * @param {object} step
 * @returns {Array<{steps: object[], binds: string | null}>}
 */
export function childBlocks(step) {
  const blocks = [];
  for (const block of stepRow(step)?.blocks ?? []) {
    const steps = fieldAt(step, block.field);
    if (steps != null) blocks.push({ steps, binds: block.binds ? fieldAt(step, block.binds) ?? null : null });
  }
  return blocks;
}

/** The calls a step makes itself (its fields of type call and calls). */
export function stepCalls(step) {
  return fieldsOfType(step, "call", "calls").flatMap(([, value]) => value);
}

/** What a step calls itself: the callees of its calls, and a `callee` field (a map's). */
export function stepCallees(step) {
  return [...stepCalls(step).map((call) => call.callee), ...fieldsOfType(step, "callee").map(([, name]) => name)];
}

/** The expressions a step evaluates itself, its calls' arguments first. */
function stepExprs(step) {
  const exprs = stepCalls(step).flatMap((call) => call.args ?? []);
  for (const [, value] of fieldsOfType(step, "expr", "exprs", "integer>=0|expr")) {
    if (Array.isArray(value)) exprs.push(...value);
    else if (isExpr(value)) exprs.push(value);
  }
  for (const [, condition] of fieldsOfType(step, "condition")) exprs.push(...conditionExprs(condition));
  return exprs;
}

/** The expressions a condition compares, left to right. */
export function conditionExprs(condition) {
  if (!isExpr(condition)) return [];
  if ("compare" in condition) return [condition.compare[0], condition.compare[2]];
  if ("not" in condition) return conditionExprs(condition.not);
  return (condition.and ?? condition.or ?? []).flatMap(conditionExprs);
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
  } else if ("item" in expr) for (const part of expr.item) forEachRef(part, visit);
  else if ("length" in expr) forEachRef(expr.length, visit);
  else if ("resolved" in expr) forEachRef(expr.resolved, visit);
  else if ("slice" in expr) for (const part of expr.slice) forEachRef(part, visit);
  else if ("append" in expr) for (const part of expr.append) forEachRef(part, visit);
}

/**
 * Every identifier a step mentions itself, not in its nested steps: its names (bound,
 * read, a queue's, a resource's), what it calls and what its expressions refer to.
 *
 * @param {object} step
 * @returns {string[]}
 */
export function stepNames(step) {
  const names = fieldsOfType(step, "name", "queue", "event", "sync", "resource").map(([, name]) => name);
  for (const block of childBlocks(step)) if (block.binds) names.push(block.binds);
  names.push(...stepCallees(step));
  for (const expr of stepExprs(step)) forEachRef(expr, (name) => names.push(name));
  return names;
}

/**
 * The names a step reads itself: references in its expressions, and its name fields that
 * it does not bind (an awaited or cancelled handle).
 *
 * @param {object} step
 * @returns {string[]}
 */
export function stepReads(step) {
  const names = [];
  for (const expr of stepExprs(step)) forEachRef(expr, (name) => names.push(name));
  const bound = boundPaths(step);
  for (const [field, name] of fieldsOfType(step, "name")) if (!bound.includes(field)) names.push(name);
  return names;
}

/**
 * Whether a step list holds a step of a kind anywhere, nested ones included.
 *
 * @param {object[] | null | undefined} steps
 * @param {string} kind a step name.
 * @returns {boolean}
 */
export function containsStep(steps, kind) {
  let found = false;
  forEachStep(steps ?? [], (step) => {
    if (step.step === kind) found = true;
  });
  return found;
}

/**
 * Whether a step list holds a `return` step anywhere, nested ones included.
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsReturn(steps) {
  return containsStep(steps, "return");
}

/**
 * Whether a step list holds a `break` that leaves the loop around the list: nested
 * steps included, except the bodies of loops inside (the table's `loops`: repeat, while,
 * for_each), whose breaks are theirs (a break leaves the innermost loop, a rule of the
 * language, not a table fact).
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsBreak(steps) {
  return containsLoopStep(steps, "break");
}

/**
 * Whether a step list holds a `continue` of the loop around the list (as containsBreak).
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsContinue(steps) {
  return containsLoopStep(steps, "continue");
}

/**
 * Whether a step list holds a `break` or a `continue` of the loop around the list.
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function containsJump(steps) {
  return containsBreak(steps) || containsContinue(steps);
}

function containsLoopStep(steps, kind) {
  return (steps ?? []).some((step) => step.step === kind
    || (!stepRow(step)?.loops && childBlocks(step).some((block) => containsLoopStep(block.steps, kind))));
}

/**
 * Whether a step always leaves its list: a return, a throw, a break or a continue (the
 * steps after one never run; a rule of the language, not a table fact).
 *
 * @param {object} step
 * @returns {boolean}
 */
export function leaves(step) {
  return step.step === "return" || step.step === "throw" || step.step === "rethrow" || step.step === "break" || step.step === "continue";
}

/**
 * Whether a step list runs without waiting anywhere: steps that never wait (the table's
 * `waits: false`: log, start, set, cancel, throw, return, break, continue), and steps
 * whose blocks are made of those (`waits: "blocks"`: if, repeat, while, try). Such steps
 * compile to plain statements in both compilers. One rule is not the table's: a try
 * holding a break or a continue is never one, for in a loop of callbacks the jump
 * (`return afterLoop()`, a for-await's return()) must wait for the try's finally, which
 * only a chain can do.
 *
 * @param {object[] | null | undefined} steps
 * @returns {boolean}
 */
export function isSyncOnly(steps) {
  return (steps ?? []).every((step) => {
    const waits = stepRow(step)?.waits;
    if (waits !== "blocks") return waits === false;
    if (step.step === "try" && containsJump([step])) return false;
    return childBlocks(step).every((block) => isSyncOnly(block.steps));
  });
}

/**
 * Whether a step binds a name of the function's own (the table's `binds: "value"`): a
 * waited value, a start or a set.
 *
 * @param {object} step
 * @returns {boolean}
 */
export function bindsName(step) {
  return Boolean(step.bind) && stepRow(step)?.binds === "value";
}

/**
 * Whether a step waits for a value it may bind (`waits: true` and `binds: "value"`):
 * await, all, race, all_settled, any, group, map, get.
 *
 * @param {object} step
 * @returns {boolean}
 */
export function waitsForValue(step) {
  const row = stepRow(step);
  return row?.waits === true && row.binds === "value";
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
    for (const callee of stepCallees(step)) visit(callee);
    if (leaves(step)) return false;
    // How a step's blocks run is not in the table: these rules are the language's.
    switch (step.step) {
      case "timeout":
        // It waits (its deadline), but its block starts at once.
        if (!syncCalls(step.body, visit)) return false;
        break;
      case "if": {
        const a = syncCalls(step.then ?? [], visit);
        const b = syncCalls(step.else ?? [], visit);
        if (!a && !b) return false;
        break;
      }
      case "repeat":
        // A computed count may be 0, and a break may leave before the first wait.
        if (!syncCalls(step.body, visit) && typeof step.times === "number" && step.times > 0 && !containsJump(step.body)) {
          return false;
        }
        break;
      case "while":
        // The condition may be false at once: the steps after may run without waiting.
        syncCalls(step.body, visit);
        break;
      default:
        // A wait: what follows runs in a callback.
        if (stepRow(step)?.waits === true) return false;
        // A try, and any other step with blocks: each block counts as synchronous.
        for (const block of childBlocks(step)) syncCalls(block.steps, visit);
    }
  }
  return true;
}
