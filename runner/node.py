"""Node: find the Node.js binary the JavaScript targets run on, and check its version.

The choice, first match wins: ``--node PATH``, then ``$ASYNCPARITY_NODE``, then ``node``
on PATH. The JavaScript testee needs Node 20 or later (spec/PROTOCOL.md); anything else
is a usage error with one line that says what was found and how to fix it.

``--node`` may also name a version (:func:`node_for`, :func:`resolve_node`): the Node on
PATH if it is that version, else one cached or provisioned by runner/provision.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

MINIMUM_MAJOR = 20
VERSION_TIMEOUT = 10.0  # seconds for `node --version`; a wait with a bound


class NodeNotFound(Exception):
    """No usable Node; the message is the one line the user sees."""


class ProvisionError(Exception):
    """Node could not be provisioned (runner/provision.py); the message is the one line
    the user sees. Defined here, where the command line can catch it without loading
    the provisioning code (issue 13)."""


@dataclass(frozen=True)
class NodeBinary:
    """A Node binary that answered ``--version`` with a supported version; or, from
    :func:`locate_node`, one not asked yet, whose ``version`` is empty until the worker's
    hello says it (:meth:`~asyncparity.testees.NodeTestee.start`)."""

    path: str
    version: str
    source: str = field(default="", compare=False)
    """How it was chosen (``--node PATH``, ``node on PATH``...), for the messages."""

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


FIX = "install Node 20 or later, or point --node (or ASYNCPARITY_NODE) at one"


def find_node(requested: str | None = None, environ: Mapping[str, str] | None = None) -> NodeBinary:
    """Resolve and check the Node binary; raises :class:`NodeNotFound` with a plain message."""
    return asked_version(locate_node(requested, environ))


def asked_version(located: NodeBinary) -> NodeBinary:
    """A located Node, checked by asking it ``--version``; :class:`NodeNotFound` if it
    does not answer as a Node the JavaScript targets run on."""
    path, source, fix = located.path, located.source, FIX
    try:
        completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NodeNotFound(f"asyncparity: {path} ({source}) did not answer --version ({error}): {fix}") from None
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)\S*", completed.stdout.strip())
    if completed.returncode != 0 or not match:
        raise NodeNotFound(f"asyncparity: {path} ({source}) is not Node: {_answer(completed)}: {fix}")
    return checked_version(located, completed.stdout.strip().lstrip("v"))


def checked_version(node: NodeBinary, version: str) -> NodeBinary:
    """``node`` with its ``version``, if that is one the JavaScript targets run on;
    else :class:`NodeNotFound` saying so."""
    if int(version.split(".")[0]) < MINIMUM_MAJOR:
        raise NodeNotFound(
            f"asyncparity: {node.path} ({node.source}) is Node {version}; the JavaScript targets need Node {MINIMUM_MAJOR} or later: {FIX}"
        )
    return NodeBinary(node.path, version, node.source)


def locate_node(requested: str | None = None, environ: Mapping[str, str] | None = None) -> NodeBinary:
    """The binary :func:`find_node` would check, without running it (``version`` empty):
    a run reads the version from the worker's hello instead, and saves a ``node
    --version`` process (issue 13). :class:`NodeNotFound` when there is no such file."""
    environ = os.environ if environ is None else environ
    if requested:
        source = f"--node {requested}"
        candidate = requested
    elif environ.get("ASYNCPARITY_NODE"):
        candidate = environ["ASYNCPARITY_NODE"]
        source = f"ASYNCPARITY_NODE={candidate}"
    else:
        candidate = "node"
        source = "node on PATH"
    path = shutil.which(candidate, path=environ.get("PATH")) if os.sep not in candidate else candidate
    if path is None or not os.path.exists(path):
        raise NodeNotFound(f"asyncparity: no Node found ({source}): {FIX}")
    return NodeBinary(path, "", source)


def _answer(completed: subprocess.CompletedProcess[str]) -> str:
    """What a program said to ``--version``, in one line: its first line, cut short, and
    how it exited when that was not 0 (the whole output would be a page, for /bin/false)."""
    lines = completed.stdout.strip().splitlines() or completed.stderr.strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > 60:
        first = first[:57] + "..."
    said = f"--version printed {first!r}" + (f" (line 1 of {len(lines)})" if len(lines) > 1 else "")
    return said if completed.returncode == 0 else f"{said} and exited {completed.returncode}"


def is_version(text: str) -> bool:
    """Whether ``--node TEXT`` is a version request ("22", "v22", "22.20.0") rather than a path."""
    return re.fullmatch(r"v?\d+(\.\d+\.\d+)?", text.strip()) is not None


def node_for(spec: str | None) -> NodeBinary:
    """``--node``: absent (``$ASYNCPARITY_NODE``, else node on PATH), a path, or a version.

    A path (or none) is only located: its version comes with the worker's hello. Only a
    version imports runner/provision.py (its HTTP client took 25 ms of every run)."""
    return resolve_node(spec) if spec and is_version(spec) else locate_node(spec)


def resolve_node(spec: str, on_path: NodeBinary | NodeNotFound | None = None, download: bool = True) -> NodeBinary:
    """``--node`` as a version or a path: for a version, the Node on PATH if it is that
    one, else a cached or newly provisioned one (runner/provision.py).

    ``on_path``: the Node on PATH already asked (:func:`find_node`; the NodeNotFound it
    raised when there is none), for a caller that resolves several versions and asks it
    once (:func:`resolve_nodes`); None: asked here. Without ``download``, a version that
    is not here is :class:`NodeNotFound`."""
    node = _without_download(spec, on_path)
    if node is not None:
        return node
    if not download:
        raise NodeNotFound(f"asyncparity: Node {spec} is not here without a download")
    from . import provision

    node, source = provision.install(spec.lstrip("v"), dict(os.environ), lambda line: print(line, file=sys.stderr))
    print(f"asyncparity: Node {node.version} from {source}", file=sys.stderr)  # progress, on stderr
    return node


def _without_download(spec: str, on_path: NodeBinary | NodeNotFound | None) -> NodeBinary | None:
    """:func:`resolve_node` short of a download: None where the version is not here."""
    if not is_version(spec):
        return find_node(spec)
    spec = spec.lstrip("v")
    if on_path is None:
        try:
            on_path = find_node()
        except NodeNotFound as error:
            on_path = error
    if isinstance(on_path, NodeBinary) and (on_path.version == spec or on_path.version.split(".")[0] == spec):
        return on_path
    from . import provision

    return provision.installed(spec, dict(os.environ))


def resolve_nodes(specs: list[str], download: bool = True) -> list[NodeBinary]:
    """``matrix --node 20,22,24``: :func:`resolve_node` for each, the Node on PATH asked
    once for all of them, and the binaries asked (``--version``) at once, in threads:
    one after another they took about 0.2 s here, the Node on PATH asked three times
    (issue 13: each probe once a run, in parallel). A version to be downloaded is then
    provisioned, one at a time (``download`` as :func:`resolve_node`'s). The first that
    cannot be had raises, in the order given."""
    from concurrent.futures import ThreadPoolExecutor

    on_path: NodeBinary | NodeNotFound | None = None
    if any(is_version(spec) for spec in specs):
        try:
            on_path = find_node()
        except NodeNotFound as error:
            on_path = error
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        found = list(pool.map(lambda spec: _without_download(spec, on_path), specs))
    return [node if node is not None else resolve_node(spec, on_path, download) for spec, node in zip(specs, found, strict=True)]
