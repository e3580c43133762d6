"""Cache: what ``asyncparity run`` remembers between runs, for ``--lf`` (rerun last failures).

Like pytest's ``.pytest_cache``: a folder ``.asyncparity_cache`` in the folder the run
starts in (the project), holding ``lastfailed.json``, the scenarios that failed when
they last ran::

    {"version": 1, "failed": {"seed-download-fallback": "spec/seed/download-fallback.yaml"}}

keyed by scenario id (a file that did not load, by its path). After a run, each
scenario it ran is added when it failed and taken out when it passed or was skipped;
the others keep their entry. The file is written whole to a temporary file beside it
and renamed over it, so that a run stopped halfway never leaves half a file. The folder
holds a ``.gitignore`` of ``*``, as pytest's does, so that it is never committed.

A file that cannot be read as one (edited by hand, cut short by a full disk) is not an
error: :func:`read_failed` says why in a :class:`CacheProblem`, the run goes on as if
nothing had failed, and the next write replaces it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

FOLDER = ".asyncparity_cache"
LAST_FAILED = "lastfailed.json"
VERSION = 1


class CacheProblem(Exception):
    """The cache file exists but is not one this module wrote; the message says why."""


def cache_file(project: Path) -> Path:
    """Where ``lastfailed.json`` lives for a run started in ``project``."""
    return project / FOLDER / LAST_FAILED


def read_failed(path: Path) -> dict[str, str]:
    """The remembered failures (scenario id or file path -> file path); empty with no file.

    Raises :class:`CacheProblem` for a file that is not valid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise CacheProblem(f"cannot read it: {getattr(error, 'strerror', None) or error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CacheProblem(f"not JSON ({error})") from None
    failed = data.get("failed") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(failed, dict):
        raise CacheProblem(f'not a cache file of this kit (expected {{"version": {VERSION}, "failed": {{...}}}})')
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in failed.items()):
        raise CacheProblem("its failed entries are not all text")
    return failed


def updated(failed: dict[str, str], ran: Iterable[tuple[str, str, bool]]) -> dict[str, str]:
    """``failed`` after a run: ``ran`` holds (key, path, whether it failed) for each verdict."""
    result = dict(failed)
    for key, path, did_fail in ran:
        record(result, key, path, did_fail)
    return result


def record(failed: dict[str, str], key: str, path: str, did_fail: bool) -> None:
    """Update ``failed`` in place with one verdict: remembered if it failed, forgotten if not."""
    if did_fail:
        failed[key] = path
    else:
        failed.pop(key, None)


def write_failed(path: Path, failed: dict[str, str]) -> None:
    """Write the failures atomically (a temporary file renamed over the old one); OSError if it cannot."""
    folder = path.parent
    new_folder = not folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if new_folder:
        (folder / ".gitignore").write_text("# Created by asyncparity: the cache of `asyncparity run --lf`.\n*\n")
    text = json.dumps({"version": VERSION, "failed": dict(sorted(failed.items()))}, indent=2, ensure_ascii=False) + "\n"
    descriptor, temporary = tempfile.mkstemp(prefix=LAST_FAILED + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
