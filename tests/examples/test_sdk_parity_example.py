"""examples/sdk-parity run through the kit, as the README's section "Check your own
library" runs it: the clients pass every scenario on every target, the buggy variant
fails with the first differing event, verify holds on real time, and the README shows
what the commands print."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from helpers import find_cpython

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sdk-parity"
COMMAND = Path(sys.executable).parent / "asyncparity"
README = (ROOT / "README.md").read_text(encoding="utf-8")


@cache
def asyncparity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def scenario_ids(folder: Path) -> list[str]:
    return sorted(
        re.search(r"^id: (\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE).group(1)
        for path in folder.glob("*.yaml")
        if path.name != "asyncparity.yaml"
    )


def shown_after(command: str) -> str:
    """The README's output block right after the ```sh block holding exactly ``command``."""
    section = README.split("\n## Check your own library\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```sh\n{re.escape(command)}\n```\n\n```\n(.*?)```", section, re.DOTALL).group(1)


def test_both_clients_pass_every_scenario_on_every_target() -> None:
    completed = asyncparity("run", "examples/sdk-parity/scenarios")

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    passed = sorted(line.split()[1] for line in lines if line.startswith("PASS  "))
    assert passed == scenario_ids(EXAMPLE / "scenarios")
    assert all(line.endswith("python agree, js-promise agree, js-async agree") for line in lines if line.startswith("PASS  "))
    assert lines[-1] == f"{len(passed)} passed, 0 failed"


def test_the_buggy_variant_fails_at_the_missing_cancel_and_python_still_agrees() -> None:
    completed = asyncparity("run", "examples/sdk-parity/buggy")

    lines = completed.stdout.splitlines()
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "FAIL  sdk-buggy-per-request-timeout  python agree, js-promise mismatch, js-async mismatch" in lines
    first_difference = (
        "trace: first difference at event 2: expected `100 cancel http_get`, "
        'got `100 log "retry 1 in 50 ms: GET /orders: no response in 100 ms"`'
    )
    for target in ("js-promise", "js-async"):
        assert f"  {target}: {target} disagrees with expect: {first_difference}" in lines
    assert "    -100 cancel http_get" in lines
    assert '    +300 end http_get -> {"status":200,"body":{"orders":[1,2]}}' in lines
    assert lines[-1] == "0 passed, 1 failed"


def test_the_readme_shows_what_the_two_commands_print() -> None:
    for command in ("asyncparity run examples/sdk-parity/scenarios", "asyncparity run examples/sdk-parity/buggy"):
        completed = asyncparity(*command.split()[1:])

        assert shown_after(command) == completed.stdout, command


def test_verify_holds_the_timeout_scenario_on_real_time() -> None:
    # The clocks fake only time with user code too: the clients' programs, run on real
    # timers (Node's own setTimeout under the user's code, asyncio.timeout on the genuine
    # loop), print what their virtual runs recorded.
    completed = asyncparity("verify", "examples/sdk-parity/scenarios/per-request-timeout.yaml")

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "VERIFIED  sdk-per-request-timeout  python, js-promise, js-async" in lines
    assert lines[-1] == "1 verified, 0 differ"


@pytest.mark.parametrize(("version", "targets"), [("3.10", "python"), ("3.13", "python,python-eager")])
def test_the_python_client_passes_on_the_oldest_and_newest_cpython(version: str, targets: str) -> None:
    # 3.10 takes the client's asyncio.wait_for path (no asyncio.timeout); 3.12+ runs
    # python-eager too, where a started call runs at once, as in JavaScript.
    python = find_cpython(version)
    if python is None:
        pytest.skip(f"no CPython {version} found (pyenv or PATH)")

    completed = asyncparity("run", "examples/sdk-parity/scenarios", "--python", python, "--targets", targets, "-q")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines()[-1] == f"{len(scenario_ids(EXAMPLE / 'scenarios'))} passed, 0 failed"
