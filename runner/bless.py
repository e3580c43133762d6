"""Bless: write what the targets did into a scenario's ``expect``, leaving the rest of the file alone.

``asyncparity bless FILE`` runs a scenario, and when the targets agree it records their
result and trace as the scenario's ``expect``. Only the ``expect`` block's own lines
change (it is replaced, or added before ``diverge:`` or at the end); every other byte of
the file, comments and key order included, stays as it was. That is "equal" to a
ruamel.yaml round trip for this purpose and needs no extra dependency.

A declared divergence whose trace or result has gone stale is rewritten too, when the
targets' disagreement has not changed in kind (spec/LANGUAGE.md, "`bless` and
divergences"): the same targets still differ from ``expect``, in the same parts (result,
trace) the divergence states, with the same kind of result. Each part bless rewrote is
named in :attr:`Blessing.rewrote`, with its lines in the new text.

Bless refuses, and says why, when there is nothing true to write: a target that did not
settle, targets that disagree without a declared divergence, or a disagreement that has
changed in kind. It refuses too when the
file cannot take the new text (read-only, gone) or no longer holds the text the expect
was computed for (edited while bless ran): :func:`write_blessing` writes a file only if
it still holds those bytes, and whole (a temporary file beside it, then a rename), so that
neither an edit nor the file is ever lost. One refusal does not stop the other files.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .compare import Verdict, by_instant, same_events
from .model import STOPS, Divergence, Scenario, declared_result
from .trace import canonical_json, format_result, normalize, trace_lines

# Characters YAML 1.1 cannot hold raw in a scalar (it folds U+2028/U+2029 as line breaks,
# and DEL, C1 controls and the BOM are not printable): written as \u escapes.
_YAML_UNSAFE = {0x7F, 0x2028, 0x2029, 0xFEFF, *range(0x80, 0xA0)}


@dataclass(frozen=True)
class Blessing:
    """What bless did to one scenario file: new text, or a refusal with its reason."""

    path: str
    scenario_id: str
    text: str | None
    refused: str | None = None
    rewrote: tuple[str, ...] = ()
    """One line per part rewritten, with its lines in the new text: ``expect: trace,
    lines 20-24``, ``the divergence of python: trace, lines 43-46``."""

    def diff(self, old: str) -> list[str]:
        """The unified diff from ``old`` to the blessed text (empty when unchanged or refused)."""
        if self.text is None:
            return []
        return list(
            difflib.unified_diff(old.splitlines(), self.text.splitlines(), self.path, f"{self.path} (blessed)", lineterm="")
        )


def yaml_value(value: object) -> str:
    """A JSON value written as YAML flow text that reads back as the same value."""
    text = canonical_json(value, (", ", ": "))
    return "".join(f"\\u{ord(char):04x}" if ord(char) in _YAML_UNSAFE else char for char in text)


def expect_block(result: dict, trace: list[str], order: str = "exact") -> str:
    """The ``expect:`` block for a result and canonical trace lines, ending in a newline."""
    lines = ["expect:", f"  {result_entry(result)}"]
    if order != "exact":
        lines.append(f"  order: {order}")
    lines.append(f"  {trace_entry(trace, '    ')}")
    return "\n".join(lines) + "\n"


RESULT_NAMES = ("returns", "throws", "uncaught", *STOPS)
"""The keys a result is stated under, in ``expect`` and in a divergence."""


def result_entry(result: dict) -> str:
    """``returns: VALUE``, ``throws: {kind: K, message: M}`` (or uncaught), or ``deadlock: true`` (a runaway, a crash)."""
    if "returns" in result:
        return f"returns: {yaml_value(result['returns'])}"
    if "uncaught" in result:
        return f"uncaught: {_error_flow(result['uncaught'])}"
    if "throws" in result:
        return f"throws: {_error_flow(result['throws'])}"
    return f"{next(iter(result))}: true"


def trace_entry(trace: list[str], indent: str) -> str:
    """``trace: |`` and its lines under ``indent`` (no final line break); a quoted string
    when a line cannot stand in a block scalar."""
    if all(_block_safe(line) for line in trace):
        return "\n".join(["trace: |", *(f"{indent}{line}" for line in trace)])
    return f"trace: {yaml_value(chr(10).join(trace) + chr(10))}"


def _error_flow(error: dict) -> str:
    """An error record as YAML flow text, group members included."""
    text = f"{{kind: {error['kind']}, message: {yaml_value(error['message'])}"
    if error.get("errors"):
        text += ", errors: [" + ", ".join(_error_flow(member) for member in error["errors"]) + "]"
    return text + "}"


def _block_safe(line: str) -> bool:
    return line == line.strip() and all(ord(char) >= 0x20 and ord(char) not in _YAML_UNSAFE for char in line)


def bless(scenario: Scenario, text: str, verdict: Verdict) -> Blessing:
    """The scenario file's text with ``expect`` set to what the targets agreed on, and
    each stale divergence set to what its targets did, if that has not changed in kind."""
    refused = _refusal(scenario, verdict)
    if refused:
        return Blessing(scenario.path, scenario.id, None, refused)
    divergent = {target for divergence in scenario.diverge for target in divergence.targets}
    reference = next(item for item in verdict.targets if item.target not in divergent and item.status != "skipped")
    outcome = reference.outcome or {}
    order = scenario.expect.order if scenario.expect else "exact"
    result, trace = outcome["result"], trace_lines(outcome.get("trace", []))
    rewrites: list[tuple[int, str, object]] = []
    for index, divergence in enumerate(scenario.diverge):
        stale = _stale_parts(divergence, verdict, result, trace, order == "instant")
        if isinstance(stale, str):
            return Blessing(scenario.path, scenario.id, None, stale)
        rewrites.extend((index, part, value) for part, value in stale)
    new = replace_expect(_rewrite_divergences(text, rewrites), expect_block(result, trace, order))
    # A new expect is all new: the diff shows it, and only a rewrite is named.
    old = scenario.expect
    changed = [
        part
        for part, same in (
            ("result", old is None or _same_result(old.result, result)),
            ("trace", old is None or (old.trace is not None and list(old.trace) == trace)),
        )
        if not same
    ]
    described = [f"expect: {part}, {where}" for part, where in _lines_of(new, "expect", None, changed)]
    for index, part, _ in rewrites:
        targets = ", ".join(scenario.diverge[index].targets)
        described += [f"the divergence of {targets}: {part}, {where}" for _, where in _lines_of(new, "diverge", index, [part])]
    return Blessing(scenario.path, scenario.id, new, rewrote=tuple(described))


REVIEW = "declare it anew by hand (asyncparity show FILE --trace TARGET prints a target's trace), then bless again"


def _same_result(declared: dict | None, result: dict | None) -> bool:
    return normalize(declared) == normalize(result)


def _same_trace(expected: list[str], actual: list[str], relaxed: bool) -> bool:
    return by_instant(expected) == by_instant(actual) if relaxed else same_events(expected, actual)[0]


def _states(divergence: Divergence, part: str, result: dict | None, trace: list[str], relaxed: bool) -> bool:
    """Whether ``divergence`` states this ``result`` (``part`` "result") or ``trace``."""
    if part == "result":
        return _same_result(divergence.result, result)
    return divergence.trace is not None and _same_trace(list(divergence.trace), trace, relaxed)


def result_kind(result: dict | None) -> tuple[str, ...]:
    """What kind of end a result is: ``("returns",)``, ``("throws", "IOError")``, ``("deadlock",)``."""
    if not result:
        return ()
    key = next(iter(result))
    error = result[key]
    return (key, error["kind"]) if key in ("throws", "uncaught") and isinstance(error, dict) else (key,)


def _stale_parts(
    divergence: Divergence, verdict: Verdict, result: dict, trace: list[str], relaxed: bool
) -> list[tuple[str, object]] | str:
    """The parts of a divergence to rewrite (``result``, ``trace``) and their new values;
    or why the disagreement has changed in kind, and bless must not guess."""
    where = f"the divergence at line {divergence.line}"
    seen: tuple[str, dict | None, list[str]] | None = None
    for item in verdict.targets:
        if item.target not in divergence.targets or item.status == "skipped":
            continue
        outcome = item.outcome or {}
        actual_result, actual_trace = declared_result(outcome), trace_lines(outcome.get("trace", []))
        differs = {"result": not _same_result(result, actual_result), "trace": not _same_trace(trace, actual_trace, relaxed)}
        if not any(differs.values()):
            return f"{item.target} no longer differs from the other targets; remove {where}, then bless again"
        for part in ("result", "trace"):
            stated = getattr(divergence, part) is not None
            if part == "trace" and divergence.stops and not stated:
                continue  # a declared stop without a trace compares none (compare.py)
            if differs[part] and not stated:
                return (
                    f"{item.target}'s {part} now differs from expect's too, and {where} states no {part}: "
                    f"the disagreement has changed in kind; {REVIEW}"
                )
            if stated and not differs[part] and not _states(divergence, part, actual_result, actual_trace, relaxed):
                # A part the same as expect's that the divergence also states, the same, is
                # only said twice (a target's whole outcome pasted in: LANGUAGE.md, diverge).
                return (
                    f"{item.target}'s {part} is now the same as expect's, and {where} states another: "
                    f"the disagreement has changed in kind; {REVIEW}"
                )
        if divergence.result is not None and result_kind(divergence.result) != result_kind(actual_result):
            return (
                f"{item.target} now {format_result(actual_result)}, where {where} declares "
                f"{format_result(divergence.result)}: the disagreement has changed in kind; {REVIEW}"
            )
        if seen is None:
            seen = (item.target, actual_result, actual_trace)
        elif not _same_result(seen[1], actual_result) or seen[2] != actual_trace:
            return (
                f"{seen[0]} and {item.target}, which share {where}, now do different things: "
                f"give each its own divergence, then bless again"
            )
    if seen is None:
        return []
    parts: list[tuple[str, object]] = []
    if divergence.result is not None and not _same_result(divergence.result, seen[1]):
        parts.append(("result", seen[1]))
    if divergence.trace is not None and not _same_trace(list(divergence.trace), seen[2], relaxed):
        parts.append(("trace", seen[2]))
    return parts


def _rewrite_divergences(text: str, rewrites: list[tuple[int, str, object]]) -> str:
    """``text`` with each (divergence index, part, value) written over that part's entry."""
    if not rewrites:
        return text
    edits = []
    for index, part, value in rewrites:
        key, node = _entry(text, "diverge", index, part)
        if part == "trace":
            assert isinstance(value, list)  # a trace is its canonical lines
            entry = trace_entry(value, " " * (key.start_mark.column + 2))
        else:
            assert isinstance(value, dict)  # a result is {key: value}
            entry = result_entry(value)
        edits.append((key.start_mark.index, _entry_end(text, key.start_mark.index, node.end_mark.index), entry))
    for start, end, entry in sorted(edits, reverse=True):
        text = text[:start] + entry + text[end:]
    return text


def _entry(text: str, section: str, index: int | None, part: str) -> tuple[yaml.Node, yaml.Node]:
    """The key and value nodes of ``part`` (``result``: whichever result key is there) in
    the top-level ``expect``, or in the ``index``-th entry of ``diverge``."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None  # the text holds a scenario that loaded
    node = next(value for key, value in root.value if key.value == section)
    if index is not None:
        node = node.value[index]
    names = (part,) if part == "trace" else RESULT_NAMES
    return next((key, value) for key, value in node.value if key.value in names)


def _entry_end(text: str, start: int, end: int) -> int:
    """Where an entry's own text ends: before the line break that ends its last line, and
    before the blank and comment lines that PyYAML counts into a block scalar."""
    lines = text[start:end].split("\n")
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].strip().startswith("#")):
        lines.pop()
    return start + len("\n".join(lines))


def _lines_of(text: str, section: str, index: int | None, parts: list[str]) -> list[tuple[str, str]]:
    """``(part, "lines 20-24")`` for each part of an entry of the (new) text."""
    found = []
    for part in parts:
        key, node = _entry(text, section, index, part)
        first = key.start_mark.line + 1
        last = first + text[key.start_mark.index : _entry_end(text, key.start_mark.index, node.end_mark.index)].count("\n")
        found.append((part, f"line {first}" if first == last else f"lines {first}-{last}"))
    return found


def _refusal(scenario: Scenario, verdict: Verdict) -> str | None:
    divergent = {target for divergence in scenario.diverge for target in divergence.targets}
    ran = [item for item in verdict.targets if item.status != "skipped"]
    for item in ran:
        if item.status == "error":
            return f"{item.target} did not settle: {item.message}"
    plain = [item for item in ran if item.target not in divergent]
    if not plain:
        return "every target that ran declares a divergence: nothing to take expect from"
    first = plain[0]
    for item in plain[1:]:
        if _shape(item.outcome) != _shape(first.outcome):
            return (
                f"{item.target} disagrees with {first.target}; declare the divergence (diverge:) "
                "or change the scenario, then bless again"
            )
    for item in ran:
        if item.target in divergent and item.status == "mismatch" and "no longer diverges" in item.message:
            return f"{item.message}; remove or fix that divergence, then bless again"
    return None


def _shape(outcome: dict | None) -> tuple[object, list[str]]:
    outcome = outcome or {}
    return normalize(outcome.get("result")), trace_lines(outcome.get("trace", []))


def replace_expect(text: str, block: str) -> str:
    """``text`` with its top-level ``expect`` replaced by ``block`` (or the block added)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    keys = {key.value: (key, value) for key, value in root.value} if isinstance(root, yaml.MappingNode) else {}
    if "expect" in keys:
        key, value = keys["expect"]
        start = key.start_mark.index
        end = _content_end(text, start, value.end_mark.index)
        return text[:start] + block + text[end:]
    if "diverge" in keys:
        start = keys["diverge"][0].start_mark.index
        return text[:start] + block + "\n" + text[start:]
    return text.rstrip("\n") + "\n\n" + block


def _content_end(text: str, start: int, end: int) -> int:
    """Where the block's own lines end: trailing blank lines and column-0 comments belong to what follows."""
    lines = text[start:end].splitlines(keepends=True)
    while lines and (not lines[-1].strip() or lines[-1].startswith("#")):
        lines.pop()
    return start + sum(len(line) for line in lines)


def write_blessing(path: Path, held: bytes, text: str) -> str | None:
    """Replace the file at ``path`` with ``text`` if it still holds ``held`` (the bytes the
    expect was computed from); None when written, else why it was not.

    The new text goes to a temporary file in the same folder, which then takes the
    file's place in one rename (os.replace): a reader sees the old file or the new one,
    never half of one, and a failure leaves the old file as it was. A change between the
    last look and the rename cannot be seen; it is a window of a rename, not of a run.
    """
    try:
        current = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return "the file was deleted while bless ran; nothing written"
    except OSError as error:
        return f"cannot read it again: {error.strerror or error}; nothing written"
    if current != held:
        return "the file changed while bless ran; nothing written, so the edit is kept: run bless again"
    if not os.access(path, os.W_OK):
        return "the file is read-only; nothing written"
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.", suffix=".bless", delete=False
        ) as stream:
            temporary = Path(stream.name)
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
        return f"cannot write it: {error.strerror or error}; nothing written"
    return None
