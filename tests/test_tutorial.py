"""docs/TUTORIAL.md, followed word for word in a scratch folder, must work.

The tutorial is read in order: each ```sh block's commands run (the activation line is
what this test does by putting the installed commands on PATH), and the plain block after
it is their exact expected output; a ```yaml block after "replace its contents with"
becomes the named file; "on line N, change `A` to `B`" is applied as a person would.
A ```python block is an excerpt that must appear in the previous command's output.
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


def test_the_tutorial_works_as_written(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    shutil.copy(ROOT / "spec" / "scenario.schema.json", tmp_path / "spec")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    output = None
    checked = 0
    for kind, body, prose in parts(TUTORIAL):
        for line_number, old, new in re.findall(r"on line (\d+), change `([^`]+)` to `([^`]+)`", " ".join(prose.split())):
            path = tmp_path / re.findall(r"`(spec/[^`]+\.yaml)`", TUTORIAL)[0]
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
            assert output == body, f"after:\n{prose[-300:]}"
            checked += 1
        elif kind == "yaml":
            target = re.findall(r"`(spec/[^`]+\.yaml)`", prose)[-1]
            assert "replace its contents with" in " ".join(prose.split())
            (tmp_path / target).write_text(body)
        elif kind == "python":
            assert body in output
            checked += 1
    assert checked >= 7
