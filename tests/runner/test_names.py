"""Tests for runner/names.py."""

from __future__ import annotations

from asyncparity.names import ERROR_KIND, IDENTIFIER, RESERVED_KINDS, RESERVED_NAMES, camel_case


def test_camel_case_matches_the_javascript_spelling() -> None:
    assert camel_case("download_data") == "downloadData"
    assert camel_case("fetch") == "fetch"
    assert camel_case("get_a_1") == "getA1"


def test_keywords_of_both_languages_and_program_names_are_reserved() -> None:
    for name in ("await", "async", "yield", "lambda", "function", "var", "world", "log", "main", "asyncio", "range"):
        assert name in RESERVED_NAMES
    assert "download" not in RESERVED_NAMES
    assert {"Error", "Promise", "Exception", "ScenarioError"} <= RESERVED_KINDS
    assert "IOError" not in RESERVED_KINDS  # shadowed on purpose: `except IOError` reads naturally


def test_identifier_shapes() -> None:
    assert IDENTIFIER.match("fetch_2")
    assert not IDENTIFIER.match("Fetch") and not IDENTIFIER.match("_x") and not IDENTIFIER.match("2x")
    assert ERROR_KIND.match("IOError") and not ERROR_KIND.match("io_error")
