"""Tests for runner/diagnostics.py."""

from __future__ import annotations

from asyncparity.diagnostics import Diagnostic, did_you_mean


def test_diagnostic_prints_as_file_line_column_message() -> None:
    diagnostic = Diagnostic("spec/a.yaml", 3, 7, "unknown step 'tyr'")

    assert str(diagnostic) == "spec/a.yaml:3:7: unknown step 'tyr'"
    assert diagnostic.to_json() == {"path": "spec/a.yaml", "line": 3, "column": 7, "message": "unknown step 'tyr'"}


def test_did_you_mean_suggests_only_close_words() -> None:
    assert did_you_mean("tyr", ["try", "throw", "sleep"]) == "; did you mean 'try'?"
    assert did_you_mean("zzz", ["try", "throw"]) == ""
    assert did_you_mean("x", []) == ""
