""".ci/run installs chromium for the HTML report's browser test only when it is missing,
and only where it can: as root, with apt-get. Its install lines run here against stand-ins
for ``id`` and ``apt-get`` on a PATH of their own, so nothing is installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def install_block() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("if ! command -v chromium"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi")
    return "\n".join(lines[start : end + 1])


@pytest.mark.parametrize(
    ("uid", "has_chromium", "has_apt", "installs"),
    [("0", False, True, True), ("1000", False, True, False), ("0", True, True, False), ("0", False, False, False)],
)
def test_ci_installs_chromium_only_when_missing_and_as_root(
    tmp_path: Path, uid: str, has_chromium: bool, has_apt: bool, installs: bool
) -> None:
    calls = tmp_path / "calls"
    stand_ins = {"id": f"#!/bin/sh\necho {uid}\n"}
    if has_apt:
        stand_ins["apt-get"] = f'#!/bin/sh\necho "apt-get $*" >> {calls}\n'
    if has_chromium:
        stand_ins["chromium"] = "#!/bin/sh\n"
    for name, text in stand_ins.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        (tmp_path / name).chmod(0o755)
    completed = subprocess.run(
        ["/bin/bash", "-c", "set -euo pipefail\n" + install_block()],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    made = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    assert made == (["apt-get install -y --no-install-recommends chromium"] if installs else [])
