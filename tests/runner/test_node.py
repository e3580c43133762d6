"""Tests for runner/node.py: finding Node and refusing old or missing ones, in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncparity.node import NodeBinary, NodeNotFound, find_node, locate_node, node_for, resolve_node, resolve_nodes

REAL_NODE = shutil.which("node")


def fake_node(tmp_path: Path, version_line: str) -> str:
    path = tmp_path / "node"
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.skipif(REAL_NODE is None, reason="needs a real Node on PATH")
def test_real_node_on_path_is_found() -> None:
    node = find_node(environ={"PATH": os.environ["PATH"]})

    assert node.major >= 20
    assert os.path.samefile(node.path, REAL_NODE)


def test_requested_path_wins_over_the_environment(tmp_path: Path) -> None:
    requested = fake_node(tmp_path, "v22.3.0")

    node = find_node(requested, environ={"ASYNCPARITY_NODE": "/nonexistent/node", "PATH": ""})

    assert (node.path, node.version, node.major) == (requested, "22.3.0", 22)


def test_environment_variable_is_used(tmp_path: Path) -> None:
    path = fake_node(tmp_path, "v24.0.1")

    assert find_node(environ={"ASYNCPARITY_NODE": path, "PATH": ""}).version == "24.0.1"


def test_old_node_is_refused_with_what_was_found(tmp_path: Path) -> None:
    path = fake_node(tmp_path, "v18.19.0")

    with pytest.raises(NodeNotFound) as caught:
        find_node(path, environ={})

    assert str(caught.value) == (
        f"asyncparity: {path} (--node {path}) is Node 18.19.0; the JavaScript targets need Node 20 or later: "
        "install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"
    )


def test_missing_node_is_one_clear_line() -> None:
    with pytest.raises(NodeNotFound) as caught:
        find_node(environ={"PATH": ""})

    assert str(caught.value) == (
        "asyncparity: no Node found (node on PATH): install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"
    )


def test_something_that_is_not_node(tmp_path: Path) -> None:
    path = fake_node(tmp_path, "hello")

    with pytest.raises(NodeNotFound, match=r"is not Node: --version printed 'hello'"):
        find_node(path, environ={})


def test_a_version_that_the_node_on_path_is_resolves_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake_node(tmp_path, "v22.3.1")
    monkeypatch.setenv("PATH", str(Path(path).parent))
    monkeypatch.delenv("ASYNCPARITY_NODE", raising=False)

    assert resolve_node("22").path == path
    assert resolve_node("v22.3.1").path == path
    assert node_for("22") == find_node()
    # A path (or none) is only located: the run reads its version from the worker's hello.
    assert node_for(None) == node_for(path) == NodeBinary(path, "")  # a path is a path, not a version


def test_a_program_that_answers_version_with_a_page_is_told_in_one_line(tmp_path: Path) -> None:
    # As /bin/false does (GNU coreutils): seven lines of version and licence, exit 1.
    path = tmp_path / "false"
    path.write_text(
        "#!/bin/sh\nprintf 'false (GNU coreutils) 9.1\\nCopyright (C) 2022\\n\\nWritten by Jim Meyering.\\n'\nexit 1\n"
    )
    path.chmod(0o755)

    with pytest.raises(NodeNotFound) as caught:
        find_node(str(path), environ={})

    assert str(caught.value) == (
        f"asyncparity: {path} (--node {path}) is not Node: --version printed 'false (GNU coreutils) 9.1' (line 1 of 4) "
        "and exited 1: install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"
    )


def test_a_located_node_is_not_run_and_says_how_it_was_chosen(tmp_path: Path) -> None:
    path = tmp_path / "node"
    path.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    path.chmod(0o755)

    located = [
        locate_node(str(path), environ={}),
        locate_node(environ={"ASYNCPARITY_NODE": str(path)}),
        locate_node(environ={"PATH": str(tmp_path)}),
    ]

    assert [(node.path, node.version, node.source) for node in located] == [
        (str(path), "", f"--node {path}"),
        (str(path), "", f"ASYNCPARITY_NODE={path}"),
        (str(path), "", "node on PATH"),
    ]
    assert not (tmp_path / "ran").exists()


def test_a_node_located_not_provisioned_does_not_import_the_provisioning_module() -> None:
    # Its HTTP client took 25 ms of every run that needed no download (issue 13).
    code = (
        "import sys; from asyncparity.node import node_for; "
        "node_for(None); node_for(sys.argv[1]); print('asyncparity.provision' in sys.modules)"
    )
    node = shutil.which("node")
    assert node is not None
    completed = subprocess.run([sys.executable, "-c", code, node], capture_output=True, text=True, timeout=60, check=False)

    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "False\n", "")


def logging_node(folder: Path, version: str, log: Path) -> str:
    """A fake Node that logs when each ``--version`` started and ended, and takes 0.3 s."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "node"
    date, sleep = shutil.which("date"), shutil.which("sleep")  # the test's PATH holds only the fake Node
    path.write_text(
        f'#!/bin/sh\necho "start {folder.name} $({date} +%s.%N)" >> {log}\n{sleep} 0.3\n'
        f"echo \"end {folder.name} $({date} +%s.%N)\" >> {log}\necho '{version}'\n"
    )
    path.chmod(0o755)
    return str(path)


def test_the_matrix_asks_each_node_once_and_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 13: each probe once a run, in parallel. One after another, the Node on PATH
    # was asked once for each version, and every answer waited for the one before.
    log = tmp_path / "log"
    on_path = logging_node(tmp_path / "path", "v22.3.1", log)
    first = logging_node(tmp_path / "first", "v24.1.0", log)
    second = logging_node(tmp_path / "second", "v20.9.0", log)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv("ASYNCPARITY_NODE", raising=False)

    nodes = resolve_nodes(["22", first, "v22.3.1", second])

    assert [(node.path, node.version) for node in nodes] == [
        (on_path, "22.3.1"),
        (first, "24.1.0"),
        (on_path, "22.3.1"),
        (second, "20.9.0"),
    ]
    events = [line.split() for line in log.read_text().splitlines()]
    assert sorted(name for what, name, _ in events if what == "start") == ["first", "path", "second"]  # each once
    times = {(what, name): float(at) for what, name, at in events}
    assert max(times["start", "first"], times["start", "second"]) < min(times["end", "first"], times["end", "second"])
