"""docs/RECIPES.md shows real scenarios: its excerpts must still be in them.

Each recipe (a ``## `` section) names its scenarios with links to spec/workflows/. Every
```yaml block of the section is copied from one of those files, and every ```python or
```js block from a program that `asyncparity show` prints for one of them. A line that is
only ``...`` in a block marks a gap: each part between gaps is checked on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncparity.load import load_file
from asyncparity.node import find_node
from asyncparity.testees import NodeTestee
from asyncparity_python import target as python_target

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "docs" / "RECIPES.md"
LINK = re.compile(r"\]\(\.\./(spec/workflows/[a-z0-9-]+\.yaml)\)")


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of each ``## `` section."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def blocks(body: str) -> list[tuple[str, str]]:
    """(tag, text) of each fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", body, flags=re.MULTILINE | re.DOTALL)


def pieces(text: str) -> list[str]:
    """The parts of an excerpt between its ``...`` lines."""
    return [piece for piece in re.split(r"^\.\.\.\n", text, flags=re.MULTILINE) if piece.strip()]


RECIPE_SECTIONS = [(heading, body) for heading, body in sections(RECIPES.read_text()) if LINK.search(body)]


@pytest.fixture(scope="module")
def node() -> Iterator[NodeTestee]:
    with NodeTestee(find_node()) as testee:
        yield testee


def test_the_recipes_of_the_first_half_are_all_there() -> None:
    # The six workflows of issue 10's first half; each recipe links the scenarios it shows.
    headings = [heading for heading, _ in RECIPE_SECTIONS]

    assert headings[:6] == [
        "1. A paginated API fetch with retries",
        "2. Fan-out with a concurrency limit and a per-call timeout",
        "3. A circuit breaker",
        "4. A producer/consumer pipeline with graceful shutdown",
        "5. A debounce",
        "6. MDN's Promise examples",
    ]
    for _, body in RECIPE_SECTIONS:
        for path in LINK.findall(body):
            assert (ROOT / path).is_file(), path


@pytest.mark.parametrize(("heading", "body"), RECIPE_SECTIONS, ids=[heading for heading, _ in RECIPE_SECTIONS])
def test_every_excerpt_is_in_its_scenario_or_its_programs(heading: str, body: str, node: NodeTestee) -> None:
    paths = [ROOT / path for path in LINK.findall(body)]
    sources = [path.read_text() for path in paths]
    programs = []
    for path in paths:
        scenario = load_file(path).scenario
        assert scenario is not None, path
        programs.append(python_target.compile(scenario.ir))
        programs.extend(node.compile(scenario.ir, target) for target in ("js-promise", "js-async"))
    checked = 0
    for tag, text in blocks(body):
        found_in = {"yaml": sources, "python": programs, "js": programs}.get(tag)
        if found_in is None:
            continue
        for piece in pieces(text):
            assert any(piece in found for found in found_in), f"{heading}: not in its {tag}:\n{piece}"
            checked += 1
    assert checked >= 3, heading
