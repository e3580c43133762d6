"""Tests for runner/bench.py: the benchmark runs and reports both rates and their ratio.

Nothing here asserts a speed: wall-clock figures are the benchmark's output, not a test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asyncparity.bench import run_benchmark, write_scenarios
from asyncparity.load import load_paths
from asyncparity.node import find_node


def test_synthetic_scenarios_are_valid(tmp_path: Path) -> None:
    paths = write_scenarios(tmp_path, 3)

    results = load_paths([tmp_path])

    assert [result.path for result in results] == [str(path) for path in paths]
    assert all(result.diagnostics == [] for result in results)
    assert [result.scenario.id for result in results] == ["bench-0", "bench-1", "bench-2"]


def test_benchmark_prints_both_rates_the_ratio_and_the_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_benchmark(n=6, baseline_sample=2, node=find_node())

    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"kit end to end \(one Node worker\): +[\d.]+ scenarios/s", out)
    assert re.search(r"baseline \(a Node process each\): +[\d.]+ scenarios/s .*sample of 2", out)
    assert re.search(r"ratio: the kit is [\d.]+x the baseline", out)
    for stage in ("loading YAML", "compiling", "running python", "comparing"):
        assert stage in out
