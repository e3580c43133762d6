"""Defaults the command line shows in its help, in a module that imports nothing.

``asyncparity --help`` builds every command's options, and these values are in their
help texts; kept here, printing the help does not load the pipeline's modules (the YAML
loader, the virtual runtime, asyncio), which took most of its start-up (issue 13). The
modules that use them import them from here.
"""

from __future__ import annotations

DEFAULT_TIMEOUT = 10.0
"""Seconds a testee may take for one reply before it is killed and restarted."""

DETAIL_LIMIT = 40
"""Lines a failure's details take at most on the console by default (``--full``: all).
One runaway's diff printed 4,015 lines (issue 11); the first difference is at the top."""

DEFAULT_SCALE = 10.0
"""``verify``: real ms per virtual ms: large enough that a machine running a few programs
per core is rarely late by half a scaled millisecond (the attempts cover the rare times)."""

DEFAULT_ATTEMPTS = 3
"""``verify``: real runs of a program before it is said to differ."""

DEFAULT_MAX_SECONDS = 10.0
"""``verify``: real seconds a program may take (virtual duration x scale) before it is too long."""
