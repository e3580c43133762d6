"""The data model of a loaded scenario: what the loader hands to every later stage.

The scenario IR itself is plain JSON (spec/PROTOCOL.md) and travels in
:attr:`Scenario.ir`; beside it, the expectations that compare holds the targets'
outcomes to. Every stage after loading (testees, compare, report, bless, matrix,
catalogue) imports these names from here, never from the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic

IR_VERSION = 1
TARGETS = ("python", "python-eager", "js-promise", "js-async")
"""Every target id, in the order reports list them. ``python-eager`` is the Python program
run with ``asyncio.eager_task_factory`` (CPython 3.12+; skipped, with the reason, before)."""

DEFAULT_TARGETS = ("python", "js-promise", "js-async")
"""The three idioms, run when no ``--targets`` is given; ``python-eager`` is asked for by name."""

DEFAULT_LIMITS = {"virtual_time": 3_600_000, "timer_firings": 10_000, "turns_per_instant": 1_000}
"""Runaway bounds (DESIGN.md, virtual-time rule 6); a scenario may lower or raise them."""

# What the loader takes in at the most (spec/LANGUAGE.md, "Limits"). Each is reported at
# the first place past it, and nothing is read beyond that place, so that no input makes
# the loader, a compiler or a target recurse without bound.
MAX_FILE_BYTES = 1_048_576
"""A scenario file's size (1 MiB); the shipped ones are a few kilobytes."""
MAX_YAML_DEPTH = 64
"""Lists and mappings nested in one another anywhere in the file, counted as the loader
composes the parser's events into nodes (the checks then read the nodes recursively)."""
MAX_BLOCK_DEPTH = 5
"""Steps that hold steps (try, if, repeat, while, timeout, for_each, using) nested in one
another in one function body. CPython compiles at most 20 statically nested blocks: the
catch of a try that also has a finally takes three of them, and so does the costliest
step that holds none (``any``: a for, a try, an except). Five such trys around an
``any`` take 18; six take 21, and fail to compile on CPython 3.10 to 3.13 ("too many
statically nested blocks"; tests/python/test_target.py pins it)."""
MAX_VALUE_DEPTH = 32
"""Lists and mappings nested in one value (a literal, an argument, an expected result)."""
MAX_STEPS = 10_000
"""Steps in one scenario, every function and main together."""
PYTHON_TARGETS = ("python", "python-eager")
"""The targets the Python testee runs (in-process, or a worker under another CPython)."""

JS_TARGETS = ("js-promise", "js-async")
"""The targets the Node testee runs."""


def parse_targets(text: str) -> tuple[str, ...]:
    """``python,js-async`` (or ``all``) -> the targets, in the kit's order; ValueError names a
    bad one and the choices (the command line and the pytest plugin say it so)."""
    if text.strip() == "all":
        return TARGETS
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in TARGETS]
    if unknown or not chosen:
        problem = f"unknown target {unknown[0]!r}" if unknown else "no target given"
        raise ValueError(f"{problem}; choose from {', '.join(TARGETS)}, or all")
    return tuple(target for target in TARGETS if target in chosen)


CAUSES = ("language", "idiom")
"""Why a divergence exists: the languages differ (``language``), or the idiom a target
is written in behaves otherwise than the closest code in the other idioms (``idiom``)."""

ORDERS = ("exact", "instant")
"""How an expected trace is compared: event by event, or in any order within an instant."""

STOPS = ("deadlock", "runaway", "crash")
"""The ends of a run that did not settle (an outcome's ``status``) which a divergence may
declare as its targets' result, written ``deadlock: true`` (spec/LANGUAGE.md, ``diverge``)."""


def declared_result(outcome: dict) -> dict | None:
    """An outcome's result in the form ``expect`` and ``diverge`` state it: what a settled
    run ended with, or ``{"deadlock": True}`` (a runaway, a crash) for one that stopped."""
    status = outcome.get("status")
    if status in STOPS:
        return {status: True}
    return outcome.get("result")


@dataclass(frozen=True)
class Expectation:
    """What a target should do: its result (``{"returns": v}``, ``{"throws": e}`` or
    ``{"uncaught": e}``, the program ended at an unhandled error) and trace.

    Either part may be ``None`` (not stated). ``trace`` holds canonical trace lines.
    """

    result: dict | None
    trace: tuple[str, ...] | None
    line: int
    order: str = "exact"


@dataclass(frozen=True)
class Divergence:
    """A declared difference: these targets behave otherwise, for this reason."""

    targets: tuple[str, ...]
    reason: str
    result: dict | None
    trace: tuple[str, ...] | None
    line: int
    see: tuple[str, ...] = ()
    cause: str = "language"
    """``language`` or ``idiom`` (:data:`CAUSES`)."""
    closed_by: str = ""
    """The code that makes the targets agree, where there is one (in words)."""

    @property
    def stops(self) -> str | None:
        """The end of a run that did not settle it declares (``deadlock``, ...), or None."""
        key = next(iter(self.result), None) if self.result else None
        return key if key in STOPS else None


@dataclass(frozen=True)
class Scenario:
    """A loaded, valid scenario: its IR for the targets and its expectations for compare."""

    id: str
    path: str
    line: int
    summary: str
    tags: tuple[str, ...]
    ir: dict
    expect: Expectation | None
    diverge: tuple[Divergence, ...]
    content_key: str | None = field(default=None, compare=False)
    """The content cache's key of the file this scenario was loaded from
    (runner/content_cache.py), from which the keys of its programs derive; None when it
    was not loaded through the cache. Not part of the scenario's value."""

    def expected_for(self, target: str) -> tuple[Expectation | None, Divergence | None]:
        """The expectation for one target: the base ``expect`` overlaid by its divergence."""
        for divergence in self.diverge:
            if target in divergence.targets:
                base = self.expect
                # A run that stops never records expect's settling: its trace is the divergence's or none.
                stops = divergence.stops is not None
                return (
                    Expectation(
                        result=divergence.result if divergence.result is not None else (base.result if base else None),
                        trace=divergence.trace if divergence.trace is not None or stops else (base.trace if base else None),
                        line=divergence.line,
                        order=base.order if base else "exact",
                    ),
                    divergence,
                )
        return self.expect, None


@dataclass(frozen=True)
class PassedOver:
    """A YAML file under a folder that discovery did not take as a scenario, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Discovery:
    """What discovery found under the paths it was given: the files it takes as
    scenarios (sorted, without repeats) and every other ``*.yaml`` / ``*.yml`` file under
    a folder, with the reason it was passed over. Known non-scenario files (a file of
    known outcomes) are in neither list."""

    taken: list[str] = field(default_factory=list)
    """As text: a run of a large folder holds them all (runner/load.py's find_scenarios)."""
    passed_over: list[PassedOver] = field(default_factory=list)
    widest_id: int = 0
    """The length of the longest id that the files taken from folders declare
    (runner/load.py's declared_id), read with them; a file named itself is not read."""


@dataclass
class LoadResult:
    """The outcome of loading one file: a scenario, or the diagnostics that prevent one."""

    path: str
    scenario: Scenario | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
