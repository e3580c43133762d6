"""Tests for runner/cache.py: the failures `asyncparity run --lf` remembers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from asyncparity import cache


def test_failures_are_added_and_passes_taken_out_the_others_kept() -> None:
    before = {"a": "spec/a.yaml", "b": "spec/b.yaml", "c": "spec/c.yaml"}

    after = cache.updated(before, [("a", "spec/a.yaml", False), ("d", "spec/d.yaml", True), ("b", "spec/b.yaml", True)])

    assert after == {"b": "spec/b.yaml", "c": "spec/c.yaml", "d": "spec/d.yaml"}


def test_written_then_read_back_in_a_folder_git_ignores(tmp_path: Path) -> None:
    path = cache.cache_file(tmp_path)

    cache.write_failed(path, {"z": "spec/z.yaml", "a": "spec/a.yaml"})

    assert path == tmp_path / ".asyncparity_cache" / "lastfailed.json"
    assert cache.read_failed(path) == {"a": "spec/a.yaml", "z": "spec/z.yaml"}
    assert json.loads(path.read_text()) == {"version": 1, "failed": {"a": "spec/a.yaml", "z": "spec/z.yaml"}}
    assert (path.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    assert sorted(os.listdir(path.parent)) == [".gitignore", "lastfailed.json"]  # no temporary file left


def test_no_file_is_no_failure(tmp_path: Path) -> None:
    assert cache.read_failed(cache.cache_file(tmp_path)) == {}


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cache.cache_file(tmp_path)
    cache.write_failed(path, {"a": "spec/a.yaml"})

    def full_disk(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        cache.write_failed(path, {"b": "spec/b.yaml"})

    assert cache.read_failed(path) == {"a": "spec/a.yaml"}
    assert sorted(os.listdir(path.parent)) == [".gitignore", "lastfailed.json"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ("[]", 'not a cache file of this kit (expected {"version": 1, "failed": {...}})'),
        ('{"version": 2, "failed": {}}', 'not a cache file of this kit (expected {"version": 1, "failed": {...}})'),
        ('{"version": 1, "failed": {"a": 3}}', "its failed entries are not all text"),
    ],
)
def test_a_corrupt_file_is_a_problem_that_says_why(tmp_path: Path, text: str, message: str) -> None:
    path = cache.cache_file(tmp_path)
    path.parent.mkdir()
    path.write_text(text)

    with pytest.raises(cache.CacheProblem) as raised:
        cache.read_failed(path)

    assert str(raised.value) == message
