"""Content cache: what a run of unchanged scenario files may skip, keyed by content.

A re-run of a suite whose files did not change need not load their YAML again nor
generate their programs again (issue 13: loading and validating is about a fifth of a
run, generating programs about a third). This module keeps two kinds of entry, each the
plain data at a boundary of the pipeline, in ``.asyncparity_cache/content/`` beside the
``lastfailed.json`` of runner/cache.py:

- ``scenario``: a file that loaded without a diagnostic, as the JSON of its
  :class:`~asyncparity.model.Scenario` (the validated IR and the expectations), keyed by
  the file's bytes and the path it is shown as (the path is in the IR);
- ``python``: the in-process Python target's program for one IR and target, as the code
  object ``compile()`` made of it (:mod:`marshal`, as CPython's own ``__pycache__``) and
  the features it uses (as the compiler reports them), keyed by the IR's JSON and the
  target.

Every key also holds :func:`kit_key`: the kit's version, this CPython's version (a
marshalled code object is only good for the CPython that wrote it) and a digest of the
kit's own source files, so that an edited loader or compiler in a checkout misses
instead of answering with stale data. Files that load with a diagnostic are not cached
(their messages are cheap to make again), nor are scenarios that may read other files:
one whose text mentions ``bind`` (issue 12: the user's modules, whose content is not in
the key) or whose folder holds an ``asyncparity.yaml`` (its folder-wide ``bind:``).

An entry is one file, named by the key's SHA-256, holding the SHA-256 of its payload
then the payload. It is written whole to a temporary file beside it and renamed over it,
so that runs side by side (two writers of one entry write the same bytes) never read
half an entry; an entry that is short, corrupt or undecodable is a miss, never an error,
and the next write replaces it. The folder is trusted as ``__pycache__`` is: it is the
project's own, written by this kit (marshal is not meant for data from elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import CodeType

from .cache import FOLDER
from .check_bind import FOLDER_FILE
from .kit import JAVASCRIPT_DIR, PYTHON_DIR
from .model import Divergence, Expectation, Scenario

CONTENT = "content"
"""The subfolder of ``.asyncparity_cache`` that holds the entries."""
_DIGEST = hashlib.sha256().digest_size
_RUNNER_DIR = Path(__file__).resolve().parent


def kit_files() -> list[Path]:
    """The kit's own source files whose content is in every key: the runner (loader,
    checks), the Python target and runtime, the JavaScript target (the worker compiles
    its programs from the IR, so a changed compiler there changes no entry here, but a
    changed IR check there may)."""
    found = [*_RUNNER_DIR.glob("*.py"), *(PYTHON_DIR / "asyncparity_python").glob("*.py"), PYTHON_DIR / "asyncparity_runtime.py"]
    found += [*JAVASCRIPT_DIR.glob("*.mjs"), *JAVASCRIPT_DIR.glob("*.json")]
    return sorted(path for path in found if path.is_file())


def kit_key(version: str) -> str:
    """The part of every key that names this kit: its ``version``, this CPython, and the
    SHA-256 of its source files (:func:`kit_files`)."""
    digest = hashlib.sha256(f"{version}\0{sys.implementation.cache_tag}\0{sys.version}\0".encode())
    for path in kit_files():
        digest.update(path.name.encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class ContentCache:
    """The entries under ``folder`` (a project's ``.asyncparity_cache``) for one kit."""

    def __init__(self, folder: Path, kit: str) -> None:
        self.folder = folder
        self.entries = folder / CONTENT
        self.kit = kit
        self.problem: str | None = None
        """Why an entry could not be written (the first such reason), for the run to say once."""
        self.hits = 0
        self.misses = 0

    def _key(self, kind: str, *parts: bytes) -> str:
        digest = hashlib.sha256(f"{kind}\0{self.kit}\0".encode())
        for part in parts:
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.entries / key[:2] / key[2:]

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``; None when there is none or it is not whole."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        payload = data[_DIGEST:]
        if len(data) < _DIGEST or hashlib.sha256(payload).digest() != data[:_DIGEST]:
            return None
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store ``payload`` under ``key`` atomically; a failure is kept in :attr:`problem`."""
        path = self._path(key)
        try:
            if not self.folder.is_dir():
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / ".gitignore").write_text("# Created by asyncparity: its cache.\n*\n")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=path.name[:8] + ".", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(hashlib.sha256(payload).digest() + payload)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            self.problem = self.problem or f"{error.strerror or error}"

    def may_cache_file(self, path: Path, data: bytes) -> bool:
        """Whether the scenario file at ``path``, of bytes ``data``, may be cached: not when
        it may bind the user's files (its text says ``bind``, or its folder has the folder
        file whose ``bind:`` it inherits, runner/check_bind.py)."""
        return b"bind" not in data and not (path.parent / FOLDER_FILE).exists()

    def scenario_key(self, shown: str, data: bytes) -> str:
        """The key of a scenario file's entry: the path it is shown as and its bytes."""
        return self._key("scenario", shown.encode("utf-8", "surrogatepass"), data)

    def load_scenario(self, key: str) -> Scenario | None:
        """The scenario stored under ``key``, or None (a miss)."""
        payload = self.get(key)
        scenario = None
        if payload is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                scenario = scenario_from_json(json.loads(payload))
        self._count(scenario is not None)
        return scenario

    def store_scenario(self, key: str, scenario: Scenario) -> None:
        """Store a loaded scenario under ``key``."""
        self.put(key, json.dumps(scenario_to_json(scenario), ensure_ascii=False, separators=(",", ":")).encode())

    def program_key(self, ir: dict, target: str, runtime: str = "") -> str:
        """The key of a program's entry: the IR's JSON, the target and, for a program a
        worker compiles, what its compiler reads of the runtime (``runtime``)."""
        ir_json = json.dumps(ir, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return self._key("program", target.encode(), runtime.encode(), ir_json)

    def load_text(self, key: str) -> str | None:
        """The text stored under ``key`` (a worker's program body), or None (a miss)."""
        payload = self.get(key)
        text = None
        if payload is not None:
            with contextlib.suppress(UnicodeDecodeError):
                text = payload.decode("utf-8")
        self._count(text is not None)
        return text

    def store_text(self, key: str, text: str) -> None:
        """Store a text under ``key``."""
        self.put(key, text.encode("utf-8", "surrogatepass"))

    def load_program(self, key: str) -> tuple[CodeType, dict] | None:
        """The code object and features stored under ``key``, or None (a miss)."""
        payload = self.get(key)
        program = None
        if payload is not None:
            with contextlib.suppress(ValueError, EOFError, TypeError):
                stored = marshal.loads(payload)
                if (
                    isinstance(stored, tuple)
                    and len(stored) == 2
                    and isinstance(stored[0], CodeType)
                    and isinstance(stored[1], dict)
                ):
                    program = stored[0], stored[1]
        self._count(program is not None)
        return program

    def store_program(self, key: str, code: CodeType, features: dict) -> None:
        """Store a compiled program (its code object and features) under ``key``."""
        self.put(key, marshal.dumps((code, features)))

    def _count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1


def clear(folder: Path) -> int:
    """Remove the cache folder ``folder`` (``.asyncparity_cache``), entries and remembered
    failures alike, as ``pytest --cache-clear`` does; the number of files it held.
    OSError when it cannot."""
    if not folder.is_dir():
        return 0
    count = sum(1 for path in folder.rglob("*") if path.is_file() and path.name != ".gitignore")
    shutil.rmtree(folder)
    return count


def project_folder(project: Path) -> Path:
    """The cache folder of a run started in ``project``."""
    return project / FOLDER


def scenario_to_json(scenario: Scenario) -> dict:
    """A scenario as JSON data (:func:`scenario_from_json` reads it back equal)."""

    def expectation(value: Expectation | None) -> dict | None:
        if value is None:
            return None
        return {"result": value.result, "trace": value.trace, "line": value.line, "order": value.order}

    return {
        "id": scenario.id,
        "path": scenario.path,
        "line": scenario.line,
        "summary": scenario.summary,
        "tags": scenario.tags,
        "ir": scenario.ir,
        "expect": expectation(scenario.expect),
        "diverge": [
            {
                "targets": d.targets,
                "reason": d.reason,
                "result": d.result,
                "trace": d.trace,
                "line": d.line,
                "see": d.see,
                "cause": d.cause,
                "closed_by": d.closed_by,
            }
            for d in scenario.diverge
        ],
    }


def scenario_from_json(data: dict) -> Scenario:
    """The scenario :func:`scenario_to_json` wrote; KeyError or TypeError for other data."""

    def lines(value: list | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(value)

    expect = data["expect"]
    return Scenario(
        id=data["id"],
        path=data["path"],
        line=data["line"],
        summary=data["summary"],
        tags=tuple(data["tags"]),
        ir=data["ir"],
        expect=None
        if expect is None
        else Expectation(result=expect["result"], trace=lines(expect["trace"]), line=expect["line"], order=expect["order"]),
        diverge=tuple(
            Divergence(
                targets=tuple(d["targets"]),
                reason=d["reason"],
                result=d["result"],
                trace=lines(d["trace"]),
                line=d["line"],
                see=tuple(d["see"]),
                cause=d["cause"],
                closed_by=d["closed_by"],
            )
            for d in data["diverge"]
        ),
    )
