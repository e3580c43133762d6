"""Lint is part of the tests: ruff check, with the rules and their commented exceptions in
pyproject.toml; ruff format: the code is laid out one way; and mypy on runner/ and
python/, with the files and the strictness in pyproject.toml's [tool.mypy]."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, timeout: float = 120) -> str:
    """``python -m ARGS`` in the checkout; its output when it failed, else an empty string."""
    completed = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    return "" if completed.returncode == 0 else completed.stdout + completed.stderr or f"exit {completed.returncode}"


def test_ruff_finds_nothing() -> None:
    problems = run_module("ruff", "check", "--no-cache", "--output-format=concise", ".")
    assert not problems, problems


def test_ruff_format_changes_nothing() -> None:
    problems = run_module("ruff", "format", "--no-cache", "--check", ".")
    assert not problems, "run `ruff format .`:\n" + problems


def test_mypy_finds_nothing() -> None:
    # Files and options from pyproject.toml; no cache written (mypy's way: the null device).
    problems = run_module("mypy", f"--cache-dir={os.devnull}", timeout=300)
    assert not problems, "mypy (files and options in pyproject.toml):\n" + problems
