"""Shared test configuration: pytester runs pytest itself, for the plugin's tests; a run
started in the checkout keeps its cache in a temporary folder, not the repository's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from asyncparity import cache, content_cache

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_cache_in_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests that call `asyncparity run` in-process from the checkout (issue 13: the test
    suite writes no cache into the repository); a run in another folder is untouched."""
    elsewhere = tmp_path_factory.mktemp("checkout-cache")

    def moved(original: Callable[[Path], Path]) -> Callable[[Path], Path]:
        def where(project: Path) -> Path:
            return original(elsewhere if project.resolve() == ROOT else project)

        return where

    monkeypatch.setattr(cache, "cache_file", moved(cache.cache_file))
    monkeypatch.setattr(content_cache, "project_folder", moved(content_cache.project_folder))
