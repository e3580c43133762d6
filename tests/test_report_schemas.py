"""The JSON reports hold to their schemas (spec/run-report.schema.json,
spec/matrix-report.schema.json), and spec/PROTOCOL.md documents every key of them.

The reports validated are real ones, from real runs of `asyncparity run --json`,
`asyncparity matrix --json` (two shards) and `asyncparity merge`, over a folder with a
passing scenario, a failing one, a declared divergence, a target skipped, a file that
does not load and a YAML file that is not a scenario: every part of each format shows.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from asyncparity.cli import main
from asyncparity.node import find_node

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec"
SEED = SPEC / "seed" / "download-fallback.yaml"
RUN_SCHEMA = json.loads((SPEC / "run-report.schema.json").read_text())
MATRIX_SCHEMA = json.loads((SPEC / "matrix-report.schema.json").read_text())


def validate(report: dict, schema: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(report), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(error.path)}: {error.message}" for error in errors[:10])


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports") / "spec"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.yaml")
    shutil.copy(SPEC / "divergences" / "eager-start.yaml", folder / "eager.yaml")
    (folder / "wrong.yaml").write_text(
        SEED.read_text().replace("id: seed-download-fallback", "id: wrong-expect").replace("    60 log", "    61 log")
    )
    (folder / "broken.yaml").write_text("id: broken\nsummary: s\nmain:\n  - tyr: []\n")
    (folder / "ci.yaml").write_text("jobs:\n  test:\n    runs-on: ubuntu-latest\n")
    return folder


def run_report(folder: Path, out: Path, *options: str) -> dict:
    main(["run", str(folder), "--targets", "all", "--json", str(out), *options])
    return json.loads(out.read_text())


def test_run_reports_hold_to_their_schema(suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = run_report(suite, tmp_path / "run.json")
    stopped = run_report(suite, tmp_path / "stopped.json", "-x")
    capsys.readouterr()

    validate(whole, RUN_SCHEMA)
    validate(stopped, RUN_SCHEMA)
    # Every part of the format is in them: a failure with its diff, a declaration, a
    # skipped target, a file that did not load, a file passed over, a run stopped early.
    statuses = {item["status"] for scenario in whole["scenarios"] for item in scenario["targets"]}
    assert {"agree", "diverge", "mismatch"} <= statuses
    assert any(item["diff"] for scenario in whole["scenarios"] for item in scenario["targets"])
    assert any(scenario["id"] is None and scenario["diagnostics"] for scenario in whole["scenarios"])
    assert whole["passed_over"] and not whole["interrupted"]
    assert stopped["interrupted"] and stopped["not_run"] > 0


def test_run_report_schema_refuses_what_the_format_is_not(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The schema is strict enough to catch drift: a key it does not know, a wrong status.
    report = run_report(suite, tmp_path / "run.json")
    capsys.readouterr()
    next(scenario for scenario in report["scenarios"] if scenario["targets"])["targets"][0]["status"] = "passed"
    report["extra"] = True

    messages = sorted(error.message for error in jsonschema.Draft202012Validator(RUN_SCHEMA).iter_errors(report))

    assert messages == [
        "'passed' is not one of ['agree', 'diverge', 'skipped', 'mismatch', 'error']",
        "Additional properties are not allowed ('extra' was unexpected)",
    ]


def test_matrix_shards_and_their_merge_hold_to_their_schema(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--python", sys.executable, "--node", find_node().path, "--targets", "all", "--known", str(tmp_path / "known.yaml")]
    shards = []
    for index in (1, 2):
        path = tmp_path / f"shard{index}.json"
        main(["matrix", str(suite), *common, "--shard", f"{index}/2", "--json", str(path)])
        shards.append(path)
    main(["merge", *map(str, shards), "--json", str(tmp_path / "merged.json")])
    capsys.readouterr()

    reports = [json.loads(path.read_text()) for path in [*shards, tmp_path / "merged.json"]]
    for report in reports:
        validate(report, MATRIX_SCHEMA)
    merged = reports[-1]
    assert {scenario["id"] for scenario in merged["scenarios"]} == {"seed-download-fallback", "eager-start", "wrong-expect"}
    cells = [cell for scenario in merged["scenarios"] for cell in scenario["cells"].values()]
    assert any("rerun" in cell for cell in cells)  # a failing cell, its targets and rerun command
    assert merged["broken"]


def schema_keys(schema: object) -> set[str]:
    """Every property name a schema declares, anywhere in it."""
    found: set[str] = set()
    if isinstance(schema, dict):
        found |= set(schema.get("properties", {}))
        for value in schema.values():
            found |= schema_keys(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= schema_keys(value)
    return found


def test_protocol_documents_every_key_of_the_reports() -> None:
    text = (SPEC / "PROTOCOL.md").read_text()
    reports = text[text.index("\n## Reports\n") :]
    # The outcome's own keys are documented under "The outcome" and "Trace events".
    outcome = {
        "result",
        "trace",
        "stats",
        "t",
        "event",
        "op",
        "resource",
        "args",
        "value",
        "error",
        "unordered",
        "kind",
        "errors",
    }
    outcome |= {"returns", "throws", "uncaught", "virtual_time", "timer_firings", "max_turns_per_instant"}
    documented = set(re.findall(r"`([a-z_]+)`", reports)) | outcome

    missing = (schema_keys(RUN_SCHEMA) | schema_keys(MATRIX_SCHEMA)) - documented

    assert not missing, f"keys of the report schemas that spec/PROTOCOL.md's Reports section does not name: {sorted(missing)}"
