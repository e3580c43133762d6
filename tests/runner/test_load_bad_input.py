"""The bad-input corpus of issue 9: the loader, and the CLI around it, on hostile input.

Each file of tests/runner/bad-input/ is a scenario with one defect (YAML syntax, a
duplicate key at some depth, a wrong type, an unknown or misspelt name, a number past
what JSON and JavaScript hold, nesting past the limits, a YAML tag, bad bytes, a name
that collides with a runtime's own, a byte-order mark or CRLF line ends around a
defect, a structure the language refuses), and its first line says what the loader
reports first, after ``file:``::

    # expect: LINE:COLUMN: MESSAGE

(after the byte-order mark, in the files that have one; with the file's own line ends).
The inputs too large or too odd to keep in the repository are made here: an empty
file, binary garbage, a 10 MB string, 100,000 steps.

Checked for every file: the loader's first diagnostic, and through ``asyncparity run``
on the whole corpus beside a good scenario, in one run: exit code 2, each file's first
positioned message, no traceback, and the good scenario still passes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from asyncparity.cli import main
from asyncparity.load import find_scenarios, load_file

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("bad-input")
GOOD = ROOT / "spec" / "seed" / "download-fallback.yaml"
TOO_LARGE = "1:1: the file is larger than 1,048,576 bytes (1 MiB), the most a scenario file may be"


def generated() -> dict[str, tuple[bytes, str]]:
    """The inputs made by the test: name -> (content, the expected first message)."""
    head = b"id: huge\nsummary: s\nmain:\n"
    return {
        "empty.yaml": (b"", "1:1: empty file: a scenario needs at least id, summary and main"),
        "binary-garbage.yaml": (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
            "1:1: not UTF-8 text: byte 0x89 (invalid start byte); save the file as UTF-8",
        ),
        "string-of-10-mb.yaml": (head + b"  - log: " + b"x" * 10_000_000 + b"\n", TOO_LARGE),
        "steps-100000.yaml": (
            head + b"- log: 1\n" * 100_000,
            "10004:3: more than 10000 steps: a scenario holds at most 10000 (main and its functions together), and "
            "the loader reads no step after this one",
        ),
    }


def expectation(path: Path) -> str:
    """The ``LINE:COLUMN: MESSAGE`` on a corpus file's first line."""
    first = path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r").decode("ascii")
    match = re.fullmatch(r"# expect: (\d+:\d+: .+)", first)
    assert match, f"{path.name}: the first line says '# expect: LINE:COLUMN: MESSAGE'"
    return match.group(1)


FILES = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_has_a_hundred_files_each_taken_as_a_scenario() -> None:
    assert len(FILES) + len(generated()) >= 100
    assert find_scenarios([CORPUS]).taken == [str(path) for path in FILES]  # none passed over: each is loaded


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_the_loader_reports_the_defect_first(path: Path) -> None:
    diagnostics = load_file(path, display=path.name).diagnostics
    assert diagnostics, "loads: the file has no defect"
    assert str(diagnostics[0]) == f"{path.name}:{expectation(path)}"


def test_the_cli_reports_every_file_and_keeps_the_good_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = []
    for name, (content, _) in generated().items():
        (tmp_path / name).write_bytes(content)
        made.append(tmp_path / name)  # named one by one: a folder would pass over the empty file

    code = main(["run", str(CORPUS), *map(str, made), str(GOOD)])

    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    assert re.search(r"^PASS  seed-download-fallback ", out, re.MULTILINE)
    first: dict[str, str] = {}
    for match in re.finditer(r"^\s*(\S+?):(\d+:\d+: .*)$", out, re.MULTILINE):
        first.setdefault(match.group(1), match.group(2))
    expected = {str(path): expectation(path) for path in FILES}
    expected.update({str(tmp_path / name): message for name, (_, message) in generated().items()})
    assert first == expected


def _corpus_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in FILES:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / GOOD.name).write_bytes(GOOD.read_bytes())
    return folder


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["bless"],
        ["catalogue", "--check"],
        ["verify", "-q"],
        ["matrix", "--python", sys.executable, "--node", "node", "--known", "none.yaml"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_that_reads_scenarios_says_what_is_wrong_without_a_traceback(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _corpus_copy(tmp_path)
    monkeypatch.chdir(tmp_path)  # catalogue and matrix read or write beside the scenarios' folder

    code = main([command[0], *command[1:], str(folder)])

    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 2, out[-2000:] + err[-2000:]
    assert f"{folder / 'tag-python-object-apply.yaml'}:" in out + err  # one of the corpus's messages, positioned
    unchanged = [path.name for path in FILES if (folder / path.name).read_bytes() != path.read_bytes()]
    assert unchanged == []  # bless wrote no broken file


def test_show_on_a_broken_file_gives_its_diagnostics_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", str(CORPUS / "tag-python-object-apply.yaml")])

    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 2
    assert f"tag-python-object-apply.yaml:{expectation(CORPUS / 'tag-python-object-apply.yaml')}" in out + err
