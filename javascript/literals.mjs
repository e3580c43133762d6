/**
 * Literals of the generated programs: every string of a scenario reaches a program as an
 * escaped literal, never as code. `jsString` for string literals, `jsValue` for JSON
 * values, `jsObject` for object literals, `templateText` and `templateLiteral` for
 * template literals, `commentText` for the few places where scenario text lands in a
 * comment.
 *
 * Standard library only (Node 20+).
 *
 * @module literals
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * A JavaScript string literal whose value is exactly `text`.
 *
 * JSON.stringify escapes quotes, backslashes, control characters (NUL as `\u0000`) and
 * lone surrogates; on top of that U+2028/U+2029 are escaped (line terminators in older
 * engines and in comments), `</` becomes `<\/` and `<!--` becomes `\u003c!--`, so a
 * program can sit inside an HTML `<script>`. Other non-ASCII text is kept as is.
 *
 * @param {string} text
 * @returns {string} the literal, double-quoted.
 */
export function jsString(text) {
  if (typeof text !== "string") throw new TypeError(`expected a string, got ${typeof text}`);
  return escapeForScript(JSON.stringify(text));
}

/** Escapes what JSON.stringify leaves and a script must not contain raw. */
function escapeForScript(literal) {
  return literal
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")
    .replace(/<\//g, "<\\/")
    .replace(/<!--/g, "\\u003c!--");
}

/**
 * A JavaScript expression for a JSON value: `null`, booleans, numbers, strings,
 * arrays `[1, 2]` and objects `{ name: "x", "content-type": "y" }` with keys quoted
 * only where needed. A key `__proto__` is written `["__proto__"]`, so that it makes
 * an own property as JSON.parse does rather than setting the prototype.
 *
 * @param {*} value a JSON value.
 * @returns {string} the expression, on one line.
 */
export function jsValue(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return String(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`not a JSON number: ${value}`);
      return JSON.stringify(value);
    case "string":
      return jsString(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(jsValue).join(", ")}]`;
      return jsObject(Object.entries(value).map(([key, item]) => [key, jsValue(item)]));
    default:
      throw new TypeError(`not a JSON value: ${typeof value}`);
  }
}

/**
 * An object literal from keys and already-emitted value expressions.
 *
 * @param {Array<[string, string]>} entries key (any string) and value expression.
 * @returns {string} `{ a: 1, "b c": x }`, or `{}`.
 */
export function jsObject(entries) {
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([key, expr]) => `${propertyKey(key)}: ${expr}`).join(", ")} }`;
}

/** A property name: bare when it is an identifier name, else a string literal. */
function propertyKey(key) {
  if (key === "__proto__") return `[${jsString(key)}]`;
  return IDENTIFIER.test(key) ? key : jsString(key);
}

/**
 * The literal text of a template literal part: backslashes, backticks and `${` are
 * escaped, and so are control characters, U+2028/U+2029, lone surrogates, `</` and
 * `<!--`, so that the cooked string is exactly `text`.
 *
 * @param {string} text
 * @returns {string} text to place between the backticks.
 */
export function templateText(text) {
  let out = "";
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    const code = text.charCodeAt(i);
    if (ch === "\\") out += "\\\\";
    else if (ch === "`") out += "\\`";
    else if (ch === "$" && text[i + 1] === "{") out += "\\$";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) out += unicodeEscape(code);
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      out += ch + text[i + 1];
      i += 1;
    } else if (code >= 0xd800 && code <= 0xdfff) out += unicodeEscape(code);
    else if (ch === "<" && text[i + 1] === "/") {
      out += "<\\/";
      i += 1;
    }
    else if (ch === "<" && text.startsWith("<!--", i)) out += "\\u003c";
    else out += ch;
  }
  return out;
}

function isLowSurrogate(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}

function unicodeEscape(code) {
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * A template literal from literal text parts and already-emitted expressions.
 *
 * @param {Array<{text: string} | {expr: string}>} parts
 * @returns {string} e.g. `` `got ${result}` ``.
 */
export function templateLiteral(parts) {
  return `\`${parts.map((part) => ("text" in part ? templateText(part.text) : `\${${part.expr}}`)).join("")}\``;
}

/**
 * Scenario text made safe for a `//` comment: line terminators (CR, LF, U+2028,
 * U+2029), which would end the comment and let the rest run as code, are written as
 * visible escapes.
 *
 * @param {string} text
 * @returns {string}
 */
export function commentText(text) {
  return String(text)
    .replace(/\r/g, "\\r")
    .replace(/\n/g, "\\n")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Whether an IR value is an expression object (a sleep's `ms` may be one or a number). */
export function isExpr(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
