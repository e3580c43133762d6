"""Tests for runner/selection.py: -k and -m expressions, as pytest reads them."""

from __future__ import annotations

import pytest

from asyncparity.selection import Expression, SelectionError, keyword_matches, tag_matches

SCENARIOS = {
    "seed-download-fallback": ("seed", "errors"),
    "timeout-by-race": ("timers", "race"),
    "timeout-fallback": ("timers", "errors"),
    "eager-start": ("divergence",),
}


def selected_by_k(text: str) -> list[str]:
    expression = Expression(text)
    return [name for name, tags in SCENARIOS.items() if expression.evaluate(keyword_matches(name, tags))]


def selected_by_m(text: str) -> list[str]:
    expression = Expression(text)
    return [name for name, tags in SCENARIOS.items() if expression.evaluate(tag_matches(tags))]


def test_k_matches_a_substring_of_the_id_or_a_tag_ignoring_case() -> None:
    assert selected_by_k("fallback") == ["seed-download-fallback", "timeout-fallback"]
    assert selected_by_k("FALLBACK") == ["seed-download-fallback", "timeout-fallback"]
    assert selected_by_k("diverg") == ["eager-start"]  # a tag's substring, as pytest's marker names


def test_k_and_or_not_and_parentheses_as_in_pytest() -> None:
    assert selected_by_k("timeout and not race") == ["timeout-fallback"]
    assert selected_by_k("race or eager") == ["timeout-by-race", "eager-start"]
    assert selected_by_k("not timeout and not seed") == ["eager-start"]
    assert selected_by_k("(seed or race) and errors") == ["seed-download-fallback"]
    assert selected_by_k("not (seed or race) and errors") == ["timeout-fallback"]
    assert selected_by_k("not not eager") == ["eager-start"]
    assert selected_by_k("") == list(SCENARIOS)


def test_m_matches_whole_tags_only() -> None:
    assert selected_by_m("errors") == ["seed-download-fallback", "timeout-fallback"]
    assert selected_by_m("error") == []
    assert selected_by_m("timers and not race") == ["timeout-fallback"]
    assert selected_by_m("seed or divergence") == ["seed-download-fallback", "eager-start"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed and", "at column 9: expected a name, 'not' or '('; got the end"),
        ("(seed or race", "at column 14: expected ')'; got the end"),
        ("seed race", "at column 6: expected 'and', 'or' or the end; got 'race'"),
        ("and seed", "at column 1: expected a name, 'not' or '('; got 'and'"),
        ("seed & race", "at column 6: unexpected character '&'"),
        ("seed or )", "at column 9: expected a name, 'not' or '('; got ')'"),
    ],
)
def test_a_bad_expression_says_where_and_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(SelectionError) as raised:
        Expression(text)

    assert str(raised.value) == message
