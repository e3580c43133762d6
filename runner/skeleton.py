"""Skeleton: the scenario file ``asyncparity new PATH`` writes, ready to run as it stands.

It has the schema line (so an editor with the YAML language server checks and
completes it), a summary to fill in, one operation and one step, and no ``expect``:
``asyncparity run`` compares the targets with each other until ``asyncparity bless``
records what they agree on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .kit import SPEC_DIR

SCHEMA = SPEC_DIR / "scenario.schema.json"

TEMPLATE = """\
# yaml-language-server: $schema={schema}
id: {id}
summary: TODO say in one line what this scenario shows.
tags: []

operations:
  fetch_data:
    latency: 30
    returns: "data"

main:
  - await: fetch_data
    as: data
  - return: $data
"""


def scenario_id_for(path: Path) -> str:
    """A slug id from a file name: ``My First.yaml`` -> ``my-first``."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return slug or "scenario"


def skeleton(path: Path, schema: Path = SCHEMA) -> str:
    """The skeleton text for a new file at ``path``.

    The schema line points, relatively, at the nearest ``scenario.schema.json`` in the
    file's folder or above it (a suite's own ``spec/``, so the suite can move); with none
    there, at the kit's own schema, still by a path relative to the file (the YAML
    language server resolves a relative ``$schema`` from the file's folder): an
    absolute path would name this machine's folders in a file meant to be shared
    (issue 11). Only where no relative path exists (another drive) is it absolute.
    """
    folder = path.resolve().parent
    target = next(
        (candidate / schema.name for candidate in (folder, *folder.parents) if (candidate / schema.name).is_file()),
        schema.resolve(),
    )
    try:
        reference = Path(os.path.relpath(target, folder)).as_posix()
    except ValueError:  # Windows: another drive than the file's
        reference = target.as_posix()
    return TEMPLATE.format(schema=reference, id=scenario_id_for(path))
