/**
 * A small code model and its printer, shared by both compilers, and `terminates`, which
 * asks whether a statement list leaves on every path.
 *
 * A small code model and its printer, shared by both compilers.
 *
 * Statements: {t: "line", text} | {t: "return", expr} | {t: "if", cond, then, else}
 *   | {t: "for", head, body} | {t: "try", body, param, catch, finally}
 *   | {t: "const", name, expr}
 *   | {t: "block", open, body, close}: `open` and `close` lines around an indented body,
 *     for a function literal inside a statement (the deadline's executor, the timed block).
 * Expressions: {t: "raw", text} | {t: "chain", head, links: [{method, args}]}
 *   | {t: "arrow", params, body} where body is a statement list.
 *
 * Standard library only (Node 20+).
 *
 * @module code
 */

/** @param {string} text @returns {{t: "raw", text: string}} */
export const raw = (text) => ({ t: "raw", text });

/**
 * A method chain `head.m1(...).m2(...)`; a chain as head is flattened into one, which
 * is the same expression.
 *
 * @param {object} head an expression.
 * @param {Array<{method: string, args: object[]}>} links
 * @returns {object}
 */
export function chain(head, links) {
  if (head.t === "chain") return { t: "chain", head: head.head, links: [...head.links, ...links] };
  return { t: "chain", head, links };
}

/**
 * An arrow function. `concise`: a body that is only `return <chain>` is written as the
 * chain itself even over several lines (`() => it.next().then((x) => {...})`).
 *
 * @param {string[]} params @param {object[]} body @param {{concise?: boolean}} [options]
 * @returns {object} an arrow function.
 */
export const arrow = (params, body, { concise = false } = {}) => ({ t: "arrow", params, body, concise });

const pad = (level) => "  ".repeat(level);

/**
 * Renders statements, one per line (blocks over several lines), at an indent level.
 *
 * @param {object[]} stmts
 * @param {number} level
 * @returns {string[]} the lines, indented.
 */
export function renderStmts(stmts, level) {
  const lines = [];
  for (const stmt of stmts) lines.push(...renderStmt(stmt, level));
  return lines;
}

function renderStmt(stmt, level) {
  const p = pad(level);
  switch (stmt.t) {
    case "line":
      return [p + stmt.text];
    case "return":
      return stmt.expr ? [`${p}return ${renderExpr(stmt.expr, level)};`] : [`${p}return;`];
    case "const":
      return [`${p}const ${stmt.name} = ${renderExpr(stmt.expr, level)};`];
    case "if":
      return renderIf(stmt, level, p);
    case "for":
      return [`${p}for (${stmt.head}) {`, ...renderStmts(stmt.body, level + 1), `${p}}`];
    case "block":
      return [p + stmt.open, ...renderStmts(stmt.body, level + 1), p + stmt.close];
    case "try": {
      const lines = [`${p}try {`, ...renderStmts(stmt.body, level + 1)];
      if (stmt.catch) lines.push(`${p}} catch${stmt.param ? ` (${stmt.param})` : ""} {`, ...renderStmts(stmt.catch, level + 1));
      if (stmt.finally) lines.push(`${p}} finally {`, ...renderStmts(stmt.finally, level + 1));
      lines.push(`${p}}`);
      return lines;
    }
    default:
      throw new Error(`unknown statement ${stmt.t}`);
  }
}

function renderIf(stmt, level, p) {
  if (stmt.short) return [`${p}if (${stmt.cond}) ${renderStmt(stmt.then[0], 0)[0]}`];
  const lines = [`${p}if (${stmt.cond}) {`, ...renderStmts(stmt.then, level + 1)];
  let rest = stmt.else;
  while (rest && rest.length === 1 && rest[0].t === "if" && !rest[0].short) {
    lines.push(`${p}} else if (${rest[0].cond}) {`, ...renderStmts(rest[0].then, level + 1));
    rest = rest[0].else;
  }
  if (rest && rest.length > 0) lines.push(`${p}} else {`, ...renderStmts(rest, level + 1));
  lines.push(`${p}}`);
  return lines;
}

/**
 * Renders an expression whose first line continues the current line at `level`.
 *
 * @param {object} expr
 * @param {number} level
 * @returns {string} possibly several lines, later ones indented absolutely.
 */
export function renderExpr(expr, level) {
  switch (expr.t) {
    case "raw":
      return expr.text;
    case "arrow":
      return renderArrow(expr, level);
    case "chain":
      return renderChain(expr, level);
    default:
      throw new Error(`unknown expression ${expr.t}`);
  }
}

function renderArrow(fn, level) {
  const params = `(${fn.params.join(", ")})`;
  if (fn.body.length === 0) return `${params} => {}`;
  const only = fn.body[0];
  if (fn.body.length === 1 && only.t === "return" && only.expr) {
    const text = renderExpr(only.expr, level);
    if (!text.includes("\n") || (fn.concise && only.expr.t === "chain")) {
      return `${params} => ${text.startsWith("{") ? `(${text})` : text}`;
    }
  }
  return `${params} => {\n${renderStmts(fn.body, level + 1).join("\n")}\n${pad(level)}}`;
}

function renderChain(expr, level) {
  const head = renderExpr(expr.head, level);
  if (expr.links.length <= 1) {
    return head + expr.links.map((link) => renderLink(link, level)).join("");
  }
  return head + expr.links.map((link) => `\n${pad(level + 1)}${renderLink(link, level + 1)}`).join("");
}

function renderLink(link, level) {
  if (link.args.length <= 1) {
    return `.${link.method}(${link.args.map((arg) => renderExpr(arg, level)).join("")})`;
  }
  const args = link.args.map((arg) => `${pad(level + 1)}${renderExpr(arg, level + 1)},`);
  return `.${link.method}(\n${args.join("\n")}\n${pad(level)})`;
}

/**
 * Whether a statement list ends every path with `return` or `throw`.
 *
 * @param {object[]} stmts
 * @returns {boolean}
 */
export function terminates(stmts) {
  const last = stmts[stmts.length - 1];
  if (!last) return false;
  if (last.t === "return") return true;
  if (last.t === "line") return /^(throw|return)\b/.test(last.text);
  if (last.t === "if") return terminates(last.then) && terminates(last.else ?? []);
  if (last.t === "try") {
    return terminates(last.finally ?? []) || (terminates(last.body) && (!last.catch || terminates(last.catch)));
  }
  return false;
}
