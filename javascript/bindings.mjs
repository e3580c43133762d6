/**
 * Where the bindings of a scenario function are declared (`const`, `let`, a `let` before
 * a block, or a value carried out of a try down a promise chain): the binding plan both
 * compilers follow.
 *
 * Standard library only (Node 20+).
 *
 * @module bindings
 */

import { camelCase } from "./names.mjs";
import { bindsName, childBlocks, containsReturn, forEachStep, stepReads, waitsForValue } from "./walk.mjs";

/**
 * Where each binding of one function body is declared.
 *
 * A name bound once, directly in the innermost step list that holds all its bindings
 * and uses, is a `const` where it is bound. Any other name (bound inside a block and
 * used after it, or bound more than once, as a `set` binds again) is declared with
 * `let` in that innermost list,
 * just before the first step that binds it: `let` at the binding itself when that step
 * is in the list, else a separate `let name;` before it. Parameters are never declared.
 *
 * With `carry` (the js-promise compiler), a `try` whose every branch ends by binding the
 * same name, which nothing inside the try reads and nothing else binds, counts as the
 * binding: the value flows out of the chain into the next `.then((name) => ...)`.
 *
 * With `inline` (step names), the body of such a step is written as statements of the
 * list that holds the step (js-async's `task_group`): its bindings count as that
 * list's, so that `const user = fetchUser(7);` there is visible after it.
 *
 * @param {object[]} body the function's steps.
 * @param {string[]} params the function's parameters.
 * @param {{carry?: boolean, inline?: string[]}} [options]
 * @returns {{
 *   site: Map<object, "const" | "let" | "assign">,
 *   before: Map<object[], Map<number, string[]>>,
 *   carried: Map<object, string>,
 *   uses: Map<string, number>,
 *   unread: Set<string>,
 *   cancelOnly: Set<string>,
 * }} `site`: how each binding step declares its name; `before`: `let` declarations
 *   due before a step index of a step list; `carried`: try step -> carried name;
 *   `uses`: how often each name is read; `unread`: the names bound and never read,
 *   which are not declared at all (an unused binding is a lint error: issue 10);
 *   `cancelOnly`: the handles read by cancel steps only (JavaScript cancels through the
 *   call's AbortController, so the promise itself is not kept).
 */
export function planBindings(body, params, { carry = false, inline = [] } = {}) {
  const carried = carry ? findCarries(body, params) : new Map();
  const skipped = new Set();
  for (const [tryStep, name] of carried) {
    for (const block of childBlocks(tryStep)) {
      const last = block.steps[block.steps.length - 1];
      if (last && last.bind === name) skipped.add(last);
    }
  }
  const sites = new Map();
  const reads = new Map();
  const valueReads = new Set(); // names read by a step other than a cancel
  const push = (map, name, entry) => {
    if (!map.has(name)) map.set(name, []);
    map.get(name).push(entry);
  };
  // `at`: the frame of an inline body's steps, the one of the step that holds it.
  const walk = (steps, frames, shadow, at = null) => {
    steps.forEach((step, index) => {
      const path = [...frames, at ?? { steps, index }];
      for (const name of stepReads(step)) {
        if (!shadow.has(name)) push(reads, name, path);
        if (!shadow.has(name) && step.step !== "cancel") valueReads.add(name);
      }
      if (carried.has(step)) push(sites, carried.get(step), { step, path });
      if (bindsName(step) && !skipped.has(step) && !shadow.has(step.bind)) {
        push(sites, step.bind, { step, path });
      }
      for (const block of childBlocks(step)) {
        const inner = block.binds ? new Set([...shadow, block.binds]) : shadow;
        if (inline.includes(step.step)) walk(block.steps, frames, inner, path[path.length - 1]);
        else walk(block.steps, path, inner);
      }
    });
  };
  walk(body, [], new Set());

  const site = new Map();
  const before = new Map();
  const uses = new Map();
  for (const [name, list] of reads) uses.set(name, list.length);
  const paramSet = new Set(params);
  const unread = new Set();
  for (const [name, list] of sites) {
    if (!paramSet.has(name) && !reads.has(name)) {
      unread.add(name);
      continue;
    }
    if (paramSet.has(name)) {
      for (const entry of list) site.set(entry.step, "assign");
      continue;
    }
    const paths = [...list.map((entry) => entry.path), ...(reads.get(name) ?? [])];
    let depth = 0;
    while (paths.every((path) => path.length > depth + 1 && path[depth + 1].steps === paths[0][depth + 1].steps)) {
      depth += 1;
    }
    const direct = (entry) => entry.path.length === depth + 1;
    if (list.length === 1 && direct(list[0])) {
      site.set(list[0].step, "const");
      continue;
    }
    const first = list[0];
    for (const entry of list) site.set(entry.step, "assign");
    if (direct(first)) {
      site.set(first.step, "let");
    } else {
      const steps = first.path[depth].steps;
      const index = first.path[depth].index;
      if (!before.has(steps)) before.set(steps, new Map());
      const at = before.get(steps);
      if (!at.has(index)) at.set(index, []);
      at.get(index).push(name);
    }
  }
  const cancelOnly = new Set([...sites.keys()].filter((name) => reads.has(name) && !valueReads.has(name)));
  return { site, before, carried, uses, unread, cancelOnly };
}

/** The try steps whose branches all end by binding one name the code after reads. */
function findCarries(body, params) {
  const bindCount = new Map();
  forEachStep(body, (step) => {
    if (bindsName(step)) {
      bindCount.set(step.bind, (bindCount.get(step.bind) ?? 0) + 1);
    }
  });
  const carried = new Map();
  const visit = (steps) => {
    steps.forEach((step, index) => {
      for (const block of childBlocks(step)) visit(block.steps);
      if (step.step !== "try" || index === steps.length - 1) return;
      const branches = [step.body];
      if (step.catch) branches.push(step.catch.body);
      const lasts = branches.map((branch) => branch[branch.length - 1]);
      if (!lasts.every((last) => last && waitsForValue(last) && last.bind)) return;
      const name = lasts[0].bind;
      if (!lasts.every((last) => last.bind === name)) return;
      if (params.includes(name) || step.catch?.bind === name) return;
      if (bindCount.get(name) !== lasts.length) return;
      if (containsReturn(step.body) || containsReturn(step.catch?.body) || containsReturn(step.finally)) return;
      let readInside = false;
      for (const block of childBlocks(step)) {
        forEachStep(block.steps, (inner) => {
          if (stepReads(inner).includes(name)) readInside = true;
        });
      }
      if (readInside) return;
      let readAfter = false;
      forEachStep(steps.slice(index + 1), (inner) => {
        if (stepReads(inner).includes(name)) readAfter = true;
      });
      if (readAfter) carried.set(step, name);
    });
  };
  visit(body);
  return carried;
}

/**
 * What a binding step writes before its value, as the binding plan says: `const x = `,
 * `let x = ` or `x = ` (a name bound again, or a parameter); nothing for a step that
 * binds no name, or a name nothing reads (the value is computed, and not kept).
 *
 * @param {object} step
 * @param {{site: Map<object, string>, unread?: Set<string>}} plan see `planBindings`.
 * @returns {string}
 */
export function bindingPrefix(step, plan) {
  if (!step.bind || plan.unread?.has(step.bind)) return "";
  const name = camelCase(step.bind);
  switch (plan.site.get(step)) {
    case "const": return `const ${name} = `;
    case "let": return `let ${name} = `;
    default: return `${name} = `;
  }
}
