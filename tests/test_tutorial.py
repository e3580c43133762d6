"""docs/TUTORIAL.md, followed word for word in a scratch folder, must work.

The tutorial is read in order: each ```sh block's commands run (the activation line is
what this test does by putting the installed commands on PATH), and the plain block after
it is their exact expected output; a ```yaml block after "replace its contents with"
becomes the named file; "on line N, change `A` to `B`" is applied as a person would.
A ```python block is an excerpt that must appear in the previous command's output.
pytest's closing line says how long the run took (`3 passed in 0.52s`): any time matches.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = (ROOT / "docs" / "TUTORIAL.md").read_text()
SCENARIO = re.search(r"^asyncparity new (\S+\.yaml)$", TUTORIAL, re.MULTILINE).group(1)
"""The file the tutorial has the reader write, by its first command."""


def parts(text: str) -> list[tuple[str, str, str]]:
    """(kind, body, prose before it) for each fenced block, in order."""
    found, prose, block, tag = [], [], None, ""
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if block is None:
                block, tag = [], line[3:].strip()
            else:
                found.append((tag, "".join(block), "".join(prose)))
                block, prose = None, []
        elif block is not None:
            block.append(line)
        else:
            prose.append(line)
    return found


def any_time(output: str) -> str:
    return re.sub(r" in \d+\.\d+s$", " in N.NNs", output, flags=re.MULTILINE)


def test_the_tutorial_works_as_written(tmp_path: Path) -> None:
    # A clone as the reader has it: the schema the scenario's first line names, and the
    # kit's pytest settings, which the pytest step runs under.
    (tmp_path / "spec").mkdir()
    shutil.copy(ROOT / "spec" / "scenario.schema.json", tmp_path / "spec")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "80"}
    output = None
    checked = 0
    for kind, body, prose in parts(TUTORIAL):
        for line_number, old, new in re.findall(r"on line (\d+), change `([^`]+)` to `([^`]+)`", " ".join(prose.split())):
            path = tmp_path / SCENARIO
            lines = path.read_text().splitlines(keepends=True)
            assert old in lines[int(line_number) - 1]
            lines[int(line_number) - 1] = lines[int(line_number) - 1].replace(old, new)
            path.write_text("".join(lines))
        if kind == "sh":
            output = ""
            for command in body.splitlines():
                if command.startswith(". .venv/bin/activate"):
                    continue  # this test puts the installed commands on PATH instead
                completed = subprocess.run(
                    command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
                )
                output += completed.stdout + completed.stderr
        elif kind == "":
            assert any_time(output) == any_time(body), f"after:\n{prose[-300:]}"
            checked += 1
        elif kind == "yaml":
            target = re.findall(r"`([^`]+\.yaml)`", prose)[-1]
            assert "replace its contents with" in " ".join(prose.split())
            (tmp_path / target).write_text(body)
        elif kind == "python":
            assert body in output
            checked += 1
    assert checked >= 8


def test_the_tutorial_writes_nothing_where_the_kit_s_tests_look() -> None:
    # Issue 11: the tutorial had the reader add a scenario under spec/, where the kit's
    # tests count the scenarios (the README's closing line) and hold every program to a
    # recorded digest, so following it failed the kit's own tests.
    testpaths = re.search(r"^testpaths = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    looked_at = [folder.strip().strip('"') + "/" for folder in testpaths.split(",")]
    written = {SCENARIO} | {re.findall(r"`([^`]+\.yaml)`", prose)[-1] for kind, _, prose in parts(TUTORIAL) if kind == "yaml"}

    assert looked_at == ["tests/", "spec/"]
    assert written == {"my-scenarios/cache-fallback.yaml"}
    assert [path for path in written if path.startswith(tuple(looked_at))] == []
