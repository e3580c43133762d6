"""Runs the JavaScript side's own tests (node:test files beside this one) under pytest.

The JS modules are tested in JavaScript, with node's built-in test runner and a real
Node; this item makes them part of the one test command. A failure shows node's report.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "node"  # a real Node is required: README, "Before you start"
TIMEOUT = 300  # seconds; the whole JS suite takes a few seconds


def test_node_test_files_pass() -> None:
    files = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert files, "no *.test.mjs files found"

    completed = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", *files],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=HERE.parent.parent, check=False,
    )

    assert completed.returncode == 0, completed.stdout[-20000:] + completed.stderr[-5000:]
