"""Tests for runner/bless.py: expect written in place, the rest of the file byte-identical,
and a file written whole, or not at all when it changed since it was read."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import yaml

from asyncparity.bless import bless, expect_block, replace_expect, write_blessing, yaml_value
from asyncparity.compare import TargetVerdict, Verdict, compare
from asyncparity.load import load_text
from asyncparity.model import Scenario

TEXT = """\
# yaml-language-server: $schema=../scenario.schema.json
id: demo   # a comment that must survive
summary: s
operations:
  f:
    latency: 5
    returns: {b: 1, a: [1, "x"]}   # key order as written

main:
  - await: f
    as: value
  - return: $value
"""


def outcome(result: dict, trace: list[dict]) -> dict:
    return {"status": "settled", "result": result, "trace": trace}


SETTLED = outcome(
    {"returns": {"b": 1, "a": [1, "x"]}},
    [
        {"t": 0, "event": "start", "op": "f", "args": []},
        {"t": 5, "event": "end", "op": "f", "value": {"b": 1, "a": [1, "x"]}},
        {"t": 5, "event": "return", "value": {"b": 1, "a": [1, "x"]}},
    ],
)


def verdict(**outcomes: dict) -> Verdict:
    targets = [TargetVerdict(target.replace("_", "-"), "agree", outcome=item) for target, item in outcomes.items()]
    return Verdict("demo.yaml", "demo", 2, "agree", targets)


def test_bless_adds_expect_and_leaves_every_other_line_untouched() -> None:
    scenario = load_text(TEXT, "demo.yaml").scenario

    blessing = bless(scenario, TEXT, verdict(python=SETTLED, js_async=SETTLED))

    assert blessing.refused is None
    assert blessing.text == TEXT + (
        "\n"
        "expect:\n"
        '  returns: {"b": 1, "a": [1, "x"]}\n'
        "  trace: |\n"
        "    0 start f()\n"
        '    5 end f -> {"b":1,"a":[1,"x"]}\n'
        '    5 return {"b":1,"a":[1,"x"]}\n'
    )
    reloaded = load_text(blessing.text, "demo.yaml")
    assert reloaded.diagnostics == []
    assert reloaded.scenario.expect.result == {"returns": {"b": 1, "a": [1, "x"]}}


def test_bless_replaces_only_the_expect_block() -> None:
    old = (
        TEXT
        + "\nexpect:\n  returns: 0   # stale\n  trace: |\n    9 return 0\n\n# a comment about what follows\nlimits: {timer_firings: 50}\n"
    )
    scenario = load_text(old, "demo.yaml").scenario

    blessing = bless(scenario, old, verdict(python=SETTLED))

    assert blessing.text == TEXT + (
        "\nexpect:\n"
        '  returns: {"b": 1, "a": [1, "x"]}\n'
        "  trace: |\n"
        "    0 start f()\n"
        '    5 end f -> {"b":1,"a":[1,"x"]}\n'
        '    5 return {"b":1,"a":[1,"x"]}\n'
        "\n# a comment about what follows\nlimits: {timer_firings: 50}\n"
    )
    assert blessing.diff(old)[:2] == ["--- demo.yaml", "+++ demo.yaml (blessed)"]


def test_expect_goes_before_diverge_when_there_is_one() -> None:
    text = "id: a\nsummary: s\nmain:\n  - return: 1\ndiverge:\n  - targets: [python]\n    reason: r\n    returns: 2\n"

    new = replace_expect(text, "expect:\n  returns: 1\n")

    assert (
        new
        == "id: a\nsummary: s\nmain:\n  - return: 1\nexpect:\n  returns: 1\n\ndiverge:\n  - targets: [python]\n    reason: r\n    returns: 2\n"
    )


def test_bless_refuses_when_targets_disagree_without_a_declaration() -> None:
    scenario = load_text(TEXT, "demo.yaml").scenario
    other = outcome({"returns": 2}, [])

    blessing = bless(scenario, TEXT, verdict(python=SETTLED, js_async=other))

    assert blessing.text is None
    assert blessing.refused == (
        "js-async disagrees with python; declare the divergence (diverge:) or change the scenario, then bless again"
    )


def test_bless_refuses_a_target_that_did_not_settle() -> None:
    scenario = load_text(TEXT, "demo.yaml").scenario
    stuck = TargetVerdict("js-async", "error", "deadlock: scenario 'demo' has not settled")

    blessing = bless(
        scenario, TEXT, Verdict("demo.yaml", "demo", 2, "error", [TargetVerdict("python", "agree", outcome=SETTLED), stuck])
    )

    assert blessing.refused == "js-async did not settle: deadlock: scenario 'demo' has not settled"


def test_values_that_yaml_would_mangle_are_escaped_and_read_back_the_same() -> None:
    value = ["line\u2028break", "del\x7f", "nul\x00", "é 🎉", {"k": 1.0}]

    text = yaml_value(value)

    assert "\u2028" not in text
    assert yaml.safe_load(text) == ["line\u2028break", "del\x7f", "nul\x00", "é 🎉", {"k": 1}]


def test_throws_and_unusual_trace_lines() -> None:
    block = expect_block({"throws": {"kind": "E", "message": "bad: x"}}, ['0 log "a\u2028b"'])

    assert block == 'expect:\n  throws: {kind: E, message: "bad: x"}\n  trace: "0 log \\"a\\u2028b\\"\\n"\n'
    assert yaml.safe_load(block)["expect"]["trace"] == '0 log "a\u2028b"\n'


def test_write_blessing_replaces_the_file_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(TEXT)
    path.chmod(0o640)
    before = path.stat()

    assert write_blessing(path, TEXT.encode(), TEXT + "expect: {}\n") is None

    assert path.read_text() == TEXT + "expect: {}\n"
    assert path.stat().st_ino != before.st_ino  # a new file renamed into place, not the old one rewritten
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [item.name for item in tmp_path.iterdir()] == ["demo.yaml"]


def test_write_blessing_refuses_a_file_changed_or_deleted_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(TEXT + "# an edit\n")

    assert write_blessing(path, TEXT.encode(), "new") == (
        "the file changed while bless ran; nothing written, so the edit is kept: run bless again"
    )
    assert path.read_text() == TEXT + "# an edit\n"
    path.unlink()
    assert write_blessing(path, TEXT.encode(), "new") == "the file was deleted while bless ran; nothing written"
    assert list(tmp_path.iterdir()) == []


def test_write_blessing_that_fails_leaves_the_file_and_no_temporary_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(TEXT)

    def no_space(source: object, destination: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)

    assert write_blessing(path, TEXT.encode(), "new") == "cannot write it: No space left on device; nothing written"
    assert path.read_text() == TEXT
    assert [item.name for item in tmp_path.iterdir()] == ["demo.yaml"]


# -- stale divergences: rewritten when the disagreement has not changed in kind ---------

DIVERGING = """\
id: demo
summary: s
operations:
  f:
    latency: 5
    returns: 1

main:
  - await: f
    as: value
  - return: $value

expect:
  returns: 1
  trace: |
    0 start f()
    5 end f -> 1
    5 return 1

diverge:
  - targets: [js-promise, js-async]   # a comment that must survive
    cause: language
    reason: r
    returns: 2
    trace: |
      0 start f()
      6 end f -> 1
      6 return 2
    # a comment under the divergence
  - targets: [python-eager]
    cause: language
    reason: r
    trace: "0 start f()\\n7 end f -> 1\\n7 return 1\\n"
"""


def run_of(value: object, latency: int, returned: object | None = None) -> dict:
    """The outcome of the demo: f ends at ``latency`` with ``value``, main returns ``returned``."""
    returned = value if returned is None else returned
    return outcome(
        {"returns": returned},
        [
            {"t": 0, "event": "start", "op": "f", "args": []},
            {"t": latency, "event": "end", "op": "f", "value": value},
            {"t": latency, "event": "return", "value": returned},
        ],
    )


def judged(scenario: Scenario, **outcomes: dict) -> Verdict:
    """The verdict compare gives these outcomes (targets named with ``_`` for ``-``)."""
    return compare(scenario, {target.replace("_", "-"): item for target, item in outcomes.items()})


def test_a_stale_divergence_is_rewritten_and_the_next_run_passes() -> None:
    scenario = load_text(DIVERGING, "demo.yaml").scenario
    now = {"python": run_of(1, 8), "js_promise": run_of(1, 9, 2), "js_async": run_of(1, 9, 2)}
    assert judged(scenario, **now).status == "mismatch"

    blessing = bless(scenario, DIVERGING, judged(scenario, **now))

    assert blessing.refused is None
    assert blessing.text == (
        DIVERGING.replace("    5 end f -> 1\n    5 return 1\n", "    8 end f -> 1\n    8 return 1\n").replace(
            "      6 end f -> 1\n      6 return 2\n", "      9 end f -> 1\n      9 return 2\n"
        )
    )
    assert blessing.rewrote == ("expect: trace, lines 15-18", "the divergence of js-promise, js-async: trace, lines 25-28")
    blessed = load_text(blessing.text, "demo.yaml").scenario
    assert judged(blessed, **now).status == "diverge"
    assert bless(blessed, blessing.text, judged(blessed, **now)).rewrote == ()


def test_a_stale_result_keeps_its_kind_and_a_quoted_trace_stays_one_entry() -> None:
    scenario = load_text(DIVERGING, "demo.yaml").scenario
    now = {"python": run_of(1, 5), "python_eager": run_of(1, 4), "js_promise": run_of(1, 6, 3), "js_async": run_of(1, 6, 3)}

    blessing = bless(scenario, DIVERGING, judged(scenario, **now))

    assert blessing.rewrote == (
        "the divergence of js-promise, js-async: result, line 24",
        "the divergence of js-promise, js-async: trace, lines 25-28",
        "the divergence of python-eager: trace, lines 33-36",
    )
    assert blessing.text is not None
    assert "    returns: 3\n    trace: |\n      0 start f()\n      6 end f -> 1\n      6 return 3\n" in blessing.text
    assert blessing.text.endswith(
        "    # a comment under the divergence\n  - targets: [python-eager]\n    cause: language\n    reason: r\n"
        "    trace: |\n      0 start f()\n      4 end f -> 1\n      4 return 1\n"
    )
    assert judged(load_text(blessing.text, "demo.yaml").scenario, **now).status == "diverge"


@pytest.mark.parametrize(
    ("python", "python_eager", "refused"),
    [
        (
            run_of(1, 5),
            run_of(1, 7, 5),
            "python-eager's result now differs from expect's too, and the divergence at line 30 states no result: "
            "the disagreement has changed in kind; declare it anew by hand (asyncparity show FILE --trace TARGET "
            "prints a target's trace), then bless again",
        ),
        (
            run_of(1, 7),
            run_of(1, 7),
            "python-eager no longer differs from the other targets; remove the divergence at line 30, then bless again",
        ),
    ],
)
def test_bless_refuses_a_divergence_whose_disagreement_changed(python: dict, python_eager: dict, refused: str) -> None:
    scenario = load_text(DIVERGING, "demo.yaml").scenario
    now = {"python": python, "python_eager": python_eager, "js_promise": run_of(1, 6, 2), "js_async": run_of(1, 6, 2)}

    blessing = bless(scenario, DIVERGING, judged(scenario, **now))

    assert (blessing.text, blessing.refused) == (None, refused)


PASTED = (
    DIVERGING.split("expect:")[0]
    + """\
diverge:
  - targets: [js-promise, js-async]
    cause: language
    reason: r
    returns: RESULT
    trace: |
      0 start f()
      6 end f -> 1
      6 return 1
"""
)


def test_a_divergence_that_also_states_the_result_expect_has_is_kept_and_another_refused() -> None:
    # A target's whole outcome pasted into its divergence (LANGUAGE.md, diverge): its
    # result, the same as the others', is said twice, not "another". Bless refused it.
    now = {"python": run_of(1, 5), "js_promise": run_of(1, 6), "js_async": run_of(1, 6)}
    pasted = PASTED.replace("RESULT", "1")
    scenario = load_text(pasted, "demo.yaml").scenario

    blessing = bless(scenario, pasted, judged(scenario, **now))

    assert blessing.refused is None
    assert blessing.text == pasted.replace(
        "\ndiverge:", "\nexpect:\n  returns: 1\n  trace: |\n    0 start f()\n    5 end f -> 1\n    5 return 1\n\ndiverge:"
    )
    assert judged(load_text(blessing.text, "demo.yaml").scenario, **now).status == "diverge"
    stated = PASTED.replace("RESULT", "2")
    scenario = load_text(stated, "demo.yaml").scenario
    assert bless(scenario, stated, judged(scenario, **now)).refused == (
        "js-promise's result is now the same as expect's, and the divergence at line 14 states another: the "
        "disagreement has changed in kind; declare it anew by hand (asyncparity show FILE --trace TARGET prints a "
        "target's trace), then bless again"
    )


def test_bless_refuses_a_result_of_another_kind_and_targets_that_part_ways() -> None:
    scenario = load_text(DIVERGING, "demo.yaml").scenario
    failed = outcome(
        {"throws": {"kind": "IOError", "message": "down"}},
        [
            {"t": 0, "event": "start", "op": "f", "args": []},
            {"t": 6, "event": "throw", "error": {"kind": "IOError", "message": "down"}},
        ],
    )

    blessing = bless(scenario, DIVERGING, judged(scenario, python=run_of(1, 5), js_promise=failed, js_async=failed))
    parted = bless(
        scenario, DIVERGING, judged(scenario, python=run_of(1, 5), js_promise=run_of(1, 6, 2), js_async=run_of(1, 7, 2))
    )

    assert blessing.refused == (
        'js-promise now throws IOError("down"), where the divergence at line 21 declares returns 2: the disagreement '
        "has changed in kind; declare it anew by hand (asyncparity show FILE --trace TARGET prints a target's trace), "
        "then bless again"
    )
    assert parted.refused == (
        "js-promise and js-async, which share the divergence at line 21, now do different things: "
        "give each its own divergence, then bless again"
    )


def test_a_divergence_none_of_whose_targets_ran_is_left_as_it_is() -> None:
    scenario = load_text(DIVERGING, "demo.yaml").scenario

    blessing = bless(scenario, DIVERGING, judged(scenario, python=run_of(1, 8)))

    assert blessing.rewrote == ("expect: trace, lines 15-18",)
    assert blessing.text == DIVERGING.replace("    5 end f -> 1\n    5 return 1\n", "    8 end f -> 1\n    8 return 1\n")


def test_a_declared_deadlock_keeps_its_kind_and_its_stale_trace_is_rewritten() -> None:
    text = DIVERGING.split("  - targets: [python-eager]")[0].replace("    returns: 2\n", "    deadlock: true\n")
    text = text.replace("      6 end f -> 1\n      6 return 2\n", "")
    scenario = load_text(text, "demo.yaml").scenario
    stuck = {"status": "deadlock", "result": None, "trace": [{"t": 0, "event": "start", "op": "f", "args": [7]}]}

    blessing = bless(scenario, text, judged(scenario, python=run_of(1, 5), js_promise=stuck, js_async=stuck))
    settled = bless(scenario, text, judged(scenario, python=run_of(1, 5), js_promise=run_of(1, 5, 2), js_async=run_of(1, 5, 2)))

    assert blessing.rewrote == ("the divergence of js-promise, js-async: trace, lines 25-26",)
    assert blessing.text == text.replace("      0 start f()\n", "      0 start f(7)\n")
    assert settled.refused == (
        "js-promise now returns 2, where the divergence at line 21 declares deadlock: the disagreement has changed "
        "in kind; declare it anew by hand (asyncparity show FILE --trace TARGET prints a target's trace), then bless again"
    )
