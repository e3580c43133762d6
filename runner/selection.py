"""Selection: which scenarios a run takes, by ``-k EXPRESSION`` and ``-m EXPRESSION``.

The expressions are pytest's (its ``_pytest/mark/expression.py`` grammar)::

    expression := or_expr? EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | name

and a name matches as pytest's does: for ``-k``, a case-insensitive substring of the
scenario's id or of one of its tags (pytest's ``-k`` matches names and marker names by
substring); for ``-m``, one of the scenario's tags exactly (pytest's ``-m`` matches
marker names exactly). ``-k fallback``, ``-k "timeout and not race"``, ``-m "errors or
timers"``. A bad expression is a :class:`SelectionError` that says where.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# pytest's identifier characters (_pytest/mark/expression.py), so that ids with
# dashes, dots and slashes are names.
_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<name>(?:\w|:|\+|-|\.|\[|\]|\\|/)+)|(?P<other>\S))")
_KEYWORDS = ("and", "or", "not")

Matcher = Callable[[str], bool]
"""Whether a name of the expression matches the scenario at hand."""


class SelectionError(ValueError):
    """An expression that does not parse; the message says at which column and why."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "and", "or", "not", "name", "end"
    text: str
    column: int  # 1-based


def _tokens(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing blanks are left
            break
        start = match.start(match.lastgroup or 0) + 1
        if match.group("paren"):
            tokens.append(_Token(match.group("paren"), match.group("paren"), start))
        elif match.group("name"):
            word = match.group("name")
            tokens.append(_Token(word if word in _KEYWORDS else "name", word, start))
        else:
            raise SelectionError(f"at column {start}: unexpected character {match.group('other')!r}")
        position = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class Expression:
    """A parsed ``-k`` or ``-m`` expression; :meth:`evaluate` tells whether a scenario is selected."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = _tokens(text)
        self._at = 0
        # The tree: ("or", a, b), ("and", a, b), ("not", a), ("name", text), or ("all",) for an empty expression.
        self._tree: tuple = ("all",) if self._peek().kind == "end" else self._or()
        if self._peek().kind != "end":
            self._expected("'and', 'or' or the end")

    def evaluate(self, matches: Matcher) -> bool:
        """The expression's value when each name's truth is ``matches(name)``."""
        return _evaluate(self._tree, matches)

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _take(self, kind: str) -> bool:
        if self._peek().kind == kind:
            self._at += 1
            return True
        return False

    def _expected(self, what: str) -> None:
        token = self._peek()
        got = "the end" if token.kind == "end" else repr(token.text)
        raise SelectionError(f"at column {token.column}: expected {what}; got {got}")

    def _or(self) -> tuple:
        tree = self._and()
        while self._take("or"):
            tree = ("or", tree, self._and())
        return tree

    def _and(self) -> tuple:
        tree = self._not()
        while self._take("and"):
            tree = ("and", tree, self._not())
        return tree

    def _not(self) -> tuple:
        if self._take("not"):
            return ("not", self._not())
        if self._take("("):
            tree = self._or()
            if not self._take(")"):
                self._expected("')'")
            return tree
        token = self._peek()
        if token.kind == "name":
            self._at += 1
            return ("name", token.text)
        self._expected("a name, 'not' or '('")
        raise AssertionError("unreachable")  # _expected raises


def _evaluate(tree: tuple, matches: Matcher) -> bool:
    kind = tree[0]
    if kind == "all":
        return True
    if kind == "name":
        return matches(tree[1])
    if kind == "not":
        return not _evaluate(tree[1], matches)
    if kind == "and":
        return _evaluate(tree[1], matches) and _evaluate(tree[2], matches)
    return _evaluate(tree[1], matches) or _evaluate(tree[2], matches)


def keyword_matches(scenario_id: str, tags: Sequence[str]) -> Matcher:
    """``-k``'s rule: a name matches when it is in the id or in a tag, ignoring case."""
    names = [scenario_id.lower(), *(tag.lower() for tag in tags)]
    return lambda name: any(name.lower() in candidate for candidate in names)


def tag_matches(tags: Sequence[str]) -> Matcher:
    """``-m``'s rule: a name matches when it is one of the tags."""
    return lambda name: name in tags
