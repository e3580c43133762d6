"""Runs the JavaScript side's own tests (node:test files beside this one) under pytest.

The JS modules are tested in JavaScript, with node's built-in test runner and a real
Node; this item makes them part of the one test command. A failure shows node's report.
The `await using` tests need a Node 24 as well: the kit provisions one into its per-user
cache (runner/provision.py), as `asyncparity node install 24` would, and hands it over in
ASYNCPARITY_NODE24.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from asyncparity.provision import ProvisionError, install

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "node"  # a real Node is required: README, "The two commands"
TIMEOUT = 600  # seconds; the whole JS suite takes about a minute on two cores


def node_24() -> str | None:
    try:
        node, _source = install("24", dict(os.environ), lambda line: None)
    except ProvisionError:
        return None  # no registry reachable: the await-using tests say they skipped, and why
    return node.path


def test_node_test_files_pass() -> None:
    files = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert files, "no *.test.mjs files found"
    env = dict(os.environ)
    if "ASYNCPARITY_NODE24" not in env and (path := node_24()):
        env["ASYNCPARITY_NODE24"] = path
    have_node_24 = "ASYNCPARITY_NODE24" in env

    completed = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", *files],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=HERE.parent.parent,
        env=env,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-20000:] + completed.stderr[-5000:]
    assert re.search(r"^ℹ fail 0$", completed.stdout, re.MULTILINE)
    if have_node_24:  # then nothing may skip: the Node 24 tests really ran
        assert re.search(r"^ℹ skipped 0$", completed.stdout, re.MULTILINE), completed.stdout[-3000:]
