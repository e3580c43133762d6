"""The ``asyncparity`` command's entry point: :func:`asyncparity.cli.main`, with an
interrupt that comes while the kit is still being imported ending as one during a run
does (exit 130, one line, no traceback): the CLI's own handling starts only once its
module has loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130
"""As cli.EXIT_INTERRUPTED (a test holds them equal): the shell's 128 + SIGINT."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; Ctrl-C while it loads exits 130 with one line."""
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("asyncparity: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return cli_main(argv)
