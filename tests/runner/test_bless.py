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
from asyncparity.compare import TargetVerdict, Verdict
from asyncparity.load import load_text

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
