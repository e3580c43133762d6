"""Bless: write what the targets did into a scenario's ``expect``, leaving the rest of the file alone.

``asyncparity bless FILE`` runs a scenario, and when the targets agree it records their
result and trace as the scenario's ``expect``. Only the ``expect`` block's own lines
change (it is replaced, or added before ``diverge:`` or at the end); every other byte of
the file, comments and key order included, stays as it was. That is "equal" to a
ruamel.yaml round trip for this purpose and needs no extra dependency.

Bless refuses, and says why, when there is nothing true to write: a target that did not
settle, or targets that disagree without a declared divergence. It refuses too when the
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

from .compare import Verdict
from .model import Scenario
from .trace import canonical_json, normalize, trace_lines

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
    lines = ["expect:"]
    if "returns" in result:
        lines.append(f"  returns: {yaml_value(result['returns'])}")
    elif "uncaught" in result:
        lines.append(f"  uncaught: {_error_flow(result['uncaught'])}")
    else:
        lines.append(f"  throws: {_error_flow(result['throws'])}")
    if order != "exact":
        lines.append(f"  order: {order}")
    if all(_block_safe(line) for line in trace):
        lines.append("  trace: |")
        lines.extend(f"    {line}" for line in trace)
    else:
        lines.append(f"  trace: {yaml_value(chr(10).join(trace) + chr(10))}")
    return "\n".join(lines) + "\n"


def _error_flow(error: dict) -> str:
    """An error record as YAML flow text, group members included."""
    text = f"{{kind: {error['kind']}, message: {yaml_value(error['message'])}"
    if error.get("errors"):
        text += ", errors: [" + ", ".join(_error_flow(member) for member in error["errors"]) + "]"
    return text + "}"


def _block_safe(line: str) -> bool:
    return line == line.strip() and all(ord(char) >= 0x20 and ord(char) not in _YAML_UNSAFE for char in line)


def bless(scenario: Scenario, text: str, verdict: Verdict) -> Blessing:
    """The scenario file's text with ``expect`` set to what the targets agreed on."""
    refused = _refusal(scenario, verdict)
    if refused:
        return Blessing(scenario.path, scenario.id, None, refused)
    divergent = {target for divergence in scenario.diverge for target in divergence.targets}
    reference = next(item for item in verdict.targets if item.target not in divergent and item.status != "skipped")
    outcome = reference.outcome or {}
    order = scenario.expect.order if scenario.expect else "exact"
    block = expect_block(outcome["result"], trace_lines(outcome.get("trace", [])), order)
    return Blessing(scenario.path, scenario.id, replace_expect(text, block))


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
