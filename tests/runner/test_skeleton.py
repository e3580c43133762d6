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


def test_skeleton_elsewhere_points_at_the_schema_absolutely(tmp_path: Path) -> None:
    text = skeleton(tmp_path / "x.yaml")

    assert text.splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA.as_posix()}"


def test_skeleton_in_a_suite_with_its_own_schema_points_at_that(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "scenario.schema.json").write_text("{}")

    text = skeleton(tmp_path / "spec" / "a" / "b" / "x.yaml")

    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../scenario.schema.json"


def test_ids_are_slugs_of_the_file_name() -> None:
    assert scenario_id_for(Path("My First_Scenario.yaml")) == "my-first-scenario"
    assert scenario_id_for(Path("---.yaml")) == "scenario"
