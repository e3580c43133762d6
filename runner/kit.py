"""Kit: where the kit's own files are, in a checkout or in an installed wheel.

The Node worker (javascript/), the Python target's folder (python/) and the kit's spec/
(the schema, the kit's own scenarios) are found through their packages, so that
``pip install -e .`` and a plain ``pip install`` of a wheel both work.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import asyncparity_python

CHECKOUT = Path(__file__).resolve().parent.parent


def _package_folder(name: str, checkout_folder: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return CHECKOUT / checkout_folder


JAVASCRIPT_DIR = _package_folder("asyncparity_javascript", "javascript")
"""The JavaScript target: worker.mjs, the compilers and the runtime module."""

SPEC_DIR = _package_folder("asyncparity_spec", "spec")
"""The kit's spec/: scenario.schema.json and the kit's own scenarios."""

PYTHON_DIR = Path(asyncparity_python.__file__).resolve().parent.parent
"""The folder holding asyncparity_python and asyncparity_runtime: a worker's PYTHONPATH."""
