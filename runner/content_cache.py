"""Content cache: what a run of unchanged scenario files may skip, keyed by content.

A re-run of a suite whose files did not change need not load their YAML again nor
generate their programs again (issue 13: loading and validating is about a fifth of a
run, generating programs about a third). This module keeps three kinds of entry, each
the plain data at a boundary of the pipeline, in ``.asyncparity_cache/content/`` beside
the ``lastfailed.json`` of runner/cache.py:

- a scenario file that loaded without a diagnostic, as its
  :class:`~asyncparity.model.Scenario` (the validated IR and the expectations) in JSON
  data (:func:`scenario_to_json`), marshalled, keyed by the file's bytes and the path it
  is shown as (the path is in the IR);
- the in-process Python target's program for one IR and target, as the code object
  ``compile()`` made of it (:mod:`marshal`, as CPython's own ``__pycache__``) and the
  features it uses (as the compiler reports them), keyed by the IR and target;
- the program body the Node worker's compiler made for one IR and target, as text,
  keyed by the IR, the target and the worker's hello (its runtime and features, which
  the compiler reads), sent back with later run requests (spec/PROTOCOL.md).

A program's key holds the IR as the key of the file it was loaded from, or, for an IR
that came another way, as its JSON (:meth:`ContentCache.program_key`).

Every key also holds :func:`kit_key`: the kit's version, this CPython's version (a
marshalled code object is only good for the CPython that wrote it) and a digest of the
kit's own source files, so that an edited loader or compiler in a checkout misses
instead of answering with stale data. Files that load with a diagnostic are not cached
(their messages are cheap to make again), nor are scenarios that may read other files:
one whose text mentions ``bind`` (issue 12: the user's modules, whose content is not in
the key) or whose folder holds an ``asyncparity.yaml`` (its folder-wide ``bind:``).

Entries are written in packs, many to a file (:class:`ContentCache` says why and how),
each whole or not at all, so that runs side by side never read half an entry; an entry
that is short, corrupt or undecodable is a miss, never an error, and the run that
misses it stores it again. The folder is trusted as ``__pycache__`` is: it is the
project's own, written by this kit (marshal is not meant for data from elsewhere).
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import json
import marshal
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterator
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
    checks), the Python target and runtime, the JavaScript target (compilers, worker)."""
    found = [*_RUNNER_DIR.glob("*.py"), *(PYTHON_DIR / "asyncparity_python").glob("*.py"), PYTHON_DIR / "asyncparity_runtime.py"]
    found += [*JAVASCRIPT_DIR.glob("*.mjs"), *JAVASCRIPT_DIR.glob("*.json")]
    return sorted(path for path in found if path.is_file())


def kit_key(version: str) -> str:
    """The part of every key that names this kit: its ``version``, this CPython, and the
    SHA-256 of its source files (:func:`kit_files`)."""
    digest = hashlib.sha256(f"{version}\0{sys.implementation.cache_tag}\0{sys.version}\0".encode())
    for path in kit_files():
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


PACK_MAGIC = b"asyncparity content pack 2\n"
_RECORD = struct.Struct(">32sQI")  # key, offset of the entry in the pack, its length
_TRAILER = struct.Struct(">QI")  # offset of the table, number of entries
FLUSH_ENTRIES = 1 << 20
"""Entries a pack takes before it is finished and a new one begun (and at a run's end):
so many that a run of any size writes a pack or two, not enough to be compacted."""
FLUSH_BYTES = 256 * 1024 * 1024
"""Bytes a pack takes before it is finished and a new one begun (on disk, not in memory)."""
MAX_PACKS = 16
"""Packs a kit's folder may hold at the end of a run before the run compacts it: writes
the entries it used into new packs and removes the packs it read or wrote before. Each
run that missed something adds a pack, and an edited file leaves its old entries
behind: this bounds both (a run that selected a few scenarios keeps only theirs)."""


class ContentCache:
    """The entries under ``folder`` (a project's ``.asyncparity_cache``) for one kit.

    Entries are stored in packs, not a file each: creating a file costs about a
    millisecond of system time on this machine (ext4), several per scenario, more than
    the loading it saves. A run writes the entries it makes, as it makes them, into a
    temporary file (:class:`_PackWriter`), so that it holds none of them in memory
    (issue 13); when the file has :data:`FLUSH_ENTRIES` of them, and at :meth:`close`,
    it ends it with the table and renames it ``content/<kit>/<random>.pack``: a magic
    line, each entry as the SHA-256 of its payload and the payload, a table of keys,
    offsets and lengths, and a trailer saying where the table is and how long. No
    reader sees part of a pack; runs side by side write packs of their own. Reading
    takes the tables of every pack of this kit (not their entries) once, then each
    entry it is asked for; an entry whose digest does not match is a miss."""

    def __init__(self, folder: Path, kit: str) -> None:
        self.folder = folder
        self.entries = folder / CONTENT / kit[:32]
        """This kit's packs: a kit's entries are never read by another."""
        self.kit = kit
        self.problem: str | None = None
        """Why entries could not be written (the first such reason), for the run to say once."""
        self.hits = 0
        self.misses = 0
        self._index: dict[bytes, int | list[int]] | None = None  # key -> where (_read_index)
        self._pack_paths: list[Path] = []  # the packs the index points into, by number
        self._writer: _PackWriter | None = None  # the pack this run is writing
        self._closed = False
        self._open: dict[Path, int] = {}
        self._packs: list[Path] = []  # the packs read or written by this run
        # The keys this run read or stored, for compaction: their first 8 bytes, 8 bytes
        # each (a set of keys took about 100 a key, and a run's memory is not to grow with
        # the suite, issue 13). Two keys that share them keep one more entry, no more.
        self._used = array.array("Q")
        self._plain_folders: dict[str, bool] = {}  # folder -> it has no FOLDER_FILE (may_cache_file)

    def _key(self, kind: str, *parts: bytes) -> str:
        digest = hashlib.sha256(f"{kind}\0{self.kit}\0".encode())
        for part in parts:
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def _read_index(self) -> dict[bytes, int | list[int]]:
        """Where each key's entry is, as one integer (:func:`_where`): the number of its
        pack in :attr:`_pack_paths`, its offset and its length; a list of them, newest
        first, for a key that more than one pack holds. An index of a list and a tuple a
        key took 309 bytes an entry, and a re-run of 10,000 scenarios reads 40,000 of
        them: its peak was 49.0 MiB against the first run's 35.6 (issue 13). This one
        takes 130 bytes an entry (tracemalloc), and that re-run 40.3 MiB."""
        index: dict[bytes, int | list[int]] = {}
        try:
            # The newest first: where two packs hold a key, the later run's entry is read.
            packs = sorted(self.entries.glob("*.pack"), key=_newest_first)
        except OSError:
            packs = []
        self._packs += [pack for pack in packs if pack not in self._packs]
        self._pack_paths = packs
        for number, pack in enumerate(packs):
            for key, offset, length in _table_rows(pack):
                where, held = _where(number, offset, length), index.get(key)
                if held is None:
                    index[key] = where
                elif isinstance(held, list):
                    held.append(where)
                else:
                    index[key] = [held, where]
        return index

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``; None when there is none or it is not whole."""
        raw = bytes.fromhex(key)
        # An entry of the pack being written is not read back: a run asks for each key
        # once, before it stores it.
        if self._index is None:
            self._index = self._read_index()
        held = self._index.get(raw)
        for where in held if isinstance(held, list) else [] if held is None else [held]:
            path = self._pack_paths[where >> 64]
            offset, length = (where >> 32) & 0xFFFFFFFF, where & 0xFFFFFFFF
            try:
                if path not in self._open:
                    self._open[path] = os.open(path, os.O_RDONLY)
                data = os.pread(self._open[path], length, offset)
            except OSError:
                continue
            payload = data[_DIGEST:]
            if len(data) == length and hashlib.sha256(payload).digest() == data[:_DIGEST]:
                self._used.append(_prefix(raw))
                return payload
        return None

    def put(self, key: str, payload: bytes) -> None:
        """Write ``payload`` under ``key`` into the pack being written; once the folder
        could not be written (:attr:`problem`), entries are dropped."""
        raw = bytes.fromhex(key)
        self._used.append(_prefix(raw))
        if self.problem is not None:
            return
        try:
            if self._writer is None:
                self._writer = self._begin_pack()
            self._writer.add(raw, payload)
        except OSError as error:
            self._fail(error)
            return
        if self._writer.count >= FLUSH_ENTRIES or self._writer.offset >= FLUSH_BYTES:
            self.flush()

    def _begin_pack(self) -> _PackWriter:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / ".gitignore").write_text("# Created by asyncparity: its cache.\n*\n")
        self.entries.mkdir(parents=True, exist_ok=True)
        return _PackWriter(self.entries)

    def _fail(self, error: OSError) -> None:
        self.problem = self.problem or f"{error.strerror or error}"
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.discard()

    def flush(self) -> None:
        """Finish the pack being written; a failure is kept in :attr:`problem`."""
        if self._writer is None:
            return
        try:
            pack = self._writer.finish()
        except OSError as error:
            self._fail(error)
            return
        self._writer = None
        # Not added to the index: a run seldom reads back what it wrote, and the index
        # would grow with the suite (_compact reads every pack's table again).
        self._packs.append(pack)

    def close(self) -> None:
        """Finish the pack being written (compacting the folder past :data:`MAX_PACKS`),
        and close the packs read. Once: a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        if self._index is None:
            self._index = self._read_index()
        if len(self._packs) > MAX_PACKS and self.problem is None:
            self._compact()
        for descriptor in self._open.values():
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._open.clear()

    def may_cache_file(self, path: Path | str, data: bytes) -> bool:
        """Whether the scenario file at ``path``, of bytes ``data``, may be cached: not when
        it may bind the user's files (its text says ``bind``, or its folder has the folder
        file whose ``bind:`` it inherits, runner/check_bind.py). Each folder is looked at
        once a run (a file system call a file was 1.4% of a re-run's main thread, issue 13)."""
        if b"bind" in data:
            return False
        folder = os.path.dirname(path)
        plain = self._plain_folders.get(folder)
        if plain is None:
            plain = self._plain_folders[folder] = not os.path.exists(os.path.join(folder, FOLDER_FILE))
        return plain

    def scenario_key(self, shown: str, data: bytes) -> str:
        """The key of a scenario file's entry: the path it is shown as and its bytes."""
        return self._key("scenario", shown.encode("utf-8", "surrogatepass"), data)

    def load_scenario(self, key: str) -> Scenario | None:
        """The scenario stored under ``key``, or None (a miss)."""
        payload = self.get(key)
        scenario = None
        if payload is not None:
            with contextlib.suppress(ValueError, EOFError, KeyError, TypeError, AttributeError):
                scenario = scenario_from_json(marshal.loads(payload), content_key=key)
        self._count(scenario is not None)
        return scenario

    def store_scenario(self, key: str, scenario: Scenario) -> None:
        """Store a loaded scenario under ``key``."""
        # marshal, not JSON text: read back in half the time (issue 13), and the folder is
        # trusted as __pycache__ is (the module docstring).
        self.put(key, marshal.dumps(scenario_to_json(scenario)))

    def program_key(self, ir: dict, target: str, runtime: str = "", source: str | None = None) -> str:
        """The key of a program's entry: the target, for a program a worker compiles what
        its compiler reads of the runtime (``runtime``), and the IR: as ``source``, the
        key of the scenario file it was loaded from (:attr:`Scenario.content_key
        <asyncparity.model.Scenario.content_key>`), which holds all the loader reads to
        make it; else as its JSON (made three times a scenario, the JSON was 9% of a
        re-run's main thread, sampled with py-spy: issue 13)."""
        if source is not None:
            return self._key("program of a file", target.encode(), runtime.encode(), bytes.fromhex(source))
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

    def _compact(self) -> None:
        """Write the entries this run used into new packs and remove the packs it read or
        wrote before; a run reading one of those now misses, or reads on from the file
        it opened (an unlinked file stays readable while open)."""
        self._index = self._read_index()  # every pack, those this run wrote too
        old, self._packs = self._packs, []
        used = set(self._used)
        for raw in sorted(raw for raw in self._index if _prefix(raw) in used):
            payload = self.get(raw.hex())
            if payload is not None:
                self.put(raw.hex(), payload)
        self.flush()
        if self.problem is None:
            for pack in old:
                with contextlib.suppress(OSError):
                    os.unlink(pack)


def _newest_first(pack: Path) -> tuple[int, str]:
    try:
        return -pack.stat().st_mtime_ns, pack.name
    except OSError:  # gone since it was listed: its table will be empty
        return 0, pack.name


def _prefix(raw: bytes) -> int:
    return int.from_bytes(raw[:8], "big")


_WRITE_BUFFER = 1 << 20


class _PackWriter:
    """A pack being written (:class:`ContentCache`): each entry goes to its temporary file
    as it comes, and its row of the table to a second one; :meth:`finish` appends the
    table and the trailer, and renames the pack into place. Nothing grows in memory."""

    def __init__(self, folder: Path) -> None:
        descriptor, self.temporary = tempfile.mkstemp(suffix=".tmp", dir=folder)
        # Large buffers: a write call a megabyte, not one every 8 KB (a run writes tens of MB).
        self.stream = os.fdopen(descriptor, "wb", buffering=_WRITE_BUFFER)
        # Held open from one add to the next: closed by finish or discard.
        self.table = tempfile.TemporaryFile(dir=folder, buffering=_WRITE_BUFFER)  # noqa: SIM115
        self.stream.write(PACK_MAGIC)
        self.offset = len(PACK_MAGIC)
        self.count = 0

    def add(self, raw: bytes, payload: bytes) -> None:
        blob = hashlib.sha256(payload).digest() + payload
        self.stream.write(blob)
        self.table.write(_RECORD.pack(raw, self.offset, len(blob)))
        self.offset += len(blob)
        self.count += 1

    def finish(self) -> Path:
        try:
            self.table.seek(0)
            shutil.copyfileobj(self.table, self.stream)
            self.table.close()
            self.stream.write(_TRAILER.pack(self.offset, self.count))
            self.stream.close()
            pack = Path(self.temporary.removesuffix(".tmp") + ".pack")
            os.replace(self.temporary, pack)
        except BaseException:
            self.discard()
            raise
        return pack

    def discard(self) -> None:
        for stream in (self.stream, self.table):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


def _where(number: int, offset: int, length: int) -> int:
    """An entry's place as one integer: its pack's number, its offset and its length."""
    return (number << 64) | (offset << 32) | length


def pack_table(path: Path) -> list[tuple[bytes, tuple[Path, int, int]]]:
    """The keys of a pack and where each entry is (the pack, offset, length); empty for
    a file that is not a pack, and without the entries a short file cannot hold."""
    return [(key, (path, offset, length)) for key, offset, length in _table_rows(path)]


def _table_rows(path: Path) -> Iterator[tuple[bytes, int, int]]:
    """:func:`pack_table`'s rows, as (key, offset, length), one at a time."""
    try:
        with path.open("rb") as stream:
            if stream.read(len(PACK_MAGIC)) != PACK_MAGIC:
                return
            size = os.fstat(stream.fileno()).st_size
            if size < len(PACK_MAGIC) + _TRAILER.size:
                return
            stream.seek(size - _TRAILER.size)
            table_at, count = _TRAILER.unpack(stream.read(_TRAILER.size))
            if table_at < len(PACK_MAGIC) or table_at + count * _RECORD.size + _TRAILER.size != size:
                return
            stream.seek(table_at)
            table = stream.read(count * _RECORD.size)
    except OSError:
        return
    if len(table) != count * _RECORD.size:
        return
    for key, offset, length in _RECORD.iter_unpack(table):
        if offset >= len(PACK_MAGIC) and offset + length <= table_at:
            yield key, offset, length


def count_entries(folder: Path) -> int:
    """How many entries the packs under a cache folder hold, for every kit."""
    return sum(len(pack_table(pack)) for pack in sorted((folder / CONTENT).glob("*/*.pack")))


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


def scenario_from_json(data: dict, content_key: str | None = None) -> Scenario:
    """The scenario :func:`scenario_to_json` wrote, with ``content_key``; KeyError or
    TypeError for other data."""

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
        content_key=content_key,
    )
