"""Runs the JavaScript side's own tests (node:test files beside this one) under pytest.

The JS modules are tested in JavaScript, with node's built-in test runner and a real
Node; this item makes them part of the one test command. A failure shows node's report.
The `await using` tests need a Node 24 as well: the kit provisions one into its per-user
cache (runner/provision.py), as `asyncparity node install 24` would, and hands it over in
ASYNCPARITY_NODE24.

The tests that go over the whole generated matrix (FULL_ONLY) take most of the suite's
time: they run in the full tests only (ASYNCPARITY_FULL_TESTS=1), as their own item.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from asyncparity.provision import ProvisionError, install
from helpers import FULL_VARIABLE, full_only, load

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "node"  # a real Node is required: README, "The two commands"
TIMEOUT = 600  # seconds; on two cores the default part takes about 15, FULL_ONLY about 60

FULL_ONLY = {
    # compile.test.mjs
    "matrix: both variants agree exactly on every generated scenario (two levels deep)": (
        "the differential matrix: js-promise and js-async on every generated scenario, about 23 s"
    ),
    "js-promise programs have no async or await anywhere outside string literals": (
        "over the matrix, about 8 s; tests/runner/test_suite.py checks every scenario of spec/ in the default run"
    ),
    "every generated program is valid JavaScript (node --check on saved programs)": (
        "a node process for each of about 120 programs, about 7 s; the trace tests evaluate the same bodies, "
        "and the standalone tests run saved programs of both variants"
    ),
    # renderings.test.mjs
    "random scenarios: js-promise and js-async give the same outcome (tries whose chain runs late on some paths aside)": (
        "the differential check over random scenarios, about 5 s; the trace tests hold both variants to traces derived by hand"
    ),
    # await-using.test.mjs
    "the option: default false (try/finally); js-promise and programs without using never change": (
        "over the more than 2,000 using fixtures of the matrix, about 6 s"
    ),
    "on Node 24+: every fixture with a using step gives the same outcome both ways (status, result, trace, stats)": (
        "await using against try/finally over the using fixtures of the matrix, about 5 s; the next test runs the "
        "known traces both ways on Node 24 in the default run"
    ),
}
"""The node tests run only in the full tests, by name, and why."""

PATTERN_SKIP = "# test name does not match pattern"


def node_24() -> str | None:
    try:
        node, _source = install("24", dict(os.environ), lambda line: None)
    except ProvisionError:
        return None  # no registry reachable: the await-using tests say they skipped, and why
    return node.path


def seed_ir_file(folder: Path) -> Path:
    """The seed scenario's IR as the loader makes it, in a file for the node tests
    (fixtures/scenarios.mjs reads it through ASYNCPARITY_SEED_IR)."""
    path = folder / "seed-download-fallback.json"
    path.write_text(json.dumps(load("seed-download-fallback")), encoding="utf-8")
    return path


def run_node_tests(name_pattern: str, folder: Path) -> tuple[subprocess.CompletedProcess[str], bool]:
    """``node --test`` over every *.test.mjs here, the tests whose name matches; and
    whether a Node 24 was handed over."""
    files = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert files, "no *.test.mjs files found"
    env = dict(os.environ, ASYNCPARITY_SEED_IR=str(seed_ir_file(folder)))
    if "ASYNCPARITY_NODE24" not in env and (path := node_24()):
        env["ASYNCPARITY_NODE24"] = path
    completed = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", f"--test-name-pattern={name_pattern}", *files],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=HERE.parent.parent,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-20000:] + completed.stderr[-5000:]
    assert re.search(r"^ℹ fail 0$", completed.stdout, re.MULTILINE)
    return completed, "ASYNCPARITY_NODE24" in env


def names_pattern(names: list[str]) -> str:
    """A JavaScript regular expression for exactly these test names (Python's escapes
    are valid there: the pattern has no u flag)."""
    return "|".join(re.escape(name) + "$" for name in names)


def pattern_skipped(output: str) -> list[str]:
    """The tests node left out because their name did not match the pattern."""
    return re.findall(rf"^\s*﹣ (.*) \([\d.]+ms\) {re.escape(PATTERN_SKIP)}$", output, re.MULTILINE)


def test_node_test_files_pass(tmp_path: Path) -> None:
    # Every test but FULL_ONLY's. The runner matches a test's ancestors too, and the root
    # (Node 20 calls it "<root>") matches any lookahead: so the pattern excludes it first.
    completed, have_node_24 = run_node_tests(f"^(?!<root>$|{names_pattern(list(FULL_ONLY))})", tmp_path)

    left_out = pattern_skipped(completed.stdout)
    assert set(left_out) <= set(FULL_ONLY), left_out  # a test renamed since runs here: never one left out by mistake
    if have_node_24:  # then nothing else may skip: the Node 24 tests really ran
        assert re.search(rf"^ℹ skipped {len(left_out)}$", completed.stdout, re.MULTILINE), completed.stdout[-3000:]


@full_only("the node tests over the whole matrix (FULL_ONLY in this file)")
def test_node_tests_over_the_whole_matrix_pass(tmp_path: Path) -> None:
    completed, have_node_24 = run_node_tests(f"^({names_pattern(list(FULL_ONLY))})", tmp_path)

    ran = re.findall(r"^\s*[✔﹣] (.*) \([\d.]+ms\)(?! # test name does not match pattern).*$", completed.stdout, re.MULTILINE)
    assert sorted(ran) == sorted(FULL_ONLY), (
        f"a test of FULL_ONLY was renamed or removed: update FULL_ONLY in {__file__} (run with {FULL_VARIABLE}=1)"
    )
    if have_node_24:  # then each of them really ran
        assert re.search(rf"^ℹ pass {len(FULL_ONLY)}$", completed.stdout, re.MULTILINE), completed.stdout[-3000:]
