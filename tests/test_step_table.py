"""The step table (spec/ir-steps.json) is complete and is the one the testees read.

Adding a step to the scenario language is one row in the table, one loader rule, one
rendering in each of the three compilers, a schema entry and a LANGUAGE.md section
(ARCHITECTURE.md, "Add a construct"). This test names whatever a new row still lacks,
and holds the testees' copies of the table to the original byte for byte.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from asyncparity.check_blocks import BlockStepChecker
from asyncparity.node import find_node
from asyncparity_python.compile import RENDERINGS

ROOT = Path(__file__).resolve().parents[1]
TABLE_PATH = ROOT / "spec" / "ir-steps.json"
TABLE = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
STEPS = list(TABLE["steps"])
MIRRORS = [ROOT / "python" / "asyncparity_python" / "ir-steps.json", ROOT / "javascript" / "ir-steps.json"]


@pytest.mark.parametrize("mirror", MIRRORS, ids=lambda path: str(path.relative_to(ROOT)))
def test_each_testee_copy_is_the_table_byte_for_byte(mirror: Path) -> None:
    assert mirror.read_bytes() == TABLE_PATH.read_bytes(), f"copy spec/ir-steps.json to {mirror.relative_to(ROOT)}"


def test_every_field_type_is_declared() -> None:
    used = {declared.rstrip("?") for row in TABLE["steps"].values() for declared in row["fields"].values()}
    assert used <= set(TABLE["types"]), f"undeclared field types: {sorted(used - set(TABLE['types']))}"


def test_every_block_and_binding_names_a_field_of_its_step() -> None:
    for name, row in TABLE["steps"].items():
        for block in row["blocks"]:
            for path in filter(None, (block["field"], block["binds"])):
                assert path.split(".")[0] in row["fields"], f"{name}: {path} is not a field"
        for field in row.get("one_of", []):
            assert field in row["fields"], f"{name}: one_of names {field}, not a field"


@pytest.mark.parametrize("step", STEPS)
def test_the_loader_has_a_rule_for_the_step(step: str) -> None:
    assert callable(getattr(BlockStepChecker, f"step_{step}", None)), (
        f"no loader rule for '{step}': add step_{step} to runner/check_steps.py (or check_blocks.py for a step with blocks)"
    )


@pytest.mark.parametrize("step", STEPS)
def test_the_python_compiler_renders_the_step(step: str) -> None:
    assert step in RENDERINGS, f"no Python rendering for '{step}' in asyncparity_python.compile.RENDERINGS"


JS_LISTING = """
import { RENDERINGS as promise } from "./compile-promise.mjs";
import { RENDERINGS as asyncs } from "./compile-async.mjs";
console.log(JSON.stringify({"js-promise": Object.keys(promise), "js-async": Object.keys(asyncs)}));
"""


@pytest.fixture(scope="module")
def js_renderings() -> dict[str, list[str]]:
    completed = subprocess.run(
        [str(find_node().path), "--input-type=module", "-e", JS_LISTING],
        cwd=ROOT / "javascript",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(completed.stdout)


@pytest.mark.parametrize("target", ["js-promise", "js-async"])
def test_each_javascript_compiler_renders_every_step_and_no_other(target: str, js_renderings: dict[str, list[str]]) -> None:
    assert sorted(js_renderings[target]) == sorted(STEPS), f"the {target} compiler's RENDERINGS and the step table differ"


def test_the_python_compiler_renders_no_step_the_table_lacks() -> None:
    assert sorted(RENDERINGS) == sorted(STEPS)


SCHEMA = json.loads((ROOT / "spec" / "scenario.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("step", STEPS)
def test_the_schema_has_an_entry_for_the_step_with_its_keys(step: str) -> None:
    entries = [entry for entry in SCHEMA["definitions"]["step"]["oneOf"] if step in entry.get("required", [])]
    assert entries, f"spec/scenario.schema.json has no step entry requiring '{step}'"
    keys = set(entries[0]["properties"]) - {step}
    assert keys == set(TABLE["steps"][step]["yaml"]), f"the schema's keys for '{step}' are not the table's yaml keys"


LANGUAGE = (ROOT / "spec" / "LANGUAGE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("step", STEPS)
def test_language_md_has_a_section_for_the_step(step: str) -> None:
    # The examples and renderings in each section are checked by tests/test_language_doc.py.
    assert re.search(rf"^### (`[^`]+` / )*`{re.escape(step)}`", LANGUAGE, re.MULTILINE), (
        f"spec/LANGUAGE.md has no section '### `{step}`'"
    )
