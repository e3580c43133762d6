"""The CI workflows are checked offline: GitHub's workflow schema, and the README's commands.

check-jsonschema ships the schema (vendored from SchemaStore) and validates without a
network; actionlint would check more, but it does not install from the registries here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "asyncparity.yml"
README = (ROOT / "README.md").read_text()


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def readme_commands() -> tuple[str, str]:
    install_and_run, install_and_test = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)[:2]
    return install_and_run.strip(), install_and_test.strip()


def test_the_workflow_is_a_valid_github_workflow() -> None:
    completed = check_jsonschema(WORKFLOW)

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("timeout-minutes: 30", 'timeout-minutes: "soon"', 1))

    assert check_jsonschema(broken).returncode != 0


def test_the_workflow_installs_and_tests_with_the_readme_commands() -> None:
    install_and_run, install_and_test = readme_commands()
    runs = [step.get("run", "") for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values() for step in job["steps"]]

    assert install_and_test in runs
    assert install_and_run in runs


def test_the_matrix_covers_the_supported_runtimes() -> None:
    matrix = yaml.safe_load(WORKFLOW.read_text())["jobs"]["conformance"]["strategy"]

    assert matrix["fail-fast"] is False
    assert matrix["matrix"] == {"python": ["3.10", "3.11", "3.12", "3.13"], "node": ["20", "22", "24"]}


def test_the_readme_workflow_for_your_repository_is_valid(tmp_path: Path) -> None:
    copyable = re.search(r"```yaml\n(name: async conformance\n.*?)```", README, re.DOTALL).group(1)
    path = tmp_path / "conformance.yml"
    path.write_text(copyable)

    completed = check_jsonschema(path)

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_readme_workflow_with_the_steps_for_your_own_library_is_valid(tmp_path: Path) -> None:
    # README, "Check your own library": the steps a user adds go at the end of the steps
    # of the workflow in "Run it in CI"; the workflow stays valid, with them as written.
    copyable = re.search(r"```yaml\n(name: async conformance\n.*?)```", README, re.DOTALL).group(1)
    section = README.split("## Check your own library", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"```yaml\n(      - run: .*?)```", section, re.DOTALL)
    assert len(steps) == 1, steps
    path = tmp_path / "conformance.yml"
    path.write_text(copyable + steps[0])

    completed = check_jsonschema(path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    workflow = yaml.safe_load(path.read_text())
    assert [step.get("run") for step in workflow["jobs"]["conformance"]["steps"][-3:]] == [
        line.removeprefix("      - run: ") for line in steps[0].splitlines()
    ]
