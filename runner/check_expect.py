"""Expectation checks for the loader: ``expect`` and ``diverge``.

What the targets should do (a result and a trace) and where they are declared to
differ, with the reason, its cause, and what closes the gap. Traces are kept as
canonical text lines (spec/PROTOCOL.md), the form compare and the diffs use.
"""

from __future__ import annotations

import yaml

from .diagnostics import did_you_mean
from .model import CAUSES, ORDERS, STOPS, TARGETS, Divergence, Expectation
from .names import ERROR_KIND
from .yaml_nodes import MISSING, Missing, NodeReader, describe, position

EXPECT_KEYS = ("returns", "throws", "uncaught", "trace", "order")
DIVERGE_KEYS = ("targets", "reason", "cause", "closed_by", "see", "returns", "throws", "uncaught", *STOPS, "trace")
RESULT_KEYS = ("returns", "throws", "uncaught")

STOP_MEANINGS = {
    "deadlock": "main never settles, nothing can run and no timer is pending",
    "runaway": "the run passes one of its bounds (limits)",
    "crash": "the runtime itself fails the run",
}
"""What each end of a run that did not settle means, for the loader's messages."""


class ExpectationChecker(NodeReader):
    """Reads a scenario's ``expect`` and ``diverge``."""

    def result(self, entries: dict, node: yaml.Node, what: str, stops: bool = False) -> dict | Missing | None:
        """The result stated in ``entries``; with ``stops`` (a divergence), a run that did
        not settle may be stated too: ``{"deadlock": True}`` and the like."""
        keys = (*RESULT_KEYS, *STOPS) if stops else RESULT_KEYS
        given = [key for key in keys if key in entries]
        if len(given) > 1:
            self.error(node, f"{what} states one of {', '.join(keys[:-1])} or {keys[-1]}, not {' and '.join(given)}")
            return MISSING
        for key in STOPS:
            if key in given:
                value_node = entries[key][1]
                if not (isinstance(value_node, yaml.ScalarNode) and self.plain(value_node, key) is True):
                    shown = f"'{value_node.value}'" if isinstance(value_node, yaml.ScalarNode) else describe(value_node)
                    self.error(
                        value_node, f"{key} is true (the targets end in a {key}: {STOP_MEANINGS[key]}) or left out, not {shown}"
                    )
                    return MISSING
                return {key: True}
        if "returns" in entries:
            value = self.plain(entries["returns"][1], "returns")
            return MISSING if value is MISSING else {"returns": value}
        for key in ("throws", "uncaught"):
            if key in entries:
                error = self.observed_error(entries[key][1], key)
                return MISSING if error is None else {key: error}
        return None

    def observed_error(self, node: yaml.Node, what: str) -> dict | None:
        """An error a target is expected to end with: ``{kind, message[, errors]}``.

        Unlike the errors a scenario raises, these may be the languages' own group
        errors (AggregateError, ExceptionGroup), with their members under ``errors``.
        """
        entries = self.mapping(node, what)
        if entries is None:
            return None
        self.known_keys(entries, ("kind", "message", "errors"), what)
        if "kind" not in entries or "message" not in entries:
            self.error(node, f"{what} needs kind and message")
            return None
        kind = self.scalar(entries["kind"][1], "error kind", str)
        if kind is not MISSING and not ERROR_KIND.match(kind):
            self.error(entries["kind"][1], f"error kind '{kind}' must be CapWords (A-Z first, then letters and digits)")
            kind = MISSING
        message = self.scalar(entries["message"][1], "message", str)
        members = []
        if "errors" in entries:
            for item in self.sequence(entries["errors"][1], "errors (the members of a group)") or []:
                members.append(self.observed_error(item, "a member error"))
        if kind is MISSING or message is MISSING or None in members:
            return None
        record = {"kind": kind, "message": message}
        if "errors" in entries:
            record["errors"] = members
        return record

    def trace(self, node: yaml.Node) -> tuple[str, ...] | Missing | None:
        text = self.scalar(node, "trace", str)
        if text is MISSING:
            return MISSING
        # Split at newlines only: canonical JSON keeps U+2028 and friends raw, and
        # str.splitlines() would cut a trace line at them.
        return tuple(line.strip() for line in text.split("\n") if line.strip())

    def expectation(self, node: yaml.Node) -> Expectation | None:
        entries = self.mapping(node, "expect")
        if entries is None:
            return None
        for key in STOPS:
            if key in entries:
                self.error(
                    entries.pop(key)[0],
                    f"expect states what the targets settle with; declare a {key} in a divergence "
                    f"({key}: true), for the targets that end in one",
                )
        self.known_keys(entries, EXPECT_KEYS, "expect")
        result = self.result(entries, node, "expect")
        trace = self.trace(entries["trace"][1]) if "trace" in entries else None
        if result is MISSING or trace is MISSING:
            return None
        if result is None and trace is None:
            self.error(node, "expect needs returns, throws or uncaught, a trace, or both")
            return None
        order = "exact"
        if "order" in entries:
            order = self.scalar(entries["order"][1], "order", str)
            if order is not MISSING and order not in ORDERS:
                self.error(
                    entries["order"][1],
                    f"order is 'exact' (the default) or 'instant' (any order among events at one instant), not '{order}'{did_you_mean(order, ORDERS)}",
                )
                return None
            if order is MISSING:
                return None
        return Expectation(result, trace, position(node)[0], order)

    def divergences(self, node: yaml.Node, expect: Expectation | None) -> list[Divergence]:
        items = self.sequence(node, "diverge")
        divergences = []
        claimed: dict[str, int] = {}
        for item in items or []:
            entries = self.mapping(item, "a divergence")
            if entries is None:
                continue
            self.known_keys(entries, DIVERGE_KEYS, "a divergence")
            missing = [key for key in ("targets", "reason", "cause") if key not in entries]
            if missing:
                self.error(
                    item, f"a divergence needs {', '.join(missing[:-1]) + ' and ' if len(missing) > 1 else ''}{missing[-1]}"
                )
                continue
            targets = []
            target_nodes = self.sequence(entries["targets"][1], "targets")
            if target_nodes == []:
                self.error(entries["targets"][1], f"targets lists one or more of {', '.join(TARGETS)}; this list is empty")
            for target_node in target_nodes or []:
                target = self.scalar(target_node, "a target", str)
                if target is MISSING:
                    continue
                if target not in TARGETS:
                    self.error(target_node, f"unknown target '{target}'{did_you_mean(target, TARGETS)}")
                elif target in claimed:
                    self.error(target_node, f"target '{target}' already has a divergence (line {claimed[target]})")
                else:
                    targets.append(target)
                    claimed[target] = position(item)[0]
            reason = self.scalar(entries["reason"][1], "reason", str)
            if reason is not MISSING and not reason.strip():
                self.error(entries["reason"][1], "reason must say why the targets differ")
                reason = MISSING
            see = self.see(entries["see"][1]) if "see" in entries else ()
            cause = self.scalar(entries["cause"][1], "cause", str)
            if cause is not MISSING and cause not in CAUSES:
                self.error(
                    entries["cause"][1],
                    f"cause is 'language' (the languages differ) or 'idiom' (the way one target's code is written differs), not '{cause}'{did_you_mean(cause, CAUSES)}",
                )
                cause = MISSING
            closed_by = self.scalar(entries["closed_by"][1], "closed_by", str) if "closed_by" in entries else ""
            result = self.result(entries, item, "a divergence", stops=True)
            trace = self.trace(entries["trace"][1]) if "trace" in entries else None
            if (
                result is MISSING
                or trace is MISSING
                or reason is MISSING
                or cause is MISSING
                or closed_by is MISSING
                or not targets
            ):
                continue
            if result is None and trace is None:
                self.error(
                    item,
                    "a divergence states what the targets do instead: returns, throws, uncaught, deadlock, runaway "
                    "or crash, a trace, or both",
                )
                continue
            if expect is not None and (result is None or result == expect.result) and (trace is None or trace == expect.trace):
                self.error(item, "this divergence states the same outcome as expect; state what differs")
                continue
            divergences.append(
                Divergence(
                    tuple(targets),
                    " ".join(reason.split()),
                    result,
                    trace,
                    position(item)[0],
                    see,
                    cause,
                    " ".join(closed_by.split()),
                )
            )
        return divergences

    def see(self, node: yaml.Node) -> tuple[str, ...]:
        """``see``: one reference or a list, each where the language documents the behaviour."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        references = []
        for item in nodes:
            reference = self.scalar(item, "see (a documentation URL)", str)
            if reference is not MISSING:
                references.append(reference)
        return tuple(references)
