"""Tests for runner/pythons.py: finding the CPython for --python, with real interpreters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from asyncparity.pythons import PythonBinary, PythonNotFound, find_python


def script(path: Path, body: str) -> Path:
    """An executable shell script at ``path`` (its folders made), standing in for a python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str) -> Path:
    """A stand-in python at ``path`` that answers ``--version`` with ``version``."""
    return script(path, f"echo 'Python {version}'")


def test_a_path_is_taken_as_it_is() -> None:
    found = find_python(sys.executable)

    assert found.path == sys.executable
    assert found.version == ".".join(map(str, sys.version_info[:3]))


def test_a_version_is_looked_up_in_pyenv(tmp_path: Path) -> None:
    binary = fake_python(tmp_path / "versions" / "3.99.1" / "bin" / "python3.99", "3.99.1")

    found = find_python("3.99", environ={"PATH": "", "PYENV_ROOT": str(tmp_path)})

    assert (found.path, found.version) == (str(binary), "3.99.1")


def test_a_candidate_that_answers_nothing_is_skipped_for_the_next(tmp_path: Path) -> None:
    script(tmp_path / "bin" / "python3.99", "exit 127")  # first on PATH, and broken
    fake_python(tmp_path / "versions" / "3.99.2" / "bin" / "python3.99", "3.99.2")

    found = find_python("3.99", environ={"PATH": str(tmp_path / "bin"), "PYENV_ROOT": str(tmp_path)})

    assert found.version == "3.99.2"


def test_pyenvs_own_binary_is_tried_before_its_shim(tmp_path: Path) -> None:
    # The shim answers only for pyenv's selected versions and is slow to fail for the
    # others (issue 13): with the version's binary at hand the shim is never run.
    ran = tmp_path / "shim-ran"
    script(tmp_path / "shims" / "python3.99", f"touch {ran}\necho 'Python 3.99.2'")
    real = fake_python(tmp_path / "versions" / "3.99.2" / "bin" / "python3.99", "3.99.2")

    found = find_python("3.99", environ={"PATH": str(tmp_path / "shims"), "PYENV_ROOT": str(tmp_path)})

    assert found.path == str(real)
    assert not ran.exists()


def test_missing_and_too_old_pythons_are_one_line(tmp_path: Path) -> None:
    old = fake_python(tmp_path / "python", "3.9.18")

    with pytest.raises(PythonNotFound) as missing:
        find_python("3.98", environ={"PATH": "", "PYENV_ROOT": str(tmp_path)})
    with pytest.raises(PythonNotFound) as too_old:
        find_python(str(old), environ={})

    assert str(missing.value) == (
        "asyncparity: no CPython found for --python 3.98 (looked on PATH and in pyenv): "
        "install it (pyenv install, or your package manager) or give its path"
    )
    assert str(too_old.value) == f"asyncparity: {old} (--python {old}) is Python 3.9.18; the Python target needs 3.10 or later"


def test_an_exact_version_takes_that_version_only(tmp_path: Path) -> None:
    # The matrix reports' rerun commands name a cell's CPython as X.Y.Z (issue 11: they
    # answered "no CPython found" although pyenv had the version).
    on_path = fake_python(tmp_path / "bin" / "python3.99", "3.99.4")
    fake_python(tmp_path / "versions" / "3.99.2" / "bin" / "python3.99", "3.99.2")
    wanted = fake_python(tmp_path / "versions" / "3.99.1" / "bin" / "python3.99", "3.99.1")
    environ = {"PATH": str(on_path.parent), "PYENV_ROOT": str(tmp_path)}

    assert find_python("3.99.1", environ=environ) == PythonBinary(str(wanted), "3.99.1")
    assert find_python("3.99.4", environ=environ) == PythonBinary(str(on_path), "3.99.4")
    with pytest.raises(PythonNotFound) as missing:
        find_python("3.99.3", environ=environ)
    assert str(missing.value) == (
        f"asyncparity: no CPython found for --python 3.99.3 (looked on PATH and in pyenv: {on_path} is CPython 3.99.4): "
        "install it (pyenv install, or your package manager) or give its path"
    )
