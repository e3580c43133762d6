"""Runs tests/examples/sdk-parity-client.test.mjs, the JavaScript clients' own tests, under
pytest with node's test runner, as tests/javascript/test_node_suite.py runs the kit's.

The scenarios of examples/sdk-parity/scenarios reach the node tests as JSON (Node reads
no YAML): their operations and expectations, by file name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIOS = ROOT / "examples" / "sdk-parity" / "scenarios"
NODE = shutil.which("node") or "node"  # a real Node is required: README, "The two commands"
TIMEOUT = 120  # seconds; the file takes about one


def test_the_javascript_clients_node_tests_pass(tmp_path: Path) -> None:
    scenarios = {
        path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in SCENARIOS.glob("*.yaml")
        if path.stem != "asyncparity"
    }
    data = tmp_path / "scenarios.json"
    data.write_text(json.dumps(scenarios), encoding="utf-8")

    completed = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", str(HERE / "sdk-parity-client.test.mjs")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=dict(os.environ, SDK_PARITY_SCENARIOS=str(data)),
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-20000:] + completed.stderr[-5000:]
    assert re.search(r"^ℹ fail 0$", completed.stdout, re.MULTILINE)
    assert re.search(r"^ℹ pass 18$", completed.stdout, re.MULTILINE), completed.stdout[-3000:]
