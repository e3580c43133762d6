"""Diagnostics: what is wrong with a scenario file, and where.

Every problem the kit finds in user input becomes a :class:`Diagnostic` that names the
file, the 1-based line and column, and says what to do. The command line prints them as
``file:line:col: message`` (the form editors and CI annotators understand); no Python
traceback ever reaches the user for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one input file.

    Attributes:
        path: the file as the user named it (relative paths stay relative).
        line: 1-based line.
        column: 1-based column.
        message: what is wrong, in one sentence, with a suggestion where one helps.
        related: another file the problem is about (the first file of a repeated id),
            which a command that shows the problem again must read too; or None.
    """

    path: str
    line: int
    column: int
    message: str
    related: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def to_json(self) -> dict:
        """The diagnostic as a JSON-able dict (for reports)."""
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` if none is close.

    >>> did_you_mean("tyr", ["try", "throw"])
    "; did you mean 'try'?"
    """
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=cutoff)
    return f"; did you mean '{matches[0]}'?" if matches else ""
