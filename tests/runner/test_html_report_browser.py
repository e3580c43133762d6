"""The HTML report of runner/html_report.py in a real browser: Debian's ``chromium``,
headless, driven by the Python ``playwright`` package through its executable path (the
browser ``playwright install`` downloads cannot be fetched everywhere; .ci/run installs
chromium). One browser launch for all the checks, which run in one test for that reason.

The report is made by ``asyncparity run --html`` over a passing, a declared-divergent and
a failing scenario (tests/html_demo.py). The test saves a screenshot as an artefact,
build/html-report/report.png; with ``ASYNCPARITY_REPORT_PNG=docs/report.png`` it also
writes the README's picture there:

    ASYNCPARITY_REPORT_PNG=docs/report.png .venv/bin/pytest -n 0 tests/runner/test_html_report_browser.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from asyncparity.cli import main
from helpers import ROOT
from html_demo import demo_scenarios

ARTEFACT = ROOT / "build" / "html-report" / "report.png"
FAILING = "#s-2-eager-start-undeclared"
DECLARED = "#s-1-eager-start"


def _browser_parts():  # -> the playwright module, and chromium's path; or a skip with the reason
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("the browser test needs the Python playwright package (pip install -e '.[test]')")
    # Debian's package is `chromium`; other systems name it `chromium-browser`, and a
    # Google Chrome (as on GitHub's runners) is driven the same way.
    chromium = next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)
    if chromium is None:
        pytest.skip("the browser test needs chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    return sync_api, chromium


def test_the_report_in_a_browser(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    sync_api, chromium = _browser_parts()
    picture = os.environ.get("ASYNCPARITY_REPORT_PNG")
    picture_path = Path(picture).resolve() if picture else None  # before the chdir below
    (tmp_path / "spec").mkdir()
    demo_scenarios(tmp_path / "spec")
    monkeypatch.chdir(tmp_path)  # the page names the files as a run from a project would: spec/...
    report = tmp_path / "report.html"
    assert (
        main(
            [
                "run",
                "spec/download-fallback.yaml",
                "spec/eager-start.yaml",
                "spec/eager-start-undeclared.yaml",
                "--html",
                str(report),
            ]
        )
        == 1
    )
    capsys.readouterr()
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(report.as_uri())
            _timelines(page)
            _filters(page)
            _keyboard(page)
            _program_lines(page)
            _screenshots(page, picture_path)
            _matrix(page, tmp_path)
        finally:
            browser.close()
    assert set(requests) == {report.as_uri(), (tmp_path / "matrix.html").as_uri()}, "the pages load nothing but themselves"
    assert errors == []


def _timelines(page) -> None:
    # A swimlane per target in each scenario, each with its events.
    for section, python in (
        ("#s-0-seed-download-fallback", "✓ agree"),
        (DECLARED, "◇ diverge\nfirst difference (declared): event 1"),
        (FAILING, "✗ mismatch\nfirst difference: event 1"),
    ):
        assert page.locator(f"{section} .lane-name").all_inner_texts() == [
            f"python\n{python}",
            "js-promise\n✓ agree",
            "js-async\n✓ agree",
        ]
        assert page.locator(f"{section} .lane-events").count() == 3
    # The failing scenario: python's first event is the first difference, drawn apart
    # from the others and said in words; the other lanes have no marked event.
    first = page.locator(f"{FAILING} .ev.first")
    assert first.count() == 1
    assert first.locator(".label").inner_text() == "≠ ✎ log"
    assert first.evaluate("mark => mark.closest('.lane-events').dataset.target") == "python"
    assert first.evaluate("mark => getComputedStyle(mark).borderTopWidth") == "3px"
    assert page.locator(f"{FAILING} .ev.differs").count() == 1
    # The declared one: python's divergence is marked as declared, not as a failure.
    assert page.locator(f"{DECLARED} .ev.declared-diff.first .label").inner_text() == "≠ ✎ log"
    assert page.locator(f"{DECLARED} aside.declared").inner_text().startswith("◇ declared divergence of python (cause: language")
    # Events at one instant stack in their order: python's log above its start at 0 ms.
    boxes = [page.locator(f"{FAILING} .lane-events[data-target=python] .ev").nth(i).bounding_box() for i in (0, 1)]
    assert boxes[0] is not None and boxes[1] is not None
    assert boxes[0]["x"] == boxes[1]["x"] and boxes[0]["y"] < boxes[1]["y"]


def _filters(page) -> None:
    rows = page.locator("table.summary tbody tr")
    assert rows.count() == 3
    page.get_by_role("button", name="only failures").click()
    assert [rows.nth(i).is_visible() for i in range(3)] == [False, False, True]
    assert page.locator("#s-0-seed-download-fallback").is_hidden()
    assert page.locator("#shown").inner_text() == "1 of 3 shown"
    page.get_by_role("button", name="show all").click()
    assert [rows.nth(i).is_visible() for i in range(3)] == [True, True, True]
    page.get_by_role("button", name="✓ agree (1)").click()
    assert [rows.nth(i).is_visible() for i in range(3)] == [False, True, True]
    assert page.get_by_role("button", name="✓ agree (1)").get_attribute("aria-pressed") == "false"
    page.get_by_role("button", name="show all").click()
    page.locator("#tag-filter").select_option("seed")
    assert [rows.nth(i).is_visible() for i in range(3)] == [True, False, False]
    page.get_by_role("button", name="show all").click()


def _keyboard(page) -> None:
    # Tab reaches the events; the focused one shows its text; the arrows move along the lane.
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('ev')"):
            break
    else:
        pytest.fail("80 presses of Tab did not reach an event")
    tip = page.locator(".ev:focus .tip")
    assert _width(tip) > 100, "the focused event shows its text"
    assert tip.inner_text().startswith('python, event 1: 0 start download_data("https://example.com/data")')
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    assert (
        page.locator(".ev:focus .tip")
        .inner_text()
        .startswith('python, event 2: 30 fail download_data IOError("connection reset")')
    )
    assert _width(page.locator(".ev[data-index='0'] .tip").first) <= 1, "an event neither focused nor hovered hides its text"
    # Down to the next lane's event at the same place; Tab then goes to its program lines.
    page.keyboard.press("ArrowDown")
    assert page.evaluate(
        "[document.activeElement.closest('.lane-events').dataset.target, document.activeElement.dataset.index]"
    ) == [
        "js-promise",
        "1",
    ]
    page.keyboard.press("Tab")
    assert page.evaluate("[document.activeElement.tagName, document.activeElement.getAttribute('href')]") == [
        "A",
        "#p0-python-36",
    ]
    assert page.evaluate("document.activeElement.closest('.ev').dataset.index") == "1"


def _width(locator) -> float:
    box = locator.bounding_box()
    return 0 if box is None else box["width"]


def _program_lines(page) -> None:
    # From the summary's first difference to the event, then to the python line that names log.
    page.locator("table.summary a[href='#s-2-eager-start-undeclared-first-python']").click()
    mark = page.locator(f"{FAILING} .ev.first")
    assert mark.evaluate("mark => mark.getBoundingClientRect().top >= 0 && mark.getBoundingClientRect().bottom <= innerHeight")
    mark.focus()
    link = mark.locator(".tip a").first
    assert (
        mark.locator(".tip")
        .inner_text()
        .endswith("program lines that name log: python line 26; js-promise line 16; js-async line 16")
    )
    link.click()
    # The line in each of the three programs is marked; the python one is scrolled to.
    lines = page.locator(f"{FAILING} .ln.lit")
    assert [lines.nth(i).get_attribute("id") for i in range(lines.count())] == [
        "p2-python-26",
        "p2-js-promise-16",
        "p2-js-async-16",
    ]
    assert [text.strip() for text in lines.all_inner_texts()] == ['log("started")', 'log("started");', 'log("started");']
    assert page.locator("#p2-python-26").is_visible()
    assert page.evaluate("location.hash") == "#p2-python-26"


def _screenshots(page, picture: Path | None) -> None:
    ARTEFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACT), full_page=True)
    if picture is not None:
        # The README's picture: the summary and the failing scenario's timelines.
        page.goto(page.url.split("#")[0])
        page.get_by_role("button", name="only failures").click()
        bottom = page.locator(f"{FAILING} .lanes").bounding_box()
        assert bottom is not None
        page.screenshot(
            path=str(picture), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom["y"] + bottom["height"] - 40}
        )


def _matrix(page, folder: Path) -> None:
    # merge --html (matrix --html writes the same page): the grid, and a cell's details.
    shard = {
        "matrix": 1,
        "cells": [{"name": "py3.11/node20", "python": "3.11.7", "node": "20.20.2"}],
        "scenarios": [
            {"id": "good", "path": "g.yaml", "line": 2, "cells": {"py3.11/node20": {"status": "agree"}}},
            {
                "id": "bad",
                "path": "b.yaml",
                "line": 3,
                "cells": {
                    "py3.11/node20": {
                        "status": "mismatch",
                        "rerun": "asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2",
                        "targets": {"js-async": {"status": "mismatch", "message": "js-async disagrees with expect"}},
                    }
                },
            },
        ],
        "broken": [],
    }
    (folder / "shard.json").write_text(json.dumps(shard), encoding="utf-8")
    main(["merge", str(folder / "shard.json"), "--html", str(folder / "matrix.html")])
    page.goto((folder / "matrix.html").as_uri())
    assert page.locator("table.grid-matrix tbody td").all_inner_texts() == ["✗", "✓"]  # merge orders by path
    page.get_by_role("link", name="bad on py3.11/node20: mismatch").click()
    details = page.locator("#m-0-bad-c0")
    assert page.evaluate("location.hash") == "#m-0-bad-c0" and details.is_visible()
    assert "rerun: asyncparity run b.yaml -k bad --python 3.11.7 --node 20.20.2" in details.inner_text()
    page.get_by_role("button", name="only failures").click()
    assert page.get_by_role("row", name="good").is_hidden()
