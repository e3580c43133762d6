"""asyncparity.entry: the command's entry point."""

from __future__ import annotations

import builtins
import sys

import pytest

from asyncparity import cli, entry


def test_an_interrupt_while_the_cli_loads_exits_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def interrupted_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "cli" or name.endswith(".cli"):
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "asyncparity.cli")
    monkeypatch.setattr(builtins, "__import__", interrupted_import)

    assert entry.main(["--version"]) == 130
    assert capsys.readouterr().err == "asyncparity: interrupted\n"


def test_otherwise_it_is_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.EXIT_INTERRUPTED == cli.EXIT_INTERRUPTED
    with pytest.raises(SystemExit) as exited:
        entry.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("asyncparity ")
