"""Tests for runner/pytest_plugin.py: scenario files as pytest items, run by pytest itself.

Each test makes a small project with pytester and runs pytest on it in a subprocess,
with the plugin loaded through its pytest11 entry point as a user would have it.
"""

from __future__ import annotations

import json
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


def test_the_targets_option_takes_all_and_refuses_an_unknown_target(pytester: pytest.Pytester) -> None:
    # A misspelt target selected nothing, silently ("no tests ran"), where run --targets refuses it.
    project(pytester, **{"spec/seed.yaml": SEED})

    result = pytester.runpytest_subprocess("spec", "--asyncparity-targets", "python,pyhton", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --asyncparity-targets: unknown target 'pyhton'; choose from python, python-eager, js-promise, "
            "js-async, or all (not 'python,pyhton')"
        ]
    )
    result = pytester.runpytest_subprocess("spec", "-v", "--asyncparity-targets", "all", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()  # python-eager is skipped before CPython 3.12
    assert (result.ret, outcomes.get("passed", 0) + outcomes.get("skipped", 0)) == (0, 4)
    result.stdout.fnmatch_lines(["spec/seed.yaml::seed-download-fallback[[]python-eager[]] *"])


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

    result = pytester.runpytest_subprocess("spec", "-ra", "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["spec/bad.yaml:4:5: unknown step 'tyr'; did you mean 'try'?"])
    assert "FAILED spec/bad.yaml::bad.yaml - unknown step 'tyr'; did you mean 'try'?" in result.stdout.lines
    assert "Traceback" not in result.stdout.str()


BROKEN = SEED.replace("id: seed-download-fallback", "id: seed-broken").replace("    60 log", "    61 log")
TWO_TARGETS = ("--asyncparity-targets", "python,js-async")


def lastfailed(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed").read_text())


def test_lf_reruns_only_the_failed_scenario_items(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/broken.yaml": BROKEN, "spec/seed.yaml": SEED})
    first = pytester.runpytest_subprocess("spec", *TWO_TARGETS)
    first.assert_outcomes(failed=2, passed=2)

    rerun = pytester.runpytest_subprocess("spec", "--lf", *TWO_TARGETS)

    # The keys pytest writes are the items' node ids, and --lf finds the items by them.
    assert set(lastfailed(pytester)) == {"spec/broken.yaml::seed-broken[python]", "spec/broken.yaml::seed-broken[js-async]"}
    rerun.assert_outcomes(failed=2)
    rerun.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures (skipped 1 file)"])


def test_lf_narrows_to_the_failed_target_within_a_file(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/seed.yaml": SEED})
    pytester.runpytest_subprocess("spec", *TWO_TARGETS).assert_outcomes(passed=2)
    cache = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    cache.write_text(json.dumps({"spec/seed.yaml::seed-download-fallback[js-async]": True}))

    rerun = pytester.runpytest_subprocess("spec", "--lf", "-v", *TWO_TARGETS)

    rerun.assert_outcomes(passed=1)
    rerun.stdout.fnmatch_lines(
        [
            "collecting ... collected 1 item",  # the file's other item is left out as it is collected
            "run-last-failure: rerun previous 1 failure",
            "spec/seed.yaml::seed-download-fallback[[]js-async[]] PASSED*",
        ]
    )


def test_ff_runs_the_failed_scenario_items_first(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/a-seed.yaml": SEED, "spec/b-broken.yaml": BROKEN})
    pytester.runpytest_subprocess("spec", *TWO_TARGETS).assert_outcomes(failed=2, passed=2)

    again = pytester.runpytest_subprocess("spec", "--ff", "-v", *TWO_TARGETS)

    again.assert_outcomes(failed=2, passed=2)
    again.stdout.fnmatch_lines(
        [
            "run-last-failure: rerun previous 2 failures first",
            "spec/b-broken.yaml::seed-broken[[]python[]] FAILED*",
            "spec/b-broken.yaml::seed-broken[[]js-async[]] FAILED*",
            "spec/a-seed.yaml::seed-download-fallback[[]python[]] PASSED*",
        ]
    )


def test_exitfirst_stops_at_the_first_failed_scenario_item(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/a-seed.yaml": SEED, "spec/b-broken.yaml": BROKEN})

    result = pytester.runpytest_subprocess("spec", "-x", "-p", "no:cacheprovider", *TWO_TARGETS)

    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_stepwise_resumes_at_the_failed_scenario_item(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        **{"spec/a-seed.yaml": SEED, "spec/b-broken.yaml": BROKEN, "spec/c-seed.yaml": SEED.replace("id: seed-", "id: c-")},
    )
    pytester.runpytest_subprocess("spec", "--sw", *TWO_TARGETS).assert_outcomes(failed=1, passed=2)
    project(pytester, **{"spec/b-broken.yaml": BROKEN.replace("    61 log", "    60 log")})  # the fix

    again = pytester.runpytest_subprocess("spec", "--sw", "-v", *TWO_TARGETS)

    again.stdout.fnmatch_lines(["stepwise: skipping 2 already passed items*"])
    again.assert_outcomes(passed=4, deselected=2)


def test_keyword_expressions_select_by_scenario_and_target(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/seed.yaml": SEED, "spec/eager.yaml": EAGER})

    result = pytester.runpytest_subprocess("spec", "-v", "-p", "no:cacheprovider", "-k", "fallback and not js")

    result.assert_outcomes(passed=1, deselected=5)
    result.stdout.fnmatch_lines(["spec/seed.yaml::seed-download-fallback[[]python[]] PASSED*"])


@pytest.mark.parametrize("processes", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_the_short_summary_shows_the_first_difference(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, processes: list[str]
) -> None:
    # On CI (pytest reads $CI) the short summary line is not cut to the terminal's width.
    # Under pytest-xdist the report crosses from a worker process and must keep its line.
    monkeypatch.setenv("CI", "true")
    project(pytester, **{"spec/broken.yaml": BROKEN})

    result = pytester.runpytest_subprocess(
        "spec", "-ra", "-p", "no:cacheprovider", "--asyncparity-targets", "js-async", *processes
    )

    result.assert_outcomes(failed=1)
    assert (
        "FAILED spec/broken.yaml::seed-broken[js-async] - trace: first difference at event 7: "
        'expected `61 log "got processed"`, got `60 log "got processed"`'
    ) in result.stdout.lines


def test_line_tracebacks_point_at_the_scenario_with_its_first_difference(pytester: pytest.Pytester) -> None:
    project(pytester, **{"spec/broken.yaml": BROKEN})

    result = pytester.runpytest_subprocess("spec", "--tb=line", "-p", "no:cacheprovider", "--asyncparity-targets", "js-async")

    result.assert_outcomes(failed=1)
    assert (
        f"{pytester.path / 'spec' / 'broken.yaml'}:2: trace: first difference at event 7: "
        'expected `61 log "got processed"`, got `60 log "got processed"`'
    ) in result.stdout.lines


def test_a_scenario_with_your_own_code_runs_in_a_worker_under_pytest(pytester: pytest.Pytester) -> None:
    # examples/your-own-code: the plugin's Python testee sends it to a worker process
    # (the client writes down the program it runs in: the worker's, not pytest's).
    example = ROOT / "examples" / "your-own-code"
    client = (
        (example / "client.py")
        .read_text()
        .replace(
            '            api.log(f"attempt {attempt + 1} failed: {error.message}")',
            '            api.log(f"attempt {attempt + 1} failed: {error.message}")\n'
            '            open("argv.txt", "w").write(__import__("sys").argv[0])',
        )
    )
    assert "argv.txt" in client
    project(
        pytester,
        **{
            "own/get-json.yaml": (example / "get-json.yaml").read_text(),
            "own/client.py": client,
            "own/client.mjs": (example / "client.mjs").read_text(),
        },
    )

    result = pytester.runpytest_subprocess("own", "-v", "-p", "no:cacheprovider", "--asyncparity-targets", "python")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["own/get-json.yaml::your-own-code-get-json[[]python[]] PASSED*"])
    assert Path((pytester.path / "argv.txt").read_text()).parts[-2:] == ("asyncparity_python", "worker.py")
