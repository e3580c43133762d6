"""How fast the HTML report of 150 scenarios opens, against a plain page of the same size.

Issue 11 asks that "a page of 150 scenarios opens in under a second". A wall-clock figure
depends on the machine, so the claim is a ratio: the report (``run --html`` over the
first 150 scenarios of spec/, with their timelines and generated programs) against a
baseline measured in the same run, a static page of the same number of bytes holding
one ``<pre>`` of text and no script. Both are opened from disk in headless chromium
(the browser test's, through playwright), alternately, ``--rounds`` times each; the time
of one opening is from the start of navigation to the second animation frame after the
load event (parsed, styled, scripted, laid out and painted once), read from the page's
own clock (``performance.now()``). Medians are printed, and the ratio.

    .venv/bin/python benchmarks/html_open.py [--scenarios 150] [--rounds 7]

Needs Node (to run the scenarios), chromium on PATH and the playwright package (the
``[test]`` extra).
"""

from __future__ import annotations

import argparse
import html
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from asyncparity.cli import generated_programs
from asyncparity.html_report import run_page, scenario_extras
from asyncparity.kit import SPEC_DIR
from asyncparity.load import load_paths
from asyncparity.model import DEFAULT_TARGETS
from asyncparity.node import node_for
from asyncparity.report import to_json
from asyncparity.suite import run_suite
from asyncparity.testees import NodeTestee, PythonTestee

FRAME_AFTER_LOAD = """() => new Promise((resolve) => {
  const done = () => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
  if (document.readyState === "complete") done(); else addEventListener("load", done, {once: true});
})"""


def report_page(count: int) -> tuple[str, int]:
    """The run page of the first ``count`` scenarios of spec/, and how many it holds."""
    results = [result for result in load_paths([SPEC_DIR]) if result.scenario is not None][:count]
    with NodeTestee(node_for(None)) as node:
        python = PythonTestee()
        verdicts = run_suite(results, DEFAULT_TARGETS, python, node)
        programs = generated_programs(results, DEFAULT_TARGETS, python, node)
    extras = {r.scenario.id: scenario_extras(r.scenario, programs[r.scenario.id]) for r in results if r.scenario is not None}
    return run_page(to_json(verdicts), extras), len(results)


def baseline_page(size: int) -> str:
    """A static page of ``size`` bytes (UTF-8): one ``<pre>`` of plain text, no script."""
    head, tail = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>baseline</title></head><body><pre>",
        "</pre></body></html>\n",
    )
    line = html.escape('0 start download_data("https://example.com/data") 30 fail download_data IOError\n')
    body_size = size - len(head.encode()) - len(tail.encode())
    return head + (line * (body_size // len(line) + 1))[:body_size] + tail


def measure(pages: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("benchmarks/html_open.py: needs chromium on PATH")
    times: dict[str, list[float]] = {name: [] for name in pages}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            for _ in range(rounds):
                for name, path in pages.items():
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.goto(path.as_uri(), wait_until="commit")
                    times[name].append(page.evaluate(FRAME_AFTER_LOAD))
                    page.close()
        finally:
            browser.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    report, count = report_page(args.scenarios)
    size = len(report.encode())
    with tempfile.TemporaryDirectory() as folder:
        pages = {"report": Path(folder) / "report.html", "baseline": Path(folder) / "baseline.html"}
        pages["report"].write_text(report, encoding="utf-8")
        pages["baseline"].write_text(baseline_page(size), encoding="utf-8")
        assert pages["baseline"].stat().st_size == pages["report"].stat().st_size
        times = measure(pages, args.rounds)
    report_ms, baseline_ms = statistics.median(times["report"]), statistics.median(times["baseline"])
    print(f"  page: {count} scenarios, {size / 1e6:.2f} MB, median of {args.rounds} openings in headless chromium")
    print(f"  HTML report (timelines, programs, script): {report_ms:7.0f} ms to the first frame after load")
    print(f"  baseline (plain <pre>, same size):         {baseline_ms:7.0f} ms")
    print(f"  ratio: the report takes {report_ms / baseline_ms:.1f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
