"""The README is part of the contract: what it shows must run exactly as written.

Checks the two commands against .ci/run, and every sample output against a real run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import full_only

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMAND = Path(sys.executable).parent / "asyncparity"


def blocks(language: str) -> list[str]:
    """The text of every fenced block in the README tagged ``language`` ("" for untagged)."""
    found, current, tag = [], None, None
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if tag == language:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def asyncparity(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_ci_runs_the_readme_test_command() -> None:
    install_and_run, install_and_test = blocks("sh")[:2]
    ci = (ROOT / ".ci" / "run").read_text()

    assert install_and_run.strip() == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/asyncparity run"
    assert install_and_test.strip() in ci.splitlines()


def test_sample_suite_output_is_what_the_suite_prints(tmp_path: Path) -> None:
    sample = next(block for block in blocks("") if block.startswith("PASS  ")).splitlines()
    shown, closing = [line for line in sample[:-1] if line != "..."], sample[-1]

    # From a folder without spec/: the kit's own spec/, as in the checkout, and the
    # run's cache is not written into the checkout.
    completed = asyncparity("run", cwd=tmp_path)

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stderr
    assert [line for line in lines if line in shown] == shown  # the same lines, in the same order
    assert lines[-1] == closing


def test_sample_failure_output_is_what_the_described_edit_prints(tmp_path: Path) -> None:
    sample = next(block for block in blocks("") if block.startswith("FAIL  "))
    seed = (ROOT / "spec" / "seed" / "download-fallback.yaml").read_text()
    (tmp_path / "x.yaml").write_text(seed.replace('    60 log "got processed"', '    61 log "got processed"'))

    completed = asyncparity("run", "x.yaml", "--targets", "js-async", cwd=tmp_path)

    assert completed.returncode == 1
    assert completed.stdout == sample


def test_the_three_programs_shown_are_what_show_prints() -> None:
    python, promise, async_ = blocks("python")[0], *blocks("js")[:2]

    completed = asyncparity("show", "spec/seed/download-fallback.yaml")

    assert completed.returncode == 0, completed.stderr
    for excerpt in (python, promise, async_):
        assert excerpt in completed.stdout


VERIFY_SAMPLE = [
    "spec/concurrency/all-keeps-call-order.yaml",  # the line the README shows
    "spec/seed/download-fallback.yaml",  # the README's scenario
    "spec/timers/timers-due-together.yaml",  # a declared divergence
]
"""The scenarios verify runs over by default: a representative few; all of spec/ in the
full tests (ASYNCPARITY_FULL_TESTS=1)."""


def verify_sample() -> tuple[str, str, str]:
    """The README's verify output: its first line up to the runtimes, the line shown, the last line."""
    sample = next(block for block in blocks("") if block.startswith("verifying ")).splitlines()
    return sample[0].split(" (CPython ")[0], sample[1], sample[-1]


def test_verify_on_a_few_scenarios_passes_and_prints_as_shown() -> None:
    # The proof of the clocks on this machine's runtimes, for a representative few of
    # spec/'s scenarios: their programs, run on real timers, print what their virtual
    # runs recorded. The README's own numbers are the whole of spec/ (the test below).
    head, shown, closing = verify_sample()
    count = len(VERIFY_SAMPLE)

    completed = subprocess.run(
        [str(COMMAND), "verify", *VERIFY_SAMPLE], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr
    assert lines[0].startswith(re.sub(r"^verifying \d+ ", f"verifying {count} ", head) + " (CPython ")
    # The id column is as wide as the longest id verified: here, of the few.
    assert shown.split() in [line.split() for line in lines]
    assert sum(line.startswith("VERIFIED  ") for line in lines) == count
    assert lines[-1] == re.sub(r"^\d+ verified,", f"{count} verified,", closing)


@full_only("verify over all of spec/")
def test_verify_over_the_kit_s_scenarios_passes_and_closes_as_shown() -> None:
    # The proof of the clocks on this machine's runtimes (CI runs this): every program of
    # every scenario in spec/, run on real timers, prints what its virtual run recorded.
    head, shown, closing = verify_sample()

    completed = subprocess.run(
        [str(COMMAND), "verify", "spec/"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr
    assert lines[0].startswith(head + " (CPython ")
    assert shown in lines
    assert lines[-1] == closing


def test_the_trace_shown_is_the_seed_expectation() -> None:
    trace = next(block for block in blocks("") if block.startswith("0 start download_data"))
    seed = (ROOT / "spec" / "seed" / "download-fallback.yaml").read_text()

    assert [line.strip() for line in seed.split("trace: |\n")[1].splitlines()] == trace.splitlines()


def test_the_yaml_shown_is_part_of_the_seed_scenario() -> None:
    excerpt = blocks("yaml")[0]

    assert excerpt in (ROOT / "spec" / "seed" / "download-fallback.yaml").read_text()


def test_the_diagnostic_shown_is_the_loaders_wording(tmp_path: Path) -> None:
    shown = re.search(r"^spec/x\.yaml:8:5: .*$", README, re.MULTILINE).group(0)
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.yaml").write_text(
        "id: x\nsummary: s\noperations:\n  f:\n    latency: 1\n    returns: 1\nmain:\n  - tyr: []\n"
    )

    completed = asyncparity("run", "--targets", "python", cwd=tmp_path)

    assert completed.returncode == 2
    assert f"  {shown}" in completed.stdout.splitlines()


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(([^)#]+)\)", README))))
def test_links_point_at_files(link: str) -> None:
    assert (ROOT / link).is_file()


def own_library_section() -> str:
    """The README's section "Check your own library", up to the next section."""
    return README.split("\n## Check your own library\n", 1)[1].split("\n## ", 1)[0]


def test_the_binding_and_the_scenario_shown_are_the_example_s_own() -> None:
    binding, scenario = re.findall(r"```yaml\n(.*?)```", own_library_section(), re.DOTALL)[:2]
    folder = ROOT / "examples" / "sdk-parity" / "scenarios"

    assert binding in (folder / "asyncparity.yaml").read_text()
    assert scenario in (folder / "per-request-timeout.yaml").read_text()
