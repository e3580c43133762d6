"""Tests for runner/pytest_plugin.py: scenario files as pytest items, run by pytest itself.

Each test makes a small project with pytester and runs pytest on it in a subprocess,
with the plugin loaded through its pytest11 entry point as a user would have it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "spec" / "seed" / "download-fallback.yaml").read_text()
EAGER = (ROOT / "spec" / "divergences" / "eager-start.yaml").read_text()


def project(pytester: pytest.Pytester, **files: str) -> None:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_one_item_per_target_named_scenario_id_and_target(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/seed.yaml": SEED, "spec/eager.yaml": EAGER, "ci.yml": "on: push\n"})

    result = pytester.runpytest_subprocess("spec", "-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "spec/eager.yaml::eager-start[[]python[]] PASSED*",
            "spec/seed.yaml::seed-download-fallback[[]js-async[]] PASSED*",
        ]
    )


def test_keyword_selection(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/seed.yaml": SEED, "spec/eager.yaml": EAGER})

    result = pytester.runpytest_subprocess("spec", "-k", "fallback", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=3, deselected=3)


def test_failure_points_into_the_yaml_and_shows_the_diff(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/seed.yaml": SEED.replace("60 log", "61 log")})

    result = pytester.runpytest_subprocess("spec", "-p", "no:cacheprovider", "--asyncparity-targets", "js-async")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ scenario seed-download-fallback[[]js-async[]] _*",
            "spec/seed.yaml:2: seed-download-fallback: The download fails with IOError*",
            '  js-async: js-async disagrees with expect: trace: first difference at event 7: expected `61 log "got processed"`, got `60 log "got processed"`',
            '    -61 log "got processed"',
            '    +60 log "got processed"',
            "  rerun: asyncparity run spec/seed.yaml -k seed-download-fallback",
        ]
    )


def test_a_file_that_does_not_load_fails_with_its_diagnostics(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/bad.yaml": "id: bad\nsummary: s\nmain:\n  - tyr: []\n"})

    result = pytester.runpytest_subprocess("spec", "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["spec/bad.yaml:4:5: unknown step 'tyr'; did you mean 'try'?"])
    assert "Traceback" not in result.stdout.str()
