"""Tests for runner/cli.py: the commands as a user types them, with a real Node.

Most tests call ``main([...])`` in-process and read what it printed; one test runs the
installed ``asyncparity`` command to check that no traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from asyncparity import suite, testees
from asyncparity.cli import _parser, _rerun_options, main
from asyncparity.load import load_file, load_paths
from asyncparity.node import find_node
from asyncparity.testees import NODE_FLAGS, WORKER

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
SEED = SPEC / "seed" / "download-fallback.yaml"
EAGER = SPEC / "divergences" / "eager-start.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_the_whole_suite_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(SPEC))

    lines = out.splitlines()
    assert code == 0, out
    # A scenario that needs a newer CPython than this one is skipped on python, with the reason.
    passed = int(re.fullmatch(r"(\d+) passed, 0 failed(?:; \d+ target runs? skipped)?", lines[-1]).group(1))
    assert passed >= 12
    assert len([line for line in lines if line.startswith("PASS  ")]) == passed


def test_one_line_per_scenario_with_each_targets_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(EAGER))

    assert code == 0
    assert out.splitlines() == [
        "PASS  eager-start  python diverge, js-promise agree, js-async agree",
        "1 passed, 0 failed",
    ]


def test_changing_one_timestamp_fails_with_a_diff_pointing_at_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "seed.yaml"
    changed.write_text(SEED.read_text().replace("50 end download_fallback_data", "51 end download_fallback_data"))

    code, out, _ = run(capsys, "run", str(changed))

    assert code == 1
    assert "FAIL  seed-download-fallback  python mismatch, js-promise mismatch, js-async mismatch" in out
    assert (
        "  python: python disagrees with expect: trace: first difference at event 4: "
        'expected `51 end download_fallback_data -> "fallback bytes"`, '
        'got `50 end download_fallback_data -> "fallback bytes"`'
    ) in out
    assert '    -51 end download_fallback_data -> "fallback bytes"' in out
    assert '    +50 end download_fallback_data -> "fallback bytes"' in out
    assert f"  rerun: asyncparity run {changed} -k seed-download-fallback" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_the_rerun_command_repeats_the_options_that_decide_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the JavaScript targets: with the defaults, the rerun line's command ran python
    # as well, and could pass or fail for another reason.
    changed = tmp_path / "my seed.yaml"
    changed.write_text(SEED.read_text().replace("50 end download_fallback_data", "51 end download_fallback_data"))
    report = tmp_path / "report.json"

    code, out, _ = run(capsys, "run", str(changed), "--targets", "js-async", "--timeout", "30", "--json", str(report))

    rerun = f"asyncparity run '{changed}' -k seed-download-fallback --targets js-async --timeout 30"
    assert code == 1
    assert f"  rerun: {rerun}" in out.splitlines()
    assert json.loads(report.read_text())["scenarios"][0]["rerun"] == rerun
    assert run(capsys, *shlex.split(rerun)[1:])[1].splitlines()[0] == ("FAIL  seed-download-fallback  js-async mismatch")
    # The defaults are not repeated; --python and --node are, as given.
    defaults = _rerun_options(_parser().parse_args(["run", str(changed)]))
    assert defaults == []
    given = _parser().parse_args(["run", str(changed), "--python", "3.12", "--node", "22", "--targets", "all"])
    assert _rerun_options(given) == ["--targets", "all", "--python", "3.12", "--node", "22"]


def test_the_rerun_command_of_a_repeated_id_reads_the_file_that_has_it_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alone, the second file loads and passes: its rerun command did not show the problem.
    monkeypatch.chdir(tmp_path)
    shutil.copy(SEED, "a.yaml")
    shutil.copy(SEED, "b.yaml")

    code, out, _ = run(capsys, "run", ".")

    assert code == 2  # a file that did not load
    assert "  rerun: asyncparity run a.yaml b.yaml" in out.splitlines()
    assert run(capsys, "run", "b.yaml")[0] == 0
    code, again, _ = run(capsys, "run", "a.yaml", "b.yaml")
    assert code == 2
    assert "  b.yaml:2:1: scenario id 'seed-download-fallback' is already used by a.yaml:2" in again.splitlines()


def test_removing_the_declared_divergence_fails_and_shows_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    undeclared = tmp_path / "eager.yaml"
    undeclared.write_text(EAGER.read_text().split("\ndiverge:")[0] + "\n")

    code, out, _ = run(capsys, "run", str(undeclared))

    assert code == 1
    assert "FAIL  eager-start  python mismatch, js-promise agree, js-async agree" in out
    assert (
        'python disagrees with expect: trace: first difference at event 1: expected `0 start fetch_profile()`, got `0 log "started"`'
        in out
    )


def test_a_yaml_syntax_error_is_reported_and_the_other_files_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(SEED, tmp_path / "good.yaml")
    (tmp_path / "broken.yaml").write_text("id: broken\nsummary: [oops\nmain:\n  - log: x\n")

    code, out, err = run(capsys, "run", str(tmp_path))

    assert code == 2
    assert f"FAIL  {tmp_path}/broken.yaml: 1 error(s) in the file" in out
    assert (
        f"  {tmp_path}/broken.yaml:3:5: YAML syntax error: expected ',' or ']', but got ':' while parsing a flow sequence" in out
    )
    assert "PASS  seed-download-fallback" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert "Traceback" not in out + err


def test_installed_command_prints_no_traceback_for_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: bad\nsummary: s\nmain:\n  - tyr: []\n")
    command = Path(sys.executable).parent / "asyncparity"

    completed = subprocess.run(
        [str(command), "run", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 2
    assert f"{tmp_path}/bad.yaml:4:5: unknown step 'tyr'; did you mean 'try'?" in completed.stdout
    assert "Traceback" not in completed.stdout + completed.stderr


def test_keyword_selects_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(SPEC), "-k", "seed-download-fallback", "--targets", "python,js-async")

    assert code == 0
    assert out.splitlines() == ["PASS  seed-download-fallback  python agree, js-async agree", "1 passed, 0 failed"]


def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "run", str(SEED), "--targets", "python,ruby") == (
        2,
        "",
        "asyncparity: --targets: unknown target 'ruby'; choose from python, python-eager, js-promise, js-async, or all\n",
    )
    assert run(capsys, "run", str(SPEC), "-k", "no-such-scenario")[2] == (
        f"asyncparity: no scenario matches -k 'no-such-scenario' under {SPEC}\n"
    )
    code, out, err = run(capsys, "run", str(SEED), "--node", "/nonexistent/node")
    assert (code, out) == (2, "")
    assert err == (
        "asyncparity: no Node found (--node /nonexistent/node): install Node 20 or later, "
        "or point --node (or ASYNCPARITY_NODE) at one\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--timeout", "inf"], "argument --timeout: must be a number above 0 and at most 86400, not 'inf'"),
        (["run", "--timeout", "1e300"], "argument --timeout: must be a number above 0 and at most 86400, not '1e300'"),
        (["run", "--timeout", "-1"], "argument --timeout: must be a number above 0 and at most 86400, not '-1'"),
        (["show", "--timeout", "0"], "argument --timeout: must be a number above 0 and at most 86400, not '0'"),
        (["matrix", "--jobs", "0"], "argument --jobs: must be a whole number, 1 or more, not '0'"),
        (["matrix", "--timeout", "soon"], "argument --timeout: must be a number above 0 and at most 86400, not 'soon'"),
    ],
)
def test_a_bound_or_count_out_of_range_is_refused_before_any_work(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each was a traceback (OverflowError, ValueError) or a worker's misleading error.
    with pytest.raises(SystemExit) as exited:
        main([*argv, str(SEED)])

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"asyncparity {argv[0]}: error: {message}"


def test_a_run_that_finds_no_scenario_stops_the_node_worker_it_started_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The worker starts before the files are found (issue 13): a run that then has
    # nothing to do must not leave it running.
    stopped: list[int | None] = []
    real_abort = testees.WorkerTestee.abort

    def abort(worker: testees.WorkerTestee) -> None:
        stopped.append(worker.pid)
        real_abort(worker)

    monkeypatch.setattr(testees.WorkerTestee, "abort", abort)
    (tmp_path / "empty").mkdir()

    assert run(capsys, "run", str(tmp_path / "empty")) == (
        2,
        "",
        f"asyncparity: no scenario files found under {tmp_path / 'empty'}\n",
    )
    assert len(stopped) == 1
    assert stopped[0] is not None  # it was running when the run stopped it


def test_the_id_column_is_as_wide_as_the_longest_id_of_folders_and_named_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "spec"
    folder.mkdir()
    text = SEED.read_text()
    (folder / "a.yaml").write_text(text.replace("id: seed-download-fallback", "id: an-id-of-14-ch"))
    named = tmp_path / "named.yaml"
    named.write_text(text.replace("id: seed-download-fallback", "id: the-named-file-has-the-longest-id"))

    code, out, _ = run(capsys, "run", str(folder), "--targets", "python")
    assert code == 0
    assert out.splitlines()[0] == "PASS  an-id-of-14-ch  python agree"

    code, out, _ = run(capsys, "run", str(folder), str(named), "--targets", "python")
    assert code == 0
    assert out.splitlines()[:2] == [
        "PASS  an-id-of-14-ch" + " " * 19 + "  python agree",  # 14 + 19: the named file's 33
        "PASS  the-named-file-has-the-longest-id  python agree",
    ]


def test_a_run_leaves_nothing_frozen_for_the_collector(capsys: pytest.CaptureFixture[str]) -> None:
    # run freezes what exists when its stream begins (issue 13); a caller in-process
    # (these tests, a program of the user's) gets it back to the collector.
    import gc

    assert run(capsys, "run", str(SEED), "--targets", "python")[0] == 0
    assert gc.get_freeze_count() == 0


def test_python_only_run_needs_no_node(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(SEED), "--targets", "python", "--node", "/nonexistent/node")

    assert code == 0
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"

    code, _, _ = run(capsys, "run", str(SEED), "--json", str(report))

    import json

    data = json.loads(report.read_text())
    assert code == 0
    assert data["summary"] == {"passed": 1, "failed": 0, "skipped": 0, "skipped_targets": 0}
    assert [target["status"] for target in data["scenarios"][0]["targets"]] == ["agree", "agree", "agree"]


def test_show_prints_three_programs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", str(SEED))

    assert code == 0
    assert out.count("==== ") == 3
    assert "# ==== python (save as program.py) ====" in out
    promise = out.split("// ==== js-promise (save as program.mjs) ====")[1].split("// ==== js-async")[0]
    assert ".then(" in promise and ".catch(" in promise
    assert not re.search(r"\b(async|await)\b", promise)
    assert "async def get_processed_data(url):" in out


def test_show_input_errors_are_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nsummary: s\nmain:\n  - await: nothing\n")

    assert run(capsys, "show", str(bad)) == (2, "", f"{bad}:4:12: unknown operation or function 'nothing'\n")


@pytest.mark.parametrize("target", ["python", "js-promise", "js-async"])
def test_each_shown_program_runs_on_its_own_and_prints_the_same_trace(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, source, _ = run(capsys, "show", str(SEED), "--target", target)
    assert code == 0
    if target == "python":
        (tmp_path / "program.py").write_text(source)
        shutil.copy(ROOT / "python" / "asyncparity_runtime.py", tmp_path)
        command = [sys.executable, "program.py"]
    else:
        (tmp_path / "program.mjs").write_text(source)
        shutil.copy(ROOT / "javascript" / "asyncparity-runtime.mjs", tmp_path)
        command = ["node", "program.mjs"]

    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    expected = SEED.read_text().split("trace: |\n")[1]
    expected_lines = [line.strip() for line in expected.splitlines() if line.strip()]
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[: len(expected_lines)] == expected_lines


@pytest.mark.parametrize(("target", "declared"), [("python", "divergence"), ("js-promise", "expect"), ("js-async", "expect")])
def test_show_trace_prints_what_expect_or_the_divergence_states(
    target: str, declared: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = load_file(EAGER).scenario
    assert scenario is not None and scenario.expect is not None
    where = scenario.diverge[0] if declared == "divergence" else scenario.expect

    code, out, err = run(capsys, "show", str(EAGER), "--trace", target)

    assert (code, err) == (0, "")
    assert out.startswith('returns: "profile"\ntrace: |\n  ')
    pasted = yaml.safe_load(out)
    assert tuple(pasted["trace"].splitlines()) == where.trace
    assert {"returns": pasted["returns"]} == scenario.expect.result


def test_show_trace_of_a_target_that_cannot_run_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stuck = tmp_path / "stuck.yaml"
    stuck.write_text(
        "id: stuck\nsummary: s\nqueues:\n  jobs: {size: 1}\nmain:\n  - log: waiting\n  - get: jobs\n    as: job\n  - return: $job\n"
    )

    code, out, err = run(capsys, "show", str(stuck), "--trace", "python")

    assert (code, out) == (0, 'deadlock: true\ntrace: |\n  0 log "waiting"\n')
    # The rest of the message names the generated program's line, which is the compiler's business.
    assert err.startswith(
        "asyncparity: python did not settle: deadlock: scenario 'stuck' has not settled at 0 ms and no timer is pending; "
        "pending: main (line "
    )
    if sys.version_info < (3, 12):
        assert run(capsys, "show", str(EAGER), "--trace", "python-eager") == (
            1,
            "",
            "asyncparity: python-eager has no trace: python-eager needs CPython 3.12 or later "
            f"(asyncio.eager_task_factory); this is CPython {sys.version.split()[0]}\n",
        )
    with pytest.raises(SystemExit):
        main(["show", str(EAGER), "--trace", "python", "--target", "python"])
    assert capsys.readouterr().err.endswith("asyncparity show: error: argument --target: not allowed with argument --trace\n")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("run", "show", "bench"))


@pytest.mark.parametrize(("command", "listed"), [("cache", "clear"), ("node", "install")])
def test_a_command_of_commands_without_one_prints_its_own_help(
    command: str, listed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, command)

    assert (code, err) == (2, "")
    assert out.startswith(f"usage: asyncparity {command} [-h] COMMAND ...\n")
    assert f"    {listed} " in out


def test_all_targets_include_python_eager_skipped_with_its_reason_before_3_12(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(EAGER), "--targets", "all")

    assert code == 0
    if sys.version_info >= (3, 12):
        assert out.splitlines()[0] == "PASS  eager-start  python diverge, python-eager agree, js-promise agree, js-async agree"
    else:
        assert out.splitlines()[0] == (
            "PASS  eager-start  python diverge, python-eager skipped (needs CPython 3.12 or "
            "later (asyncio.eager_task_factory)), js-promise agree, js-async agree"
        )
        assert out.splitlines()[1].startswith("python-eager skipped on 1 scenario(s): python-eager needs CPython 3.12 or later")
        assert out.splitlines()[-1] == "1 passed, 0 failed; 1 target run skipped"


def test_new_writes_a_skeleton_that_runs_and_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "first.yaml"

    assert run(capsys, "new", str(path)) == (0, f"wrote {path}: fill in its summary, then: asyncparity run {path}\n", "")
    assert run(capsys, "run", str(path))[0] == 0
    assert run(capsys, "new", str(path)) == (2, "", f"asyncparity: {path} exists; new never overwrites a file\n")
    spaced = tmp_path / "my first.yaml"  # the next step's command is quoted for the shell
    assert run(capsys, "new", str(spaced))[1] == f"wrote {spaced}: fill in its summary, then: asyncparity run '{spaced}'\n"


def test_check_reports_every_mistake_in_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "three.yaml").write_text(
        "id: three\nsumary: s\noperations:\n  fetch:\n    latency: 5\n    returns: 1\nmain:\n  - awiat: fetch\n  - await: fech\n"
    )
    shutil.copy(SEED, tmp_path / "good.yaml")

    code, out, _ = run(capsys, "check", str(tmp_path))

    assert code == 2
    assert out.splitlines() == [
        f"{tmp_path}/three.yaml:2:1: unknown key 'sumary' in the scenario; did you mean 'summary'?",
        f"{tmp_path}/three.yaml:1:1: missing required key 'summary'",
        f"{tmp_path}/three.yaml:8:5: unknown step 'awiat'; did you mean 'await'?",
        f"{tmp_path}/three.yaml:9:12: unknown operation or function 'fech'; did you mean 'fetch'?",
        "2 file(s) checked, 1 with errors, 4 error(s)",
    ]
    assert run(capsys, "check", str(SEED))[0] == 0


def test_bless_fills_expect_and_keeps_comments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fresh.yaml"
    path.write_text(
        "# A comment at the top stays.\nid: fresh\nsummary: s   # and this one\n"
        "operations:\n  fetch:\n    latency: 5\n    returns: 1\nmain:\n  - await: fetch\n    as: value\n  - return: $value\n"
    )
    before = path.read_text()

    code, out, _ = run(capsys, "bless", str(path))

    assert code == 0
    assert out.splitlines()[0] == f"blessed: fresh ({path})"
    assert "  +expect:" in out.splitlines()
    assert (
        path.read_text()
        == before + "\nexpect:\n  returns: 1\n  trace: |\n    0 start fetch()\n    5 end fetch -> 1\n    5 return 1\n"
    )
    assert run(capsys, "bless", str(path)) == (0, f"unchanged: fresh ({path})\n", "")
    assert run(capsys, "run", str(path))[0] == 0


def test_bless_refuses_undeclared_disagreement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "eager.yaml"
    path.write_text(EAGER.read_text().split("\ndiverge:")[0] + "\n")
    before = path.read_text()

    code, out, _ = run(capsys, "bless", str(path))

    assert code == 1
    assert out == (
        f"not blessed: eager-start ({path}): js-promise disagrees with python; "
        "declare the divergence (diverge:) or change the scenario, then bless again\n"
    )
    assert path.read_text() == before


def test_bless_rewrites_a_stale_divergence_says_where_and_the_next_run_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "eager.yaml"
    path.write_text(EAGER.read_text().replace("latency: 10", "latency: 12"))
    assert run(capsys, "run", str(path))[0] == 1

    code, out, _ = run(capsys, "bless", str(path))

    assert code == 0
    assert out.splitlines()[:3] == [
        f"blessed: eager-start ({path})",
        "  rewrote expect: trace, lines 21-25",
        "  rewrote the divergence of python: trace, lines 42-46",
    ]
    assert path.read_text() == EAGER.read_text().replace("latency: 10", "latency: 12").replace("    10 ", "    12 ")
    assert run(capsys, "run", str(path))[0] == 0


def test_catalogue_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EAGER, tmp_path / "eager.yaml")
    output = tmp_path / "DIVERGENCES.md"

    assert run(capsys, "catalogue", str(tmp_path), "--check") == (
        1,
        "",
        f"asyncparity: {output} does not exist; run: asyncparity catalogue\n",
    )
    assert run(capsys, "catalogue", str(tmp_path)) == (0, f"wrote {output}\n", "")
    assert "## eager-start" in output.read_text()
    assert run(capsys, "catalogue", str(tmp_path), "--check") == (0, f"{output} is up to date\n", "")
    output.write_text(output.read_text() + "edited by hand\n")
    assert (
        run(capsys, "catalogue", str(tmp_path), "--check")[2]
        == f"asyncparity: {output} is out of date; run: asyncparity catalogue\n"
    )


def test_show_side_by_side_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", str(SEED), "--layout", "columns")

    first = out.splitlines()[0]
    assert code == 0
    assert re.fullmatch(r"python +│ js-promise +│ js-async", first)


def test_python_targets_under_another_cpython(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(EAGER), "--targets", "python,python-eager", "--python", sys.executable)

    assert code == 0
    expected = (
        "python-eager agree"
        if sys.version_info >= (3, 12)
        else "python-eager skipped (needs CPython 3.12 or later (asyncio.eager_task_factory))"
    )
    assert out.splitlines()[0] == f"PASS  eager-start  python diverge, {expected}"


def test_matrix_checks_known_outcomes_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    shutil.copy(SEED, spec / "seed.yaml")
    (spec / "wrong.yaml").write_text(
        SEED.read_text()
        .replace("id: seed-download-fallback", "id: wrong-expect")
        .replace('returns: "processed"\n  trace', 'returns: "other"\n  trace')
    )
    known = spec / "known-outcomes.yaml"
    node = find_node().path
    command = [
        "matrix",
        str(spec),
        "--python",
        sys.executable,
        "--node",
        node,
        "--targets",
        "python,js-async",
        "--json",
        str(tmp_path / "m.json"),
        "--markdown",
        str(tmp_path / "m.md"),
        "--junit",
        str(tmp_path / "m.xml"),
    ]

    code, out, _ = run(capsys, *command)
    assert code == 1
    assert "new: wrong-expect on py" in out
    assert f"  asyncparity matrix {spec} --python {sys.executable} --node {node} --targets python,js-async --update-known" in out

    assert run(capsys, *command, "--update-known")[0] == 0
    assert "- scenario: wrong-expect\n  status: mismatch\n" in known.read_text()
    assert run(capsys, *command)[0] == 0
    assert (tmp_path / "m.json").exists() and (tmp_path / "m.md").exists() and (tmp_path / "m.xml").exists()

    known.write_text(known.read_text() + "- scenario: seed-download-fallback\n  status: mismatch\n")
    code, out, _ = run(capsys, *command)
    assert code == 1
    assert "stale: seed-download-fallback on py" in out


def test_the_rerun_command_the_matrix_reports_print_runs_as_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 11: the reports printed `--python 3.12.1`, which answered "no CPython found".
    # Here the CPython is found as an activated virtual environment gives it: on PATH.
    import shlex
    import xml.etree.ElementTree as ET

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "wrong one.yaml").write_text(SEED.read_text().replace("    60 log", "    61 log"))
    (tmp_path / "spec" / "known-outcomes.yaml").write_text("")
    run(capsys, "matrix", "spec", "--python", sys.executable, "--node", find_node().path, "--targets", "python,js-async",
        "--markdown", "m.md", "--junit", "m.xml")  # fmt: skip
    markdown = re.search(r"rerun: `(.*)`", (tmp_path / "m.md").read_text()).group(1)
    failure = ET.parse(tmp_path / "m.xml").getroot().find("testsuite/testcase/failure").text
    junit = re.search(r"^rerun: (.*)$", failure, re.MULTILINE).group(1)
    version = ".".join(map(str, sys.version_info[:3]))

    code, out, err = run(capsys, *shlex.split(markdown)[1:])

    assert markdown == junit
    assert markdown == (
        "asyncparity run 'spec/wrong one.yaml' -k seed-download-fallback --targets python,js-async "
        f"--python {version} --node {find_node().version}"
    )
    assert (code, err) == (1, "")
    assert out.startswith("FAIL  seed-download-fallback  python mismatch, js-async mismatch\n")


def shard_report(cells: dict[str, str], broken: tuple[str, ...] = ()) -> dict:
    """A matrix shard's JSON report: scenario id -> its status on one cell."""
    cell = "py3.11/node20"
    return {
        "matrix": 1,
        "cells": [{"name": cell, "python": "3.11.7", "node": "20.20.2"}],
        "scenarios": [
            {"id": scenario, "path": f"{scenario}.yaml", "line": 2, "cells": {cell: {"status": status}}}
            for scenario, status in cells.items()
        ],
        "broken": [{"path": "x.yaml", "diagnostics": list(broken)}] if broken else [],
    }


def test_merge_fails_on_a_mismatch_or_an_error_without_known_outcomes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, passing = tmp_path / "1.json", tmp_path / "2.json", tmp_path / "3.json"
    first.write_text(json.dumps(shard_report({"good": "agree", "bad": "mismatch"})))
    second.write_text(json.dumps(shard_report({"odd": "error", "old": "skipped"})))
    passing.write_text(json.dumps(shard_report({"kept": "diverge", "later": "skipped"})))

    code, out, err = run(capsys, "merge", str(first), str(second))

    assert (code, err) == (1, "")
    assert out.splitlines()[-3:] == [
        "bad on py3.11/node20 is mismatch",
        "odd on py3.11/node20 is error",
        "2 cell(s) mismatch or error; with --known FILE, the known outcomes decide which may",
    ]
    assert run(capsys, "merge", str(passing))[0] == 0


def test_merge_with_known_outcomes_fails_on_what_they_do_not_list_and_updates_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    Path("1.json").write_text(json.dumps(shard_report({"good": "agree", "bad": "mismatch"})))
    Path("2.json").write_text(json.dumps(shard_report({"odd": "error"})))
    Path("known.yaml").write_text("- scenario: bad\n  status: mismatch\n")

    code, out, _ = run(capsys, "merge", "1.json", "2.json", "--known", "known.yaml")

    assert code == 1
    assert out.splitlines()[-3:] == [
        "new: odd on py3.11/node20 is error, and no known outcome lists it",
        "1 cell(s) differ from known.yaml; if the new outcomes are right, update it with:",
        "  asyncparity merge 1.json 2.json --known known.yaml --update-known",
    ]
    assert run(capsys, *shlex.split(out.splitlines()[-1])[1:])[0] == 0  # the command as printed
    assert "- scenario: odd\n  status: error\n" in Path("known.yaml").read_text()
    assert run(capsys, "merge", "1.json", "2.json", "--known", "known.yaml")[0] == 0
    assert run(capsys, "merge", "1.json", "--update-known") == (
        2,
        "",
        "asyncparity: --update-known needs --known FILE: the known-outcomes file to rewrite\n",
    )


def test_merge_of_a_shard_with_a_file_that_did_not_load_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = tmp_path / "1.json"
    shard.write_text(json.dumps(shard_report({"good": "agree"}, broken=("x.yaml:3:1: unknown key 'mian'",))))

    code, out, _ = run(capsys, "merge", str(shard))

    assert code == 2
    assert out.splitlines()[-1] == "x.yaml:3:1: unknown key 'mian'"


def test_merge_refuses_what_is_not_a_matrix_report_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each was a traceback (TypeError on a list) or "cannot merge: 'cells'".
    monkeypatch.chdir(tmp_path)
    Path("list.json").write_text("[]")
    Path("broken.json").write_text("{bad")
    Path("run.json").write_text(json.dumps({"interrupted": False, "scenarios": [], "summary": {}}))
    not_matrix = "not a report of asyncparity matrix --json (a run's --json report is not one)"

    assert run(capsys, "merge", "list.json") == (2, "", f"asyncparity: cannot merge: list.json: {not_matrix}\n")
    assert run(capsys, "merge", "run.json") == (2, "", f"asyncparity: cannot merge: run.json: {not_matrix}\n")
    assert run(capsys, "merge", "missing.json") == (2, "", "asyncparity: cannot merge: missing.json: No such file or directory\n")
    assert run(capsys, "merge", "broken.json") == (
        2,
        "",
        "asyncparity: cannot merge: broken.json: not JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))\n",
    )


def test_a_known_outcomes_file_that_cannot_be_used_stops_merge_and_matrix_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("1.json").write_text(json.dumps(shard_report({"good": "agree"})))
    Path("k.yaml").write_text("foo: [\n")
    syntax = "asyncparity: k.yaml:2:1: YAML syntax error: expected the node content, but found '<stream end>'\n"

    assert run(capsys, "merge", "1.json", "--known", "k.yaml") == (2, "", syntax)
    # The matrix reads it before it runs anything: no runtime is looked for.
    assert run(capsys, "matrix", str(SEED), "--python", "9.99", "--node", "99", "--known", "k.yaml") == (2, "", syntax)


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr() == ("asyncparity 0.1.0\n", "")

    command = Path(sys.executable).parent / "asyncparity"
    completed = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "asyncparity 0.1.0\n", "")


def test_the_version_is_the_installed_distributions_and_needs_no_metadata(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.metadata

    import asyncparity

    installed = importlib.metadata.version("asyncparity")

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)  # a checkout never installed
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"asyncparity {installed}\n"
    assert asyncparity.__version__ == installed == "0.1.0"


# -- faults: reports that cannot be written, read-only folders, bless racing an edit ------


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], str]]:
    """Make a file or folder read-only for the test; returns the system's reason for a
    refused write. Root ignores permissions: there the immutable attribute (chattr +i)
    does it, and the test is skipped where that is not available."""
    made: list[tuple[Path, bool]] = []

    def make(path: Path) -> str:
        if os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
            made.append((path, False))
            return "Permission denied"
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False).returncode:
            pytest.skip("as root only the immutable attribute (chattr +i) makes a file read-only, and it is not available")
        made.append((path, True))
        return "Operation not permitted"

    yield make
    for path, immutable in made:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_json_report_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], read_only: Callable[[Path], str]
) -> None:
    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    reason = read_only(locked)

    for destination, message in [
        (tmp_path / "missing" / "r.json", f"no such folder {tmp_path}/missing"),
        (tmp_path, "that is a folder; give a file name"),
        (locked, f"cannot write there: {reason}"),
    ]:
        assert run(capsys, "run", str(SEED), "--json", str(destination)) == (
            2,
            "",
            f"asyncparity: --json {destination}: {message}\n",
        )
    assert locked.read_text() == "{}"
    assert list(tmp_path.iterdir()) == [locked]  # the check left nothing behind


def test_a_json_report_that_fails_on_writing_still_gets_the_closing_line(capsys: pytest.CaptureFixture[str]) -> None:
    # /dev/full takes the open and refuses the write: only the write can tell.
    code, out, err = run(capsys, "run", str(SEED), "--targets", "python", "--json", "/dev/full")

    assert code == 2
    assert out == "PASS  seed-download-fallback  python agree\n1 passed, 0 failed\n"
    assert err == "asyncparity: --json /dev/full: the report was not written: No space left on device\n"


def test_matrix_and_merge_check_their_report_files_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "m.md"

    assert run(capsys, "matrix", str(SEED), "--python", "3.99", "--node", "99", "--markdown", str(missing)) == (
        2,
        "",
        f"asyncparity: --markdown {missing}: no such folder {tmp_path}/no\n",
    )
    shard = tmp_path / "shard.json"
    shard.write_text(json.dumps({"matrix": 1, "cells": [], "scenarios": [], "broken": []}))
    assert run(capsys, "merge", str(shard), "--junit", str(tmp_path)) == (
        2,
        "",
        f"asyncparity: --junit {tmp_path}: that is a folder; give a file name\n",
    )
    code, out, err = run(capsys, "merge", str(shard), "--json", "/dev/full")
    assert (code, err) == (2, "asyncparity: --json /dev/full: the report was not written: No space left on device\n")
    assert out.endswith("· – skipped\n")  # the table came first


def test_new_and_catalogue_into_a_read_only_folder_say_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], read_only: Callable[[Path], str]
) -> None:
    shutil.copy(EAGER, tmp_path / "eager.yaml")
    locked = tmp_path / "locked"
    locked.mkdir()
    reason = read_only(locked)

    assert run(capsys, "new", str(locked / "first.yaml")) == (
        2,
        "",
        f"asyncparity: cannot write {locked}/first.yaml: {reason}\n",
    )
    assert run(capsys, "catalogue", str(tmp_path), "--output", str(locked / "D.md")) == (
        2,
        "",
        f"asyncparity: cannot write {locked}/D.md: {reason}\n",
    )


def test_run_without_a_spec_folder_says_it_runs_the_kits_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, out, _ = run(capsys, "run", "-k", "seed-download-fallback", "--targets", "python")

    assert code == 0
    assert out.splitlines() == [
        f"asyncparity: no ./spec here; running the kit's own scenarios from {SPEC}",
        "PASS  seed-download-fallback  python agree",
        "1 passed, 0 failed",
    ]
    (tmp_path / "spec").mkdir()
    shutil.copy(SEED, tmp_path / "spec" / "seed.yaml")
    assert run(capsys, "run", "--targets", "python")[1].splitlines()[0] == "PASS  seed-download-fallback  python agree"


FRESH = (
    "id: {id}\nsummary: s\noperations:\n  fetch:\n    latency: 5\n    returns: 1\n"
    "main:\n  - await: fetch\n    as: value\n  - return: $value\n"
)


def test_bless_refuses_files_it_cannot_or_must_not_write_and_blesses_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, read_only: Callable[[Path], str]
) -> None:
    paths = {name: tmp_path / f"{name}.yaml" for name in ("a-locked", "b-deleted", "c-edited", "d-fine")}
    for name, path in paths.items():
        path.write_text(FRESH.format(id=name))
    read_only(paths["a-locked"])
    edit = FRESH.format(id="c-edited").replace("latency: 5", "latency: 7")
    real_run_suite = suite.run_suite

    def run_suite_while_someone_edits(*args: object, **kwargs: object) -> object:
        # What a person (or a second bless) might do while the targets run.
        paths["b-deleted"].unlink()
        paths["c-edited"].write_text(edit)
        return real_run_suite(*args, **kwargs)

    monkeypatch.setattr(suite, "run_suite", run_suite_while_someone_edits)  # cli imports it when bless runs

    code, out, err = run(capsys, "bless", str(tmp_path), "--targets", "python")

    assert (code, err) == (1, "")
    assert [line for line in out.splitlines() if not line.startswith("  ")] == [
        f"not blessed: a-locked ({paths['a-locked']}): the file is read-only; nothing written",
        f"not blessed: b-deleted ({paths['b-deleted']}): the file was deleted while bless ran; nothing written",
        f"not blessed: c-edited ({paths['c-edited']}): the file changed while bless ran; nothing written, "
        "so the edit is kept: run bless again",
        f"blessed: d-fine ({paths['d-fine']})",
    ]
    assert paths["a-locked"].read_text() == FRESH.format(id="a-locked")
    assert not paths["b-deleted"].exists()
    assert paths["c-edited"].read_text() == edit
    assert (
        paths["d-fine"]
        .read_text()
        .endswith("expect:\n  returns: 1\n  trace: |\n    0 start fetch()\n    5 end fetch -> 1\n    5 return 1\n")
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-locked.yaml", "c-edited.yaml", "d-fine.yaml"]


def test_yaml_files_that_are_not_scenarios_are_named_with_the_reason_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(SEED, tmp_path / "seed.yaml")
    (tmp_path / "ci.yml").write_text("name: ci\non: push\n")
    (tmp_path / "known-outcomes.yaml").write_text("- scenario: seed-download-fallback\n  status: mismatch\n")  # said nothing of
    report = tmp_path / "report.json"

    code, out, _ = run(capsys, "run", str(tmp_path), "--targets", "python", "--json", str(report))

    assert code == 0
    assert out.splitlines() == [
        f"SKIP  {tmp_path}/ci.yml: not a scenario: no top-level main or id, and no schema line",
        "PASS  seed-download-fallback  python agree",
        "1 passed, 0 failed; 1 YAML file passed over",
    ]
    assert json.loads(report.read_text())["passed_over"] == [
        {"path": f"{tmp_path}/ci.yml", "reason": "not a scenario: no top-level main or id, and no schema line"}
    ]
    assert run(capsys, "check", str(tmp_path))[1].splitlines() == [
        f"SKIP  {tmp_path}/ci.yml: not a scenario: no top-level main or id, and no schema line",
        "1 file(s) checked, 0 with errors, 0 error(s); 1 YAML file(s) passed over",
    ]


def test_two_runs_at_once_on_one_folder_both_finish_with_the_same_verdicts(tmp_path: Path) -> None:
    # A fault test of issue 9: two runs share nothing but the files they read (each its
    # own Node worker, its own report), so neither waits on, nor changes, the other.
    folder = tmp_path / "basics"
    shutil.copytree(ROOT / "spec" / "basics", folder)
    command = [str(Path(sys.executable).parent / "asyncparity"), "run", str(folder)]
    runs = [
        subprocess.Popen([*command, "--json", str(tmp_path / f"{name}.json")], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for name in ("first", "second")
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1]
    assert outputs[0].rstrip().endswith("10 passed, 0 failed")
    reports = [json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8")) for name in ("first", "second")]
    assert reports[0]["summary"] == reports[1]["summary"] == {**reports[0]["summary"], "passed": 10, "failed": 0}


# -- issue 11: the CLI as users of pytest expect it ------------------------------------------


def in_a_pty(argv: list[str], cwd: Path, env: dict[str, str], bound: float = 120.0) -> tuple[int, str]:
    """Run the installed command with its stdout and stderr a terminal; its exit code and what it wrote."""
    import select
    import time

    primary, secondary = os.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "asyncparity"), *argv], cwd=cwd, env=env, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + bound
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the other end is closed
                break
            if not data:
                break
            chunks.append(data)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        os.close(primary)
    return code, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def quiet_environ(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    return {**env, "TERM": "xterm", **extra}


def two_scenarios(folder: Path) -> tuple[Path, Path]:
    """A passing copy of the seed scenario and a failing one (its expect edited), in ``folder``."""
    seed = SEED.read_text()
    good, bad = folder / "good.yaml", folder / "bad.yaml"
    good.write_text(seed)
    bad.write_text(seed.replace("id: seed-download-fallback", "id: seed-broken").replace("    60 log", "    61 log"))
    return good, bad


def test_on_a_terminal_verdicts_are_coloured_and_counted(tmp_path: Path) -> None:
    two_scenarios(tmp_path)
    (tmp_path / "ci.yaml").write_text("jobs: {}\n")

    code, screen = in_a_pty(["run", ".", "--targets", "python"], tmp_path, quiet_environ())

    assert code == 1
    assert "\x1b[31mFAIL\x1b[0m  seed-broken" in screen
    assert "\x1b[32mPASS\x1b[0m  seed-download-fallback" in screen
    assert "[1/2]" in screen and "[2/2]" in screen  # the count under the verdicts
    assert "\x1b[33mSKIP\x1b[0m  ci.yaml: not a scenario" in screen
    assert "\x1b[31m    -61 log" in screen  # the diff in colour
    assert screen.endswith("\x1b[31m1 passed, 1 failed; 1 YAML file passed over\x1b[0m\n")


def test_with_no_color_a_terminal_gets_the_count_but_no_colour(tmp_path: Path) -> None:
    two_scenarios(tmp_path)

    code, screen = in_a_pty(["run", ".", "--targets", "python"], tmp_path, quiet_environ(NO_COLOR="1"))

    assert code == 1
    assert "[2/2]" in screen
    assert "\x1b[3" not in screen and "\x1b[1m" not in screen


def test_in_a_pipe_no_colour_and_no_count_unless_forced(tmp_path: Path) -> None:
    two_scenarios(tmp_path)
    command = [str(Path(sys.executable).parent / "asyncparity"), "run", ".", "--targets", "python"]

    piped = subprocess.run(command, cwd=tmp_path, env=quiet_environ(), capture_output=True, text=True, timeout=120)
    forced = subprocess.run(
        command, cwd=tmp_path, env=quiet_environ(FORCE_COLOR="1"), capture_output=True, text=True, timeout=120
    )

    assert "\x1b" not in piped.stdout and "[1/2]" not in piped.stdout
    assert piped.stdout.splitlines()[:2] == [
        "FAIL  seed-broken             python mismatch",
        "PASS  seed-download-fallback  python agree",
    ]
    assert "\x1b[31mFAIL\x1b[0m  seed-broken" in forced.stdout
    assert "[1/2]" not in forced.stdout  # colour may be forced into a log; the count is for a terminal


def test_exitfirst_stops_at_the_first_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, _bad = two_scenarios(tmp_path)
    (tmp_path / "zzz.yaml").write_text(good.read_text().replace("id: seed-download-fallback", "id: zzz-after"))
    report = tmp_path / "report.json"

    code, out, _ = run(capsys, "run", str(tmp_path), "--targets", "python,js-async", "-x", "--json", str(report))

    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "FAIL  seed-broken             python mismatch, js-async mismatch"
    assert not any(line.startswith("PASS") for line in lines)
    assert lines[-1] == "stopped at the first failure (-x): 0 passed, 1 failed; 2 of 3 not run"
    data = json.loads(report.read_text())
    assert (data["interrupted"], data["not_run"], len(data["scenarios"])) == (True, 2, 1)


def test_exitfirst_with_html_shows_the_programs_of_what_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # -x kills the workers at the stop (they may have work queued); the page's programs
    # come from fresh ones, for the scenarios that ran.
    two_scenarios(tmp_path)
    page = tmp_path / "report.html"

    code, out, err = run(capsys, "run", str(tmp_path), "--targets", "python,js-async", "-x", "--html", str(page))

    assert (code, err) == (1, "")
    assert out.splitlines()[-1] == "stopped at the first failure (-x): 0 passed, 1 failed; 1 of 2 not run"
    text = page.read_text(encoding="utf-8")
    assert re.findall(r'<div class="program"><h3>([\w-]+)', text) == ["python", "js-async"]
    assert "async def main():" in text and "async function main()" in text


def test_exitfirst_with_html_writes_the_page_when_no_worker_starts_for_the_programs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    two_scenarios(tmp_path)
    page = tmp_path / "report.html"
    start = testees.NodeTestee.start
    starts = []

    def second_start_fails(self: testees.NodeTestee) -> dict:
        starts.append(self)
        if len(starts) > 1:
            raise testees.TesteeError("the Node worker did not start")
        return start(self)

    monkeypatch.setattr(testees.NodeTestee, "start", second_start_fails)
    code, _, err = run(capsys, "run", str(tmp_path), "--targets", "python,js-async", "-x", "--html", str(page))

    assert code == 1
    assert err == "asyncparity: --html: the programs are left out: the Node worker did not start\n"
    assert "seed-broken" in page.read_text(encoding="utf-8")


def test_last_failed_reruns_the_failures_remembered_in_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec").mkdir()
    good, bad = two_scenarios(tmp_path / "spec")

    assert run(capsys, "run", "--targets", "python", "--lf")[1].splitlines()[0] == (
        f"asyncparity: --lf: no failure remembered in {tmp_path}/.asyncparity_cache/lastfailed.json; running every scenario"
    )
    code, out, _ = run(capsys, "run", "--targets", "python", "--lf")

    assert code == 1
    assert out.splitlines()[0] == "FAIL  seed-broken  python mismatch"
    assert out.splitlines()[-1] == "0 passed, 1 failed"
    assert json.loads((tmp_path / ".asyncparity_cache" / "lastfailed.json").read_text()) == {
        "version": 1,
        "failed": {"seed-broken": "spec/bad.yaml"},
    }
    bad.write_text(good.read_text().replace("id: seed-download-fallback", "id: seed-broken"))  # fixed
    assert run(capsys, "run", "--targets", "python", "--lf")[1].splitlines() == [
        "PASS  seed-broken  python agree",
        "1 passed, 0 failed",
    ]
    assert run(capsys, "run", "--targets", "python", "--lf")[1].splitlines()[0].startswith("asyncparity: --lf: no failure")


def test_last_failed_finds_a_file_named_another_way_and_says_when_none_is_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec").mkdir()
    (tmp_path / "other").mkdir()
    two_scenarios(tmp_path / "spec")
    shutil.copy(SEED, tmp_path / "other" / "seed.yaml")
    run(capsys, "run", "spec", "--targets", "python")

    by_absolute_path = run(capsys, "run", str(tmp_path / "spec"), "--targets", "python", "--lf")[1].splitlines()
    elsewhere = run(capsys, "run", "other", "--targets", "python", "--lf")[1].splitlines()

    assert by_absolute_path[0] == "FAIL  seed-broken  python mismatch"
    assert by_absolute_path[-1] == "0 passed, 1 failed"
    assert elsewhere[0] == (
        f"asyncparity: --lf: the 1 failure(s) remembered in {tmp_path}/.asyncparity_cache/lastfailed.json "
        "are not under other; running every scenario"
    )
    assert elsewhere[-1] == "1 passed, 0 failed"


def test_a_corrupt_cache_is_named_and_rewritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    two_scenarios(tmp_path)
    (tmp_path / ".asyncparity_cache").mkdir()
    (tmp_path / ".asyncparity_cache" / "lastfailed.json").write_text('{"version": 1, "failed": {')

    code, out, err = run(capsys, "run", ".", "--targets", "python", "--lf")

    assert code == 1
    assert err == (
        f"asyncparity: ignoring {tmp_path}/.asyncparity_cache/lastfailed.json: not JSON (Expecting property name "
        "enclosed in double quotes: line 1 column 27 (char 26)); this run rewrites it\n"
    )
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert json.loads((tmp_path / ".asyncparity_cache" / "lastfailed.json").read_text())["failed"] == {"seed-broken": "bad.yaml"}


def test_m_selects_by_tag_and_k_takes_and_or_not(capsys: pytest.CaptureFixture[str]) -> None:
    ids = lambda out: [line.split()[1] for line in out.splitlines() if line.startswith("PASS")]  # noqa: E731

    by_tag = ids(run(capsys, "run", str(SPEC), "--targets", "python", "-m", "seed")[1])
    both = ids(run(capsys, "run", str(SPEC), "--targets", "python", "-k", "fallback and not seed")[1])
    either = ids(run(capsys, "run", str(SPEC), "--targets", "python", "-k", "seed-download-fallback or eager-start")[1])

    tagged = [result.scenario for result in load_paths([SPEC]) if result.scenario and "seed" in result.scenario.tags]
    assert by_tag == [scenario.id for scenario in tagged]
    assert "seed-download-fallback" in by_tag
    assert both and "seed-download-fallback" not in both and all("fallback" in name for name in both)
    assert sorted(either) == ["eager-start", "seed-download-fallback"]


def test_a_bad_expression_is_one_line_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "run", str(SPEC), "-k", "seed and") == (
        2,
        "",
        "asyncparity: -k 'seed and': at column 9: expected a name, 'not' or '('; got the end\n",
    )
    assert run(capsys, "run", str(SPEC), "-m", "(errors") == (
        2,
        "",
        "asyncparity: -m '(errors': at column 8: expected ')'; got the end\n",
    )


def long_loop(folder: Path) -> Path:
    """A real failure that printed thousands of lines: a thousand-tick loop whose sleep was
    edited from 1 to 2 ms after its expect was written, so every line of its trace differs."""
    expect = "".join(f'    {tick} log "tick"\n' for tick in range(1, 1001)) + '    1000 return "done"\n'
    path = folder / "long.yaml"
    path.write_text(
        "id: long-loop\nsummary: A loop of a thousand ticks.\nmain:\n  - repeat: 1000\n    steps:\n"
        '      - sleep: 2\n      - log: "tick"\n  - return: "done"\n'
        f'expect:\n  returns: "done"\n  trace: |\n{expect}'
    )
    return path


def test_a_long_failure_is_cut_to_about_forty_lines_and_full_prints_it_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = long_loop(tmp_path)

    code, out, _ = run(capsys, "run", str(path))
    _, full, _ = run(capsys, "run", str(path), "--full")

    assert code == 1
    details = out.split("\n\n", 1)[1].splitlines()[:-1]  # after the verdict line, before the closing line
    assert len(details) <= 40
    assert details[:7] == [
        f"--- long-loop ({path}:1)",
        '  python: python disagrees with expect: trace: first difference at event 1: expected `1 log "tick"`, got `2 log "tick"`',
        "  js-promise: js-promise disagrees with expect: trace: first difference at event 1: "
        'expected `1 log "tick"`, got `2 log "tick"`',
        "  js-async: js-async disagrees with expect: trace: first difference at event 1: "
        'expected `1 log "tick"`, got `2 log "tick"`',
        "    --- expected (expect)",
        "    +++ python, js-promise, js-async",  # one diff for the three targets that share it
        "    @@ -1,1001 +1,1001 @@",
    ]
    assert re.fullmatch(r"  \.\.\. \d+ more lines; --full prints them all", details[-2])
    assert details[-1] == f"  rerun: asyncparity run {path} -k long-loop"
    full_details = full.split("\n\n", 1)[1].splitlines()[:-1]
    assert len(full_details) > 1000
    assert full_details[-1] == details[-1]
    assert int(details[-2].split()[1]) == len(full_details) - len(details) + 1


def test_new_writes_the_schema_line_relative_to_the_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema

    monkeypatch.chdir(tmp_path)
    assert run(capsys, "new", "suite/topic/first.yaml")[0] == 0

    written = tmp_path / "suite" / "topic" / "first.yaml"
    reference = written.read_text().splitlines()[0].removeprefix("# yaml-language-server: $schema=")
    assert not Path(reference).is_absolute() and str(tmp_path) not in reference
    schema = json.loads((written.parent / reference).read_text())  # resolved from the file's folder, as the server does
    jsonschema.validate(yaml.safe_load(written.read_text()), schema)


def test_bless_takes_the_same_k_expressions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "summary: s\ntags: [{tag}]\noperations:\n  fetch:\n    latency: 5\n    returns: 1\nmain:\n  - await: fetch\n"
    for name, tag in (("fresh-a", "alpha"), ("fresh-b", "beta"), ("other-c", "alpha")):
        (tmp_path / f"{name}.yaml").write_text(f"id: {name}\n" + body.format(tag=tag))

    code, out, _ = run(capsys, "bless", str(tmp_path), "-k", "fresh and not beta", "--targets", "python")

    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("blessed")] == [f"blessed: fresh-a ({tmp_path}/fresh-a.yaml)"]


def test_the_matrix_probes_its_pythons_at_once_and_keeps_their_order(tmp_path: Path) -> None:
    from asyncparity.pythons import PythonNotFound, find_pythons

    found = find_pythons([sys.executable, sys.executable])
    assert [binary.path for binary in found] == [sys.executable, sys.executable]

    missing = str(tmp_path / "no-python")
    with pytest.raises(PythonNotFound) as raised:
        find_pythons([sys.executable, missing])
    assert str(raised.value) == (
        f"asyncparity: no working CPython for --python {missing}: {missing} did not answer --version "
        f"([Errno 2] No such file or directory: '{missing}'): install it (pyenv install, or your package manager) "
        "or give its path"
    )


def test_a_scenario_with_your_own_code_passes_on_python_and_a_broken_one_fails_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # examples/your-own-code (spec/LANGUAGE.md, "Your own code"), and a copy whose
    # client throws at load time: that scenario errs with the user's frame, the run goes on.
    example = ROOT / "examples" / "your-own-code"
    broken = tmp_path / "broken"
    shutil.copytree(example, broken)
    scenario = broken / "get-json.yaml"
    scenario.write_text(scenario.read_text().replace("id: your-own-code-get-json", "id: broken-client"))
    (broken / "client.py").write_text("RETRIES = int('three')\n")

    code, out, err = run(capsys, "run", str(example), str(broken), "--targets", "python")

    assert code == 1
    assert "PASS  your-own-code-get-json  python agree" in out
    assert re.search(r"^FAIL  broken-client +python error$", out, re.MULTILINE)
    assert (
        "crash: scenario 'broken-client': client.py failed to load: ValueError: invalid literal for int() with base 10: 'three'"
        in out
    )
    assert f"\n    File \"{broken / 'client.py'}\", line 1, in <module>\n      RETRIES = int('three')\n" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert "Traceback" not in out + err


def test_help_loads_none_of_the_pipeline() -> None:
    # What made `asyncparity --help` take 0.2 s of CPU (issue 13); benchmarks/startup.py times it.
    heavy = ["asyncio", "yaml", "importlib.metadata", "asyncparity.load", "asyncparity.testees", "asyncparity.provision"]
    probe = (
        "import contextlib, io, sys\n"
        "from asyncparity.entry import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print([name for name in {heavy!r} if name in sys.modules])\n"
    )

    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)

    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "[]\n", "")


def test_run_reads_nodes_version_from_the_workers_hello_not_from_node_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "node"  # the real Node, writing down each command line it is given
    node.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\nexec {shutil.which("node")} "$@"\n')
    node.chmod(0o755)
    monkeypatch.chdir(tmp_path)  # the run's --lf cache goes here

    code, out, err = run(capsys, "run", str(SEED), "--targets", "python,js-async", "--node", str(node))

    assert (code, err) == (0, ""), out
    assert (tmp_path / "calls").read_text().splitlines() == [
        " ".join([*NODE_FLAGS, str(WORKER)])
    ]  # the worker, and no `node --version`
