"""Pythons: find the CPython a subprocess Python testee runs on (``--python``).

``--python PATH`` names an interpreter; ``--python 3.12`` looks for ``python3.12`` on
PATH, then in pyenv's versions folder (``$PYENV_ROOT``, default ``~/.pyenv``).
``--python 3.12.1`` looks in the same places and takes only that exact version, as the
matrix reports name a cell's CPython in the rerun commands they print. The Python
target needs CPython 3.10 or later; anything else is a usage error in one line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MINIMUM = (3, 10)
VERSION_TIMEOUT = 10.0  # seconds for `python --version`; a wait with a bound


class PythonNotFound(Exception):
    """No usable CPython; the message is the one line the user sees."""


@dataclass(frozen=True)
class PythonBinary:
    """A CPython that answered ``--version`` with a supported version."""

    path: str
    version: str


def _candidates(requested: str, environ: dict[str, str]) -> list[str]:
    if os.sep in requested or requested.startswith("."):
        return [requested]
    version = re.fullmatch(r"(\d+\.\d+)(\.\d+)?", requested)
    if not version:
        named = shutil.which(requested, path=environ.get("PATH"))
        return [named] if named else []
    minor = version.group(1)
    found: list[str] = []
    root = Path(environ.get("PYENV_ROOT") or Path(environ.get("HOME", "~")).expanduser() / ".pyenv")
    on_path = shutil.which(f"python{minor}", path=environ.get("PATH"))
    # pyenv's shim on PATH answers only for the versions pyenv has selected, and fails
    # slowly for the others (about 0.3 s, issue 13): the binaries of its versions folder,
    # which the shim would run, come first, and the shim last.
    shim = on_path is not None and Path(on_path).parent == root / "shims"
    if on_path and not shim:
        found.append(on_path)
    folders = [root / "versions" / requested] if version.group(2) else (root / "versions").glob(f"{minor}.*")
    for folder in sorted(folders, reverse=True):
        binary = folder / "bin" / f"python{minor}"
        if binary.exists():
            found.append(str(binary))
    if on_path and shim:
        found.append(on_path)
    return found


def find_python(requested: str, environ: dict[str, str] | None = None) -> PythonBinary:
    """Resolve ``--python`` to a checked CPython; raises :class:`PythonNotFound`."""
    environ = dict(os.environ) if environ is None else environ
    candidates = _candidates(requested, environ)
    fix = "install it (pyenv install, or your package manager) or give its path"
    if not candidates:
        raise PythonNotFound(f"asyncparity: no CPython found for --python {requested} (looked on PATH and in pyenv): {fix}")
    problems = []
    other_versions = []
    for path in candidates:  # a pyenv shim for a version not selected answers nothing: try the next
        try:
            completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            problems.append(f"{path} did not answer --version ({error})")
            continue
        match = re.fullmatch(r"Python (\d+)\.(\d+)\.(\d+)\S*", (completed.stdout or completed.stderr).strip())
        if completed.returncode != 0 or not match:
            problems.append(f"{path} is not a working CPython")
            continue
        version = ".".join(match.groups())
        if re.fullmatch(r"\d+\.\d+\.\d+", requested) and version != requested:
            other_versions.append(f"{path} is CPython {version}")
            continue
        if (int(match.group(1)), int(match.group(2))) < MINIMUM:
            raise PythonNotFound(
                f"asyncparity: {path} (--python {requested}) is Python {version}; the Python target needs 3.10 or later"
            )
        return PythonBinary(path, version)
    if other_versions and not problems:
        raise PythonNotFound(
            f"asyncparity: no CPython found for --python {requested} (looked on PATH and in pyenv: "
            f"{'; '.join(other_versions)}): {fix}"
        )
    raise PythonNotFound(
        f"asyncparity: no working CPython for --python {requested}: {'; '.join(problems + other_versions)}: {fix}"
    )


def find_pythons(specs: list[str], find: Callable[[str], PythonBinary] = find_python) -> list[PythonBinary]:
    """``matrix --python 3.10,3.11,...``: each CPython probed (``--version``) once, all at
    once, in threads, where one after another took the sum of their start-up times
    (issue 13). The first that is not found raises, in the order given. ``find``: how one
    is probed (:func:`find_python`; the bench times it, runner/bench_goals.py)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        return list(pool.map(find, specs))
