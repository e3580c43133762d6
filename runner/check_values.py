"""Value checks for the loader: expressions, scripted results and error records.

An expression (``$name``, ``"got {$data}"``, ``[$a, "+", 1]``, a list or mapping holding
one) becomes an EXPR of spec/PROTOCOL.md, every reference resolved in the
:class:`Scope` of the function being read. An operation's scripted results
(``returns`` / ``fails``) and error records become plain JSON.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

from .diagnostics import did_you_mean
from .names import ERROR_KIND
from .yaml_nodes import MISSING, NodeReader, describe, with_article

ARITHMETIC = ("+", "-", "*")  # integers only: `/` and `%` differ between the languages
# `$name`, then any fields and indexes: `$page.next`, `$results[0]`, `$counts[$key]`,
# `$error.message`. Group 1 is the name, group 2 the access after it ("" for none). Any
# other string, "$HOME", "${x}" and "$total.00" included, is literal text.
REFERENCE = re.compile(r"^\$([a-z_][a-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\[\]]*\])*)$")
ACCESS = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\[\]]*)\]")
"""One field (``.next``) or index (``[0]``, ``[$key]``) of a reference's access."""
INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")
INDEX_NAME = re.compile(r"^\$([a-z_][a-z0-9_]*)$")
MAX_INDEX = 2**53 - 1  # JavaScript's exact integers
ERROR_MEMBERS = ("kind", "message")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
CONNECTIVES = ("and", "or", "not")
"""The keys of a condition that is not a comparison: ``{and: [...]}``, ``{or: [...]}``, ``{not: ...}``."""
VALUE_FORMS = {
    "format": ("fmt",),
    "literal": ("lit",),
    "calc": (),
    "length": ("len",),
    "slice": (),
    "append": (),
}
"""The keys of the value forms, each a mapping with that single key, and the abbreviations
taken for them. A single-key mapping whose key is one of these abbreviations, or close to
a form's key, is read as a misspelling, not as data (issue 10)."""
FORM_CLOSENESS = 0.75
"""difflib's ratio from which a key is a misspelt form's: 0.6, the loader's other hints'
cutoff, would refuse common data ({size: 3} is 0.67 from slice, {port: 80} from format);
at 0.75 a transposed, dropped or added letter still counts (cacl, fromat, lenght, cal)."""


def misspelt_form(key: str) -> str | None:
    """The value form ``key`` is a misspelling of, or None."""
    folded = key.lower()
    for form, abbreviations in VALUE_FORMS.items():
        if folded in abbreviations:
            return form
    close = difflib.get_close_matches(folded, list(VALUE_FORMS), n=1, cutoff=FORM_CLOSENESS)
    return close[0] if close else None


NO_TRUTHINESS = (
    " (a value alone is no condition: [] and {} are false in Python and true in JavaScript;"
    ' compare it, for example [$done, "==", true])'
)


class Scope:
    """The names visible in one function body, in document order, with what they hold."""

    def __init__(self, params: Iterable[str] = (), function: str | None = None) -> None:
        self.holds: dict[str, str] = {name: "value" for name in params}  # name -> what it holds
        # The function read (None: main), and its parameters not bound again since: one
        # may take a started call (runner/check_started.py).
        self.function = function
        self.params: set[str] = set(self.holds)
        # Names that may not be bound again inside the block that owns them: a repeat's
        # counter (a JS `for` would continue from the new value, Python's range would not)
        # and a catch's error.
        self.fixed: dict[str, str] = {}
        # Names whose block has ended, and what they were: a catch's error (Python
        # unbinds it at the end of the except block, JavaScript scopes it to the catch
        # block) and a repeat's counter (a JavaScript `for` scopes it to the loop).
        self.ended: dict[str, str] = {}
        # Names bound on every path to this point; None where no path reaches (after a
        # return or throw). A name bound on some paths only would be unbound in Python
        # (UnboundLocalError) and undefined in JavaScript: the loader rejects reading it.
        self.definite: set[str] | None = set(self.holds)

    def holding(self, name: str) -> str | None:
        return self.holds.get(name)

    def snapshot(self) -> set[str] | None:
        return None if self.definite is None else set(self.definite)

    def end(self, name: str, what: str) -> None:
        """``name``'s block has ended (a catch's error, a loop's counter or variable, a
        using's resource): it is unbound after it, and a read says it was ``what``."""
        del self.holds[name]
        self.ended[name] = what
        if self.definite is not None:
            self.definite.discard(name)


def meet(*paths: set[str] | None) -> set[str] | None:
    """Names bound on every path that goes on (None: no path goes on)."""
    going_on = [path for path in paths if path is not None]
    return set.intersection(*going_on) if going_on else None


class ValueChecker(NodeReader):
    """Reads expressions, scripted results and error records (the names they may use are
    the scenario's callables, filled in by the declarations)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.callables: dict[str, str] = {}  # name -> "operation" | "function" | "queue" | "resource"
        self.raised_kinds: list[str] = []  # kinds thrown or failed with, first use first
        # How each parameter is used: (function, param, "value" | "handle" | "handles", node).
        self.param_uses: list[tuple[str | None, str, str, yaml.Node]] = []

    def scripted_result(self, node: yaml.Node, name: str) -> dict | None:
        entries = self.mapping(node, f"an outcome of '{name}'")
        if entries is None:
            return None
        self.known_keys(entries, ("returns", "fails"), f"an outcome of '{name}'")
        given = [key for key in ("returns", "fails") if key in entries]
        if len(given) != 1:
            self.error(node, f"an outcome of '{name}' is either returns or fails")
            return None
        return self.scripted_result_entry(given[0], entries[given[0]][1], name)

    def scripted_result_entry(self, key: str, node: yaml.Node, name: str) -> dict | None:
        if key == "returns":
            value = self.plain(node, f"the value '{name}' returns")
            return None if value is MISSING else {"returns": value}
        error = self.error_record(node, f"the error '{name}' fails with")
        if error is None:
            return None
        self.note_raised(error["kind"])
        return {"fails": error}

    def error_record(self, node: yaml.Node, what: str) -> dict | None:
        """A literal ``{kind, message}`` (operation failures and expectations)."""
        entries = self.mapping(node, what)
        if entries is None:
            return None
        self.known_keys(entries, ("kind", "message"), what)
        if "kind" not in entries or "message" not in entries:
            self.error(node, f"{what} needs kind and message")
            return None
        kind = self.name(entries["kind"][1], "error kind", ERROR_KIND)
        message = self.scalar(entries["message"][1], "message", str)
        if kind is None or message is MISSING:
            return None
        return {"kind": kind, "message": message}

    def note_raised(self, kind: str) -> None:
        if kind not in self.raised_kinds:
            self.raised_kinds.append(kind)

    def expr(self, node: yaml.Node, scope: Scope, depth: int = 0) -> dict | None:
        """An IR expression: literal, reference, format, list or object (PROTOCOL.md).

        ``depth``: the lists and mappings of the value around ``node``."""
        if self.too_deep(node, "a value", depth):
            return None
        if isinstance(node, yaml.ScalarNode):
            value = self.plain(node, "a value")
            if value is MISSING:
                return None
            reference = REFERENCE.match(value) if isinstance(value, str) else None
            if reference:
                return self.reference(node, reference.group(1), reference.group(2), scope)
            return {"literal": value}
        if isinstance(node, yaml.SequenceNode):
            exprs = [self.expr(item, scope, depth + 1) for item in node.value]
            items = [item for item in exprs if item is not None]
            if len(items) != len(exprs):
                return None
            if all("literal" in item for item in items):
                return {"literal": [item["literal"] for item in items]}
            return {"list": items}
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, "a value")
            if entries is None:
                return None
            if set(entries) == {"format"}:
                return self.format(entries["format"][1], scope)
            if set(entries) == {"calc"}:
                return self.calc(entries["calc"][1], scope, depth + 1)
            if set(entries) == {"literal"}:
                value = self.plain(entries["literal"][1], "a literal", depth + 1)
                return None if value is MISSING else {"literal": value}
            if set(entries) == {"length"}:
                return self.length(entries["length"][1], scope, depth + 1)
            if set(entries) == {"slice"}:
                return self.slice(entries["slice"][1], scope, depth + 1)
            if set(entries) == {"append"}:
                return self.append(entries["append"][1], scope, depth + 1)
            if len(entries) == 1:
                ((key, (key_node, _)),) = entries.items()
                form = misspelt_form(key)
                if form is not None:
                    self.error(
                        key_node,
                        f"unknown value form '{key}'; did you mean '{form}'? (a map with this one key is written {{literal: {{{key}: ...}}}})",
                    )
                    return None
            by_key = {key: self.expr(value, scope, depth + 1) for key, (_, value) in entries.items()}
            pairs = [(key, value) for key, value in by_key.items() if value is not None]
            if len(pairs) != len(by_key):
                return None
            if all("literal" in value for _, value in pairs):
                return {"literal": {key: value["literal"] for key, value in pairs}}
            return {"object": [[key, value] for key, value in pairs]}
        self.error(node, "aliases and anchors are not supported")
        return None

    def condition(self, node: yaml.Node, scope: Scope, what: str = "if", depth: int = 0) -> dict | None:
        """A condition (PROTOCOL.md "Conditions"), as an ``if`` takes it: ``[left, op,
        right]``, ``{and: [C, C, ...]}``, ``{or: [C, C, ...]}`` or ``{not: C}``.

        ``what`` names the step or connective it belongs to, in messages. A bare value is
        no condition: what counts as true differs (``[]`` and ``{}`` are false in Python,
        true in JavaScript), so a value is always compared."""
        if self.too_deep(node, "a condition", depth):
            return None
        if isinstance(node, yaml.SequenceNode):
            if len(node.value) != 3:
                self.error(node, f'{what} takes [left, comparison, right], for example [$attempt, "<", 3]')
                return None
            left_node, op_node, right_node = node.value
            left = self.expr(left_node, scope)
            op = self.scalar(op_node, "comparison", str)
            if op is not MISSING and op not in COMPARISONS:
                self.error(op_node, f"unknown comparison '{op}'; use one of {' '.join(COMPARISONS)}")
                op = MISSING
            right = self.expr(right_node, scope)
            if left is None or right is None or op is MISSING:
                return None
            return {"compare": [left, op, right]}
        shapes = f"{what} takes a condition: [left, comparison, right], {{and: [...]}}, {{or: [...]}} or {{not: ...}}"
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{shapes}, not {describe(node)}{NO_TRUTHINESS}")
            return None
        entries = self.mapping(node, "a condition")
        if entries is None:
            return None
        if len(entries) != 1 or next(iter(entries)) not in CONNECTIVES:
            hint = did_you_mean(next(iter(entries)).lower(), CONNECTIVES) if len(entries) == 1 else ""
            self.error(node, f"{shapes}{hint}")
            return None
        ((connective, (_, inner)),) = entries.items()
        if connective == "not":
            negated = self.condition(inner, scope, "not", depth + 1)
            return None if negated is None else {"not": negated}
        if not isinstance(inner, yaml.SequenceNode) or len(inner.value) < 2:
            self.error(inner, f"{connective} takes a list of two or more conditions")
            return None
        parts = [self.condition(item, scope, connective, depth + 2) for item in inner.value]
        if any(part is None for part in parts):
            return None
        return {connective: parts}

    def calc(self, node: yaml.Node, scope: Scope, depth: int = 0) -> dict | None:
        """``{calc: [$delay, "*", 2]}``: integer arithmetic on values; ``depth`` as :meth:`expr`'s, of ``node``."""
        if self.too_deep(node, "a value", depth):
            return None
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
            self.error(node, 'calc takes [left, operator, right], for example [$delay, "*", 2]')
            return None
        left_node, op_node, right_node = node.value
        left, right = self.expr(left_node, scope, depth + 1), self.expr(right_node, scope, depth + 1)
        op = self.scalar(op_node, "operator", str)
        if op is not MISSING and op not in ARITHMETIC:
            self.error(op_node, f"unknown operator '{op}'; calc knows {' '.join(ARITHMETIC)} (integers only)")
            return None
        for side, side_node in ((left, left_node), (right, right_node)):
            if (
                side is not None
                and "literal" in side
                and (not isinstance(side["literal"], int) or isinstance(side["literal"], bool))
            ):
                self.error(side_node, f"calc works on integers, not {describe(side_node)}")
                return None
        if left is None or right is None or op is MISSING:
            return None
        return {"calc": [left, op, right]}

    def reference(self, node: yaml.Node, name: str, access: str, scope: Scope, hole: bool = False) -> dict | None:
        """``$name`` and its ``access`` (``""``, ``.next``, ``[0].id``, ``.message``), as
        REFERENCE splits it; ``hole``: written ``{name}`` in a ``format``."""
        shown = f"'${name}{access}'"
        held = scope.holding(name)
        if held is None and name in scope.ended:
            self.error(node, f"'${name}' is {scope.ended[name]}")
            return None
        if held is not None and scope.definite is not None and name not in scope.definite:
            self.error(
                node,
                f"'${name}' may not be bound here: some paths to this step do not bind it "
                "(bind it before the branch, or on every path)",
            )
            return None
        if held is None:
            visible = [known for known, what in scope.holds.items() if what != "handle"]
            hint = did_you_mean(name, visible)
            if name in self.callables:
                advice = {
                    "queue": f"take a value from it with 'get: {name}'",
                    "resource": f"open it with 'using: {name}'",
                    "event": f"wait for it with 'wait_event: {name}', or read it with 'is_set: {name}'",
                    "function": f"call it with 'await: {name}'",
                }.get(self.callables[name], f"call it with 'await: {name}'")
                self.error(node, f"'${name}' names {with_article(self.callables[name])}, not a value; {advice}")
            elif hole:
                written = f"{{{name}{access}}}"
                self.error(
                    node,
                    f"format: unknown name '{written}'{hint}"
                    if hint
                    else f"format: unknown name '{written}': nothing is bound by that name before this step "
                    f"(for the braces themselves write '{{{written}}}')",
                )
            else:
                self.error(
                    node,
                    f"unknown name '${name}'{hint}"
                    if hint
                    else f"unknown name '${name}': nothing is bound by that name before this step (for the text itself write {{literal: \"${name}\"}})",
                )
            return None
        if held == "handle":
            self.error(node, f"'${name}' is a started call; get its value with 'await: ${name}'")
            return None
        if held == "handles":
            self.error(node, f"'${name}' is a list of started calls; get their values with 'all: ${name}'")
            return None
        if name in scope.params:
            self.param_uses.append((scope.function, name, "value", node))
        if held == "error":
            member = access[1:]
            if not access.startswith(".") or member not in ERROR_MEMBERS:
                self.error(node, f"{shown}: a caught error is used through '${name}.kind' or '${name}.message'")
                return None
            return {"ref": name, "member": member}
        expr: dict = {"ref": name}
        for step in ACCESS.finditer(access):
            field, index = step.groups()
            if field == "length":
                # JavaScript reads a list's or a string's length there; Python has no such field.
                self.error(node, f"{shown}: a list's length is {{length: ${name}{access[: step.start()]}}}")
                return None
            key = {"literal": field} if field is not None else self.index(node, shown, index, scope)
            if key is None:
                return None
            expr = {"item": [expr, key]}
        return expr

    def index(self, node: yaml.Node, shown: str, index: str, scope: Scope) -> dict | None:
        """The key between brackets: an integer >= 0, or a bound ``$name`` (a computed key)."""
        if INDEX.match(index) and int(index) <= MAX_INDEX:
            return {"literal": int(index)}
        by_name = INDEX_NAME.match(index)
        if by_name:
            return self.reference(node, by_name.group(1), "", scope)
        if index.startswith("-") and INDEX.match(index[1:]):
            # Python counts a negative index from the end; JavaScript reads the property
            # "-1", which an array does not have (undefined).
            self.error(
                node,
                f"{shown}: an index is an integer >= 0 or a bound $name; [{index}] counts from the end "
                "in Python and is undefined in JavaScript",
            )
            return None
        self.error(node, f"{shown}: an index is an integer from 0 to 2**53-1 or a bound $name, not '{index}'")
        return None

    def length(self, node: yaml.Node, scope: Scope, depth: int) -> dict | None:
        """``{length: $items}``: how many items a list holds (``len`` / ``.length``)."""
        value = self.list_operand(node, scope, depth, "length takes a list or a string")
        return None if value is None else {"length": value}

    def list_operand(self, node: yaml.Node, scope: Scope, depth: int, rule: str) -> dict | None:
        """A value that should be a list (or a string): one the loader can see is not
        (a number, a map, a calc, a length) is rejected with ``rule``."""
        value = self.expr(node, scope, depth)
        if value is None:
            return None
        literal = value.get("literal", [])
        if any(form in value for form in ("calc", "object", "length")) or not isinstance(literal, (list, str)):
            self.error(node, f"{rule}, not {describe(node)}")
            return None
        return value

    def slice(self, node: yaml.Node, scope: Scope, depth: int) -> dict | None:
        """``{slice: [$items, 1, 3]}``: the items from start up to end (``items[1:3]`` /
        ``items.slice(1, 3)``); without an end, to the end."""
        if not isinstance(node, yaml.SequenceNode) or len(node.value) not in (2, 3):
            self.error(node, "slice takes [list, start] or [list, start, end], for example [$items, 0, 10]")
            return None
        base = self.list_operand(node.value[0], scope, depth + 1, "slice takes a list or a string")
        bounds = [self.expr(bound, scope, depth + 1) for bound in node.value[1:]]
        for bound, bound_node in zip(bounds, node.value[1:], strict=True):
            if bound is None or "literal" not in bound:
                continue
            if bound["literal"] is None:
                # Python's x[1:None] slices to the end; JavaScript's x.slice(1, null) is x.slice(1, 0).
                self.error(
                    bound_node,
                    "slice bounds are integers, not null; leave the end out to take the rest "
                    "(null is the end in Python and 0 in JavaScript)",
                )
                return None
            if not isinstance(bound["literal"], int) or isinstance(bound["literal"], bool):
                self.error(bound_node, f"slice bounds are integers, not {describe(bound_node)}")
                return None
        if base is None or any(bound is None for bound in bounds):
            return None
        return {"slice": [base, *bounds]}

    def append(self, node: yaml.Node, scope: Scope, depth: int) -> dict | None:
        """``{append: [$items, $item]}``: a new list, the items and one more (``[*items,
        item]`` / ``[...items, item]``)."""
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 2:
            self.error(node, "append takes [list, value], for example [$items, $item]")
            return None
        base = self.list_operand(node.value[0], scope, depth + 1, "append takes a list first")
        value = self.expr(node.value[1], scope, depth + 1)
        if base is None or value is None:
            return None
        if "literal" in base and not isinstance(base["literal"], list):
            self.error(node.value[0], f"append takes a list first, not {describe(node.value[0])}")
            return None
        return {"append": [base, value]}

    def format(self, node: yaml.Node, scope: Scope) -> dict | None:
        """``{format: "got {data}"}``: literal text with ``{name}`` holes; ``{{``/``}}`` are braces."""
        text = self.scalar(node, "format", str)
        if text is MISSING:
            return None
        parts: list[Any] = []
        literal: list[str] = []
        index = 0
        ok = True
        while index < len(text):
            char = text[index]
            if text.startswith("{{", index) or text.startswith("}}", index):
                literal.append(char)
                index += 2
                continue
            if char == "}":
                self.error(node, f"format: a single '}}' at offset {index}; write '}}}}' for a brace")
                return None
            if char == "{":
                end = text.find("}", index)
                if end == -1:
                    self.error(node, f"format: '{{' at offset {index} is not closed; write '{{{{' for a brace")
                    return None
                hole = text[index + 1 : end]
                reference = REFERENCE.match("$" + hole)
                if not reference:
                    self.error(
                        node, f"format: '{{{hole}}}' is not a name; holes hold a bound name like {{data}} or {{error.message}}"
                    )
                    ok = False
                else:
                    expr = self.reference(node, reference.group(1), reference.group(2), scope, hole=True)
                    if expr is None:
                        ok = False
                    else:
                        if literal:
                            parts.append("".join(literal))
                            literal = []
                        parts.append(expr)
                index = end + 1
                continue
            literal.append(char)
            index += 1
        if literal:
            parts.append("".join(literal))
        if not ok:
            return None
        if all(isinstance(part, str) for part in parts):
            return {"literal": "".join(parts)}
        return {"format": parts}


def what_it_holds(held: str) -> str:
    return {
        "handle": "a started call",
        "handles": "a list of started calls",
        "error": "a caught error",
        "value": "a value",
        "param": "a parameter",
    }[held]
