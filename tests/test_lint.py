"""Lint is part of the tests: ruff check, with the rules and their commented exceptions in
pyproject.toml; ruff format: the code is laid out one way; and mypy on runner/ and
python/, with the files and the strictness in pyproject.toml's [tool.mypy]."""

from __future__ import annotations

import os
import re
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


# -- the generated programs are lint-clean too (issue 10) ---------------------------------

# ruff's default rule set (pyflakes F, with unused imports F401 and variables F841, and
# pycodestyle's E4, E7, E9), named so that no configuration of this checkout or of the
# user changes what "passes ruff check" means for a generated program.
RUFF_DEFAULT_RULES = "E4,E7,E9,F"
PYTHON_VERSIONS = ((3, 10), (3, 11), (3, 12))
"""The CPythons whose renderings differ (3.10 writes timeouts with wait_for)."""


def spec_scenarios() -> list:
    from asyncparity.load import load_paths

    results = load_paths([ROOT / "spec"])
    assert all(result.scenario is not None for result in results)
    return [result.scenario for result in results if result.scenario is not None]


def test_every_generated_python_program_passes_ruff_check(tmp_path: Path) -> None:
    from asyncparity_python.compile import compile_target

    for scenario in spec_scenarios():
        for target in ("python", "python-eager"):
            for version in PYTHON_VERSIONS:
                source = compile_target(scenario.ir, target, version).source
                (tmp_path / f"{scenario.id}.{target}.{version[0]}{version[1]}.py").write_text(source, encoding="utf-8")

    problems = run_module(
        "ruff", "check", "--isolated", "--no-cache", f"--select={RUFF_DEFAULT_RULES}", "--output-format=concise", str(tmp_path)
    )
    assert not problems, problems


IDENTITY_THEN = re.compile(r"\.then\(\((\w+)\) => \1\)")
COMPLETION_RECORD = re.compile(r"\.then\(\((completion\w*)\) => \{\s*if \(\1\)")


def test_every_generated_javascript_program_has_no_unused_binding(tmp_path: Path) -> None:
    from asyncparity.node import find_node
    from asyncparity.testees import NodeTestee

    scenarios = spec_scenarios()
    jobs = [(scenario.ir, target) for scenario in scenarios for target in ("js-promise", "js-async")]
    with NodeTestee(find_node()) as node:
        sources = node.compile_many(jobs)
    # An identity link, `.then((price) => price)`, is a step a developer would not write.
    identity = [
        f"{ir['id']} ({target})" for (ir, target), source in zip(jobs, sources, strict=True) if IDENTITY_THEN.search(source)
    ]
    assert identity == []
    # Nor does a developer write completion records (`.then((completion) => { if
    # (completion) return completion.value; ...`) where a catch or a second callback of
    # `.then` says it (issue 10): none is left in the js-promise programs of spec/.
    records = [f"{ir['id']}" for (ir, target), source in zip(jobs, sources, strict=True) if COMPLETION_RECORD.search(source)]
    assert records == []
    files = []
    for (ir, target), source in zip(jobs, sources, strict=True):
        files.append(tmp_path / f"{ir['id']}.{target}.mjs")
        files[-1].write_text(source, encoding="utf-8")

    checker = ROOT / "tests" / "javascript" / "unused-bindings.mjs"
    completed = subprocess.run(
        [find_node().path, str(checker), *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    # The findings in full (pytest would cut a long tuple), then the exit status.
    assert completed.stdout + completed.stderr == "", completed.stdout + completed.stderr
    assert completed.returncode == 0
