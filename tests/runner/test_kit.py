"""Tests for runner/kit.py: the kit finds its own files, in a checkout and in a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from asyncparity.kit import JAVASCRIPT_DIR, PYTHON_DIR, SPEC_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_the_kit_folders_hold_the_worker_the_runtime_and_the_schema() -> None:
    assert (JAVASCRIPT_DIR / "worker.mjs").is_file()
    assert (JAVASCRIPT_DIR / "asyncparity-runtime.mjs").is_file()
    assert (PYTHON_DIR / "asyncparity_runtime.py").is_file()
    assert (PYTHON_DIR / "asyncparity_python" / "worker.py").is_file()
    assert (SPEC_DIR / "scenario.schema.json").is_file()


def test_a_built_wheel_carries_everything_a_plain_install_needs(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr

    (wheel,) = tmp_path.glob("asyncparity-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    javascript = {path.name for path in (ROOT / "javascript").glob("*.mjs")}
    scenarios = {str(path.relative_to(ROOT / "spec")) for path in (ROOT / "spec").rglob("*.yaml")}

    assert {f"asyncparity_javascript/{name}" for name in javascript} <= names
    assert {f"asyncparity_spec/{name}" for name in scenarios} <= names
    assert {
        "asyncparity_spec/scenario.schema.json",
        "asyncparity_runtime.py",
        "asyncparity/cli.py",
        "asyncparity_python/worker.py",
    } <= names
    assert not any(name.startswith(("tests/", "asyncparity_javascript/test")) for name in names)
