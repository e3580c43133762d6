"""The command line: ``asyncparity run``, ``asyncparity show``, ``asyncparity bench``.

Exit codes follow pytest: 0 when every scenario agrees or diverges only as declared,
1 when any scenario mismatches or errors, 2 for a usage or input error (a bad option,
no Node, a scenario file that does not load; the other files still run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as package_doc
from .compare import Verdict
from .load import TARGETS, LoadResult, load_file, load_paths
from .node import NodeNotFound, find_node
from .report import failure_details, summary_line, to_json, verdict_line
from .suite import run_suite
from .testees import DEFAULT_TIMEOUT, JS_TARGETS, NodeTestee, PythonTestee, TesteeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KIT_SPEC = Path(__file__).resolve().parent.parent / "spec"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``asyncparity`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except NodeNotFound as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("asyncparity: interrupted", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncparity",
        description=(package_doc or "").strip()
        + " Run the conformance suite, show generated programs, measure speed.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run scenarios on every target and compare them",
                              description="Run scenario files on the targets and compare what they did.")
    run.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="scenario files or folders (default: ./spec, else the kit's own spec/)")
    _common_options(run)
    run.add_argument("-k", dest="keyword", metavar="TEXT", help="only scenarios whose id contains TEXT")
    run.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="also write a JSON report to FILE")
    run.add_argument("-q", "--quiet", action="store_true", help="print failures and the closing line only")
    run.set_defaults(handler=_run)

    show = commands.add_parser("show", help="print the generated programs of a scenario",
                               description="Print the program each target generates for one scenario. "
                               "Each is complete: save it beside the runtime module named in its header and run it.")
    show.add_argument("path", type=Path, metavar="FILE", help="a scenario file")
    show.add_argument("--target", choices=TARGETS, help="only this target's program")
    show.add_argument("--node", metavar="PATH", help="the Node binary (default: $ASYNCPARITY_NODE, else node on PATH)")
    show.set_defaults(handler=_show)

    bench = commands.add_parser("bench", help="measure scenarios per second against a process-per-scenario baseline",
                                description="Generate N synthetic scenarios and measure the kit end to end against "
                                "a baseline that starts a fresh Node process for each scenario.")
    bench.add_argument("-n", type=int, default=500, help="number of synthetic scenarios (default 500)")
    bench.add_argument("--baseline-sample", type=int, default=50,
                       help="scenarios timed for the baseline, whose rate is per scenario (default 50)")
    bench.add_argument("--node", metavar="PATH", help="the Node binary (default: $ASYNCPARITY_NODE, else node on PATH)")
    bench.set_defaults(handler=_bench)
    return parser


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", default=",".join(TARGETS), metavar="T,T",
                        help=f"comma-separated targets (default: {','.join(TARGETS)})")
    parser.add_argument("--node", metavar="PATH", help="the Node binary (default: $ASYNCPARITY_NODE, else node on PATH)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"wall-clock bound on each reply from a testee (default {DEFAULT_TIMEOUT:g})")


def parse_targets(text: str) -> tuple[str, ...]:
    """``python,js-async`` -> the targets, in the kit's order; ValueError names a bad one."""
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in TARGETS]
    if unknown or not chosen:
        raise ValueError(f"unknown target {unknown[0]!r}" if unknown else "no target given")
    return tuple(target for target in TARGETS if target in chosen)


def _default_paths() -> list[Path]:
    local = Path("spec")
    return [local if local.is_dir() else KIT_SPEC]


def _run(args: argparse.Namespace) -> int:
    try:
        targets = parse_targets(args.targets)
    except ValueError as error:
        print(f"asyncparity: --targets: {error}; choose from {', '.join(TARGETS)}", file=sys.stderr)
        return EXIT_USAGE
    paths = args.paths or _default_paths()
    missing = [path for path in paths if not path.exists()]
    if missing:
        print(f"asyncparity: no such file or folder: {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    results = load_paths(paths)
    if args.keyword:
        results = [r for r in results if r.scenario is None or args.keyword in r.scenario.id]
    if not results:
        what = f"no scenario id contains {args.keyword!r}" if args.keyword else "no scenario files found"
        print(f"asyncparity: {what} under {', '.join(map(str, paths))}", file=sys.stderr)
        return EXIT_USAGE

    node = None
    if any(target in JS_TARGETS for target in targets):
        node = NodeTestee(find_node(args.node), timeout=args.timeout)
    python = PythonTestee() if "python" in targets else None
    id_width = max([len(r.scenario.id) for r in results if r.scenario] + [10])

    def on_verdict(verdict: Verdict) -> None:
        if not args.quiet:
            print(verdict_line(verdict, id_width), flush=True)

    try:
        if node is not None:
            node.start()
        verdicts = run_suite(results, targets, python, node, on_verdict)
    except TesteeError as error:
        print(f"asyncparity: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if node is not None:
            node.close()

    details = [line for verdict in verdicts for line in failure_details(verdict)]
    if details:
        print()
        print("\n".join(details))
    if args.json_path:
        args.json_path.write_text(json.dumps(to_json(verdicts), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(summary_line(verdicts))
    if any(result.scenario is None for result in results):
        return EXIT_USAGE
    return EXIT_OK if all(v.passed or v.status == "skipped" for v in verdicts) else EXIT_FAILED


def _show(args: argparse.Namespace) -> int:
    result: LoadResult = load_file(args.path)
    if result.scenario is None:
        for diagnostic in result.diagnostics:
            print(diagnostic, file=sys.stderr)
        return EXIT_USAGE
    ir = result.scenario.ir
    targets = (args.target,) if args.target else TARGETS
    programs: list[tuple[str, str]] = []
    if "python" in targets:
        programs.append(("python", PythonTestee().compile(ir)))
    js = [target for target in targets if target in JS_TARGETS]
    if js:
        with NodeTestee(find_node(args.node)) as node:
            programs.extend((target, node.compile(ir, target)) for target in js)
    if len(programs) == 1:
        sys.stdout.write(programs[0][1])
        return EXIT_OK
    for index, (target, source) in enumerate(programs):
        if index:
            print()
        comment = "#" if target == "python" else "//"
        suffix = "py" if target == "python" else "mjs"
        print(f"{comment} ==== {target} (save as program.{suffix}) ====")
        sys.stdout.write(source)
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_benchmark

    return run_benchmark(n=args.n, baseline_sample=args.baseline_sample, node=find_node(args.node))


if __name__ == "__main__":  # pragma: no cover - `python -m asyncparity.cli`
    sys.exit(main())
