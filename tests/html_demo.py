"""The three scenarios the HTML report's tests (and the README's picture) show: one that
passes, one that diverges as declared, and one that fails: ``eager-start`` with its
divergence declaration taken away, so that python alone parts from the others at its
first event.
"""

from __future__ import annotations

from pathlib import Path

from helpers import SPEC

PASSING = SPEC / "seed" / "download-fallback.yaml"
DECLARED = SPEC / "divergences" / "eager-start.yaml"


def demo_scenarios(folder: Path) -> list[Path]:
    """The three scenario files, written into ``folder`` (so that the page names them by
    short paths when the run is made from there)."""
    text = DECLARED.read_text(encoding="utf-8")
    undeclared = text[: text.index("\ndiverge:") + 1].replace("id: eager-start", "id: eager-start-undeclared")
    written = []
    for name, content in (
        ("download-fallback.yaml", PASSING.read_text(encoding="utf-8")),
        ("eager-start.yaml", text),
        ("eager-start-undeclared.yaml", undeclared),
    ):
        written.append(folder / name)
        written[-1].write_text(content, encoding="utf-8")
    return written
