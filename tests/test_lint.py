"""Lint is part of the tests: ruff check, with the rules and their commented exceptions in
pyproject.toml; ruff format: the code is laid out one way; and mypy on runner/ and
python/, with the files and the strictness in pyproject.toml's [tool.mypy]."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ruff_format_changes_nothing() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, "run `ruff format .`:\n" + completed.stdout + completed.stderr


def test_mypy_finds_nothing() -> None:
    completed = subprocess.run(
        # Files and options from pyproject.toml; no cache written (mypy's way: the null device).
        [sys.executable, "-m", "mypy", f"--cache-dir={os.devnull}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, "mypy (files and options in pyproject.toml):\n" + completed.stdout + completed.stderr
