"""Tests for runner/skeleton.py: the file `asyncparity new` writes."""

from __future__ import annotations

from pathlib import Path

from asyncparity.load import load_text
from asyncparity.skeleton import SCHEMA, scenario_id_for, skeleton

ROOT = Path(__file__).resolve().parents[2]


def test_skeleton_inside_the_repository_points_at_the_schema_relatively() -> None:
    text = skeleton(ROOT / "spec" / "mine" / "first.yaml")

    assert text.splitlines()[0] == "# yaml-language-server: $schema=../scenario.schema.json"
    result = load_text(text, "first.yaml")
    assert result.diagnostics == []
    assert result.scenario.id == "first"


def test_skeleton_elsewhere_points_at_the_kits_schema_by_a_path_relative_to_the_file(tmp_path: Path) -> None:
    # Issue 11: never this machine's absolute path; the language server resolves it from the file's folder.
    path = tmp_path / "suite" / "x.yaml"
    path.parent.mkdir()

    line = skeleton(path).splitlines()[0]

    reference = line.removeprefix("# yaml-language-server: $schema=")
    assert not reference.startswith("/")
    assert reference.startswith("../")
    assert (path.parent / reference).resolve() == SCHEMA.resolve()


def test_skeleton_in_a_suite_with_its_own_schema_points_at_that(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "scenario.schema.json").write_text("{}")

    text = skeleton(tmp_path / "spec" / "a" / "b" / "x.yaml")

    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../scenario.schema.json"


def test_ids_are_slugs_of_the_file_name() -> None:
    assert scenario_id_for(Path("My First_Scenario.yaml")) == "my-first-scenario"
    assert scenario_id_for(Path("---.yaml")) == "scenario"
