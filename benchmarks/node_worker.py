"""The Node worker alone, fed a file of requests: CPU, wall and peak memory (issue 13).

Writes N synthetic scenarios the way `asyncparity bench` does, loads them with the kit's
loader, and writes two files of requests for the same scenarios: one run request per
target (`target`, no `validated`: the protocol before issue 13, the baseline) and one
run request per scenario for both JavaScript targets (`targets`, `validated`: see
spec/PROTOCOL.md). It then runs `node javascript/worker.mjs < FILE` on each, in rounds
that alternate which goes first, so that a swing in the machine's load falls on both,
and prints each one's least CPU seconds (user + system, the worker's threads together),
wall seconds and peak resident memory, and the ratios. `--memory` also feeds the new
form for 10 x N scenarios and prints the growth of the peak resident memory from N to
10 x N. `--baseline-worker` runs the old form on another worker.mjs (a copy of an
older javascript/ folder) instead of this one; `--node-option` passes an option to
node for every run (`--node-option=--max-semi-space-size=4`). Only ratios measured in the same run are
claims; the absolute figures depend on the machine.

    .venv/bin/python benchmarks/node_worker.py -n 1000 --rounds 3 --memory
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from asyncparity.bench import write_scenarios
from asyncparity.bench_goals import peak_kib
from asyncparity.load import load_files
from asyncparity.node import find_node
from asyncparity.testees import NODE_FLAGS

WORKER = Path(__file__).resolve().parent.parent / "javascript" / "worker.mjs"
RUN_BOUND = 600.0
"""Seconds one worker run may take before the benchmark gives up (1,000 scenarios take about one here)."""
TARGETS = ["js-promise", "js-async"]


def write_requests(folder: Path, n: int) -> tuple[Path, Path]:
    """Loads ``n`` synthetic scenarios; the files of old-form and new-form requests for them."""
    scenarios = folder / "spec"
    scenarios.mkdir()
    irs = []
    for result in load_files(write_scenarios(scenarios, n)):
        if result.scenario is None:
            raise SystemExit(f"{result.path}: the synthetic scenario does not load: {result.diagnostics}")
        irs.append(result.scenario.ir)
    old, new = folder / "old.jsonl", folder / "new.jsonl"
    with old.open("w", encoding="utf-8") as out:
        out.write('{"id": 0, "type": "hello"}\n')
        for index, ir in enumerate(irs):
            for offset, target in enumerate(TARGETS):
                out.write(json.dumps({"id": 2 * index + offset + 1, "type": "run", "target": target, "scenario": ir}) + "\n")
    with new.open("w", encoding="utf-8") as out:
        out.write('{"id": 0, "type": "hello"}\n')
        for index, ir in enumerate(irs):
            request = {"id": index + 1, "type": "run", "targets": TARGETS, "validated": True, "scenario": ir}
            out.write(json.dumps(request) + "\n")
    return old, new


def measure(node: list[str], worker: Path, requests: Path) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and peak resident KiB of one worker run on ``requests``."""
    # stderr to a file: a pipe nobody reads could fill and stop the worker.
    with requests.open("rb") as feed, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen([*node, str(worker)], stdin=feed, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = started + RUN_BOUND
        peak = 0
        while True:
            peak = max(peak, peak_kib(process.pid) or 0)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.perf_counter() > deadline:
                process.kill()
                process.wait(RUN_BOUND)
                raise SystemExit(f"the worker took more than {RUN_BOUND:.0f} s on {requests}")
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"the worker exited {process.returncode} on {requests}: {stderr.strip()}")
    # ru_maxrss (KiB) counts the forked copy of this process too, before the exec: the
    # worker's own peak is its VmHWM, read while it runs (the last read is a few ms before
    # its end); ru_maxrss where /proc is not.
    return usage.ru_utime + usage.ru_stime, wall, peak or usage.ru_maxrss


def main() -> None:
    """Parses the arguments, measures, prints."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="scenarios (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two forms (default 3)")
    parser.add_argument("--memory", action="store_true", help="also run 10 x N scenarios and print the memory growth")
    parser.add_argument("--baseline-worker", type=Path, default=WORKER, help="the worker.mjs that serves the old form")
    parser.add_argument("--node-option", action="append", default=[], help="an option for node, for every run (repeatable)")
    args = parser.parse_args()
    node = [find_node(None).path, *NODE_FLAGS, *args.node_option]  # as the kit starts it
    with tempfile.TemporaryDirectory(prefix="asyncparity-node-worker-") as tmp:
        old, new = write_requests(Path(tmp), args.n)
        runs: dict[str, list[tuple[float, float, int]]] = {"old": [], "new": []}
        for round_ in range(args.rounds):
            order = [("old", args.baseline_worker, old), ("new", WORKER, new)]
            for name, worker, requests in order if round_ % 2 == 0 else reversed(order):
                runs[name].append(measure(node, worker, requests))
        least = {name: (min(r[0] for r in rs), min(r[1] for r in rs), min(r[2] for r in rs)) for name, rs in runs.items()}
        print(f"{args.n} scenarios x 2 targets, least of {args.rounds} rounds")
        for name, label in (("old", "one request per target"), ("new", "one request per scenario, validated")):
            cpu, wall, rss = least[name]
            print(f"  {label:<38} CPU {cpu:6.3f} s  wall {wall:6.3f} s  peak RSS {rss / 1024:6.1f} MiB")
        print(f"  ratio old/new: CPU {least['old'][0] / least['new'][0]:.2f}x, wall {least['old'][1] / least['new'][1]:.2f}x")
        if args.memory:
            big_folder = Path(tmp) / "big"
            big_folder.mkdir()
            _, big = write_requests(big_folder, 10 * args.n)
            small_rss = least["new"][2]
            big_rss = min(measure(node, WORKER, big)[2] for _ in range(args.rounds))
            growth = big_rss / small_rss - 1
            print(
                f"  peak RSS: {args.n} scenarios {small_rss / 1024:.1f} MiB, {10 * args.n} scenarios {big_rss / 1024:.1f} MiB"
                f" ({growth:+.1%})"
            )


if __name__ == "__main__":
    main()
