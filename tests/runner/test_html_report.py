"""Tests for runner/html_report.py: the run and matrix pages, and the ``--html`` options
of run, matrix and merge. The page in a real browser: tests/runner/test_html_report_browser.py."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from asyncparity.cli import main
from asyncparity.html_report import aligned_differences, call_sites, diff_positions, matrix_page, run_page
from asyncparity.node import find_node
from asyncparity.testees import PythonTestee
from helpers import ROOT, spec_ir
from html_demo import demo_scenarios

HOSTILE = "</script><script>alert(1)</script><b>&amp;"


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def run_report(message: str = "started") -> dict:
    """A run report as report.to_json makes it: python mismatches at its first event."""
    events = [
        {"t": 0, "event": "start", "op": "fetch_profile", "args": []},
        {"t": 0, "event": "log", "message": message},
        {"t": 10, "event": "end", "op": "fetch_profile", "value": "profile"},
        {"t": 10, "event": "return", "value": "profile"},
    ]
    swapped = [events[1], events[0], *events[2:]]
    diff = [
        "--- expected (expect)",
        "+++ python",
        "@@ -1,4 +1,4 @@",
        f'+0 log "{message}"',
        " 0 start fetch_profile()",
        f'-0 log "{message}"',
        ' 10 end fetch_profile -> "profile"',
        ' 10 return "profile"',
    ]
    return {
        "summary": {"passed": 0, "failed": 1, "skipped": 0, "skipped_targets": 0},
        "interrupted": False,
        "not_run": 0,
        "passed_over": [],
        "scenarios": [
            {
                "id": "eager",
                "path": "e.yaml",
                "line": 2,
                "status": "mismatch",
                "rerun": "asyncparity run e.yaml -k eager",
                "diagnostics": [],
                "targets": [
                    {
                        "target": "python",
                        "status": "mismatch",
                        "message": "python disagrees with expect: trace: first difference at event 1",
                        "against": "expect",
                        "diff": diff,
                        "outcome": {"status": "settled", "result": {"returns": "profile"}, "trace": swapped},
                    },
                    {
                        "target": "js-async",
                        "status": "agree",
                        "message": "",
                        "against": "expect",
                        "diff": [],
                        "outcome": {"status": "settled", "result": {"returns": "profile"}, "trace": events},
                    },
                ],
            }
        ],
    }


def test_every_string_is_escaped_and_the_page_has_one_script() -> None:
    report = run_report(HOSTILE)
    report["scenarios"][0]["targets"][0]["message"] = HOSTILE
    extras = {"eager": {"summary": HOSTILE, "tags": [HOSTILE], "diverge": [], "programs": {"python": f"log({HOSTILE!r})\n"}}}
    page = run_page(report, extras)
    elements = parse(page)
    assert [tag for tag, _ in elements.tags].count("script") == 1
    assert [tag for tag, _ in elements.tags].count("b") == 0
    assert "alert(1)" not in page.split("<script>")[1].split("</script>")[0]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;&amp;amp;" in page
    assert any(HOSTILE in text for text in elements.text)


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = run_page(
        run_report(),
        {
            "eager": {
                "diverge": [
                    {"targets": ["python"], "cause": "language", "reason": "r", "line": 9, "see": ["https://docs.python.org/3/"]}
                ]
            }
        },
    )
    elements = parse(page)
    assert not [attrs for _, attrs in elements.tags if "src" in attrs]
    assert not [tag for tag, _ in elements.tags if tag in ("link", "img", "iframe", "object", "embed")]
    assert "url(" not in page and "@import" not in page and "@font-face" not in page
    policy = next(attrs["content"] for tag, attrs in elements.tags if tag == "meta" and attrs.get("http-equiv"))
    assert policy is not None and policy.startswith("default-src 'none';")
    # The declared divergence's sources are links to follow, not resources to load.
    assert '<a href="https://docs.python.org/3/">https://docs.python.org/3/</a>' in page


def test_the_first_difference_and_every_differing_event_are_marked_in_words() -> None:
    page = run_page(run_report())
    marks = re.findall(
        r'<div class="(ev[^"]*)"(?: id="[^"]*")? tabindex="-?\d"[^>]*>.*?<span class="tip" role="tooltip"[^>]*>([^<]*)', page
    )
    python = [(classes, label) for classes, label in marks if label.startswith("python,")]
    assert python[0] == ("ev differs first", "python, event 1: 0 log &quot;started&quot;\n≠ first difference")
    assert [classes for classes, _ in python[1:]] == ["ev", "ev", "ev"]
    assert all(classes == "ev" for classes, label in marks if label.startswith("js-async,"))
    assert '<span class="label">≠ ✎ log</span>' in page
    # The summary's first difference links to the marked event.
    assert (
        '<td><a href="#s-0-eager-first-python">python disagrees with expect: trace: first difference at event 1</a></td>' in page
    )
    assert '<div class="ev differs first" id="s-0-eager-first-python" tabindex="0" data-index="0">' in page


def test_events_of_one_instant_are_stacked_in_their_order_under_their_time() -> None:
    page = run_page(run_report())
    assert '<div class="tick">0 ms</div><div class="tick">10 ms</div>' in page
    python_lane = page.split('data-target="python"')[1].split('data-target="js-async"')[0]
    instant_zero = python_lane.split('class="instant"')[1]
    assert instant_zero.index("event 1: 0 log") < instant_zero.index("event 2: 0 start fetch_profile()")
    assert "10 end" not in instant_zero


def test_diff_positions_name_the_added_lines_of_the_actual_trace() -> None:
    diff = ["--- a", "+++ b", "@@ -4,5 +4,5 @@", " x", " y", " z", "-61 log", "+60 log", " 60 return"]
    assert diff_positions(diff) == (6, {6})
    assert diff_positions(["--- a", "+++ b", "@@ -1,3 +1,2 @@", " x", "-y", " z"]) == (1, set())
    assert diff_positions([]) == (None, set())


def test_a_declared_divergence_is_aligned_by_a_diff_not_by_position() -> None:
    reference = ["0 start f()", '0 log "started"', "10 end f", "10 return"]
    declared = ['0 log "started"', "0 start f()", "10 end f", "10 return"]
    first, differing = aligned_differences(reference, declared)
    assert first == 0 and differing == {0}
    assert aligned_differences(reference, list(reference)) == (None, set())
    # An event inserted early marks that event only, not every later one.
    assert aligned_differences(reference, ["0 log x", *reference]) == (0, {0})


def test_events_link_to_the_program_lines_that_name_their_operation() -> None:
    program = PythonTestee().compile(spec_ir("seed/download-fallback.yaml"), "python")
    lines = program.splitlines()
    sites = call_sites(program)
    assert [lines[n - 1].strip() for n in sites["op:download_data"]] == ["data = await download_data(url)"]
    assert [lines[n - 1].strip() for n in sites["log"]] == ['log(f"got {result}")']
    js = 'const downloadData = world.operation("download_data", {\n  latency: 30,\n});\nfunction f(url) {\n  return downloadData(url);\n}\n'
    assert call_sites(js)["op:download_data"] == [5]
    resource = 'const connection = world.resource("connection", { open: 5 });\nconst h = await connection.open("db");\nawait connectionHandle.close();\n'
    assert call_sites(resource)["resource:connection"] == [2, 3]


def test_the_page_links_an_event_to_its_program_lines() -> None:
    extras = {"eager": {"programs": {"python": "pending = start(fetch_profile())\nlog('started')\n"}}}
    page = run_page(run_report(), extras)
    assert 'program lines that name log: python line <a href="#p0-python-2">2</a>' in page
    assert '<span class="ln" id="p0-python-2">log(&#x27;started&#x27;)</span>' in page


def test_the_summary_rows_carry_status_and_tags_for_the_filters() -> None:
    page = run_page(run_report(), {"eager": {"tags": ["divergence", "seed"]}})
    assert '<tr data-status="mismatch" data-tags="divergence seed" data-section="s-0-eager">' in page
    assert 'data-filter="mismatch" data-failing="true" aria-pressed="true">✗ mismatch (1)</button>' in page
    assert '<option value="divergence">divergence</option><option value="seed">seed</option>' in page
    assert "0 passed, 1 failed" in page


MATRIX = {
    "matrix": 1,
    "cells": [
        {"name": "py3.11/node20", "python": "3.11.7", "node": "20.20.2"},
        {"name": "py3.12/node22", "python": "3.12.1", "node": "22.20.0"},
    ],
    "scenarios": [
        {
            "id": "good",
            "path": "g.yaml",
            "line": 2,
            "cells": {"py3.11/node20": {"status": "agree"}, "py3.12/node22": {"status": "diverge"}},
        },
        {
            "id": "bad",
            "path": "b.yaml",
            "line": 3,
            "cells": {
                "py3.11/node20": {
                    "status": "mismatch",
                    "rerun": "asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2",
                    "targets": {"js-async": {"status": "mismatch", "message": "js-async <disagrees>"}},
                },
                "py3.12/node22": {
                    "status": "skipped",
                    "rerun": "asyncparity run b.yaml -k bad --python 3.12.1 --node 22.20.0",
                    "targets": {"python": {"status": "skipped", "message": "python needs CPython 3.13"}},
                },
            },
        },
    ],
    "broken": [{"path": "x.yaml", "diagnostics": ["x.yaml:1:1: unknown key 'mian'"]}],
}


def test_the_matrix_grid_links_every_cell_to_its_details() -> None:
    page = matrix_page(MATRIX)
    elements = parse(page)
    ids = {attrs["id"] for _, attrs in elements.tags if attrs.get("id")}
    cells = [attrs for tag, attrs in elements.tags if tag == "a" and (attrs.get("aria-label") or "").count(" on py")]
    assert [(attrs["aria-label"], attrs["href"]) for attrs in cells] == [
        ("good on py3.11/node20: agree", "#m-0-good-c0"),
        ("good on py3.12/node22: diverge", "#m-0-good-c1"),
        ("bad on py3.11/node20: mismatch", "#m-1-bad-c0"),
        ("bad on py3.12/node22: skipped", "#m-1-bad-c1"),
    ]
    assert all(attrs["href"].removeprefix("#") in ids for attrs in cells)
    assert [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="st-\w+">(.*?)</td>', page)] == ["✓", "◇", "✗", "–"]
    assert "rerun: <code>asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2</code>" in page
    assert "js-async: js-async &lt;disagrees&gt;" in page
    assert "x.yaml:1:1: unknown key &#x27;mian&#x27;" in page
    assert '<tr data-status="mismatch" data-tags="" data-section="m-1-bad">' in page


def test_run_html_writes_the_page_of_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "report.html"
    code = main(["run", *map(str, demo_scenarios(tmp_path)), "--html", str(output)])
    capsys.readouterr()
    assert code == 1
    page = output.read_text(encoding="utf-8")
    ids = ["seed-download-fallback", "eager-start", "eager-start-undeclared"]
    assert re.findall(r'<h2 id="s-\d+-([\w-]+)-h">', page) == ids
    assert page.count('<div class="program"><h3>') == 9
    assert "◇ <strong>declared divergence</strong> of python (cause: language; line 28)" in page
    assert page.count("ev differs first") == 1


def test_run_html_refuses_a_destination_it_cannot_write_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(demo_scenarios(tmp_path)[0]), "--html", str(tmp_path / "missing" / "r.html")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"asyncparity: --html {tmp_path / 'missing' / 'r.html'}: no such folder {tmp_path / 'missing'}\n"
    assert captured.out == ""


def test_merge_html_writes_the_matrix_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = copy.deepcopy(MATRIX), copy.deepcopy(MATRIX)
    first["scenarios"], second["scenarios"], second["broken"] = first["scenarios"][:1], second["scenarios"][1:], []
    (tmp_path / "1.json").write_text(json.dumps(first), encoding="utf-8")
    (tmp_path / "2.json").write_text(json.dumps(second), encoding="utf-8")
    main(["merge", str(tmp_path / "1.json"), str(tmp_path / "2.json"), "--html", str(tmp_path / "m.html")])
    capsys.readouterr()
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert page.count('<tr data-status="') == 2
    assert "rerun: <code>asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2</code>" in page


def test_the_open_benchmark_compares_with_a_plain_page_of_the_same_size() -> None:
    # benchmarks/html_open.py: the claim is a ratio against this baseline, never a test on time.
    spec = importlib.util.spec_from_file_location("html_open", ROOT / "benchmarks" / "html_open.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for size in (1000, 123_457):
        page = bench.baseline_page(size)
        assert len(page.encode()) == size
        assert "<script" not in page and page.count("<pre>") == 1


def test_matrix_html_writes_the_grid_of_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = demo_scenarios(tmp_path)[0]
    (tmp_path / "known-outcomes.yaml").write_text("[]\n", encoding="utf-8")
    page_path = tmp_path / "m.html"
    node = find_node().path
    code = main(
        [
            "matrix",
            str(scenario),
            "--python",
            sys.executable,
            "--node",
            node,
            "--targets",
            "python,js-async",
            "--html",
            str(page_path),
        ]
    )
    capsys.readouterr()
    assert code == 0
    page = page_path.read_text(encoding="utf-8")
    cells = re.findall(r'<td class="st-(\w+)"><a href="(#[^"]+)" aria-label="([^"]+)"', page)
    assert len(cells) == 1
    assert cells[0][0] == "agree" and cells[0][1] == "#m-0-seed-download-fallback-c0"
    assert re.fullmatch(r"seed-download-fallback on py3\.\d+/node\d+: agree", cells[0][2])


def test_a_file_that_did_not_load_has_its_row_and_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nsummary: x\nmain:\n  - tyr: 1\n", encoding="utf-8")
    output = tmp_path / "r.html"
    assert main(["run", str(broken), "--html", str(output)]) == 2
    capsys.readouterr()
    page = output.read_text(encoding="utf-8")
    row = re.search(r'<tr data-status="error" data-tags="" data-section="([^"]+)">.*?<a href="#([^"]+)">', page)
    assert row is not None and row.group(1) == row.group(2)
    assert f'<section class="scenario" id="{row.group(1)}"' in page
    assert f"✗ <code>{broken}:4:5</code>: unknown step &#x27;tyr&#x27;; did you mean &#x27;try&#x27;?" in page


def test_a_hand_edited_matrix_report_is_escaped_not_trusted() -> None:
    report = copy.deepcopy(MATRIX)
    report["scenarios"][0]["cells"]["py3.11/node20"]["status"] = '"><script>x()</script>'
    page = matrix_page(report)
    assert [tag for tag, _ in parse(page).tags].count("script") == 1
    assert '<tr data-status="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;" data-tags="" data-section="m-0-good">' in page


def test_a_trace_that_ended_early_links_its_first_difference_to_the_lane() -> None:
    report = run_report()
    python = report["scenarios"][0]["targets"][0]
    python["outcome"]["trace"] = python["outcome"]["trace"][:3]
    python["diff"] = ["--- expected (expect)", "+++ python", "@@ -2,3 +2,2 @@", " a", " b", '-10 return "profile"']
    page = run_page(report)
    assert '<a href="#s-0-eager-first-python">' in page
    assert '<div class="lane-name" id="s-0-eager-first-python" style="grid-row:2">python<br>' in page
    assert "ended early: the first difference is a missing event 4" in page
