/**
 * Unused bindings in a generated JavaScript program: the test helper behind issue 10's
 * "each JavaScript program has no unused binding" (npm packages such as ESLint are not
 * available at run time, and the compilers' output is regular enough for a tokenizer).
 *
 * What counts, as ESLint's `no-unused-vars` counts it by default:
 *
 * - an imported name, a `const` / `let` / `var` name not exported (destructured ones
 *   included, such as `const { log, setTimeout, clearTimeout } = world`), a `function` name, a
 *   `catch (error)` name and a `for (const x of ...)` name, none of which is read
 *   anywhere in its scope after it is declared;
 * - a parameter of an arrow function or a function that is never read, and neither is
 *   any parameter after it ("after-used": in `(resolve, reject) => reject(e)` the
 *   unread `resolve` is needed to reach `reject`, and is not reported).
 *
 * A name that starts with `_` is never reported: the convention for "unused on purpose".
 *
 * Scopes are approximated by brackets: a declaration's scope is the innermost `{...}` or
 * `(...)` around it (a parameter's: the function it belongs to), and any token of the
 * same name in it that is not a property name (`.name`, `name:` in an object literal) is
 * a read. The approximation can only miss an unused binding (a read of another binding
 * of the same name in the scope), never report a used one.
 *
 * Usage: `node tests/javascript/unused-bindings.mjs FILE...` prints `FILE:LINE: kind
 * 'name' is never read` for each, and exits 1 if there is any.
 *
 * Standard library only (Node 20+).
 *
 * @module unused-bindings
 */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const PUNCTUATION = ["...", "=>", "===", "!==", "**=", "&&=", "||=", "??=", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/="];
const KEYWORDS = new Set([
  "await", "async", "break", "case", "catch", "class", "const", "continue", "default", "delete", "do", "else",
  "export", "extends", "false", "finally", "for", "from", "function", "if", "import", "in", "instanceof", "let",
  "new", "null", "of", "return", "static", "super", "switch", "this", "throw", "true", "try", "typeof",
  "undefined", "var", "void", "while", "yield", "as",
]);

/**
 * The program's tokens: identifiers, punctuation, and strings/numbers as opaque values
 * (a template literal's `${...}` parts are tokenized too). Comments are dropped.
 *
 * @param {string} source
 * @returns {Array<{type: "name" | "punct" | "value", text: string, line: number}>}
 */
export function tokenize(source) {
  const tokens = [];
  let line = 1;
  let index = 0;
  const templates = []; // brace depth at each open `${` of a template literal
  let braces = 0;
  const push = (type, text) => tokens.push({ type, text, line });
  const template = () => {
    // From inside a template literal up to its end or the next `${`.
    while (index < source.length) {
      const char = source[index];
      if (char === "\\") index += 2;
      else if (char === "`") {
        index += 1;
        push("value", "`");
        return;
      } else if (char === "$" && source[index + 1] === "{") {
        index += 2;
        templates.push(braces);
        braces += 1;
        push("punct", "(");
        return;
      } else {
        if (char === "\n") line += 1;
        index += 1;
      }
    }
  };
  while (index < source.length) {
    const char = source[index];
    if (char === "\n") {
      line += 1;
      index += 1;
    } else if (/\s/.test(char)) {
      index += 1;
    } else if (source.startsWith("//", index)) {
      while (index < source.length && source[index] !== "\n") index += 1;
    } else if (source.startsWith("/*", index)) {
      const end = source.indexOf("*/", index + 2);
      const stop = end < 0 ? source.length : end + 2;
      line += (source.slice(index, stop).match(/\n/g) ?? []).length;
      index = stop;
    } else if (char === '"' || char === "'") {
      let end = index + 1;
      while (end < source.length && source[end] !== char) end += source[end] === "\\" ? 2 : 1;
      index = end + 1;
      push("value", "string");
    } else if (char === "`") {
      index += 1;
      template();
    } else if (/[A-Za-z_$]/.test(char)) {
      const match = /^[A-Za-z0-9_$]+/.exec(source.slice(index, index + 200));
      push("name", match[0]);
      index += match[0].length;
    } else if (/[0-9]/.test(char)) {
      const match = /^[0-9][0-9A-Za-z_.]*/.exec(source.slice(index, index + 200));
      push("value", match[0]);
      index += match[0].length;
    } else if (char === "}" && templates.length > 0 && braces - 1 === templates[templates.length - 1]) {
      // The end of a template literal's `${...}`: back into the literal.
      templates.pop();
      braces -= 1;
      index += 1;
      push("punct", ")");
      template();
    } else {
      const long = PUNCTUATION.find((text) => source.startsWith(text, index));
      const text = long ?? char;
      if (text === "{") braces += 1;
      if (text === "}") braces -= 1;
      push("punct", text);
      index += text.length;
    }
  }
  return tokens;
}

const OPEN = { "(": ")", "[": "]", "{": "}" };
const CLOSE = new Set([")", "]", "}"]);

/** For each bracket token, the index of its partner; for every token, its innermost open bracket (or -1). */
function brackets(tokens) {
  const partner = new Map();
  const enclosing = new Array(tokens.length).fill(-1);
  const stack = [];
  tokens.forEach((token, index) => {
    enclosing[index] = stack.length ? stack[stack.length - 1] : -1;
    if (token.type !== "punct") return;
    if (token.text in OPEN) stack.push(index);
    else if (CLOSE.has(token.text) && stack.length) {
      const open = stack.pop();
      partner.set(open, index);
      partner.set(index, open);
    }
  });
  return { partner, enclosing };
}

/** The names a binding pattern declares, from `start` to `end` (exclusive): `a`, `{ a, b: c }`, `[a, b]`. */
function patternNames(tokens, start, end) {
  const names = [];
  for (let index = start; index < end; index += 1) {
    const token = tokens[index];
    if (token.type !== "name" || KEYWORDS.has(token.text)) continue;
    const next = tokens[index + 1];
    if (next?.text === ":") continue; // `key: binding` in an object pattern: the key is no binding
    if (tokens[index - 1]?.text === "=") continue; // a default value's reference, not a binding
    names.push(index);
  }
  return names;
}

/**
 * Every unused binding of a program.
 *
 * @param {string} source the program text.
 * @returns {Array<{name: string, line: number, kind: string}>}
 */
export function unusedBindings(source) {
  const tokens = tokenize(source);
  const { partner, enclosing } = brackets(tokens);
  const declarations = []; // {index, kind, scope: [start, end], group?: param group id}
  const declaredAt = new Set();
  const scopeOf = (index) => {
    const open = enclosing[index];
    if (open < 0) return [0, tokens.length];
    const close = partner.get(open) ?? tokens.length;
    const head = tokens[open - 1]?.text;
    if (tokens[open].text === "(" && (head === "for" || (head === "await" && tokens[open - 2]?.text === "for"))) {
      // A for loop's own binding: its scope is the loop's body as well.
      return [open, tokens[close + 1]?.text === "{" ? partner.get(close + 1) : tokens.length];
    }
    return [open, close];
  };
  const declare = (index, kind, scope, group = null) => {
    declarations.push({ index, kind, scope, group });
    declaredAt.add(index);
  };
  tokens.forEach((token, index) => {
    const text = token.text;
    if (token.type === "name" && text === "import" && tokens[index + 1]?.text === "{") {
      const close = partner.get(index + 1);
      for (let at = index + 2; at < close; at += 1) {
        const name = tokens[at];
        if (name.type !== "name" || tokens[at + 1]?.text === "as") continue;
        declare(at, "import", [0, tokens.length]);
      }
    } else if (token.type === "name" && (text === "const" || text === "let" || text === "var") && tokens[index - 1]?.text !== "export") {
      const first = tokens[index + 1];
      const scope = scopeOf(index);
      if (first?.text === "{" || first?.text === "[") {
        for (const at of patternNames(tokens, index + 2, partner.get(index + 1))) declare(at, text, scope);
      } else if (first?.type === "name") {
        declare(index + 1, text, scope);
        // `let a, b;`: the names after commas at this depth, up to the statement's end.
        for (let at = index + 2; at < tokens.length && tokens[at].text !== ";"; at += 1) {
          if (tokens[at].text in OPEN) at = partner.get(at) ?? at;
          else if (tokens[at].text === "," && tokens[at + 1]?.type === "name") declare(at + 1, text, scope);
          else if (tokens[at].text === "of" || tokens[at].text === "in") break;
        }
      }
    } else if (token.type === "name" && text === "function") {
      let at = index + 1;
      if (tokens[at]?.text === "*") at += 1;
      if (tokens[at]?.type === "name") {
        declare(at, "function", scopeOf(index));
        at += 1;
      }
      if (tokens[at]?.text === "(") {
        const close = partner.get(at);
        const body = tokens[close + 1]?.text === "{" ? [close + 1, partner.get(close + 1)] : [close, close];
        for (const param of patternNames(tokens, at + 1, close)) declare(param, "parameter", [at, body[1]], at);
      }
    } else if (token.type === "name" && text === "catch" && tokens[index + 1]?.text === "(" && tokens[index - 1]?.text !== ".") {
      const close = partner.get(index + 1);
      const body = tokens[close + 1]?.text === "{" ? partner.get(close + 1) : close;
      for (const at of patternNames(tokens, index + 2, close)) declare(at, "catch", [index, body]);
    } else if (text === "=>" && token.type === "punct") {
      const before = tokens[index - 1];
      const scope = scopeOf(index);
      if (before?.text === ")") {
        const open = partner.get(index - 1);
        for (const at of patternNames(tokens, open + 1, index - 1)) declare(at, "parameter", [open, scope[1]], open);
      } else if (before?.type === "name") {
        declare(index - 1, "parameter", [index - 1, scope[1]], index - 1);
      }
    }
  });

  const read = (declaration) => {
    const name = tokens[declaration.index].text;
    const [start, end] = declaration.scope;
    for (let at = start; at < end; at += 1) {
      const token = tokens[at];
      if (token.type !== "name" || token.text !== name || declaredAt.has(at)) continue;
      if (tokens[at - 1]?.text === "." || tokens[at - 1]?.text === "?.") continue; // a property
      const previous = tokens[at - 1]?.text;
      if (tokens[at + 1]?.text === ":" && (previous === "{" || previous === ",")) continue; // an object key
      if (tokens[at + 1]?.text === "=") continue; // written, not read
      return true;
    }
    return false;
  };
  const used = new Map(declarations.map((declaration) => [declaration, read(declaration)]));
  const found = [];
  for (const declaration of declarations) {
    const name = tokens[declaration.index].text;
    if (used.get(declaration) || name.startsWith("_")) continue;
    if (declaration.group !== null) {
      // After-used: a parameter before a read one is needed to reach it.
      const later = declarations.filter((other) => other.group === declaration.group && other.index > declaration.index);
      if (later.some((other) => used.get(other))) continue;
    }
    found.push({ name, line: tokens[declaration.index].line, kind: declaration.kind });
  }
  return found;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let count = 0;
  for (const file of process.argv.slice(2)) {
    for (const { name, line, kind } of unusedBindings(readFileSync(file, "utf8"))) {
      console.log(`${file}:${line}: ${kind} '${name}' is never read`);
      count += 1;
    }
  }
  process.exitCode = count ? 1 : 0;
}
